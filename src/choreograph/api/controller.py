"""The API's :class:`Controller`: one home folder, defaults for every run it makes, and
the calls that turn their arguments into a RunSpec for the engine, the series loop or the
calibration loop. It holds no logic of its own beyond that: running, series, calibration
and statistics are the engine's and results' (see :mod:`choreograph.api`).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import warnings
from collections.abc import Awaitable, Callable, Mapping
from functools import cached_property
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar, Unpack

from choreograph import eventloop, progress, workspace
from choreograph.api.results import (
    Comparison,
    PathLike,
    Run,
    Series,
    compare,
    load,
    load_run,
    load_series,
)
from choreograph.availability import check_config_keys
from choreograph.calibrate import (
    Calibration,
    CalibrationPlan,
    knob_is_integer,
    substitute_calibrated,
)
from choreograph.calibrate import calibrate as _calibrate
from choreograph.config import Settings, load_settings
from choreograph.engine import RunOptions, execute
from choreograph.errors import InputError
from choreograph.series import SeriesPlan, run_series
from choreograph.services import mocks

if TYPE_CHECKING:
    from choreograph.plan.manifest import Manifest
    from choreograph.plan.spec import RunSpec

_T = TypeVar("_T")


class RunArgs(TypedDict, total=False):
    """What a run is made of, besides the plan and case (all optional).

    ``instances``: instance count of a single-group run (default: the case's default).
    ``params``: test params; Python values are spelt as ``--tp`` would (``True`` →
    ``true``, a dict or list → JSON). ``composition``: a composition file, instead of a
    plan. ``composition_run``: which ``[[runs]]`` entry of it, when it has several.
    ``runner``, ``builder``: ids such as ``local:exec``, ``exec:python``. ``timeout``:
    seconds before the run is stopped (default: the home's ``run_timeout_s``).
    ``fail_fast``: stop at the first failed or crashed instance. ``service_modes``: the
    ``mode`` of mock-collector services for this run, by service name (as
    ``--service-mode NAME=MODE``; their ``groups`` entries keep theirs).
    """

    instances: int
    params: Mapping[str, object]
    composition: PathLike
    composition_run: str
    runner: str
    builder: str
    timeout: float
    fail_fast: bool
    service_modes: Mapping[str, str]


class Controller:
    """Runs plans in one home folder, with defaults for every run it makes.

    ``home`` is the Choreograph home (plan store, runs, build cache); None means the one
    ``choreo`` uses (``$CHOREO_HOME``, else ``~/.choreograph``). ``defaults`` are
    :class:`RunArgs` every call starts from. The ``with`` block checks the home once, up
    front; leaving it removes nothing (the runs stay in the home for ``choreo results``).
    """

    def __init__(
        self,
        home: PathLike | None = None,
        *,
        on_progress: progress.ProgressSink = progress.discard,
        **defaults: Unpack[RunArgs],
    ) -> None:
        self._home = None if home is None else Path(home).expanduser().resolve()
        self._on_progress = on_progress
        self._defaults = defaults
        self._runs = 0
        self._series = 0

    @cached_property
    def settings(self) -> Settings:
        """The home's settings, loaded (and the home checked usable) on first use."""
        if self._home is None:
            return load_settings()
        # load_settings reads the home from the environment only; setting it for the call
        # keeps one definition of the layering (config.toml < CHOREO_* < flags).
        saved = os.environ.get("CHOREO_HOME")
        os.environ["CHOREO_HOME"] = str(self._home)
        try:
            return load_settings()
        finally:
            if saved is None:
                del os.environ["CHOREO_HOME"]
            else:
                os.environ["CHOREO_HOME"] = saved

    @property
    def home(self) -> Path:
        return self.settings.home

    def __enter__(self) -> Controller:
        _ = self.settings
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def statistics(self) -> dict[str, Any]:
        """What this controller has done, for debugging."""
        return {"home": str(self._home or ""), "runs": self._runs, "series": self._series}

    def run(
        self, plan: PathLike | None = None, case: str | None = None, **args: Unpack[RunArgs]
    ) -> Run:
        """Run one case of ``plan`` (a plan name or folder, or a composition file) and wait
        for its end; see :class:`RunArgs` for the rest."""
        return _blocking(lambda: self.arun(plan, case, **args))

    async def arun(
        self, plan: PathLike | None = None, case: str | None = None, **args: Unpack[RunArgs]
    ) -> Run:
        """:meth:`run`, for callers already inside an event loop."""
        merged: RunArgs = {**self._defaults, **args}
        spec = self._spec(plan, case, merged)
        result = await execute(spec, self.settings, self._options(merged), self._on_progress)
        self._runs += 1
        return Run._of(result, spec)

    def series(
        self,
        plan: PathLike | None = None,
        case: str | None = None,
        *,
        repeat: int = 1,
        until_stable: str | None = None,
        metric: str | None = None,
        rel_ci: float = 0.02,
        confidence: float = 0.95,
        max_runs: int = 100,
        min_runs: int = 3,
        **args: Unpack[RunArgs],
    ) -> Series:
        """Run the same spec ``repeat`` times, or until the mean of metric ``until_stable``
        across runs is known within ``rel_ci`` (relative half-width of the ``confidence``
        interval; at least ``min_runs``, at most ``max_runs`` runs). ``metric`` gives a
        ``repeat`` series its statistics. A failed run ends the series."""
        if until_stable and metric and until_stable != metric:
            raise InputError(f"until_stable={until_stable!r} and metric={metric!r} disagree")
        chosen = SeriesPlan(
            repeat=repeat,
            metric=until_stable or metric,
            until_stable=until_stable is not None,
            rel_ci=rel_ci,
            confidence=confidence,
            max_runs=max_runs,
            min_runs=min_runs,
        )
        return _blocking(lambda: self._aseries(plan, case, chosen, args))

    def benchmark(
        self,
        plan: PathLike | None = None,
        case: str | None = None,
        *,
        metric: str,
        repeat: int | None = None,
        rel_ci: float = 0.02,
        max_runs: int = 100,
        **args: Unpack[RunArgs],
    ) -> Series:
        """The mean of ``metric`` with its interval: ``repeat`` runs, or (without
        ``repeat``) as many as it takes to know it within ``rel_ci``."""
        if repeat is None:
            return self.series(
                plan, case, until_stable=metric, rel_ci=rel_ci, max_runs=max_runs, **args
            )
        return self.series(plan, case, repeat=repeat, metric=metric, **args)

    def calibrate(
        self,
        plan: PathLike | None = None,
        case: str | None = None,
        *,
        knob: str,
        target: float,
        tolerance: float | None = None,
        metric: str = "cpu_percent",
        group: str | None = None,
        knob_groups: tuple[str, ...] = (),
        low: float = 0.0,
        high: float | None = None,
        start: float | None = None,
        iterations: int = 12,
        **args: Unpack[RunArgs],
    ) -> Calibration:
        """Drive the test param ``knob`` (an int or float param of the case), one short
        run per iteration, until ``metric`` (``cpu_percent``, ``rss_bytes`` or any metric
        the plan records; of ``group`` or all) is within ``tolerance`` (default 1%) of
        ``target``. The knob stays within ``low``..``high`` (default 10x the start) and
        starts at ``start`` (default the case's value). A converged value is kept for
        ``params={knob: "@calibrated"}``; see :mod:`choreograph.calibrate`.

        ``plan`` may be a composition file (or ``composition=``): every group then gets
        the knob, or only ``knob_groups``, and ``group`` says whose metric is measured."""
        merged: RunArgs = {**self._defaults, **args}
        if knob in merged.get("params", {}):
            raise InputError(
                f"params sets the knob {knob!r} itself: leave it out and use start=… for "
                "its first value"
            )
        spec = self._spec(plan, case, merged)
        from choreograph.plan import load_manifest

        manifest = load_manifest(spec.plan_dir / workspace.MANIFEST)
        declared = manifest.case(spec.case).params.get(knob)
        integer = knob_is_integer(knob, None if declared is None else declared.type)
        chosen = CalibrationPlan(
            knob=knob,
            target=target,
            tolerance=tolerance,
            metric=metric,
            group=group,
            knob_groups=tuple(knob_groups),
            low=low,
            high=high,
            start=start,
            iterations=iterations,
            integer=integer,
        )
        options = self._options(merged)

        async def calibration() -> Calibration:
            return await _calibrate(spec, self.settings, chosen, self._on_progress, options=options)

        state = _blocking(calibration)
        self._runs += len(state.iterations)
        return state

    def load(self, ident: PathLike) -> Run | Series:
        """A past run or series of this home, by id, unique prefix, ``latest`` or folder."""
        return load(ident, self.home)

    def load_run(self, ident: PathLike) -> Run:
        """A past run of this home (see :meth:`Run.load`)."""
        return load_run(ident, self.home)

    def load_series(self, ident: PathLike) -> Series:
        """A past series of this home (see :meth:`Series.load`)."""
        return load_series(ident, self.home)

    def compare(
        self,
        a: Run | Series | PathLike,
        b: Run | Series | PathLike | None,
        metric: str,
        *,
        groups: tuple[str, str] | None = None,
        alpha: float = 0.05,
        confidence: float = 0.95,
    ) -> Comparison:
        """:func:`compare`, with run and series ids looked up in this home."""
        return compare(
            a, b, metric, groups=groups, alpha=alpha, confidence=confidence, home=self.home
        )

    async def _aseries(
        self, plan: PathLike | None, case: str | None, chosen: SeriesPlan, args: RunArgs
    ) -> Series:
        merged: RunArgs = {**self._defaults, **args}
        spec = self._spec(plan, case, merged)
        options = self._options(merged)
        state = await run_series(spec, self.settings, options, chosen, self._on_progress)
        self._series += 1
        self._runs += len(state.results)
        return Series._of(state, spec, self.settings.home)

    def _options(self, args: RunArgs) -> RunOptions:
        timeout = args.get("timeout")
        return RunOptions(
            timeout_s=self.settings.run_timeout_s if timeout is None else timeout,
            fail_fast=args.get("fail_fast", False),
            stop_grace_s=self.settings.stop_grace_s,
        )

    def _spec(self, plan: PathLike | None, case: str | None, args: RunArgs) -> RunSpec:
        """The one RunSpec asked for, its settings checked, its warnings issued."""
        composition = args.get("composition")
        if composition is None and plan is not None and _is_file(plan, ".toml"):
            plan, composition = None, plan
        if composition is None:
            if plan is None:
                raise InputError("run what? give a plan (name or folder) or a composition file")
            spec = self._single(plan, case, args)
        else:
            if plan is not None or case is not None or "instances" in args:
                raise InputError(
                    f"a composition ({composition}) names its plan, case and instance counts; "
                    "give either a composition or a plan and case"
                )
            spec = self._composed(Path(composition), args)
        spec = mocks.with_modes(spec, args.get("service_modes", {}))
        spec = check_config_keys(spec)
        for warning in spec.warnings:
            warnings.warn(warning, UserWarning, stacklevel=2)
        return spec

    def _manifest(self, plan: PathLike) -> tuple[Path, Manifest]:
        from choreograph.plan import load_manifest

        plan_dir = workspace.find_plan(os.fspath(plan), self.settings.plans_dir)
        return plan_dir, load_manifest(plan_dir / workspace.MANIFEST)

    def _single(self, plan: PathLike, case: str | None, args: RunArgs) -> RunSpec:
        from choreograph.plan import resolve_single

        plan_dir, manifest = self._manifest(plan)
        if case is None:
            names = [tc.name for tc in manifest.testcases]
            if len(names) != 1:
                raise InputError(f"plan {manifest.name} has cases {', '.join(names)}: name one")
            case = names[0]
        return resolve_single(
            manifest,
            plan_dir,
            case=case,
            instances=args.get("instances"),
            test_params=self._params(args, manifest.name, case),
            builder=args.get("builder"),
            runner=args.get("runner"),
            manifest_file=str(plan_dir / workspace.MANIFEST),
        )

    def _composed(self, file: Path, args: RunArgs) -> RunSpec:
        from choreograph.plan import load_composition, load_manifest, resolve_composition
        from choreograph.plan.resolve import select_run

        composition = load_composition(file)
        plan_dir = workspace.composition_plan(composition, self.settings.plans_dir)
        manifest = load_manifest(plan_dir / workspace.MANIFEST)
        specs = resolve_composition(
            composition,
            manifest,
            plan_dir,
            test_params=self._params(args, manifest.name, composition.global_.case),
            builder=args.get("builder"),
            runner=args.get("runner"),
        )
        return select_run(specs, args.get("composition_run"), file, "composition_run=…")

    def _params(self, args: RunArgs, plan: str, case: str) -> dict[str, str]:
        strings = _param_strings(args.get("params", {}))
        return substitute_calibrated(strings, self.settings.home, plan, case)


def _is_file(ref: PathLike, suffix: str) -> bool:
    path = Path(ref).expanduser()
    return path.suffix == suffix and path.is_file()


def _param_strings(params: Mapping[str, object]) -> dict[str, str]:
    """Test params as ``--tp`` spells them, so they are checked against the manifest the
    same way: bools as ``true``/``false``, tables and arrays as JSON."""
    out = {}
    for key, value in params.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, dict | list | tuple):
            out[key] = json.dumps(value, separators=(",", ":"))
        elif isinstance(value, float) and not math.isfinite(value):
            raise InputError(f"test param {key}: {value} is not a number a plan can read")
        else:
            out[key] = str(value)
    return out


def _blocking(start: Callable[[], Awaitable[_T]]) -> _T:
    """Run the coroutine ``start`` makes to its end; refuse inside a running loop, where
    ``asyncio.run`` cannot work and the async face (``arun``) is the answer."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise InputError(
            "a blocking choreograph.api call was made inside a running event loop; "
            "await the async face there (arun)"
        )

    async def main() -> _T:
        return await start()

    return eventloop.run(main())
