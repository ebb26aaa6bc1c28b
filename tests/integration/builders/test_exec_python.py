"""exec:python with real environments: uv (and once pip) installing from PyPI.

One builds folder per module, so environments made by one test are reused by the next
(the way a user's cache behaves); tests that need a cold build use a fresh dependency set.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from choreograph.builders.base import BuildContext
from choreograph.builders.exec_python import ExecPythonBuilder
from choreograph.builders.venv import MARKER, envs_root
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest, Dependency

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "mixed-versions"
CHECKOUT = EXAMPLE / "packaging-checkout"


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("builds")


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    """A plan that prints what its interpreter can import."""
    (tmp_path / "plan").mkdir()
    (tmp_path / "plan" / "main.py").write_text("print('hello')\n")
    return tmp_path / "plan"


def build(
    plan: Path,
    builds: Path,
    deps: tuple[Dependency, ...] = (),
    log: list[str] | None = None,
    config: dict[str, object] | None = None,
    groups: tuple[str, ...] = ("g",),
) -> Artifact:
    ctx = BuildContext(builds, (log if log is not None else []).append)
    request = BuildRequest("p", plan, "exec:python", groups, config or {}, deps)
    return asyncio.run(ExecPythonBuilder().build(request, ctx))


def python_says(artifact: Artifact, code: str) -> str:
    proc = subprocess.run(
        [artifact.argv[0], "-c", code], capture_output=True, text=True, env=artifact.env or None
    )
    return (proc.stdout + proc.stderr).strip()


def test_a_plan_without_dependencies_runs_on_the_host_interpreter(plan: Path, builds: Path) -> None:
    first = build(plan, builds)
    assert first.argv[0] == sys.executable and first.launcher == "python-fork"
    assert first.provenance["environment"] == "host" and not first.from_cache
    assert Path(first.cwd, "main.py").is_file() and Path(first.cwd) != plan  # a copy
    second = build(plan, builds)
    assert second.from_cache and second.build_id == first.build_id
    (plan / "main.py").write_text("print('changed')\n")
    assert build(plan, builds).build_id != first.build_id


def test_a_pinned_release_gets_its_own_environment_with_the_sdk(plan: Path, builds: Path) -> None:
    log: list[str] = []
    artifact = build(plan, builds, (Dependency("packaging", "21.3"),), log)
    assert artifact.provenance["environment"] == "venv"
    assert "packaging==21.3" in artifact.provenance["freeze"]
    assert any(line.startswith("pyparsing==") for line in artifact.provenance["freeze"])
    assert artifact.provenance["versions"]["packaging"] == "21.3"
    assert any("installing packaging==21.3" in line for line in log)
    code = "import packaging, choreograph.sdk, choreograph; print(packaging.__version__)"
    assert python_says(artifact, code) == "21.3"
    host_only = python_says(artifact, "import pydantic")  # the host has it; the plan must not
    assert "No module named 'pydantic'" in host_only
    sdk = python_says(artifact, "import choreograph; print(choreograph.__file__)")
    assert Path(sdk).resolve().parent == Path(artifact.provenance["sdk"]["source"])


def test_an_unchanged_plan_reuses_its_build(plan: Path, builds: Path) -> None:
    deps = (Dependency("packaging", "24.2"),)
    first = build(plan, builds, deps)
    log: list[str] = []
    second = build(plan, builds, deps, log)
    assert second.from_cache and second.build_id == first.build_id
    assert second.provenance["freeze"] == first.provenance["freeze"]
    assert any("reused" in line for line in log)
    assert not any("installing" in line for line in log)
    (plan / "helper.py").write_text("X = 1\n")  # a source change: new build, same environment
    third = build(plan, builds, deps)
    assert third.build_id != first.build_id and third.argv[0] == first.argv[0]


def test_two_groups_of_one_set_share_an_environment(plan: Path, builds: Path) -> None:
    (plan / "requirements.txt").write_text("packaging==24.2\n")
    declared = build(plan, builds)
    overridden = build(plan, builds, (Dependency("packaging", "24.2"),), groups=("other",))
    assert declared.build_id == overridden.build_id and overridden.from_cache


def test_a_local_tree_is_built_as_a_snapshot(tmp_path: Path, plan: Path, builds: Path) -> None:
    checkout = tmp_path / "checkout"
    shutil.copytree(CHECKOUT, checkout)
    deps = (Dependency("packaging", path=str(checkout)),)
    artifact = build(plan, builds, deps)
    assert artifact.provenance["versions"]["packaging"] == "99.0.dev0"
    assert artifact.provenance["local"]["packaging"]["path"] == str(checkout)
    assert python_says(artifact, "from packaging import version; print(version.parse('1-x'))")
    assert sorted(p.name for p in checkout.iterdir()) == ["packaging", "pyproject.toml"]
    assert build(plan, builds, deps).from_cache
    (checkout / "packaging" / "__init__.py").write_text('__version__ = "99.0.dev1"\n')
    changed = build(plan, builds, deps)
    assert not changed.from_cache and changed.provenance["env"] != artifact.provenance["env"]
    assert python_says(changed, "import packaging; print(packaging.__version__)") == "99.0.dev1"
    assert python_says(artifact, "import packaging; print(packaging.__version__)") == "99.0.dev0"


def _no_trace_of(builds: Path, message: str) -> None:
    envs = envs_root(builds)
    half = [p for p in envs.iterdir() if p.is_dir() and not (p / MARKER).exists()]
    assert half == [], f"half-built environments left: {half}\n{message}"


def test_a_version_that_does_not_exist(plan: Path, builds: Path) -> None:
    with pytest.raises(BuildError) as caught:
        build(plan, builds, (Dependency("packaging", "99.99"),), groups=("broken",))
    message = str(caught.value)
    assert "groups broken" in message and "packaging==99.99 (override)" in message
    assert "there is no version of packaging==99.99" in message  # uv's own words
    _no_trace_of(builds, message)


def test_a_resolution_conflict(plan: Path, builds: Path) -> None:
    (plan / "requirements.txt").write_text("pyparsing==3.0.5\n")
    with pytest.raises(BuildError) as caught:
        build(plan, builds, (Dependency("packaging", "21.3"),), groups=("old",))
    message = str(caught.value)
    assert "groups old" in message and "unsatisfiable" in message
    assert "packaging==21.3 (override)" in message
    assert "pyparsing==3.0.5 (requirements.txt:1)" in message
    _no_trace_of(builds, message)


def test_a_missing_local_path(plan: Path, builds: Path) -> None:
    missing = plan.parent / "no-such-checkout"
    with pytest.raises(BuildError) as caught:
        build(plan, builds, (Dependency("mylib", path=str(missing)),), groups=("local",))
    message = str(caught.value)
    assert "groups local" in message and f"mylib @ {missing}" in message
    assert "does not exist" in message


def test_no_network_to_the_registry(
    plan: Path, builds: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Port 9 (discard) on loopback: nothing listens, so every request is refused at once.
    for name in ("UV_INDEX_URL", "UV_DEFAULT_INDEX", "PIP_INDEX_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:9/simple")
    monkeypatch.setenv("UV_HTTP_RETRIES", "0")
    with pytest.raises(BuildError) as caught:
        build(plan, builds, (Dependency("packaging", "23.2"),), groups=("offline",))
    message = str(caught.value)
    assert "groups offline" in message and "packaging==23.2" in message
    assert "127.0.0.1:9" in message and "Connection refused" in message
    _no_trace_of(builds, message)


def test_a_half_built_environment_is_never_reused(plan: Path, builds: Path) -> None:
    deps = (Dependency("packaging", "23.1"),)
    good = build(plan, builds, deps)
    env = Path(good.env["VIRTUAL_ENV"])
    (env / MARKER).unlink()  # as if the build had been killed before it finished
    again = build(plan, builds, deps)
    assert not again.from_cache and (env / MARKER).is_file()
    assert python_says(again, "import packaging; print(packaging.__version__)") == "23.1"


def test_concurrent_builds_of_one_set_make_one_environment(plan: Path, builds: Path) -> None:
    deps = (Dependency("packaging", "23.0"),)

    async def both() -> list[Artifact]:
        ctx = BuildContext(builds, lambda _: None)
        requests = [BuildRequest("p", plan, "exec:python", (g,), {}, deps) for g in "ab"]
        return await asyncio.gather(*(ExecPythonBuilder().build(r, ctx) for r in requests))

    a, b = asyncio.run(both())
    assert a.argv == b.argv and a.provenance["freeze"] == b.provenance["freeze"]


def test_pip_when_uv_is_not_wanted(plan: Path, builds: Path) -> None:
    artifact = build(plan, builds, (Dependency("packaging", "22.0"),), config={"installer": "pip"})
    assert artifact.provenance["installer"].startswith("pip")
    assert "packaging==22.0" in artifact.provenance["freeze"]
    code = "import packaging, choreograph.sdk; print(packaging.__version__)"
    assert python_says(artifact, code) == "22.0"


def test_a_plan_may_choose_its_own_version_of_an_sdk_dependency(plan: Path, builds: Path) -> None:
    # The host's websockets is pinned unless the plan names it; then the SDK's own range
    # (websockets>=13) still applies, so an SDK-breaking choice fails at build time.
    artifact = build(plan, builds, (Dependency("websockets", "14.2"),))
    assert artifact.provenance["versions"]["websockets"] == "14.2"
    assert python_says(artifact, "import choreograph.sdk; print('ok')") == "ok"
    with pytest.raises(BuildError) as caught:
        build(plan, builds, (Dependency("websockets", "12.0"),), groups=("ancient",))
    message = str(caught.value)
    assert "groups ancient" in message and "websockets==12.0 (override)" in message
    assert "unsatisfiable" in message
