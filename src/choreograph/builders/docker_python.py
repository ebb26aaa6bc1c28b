"""Builder ``docker:python`` (Choreograph's own; Testground has none): a Python plan in an
image, with the same dependency model as ``exec:python``.

The plan's declared requirements (``requirements.txt`` or ``[project] dependencies``)
with a group's overrides applied (:mod:`choreograph.builders.requirements`) become one
dependency set per build, so two groups pinning two versions of a package get two
images. The image (``FROM base_image``, default :data:`PYTHON_IMAGE`) has a virtual
environment at :data:`VENV` holding that set and the host's SDK, the plan at ``/plan``
(the working folder), and runs ``/venv/bin/python /plan/<entry>``.

Why the packages are resolved and downloaded on the host (``uv pip install --target``
for the image's Python version and platform, probed from the image) and copied in,
rather than ``pip install``-ed during the build: the host's uv cache makes a warm build
take milliseconds and works offline, the build needs no route to PyPI (nor the host's
proxy or CA settings inside the container), and local-tree overrides build from the
host's checkout as ``exec:python`` builds them. Packages with console scripts work as
modules (``python -m``); their scripts are not installed.

The SDK is the host's own ``choreograph`` package, copied in (``exec:python`` links it),
with its dependency ``websockets`` at the host's version, so instances speak exactly the
host's protocol. Configuration keys: ``base_image``, ``entry`` (default ``main.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from choreograph.builders.base import BuildContext
from choreograph.builders.cache import IGNORED_DIRS, build_key
from choreograph.builders.docker_generic import PLAN_DIR, describe, note_selectors
from choreograph.builders.installer import uv_binary
from choreograph.builders.requirements import DependencySet, canonical_name, dependency_set
from choreograph.builders.staging import build_root
from choreograph.builders.tool import run_tool
from choreograph.builders.venv import (
    _local_trees,
    _write_requirements,
    sdk_package,
    sdk_pins,
    tree_digest,
)
from choreograph.containers import client
from choreograph.containers.build import (
    ImageJob,
    Recipe,
    cached_or_built,
    copy_tree,
    image_artifact,
    image_ids,
)
from choreograph.containers.images import PYTHON_IMAGE
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest

DEFAULT_ENTRY = "main.py"
VENV = "/venv"
PACKAGES = "choreo/site-packages"
SDK = "choreo/sdk"
_PROBE = (
    "import sys, platform; v = sys.version_info; "
    "print(v[0], v[1], platform.machine(), platform.libc_ver()[0] or 'musl')"
)


def python_dockerfile(version: str, entry: str) -> str:
    """The image: a venv whose site-packages receives the host-resolved packages and
    the SDK, byte-compiled by the image's own interpreter, then the plan."""
    site = f"{VENV}/lib/python{version}/site-packages"
    return "\n".join(
        [
            "ARG BASE_IMAGE",
            "FROM ${BASE_IMAGE}",
            f"ENV VIRTUAL_ENV={VENV} PATH={VENV}/bin:$PATH PLAN_DIR=/plan PYTHONUNBUFFERED=1",
            f"RUN python3 -m venv --without-pip {VENV}",
            f"COPY {PACKAGES} {site}/",
            f"COPY {SDK} {site}/",
            f"RUN {VENV}/bin/python -m compileall -q {site}",
            "COPY plan /plan",
            "WORKDIR /plan",
            "EXPOSE 6060",
            f'ENTRYPOINT ["{VENV}/bin/python", "/plan/{entry}"]',
            "",
        ]
    )


async def probe_python(image: str, what: str) -> tuple[str, str]:
    """``(X.Y, uv platform)`` of the image's ``python3``, so wheels fit the image."""
    code, out, err = await client.docker_status(
        "run", "--rm", "--network", "none", "--entrypoint", "python3", image, "-c", _PROBE
    )
    if code != 0:
        raise BuildError(f"{what}: cannot run python3 in base image {image!r}: {err.strip()}")
    major, minor, machine, libc = out.split()[:4]
    arch = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    platform = f"{arch}-unknown-linux-musl" if libc == "musl" else f"{arch}-unknown-linux-gnu"
    return f"{major}.{minor}", platform


