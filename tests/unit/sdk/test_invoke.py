"""invoke/invoke_map outcomes, each scenario a real instance process against a real sync service."""

import asyncio
import os
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from choreograph.sdk import SyncClient
from choreograph.sdk._invoke import judge_exception, judge_result
from choreograph.sync_service import SyncService
from choreograph.wire.env import RunEnvVars
from choreograph.wire.events import Event, parse_event, parse_line
from choreograph.wire.topics import run_events_key

PLAN = "invoke-plan"


@pytest.fixture
async def address() -> AsyncIterator[tuple[str, int]]:
    service = SyncService()
    yield await service.start()
    async with asyncio.timeout(5):
        await service.stop()


async def run_instance(
    tmp_path: Path, address: tuple[str, int], body: str, *, case: str = "main", count: int = 1
) -> tuple[int, list[Event], str, str]:
    """Run ``body`` as a plan; return its exit code, stdout events, stderr, and the run id."""
    script = tmp_path / "plan.py"
    script.write_text(textwrap.dedent(body))
    run = f"run-{tmp_path.name}"
    env = (
        os.environ
        | RunEnvVars(
            test_plan=PLAN,
            test_case=case,
            test_run=run,
            test_instance_count=count,
            test_group_id="g",
            test_group_instance_count=count,
            test_outputs_path=str(tmp_path),
            test_temp_path=str(tmp_path),
            test_subnet="127.1.0.0/16",
            test_start_time=datetime.now(UTC),
            sync_service_host=address[0],
            sync_service_port=address[1],
        ).to_env()
        | {"CHOREO_SYNC_CONNECT_TIMEOUT": "1"}
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 20)
    events = [e for e in map(parse_line, out.decode().splitlines()) if e is not None]
    assert proc.returncode is not None
    return proc.returncode, events, err.decode(), run


async def published(address: tuple[str, int], run: str, case: str = "main") -> list[Event]:
    """Every event on the run's run_events topic, up to the terminal one."""
    found: list[Event] = []
    async with SyncClient.connect(*address) as client:
        sub = await client.subscribe(run_events_key(run, PLAN, case))
        while not found or not found[-1].terminal:
            event = parse_event(await sub.get(timeout=5))
            assert event is not None
            found.append(event)
    return found


async def check(
    tmp_path: Path, address: tuple[str, int], body: str, *, kind: str, code: int, case: str = "main"
) -> tuple[Event, str]:
    """Run the plan; assert exit code, the stdout lines and that the outcome was published."""
    rc, events, err, run = await run_instance(tmp_path, address, body, case=case)
    assert rc == code, err
    assert events[-1].kind == kind, events
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    on_topic = await published(address, run, case)
    assert [(e.kind, e.seq, e.instance) for e in on_topic] == [
        (e.kind, e.seq, e.instance) for e in events
    ]
    return events[-1], err


HEAD = "from choreograph.sdk import invoke, invoke_map\n"


@pytest.mark.parametrize("prefix", ["", "async "])
async def test_success(tmp_path: Path, address: tuple[str, int], prefix: str) -> None:
    body = HEAD + f"{prefix}def case(runenv):\n    runenv.record_message('hi')\ninvoke(case)\n"
    rc, events, _, run = await run_instance(tmp_path, address, body)
    assert rc == 0
    assert [e.kind for e in events] == ["start", "message", "success"]
    assert all(e.instance == "g/0" for e in events)
    assert [e.kind for e in await published(address, run)] == ["start", "message", "success"]


@pytest.mark.parametrize("prefix", ["", "async "])
async def test_returned_error_is_a_failure(
    tmp_path: Path, address: tuple[str, int], prefix: str
) -> None:
    body = HEAD + f"{prefix}def case(runenv):\n    return ValueError('quorum lost')\ninvoke(case)\n"
    event, _ = await check(tmp_path, address, body, kind="failure", code=1)
    assert event.error == "quorum lost"


@pytest.mark.parametrize("prefix", ["", "async "])
async def test_assertion_is_a_failure_with_its_text_and_place(
    tmp_path: Path, address: tuple[str, int], prefix: str
) -> None:
    body = HEAD + f"{prefix}def case(runenv):\n    assert 1 == 2, 'one is not two'\ninvoke(case)\n"
    event, err = await check(tmp_path, address, body, kind="failure", code=1)
    assert event.error == "assertion failed at plan.py:3: one is not two"
    assert "AssertionError: one is not two" in err


