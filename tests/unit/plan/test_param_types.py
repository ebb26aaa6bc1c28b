"""Param types in manifest.toml: every spelling published Testground manifests use loads,
and any other is an error at its file and line that lists the valid types."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph.errors import PlanError
from choreograph.plan import PARAM_TYPES, load_manifest

HEAD = """\
name = "p"
[defaults]
builder = "exec:go"
runner = "local:exec"
[builders."exec:go"]
[runners."local:exec"]
[[testcases]]
name = "a"
  [testcases.params]
"""


def manifest(tmp_path: Path, params: str) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(HEAD + params)
    return path


# Found in testground/testground (its plans and Lotus' manifests), libp2p/test-plans,
# sigp/gossipsub-testground, and the compat plans under tests/compat.
IN_THE_WILD = {
    "int": "int",
    "float": "float",
    "bool": "bool",
    "boolean": "bool",
    "string": "string",
    "str": "string",
    "duration": "duration",
    "json": "json",
    "size": "size",
}


@pytest.mark.parametrize(("written", "kind"), IN_THE_WILD.items())
def test_every_published_spelling_loads(tmp_path: Path, written: str, kind: str) -> None:
    params = manifest(tmp_path, f'  n = {{ type = "{written}" }}\n')
    assert load_manifest(params).case("a").params["n"].type == kind


def test_enum_loads_with_its_values(tmp_path: Path) -> None:
    params = manifest(tmp_path, '  n = { type = "enum", values = ["tcp", "quic"] }\n')
    assert load_manifest(params).case("a").params["n"].values == ["tcp", "quic"]


@pytest.mark.parametrize(
    ("written", "hint"),
    [("integer", "Testground's spelling is 'int'"), ("number", "'float'"), ("integr", "")],
)
def test_an_unknown_type_is_located_and_lists_the_valid_ones(
    tmp_path: Path, written: str, hint: str
) -> None:
    path = manifest(tmp_path, f'  ok = {{ type = "int" }}\n  n = {{ type = "{written}" }}\n')
    with pytest.raises(PlanError) as err:
        load_manifest(path)
    [issue] = err.value.issues
    assert (issue.source, issue.line, issue.field) == (str(path), 11, "testcases#1.params.n.type")
    assert f"expected one of {', '.join(PARAM_TYPES)}, found {written!r}" in issue.problem
    assert hint in issue.problem
    assert str(err.value).startswith(f"{path}:11: testcases#1.params.n.type: expected one of")
