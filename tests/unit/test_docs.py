"""The documentation stays true: the CLI reference matches the commands, and every
relative link in README.md and docs/ leads to a file of the repository."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# [text](target) and [text]: target; images too. Code spans and fenced blocks are removed
# first, so a link shown as an example is not checked.
_INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)


def _load_generator() -> ModuleType:
    path = DOCS / "gen_cli_reference.py"
    spec = importlib.util.spec_from_file_location("gen_cli_reference", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _relative_targets(text: str) -> list[str]:
    text = _CODE_SPAN.sub("", _FENCE.sub("", text))
    targets = _INLINE_LINK.findall(text) + _REFERENCE_LINK.findall(text)
    return [
        t
        for t in targets
        if not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", t)  # http:, https:, mailto:
        and not t.startswith(("#", "//"))
    ]


def test_cli_reference_matches_the_commands() -> None:
    generator = _load_generator()
    committed = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert generator.render() == committed, (
        "docs/cli.md no longer matches the commands: run `python3 docs/gen_cli_reference.py` "
        "and commit docs/cli.md"
    )


@pytest.mark.parametrize("page", _markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_lead_to_files_in_the_repository(page: Path) -> None:
    missing = []
    for target in _relative_targets(page.read_text(encoding="utf-8")):
        path = unquote(target.split("#", 1)[0])
        if not path:
            continue
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(ROOT) or not resolved.exists():
            missing.append(target)
    assert not missing, f"{page.relative_to(ROOT)} links to files that do not exist: {missing}"


def test_the_link_reader_finds_links() -> None:
    text = 'see [a](a.md) and ![b](img/b.png "t"), [c](https://x.y), [d](#e), `[f](g.md)`\n'
    text += "```\n[h](i.md)\n```\n[r]: ref.md\n"
    assert _relative_targets(text) == ["a.md", "img/b.png", "ref.md"]
