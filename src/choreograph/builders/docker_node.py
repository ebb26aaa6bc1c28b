"""Builder ``docker:node``: a Node plan in an image, as Testground's ``docker:node`` makes
it: the plan at ``/plan`` (also the working folder and ``$PLAN_DIR``), its dependencies
installed there at build time, ``npm start`` as the entrypoint.

``npm ci`` when the plan has a ``package-lock.json`` (exact and reproducible, what
Testground runs), ``npm install`` otherwise (as ``exec:node`` does; Testground fails).
The install runs inside the build, so native modules are built for the image's Node, and
the build needs the npm registry (or the ``NPM_CONFIG_REGISTRY`` the base image sets);
it trusts the host's CA certificates as well as npm's own.
Configuration key: ``base_image`` (default :data:`NODE_IMAGE`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from choreograph.builders.base import BuildContext
from choreograph.builders.cache import IGNORED_DIRS, build_key
from choreograph.builders.docker_generic import (
    PLAN_DIR,
    check_request,
    describe,
    note_selectors,
)
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
from choreograph.containers.images import NODE_IMAGE
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest

HOST_CA = "choreo-host-ca.pem"


def node_dockerfile(lockfile: bool) -> str:
    """The image: the context's ``plan/`` lands at ``/plan``, dependencies installed there.

    The install runs in a stage of its own that trusts the host's CA bundle too (npm
    trusts only its built-in list, so behind a TLS-inspecting proxy it fails); the
    image gets ``/plan`` from it, without the bundle or npm's download cache."""
    install = "npm ci" if lockfile else "npm install"
    return "\n".join(
        [
            "ARG BASE_IMAGE",
            "FROM ${BASE_IMAGE} AS install",
            f"COPY {HOST_CA} /tmp/{HOST_CA}",
            "WORKDIR /plan",
            "COPY plan /plan",
            f"RUN NODE_EXTRA_CA_CERTS=/tmp/{HOST_CA} {install} --no-audit --no-fund",
            "",
            "FROM ${BASE_IMAGE}",
            "ENV PLAN_DIR=/plan",
            "WORKDIR /plan",
            "COPY --from=install /plan /plan",
            "EXPOSE 6060",
            'ENTRYPOINT ["npm", "start"]',
            "",
        ]
    )


def host_ca_bundle() -> bytes:
    """The CA certificates this host trusts (``SSL_CERT_FILE``, ``NODE_EXTRA_CA_CERTS``,
    else the system bundle); empty when it has none."""
    candidates = [os.environ.get("NODE_EXTRA_CA_CERTS"), os.environ.get("SSL_CERT_FILE")]
    candidates += ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate).read_bytes()
    return b""


def _check_start(plan_dir: Path, what: str) -> None:
    """``npm start`` runs ``scripts.start``, else ``node server.js``: one must exist,
    or every instance would fail the same way after the build."""
    try:
        data = json.loads((plan_dir / "package.json").read_text())
    except FileNotFoundError:
        raise BuildError(f"{what}: docker:node needs a package.json in {plan_dir}") from None
    except ValueError as exc:
        raise BuildError(f"{what}: {plan_dir / 'package.json'} is not valid JSON: {exc}") from None
    scripts = data.get("scripts") if isinstance(data, dict) else None
    if (
        not (isinstance(scripts, dict) and scripts.get("start"))
        and not (plan_dir / "server.js").is_file()
    ):
        raise BuildError(
            f"{what}: instances run `npm start`, but package.json has no scripts.start "
            '(add "scripts": {"start": "node index.js"})'
        )


class DockerNodeBuilder:
    id = "docker:node"
    config_keys = ("base_image",)

    def problems(self) -> list[str]:
        return client.problems()

    async def build(self, request: BuildRequest, ctx: BuildContext) -> Artifact:
        what = describe(request)
        check_request(request, what)
        _check_start(request.plan_dir, what)
        note_selectors(request, ctx)
        base = str(request.config.get("base_image") or NODE_IMAGE)
        lockfile = (request.plan_dir / "package-lock.json").is_file()
        dockerfile = node_dockerfile(lockfile)
        bases = await image_ids([base], what)
        key = build_key(
            request.plan_dir,
            self.id,
            {"dockerfile": dockerfile, "bases": bases, "selectors": request.selectors},
        )
        job = ImageJob(
            request.plan, self.id, key, build_root(ctx.builds_dir, self.id) / key, what, ctx.log
        )

        async def stage(context: Path) -> Recipe:
            copy_tree(request.plan_dir, context / PLAN_DIR, IGNORED_DIRS)
            (context / "Dockerfile").write_text(dockerfile)
            (context / HOST_CA).write_bytes(host_ca_bundle())
            return Recipe(
                build_args={"BASE_IMAGE": base},
                provenance={"base_images": bases, "lockfile": lockfile},
            )

        return image_artifact(self.id, key, await cached_or_built(job, stage))
