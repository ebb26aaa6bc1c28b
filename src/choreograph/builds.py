"""Builds for a run: group the run's groups by build configuration, pick each builder,
build, and hand back one artifact per group. Any failure fails the run before it starts."""

from __future__ import annotations

import functools
import time

from choreograph import plugins, progress
from choreograph.builders.base import BuildContext, Builder
from choreograph.config import Settings
from choreograph.errors import BuildError, InputError
from choreograph.plan.spec import Artifact, BuildRequest, RunSpec


def pick_builder(builder_id: str) -> Builder:
    if builder_id not in plugins.BUILDERS:
        raise InputError(
            f"builder {builder_id!r} is not available; Choreograph can build with: "
            f"{', '.join(sorted(plugins.BUILDERS))} (choose one with --builder)"
        )
    builder: Builder = plugins.load(plugins.BUILDERS, builder_id)
    if problems := builder.problems():
        raise InputError(f"builder {builder_id} cannot build here: " + "; ".join(problems))
    return builder


def build_requests(spec: RunSpec) -> list[BuildRequest]:
    """One request per distinct build configuration: groups that agree share a build."""
    by_key: dict[str, BuildRequest] = {}
    for group in spec.groups:
        if group.artifact:
            raise InputError(
                f"group {group.id!r}: prebuilt artifact {group.artifact!r} is not supported yet"
            )
        key = repr(
            (group.builder, sorted(group.build_config.items()), group.dependencies, group.selectors)
        )
        if key in by_key:
            req = by_key[key]
            by_key[key] = BuildRequest(
                req.plan,
                req.plan_dir,
                req.builder,
                (*req.groups, group.id),
                req.config,
                req.dependencies,
                req.selectors,
            )
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


async def build_all(
    spec: RunSpec, settings: Settings, sink: progress.ProgressSink
) -> dict[str, Artifact]:
    """Build every distinct configuration; any failure fails the run before it starts."""
    artifacts: dict[str, Artifact] = {}
    for request in build_requests(spec):
        builder = pick_builder(request.builder)
        started = time.monotonic()
        ctx = BuildContext(
            builds_dir=settings.builds_dir, log=functools.partial(_build_log, sink, request.builder)
        )
        try:
            artifact = await builder.build(request, ctx)
        except BuildError:
            raise
        except OSError as exc:
            raise BuildError(f"plan {spec.plan!r}, groups {request.groups}: {exc}") from exc
        sink(
            progress.BuildFinished(
                request.builder,
                artifact.build_id,
                request.groups,
                artifact.from_cache,
                time.monotonic() - started,
            )
        )
        for group in request.groups:
            artifacts[group] = artifact
    return artifacts


def _build_log(sink: progress.ProgressSink, builder: str, line: str) -> None:
    sink(progress.BuildLog(builder, line))
