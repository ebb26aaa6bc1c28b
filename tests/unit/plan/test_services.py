"""[[services]] in a composition: the model, its located errors, and the resolved spec."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from choreograph.errors import Issue, PlanError
from choreograph.plan import load_composition
from choreograph.plan.spec import ServiceSpec

HEAD = """\
[global]
plan = "p"
case = "c"

[[groups]]
id = "g"
instances = { count = 1 }
"""


def write(tmp_path: Path, services: str) -> Path:
    path = tmp_path / "composition.toml"
    path.write_text(HEAD + textwrap.dedent(services))
    return path


def issues(path: Path) -> list[Issue]:
    with pytest.raises(PlanError) as err:
        load_composition(path)
    return err.value.issues


def test_services_resolve_to_specs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [[services]]
        name = "redis"
        command = ["redis-server", "--port", "{port}"]
        ready = { tcp = 0 }
        timeout = "1m30s"

        [[services]]
        name = "web-api"
        command = ["python3", "-m", "http.server", "{port}"]
        ready = { http = "http://127.0.0.1:{port}/" }
        port = 8123
        env = { MODE = "test" }

        [[services]]
        name = "db"
        command = ["db"]
        ready = { command = ["db-ping", "{port}"] }
        """,
    )
    comp = load_composition(path)
    assert [s.to_spec() for s in comp.services] == [
        ServiceSpec("redis", ("redis-server", "--port", "{port}"), "tcp", timeout_s=90.0),
        ServiceSpec(
            "web-api", ("python3", "-m", "http.server", "{port}"), "http",
            ready_url="http://127.0.0.1:{port}/", port=8123, env={"MODE": "test"},
        ),
        ServiceSpec("db", ("db",), "command", ready_command=("db-ping", "{port}")),
    ]  # fmt: skip


def test_a_fixed_tcp_probe_is_the_services_port(tmp_path: Path) -> None:
    path = write(tmp_path, '[[services]]\nname = "s"\ncommand = ["x"]\nready = { tcp = 7000 }\n')
    spec = load_composition(path).services[0].to_spec()
    assert (spec.port, spec.ready_port) == (7000, 7000)


@pytest.mark.parametrize(
    ("entry", "field", "problem"),
    [
        ('name = "s"\ncommand = ["x"]\nready = { tcp = 1, http = "u" }', "services#1.ready",
         "expected exactly one of tcp, http or command, found tcp, http"),
        ('name = "s"\ncommand = ["x"]\nready = {}', "services#1.ready",
         "found none"),
        ('name = "s"\ncommand = []\nready = { tcp = 1 }', "services#1.command", ""),
        ('name = "s"\ncommand = ["x"]\nready = { tcp = 1 }\ntimeout = "soon"',
         "services#1.timeout", "expected seconds > 0 or a duration such as '20s'"),
        ('name = "s"\ncommand = ["x"]\nready = { tcp = 1 }\ntimeout = -2',
         "services#1.timeout", "found -2"),
        ('name = "9lives"\ncommand = ["x"]\nready = { tcp = 1 }', "services#1.name", ""),
        ('name = "s"\ncommand = ["x"]', "services#1.ready", ""),
        ('name = "s"\ncommand = ["x"]\nready = { udp = 1 }', "services#1.ready.udp", ""),
    ],
)  # fmt: skip
def test_mistakes_are_located(tmp_path: Path, entry: str, field: str, problem: str) -> None:
    path = write(tmp_path, "\n[[services]]\n" + entry + "\n")
    found = issues(path)
    assert len(found) == 1, found
    assert found[0].field == field
    assert problem in found[0].problem
    assert found[0].line is not None and found[0].line >= 9  # inside the [[services]] entry


def test_service_names_are_unique(tmp_path: Path) -> None:
    entry = '[[services]]\nname = "s"\ncommand = ["x"]\nready = { tcp = 1 }\n'
    path = write(tmp_path, entry + entry)
    (issue,) = issues(path)
    assert issue.field == "services#2.name"
    assert issue.problem == "expected unique names, found 's' again"
    assert issue.line == 13  # the second entry's name line
