"""Tokens: where they come from, who they name, and when they are required."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph.daemon.auth import Tokens, check_listen, is_loopback, load_tokens
from choreograph.errors import InputError

TOKEN = "s3cret-token-0123456789"


def test_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "tokens"
    file.write_text(f"# ci and people\nci {TOKEN}\n\n")
    monkeypatch.setenv("CHOREO_DAEMON_TOKENS", f"alice:{TOKEN}-alice")
    tokens = load_tokens(file)
    assert sorted(tokens.names()) == ["alice", "ci"]
    assert tokens.who(f"Bearer {TOKEN}") == "ci"
    assert tokens.who(f"bearer {TOKEN}-alice") == "alice"
    for wrong in (None, "", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "):
        assert tokens.who(wrong) is None


def test_malformed_entries_name_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = tmp_path / "tokens"
    file.write_text("just-one-word\n")
    with pytest.raises(InputError, match=r"tokens:1: expected 'name token'"):
        load_tokens(file)
    monkeypatch.setenv("CHOREO_DAEMON_TOKENS", "ci:short")
    with pytest.raises(InputError, match="shorter than 16"):
        load_tokens(None)


def test_no_tokens_means_local() -> None:
    assert Tokens({}).who(None) == "local"


def test_beyond_loopback_needs_tokens() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    check_listen("127.0.0.1", Tokens({}))
    check_listen("0.0.0.0", Tokens({"ci": TOKEN}))
    with pytest.raises(InputError, match="needs tokens"):
        check_listen("0.0.0.0", Tokens({}))
