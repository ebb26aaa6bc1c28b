"""How builds look in a terminal: build progress, each build's id, dependency set and
whether it came from cache, the build cache listing and what a purge freed. (Kept
beside ``render.py`` so run rendering and build rendering change independently.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from rich.table import Table
from rich.text import Text

from choreograph import progress
from choreograph.builders.purge import PurgeSummary
from choreograph.builders.records import BuildRecord
from choreograph.builds import BuildOutcome
from choreograph.cli.render import console
from choreograph.containers.build import image_sizes
from choreograph.errors import ChoreographError


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
    sizes = _image_sizes([r.artifact.image for r in records if r.artifact.image])
    for r in records:
        table.add_row(
            r.build_id,
            r.builder,
            r.plan,
            ", ".join(r.groups),
            describe_dependencies(r.artifact.provenance),
            f"{_age(now - r.last_used)} ago",
            _present(r, builds_dir, sizes),
        )
    console.print(table)


def _present(record: BuildRecord, builds_dir: Path, sizes: dict[str, int] | None) -> str | Text:
    """``ok``/``missing`` for a build folder; an image build shows its image and size
    (``docker images`` SIZE: base layers included)."""
    image = record.artifact.image
    if not image:
        return "ok" if record.folder(builds_dir).is_dir() else Text("missing", style="red")
    if sizes is None:
        return Text(f"{image} (Docker unreachable)", style="yellow")
    if image not in sizes:
        return Text(f"{image} missing", style="red")
    return f"{image} {sizes[image] / 1e6:.1f} MB"


def _image_sizes(images: list[str]) -> dict[str, int] | None:
    """Sizes of the images builds made; None when Docker cannot be asked."""
    if not images:
        return {}
    try:
        return asyncio.run(image_sizes(images))
    except ChoreographError:
        return None


def purge_summary(summary: PurgeSummary) -> None:
    images = f", {summary.images} images" if summary.images else ""
    console.print(
        f"removed {summary.builds} builds{images} and {summary.environments} environments, "
        f"{summary.bytes_freed / 1e6:.1f} MB freed"
    )
    for kept in summary.images_kept:
        console.print(Text(f"kept image {kept} (its build stays listed)", style="yellow"))


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"