async def test_bare_assertion_quotes_the_source_line(
    tmp_path: Path, address: tuple[str, int]
) -> None:
    body = HEAD + "def case(runenv):\n    x = 3\n    assert x == 4\ninvoke(case)\n"
    event, _ = await check(tmp_path, address, body, kind="failure", code=1)
    assert event.error == "assertion failed at plan.py:4: assert x == 4"


@pytest.mark.parametrize("prefix", ["", "async "])
async def test_exception_is_a_crash_with_its_traceback(
    tmp_path: Path, address: tuple[str, int], prefix: str
) -> None:
    body = HEAD + (
        f"{prefix}def case(runenv):\n    helper()\n"
        "def helper():\n    raise KeyError('peer-7')\ninvoke(case)\n"
    )
    event, err = await check(tmp_path, address, body, kind="crash", code=1)
    assert event.error == "KeyError: 'peer-7'"
    assert "Traceback (most recent call last)" in event.stacktrace
    assert "in helper" in event.stacktrace and "KeyError: 'peer-7'" in event.stacktrace
    assert "in helper" in err


@pytest.mark.parametrize(
    ("call", "kind", "code"), [("sys.exit()", "success", 0), ("sys.exit(3)", "failure", 1)]
)
async def test_sys_exit(
    tmp_path: Path, address: tuple[str, int], call: str, kind: str, code: int
) -> None:
    body = "import sys\n" + HEAD + f"def case(runenv):\n    {call}\ninvoke(case)\n"
    event, _ = await check(tmp_path, address, body, kind=kind, code=code)
    if kind == "failure":
        assert event.error == "the test function called sys.exit(3)"


async def test_unknown_case_names_the_known_ones(tmp_path: Path, address: tuple[str, int]) -> None:
    body = HEAD + "def a(runenv): pass\ndef b(runenv): pass\ninvoke_map({'a': a, 'b': b})\n"
    event, _ = await check(tmp_path, address, body, kind="crash", code=1, case="nope")
    assert event.error == "unknown test case 'nope'; this plan has: a, b"


async def test_invoke_map_runs_the_named_case(tmp_path: Path, address: tuple[str, int]) -> None:
    body = HEAD + (
        "def a(runenv): return 'ran a'\ndef b(runenv): return 'ran b'\n"
        "invoke_map({'a': a, 'b': b})\n"
    )
    event, _ = await check(tmp_path, address, body, kind="failure", code=1, case="b")
    assert event.error == "ran b"


@pytest.mark.parametrize(
    ("prefix", "wait", "client"),
    [("", "", "BlockingSyncClient"), ("async ", "await ", "SyncClient")],
)
async def test_context_form_gets_a_client_and_sequence_numbers(
    tmp_path: Path, address: tuple[str, int], prefix: str, wait: str, client: str
) -> None:
    body = HEAD + textwrap.dedent(f"""\
        {prefix}def case(runenv, ctx):
            assert type(ctx.sync_client).__name__ == {client!r}
            assert ctx.run_env is runenv and (ctx.global_seq, ctx.group_seq) == (1, 1)
            {wait}ctx.sync_client.publish("t", {{"n": 1}})
            assert {wait}ctx.sync_client.signal_entry("s") == 1
        invoke(case)
        """)
    await check(tmp_path, address, body, kind="success", code=0)


async def test_unreachable_service_is_a_crash_on_stdout(tmp_path: Path) -> None:
    body = HEAD + "def case(runenv): pass\ninvoke(case)\n"
    rc, events, err, _ = await run_instance(tmp_path, ("127.0.0.1", 1), body)
    assert rc == 1
    assert [e.kind for e in events] == ["crash"]
    assert "cannot connect to the sync service at 127.0.0.1:1" in events[0].error
    assert "cannot connect" in err


def test_judging_rules() -> None:
    assert judge_result(None).kind == "success"
    assert judge_result("bad") == judge_result(RuntimeError("bad"))
    assert judge_exception(SystemExit(0)).kind == "success"
    assert judge_exception(SystemExit("gave up")).error == "gave up"
    interrupted = judge_exception(KeyboardInterrupt())
    assert (interrupted.kind, interrupted.error) == (
        "crash",
        "the test was interrupted (KeyboardInterrupt)",
    )

    async def coroutine() -> None:
        pass

    returned = judge_result(coroutine())
    assert returned.kind == "crash" and "async def" in returned.error
