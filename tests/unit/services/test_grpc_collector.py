"""The mock collector over OTLP/gRPC (``protocol = "grpc"``): real collector processes
answering a real gRPC client's ``TraceService/Export`` calls as each mode says, their
counters in the metrics file, the ``protocol`` key of a composition, and the clear
refusal on a host without the ``grpc`` extra."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.plan.test_services import HEAD as COMPOSITION

from choreograph.api import MockServices
from choreograph.availability import check_available
from choreograph.errors import HostError, InputError, PlanError
from choreograph.plan import load_composition
from choreograph.plan.spec import RunSpec, ServiceSpec
from choreograph.services import free_port
from choreograph.services.mocks import behaviour_args
from choreograph.services.mocks.collector import parser
from choreograph.services.mocks.counters import COUNTERS, PERCENTILES

grpc = pytest.importorskip("grpc", reason="needs the grpc extra: pip install -e '.[grpc]'")
collector_module = pytest.importorskip("choreograph.services.mocks.grpc_collector")
trace_service_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
trace_service_pb2_grpc = pytest.importorskip(
    "opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc"
)
trace_pb2 = pytest.importorskip("opentelemetry.proto.trace.v1.trace_pb2")

NO_GRPC = "import sys; sys.modules['grpc'] = None; "
"""Prepended to ``python -c``: that interpreter cannot import grpcio, as without the extra."""


def export_request(spans: int) -> Any:
    """An OTLP export of ``spans`` spans over two resources, as SDK exporters batch them."""
    made = [
        trace_pb2.Span(name=f"op-{k}", trace_id=bytes(16), span_id=bytes(8)) for k in range(spans)
    ]
    halves = [made[: spans // 2], made[spans // 2 :]]
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=half)])
            for half in halves
        ]
    )


def export(address: str, request: Any, timeout: float = 10.0) -> tuple[Any, float]:
    """``(status code, seconds)`` of one ``Export`` call with a deadline of ``timeout`` s."""
    with grpc.insecure_channel(address) as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        start = time.perf_counter()
        try:
            answer = stub.Export(request, timeout=timeout)
        except grpc.RpcError as exc:
            return exc.code(), time.perf_counter() - start
        assert isinstance(answer, trace_service_pb2.ExportTraceServiceResponse)
        return grpc.StatusCode.OK, time.perf_counter() - start


def records(folder: Path, name: str = "collector") -> list[dict[str, Any]]:
    path = folder / "services" / name / "0" / "metrics.out"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_typical_answers_ok_and_counts_every_span(tmp_path: Path) -> None:
    request = export_request(7)
    with MockServices("typical", protocol="grpc", folder=tmp_path) as sats:
        (address,) = sats.addresses
        assert [export(address, request)[0] for _ in range(3)] == [grpc.StatusCode.OK] * 3
        deadline = time.monotonic() + 5
        while sats.counters()[address]["requests"] < 3:  # the live write, every second
            assert time.monotonic() < deadline, sats.counters()
            time.sleep(0.1)
    totals = sats.counters()[address]
    assert totals == {"requests": 3, "dropped": 0, "failed": 0,
                      "bytes": 3 * request.ByteSize(), "spans": 3 * 7}  # fmt: skip
    written = records(tmp_path)
    # The HTTP collector's names and types, so the run's tables read both alike.
    names = {r["name"] for r in written}
    assert names == {f"collector_{n}" for n in COUNTERS} | {
        f"collector_latency_{p}" for p in PERCENTILES
    }
    assert {r["type"] for r in written if r["name"] == "collector_spans"} == {"counter"}
    assert all(r["group"] == "service:collector" for r in written)
    served = [r["value"] for r in written if r["name"] == "collector_latency_max"]
    assert served and max(served) < 0.1  # typical: about 1 ms


def test_slow_fail_answers_unavailable_after_its_latency(tmp_path: Path) -> None:
    with MockServices("slow_fail", protocol="grpc", folder=tmp_path) as sats:
        (address,) = sats.addresses
        answers = [export(address, export_request(2)) for _ in range(2)]
    # UNAVAILABLE: the code OTLP exporters retry, as they retry an HTTP 503.
    assert [code for code, _ in answers] == [grpc.StatusCode.UNAVAILABLE] * 2
    assert all(seconds >= 0.4 for _, seconds in answers)  # the mode's minimum latency
    size = export_request(2).ByteSize()
    assert sats.counters()[address] == {"requests": 2, "dropped": 0, "failed": 2,
                                        "bytes": 2 * size, "spans": 4}  # fmt: skip
    latency = [r["value"] for r in records(tmp_path) if r["name"] == "collector_latency_p50"]
    assert latency and min(latency) >= 0.4


def test_error_rate_fails_without_a_retryable_code(tmp_path: Path) -> None:
    constant = {"distribution": "constant", "mean": 0.0}
    with MockServices("typical", protocol="grpc", error_rate=1.0, latency=constant) as sats:
        code, _ = export(sats.addresses[0], export_request(1))
    assert code == grpc.StatusCode.UNKNOWN  # HTTP's 500: not retried over OTLP either
    assert next(iter(sats.counters().values()))["failed"] == 1


def test_a_dropped_call_is_never_answered(tmp_path: Path) -> None:
    with MockServices("typical", protocol="grpc", drop_rate=1.0, folder=tmp_path) as sats:
        (address,) = sats.addresses
        code, seconds = export(address, export_request(3), timeout=0.6)
        assert code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert seconds >= 0.6
    size = export_request(3).ByteSize()
    assert sats.counters()[address] == {"requests": 1, "dropped": 1, "failed": 0,
                                        "bytes": size, "spans": 3}  # fmt: skip
    assert not [r for r in records(tmp_path) if r["name"].startswith("collector_latency")]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """A gRPC collector process dropping every call: ``(process, address, metrics file)``;
    its counters are written only when it stops (the next timed write is a minute away)."""
    port, metrics = free_port("127.0.0.1"), tmp_path / "metrics.out"
    argv = [sys.executable, "-m", "choreograph.services.mocks.collector", "--protocol", "grpc",
            "--port", str(port), "--drop-rate", "1", "--metrics", str(metrics),
            "--flush", "60"]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert "protocol grpc" in process.stdout.readline()  # listening from here on
        yield process, f"127.0.0.1:{port}", metrics
    finally:
        process.kill()
        process.wait()


def test_sigterm_ends_held_calls_flushes_and_exits_0(
    collector: tuple[subprocess.Popen[str], str, Path],
) -> None:
    process, address, metrics = collector
    with grpc.insecure_channel(address) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        held = stub.Export.future(export_request(4), timeout=30)
        time.sleep(0.5)  # for the call to reach the collector
        assert not held.done() and written(metrics) == {}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert held.exception(timeout=10).code() != grpc.StatusCode.OK
    last = written(metrics)
    assert (last["collector_requests"], last["collector_dropped"], last["collector_spans"]) == (
        1,
        1,
        4,
    )


def written(metrics: Path) -> dict[str, float]:
    """Each metric's last value in a metrics file (none before the first write)."""
    last: dict[str, float] = {}
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        with contextlib.suppress(ValueError):  # a line still being written
            record = json.loads(line)
            last[record["name"]] = record["value"]
    return last


