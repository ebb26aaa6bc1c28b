"""Mock collectors as real processes started like any [[services]] entry: modes, latency
ordering, drops and errors, several instances and per-group collectors, and counters
flushed to the metrics file at SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import http.client
import json
import time
from pathlib import Path

import pytest

from choreograph.plan.spec import ServiceSpec
from choreograph.results.metrics import read_services
from choreograph.services import start_all

EXPORT = json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [{}, {}]}]}]}).encode()


def mock(name: str, **more: object) -> ServiceSpec:
    return ServiceSpec(name, (), "tcp", kind="mock-collector", timeout_s=20, **more)  # type: ignore[arg-type]


def post(addr: str, body: bytes = EXPORT, **headers: str) -> tuple[int, float]:
    """``(status, seconds)`` of one OTLP/HTTP JSON export."""
    host, port = addr.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    start = time.perf_counter()
    try:
        conn.request("POST", "/v1/traces", body,
                     {"Content-Type": "application/json", **headers})  # fmt: skip
        answer = conn.getresponse()
        answer.read()
        return answer.status, time.perf_counter() - start
    finally:
        conn.close()


def totals(run_dir: Path) -> dict[tuple[str, str], float]:
    """``(group, name) → sum over the group's collectors of each one's last total``."""
    last: dict[tuple[str, str, str], float] = {}
    for row in read_services(run_dir):
        if row.type == "counter":
            last[(row.group, row.name, row.instance)] = row.value  # rows are in time order
    out: dict[tuple[str, str], float] = {}
    for (group, name, _), value in last.items():
        out[(group, name)] = out.get((group, name), 0.0) + value
    return out


async def test_modes_answer_with_their_status_and_latency(tmp_path: Path) -> None:
    specs = (mock("fast", mock={"mode": "typical"}),
             mock("slow-ok", mock={"mode": "slow_succeed"}),
             mock("slow-ko", mock={"mode": "slow_fail"}))  # fmt: skip
    seen: dict[str, list[tuple[int, float]]] = {}
    async with contextlib.AsyncExitStack() as stack:
        env, problem = await start_all(specs, tmp_path, stack, "127.0.0.1")
        assert problem == ""
        for name in ("FAST", "SLOW_OK", "SLOW_KO"):
            addr = env[f"CHOREO_SERVICE_{name}_ADDR"]
            assert env[f"CHOREO_SERVICE_{name}_ADDRS"] == addr
            seen[name] = [await asyncio.to_thread(post, addr) for _ in range(3)]
    assert {s for s, _ in seen["FAST"]} == {200}
    assert {s for s, _ in seen["SLOW_OK"]} == {200}
    assert {s for s, _ in seen["SLOW_KO"]} == {503}
    slowest_fast = max(t for _, t in seen["FAST"])
    for name in ("SLOW_OK", "SLOW_KO"):
        assert all(t >= 0.4 for _, t in seen[name])  # the slow modes' configured minimum
        assert slowest_fast < min(t for _, t in seen[name])
    # The stack's close sent SIGTERM: every collector flushed its counters on the way out.
    found = totals(tmp_path)
    for label in ("fast", "slow-ok", "slow-ko"):
        group = f"service:{label}"
        assert found[(group, "collector_requests")] == 3
        assert found[(group, "collector_spans")] == 6
        assert found[(group, "collector_bytes")] == 3 * len(EXPORT)
        assert found[(group, "collector_dropped")] == 0
    assert found[("service:fast", "collector_failed")] == 0
    assert found[("service:slow-ko", "collector_failed")] == 3
    assert (
        (tmp_path / "services" / "fast" / "0" / "service.log")
        .read_text()
        .startswith("mock-collector service:fast/0 listening on 127.0.0.1:")
    )


async def test_drops_errors_and_encoded_bodies(tmp_path: Path) -> None:
    constant = {"distribution": "constant", "mean": 0.0}
    specs = (mock("dropper", mock={"drop_rate": 1.0, "latency": constant}),
             mock("erring", mock={"error_rate": 1.0, "latency": constant}))  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        env, problem = await start_all(specs, tmp_path, stack, "127.0.0.1")
        assert problem == ""
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            await asyncio.to_thread(post, env["CHOREO_SERVICE_DROPPER_ADDR"])
        erring = env["CHOREO_SERVICE_ERRING_ADDR"]
        assert (await asyncio.to_thread(post, erring))[0] == 500
        zipped = gzip.compress(EXPORT)
        status, _ = await asyncio.to_thread(post, erring, zipped, **{"Content-Encoding": "gzip"})
        assert status == 500
        # A chunked body, as exporters streaming their batches send it.
        host, port = erring.split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        conn.request("POST", "/v1/traces", iter([EXPORT[:10], EXPORT[10:]]),
                     {"Content-Type": "application/json"}, encode_chunked=True)  # fmt: skip
        assert conn.getresponse().status == 500
        conn.close()
    found = totals(tmp_path)
    assert found[("service:dropper", "collector_requests")] == 1
    assert found[("service:dropper", "collector_dropped")] == 1
    assert found[("service:dropper", "collector_failed")] == 0
    assert found[("service:erring", "collector_requests")] == 3
    assert found[("service:erring", "collector_failed")] == 3
    assert found[("service:erring", "collector_spans")] == 6
    assert found[("service:erring", "collector_bytes")] == 2 * len(EXPORT) + len(zipped)


async def test_several_instances_and_a_groups_own_collectors(tmp_path: Path) -> None:
    spec = mock("sat", instances=2, mock={"mode": "typical"},
                group_mocks={"slow": {"mode": "slow_fail"}})  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        env, problem = await start_all((spec,), tmp_path, stack, "127.0.0.1")
        assert problem == ""
        shared = env["CHOREO_SERVICE_SAT_ADDRS"].split(",")
        own = env.by_group["slow"]["CHOREO_SERVICE_SAT_ADDRS"].split(",")
        assert len(set(shared + own)) == 4
        assert env["CHOREO_SERVICE_SAT_ADDR"] == shared[0]
        assert env.by_group["slow"]["CHOREO_SERVICE_SAT_ADDR"] == own[0]
        assert [(await asyncio.to_thread(post, a))[0] for a in shared] == [200, 200]
        assert [(await asyncio.to_thread(post, a))[0] for a in own] == [503, 503]
    found = totals(tmp_path)
    assert found[("service:sat", "collector_failed")] == 0
    assert found[("service:sat", "collector_requests")] == 2
    assert found[("service:sat@slow", "collector_failed")] == 2
    instances = {row.instance for row in read_services(tmp_path)}
    assert instances == {"service:sat/0", "service:sat/1",
                         "service:sat@slow/0", "service:sat@slow/1"}  # fmt: skip
