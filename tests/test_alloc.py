"""Shared-capacity allocation (sc_jax.alloc): exactness, guarantees, validation, fallbacks.

Kept fast (a few seconds): small instances, one medium and one large
cross-check against the independent greedy method.
"""

import dataclasses
import itertools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from sc_jax import alloc
from sc_jax.alloc import AllocationProblem, allocate, capacity_room, random_problem
from sc_jax.alloc.greedy import is_optimal_cut
from sc_jax.alloc.milp import build_cut_segments
from sc_jax.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def tiny_problem(seed, n_products=2, n_stages=3, max_order=3, tightness=0.5):
    """Small desired orders so every joint order vector can be enumerated."""
    rng = np.random.default_rng(seed)
    shape = (n_products, n_stages)
    lead_times = np.arange(2, 2 + n_stages)
    horizon = int(lead_times.max()) + 1
    daily = rng.uniform(0.5, 2.0, size=(n_products, 1)) * np.ones((1, horizon))
    desired = rng.integers(0, max_order + 1, size=shape)
    on_hand = rng.integers(0, 6, size=shape)
    on_hand[:, 1:] = np.maximum(on_hand[:, 1:], max_order)  # supplier stock never binds here
    pipeline = rng.integers(0, 4, size=shape)
    shortage = rng.uniform(1.0, 10.0, size=shape)
    ratio = rng.choice([10.0, 100.0, 1000.0], size=(n_products, 1))
    capacity = (on_hand + pipeline).sum(axis=0) + np.floor(tightness * desired.sum(axis=0))
    return AllocationProblem(
        desired_orders=desired, on_hand=on_hand, pipeline=pipeline,
        holding_cost=shortage / ratio, shortage_cost=shortage,
        supply_capacity=np.full(shape, 100), forecast_mean=daily, forecast_std=0.4 * daily,
        lead_times=lead_times, capacity=capacity,
    )


def independent_cut_costs(problem, floor_fraction=1e-3):
    """cost[i][j][u] of cutting u units, from scipy.stats.norm unit by unit (no model code)."""
    upper = problem.order_upper_bound()
    table = [[None] * problem.n_stages for _ in range(problem.n_products)]
    for i, j in itertools.product(range(problem.n_products), range(problem.n_stages)):
        window = problem.lead_times[j] + 1
        mu = problem.forecast_mean[i, :window].sum()
        sigma = np.sqrt((problem.forecast_std[i, :window] ** 2).sum())
        h, k = problem.holding_cost[i, j], problem.shortage_cost[i, j]
        y = problem.on_hand[i, j] + problem.pipeline[i, j] + upper[i, j] - np.arange(upper[i, j] + 1)
        z = (y - mu) / sigma
        expected_shortage = sigma * (norm.pdf(z) - z * norm.sf(z))
        expected_cost = k * expected_shortage + h * (expected_shortage + y - mu)
        marginal = np.maximum(np.diff(expected_cost), floor_fraction * k * k / (k + h))
        table[i][j] = np.concatenate(([0.0], np.cumsum(marginal)))
    return table


def independent_cut_cost(problem, cuts):
    table = independent_cut_costs(problem)
    return sum(table[i][j][cuts[i, j]] for i, j in np.ndindex(cuts.shape))


def brute_force(problem):
    """Enumerate every joint order vector (all products and stages at once)."""
    upper = problem.order_upper_bound()
    room = np.floor(np.maximum(problem.capacity - (problem.on_hand + problem.pipeline).sum(axis=0), 0))
    table = independent_cut_costs(problem)
    grids = np.indices(tuple(upper.ravel() + 1)).reshape(upper.size, -1).T  # [combos, N*M]
    orders = grids.reshape(-1, *upper.shape)
    feasible = np.all(orders.sum(axis=1) <= room, axis=1)
    cost = np.zeros(len(orders))
    for i, j in np.ndindex(upper.shape):
        cost += table[i][j][upper[i, j] - orders[:, i, j]]
    cost[~feasible] = np.inf
    best = int(np.argmin(cost))
    return cost[best], orders[best]


