"""``kind = "mock-collector"`` in [[services]]: resolved specs and located mistakes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from tests.unit.plan.test_services import HEAD as COMPOSITION

from choreograph.errors import PlanError
from choreograph.plan import load_composition
from choreograph.plan.spec import ServiceSpec

HEAD = COMPOSITION + '\n[[services]]\nname = "sat"\n'


def load(tmp_path: Path, body: str) -> list[ServiceSpec]:
    path = tmp_path / "composition.toml"
    path.write_text(HEAD + textwrap.dedent(body))
    return [s.to_spec() for s in load_composition(path).services]


def test_a_mock_collector_resolves_with_its_settings(tmp_path: Path) -> None:
    (spec,) = load(
        tmp_path,
        """
        kind = "mock-collector"
        mode = "slow_succeed"
        latency = { distribution = "normal", mean = "2ms", stddev = 0.0005, min = "1ms" }
        error_rate = 0.1
        instances = 3
        port = 9400
        seed = 7
        groups = { g = "slow_fail", other = { error_rate = 0.5, drop_rate = 0.25 } }
        """,
    )
    assert spec == ServiceSpec(
        "sat", (), "tcp", port=9400, kind="mock-collector", instances=3,
        mock={"mode": "slow_succeed", "error_rate": 0.1, "seed": 7,
              "latency": {"distribution": "normal", "mean": 0.002, "stddev": 0.0005, "min": 0.001}},
        group_mocks={"g": {"mode": "slow_fail", "seed": 7},
                     "other": {"mode": "typical", "error_rate": 0.5, "drop_rate": 0.25, "seed": 7}},
    )  # fmt: skip


def test_the_defaults_are_one_typical_collector(tmp_path: Path) -> None:
    (spec,) = load(tmp_path, 'kind = "mock-collector"\n')
    assert (spec.kind, spec.instances, spec.mock, spec.group_mocks) == (
        "mock-collector",
        1,
        {"mode": "typical"},
        {},
    )


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ('kind = "mock-collector"\nmode = "fast"', "services#1.mode", "expected"),
        ('kind = "mock-collector"\ncommand = ["x"]', "services#1.command", "expected no command"),
        ('kind = "mock-collector"\nready = { tcp = 0 }', "services#1.ready", "built in"),
        ('command = ["x"]\nready = { tcp = 0 }\nmode = "typical"', "services#1.mode",
         "mode is for kind = 'mock-collector' only"),
        ('kind = "collector"', "services#1.kind", "expected"),
        ('kind = "mock-collector"\nerror_rate = 2', "services#1.error_rate", "found 2"),
        ('kind = "mock-collector"\ninstances = 0', "services#1.instances", "found 0"),
        ('kind = "mock-collector"\nlatency = { distribution = "uniform", min = "1ms" }',
         "services#1.latency", "a uniform distribution needs min and max"),
        ('kind = "mock-collector"\nlatency = { mean = "soon" }', "services#1.latency.mean",
         "expected seconds ≥ 0 or a duration such as '20s', found 'soon' (string)"),
        ('kind = "mock-collector"\nlatency = { mean = "5ms", min = "9ms", max = "1ms" }',
         "services#1.latency", "expected min ≤ max"),
        ('kind = "mock-collector"\nlatency = { distribution = "exponential", mean = "1ms", '
         'min = "1ms" }', "services#1.latency", "needs mean > min"),
        ('kind = "mock-collector"\ngroups = { g = "quick" }', "services#1.groups.g", ""),
        ('kind = "mock-collector"\ngroups = { g = { speed = 1 } }', "services#1.groups.g", ""),
    ],
)  # fmt: skip
def test_mistakes_are_located(tmp_path: Path, body: str, field: str, problem: str) -> None:
    with pytest.raises(PlanError) as err:
        load(tmp_path, body + "\n")
    fields = [i.field for i in err.value.issues]
    assert any(f.startswith(field) for f in fields), err.value.issues
    assert problem in " ".join(i.problem for i in err.value.issues)
    assert all(i.line is not None and i.line >= 9 for i in err.value.issues)
