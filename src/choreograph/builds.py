"""Builds for a run: group the run's groups by build configuration, pick each builder,
build (a few at once), record each build, and hand back one artifact per group. A group
that names a prebuilt ``artifact`` (a build id from ``choreo builds list``) is not built.
Any failure fails the run before an instance starts.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path

from choreograph import progress
from choreograph.builders import records
from choreograph.builders.base import BuildContext, Builder
from choreograph.config import Settings
from choreograph.containers import client as docker_client
from choreograph.errors import BuildError, InputError
from choreograph.plan.spec import Artifact, BuildRequest, GroupSpec, RunSpec
from choreograph.plugins import BUILDERS, load

DEFAULT_CONCURRENT_BUILDS = 2
"""Builds at once when the composition does not say (``[global] concurrent_builds``):
installs wait on the network and on disk, so two overlap well on two cores."""


@dataclass(frozen=True)
class BuildOutcome:
    """One distinct build of a run, as ``choreo build`` reports it."""

    groups: tuple[str, ...]
    artifact: Artifact
    seconds: float
    prebuilt: bool = False


def pick_builder(builder_id: str) -> Builder:
    if builder_id not in BUILDERS:
        raise InputError(
            f"builder {builder_id!r} is not available; Choreograph can build with: "
            f"{', '.join(sorted(BUILDERS))} (choose one with --builder)"
        )
    builder: Builder = load(BUILDERS, builder_id)
    if problems := builder.problems():
        raise InputError(f"builder {builder_id} cannot build here: " + "; ".join(problems))
    return builder


def build_requests(spec: RunSpec) -> list[BuildRequest]:
    """One request per distinct build configuration: groups that agree share a build.
    Groups naming a prebuilt artifact are left out."""
    by_key: dict[str, BuildRequest] = {}
    for group in spec.groups:
        if group.artifact:
            continue
        key = repr(
            (group.builder, sorted(group.build_config.items()), group.dependencies, group.selectors)
        )
        if key in by_key:
            by_key[key] = replace(by_key[key], groups=(*by_key[key].groups, group.id))
        else:
            by_key[key] = BuildRequest(
                spec.plan,
                spec.plan_dir,
                group.builder,
                (group.id,),
                dict(group.build_config),
                group.dependencies,
                group.selectors,
            )
    return list(by_key.values())


async def build_each(
    spec: RunSpec, settings: Settings, sink: progress.ProgressSink
) -> list[BuildOutcome]:
    """Every distinct build of ``spec`` (prebuilt artifacts first), or BuildError."""
    outcomes = [_prebuilt(spec, group, settings, sink) for group in spec.groups if group.artifact]
    requests = [(request, pick_builder(request.builder)) for request in build_requests(spec)]
    limit = asyncio.Semaphore(spec.concurrent_builds or DEFAULT_CONCURRENT_BUILDS)

    async def one(request: BuildRequest, builder: Builder) -> BuildOutcome:
        async with limit:
            return await _build(spec, request, builder, settings, sink)

    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(one(request, builder)) for request, builder in requests]
    except BaseExceptionGroup as group:
        errors = group.exceptions
        if all(isinstance(e, BuildError) for e in errors):
            raise BuildError("\n\n".join(map(str, errors))) from None
        if len(errors) == 1:
            raise errors[0] from None
        raise
    return outcomes + [task.result() for task in tasks]


async def build_all(
    spec: RunSpec, settings: Settings, sink: progress.ProgressSink
) -> dict[str, Artifact]:
    """The artifact of every group; any failure fails the run before it starts."""
    return {
        group: outcome.artifact
        for outcome in await build_each(spec, settings, sink)
        for group in outcome.groups
    }


async def _build(
    spec: RunSpec,
    request: BuildRequest,
    builder: Builder,
    settings: Settings,
    sink: progress.ProgressSink,
) -> BuildOutcome:
    started = time.monotonic()
    log = functools.partial(_build_log, sink, request.builder, ",".join(request.groups))
    ctx = BuildContext(builds_dir=settings.builds_dir, log=log)
    try:
        artifact = await builder.build(request, ctx)
    except OSError as exc:
        raise BuildError(f"plan {spec.plan!r}, groups {', '.join(request.groups)}: {exc}") from exc
    seconds = time.monotonic() - started
    records.record_build(settings.builds_dir, spec.plan, spec.plan_dir, request.groups, artifact)
    sink(
        progress.BuildFinished(
            request.builder,
            artifact.build_id,
            request.groups,
            artifact.from_cache,
            seconds,
            artifact.reference,
        )
    )
    return BuildOutcome(request.groups, artifact, seconds)


def _prebuilt(
    spec: RunSpec, group: GroupSpec, settings: Settings, sink: progress.ProgressSink
) -> BuildOutcome:
    """The artifact a group names instead of being built; checked before it is trusted.
    For a ``docker:*`` group it may also be any image the engine has (``--use-build
    IMAGE``, Testground's way to run an image tagged by hand)."""
    where = f"group {group.id!r}: artifact {group.artifact!r}"
    try:
        record = records.find_record(settings.builds_dir, group.artifact)
    except InputError:
        if not group.builder.startswith("docker:"):
            raise
        return _prebuilt_image(group, where, sink)
    if record.plan != spec.plan:
        raise InputError(f"{where} is a build of plan {record.plan!r}, not of {spec.plan!r}")
    missing = [p for p in (*record.artifact.argv, record.artifact.cwd) if _gone(p)]
    if missing:
        raise InputError(
            f"{where}: the build's files are gone ({', '.join(missing)}); build it again"
        )
    if record.artifact.image and docker_client.image_id(record.artifact.image) is None:
        raise InputError(f"{where}: its image {record.artifact.image} is gone; build it again")
    records.record_build(
        settings.builds_dir, record.plan, Path(record.plan_dir), (group.id,), record.artifact
    )
    provenance = {**record.artifact.provenance, "prebuilt": True}
    artifact = replace(record.artifact, from_cache=True, provenance=provenance)
    sink(progress.BuildLog(record.builder, f"[{group.id}] prebuilt artifact {record.build_id}"))
    sink(
        progress.BuildFinished(
            record.builder,
            record.build_id,
            (group.id,),
            True,
            0.0,
            artifact.reference,
        )
    )
    return BuildOutcome((group.id,), artifact, 0.0, prebuilt=True)


def _prebuilt_image(group: GroupSpec, where: str, sink: progress.ProgressSink) -> BuildOutcome:
    image_id = docker_client.image_id(group.artifact)
    if image_id is None:
        raise InputError(
            f"{where} is neither a build of `choreo builds list` nor an image the Docker "
            "engine has (docker image ls)"
        )
    artifact = Artifact(
        builder=group.builder,
        build_id=image_id,
        argv=(),
        cwd="",
        from_cache=True,
        provenance={"prebuilt": True, "image": group.artifact},
        image=group.artifact,
    )
    sink(progress.BuildLog(group.builder, f"[{group.id}] prebuilt image {group.artifact}"))
    sink(progress.BuildFinished(group.builder, image_id, (group.id,), True, 0.0, group.artifact))
    return BuildOutcome((group.id,), artifact, 0.0, prebuilt=True)


def _gone(path: str) -> bool:
    return path.startswith("/") and not Path(path).exists()


def _build_log(sink: progress.ProgressSink, builder: str, groups: str, line: str) -> None:
    sink(progress.BuildLog(builder, f"[{groups}] {line}"))
