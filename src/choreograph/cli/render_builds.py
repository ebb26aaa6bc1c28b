"""How builds look in a terminal: build progress, each build's id, dependency set and
whether it came from cache, the build cache listing and what a purge freed. (Kept
beside ``render.py`` so run rendering and build rendering change independently.)"""

from __future__ import annotations

import time
from pathlib import Path

from rich.table import Table
from rich.text import Text

from choreograph import progress
from choreograph.builders.purge import PurgeSummary
from choreograph.builders.records import BuildRecord
from choreograph.builds import BuildOutcome
from choreograph.cli.render import console


def build_progress(event: progress.ProgressEvent) -> None:
    """A progress sink for ``choreo build``: installer output as it comes."""
    if isinstance(event, progress.BuildLog):
        console.print(Text(f"{event.builder}: {event.line}", style="dim"), soft_wrap=True)


def build_outcomes(outcomes: list[BuildOutcome]) -> None:
    seen: set[str] = set()
    for outcome in outcomes:
        artifact = outcome.artifact
        if artifact.build_id in seen:
            continue  # a [[runs]] entry reusing a build made for an earlier one
        seen.add(artifact.build_id)
        if outcome.prebuilt:
            how = "prebuilt"
        elif artifact.from_cache:
            how = "cached"
        else:
            how = f"built in {outcome.seconds:.1f}s"
        console.print(
            Text.assemble(
                "build ",
                (artifact.build_id, "bold"),
                f"  {artifact.builder}  groups {', '.join(outcome.groups)}  {how}",
            )
        )
        console.print(f"  dependencies: {describe_dependencies(artifact.provenance)}")
        if freeze := artifact.provenance.get("freeze"):
            console.print(Text(f"  resolved:     {', '.join(freeze)}", style="dim"))


def describe_dependencies(provenance: dict[str, object]) -> str:
    requirements = provenance.get("requirements") or []
    listed = ", ".join(str(r) for r in requirements) if isinstance(requirements, list) else ""
    if provenance.get("environment") == "host":
        return "none declared (host interpreter)"
    return listed or "none (SDK only)"


def builds_table(builds_dir: Path, records: list[BuildRecord]) -> None:
    if not records:
        console.print(f"no builds in {builds_dir}")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("build", "builder", "plan", "groups", "dependencies", "last used", "files"):
        table.add_column(column)
    now = time.time()
    for r in records:
        present = r.folder(builds_dir).is_dir()
        table.add_row(
            r.build_id,
            r.builder,
            r.plan,
            ", ".join(r.groups),
            describe_dependencies(r.artifact.provenance),
            f"{_age(now - r.last_used)} ago",
            "ok" if present else Text("missing", style="red"),
        )
    console.print(table)


def purge_summary(summary: PurgeSummary) -> None:
    console.print(
        f"removed {summary.builds} builds and {summary.environments} environments, "
        f"{summary.bytes_freed / 1e6:.1f} MB freed"
    )


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"