def installed(site: Path) -> dict[str, str]:
    """Project → version of what ``site`` holds (its ``*.dist-info`` folders)."""
    found = {}
    for dist in site.glob("*.dist-info"):
        name, _, version = dist.name.removesuffix(".dist-info").partition("-")
        found[canonical_name(name)] = version
    return dict(sorted(found.items()))


class DockerPythonBuilder:
    id = "docker:python"
    config_keys = ("base_image", "entry")

    def problems(self) -> list[str]:
        missing = [] if uv_binary() else ["uv is not installed (pip install uv)"]
        return client.problems() + missing

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        what = describe(request)
        entry = str(request.config.get("entry") or DEFAULT_ENTRY)
        if not (request.plan_dir / entry).is_file():
            raise BuildError(f"{what}: entry file {request.plan_dir / entry} does not exist")
        note_selectors(request, ctx)
        base = str(request.config.get("base_image") or PYTHON_IMAGE)
        deps = dependency_set(request.plan_dir, request.dependencies, what)
        local = _local_trees(deps, what)
        bases = await image_ids([base], what)
        material: dict[str, Any] = {
            "entry": entry,
            "bases": bases,
            "requirements": deps.lines(),
            "local": {name: tree["digest"] for name, tree in local.items()},
            "sdk": [tree_digest(sdk_package()), *sdk_pins()],
            "dockerfile": python_dockerfile("X.Y", entry),
            "selectors": request.selectors,
        }
        key = build_key(request.plan_dir, self.id, material)
        job = ImageJob(
            request.plan, self.id, key, build_root(ctx.builds_dir, self.id) / key, what, ctx.log
        )

        async def stage(context: Path) -> Recipe:
            version, platform = await probe_python(base, what)
            versions = await _resolve(context, deps, version, platform, ctx, what)
            copy_tree(sdk_package(), context / SDK / "choreograph", IGNORED_DIRS)
            copy_tree(request.plan_dir, context / PLAN_DIR, IGNORED_DIRS)
            (context / "Dockerfile").write_text(python_dockerfile(version, entry))
            provenance = {
                "python": version,
                "platform": platform,
                "requirements": deps.lines(),
                "declared_in": deps.declared_in,
                "versions": versions,
                "local": local,
                "base_images": bases,
                "sdk": {"source": str(sdk_package()), "pins": sdk_pins()},
            }
            return Recipe(build_args={"BASE_IMAGE": base}, provenance=provenance)

        return image_artifact(self.id, key, await cached_or_built(job, stage))


async def _resolve(
    context: Path,
    deps: DependencySet,
    version: str,
    platform: str,
    ctx: BuildContext,
    what: str,
) -> dict[str, str]:
    """Install the dependency set (and the SDK's pins) for the image's Python into the
    context's site-packages folder; the versions installed."""
    uv = uv_binary()
    if uv is None:
        raise BuildError(f"{what}: docker:python needs uv on the host (pip install uv)")
    scratch = context / "choreo" / "requirements"
    scratch.mkdir(parents=True)
    requirements = _write_requirements(scratch, deps)
    site = context / PACKAGES
    argv = [uv, "pip", "install", "--color", "never", "--target", str(site)]
    argv += ["--python-version", version, "--python-platform", platform, "-r", str(requirements)]
    ctx.log(f"resolving {', '.join(deps.lines()) or 'the SDK only'} for Python {version}")
    try:
        await run_tool(argv, scratch, ctx.log, what)
    except BuildError as exc:
        named = ", ".join(f"{r.spec} ({r.origin})" for r in deps.naming(str(exc)))
        raise BuildError(f"{exc}\n(dependencies: {named or ', '.join(sdk_pins())})") from None
    site.mkdir(exist_ok=True)
    # Console scripts carry the host interpreter's path in their shebang: useless inside.
    shutil.rmtree(site / "bin", ignore_errors=True)
    return installed(site)