@pytest.mark.parametrize(
    ("status", "code"),
    [(200, "OK"), (503, "UNAVAILABLE"), (429, "UNAVAILABLE"), (500, "UNKNOWN"),
     (404, "UNIMPLEMENTED")],
)  # fmt: skip
def test_http_statuses_map_to_grpc_codes(status: int, code: str) -> None:
    assert collector_module.grpc_code(status) == getattr(grpc.StatusCode, code)


def load(tmp_path: Path, body: str) -> ServiceSpec:
    path = tmp_path / "composition.toml"
    path.write_text(COMPOSITION + '\n[[services]]\nname = "sat"\n' + textwrap.dedent(body))
    (service,) = load_composition(path).services
    return service.to_spec()


def test_protocol_is_a_key_of_the_entry_and_its_groups(tmp_path: Path) -> None:
    spec = load(tmp_path, """
        kind = "mock-collector"
        protocol = "grpc"
        groups = { slow = "slow_fail", plain = { protocol = "http" } }
        """)  # fmt: skip
    assert spec.mock == {"mode": "typical", "protocol": "grpc"}
    # A group's collectors speak the service's protocol unless the entry says otherwise.
    assert spec.group_mocks == {"slow": {"mode": "slow_fail", "protocol": "grpc"},
                                "plain": {"mode": "typical"}}  # fmt: skip
    assert load(tmp_path, 'kind = "mock-collector"\nprotocol = "http"\n').mock == {
        "mode": "typical"
    }
    args = parser().parse_args(["--port", "1", *behaviour_args(spec.group_mocks["slow"])])
    assert (args.protocol, args.mode) == ("grpc", "slow_fail")
    assert parser().parse_args(["--port", "1", *behaviour_args({})]).protocol == "http"


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ('kind = "mock-collector"\nprotocol = "http2"', "services#1.protocol",
         "expected input should be 'http' or 'grpc', found 'http2'"),
        ('kind = "mock-collector"\ngroups = { g = { protocol = "udp" } }',
         "services#1.groups.g.protocol", "found 'udp'"),
        ('command = ["x"]\nready = { tcp = 0 }\nprotocol = "grpc"', "services#1.protocol",
         "protocol is for kind = 'mock-collector' only"),
    ],
)  # fmt: skip
def test_a_bad_protocol_is_located(tmp_path: Path, body: str, field: str, problem: str) -> None:
    with pytest.raises(PlanError) as err:
        load(tmp_path, body + "\n")
    (issue,) = err.value.issues
    assert (issue.field, issue.line) == (field, 11 + body.count("\n")), issue
    assert problem in issue.problem


def test_mock_services_refuses_an_unknown_protocol() -> None:
    with pytest.raises(InputError, match="protocol 'udp': expected one of http, grpc"):
        MockServices(protocol="udp")


def grpc_spec(**mock: Any) -> RunSpec:
    service = ServiceSpec("sat", (), "tcp", kind="mock-collector", mock=mock)
    plain = ServiceSpec("plain", (), "tcp", kind="mock-collector")
    return RunSpec("p", Path("."), "c", "local:exec", (), services=(plain, service))


def test_without_grpcio_a_grpc_service_fails_before_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    check_available(grpc_spec(protocol="grpc"))  # this host has the extra
    monkeypatch.setitem(sys.modules, "grpc", None)  # now it does not
    with pytest.raises(HostError) as err:
        check_available(grpc_spec(protocol="grpc"))
    message = str(err.value)
    assert message.startswith('[[services]] sat: a mock-collector with protocol = "grpc"')
    assert message.endswith("install them with: pip install 'choreograph[grpc]'")
    check_available(grpc_spec())  # HTTP collectors need nothing more
    with (
        pytest.raises(HostError, match=r"pip install 'choreograph\[grpc\]'"),
        MockServices(protocol="grpc"),
    ):
        pass


def test_without_grpcio_the_collector_process_says_so_and_exits_2() -> None:
    code = NO_GRPC + (
        "from choreograph.services.mocks.collector import main; "
        "sys.exit(main(['--port', '1', '--protocol', 'grpc']))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "pip install 'choreograph[grpc]'" in done.stderr
