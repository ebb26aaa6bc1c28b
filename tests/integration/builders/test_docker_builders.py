"""The docker:* builders against the real engine: each fixture plan is built, its image
run, built again (a cache hit: no docker build), and ``builds purge`` removes the image.

Images are tagged under a plan name unique to the test, and every tag a test makes is
removed at its end; the default base images (``prepared_images()``) stay, a shared cache.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.docker_support import prepared_images, remove_tags, requires_docker, run_async

from choreograph.builders.base import BuildContext, Builder
from choreograph.builders.docker_generic import DockerGenericBuilder
from choreograph.builders.docker_go import DockerGoBuilder
from choreograph.builders.docker_node import DockerNodeBuilder
from choreograph.builders.docker_python import DockerPythonBuilder
from choreograph.builders.purge import purge_builds
from choreograph.builders.records import record_build
from choreograph.containers.client import image_exists
from choreograph.errors import BuildError
from choreograph.plan.spec import Artifact, BuildRequest, Dependency

pytestmark = [requires_docker, pytest.mark.timeout(900)]

PLANS = Path(__file__).parent / "docker_plans"


class ImageBuilds:
    """Builds with one builder into a private builds folder; remembers every image."""

    def __init__(self, builder: Builder, root: Path) -> None:
        self.builder, self.root = builder, root
        self.plan = f"choreo-test-{uuid.uuid4().hex[:8]}"
        self.images: list[str] = []
        self.log: list[str] = []

    def __call__(self, plan_dir: Path, config: dict[str, object], **more: object) -> Artifact:
        request = BuildRequest(
            self.plan,
            plan_dir,
            self.builder.id,
            ("g",),
            config,
            **more,  # type: ignore[arg-type]
        )
        ctx = BuildContext(self.root, self.log.append)
        artifact = run_async(self.builder.build(request, ctx))
        self.images.append(artifact.image)
        record_build(self.root, self.plan, plan_dir, ("g",), artifact)
        return artifact

    def docker_builds(self) -> int:
        return sum(line.startswith("docker build ") for line in self.log)


@pytest.fixture
def images(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[type[ImageBuilds]]:
    prepared_images()
    made: list[ImageBuilds] = []

    def factory(builder: Builder) -> ImageBuilds:
        made.append(ImageBuilds(builder, tmp_path / "builds"))
        return made[-1]

    yield factory  # type: ignore[misc]
    remove_tags(*{image for builds in made for image in builds.images if image})


def run(image: str) -> str:
    done = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", image],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_go_plan_builds_offline_from_the_host_module_cache(images: type[ImageBuilds]) -> None:
    builds = images(DockerGoBuilder())  # type: ignore[call-arg]
    hooks = {"post_build": "RUN test -x ${PLAN_DIR}/testplan.bin"}
    config = {"dockerfile_extensions": hooks}
    first = builds(PLANS / "go", config)
    assert run(first.image) == "hello from ../greet plain via pkg/errors"
    assert "github.com/pkg/errors v0.9.1" in first.provenance["modules"]
    assert first.argv == () and first.cwd == "" and not first.from_cache
    again = builds(PLANS / "go", config)
    assert again.from_cache and again.image == first.image and builds.docker_builds() == 1
    assert again.provenance["modules"] == first.provenance["modules"]
    fancy = builds(PLANS / "go", config, selectors=("fancy",))
    assert run(fancy.image) == "hello from ../greet fancy via pkg/errors"
    assert fancy.build_id != first.build_id

    summary = purge_builds(builds.root)
    assert summary.images == 2 and summary.builds == 2
    assert not run_async(image_exists(first.image))
    assert not run_async(image_exists(fancy.image))


def test_generic_plan_bakes_a_file_the_program_reads(images: type[ImageBuilds]) -> None:
    builds = images(DockerGenericBuilder())  # type: ignore[call-arg]
    config = {"path": "image", "build_args": {"run_image": "busybox:1.36-glibc"}}
    first = builds(PLANS / "generic", config)
    assert run(first.image) == "baked into the image"
    assert builds(PLANS / "generic", config).from_cache and builds.docker_builds() == 1
    with pytest.raises(BuildError, match="no Dockerfile"):
        builds(PLANS / "generic", {})


def test_node_plan_runs_npm_start_in_plan(images: type[ImageBuilds]) -> None:
    builds = images(DockerNodeBuilder())  # type: ignore[call-arg]
    first = builds(PLANS / "node", {})
    assert run(first.image).splitlines()[-1] == "node plan in /plan, PLAN_DIR=/plan"
    assert first.provenance["lockfile"] is True
    assert builds(PLANS / "node", {}).from_cache and builds.docker_builds() == 1


def test_python_groups_on_two_versions_get_two_images(images: type[ImageBuilds]) -> None:
    builds = images(DockerPythonBuilder())  # type: ignore[call-arg]
    new = builds(PLANS / "python", {}, dependencies=(Dependency("six", "1.16.0"),))
    old = builds(PLANS / "python", {}, dependencies=(Dependency("six", "1.15.0"),))
    assert new.image != old.image
    assert run(new.image) == "six 1.16.0 in /plan"
    assert run(old.image) == "six 1.15.0 in /plan"
    assert old.provenance["versions"]["six"] == "1.15.0"
    again = builds(PLANS / "python", {}, dependencies=(Dependency("six", "1.15.0"),))
    assert again.from_cache and again.image == old.image and builds.docker_builds() == 2


def test_a_failed_build_names_the_builder_and_shows_dockers_lines(
    images: type[ImageBuilds], tmp_path: Path
) -> None:
    plan = tmp_path / "broken"
    plan.mkdir()
    (plan / "Dockerfile").write_text("FROM busybox:1.36-glibc\nRUN echo about to fail && false\n")
    builds = images(DockerGenericBuilder())  # type: ignore[call-arg]
    with pytest.raises(BuildError) as failure:
        builds(plan, {})
    message = str(failure.value)
    assert "docker:generic" in message and "docker build failed" in message
    assert "about to fail" in message
    assert not list((tmp_path / "builds" / "docker-generic").glob("*.partial-*"))
