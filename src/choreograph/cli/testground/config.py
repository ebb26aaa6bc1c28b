"""Testground's client and daemon configuration, ``$TESTGROUND_HOME/.env.toml``, read once
and mapped onto Choreograph's settings.

Facts followed (testground/testground ``pkg/config``): the home is ``$TESTGROUND_HOME``,
else ``~/testground`` when that folder exists (the legacy default), else
``$XDG_CONFIG_HOME/testground``; plans live in ``<home>/plans``. Defaults: the daemon
listens on ``localhost:8042`` and the client calls ``http://localhost:8042``, 2 scheduler
workers. ``[runners."<id>"]`` tables are the lowest layer of a run's runner configuration
(below the manifest and the composition), and ``disabled = true`` in one refuses runs on
that runner (the task ends ``canceled``).

Choreograph's own home is this same folder when the ``testground`` command runs (so
``testground plan import`` fills ``$TESTGROUND_HOME/plans`` as Testground's does), unless
only ``CHOREO_HOME`` is set.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from choreograph.errors import InputError

ENV_FILE = ".env.toml"
DEFAULT_LISTEN = "localhost:8042"
DEFAULT_ENDPOINT = "http://localhost:8042"
DEFAULT_WORKERS = 2
DISABLED = "disabled"


@dataclass(frozen=True)
class EnvConfig:
    """The parts of ``.env.toml`` Choreograph acts on."""

    home: Path
    listen: str = DEFAULT_LISTEN
    tokens: tuple[str, ...] = ()
    workers: int = DEFAULT_WORKERS
    task_timeout_min: int = 0
    endpoint: str = DEFAULT_ENDPOINT
    token: str = ""
    user: str = ""
    runners: dict[str, dict[str, Any]] = field(default_factory=dict)
    file: Path | None = None
    """The file read, None when there was none (defaults only)."""

    def runner_config(self, runner: str) -> dict[str, Any]:
        """``[runners."<runner>"]`` without the ``disabled`` flag: run configuration."""
        return {k: v for k, v in self.runners.get(runner, {}).items() if k != DISABLED}

    def runner_disabled(self, runner: str) -> bool:
        return self.runners.get(runner, {}).get(DISABLED) is True


def testground_home(environ: Mapping[str, str] = os.environ) -> Path:
    """Where Testground keeps plans and ``.env.toml`` (see the module docstring)."""
    if environ.get("TESTGROUND_HOME"):
        return Path(environ["TESTGROUND_HOME"]).expanduser()
    legacy = Path(environ.get("HOME") or Path.home()) / "testground"
    if legacy.is_dir():
        return legacy
    xdg = environ.get("XDG_CONFIG_HOME") or str(
        Path(environ.get("HOME") or Path.home()) / ".config"
    )
    return Path(xdg) / "testground"


def load_env(home: Path) -> EnvConfig:
    """``<home>/.env.toml``, or the defaults when there is none; InputError naming the
    file and key of a value of the wrong kind."""
    file = home / ENV_FILE
    if not file.is_file():
        return EnvConfig(home=home)
    try:
        data = tomllib.loads(file.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"{file}: cannot read it: {exc}") from None
    return parse_env(data, home, file)


def parse_env(data: dict[str, Any], home: Path, file: Path | None = None) -> EnvConfig:
    where = str(file or ENV_FILE)
    daemon = _table(data, "daemon", where)
    scheduler = _table(daemon, "scheduler", f"{where} [daemon]")
    client = _table(data, "client", where)
    runners = _table(data, "runners", where)
    return EnvConfig(
        home=home,
        listen=_get(daemon, "listen", str, where, "daemon") or DEFAULT_LISTEN,
        tokens=tuple(_get(daemon, "tokens", list, where, "daemon") or ()),
        workers=_get(scheduler, "workers", int, where, "daemon.scheduler") or DEFAULT_WORKERS,
        task_timeout_min=_get(scheduler, "task_timeout_min", int, where, "daemon.scheduler") or 0,
        endpoint=_get(client, "endpoint", str, where, "client") or DEFAULT_ENDPOINT,
        token=_get(client, "token", str, where, "client") or "",
        user=_get(client, "user", str, where, "client") or "",
        runners={str(k): dict(_table(runners, str(k), f"{where} [runners]")) for k in runners},
        file=file,
    )


def _table(data: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise InputError(f"{where}: {key} must be a table, found {value!r}")
    return value


def _get(table: dict[str, Any], key: str, kind: type, where: str, section: str) -> Any:
    value = table.get(key)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise InputError(f"{where}: [{section}] {key} must be {kind.__name__}, found {value!r}")
    return value


def served_listen(listen: str, has_tokens: bool) -> tuple[str, str]:
    """``[daemon] listen`` as Choreograph's daemon takes it (``HOST:PORT``) and a warning
    ("" for none). An all-interfaces address (``:8040``, ``0.0.0.0:8040``) is served on
    loopback only unless the daemon has tokens: Choreograph's daemon runs whatever it is
    sent, so it answers other hosts only when they must show a token."""
    host, sep, port = listen.rpartition(":")
    if not sep:
        raise InputError(f"[daemon] listen {listen!r}: expected HOST:PORT or :PORT")
    if host in ("", "0.0.0.0", "[::]", "::"):
        if has_tokens:
            return f"{host or '0.0.0.0'}:{port}", ""
        warning = (
            f"[daemon] listen {listen!r} means every interface; serving on 127.0.0.1:{port} "
            "only, as no [daemon] tokens are set (add tokens to serve other hosts)"
        )
        return f"127.0.0.1:{port}", warning
    return listen, ""
