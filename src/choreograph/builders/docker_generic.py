"""Builder ``docker:generic``: the plan's own Dockerfile, built as Testground builds it.

The build context is laid out as Testground's: the plan under ``plan/`` at the context
root, so a Dockerfile written for Testground (``COPY . .`` then ``cd plan/…``) builds
unchanged. Configuration keys are Testground's:

- ``path``: the folder, relative to the plan, holding the ``Dockerfile`` (default
  ``./``); passed to the build as ``ARG PLAN_PATH`` unless ``build_args`` sets it;
- ``build_args``: a table of ``--build-arg NAME=VALUE``.

The build key covers the plan's sources (the Dockerfile among them), the build
arguments and the ids of the images its ``FROM`` lines name, so re-preparing a base
image rebuilds. The image runs with its own ``ENTRYPOINT``/``CMD``.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

from choreograph.builders.base import BuildContext
from choreograph.builders.cache import IGNORED_DIRS, build_key
from choreograph.builders.staging import build_root
from choreograph.containers import client
from choreograph.containers.build import (
    ImageJob,
    Recipe,
    cached_or_built,
    copy_tree,
    image_artifact,
    image_ids,
)
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest

PLAN_DIR = "plan"
"""Where the plan goes in the build context (Testground's layout)."""


def describe(request: BuildRequest) -> str:
    """Whose build this is, for every message (builder, plan, groups)."""
    return f"{request.builder}: plan {request.plan!r} (groups {', '.join(request.groups)})"


def plan_subdir(value: object, what: str, key: str = "path") -> str:
    """A ``path`` setting as a relative POSIX folder inside the plan ("" = the plan)."""
    if not isinstance(value, str):
        raise BuildError(f"{what}: {key} must be a folder relative to the plan, found {value!r}")
    folder = PurePosixPath(value or ".")
    if folder.is_absolute() or ".." in folder.parts:
        raise BuildError(f"{what}: {key} = {value!r} must be a folder inside the plan")
    return "" if str(folder) == "." else str(folder)


def string_table(value: object, what: str, key: str) -> dict[str, str]:
    """A TOML table of scalars as strings (``true`` → ``"true"``, as Docker reads it)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float | bool) for v in value.values()
    ):
        raise BuildError(f"{what}: {key} must be a table of NAME = value, found {value!r}")
    return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}


def from_images(dockerfile: str, args: dict[str, str]) -> list[str]:
    """The images the Dockerfile's ``FROM`` lines name, variables filled in from its
    global ``ARG`` defaults and ``args``; stage names, ``scratch`` and names still holding
    a variable are left out."""
    values: dict[str, str] = {}
    images: list[str] = []
    stages: set[str] = set()
    seen_from = False
    for raw in dockerfile.splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        instruction = words[0].upper()
        if instruction == "ARG" and not seen_from and len(words) > 1:
            name, has_default, default = words[1].partition("=")
            if name in args or has_default:
                values[name] = args.get(name, default.strip("\"'"))
        elif instruction == "FROM":
            seen_from = True
            names = [w for w in words[1:] if not w.startswith("--")]
            if not names:
                continue
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: values.get(m.group(1), m.group(0)), names[0])
            if len(names) >= 3 and names[1].upper() == "AS":
                stages.add(names[2].lower())
            if image and "$" not in image and image.lower() not in stages and image != "scratch":
                images.append(image)
    return images


def check_request(request: BuildRequest, what: str) -> None:
    """Per-group dependencies are a Go and Python notion; other builders refuse them."""
    if request.dependencies:
        raise BuildError(f"{what}: {request.builder} does not apply per-group dependencies")


def note_selectors(request: BuildRequest, ctx: BuildContext) -> None:
    if request.selectors:
        ctx.log(
            f"selectors {', '.join(request.selectors)} are Go build tags; "
            f"{request.builder} passes them to nothing (they still make a distinct build)"
        )


class DockerGenericBuilder:
    id = "docker:generic"
    config_keys = ("path", "build_args")

    def problems(self) -> list[str]:
        return client.problems()

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        what = describe(request)
        check_request(request, what)
        config: dict[str, Any] = request.config
        raw_path = config.get("path", "./")
        folder = plan_subdir(raw_path, what)
        args = string_table(config.get("build_args"), what, "build_args")
        args.setdefault("PLAN_PATH", str(raw_path))
        dockerfile = request.plan_dir / folder / "Dockerfile"
        if not dockerfile.is_file():
            raise BuildError(
                f"{what}: no Dockerfile at {dockerfile}: docker:generic builds the plan's "
                'own Dockerfile (set path = "<folder>" to the folder holding it)'
            )
        note_selectors(request, ctx)
        bases = await image_ids(from_images(dockerfile.read_text(), args), what)
        key = build_key(
            request.plan_dir,
            self.id,
            {"build_args": args, "path": folder, "bases": bases, "selectors": request.selectors},
        )
        job = ImageJob(
            request.plan, self.id, key, build_root(ctx.builds_dir, self.id) / key, what, ctx.log
        )

        async def stage(context: Path) -> Recipe:
            copy_tree(request.plan_dir, context / PLAN_DIR, IGNORED_DIRS)
            relative = Path(PLAN_DIR) / folder / "Dockerfile"
            return Recipe(
                build_args=args,
                dockerfile=relative,
                provenance={"build_args": args, "base_images": bases, "path": folder},
            )

        return image_artifact(self.id, key, await cached_or_built(job, stage))