def assert_capacity_safe(problem, result):
    upper = problem.order_upper_bound()
    committed = (problem.on_hand + problem.pipeline).sum(axis=0)
    orders = result.orders
    assert orders.dtype == np.int64 and orders.shape == upper.shape
    assert np.all(orders >= 0) and np.all(orders <= upper)
    assert np.all(orders <= problem.supply_capacity)
    assert np.all(orders[:, :-1] <= problem.on_hand[:, 1:])  # supplier stock
    over = committed > problem.capacity
    assert np.all(committed + orders.sum(axis=0) <= problem.capacity + 1e-9 + np.where(over, np.inf, 0))
    assert np.all(orders[:, over] == 0)
    np.testing.assert_allclose(result.overflow, np.maximum(committed - problem.capacity, 0))


@pytest.mark.parametrize("seed", range(12))
def test_daily_matches_brute_force(seed):
    problem = tiny_problem(seed, n_products=2 + seed % 2, max_order=3 if seed % 2 == 0 else 2)
    best_cost, _ = brute_force(problem)
    result = allocate(problem, "daily", max_segments=None, band_size=None)
    assert result.status in ("optimal", "not_binding")
    assert result.objective == pytest.approx(best_cost, rel=1e-7, abs=1e-9)
    assert independent_cut_cost(problem, problem.order_upper_bound() - result.orders) == pytest.approx(
        best_cost, rel=1e-7, abs=1e-9
    )
    assert_capacity_safe(problem, result)


def test_full_model_matches_greedy_on_medium_instance():
    problem = random_problem(1, 300, tightness=0.6)
    daily = allocate(problem, "daily", band_size=None)
    greedy = allocate(problem, "greedy")
    assert daily.status == "optimal" and not daily.fallback
    assert daily.objective == pytest.approx(greedy.objective, rel=1e-6)


def test_banded_model_matches_greedy_on_large_instance():
    problem = random_problem(2, 3000, tightness=0.7)
    daily = allocate(problem, "daily", band_size=200)
    greedy = allocate(problem, "greedy")
    assert daily.status == "optimal" and not daily.fallback and daily.info["n_variables"] < daily.info["n_segments"]
    assert daily.objective == pytest.approx(greedy.objective, rel=1e-6)
    upper = problem.order_upper_bound()
    segments = build_cut_segments(problem, upper, np.arange(problem.n_stages))
    room, _ = capacity_room(problem)
    assert is_optimal_cut(segments, upper - daily.orders, np.maximum(upper.sum(axis=0) - room, 0))
    assert_capacity_safe(problem, daily)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    n_products=st.integers(1, 12),
    tightness=st.floats(0.0, 1.5),
    squeeze=st.sampled_from([0.0, 0.0, 0.3, 1.0]),
    method=st.sampled_from(["daily", "greedy", "rolling"]),
)
def test_capacity_never_exceeded(seed, n_products, tightness, squeeze, method):
    problem = random_problem(seed, n_products, tightness=tightness)
    # squeeze > 0 pushes capacity below on hand + pipeline at some stages.
    committed = (problem.on_hand + problem.pipeline).sum(axis=0)
    squeezed = np.floor(problem.capacity - squeeze * committed * np.array([1.0, 0.0, 1.0]))
    problem = dataclasses.replace(problem, capacity=np.maximum(squeezed, 0))
    result = allocate(problem, method)
    assert_capacity_safe(problem, result)
    assert not result.fallback


@pytest.mark.parametrize("method", ["daily", "greedy"])
def test_not_binding_returns_desired_orders(method):
    base = random_problem(3, 50, tightness=1.0)
    desired = base.order_upper_bound()
    exactly_fits = (base.on_hand + base.pipeline + desired).sum(axis=0)  # tightness 1: the boundary case
    problem = dataclasses.replace(base, desired_orders=desired, capacity=exactly_fits)
    result = allocate(problem, method)
    np.testing.assert_array_equal(result.orders, problem.desired_orders)
    assert result.objective == 0.0
    # One binding stage leaves the other stages at the desired orders.
    capacity = problem.capacity.copy()
    capacity[1] -= 5
    result = allocate(dataclasses.replace(problem, capacity=capacity), method)
    np.testing.assert_array_equal(result.orders[:, [0, 2]], problem.desired_orders[:, [0, 2]])
    assert result.orders[:, 1].sum() == problem.desired_orders[:, 1].sum() - 5


