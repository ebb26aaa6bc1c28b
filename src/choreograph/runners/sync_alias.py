"""Plans whose SDK dials a fixed sync-service address, whatever ``SYNC_SERVICE_*`` says.

Testground's Rust SDK (crate ``testground`` 0.4) connects to
``testground-sync-service:5050``, the name Testground's Docker runners give the service.
On this host we give that name to a private loopback address chosen per run (so two runs
never clash on port 5050), bind the sync service there, and start each such instance in
its own mount namespace where ``/etc/hosts`` maps the name to that address. Nothing on
the host changes; as root a mount namespace suffices, otherwise an unprivileged user
namespace provides it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from choreograph.errors import RunnerError

TESTGROUND_SYNC_ALIAS = "testground-sync-service:5050"


def parse_alias(alias: str) -> tuple[str, int]:
    name, _, port = alias.rpartition(":")
    if not name or not port.isdigit():
        raise RunnerError(f"sync_alias {alias!r}: expected HOST:PORT, e.g. {TESTGROUND_SYNC_ALIAS}")
    return name, int(port)


def alias_names(alias: str, group: str, sync_port: int, where: str) -> set[str]:
    """Host names a container runner's instance must resolve to the sync service's
    address ``where``: Testground's always, and a plan's own ``sync_alias``, whose port
    must be the one the service got."""
    names = {parse_alias(TESTGROUND_SYNC_ALIAS)[0]}
    if alias:
        name, port = parse_alias(alias)
        if port != sync_port:
            raise RunnerError(
                f"group {group!r}: the plan dials the sync service at {alias}, but port "
                f"{port} is taken on {where}; free it"
            )
        names.add(name)
    return names


def private_loopback(run_id: str) -> str:
    """A loopback address of 127/8 picked from the run id: distinct runs, distinct ports."""
    digest = hashlib.sha256(run_id.encode()).digest()
    return f"127.{100 + digest[0] % 100}.{digest[1]}.{1 + digest[2] % 254}"


def write_hosts(path: Path, name: str, address: str) -> Path:
    """The host's ``/etc/hosts`` plus one line giving ``name`` to ``address``."""
    try:
        base = Path("/etc/hosts").read_text()
    except OSError:
        base = "127.0.0.1 localhost\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(base.rstrip("\n") + f"\n{address} {name}\n")
    return path


def wrap(argv: tuple[str, ...], hosts: Path) -> tuple[str, ...]:
    """``argv`` started in a private mount namespace whose /etc/hosts is ``hosts``."""
    unshare = shutil.which("unshare")
    if unshare is None:
        raise RunnerError("plans with a sync_alias need `unshare` (util-linux) on PATH")
    namespaces = ["--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        namespaces = ["--user", "--map-root-user", *namespaces]
    # argument list, no interpolation: $0 is the hosts file, "$@" the instance's argv
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return (unshare, *namespaces, "--", "/bin/sh", "-c", script, str(hosts), *argv)


def wrapped_argv(argv: tuple[str, ...], alias: str, run_dir: Path, address: str) -> tuple[str, ...]:
    """``argv`` started so that ``alias``'s host name resolves to ``address``."""
    name, _ = parse_alias(alias)
    hosts = run_dir / ".tmp" / f"hosts-{name}-{address}"
    if not hosts.exists():
        write_hosts(hosts, name, address)
    return wrap(argv, hosts)
