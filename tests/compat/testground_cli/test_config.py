"""``.env.toml`` as Testground's pkg/config reads it, mapped onto Choreograph."""

from __future__ import annotations

from pathlib import Path

import pytest

from choreograph.cli.testground.config import (
    DEFAULT_ENDPOINT,
    DEFAULT_LISTEN,
    load_env,
    parse_env,
    served_listen,
)
from choreograph.cli.testground.config import testground_home as home_of
from choreograph.errors import InputError

# integration_tests/18_env.toml and 20_env.toml, merged.
ENV_TOML = """
[runners."local:docker"]
disabled = true
ulimits = ["nofile=1048576:1048576"]
additional_hosts = ["http-echo"]

[daemon]
listen = ":8040"
tokens = ["s3cret"]

[daemon.scheduler]
task_timeout_min = 5
task_repo_type = "disk"
workers = 3

[client]
endpoint = "http://localhost:8040"
user = "tg_integration_test"
token = "s3cret"
"""


def test_defaults_without_a_file(tmp_path: Path) -> None:
    env = load_env(tmp_path)
    assert (env.listen, env.endpoint, env.workers) == (DEFAULT_LISTEN, DEFAULT_ENDPOINT, 2)
    assert env.listen == "localhost:8042" and env.endpoint == "http://localhost:8042"
    assert env.file is None and env.runner_config("local:docker") == {}


def test_every_setting_acted_on_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env.toml").write_text(ENV_TOML)
    env = load_env(tmp_path)
    assert env.listen == ":8040" and env.tokens == ("s3cret",)
    assert (env.workers, env.task_timeout_min) == (3, 5)
    assert (env.endpoint, env.user, env.token) == (
        "http://localhost:8040",
        "tg_integration_test",
        "s3cret",
    )
    assert env.runner_disabled("local:docker") and not env.runner_disabled("local:exec")
    assert env.runner_config("local:docker") == {
        "ulimits": ["nofile=1048576:1048576"],
        "additional_hosts": ["http-echo"],
    }


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"daemon": {"listen": 8040}}, "[daemon] listen must be str"),
        ({"daemon": {"scheduler": {"workers": "two"}}}, "workers must be int"),
        ({"client": "x"}, "client must be a table"),
        ({"daemon": {"scheduler": {"workers": True}}}, "workers must be int"),
    ],
)
def test_a_value_of_the_wrong_kind_is_named(data: dict[str, object], names: str) -> None:
    with pytest.raises(InputError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_env(data, Path("/h"))  # type: ignore[arg-type]


def test_unreadable_toml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / ".env.toml").write_text("[daemon\n")
    with pytest.raises(InputError, match=r"\.env\.toml: cannot read it"):
        load_env(tmp_path)


def test_home_follows_testground_rules(tmp_path: Path) -> None:
    assert home_of({"TESTGROUND_HOME": "/x/tg"}) == Path("/x/tg")
    user = tmp_path / "user"
    assert home_of({"HOME": str(user)}) == user / ".config" / "testground"
    assert home_of({"HOME": str(user), "XDG_CONFIG_HOME": "/xdg"}) == Path("/xdg/testground")
    (user / "testground").mkdir(parents=True)  # the legacy home wins once it exists
    assert home_of({"HOME": str(user)}) == user / "testground"


@pytest.mark.parametrize(
    ("listen", "tokens", "served", "warned"),
    [
        (":8040", False, "127.0.0.1:8040", True),
        ("0.0.0.0:8040", False, "127.0.0.1:8040", True),
        (":8040", True, "0.0.0.0:8040", False),
        ("localhost:8042", False, "localhost:8042", False),
        ("127.0.0.1:9000", False, "127.0.0.1:9000", False),
    ],
)
def test_an_all_interfaces_listen_is_loopback_without_tokens(
    listen: str, tokens: bool, served: str, warned: bool
) -> None:
    got, warning = served_listen(listen, tokens)
    assert got == served and bool(warning) == warned


def test_a_listen_without_port_is_refused() -> None:
    with pytest.raises(InputError, match="HOST:PORT"):
        served_listen("localhost", False)
