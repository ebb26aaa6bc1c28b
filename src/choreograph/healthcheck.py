"""Is this host ready to run plans, and is it clean? Checks gathered from the runners and
from host networking, each with a fix where one is safe.

``choreo healthcheck`` reports; ``--fix`` also removes what dead runs left behind
(namespaces, links, switch processes, state files: see :mod:`choreograph.net.cleanup`;
instance cgroups and whatever still runs in them: see :mod:`choreograph.runners.cgroups`;
ksmd's pace, set by runs that merge their instances' memory, see
:mod:`choreograph.runners.memory_merge`;
``local:docker`` containers and networks, found by their run label; ``cluster:k8s``
namespaces of runs whose ``choreo`` died on this host)
and marks runs whose owner died as ``aborted`` in their ``run.json``. Leftovers of live
runs are never touched, so it is safe while other runs are going.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from choreograph import plugins
from choreograph.results import liveness
from choreograph.runners import containment, memory_merge


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fixed: bool = False
    """A problem found, then removed by ``--fix``."""


async def run_checks(
    fix: bool = False, runs_dir: Path | None = None, runner: str | None = None
) -> list[Check]:
    """Every check, in a stable order; with ``fix``, fixable problems are fixed first.
    ``runs_dir``: the home folder's runs (default: the configured home's); ``runner``:
    check that runner alone (Testground's ``--runner``), else every runner."""
    if runs_dir is None:
        from choreograph.config import load_settings

        runs_dir = load_settings().runs_dir
    if runner is not None and runner not in plugins.RUNNERS:
        from choreograph.errors import InputError

        raise InputError(f"unknown runner {runner!r}; expected one of {sorted(plugins.RUNNERS)}")
    runners = [runner] if runner else sorted(plugins.RUNNERS)
    checks = [_runner_check(runner_id, asked=runner is not None) for runner_id in runners]
    if "cluster:k8s" in runners:
        checks.append(await _k8s_check(fix))
    if "local:docker" in runners:
        # Before the network sweep: a dead run's Docker bridge goes with its network.
        checks.append(await _docker_check(fix))
    checks.append(await _leftovers_check(fix))
    checks.append(_cages_check(fix))
    checks.append(_ksm_check(fix))
    checks.append(_dead_runs_check(fix, runs_dir))
    return checks


def _cages_check(fix: bool) -> Check:
    name = "instance cgroups of dead runs"
    found = containment.dead_run_cgroups()
    if not found:
        return Check(name, True, "none")
    listing = "; ".join(f"{run_id} ({pids} processes)" for run_id, pids in found.items())
    if not fix:
        return Check(name, False, f"{len(found)}: {listing} (remove with --fix)")
    left = containment.remove_dead_run_cgroups(found)
    if left:
        return Check(name, False, f"could not remove: {', '.join(left)}")
    return Check(name, True, f"removed {len(found)}: {listing}", fixed=True)


def _ksm_check(fix: bool) -> Check:
    name = "KSM pace of dead runs"
    if not memory_merge.leftover():
        return Check(name, True, "none")
    if not fix:
        return Check(
            name,
            False,
            "ksmd still runs at the pace of runs that died; the host's own settings are "
            f"saved in {memory_merge.STATE_DIR} (put back with --fix)",
        )
    memory_merge.restore_leftover()
    return Check(name, True, "the host's KSM settings put back", fixed=True)


def _dead_runs_check(fix: bool, runs_dir: Path) -> Check:
    name = "runs whose owner died"
    dead = liveness.dead_runs(runs_dir)
    if not dead:
        return Check(name, True, "none")
    if not fix:
        return Check(
            name, False, f"{len(dead)} shown as aborted: {', '.join(dead)} (record with --fix)"
        )
    marked = liveness.mark_aborted(runs_dir)
    return Check(name, True, f"marked aborted: {', '.join(marked) or 'none'}", fixed=True)


async def _docker_check(fix: bool) -> Check:
    from choreograph.containers import client
    from choreograph.runners import docker_cleanup

    name = "Docker containers and networks of dead runs"
    if client.problems():
        return Check(name, True, "Docker is not running here: nothing to look at")
    found = await docker_cleanup.dead_runs()
    if not found:
        return Check(name, True, "none")
    listing = "; ".join(f"{run_id} ({n} objects)" for run_id, n in sorted(found.items()))
    if not fix:
        return Check(name, False, f"{len(found)} runs: {listing} (remove with --fix)")
    await docker_cleanup.sweep_dead_runs()
    left = await docker_cleanup.dead_runs()
    if left:
        return Check(name, False, f"could not remove: {', '.join(sorted(left))}")
    return Check(name, True, f"removed {listing}", fixed=True)


async def _k8s_check(fix: bool) -> Check:
    from choreograph.runners import cluster_k8s

    name = "Kubernetes namespaces of dead runs"
    try:
        found = await cluster_k8s.dead_runs()
    except Exception as exc:  # no cluster, or it does not answer: nothing to look at
        return Check(name, True, f"no cluster to look at ({str(exc).splitlines()[0][:160]})")
    if not found:
        return Check(name, True, "none")
    listing = "; ".join(f"{ns} (run {run})" for ns, run in sorted(found.items()))
    if not fix:
        return Check(name, False, f"{len(found)}: {listing} (remove with --fix)")
    left = await cluster_k8s.remove_dead_runs(found)
    if left:
        return Check(name, False, f"could not remove: {', '.join(left)}")
    return Check(name, True, f"removed {listing}", fixed=True)


def _runner_check(runner_id: str, asked: bool = False) -> Check:
    """A runner's problems; one that is not set up here at all (``cluster:k8s`` without
    a kubeconfig) only fails the check when it was asked for by name."""
    try:
        runner = plugins.load(plugins.RUNNERS, runner_id)
        problems: list[str] = runner.problems()
    except ImportError as exc:
        problems = [f"cannot be loaded: {exc}"]
    else:
        if problems and not asked and not getattr(runner, "configured", lambda: True)():
            return Check(f"runner {runner_id}", True, f"not set up here: {problems[0]}")
    detail = "; ".join(problems) if problems else "can run here"
    return Check(f"runner {runner_id}", not problems, detail)


async def _leftovers_check(fix: bool) -> Check:
    from choreograph.net import cleanup  # Linux-only module, loaded when asked

    name = "leftovers of dead runs"
    try:
        found = cleanup.find_leftovers()
    except PermissionError as exc:
        return Check(name, False, f"cannot look: {exc}")
    if not found:
        return Check(name, True, "none")
    listing = "; ".join(str(item) for item in found)
    if not fix:
        return Check(name, False, f"{len(found)}: {listing} (remove with --fix)")
    await cleanup.remove(found)
    remaining = cleanup.find_leftovers()
    if remaining:
        rest = "; ".join(str(item) for item in remaining)
        return Check(name, False, f"{len(remaining)} could not be removed: {rest}")
    return Check(name, True, f"removed {len(found)}: {listing}", fixed=True)
