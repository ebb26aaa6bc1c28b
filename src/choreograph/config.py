"""Host settings, defined once: defaults < ``$CHOREO_HOME/config.toml`` < ``CHOREO_*`` < flags.

Only the home folder and run defaults live here for now; each later setting is added as
one field so every layer (file, environment, flag) sees it under the same name.

The home folder is checked when settings are loaded (see :meth:`Settings.ensure_home`):
every command that loads them may write there, and a home that cannot be used would
otherwise fail wherever the first write happens, as a traceback.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from choreograph.atomic import os_reason
from choreograph.errors import InputError, Issue, PlanError


class HomeError(InputError):
    """The home folder (``CHOREO_HOME``) is not a folder Choreograph can write in."""


@dataclass(frozen=True)
class Settings:
    home: Path
    default_runner: str = "local:exec"
    run_timeout_s: float = 600.0
    stop_grace_s: float = 3.0
    """How long stopped instances get between SIGTERM and SIGKILL."""
    sync_history_mib: int = 256
    """The most a run's sync service keeps of published payloads (all topics), in MiB;
    publishes beyond it are refused with an error to the publisher and a run warning."""
    endpoint: str = ""
    """A daemon's URL (``choreo --endpoint``): commands that run plans submit them there
    instead of running them in-process; "" runs them here."""
    token: str = ""
    """The bearer token sent to ``endpoint`` when its daemon requires one."""

    @property
    def plans_dir(self) -> Path:
        return self.home / "plans"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    @property
    def builds_dir(self) -> Path:
        return self.home / "builds"

    def ensure_home(self) -> None:
        """Create the home folder if needed and make sure files can be created in it;
        a HomeError names the folder and the cause otherwise."""
        env = os.environ.get("CHOREO_HOME")
        label = f"CHOREO_HOME={self.home}" if env else f"the home folder {self.home}"
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            # Name what is in the way: the home itself or the ancestor that is no folder.
            blocker = next(p for p in (self.home, *self.home.parents) if os.path.lexists(p))
            where = (
                f"{label} is" if blocker == self.home else f"cannot create {label}: {blocker} is"
            )
            raise HomeError(f"{where} {_not_a_folder(blocker)}") from None
        except OSError as exc:
            raise HomeError(f"cannot create {label}: {os_reason(exc)}") from None
        try:
            # A real file, not os.access(): root passes mode bits but not a read-only mount.
            with tempfile.TemporaryFile(dir=self.home):
                pass
        except OSError as exc:
            raise HomeError(f"cannot write in {label}: {os_reason(exc)}") from None


def _not_a_folder(path: Path) -> str:
    if path.is_file():
        return "a file, not a folder"
    if path.is_symlink() and not path.exists():
        return f"a link to {os.readlink(path)}, which does not exist"
    return "not a folder"


def _home() -> Path:
    return Path(os.environ.get("CHOREO_HOME") or Path.home() / ".choreograph").expanduser()


def load_settings(**flags: Any) -> Settings:
    """Settings for this process, its home folder checked usable (HomeError otherwise);
    ``flags`` (non-None values) win over everything else."""
    settings = Settings(home=_home())
    settings.ensure_home()
    config_file = settings.home / "config.toml"
    layers: list[dict[str, Any]] = []
    if config_file.exists():
        try:
            layers.append(tomllib.loads(config_file.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise PlanError(Issue(str(config_file), "(file)", f"not valid TOML: {exc}")) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = os_reason(exc) if isinstance(exc, OSError) else str(exc)
            raise PlanError(
                Issue(str(config_file), "(file)", f"cannot read it: {reason}")
            ) from None
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
