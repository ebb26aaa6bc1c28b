from pathlib import Path

from choreograph.builders.cache import build_key


def _plan(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "main.py").write_text("print(1)\n")
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    return root


def test_same_sources_same_key_and_any_change_changes_it(tmp_path: Path) -> None:
    plan = _plan(tmp_path / "p")
    key = build_key(plan, "exec:python", {"entry": "main.py"})
    assert build_key(plan, "exec:python", {"entry": "main.py"}) == key
    assert build_key(plan, "exec:python", {"entry": "other.py"}) != key
    assert build_key(plan, "exec:node", {"entry": "main.py"}) != key
    (plan / "pkg" / "mod.py").write_text("X = 2\n")
    assert build_key(plan, "exec:python", {"entry": "main.py"}) != key


def test_caches_and_outputs_do_not_count(tmp_path: Path) -> None:
    plan = _plan(tmp_path / "p")
    key = build_key(plan, "b", {})
    for junk in ("__pycache__/m.cpython-311.pyc", "node_modules/x/index.js", ".git/HEAD"):
        (plan / junk).parent.mkdir(parents=True, exist_ok=True)
        (plan / junk).write_text("junk")
    assert build_key(plan, "b", {}) == key


def test_renaming_a_file_changes_the_key(tmp_path: Path) -> None:
    plan = _plan(tmp_path / "p")
    key = build_key(plan, "b", {})
    (plan / "pkg" / "mod.py").rename(plan / "pkg" / "mod2.py")
    assert build_key(plan, "b", {}) != key
