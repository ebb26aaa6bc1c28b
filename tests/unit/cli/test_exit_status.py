"""One mapping from exceptions to exit statuses: 2 bad input, 3 build failed, 4 the host
cannot do what was asked (a port in use), whatever the exception is wrapped in."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Iterator

import pytest
import typer
from tests.ports import port_in_use

from choreograph.cli.reporting import reported
from choreograph.errors import BuildError, HostError, InputError, PlanError, SyncError
from choreograph.sync_service import SyncService


@pytest.fixture
def taken_port() -> Iterator[int]:
    with port_in_use() as port:
        yield port


def exit_status(raise_it: object) -> int:
    with pytest.raises(typer.Exit) as exited, reported():
        raise_it()  # type: ignore[operator]
    return exited.value.exit_code


def test_the_sync_service_on_a_port_in_use_exits_4(
    taken_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real bind on a real port: the service wraps the OSError in a SyncError."""
    status = exit_status(lambda: asyncio.run(SyncService().start("127.0.0.1", taken_port)))
    assert status == 4
    assert f"cannot listen on 127.0.0.1:{taken_port}" in capsys.readouterr().err


def fail_with(exc: BaseException, cause: BaseException | None = None) -> None:
    raise exc from cause


@pytest.mark.parametrize(
    ("exc", "cause", "status"),
    [
        (HostError("port 5050 in use"), None, 4),
        (BuildError("disk full"), OSError(errno.ENOSPC, "No space left on device"), 4),
        (OSError(errno.EADDRINUSE, "Address already in use"), None, 4),
        (BuildError("go build: exit 1"), None, 3),
        (PlanError([]), None, 2),
        (InputError("no plan 'x'"), None, 2),
        (SyncError("connection lost"), ConnectionResetError(errno.ECONNRESET, "reset"), 2),
    ],
)
def test_each_kind_of_error_has_its_status(
    exc: BaseException, cause: BaseException | None, status: int
) -> None:
    assert exit_status(lambda: fail_with(exc, cause)) == status


def test_other_errors_propagate() -> None:
    with pytest.raises(FileNotFoundError), reported():
        raise FileNotFoundError(errno.ENOENT, "gone")
    with pytest.raises(typer.Exit) as exited, reported(OSError):
        raise FileNotFoundError(errno.ENOENT, "gone")
    assert exited.value.exit_code == 2  # ``also`` still makes it bad input