def test_high_ratio_product_is_cut_last():
    one = np.ones((2, 3))
    problem = AllocationProblem(
        desired_orders=5 * one, on_hand=10 * one, pipeline=2 * one,
        holding_cost=np.array([[1.0], [0.01]]) * one, shortage_cost=10 * one,  # ratios 10 and 1000
        supply_capacity=100 * one, forecast_mean=np.ones((2, 5)), forecast_std=np.ones((2, 5)),
        lead_times=[2, 3, 4], capacity=[30.0, 30.0, 30.0],
    )
    segments = build_cut_segments(problem, problem.order_upper_bound(), np.arange(3), max_segments=None)
    first_unit = segments.start == 0
    slope = segments.slope[first_unit].reshape(2, 3)
    assert np.all(slope[1] > slope[0])
    result = allocate(problem, "daily")  # room 6 of 10 per stage: cut 4, all from the ratio-10 product
    np.testing.assert_array_equal(result.orders, [[1, 1, 1], [5, 5, 5]])


def test_supply_limits_clip_desired_orders():
    problem = random_problem(4, 20, tightness=2.0)
    problem = dataclasses.replace(problem, desired_orders=problem.desired_orders + 200)
    result = allocate(problem, "daily")
    assert_capacity_safe(problem, result)
    assert result.info["clipped_by_supply"] > 0


def assert_is_greedy(result, greedy):
    np.testing.assert_array_equal(result.orders, greedy.orders)
    assert result.objective == greedy.objective and result.mip_gap == 0.0


def test_milp_time_out_and_failure_fall_back(monkeypatch):
    problem = random_problem(5, 40, tightness=0.5)
    exact = allocate(problem, "greedy")
    real_milp = alloc.milp.milp

    def timed_out_with_poor_incumbent(*args, **kwargs):
        solution = real_milp(*args, **kwargs)
        # A feasible but poor incumbent: every segment fully cut.
        solution.x = kwargs["bounds"].ub.copy()
        solution.status, solution.message = 1, "Time limit reached"
        return solution

    monkeypatch.setattr(alloc.milp, "milp", timed_out_with_poor_incumbent)
    result = allocate(problem, "daily", time_limit=0.5)
    # The incumbent is discarded: greedy, always, so the result does not depend on timing.
    assert result.timed_out and result.fallback and result.status == "time_limit_greedy"
    assert_is_greedy(result, exact)
    assert_capacity_safe(problem, result)

    monkeypatch.setattr(alloc.milp, "milp", lambda *a, **k: SimpleNamespace(status=1, x=None, message="Time limit"))
    result = allocate(problem, "daily")
    assert result.fallback and result.timed_out and result.status == "time_limit_greedy"
    assert_is_greedy(result, exact)

    # Another HiGHS status with a point (e.g. iteration limit) is not trusted either.
    def other_status(*args, **kwargs):
        solution = real_milp(*args, **kwargs)
        solution.status, solution.message = 4, "Other"
        return solution

    monkeypatch.setattr(alloc.milp, "milp", other_status)
    result = allocate(problem, "daily")
    assert result.fallback and not result.timed_out and result.status == "fallback_greedy"
    assert_is_greedy(result, exact)

    def broken(*args, **kwargs):
        raise RuntimeError("HiGHS crashed")

    monkeypatch.setattr(alloc.milp, "milp", broken)
    result = allocate(problem, "daily")
    assert result.fallback and not result.timed_out and result.status == "fallback_greedy"
    assert "HiGHS crashed" in result.info["highs_message"]
    assert_is_greedy(result, exact)

    monkeypatch.setattr(alloc.rolling, "milp", broken)
    result = allocate(problem, "rolling")
    assert result.fallback and not result.timed_out and result.method == "rolling"
    assert result.status == "fallback_greedy"
    assert_is_greedy(result, exact)
    assert_capacity_safe(problem, result)

    def rolling_timed_out(*args, **kwargs):
        return SimpleNamespace(status=1, x=np.zeros(len(args[0])), fun=0.0, message="Time limit reached")

    monkeypatch.setattr(alloc.rolling, "milp", rolling_timed_out)
    result = allocate(problem, "rolling")
    assert result.fallback and result.timed_out and result.status == "time_limit_greedy"
    assert_is_greedy(result, exact)


