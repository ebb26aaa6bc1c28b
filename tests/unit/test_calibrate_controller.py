"""The calibration controller on synthetic plants: no processes, only its arithmetic."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from choreograph.calibrate import (
    CalibrationPlan,
    Controller,
    calibrated_value,
    knob_is_integer,
    latest_path,
    substitute_calibrated,
)
from choreograph.errors import InputError
from choreograph.plan.spec import GroupSpec, RunSpec

Plant = Callable[[float], float]


def drive(
    controller: Controller, plant: Plant, start: float, iterations: int = 12
) -> list[tuple[float, float]]:
    """Knob → measurement pairs, as `calibrate` makes them, until within tolerance, stuck,
    or out of iterations."""
    knob, points = start, []
    for _ in range(iterations):
        measured = plant(knob)
        points.append((knob, measured))
        if controller.within(measured):
            break
        knob = controller.next(knob, measured)
        if controller.stuck:
            break
    return points


def cpu(sleep_ms: float) -> float:
    """CPU % of 10 ms of work then `sleep_ms` of sleep: monotone, falling, convex."""
    return 100 * 10 / (10 + sleep_ms)


def test_converges_on_a_linear_plant_with_a_falling_gain() -> None:
    controller = Controller(70, 0.5, 0, 50, max_step=50)
    points = drive(controller, lambda k: 100 - 3 * k, start=40)
    knob, measured = points[-1]
    assert abs(measured - 70) <= 0.5 and abs(knob - 10) <= 0.5 / 3
    assert controller.gain == pytest.approx(-3)  # the sign was learned, not given
    assert len(points) == 3  # a probe, then one exact secant step on a straight line


@pytest.mark.parametrize(("target", "start"), [(70, 10), (70, 90), (20, 1), (95, 30)])
def test_converges_on_a_nonlinear_monotone_plant(target: float, start: float) -> None:
    controller = Controller(target, 0.5, 0, 100)
    points = drive(controller, cpu, start)
    assert abs(points[-1][1] - target) <= 0.5, points
    assert len(points) <= 12, points


def test_converges_on_a_noisy_plant() -> None:
    rng = random.Random(7)
    for _ in range(20):
        controller = Controller(70, 1.0, 0, 100)
        points = drive(controller, lambda k: cpu(k) + rng.gauss(0, 0.3), start=10)
        assert abs(points[-1][1] - 70) <= 1.0, points


def test_a_fixed_gain_of_the_wrong_sign_is_corrected_by_the_data() -> None:
    # kp > 0 says "more knob, more metric"; the plant says the opposite.
    controller = Controller(70, 0.5, 0, 50, kp=0.3)
    points = drive(controller, lambda k: 100 - 3 * k, start=20, iterations=30)
    assert abs(points[-1][1] - 70) <= 0.5, points
    assert controller.gain is not None and controller.gain < 0


def test_proportional_steps_are_kp_times_the_error() -> None:
    controller = Controller(50, 0.1, 0, 100, kp=-0.5)
    assert controller.next(10, 40) == pytest.approx(10 - 0.5 * 10)
    # The second point teaches the sign (falling), which kp already had: same rule.
    assert controller.next(5, 45) == pytest.approx(5 - 0.5 * 5)


def test_the_integral_term_speeds_up_a_gain_that_is_too_small() -> None:
    def plant(k: float) -> float:
        return 100 - 3 * k

    p_only = drive(Controller(70, 0.5, 0, 50, kp=-0.02), plant, start=0, iterations=30)
    pi = drive(Controller(70, 0.5, 0, 50, kp=-0.02, ki=-0.001), plant, start=0, iterations=30)
    assert abs(p_only[-1][1] - 70) > 0.5 and len(p_only) == 30
    assert abs(pi[-1][1] - 70) <= 0.5 and len(pi) < 30, pi


def test_steps_stay_within_the_bounds_and_the_step_limit() -> None:
    controller = Controller(70, 0.5, 2, 30, max_step=3)
    points = drive(controller, cpu, start=30, iterations=40)
    knobs = [k for k, _ in points]
    assert all(2 <= k <= 30 for k in knobs)
    assert all(abs(b - a) <= 3 + 1e-9 for a, b in itertools.pairwise(knobs))
    assert abs(points[-1][1] - 70) <= 0.5  # slower, but it still gets there


def test_a_target_out_of_reach_stops_at_the_bound_with_the_reason() -> None:
    controller = Controller(5, 0.5, 0, 50)  # cpu(50) is 16.7: never as low as 5
    points = drive(controller, cpu, start=10, iterations=40)
    assert points[-1][0] == 50 and len(points) < 40
    assert "bound 50" in controller.stuck and "above the target 5" in controller.stuck


def test_a_flat_plant_never_converges_and_says_why() -> None:
    controller = Controller(50, 0.5, 0, 40)
    points = drive(controller, lambda k: 30.0, start=10, iterations=40)
    assert all(not controller.within(m) for _, m in points)
    assert len(points) < 40 and controller.stuck
    assert "does not follow the knob" in controller.stuck


def test_a_flat_plant_with_noise_is_stopped_too() -> None:
    rng = random.Random(3)
    controller = Controller(50, 0.5, 0, 40)
    points = drive(controller, lambda k: 30 + rng.gauss(0, 0.2), start=10, iterations=40)
    assert len(points) < 40 and controller.stuck, points


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"tolerance": 0}, "--tolerance must be > 0"),
        ({"low": 5, "high": 5}, "--min must be below --max"),
        ({"kp": 0.0}, "--kp must be a non-zero number"),
        ({"max_step": -1}, "--max-step must be > 0"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, float], problem: str) -> None:
    values: dict[str, float] = {"target": 50, "tolerance": 1, "low": 0, "high": 10}
    values.update(settings)
    kw = {k: values[k] for k in ("kp", "max_step") if k in values}
    with pytest.raises(InputError, match=problem):
        Controller(values["target"], values["tolerance"], values["low"], values["high"], **kw)


def spec(**params: str) -> RunSpec:
    group = GroupSpec("single", 1, dict(params), "exec:python")
    return RunSpec("p", Path("."), "c", "local:exec", (group,))


def test_the_start_defaults_to_the_knob_value_in_the_spec() -> None:
    plan = CalibrationPlan("sleep_ms", 70, 0.5)
    assert plan.start_value(spec(sleep_ms="12.5")) == 12.5
    with pytest.raises(InputError, match="give --start"):
        plan.start_value(spec(other="1"))
    controller = plan.controller(12.5)
    assert (controller.low, controller.high) == (0, 125)
    assert plan.text(4.28571428) == "4.28571"
    assert CalibrationPlan("n", 1, 1, integer=True).text(4.6) == "5"
    assert (plan.tolerance_value, CalibrationPlan("k", 0).tolerance_value) == (0.5, 1.0)
    assert CalibrationPlan("k", -250).tolerance_value == 2.5


def test_only_number_params_can_be_knobs() -> None:
    assert knob_is_integer("n", "int") and not knob_is_integer("x", "float")
    assert not knob_is_integer("undeclared", None)
    with pytest.raises(InputError, match="declares it duration; the knob must be an int or float"):
        knob_is_integer("delay", "duration")


def test_calibrated_values_are_substituted_or_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"no calibration of knob 'sleep_ms' for plan p case c"):
        substitute_calibrated({"sleep_ms": "@calibrated"}, tmp_path, "p", "c")
    path = latest_path(tmp_path, "p", "c", "sleep_ms")
    path.parent.mkdir(parents=True)
    path.write_text('{"text": "4.3", "value": 4.3}')
    params = substitute_calibrated({"sleep_ms": "@calibrated", "n": "2"}, tmp_path, "p", "c")
    assert params == {"sleep_ms": "4.3", "n": "2"}
    path.write_text("{")
    with pytest.raises(InputError, match="not a calibration record"):
        calibrated_value(tmp_path, "p", "c", "sleep_ms")
    with pytest.raises(InputError, match="cannot name a calibration"):
        latest_path(tmp_path, "..", "c", "k")
