"""Can this host run this spec? One clear answer before anything is built or started.

Testground plans often enable only Docker or cluster builders and runners. Choreograph
runs their work with its exec builders and local runners; when a plan names only ids
Choreograph lacks, the error lists what the plan enables, what Choreograph has, and
the exact flags that would run the plan here.
"""

from __future__ import annotations

from choreograph import plugins
from choreograph.errors import InputError
from choreograph.plan.spec import RunSpec

# Testground ids → the Choreograph id that does the same work on this host.
EQUIVALENT: dict[str, str] = {
    "docker:node": "exec:node",
    "docker:go": "exec:go",
    "docker:generic": "exec:generic",
    "docker:python": "exec:python",
    "local:docker": "local:exec",
    "cluster:k8s": "local:exec",
    "cluster:swarm": "local:exec",
}


def _suggest(wanted: list[str], enabled: tuple[str, ...], available: dict[str, str]) -> str:
    for candidate in (*wanted, *enabled):
        if candidate in available:
            return candidate
        if EQUIVALENT.get(candidate) in available:
            return EQUIVALENT[candidate]
    return sorted(available)[0]


def check_available(spec: RunSpec) -> None:
    """Raise InputError naming every unavailable builder/runner and the flags to use."""
    builders = sorted({g.builder for g in spec.groups})
    missing_builders = [b for b in builders if b not in plugins.BUILDERS]
    missing_runner = spec.runner not in plugins.RUNNERS
    if not missing_builders and not missing_runner:
        return
    lines = []
    if missing_builders:
        lines.append(f"builder {', '.join(missing_builders)} is not available in Choreograph")
    if missing_runner:
        lines.append(f"runner {spec.runner} is not available in Choreograph")
    enabled_b = ", ".join(spec.enabled_builders) or "none"
    enabled_r = ", ".join(spec.enabled_runners) or "none"
    lines.append(f"plan {spec.plan!r} enables builders: {enabled_b}; runners: {enabled_r}")
    lines.append(
        f"Choreograph can build with: {', '.join(sorted(plugins.BUILDERS))}; "
        f"run on: {', '.join(sorted(plugins.RUNNERS))}"
    )
    builder = _suggest(missing_builders or builders, spec.enabled_builders, plugins.BUILDERS)
    runner = _suggest([spec.runner], spec.enabled_runners, plugins.RUNNERS)
    lines.append(f"run it here with: --builder {builder} --runner {runner}")
    raise InputError("\n  ".join(lines))
