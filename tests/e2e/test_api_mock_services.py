"""``choreograph.api.MockServices``: mock collectors for a harness, outside any run; and
``service_modes``, the API's ``--service-mode``."""

from __future__ import annotations

import http.client
import json
import os
from pathlib import Path

import pytest

from choreograph.api import Controller, MockServices
from choreograph.errors import InputError

from .test_service_mode_flag import composition


def export(address: str, spans: int) -> int:
    host, port = address.rsplit(":", 1)
    body = json.dumps(
        {"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "op"}] * spans}]}]}
    ).encode()
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", "/v1/traces", body, {"Content-Type": "application/json"})
        return conn.getresponse().status
    finally:
        conn.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_collectors_answer_count_and_are_gone_after_the_block() -> None:
    with MockServices("typical", instances=2) as sats:
        addresses = sats.addresses
        assert len(set(addresses)) == 2
        env = sats.env()
        assert env["CHOREO_SERVICE_COLLECTOR_ADDRS"] == ",".join(addresses)
        assert env["CHOREO_SERVICE_COLLECTOR_ADDR"] == addresses[0]
        host, port = addresses[0].rsplit(":", 1)
        assert (env["CHOREO_SERVICE_COLLECTOR_HOST"], env["CHOREO_SERVICE_COLLECTOR_PORT"]) == (
            host,
            port,
        )
        assert [export(addresses[0], 3), export(addresses[1], 5), export(addresses[1], 1)] == [
            200,
            200,
            200,
        ]
        pids = [s.process.pid for s in sats._running if s.process is not None]
        assert len(pids) == 2 and all(map(alive, pids))
    assert not any(map(alive, pids))
    counters = sats.counters()
    assert counters[addresses[0]]["requests"] == 1 and counters[addresses[0]]["spans"] == 3
    assert counters[addresses[1]]["requests"] == 2 and counters[addresses[1]]["spans"] == 6
    assert counters[addresses[1]]["failed"] == 0


def test_the_mode_decides_the_answers_and_an_exception_still_stops_them() -> None:
    with pytest.raises(RuntimeError), MockServices("slow_fail", name="sat-1") as sats:
        assert export(sats.addresses[0], 1) == 503
        assert "CHOREO_SERVICE_SAT_1_ADDR" in sats.env()
        pids = [s.process.pid for s in sats._running if s.process is not None]
        raise RuntimeError("the harness failed")
    assert not any(map(alive, pids))
    assert next(iter(sats.counters().values()))["failed"] == 1


def test_settings_that_make_no_sense_are_input_errors() -> None:
    with pytest.raises(InputError, match="mode 'fast'"):
        MockServices("fast")
    with pytest.raises(InputError, match="instances"):
        MockServices(instances=0)


def test_service_modes_override_a_composition_run(tmp_path: Path) -> None:
    comp = composition(tmp_path)
    with Controller(tmp_path / "home") as c:
        run = c.run(comp, service_modes={"collector": "slow_fail"})
        assert run.success, run.summary()
        record = json.loads((run.folder / "run.json").read_text())
        assert record["spec"]["services"][0]["mock"]["mode"] == "slow_fail"
        with pytest.raises(InputError, match="no service 'sat'"):
            c.run(comp, service_modes={"sat": "typical"})
