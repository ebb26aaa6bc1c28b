"""What every ``testground`` command settles first: the home folder (Testground's, see
config.py), the ``.env.toml`` settings, and whether a daemon is used.

Testground's CLI always talks to a daemon; Choreograph runs embedded unless one answers.
So a command that can go through a daemon uses the one at ``--endpoint`` (always), or at
``[client] endpoint`` (default ``http://localhost:8042``) when a Choreograph daemon
answers there (``testground daemon`` started it), and runs here otherwise.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from choreograph.cli.testground.config import EnvConfig, load_env, testground_home

_explicit_endpoint: list[str] = []
_loaded: list[EnvConfig] = []


def prepare(endpoint: str | None) -> EnvConfig:
    """Point Choreograph's settings at Testground's home and ``.env.toml``; remember an
    explicit ``--endpoint``."""
    if endpoint:
        _explicit_endpoint.append(endpoint)
    if os.environ.get("TESTGROUND_HOME") or not os.environ.get("CHOREO_HOME"):
        os.environ["CHOREO_HOME"] = str(testground_home())
    env = load_env(Path(os.environ["CHOREO_HOME"]).expanduser())
    _loaded.append(env)
    if env.task_timeout_min and "CHOREO_RUN_TIMEOUT_S" not in os.environ:
        os.environ["CHOREO_RUN_TIMEOUT_S"] = str(env.task_timeout_min * 60)
    os.environ["CHOREO_ENDPOINT"] = ""  # embedded until use_daemon() finds one
    if env.token:
        os.environ.setdefault("CHOREO_TOKEN", env.token)
    return env


def env() -> EnvConfig:
    """The ``.env.toml`` settings :func:`prepare` read."""
    return _loaded[-1] if _loaded else prepare(None)


@functools.cache
def use_daemon() -> bool:
    """True (and the endpoint set for Choreograph's settings) when commands go through a
    daemon; False to run here."""
    if _explicit_endpoint:
        os.environ["CHOREO_ENDPOINT"] = _explicit_endpoint[-1]
        return True
    config = env()
    try:
        from choreograph.daemon.client import answers
    except ImportError:  # the [daemon] extra is not installed: nothing to talk to
        return False
    if answers(config.endpoint, os.environ.get("CHOREO_TOKEN", "")):
        os.environ["CHOREO_ENDPOINT"] = config.endpoint
        return True
    return False
