"""Testground's ``04_docker_placebo_ok.sh`` flow on Docker: ``build single`` with a
``docker:*`` builder, the image read from ``generated build artifact`` with
``awk -F'"' '{print $8}'`` and tagged by hand, then run with ``--use-build`` on
``local:docker``. The plan is a Dockerfile over busybox that prints a success event on
stdout and nothing on ``run_events``: Testground counts only published outcomes, so the
run is a failure, reported through the same lines a script reads."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from tests.docker_support import prepared_images, remove_tags, requires_docker

from .conftest import Testground

pytestmark = [requires_docker, pytest.mark.timeout(600)]

MANIFEST = """\
name = "tiny"

[defaults]
builder = "docker:generic"
runner = "local:docker"

[builders."docker:generic"]
build_args = { run_image = "busybox:1.36-glibc" }

[runners."local:docker"]

[[testcases]]
name = "ok"
instances = { min = 1, max = 4, default = 1 }
"""

DOCKERFILE = """\
ARG run_image
FROM ${run_image}
ENTRYPOINT ["echo", "{\\"event\\": {\\"success_event\\": {\\"group\\": \\"single\\"}}}"]
"""


def test_build_tag_and_run_an_image(testground: Testground, tmp_path: Path) -> None:
    prepared_images()
    plan = tmp_path / "docker-plans" / "tiny"
    plan.mkdir(parents=True)
    (plan / "manifest.toml").write_text(MANIFEST)
    (plan / "Dockerfile").write_text(DOCKERFILE)
    assert testground("plan", "import", "--from", str(plan.parent), "--name", "tg").code == 0
    tag = f"testplan:tiny-{uuid.uuid4().hex[:8]}"
    built = testground("build", "single", "--plan", "tg/tiny", "--builder", "docker:generic")
    artifact = ""
    try:
        assert built.code == 0, built
        line = next(x for x in built.out.splitlines() if "generated build artifact" in x)
        artifact = line.split('"')[7]
        subprocess.run(["docker", "tag", artifact, tag], check=True, capture_output=True)
        done = testground(
            "run", "single", "--plan=tg/tiny", "--testcase=ok", "--builder=docker:generic",
            f"--use-build={tag}", "--runner=local:docker", "--instances=1", "--wait",
        )  # fmt: skip
        assert done.code == 1, done
        status = testground("status", "-t", done.field("run is queued with ID", 10))
        assert status.field("Outcome:", 2) == "failure"
    finally:
        remove_tags(*(name for name in (tag, artifact) if name))