def test_real_time_limit_gives_greedy_deterministically():
    """HiGHS really stopped by its time limit: the result is greedy's, identical run to run."""
    problem = random_problem(9, 3000, tightness=0.7)
    greedy = allocate(problem, "greedy")
    first = allocate(problem, "daily", time_limit=1e-6, band_size=None)
    second = allocate(problem, "daily", time_limit=1e-6, band_size=None)
    for result in (first, second):
        assert result.status == "time_limit_greedy" and result.timed_out and result.fallback
        assert result.info["highs_status"] == 1
        assert_is_greedy(result, greedy)
        assert_capacity_safe(problem, result)
    np.testing.assert_array_equal(first.orders, second.orders)

    small = random_problem(9, 40, tightness=0.6)
    rolling = allocate(small, "rolling", time_limit=1e-6)
    assert rolling.status == "time_limit_greedy" and rolling.timed_out and rolling.fallback
    assert rolling.method == "rolling"
    assert_is_greedy(rolling, allocate(small, "greedy"))


def test_rolling_interface_and_lp_fields():
    problem = random_problem(6, 15, tightness=0.6)
    rolling = allocate(problem, "rolling", time_limit=30)
    daily = allocate(problem, "daily")
    assert rolling.method == "rolling" and rolling.status == "rounded_lp"
    assert np.isfinite(rolling.info["lp_objective"])
    assert rolling.objective >= daily.objective - 1e-9  # daily is optimal for the shared yardstick
    assert_capacity_safe(problem, rolling)


def test_hydra_configs_drive_allocate():
    from omegaconf import OmegaConf

    problem = random_problem(7, 10, tightness=0.5)
    for name, method in [("daily", "daily"), ("rolling", "rolling")]:
        config = OmegaConf.load(ROOT / "conf" / "alloc" / f"{name}.yaml")
        result = alloc.allocate_from_config(problem, config)
        assert result.method == method
        assert_capacity_safe(problem, result)


def _fields(problem):
    return {f.name: getattr(problem, f.name) for f in dataclasses.fields(problem)}


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("on_hand", np.zeros((3, 3)), ["on_hand", "shape"]),
        ("capacity", np.array([-1.0, 5.0, 5.0]), ["capacity", ">= 0"]),
        ("capacity", np.ones(2), ["capacity", "shape"]),
        ("holding_cost", -np.ones((2, 3)), ["holding_cost", ">= 0"]),
        ("shortage_cost", np.full((2, 3), -2.0), ["shortage_cost", ">= 0"]),
        ("desired_orders", np.full((2, 3), 1.5), ["desired_orders", "integers"]),
        ("forecast_std", np.ones((2, 4)), ["forecast_std", "shape"]),
        ("forecast_mean", np.ones((2, 3)), ["forecast_mean", "horizon"]),
        ("lead_times", [0, 3, 4], ["lead_times", "integers >= 1"]),
        ("supply_capacity", np.full((2, 3), np.nan), ["supply_capacity", "finite"]),
    ],
)
def test_validation_errors_name_field_and_allowed_values(field, value, words):
    kwargs = _fields(tiny_problem(0))
    kwargs["pipeline_by_day"] = None
    kwargs[field] = value
    with pytest.raises(ConfigError) as error:
        AllocationProblem(**kwargs)
    assert str(error.value).startswith(f"'{field}' must ") and ", got " in str(error.value)
    for word in words:
        assert word in str(error.value)


def test_bad_options_raise():
    problem = tiny_problem(0)
    with pytest.raises(ConfigError, match=r"'method' must be one of \('daily', 'rolling', 'greedy', 'jax'\), got 'lagrange'"):
        allocate(problem, "lagrange")
    bases = r"\('position', 'expected', 'projected'\)"
    with pytest.raises(ConfigError, match=rf"'capacity_basis' must be one of {bases}, got 'physical'"):
        allocate(problem, "daily", capacity_basis="physical")
    with pytest.raises(ConfigError, match=r"'time_limit' must be None or a number > 0 \(seconds\), got 0"):
        allocate(problem, "daily", time_limit=0)
    with pytest.raises(ValueError):  # ConfigError is a ValueError: old handlers keep working
        allocate(problem, "daily", time_limit=-1)


def test_expected_capacity_basis_gives_more_room():
    problem = random_problem(8, 30, tightness=0.3)
    strict = allocate(problem, "daily")
    relaxed = allocate(problem, "daily", capacity_basis="expected")
    assert relaxed.orders.sum() >= strict.orders.sum()
    assert relaxed.objective <= strict.objective + 1e-9
