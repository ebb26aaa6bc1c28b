"""Host settings, defined once: defaults < ``$CHOREO_HOME/config.toml`` < ``CHOREO_*`` < flags.

Only the home folder and run defaults live here for now; each later setting is added as
one field so every layer (file, environment, flag) sees it under the same name.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from choreograph.errors import Issue, PlanError


@dataclass(frozen=True)
class Settings:
    home: Path
    default_runner: str = "local:exec"
    run_timeout_s: float = 600.0
    stop_grace_s: float = 3.0
    """How long stopped instances get between SIGTERM and SIGKILL."""

    @property
    def plans_dir(self) -> Path:
        return self.home / "plans"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def builds_dir(self) -> Path:
        return self.home / "builds"


def _home() -> Path:
    return Path(os.environ.get("CHOREO_HOME") or Path.home() / ".choreograph").expanduser()


def load_settings(**flags: Any) -> Settings:
    """Settings for this process; ``flags`` (non-None values) win over everything else."""
    settings = Settings(home=_home())
    config_file = settings.home / "config.toml"
    layers: list[dict[str, Any]] = []
    if config_file.exists():
        try:
            layers.append(tomllib.loads(config_file.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise PlanError(Issue(str(config_file), "(file)", f"not valid TOML: {exc}")) from None
    known = {f.name: f for f in fields(Settings) if f.name != "home"}
    env_layer: dict[str, Any] = {}
    for name in known:
        value = os.environ.get(f"CHOREO_{name.upper()}")
        if value is not None:
            env_layer[name] = value
    layers.append(env_layer)
    layers.append({k: v for k, v in flags.items() if v is not None})
    for layer in layers:
        for key, value in layer.items():
            if key not in known:
                raise PlanError(
                    Issue(
                        str(config_file), key, f"unknown setting; expected one of {sorted(known)}"
                    )
                )
            kind = type(getattr(settings, key))
            settings = replace(settings, **{key: kind(value)})
    return settings
