"""``exposed_ports`` as Testground's container runners read it: ``{pprof = "6060"}``, a
named port (``NAME_PORT`` in the instance's environment) and its number, optionally
``/tcp`` or ``/udp``. One check for ``local:docker`` and ``cluster:k8s``."""

from __future__ import annotations

import re

from choreograph.errors import InputError


def exposed_ports(value: object, where: str) -> dict[str, str]:
    """The checked table, name → ``"6060"`` or ``"6060/udp"``."""
    if not isinstance(value, dict):
        raise InputError(f'{where} exposed_ports = {value!r}: expected a table (pprof = "6060")')
    out = {}
    for name, port in value.items():
        text = str(port).strip()
        number = re.fullmatch(r"(\d{1,5})(/(tcp|udp))?", text)
        if not number or not 1 <= int(number.group(1)) <= 65535:
            raise InputError(
                f'{where} exposed_ports.{name} = {port!r}: expected a port 1-65535 such as "6060"'
            )
        if not re.search(r"[A-Za-z]", str(name)):
            raise InputError(
                f"{where} exposed_ports.{name}: the name becomes {name}_PORT in the "
                "environment and needs a letter, e.g. pprof"
            )
        out[str(name)] = text
    return out
