"""How builds look in a terminal: build progress, each build's id, what went into it in
its builder's terms (Go modules, Node packages, Python requirements, an image) and
whether it came from cache, the build cache listing and what a purge freed. (Kept
beside ``render.py`` so run rendering and build rendering change independently.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

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
        for label, text in build_details(artifact.builder, artifact.provenance, artifact.image):
            console.print(f"  {label + ':':<14}{text}", soft_wrap=True)
        if freeze := artifact.provenance.get("freeze"):
            console.print(
                Text(f"  {'resolved:':<14}{', '.join(freeze)}", style="dim"), soft_wrap=True
            )


def build_details(
    builder: str, provenance: dict[str, Any], image: str = ""
) -> list[tuple[str, str]]:
    """What went into a build, in its builder's own terms: Go modules and replacements,
    Node packages, Python requirements, a Docker image."""
    language = builder.partition(":")[2]
    details: list[tuple[str, str]] = []
    if language == "go":
        details.append(("go", str(provenance.get("go") or "unknown version")))
        details.append(("modules", _go_modules(provenance.get("modules"))))
        replaced = [str(r) for r in provenance.get("replace") or []]
        details.append(("replacements", ", ".join(replaced) or "none"))
    elif language == "node":
        if provenance.get("node"):
            details.append(("node", str(provenance["node"])))
        lock = provenance.get("lockfile")
        details.append(
            ("packages", "package-lock.json (npm ci)" if lock else "package.json (npm install)")
        )
    elif language == "generic":
        details += [(k, str(provenance[k])) for k in ("build", "run", "path") if provenance.get(k)]
    else:
        details.append(("dependencies", describe_dependencies(provenance)))
    if bases := provenance.get("base_images"):
        details.append(("base images", _listed(bases)))
    if image:
        details.append(("image", image))
    return details


def _go_modules(modules: object) -> str:
    """``go list -m all`` lines; the first is the plan's own module."""
    required = [str(m) for m in modules[1:]] if isinstance(modules, list) else []
    if not required:
        return "none besides the plan's module" if isinstance(modules, list) else "not recorded"
    shown = ", ".join(required[:8]) + (f", … {len(required) - 8} more" if len(required) > 8 else "")
    return f"{len(required)}: {shown}"


def _listed(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values())
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def describe_dependencies(provenance: dict[str, object]) -> str:
    """A Python build's requirements (exec:python, docker:python)."""
    requirements = provenance.get("requirements") or []
    listed = ", ".join(str(r) for r in requirements) if isinstance(requirements, list) else ""
    if provenance.get("environment") == "host":
        return "none declared (host interpreter)"
    return listed or "none (SDK only)"


def summary(builder: str, provenance: dict[str, Any]) -> str:
    """One cell for ``builds list``: the builder's main ingredient."""
    details = dict(build_details(builder, provenance))
    for label in ("dependencies", "modules", "packages", "build"):
        if label in details:
            return f"{label}: {details[label]}" if label != "dependencies" else details[label]
    return ""


def build_documents(records: list[BuildRecord]) -> list[dict[str, Any]]:
    """Builds as ``builds list --json`` prints them."""
    return [
        {
            "build_id": r.build_id,
            "builder": r.builder,
            "plan": r.plan,
            "plan_dir": r.plan_dir,
            "groups": list(r.groups),
            "image": r.artifact.image,
            "provenance": r.artifact.provenance,
            "created": r.created,
            "last_used": r.last_used,
        }
        for r in records
    ]


def builds_table(builds_dir: Path, records: list[BuildRecord]) -> None:
    if not records:
        console.print(f"no builds in {builds_dir}")
        return
    table = Table(show_edge=False, pad_edge=False)
    for column in ("build", "builder", "plan", "groups", "dependencies", "last used", "files"):
        table.add_column(column, no_wrap=column in ("build", "builder"), overflow="fold")
    now = time.time()
    sizes = _image_sizes([r.artifact.image for r in records if r.artifact.image])
    for r in records:
        table.add_row(
            r.build_id,
            r.builder,
            r.plan,
            ", ".join(r.groups),
            summary(r.builder, r.artifact.provenance),
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
