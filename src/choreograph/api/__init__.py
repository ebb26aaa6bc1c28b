"""The public Python API: run plans from code and get typed results, no CLI in between.

A harness, a notebook or a pytest suite drives the same engine ``choreo run`` drives,
in-process, and gets objects instead of exit codes and terminal tables::

    from choreograph.api import Controller

    with Controller(home="/tmp/choreo") as c:
        run = c.run("examples/metrics", "work", instances=3, params={"delay": "25ms"})
        assert run.success, run.summary()
        cpu = run.resource_samples()["single/0"].cpu_percent   # one value a second
        bench = c.benchmark("examples/metrics", "noisy", metric="value", repeat=5)
        print(bench.mean, bench.interval)
        again = c.load_run(run.run_id)                         # tomorrow, from its id

The module-level :func:`run`, :func:`arun`, :func:`series`, :func:`calibrate` and
:func:`compare` are the same calls on a one-off :class:`Controller`; :func:`load`,
:func:`load_run` and :func:`load_series` read past runs and series (the CLI's, the
daemon's, or this API's) back as the same typed objects. A failed test is data
(``Run.success`` is False, each instance's outcome says why); exceptions are
Choreograph's own (:class:`~choreograph.errors.InputError` for a plan, case or param that
cannot be used, :class:`~choreograph.errors.BuildError`, …), raised where the CLI would
exit 2, 3 or 4.

Tables are pandas DataFrames built on first use (pandas is imported then, not with this
module), read from the run folder like ``choreo results`` reads them.

Test params given as ``"@calibrated"`` take the knob value the last converged calibration
found (as ``--tp knob=@calibrated`` does).

This module is the one an outsider imports; it only gathers the names. The result types
and loading live in :mod:`choreograph.api.results`, the controller in
:mod:`choreograph.api.controller`, the module-level calls in :mod:`choreograph.api.calls`.
"""

from __future__ import annotations

from choreograph.api.calls import arun, calibrate, run, series
from choreograph.api.controller import Controller, RunArgs
from choreograph.api.results import (
    Comparison,
    ResourceSamples,
    Run,
    Series,
    compare,
    load,
    load_run,
    load_series,
)
from choreograph.services.mocks.standalone import MockServices

__all__ = [
    "Comparison",
    "Controller",
    "MockServices",
    "ResourceSamples",
    "Run",
    "RunArgs",
    "Series",
    "arun",
    "calibrate",
    "compare",
    "load",
    "load_run",
    "load_series",
    "run",
    "series",
]
