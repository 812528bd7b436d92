"""The JAX capacity stage (sc_jax.alloc.jax_stage) against the SciPy MILP reference.

Instances from `random_problem`, stacked by shape and solved in one jitted batch call per
(shape, capacity basis), so a few compilations serve hundreds of instances: binding, loose (zero
need), zero capacity, overflow (committed stock above capacity), exact ties (duplicated products)
and free cuts (products with no costs). The objective of the JAX orders, priced with the
reference's float64 cut cost, equals the MILP's; the orders equal the MILP's wherever the optimum
is unique. Elsewhere they usually equal the greedy reference's too (same tie-breaking), except
where float32 rounding merges two cut costs that float64 keeps apart by ~1e-7 (seen between
duplicated products): then a unit moves between equally priced products, the objective agrees.
"""
import dataclasses
import functools

import jax
import numpy as np
import pytest

from sc_jax.alloc import AllocationProblem, allocate, random_problem
from sc_jax.alloc import jax_stage
from sc_jax.alloc.milp import CAPACITY_BASES, build_cut_segments, capacity_room, projected_stock
from sc_jax.errors import ConfigError

N = 12  # products per instance (one compiled shape)
KINDS = ("binding", "binding", "binding", "loose", "zero_capacity", "overflow", "ties", "free")


def make_instance(seed: int, kind: str) -> AllocationProblem:
    rng = np.random.default_rng(seed)
    tightness = rng.uniform(1.0, 1.5) if kind == "loose" else rng.uniform(0.05, 0.95)
    problem = random_problem(seed, N, tightness=tightness, max_daily_mean=float(rng.choice([3.0, 20.0, 60.0])))
    committed = (problem.on_hand + problem.pipeline).sum(axis=0)
    if kind == "zero_capacity":
        problem = dataclasses.replace(problem, capacity=np.zeros(3))
    elif kind == "overflow":  # committed stock above capacity at one or two stages
        squeeze = np.where(rng.random(3) < 0.5, rng.uniform(0.05, 0.5), 0.0)
        squeeze[rng.integers(3)] = 0.3
        problem = dataclasses.replace(problem, capacity=np.where(squeeze > 0, np.floor(committed * (1 - squeeze)),
                                                                 problem.capacity))
    elif kind == "ties":  # products 6..11 are copies of 0..5: exactly equal cut costs
        copy = lambda x: np.concatenate([x[: N // 2], x[: N // 2]])
        fields = {f: copy(getattr(problem, f)) for f in ("desired_orders", "on_hand", "pipeline", "holding_cost",
                                                       "shortage_cost", "supply_capacity", "forecast_mean",
                                                       "forecast_std")}
        fields["capacity"] = np.floor((fields["on_hand"] + fields["pipeline"]).sum(0)
                                      + tightness * fields["desired_orders"].sum(0))
        fields["pipeline_by_day"] = copy(problem.pipeline_by_day)
        problem = dataclasses.replace(problem, **fields)
    elif kind == "free":  # some products cost nothing to cut (k = h = 0)
        free = rng.random(N) < 0.3
        problem = dataclasses.replace(problem, shortage_cost=np.where(free[:, None], 0.0, problem.shortage_cost),
                                      holding_cost=np.where(free[:, None], 0.0, problem.holding_cost))
    return problem


@functools.lru_cache(maxsize=None)
def _batch(capacity_basis: str, max_segments: int):
    return jax_stage.jit_for_backend(functools.partial(jax_stage.daily_allocation_batch,
                                                       capacity_basis=capacity_basis, max_segments=max_segments))


def solve_batch(problems, capacity_basis="position", max_segments=16):
    """The JAX stage on stacked instances (float64 inputs split into float32 hi + lo)."""
    stack = lambda name, dtype: np.stack([getattr(p, name).astype(dtype) for p in problems])
    mean = stack("forecast_mean", np.float64)
    capacity = stack("capacity", np.float64)
    out = _batch(capacity_basis, max_segments)(
        stack("desired_orders", np.int32), stack("on_hand", np.int32), stack("pipeline", np.int32),
        stack("holding_cost", np.float32), stack("shortage_cost", np.float32), stack("supply_capacity", np.int32),
        mean.astype(np.float32), stack("forecast_std", np.float32), stack("lead_times", np.int32),
        capacity.astype(np.float32), min_cut_cost_fraction=np.float32(1e-3),
        forecast_mean_lo=(mean - mean.astype(np.float32)).astype(np.float32),
        capacity_lo=(capacity - capacity.astype(np.float32)).astype(np.float32),
        pipeline_by_day=stack("pipeline_by_day", np.int32) if capacity_basis == "projected" else None)
    return jax.device_get(out)


def for_basis(problem: AllocationProblem, capacity_basis: str) -> AllocationProblem:
    """The instance with its capacity lowered by what the projection frees (projected basis), so
    that it binds as often under that basis as under the position basis."""
    if capacity_basis != "projected":
        return problem
    freed = (problem.on_hand + problem.pipeline - projected_stock(problem)).sum(0)
    return dataclasses.replace(problem, capacity=np.maximum(problem.capacity - freed, 0))


def reference_cost(problem, cuts, capacity_basis, max_segments=16):
    """float64 cut cost of `cuts` in the reference model (the yardstick every method reports)."""
    upper = problem.order_upper_bound()
    room, _ = capacity_room(problem, capacity_basis)
    binding = np.flatnonzero(np.maximum(upper.sum(0) - room, 0) > 0)
    if binding.size == 0:
        return 0.0, None
    segments = build_cut_segments(problem, upper, binding, max_segments)
    return segments.cost(cuts), segments


def optimum_is_unique(segments, cuts, tolerance=1e-6) -> bool:
    """Per stage, every cut unit strictly cheaper than every uncut unit of another product, and
    no free uncut unit (else another optimum moves orders)."""
    filled = np.clip(cuts[segments.product, segments.stage] - segments.start, 0, segments.width)
    for stage in np.unique(segments.stage):
        here = segments.stage == stage
        cut, uncut = here & (filled > 0), here & (filled < segments.width)
        if not uncut.any() or not cut.any():
            continue
        if segments.slope[uncut].min() <= tolerance:
            return False
        top_cut = np.full(segments.n_products, -np.inf)
        np.maximum.at(top_cut, segments.product[cut], segments.slope[cut])
        low_uncut = np.full(segments.n_products, np.inf)
        np.minimum.at(low_uncut, segments.product[uncut], segments.slope[uncut])
        pairs = top_cut[:, None] >= low_uncut[None, :] * (1 - tolerance)
        np.fill_diagonal(pairs, False)  # a product's own units: the order does not move
        if pairs.any():
            return False
    return True


def check_instances(count: int, first_seed: int = 0) -> dict:
    """`count` instances per capacity basis, all kinds; asserts and returns the tallies."""
    seeds = range(first_seed, first_seed + count)
    problems = [make_instance(seed, KINDS[seed % len(KINDS)]) for seed in seeds]
    tally = {"instances": 0, "binding": 0, "unique": 0, "orders_equal_greedy": 0}
    for basis in CAPACITY_BASES:
        based = [for_basis(problem, basis) for problem in problems]
        out = solve_batch(based, basis)
        for i, problem in enumerate(based):
            milp = allocate(problem, "daily", capacity_basis=basis)
            greedy = allocate(problem, "greedy", capacity_basis=basis)
            cuts = np.asarray(out.cuts[i], np.int64)
            upper = problem.order_upper_bound()
            room, overflow = capacity_room(problem, basis)
            np.testing.assert_array_equal(out.upper[i], upper)
            np.testing.assert_array_equal(out.room[i], room)
            np.testing.assert_allclose(out.overflow[i], overflow, rtol=1e-6, atol=1e-4)
            np.testing.assert_array_equal(out.need[i], milp.info["need"])
            orders = upper - cuts
            assert np.all(orders >= 0) and np.all(cuts >= 0)
            np.testing.assert_array_equal(cuts.sum(0), out.need[i])  # greedy cuts exactly the need
            if basis == "position":  # the guarantee: stock + pipeline + orders within capacity
                committed = (problem.on_hand + problem.pipeline).sum(0)
                fits = committed + orders.sum(0) <= problem.capacity + 1e-9
                assert np.all(fits | (committed > problem.capacity))
                assert np.all(orders[:, committed > problem.capacity] == 0)
            cost, segments = reference_cost(problem, cuts, basis)
            assert cost == pytest.approx(milp.objective, rel=1e-6, abs=1e-9), (i, basis, KINDS[i % len(KINDS)])
            tally["instances"] += 1
            tally["orders_equal_greedy"] += int(np.array_equal(orders, greedy.orders))
            if segments is not None:
                tally["binding"] += 1
                if optimum_is_unique(segments, cuts):
                    tally["unique"] += 1
                    np.testing.assert_array_equal(orders, milp.orders)
                    np.testing.assert_array_equal(orders, greedy.orders)
    return tally


def test_jax_stage_equals_the_milp_on_random_instances():
    tally = check_instances(120)  # 360 instances over the three bases (measured: 221 binding, 179 unique)
    assert tally["instances"] == 360 and tally["binding"] >= 200 and tally["unique"] >= 150, tally
    assert tally["orders_equal_greedy"] >= 350, tally


@pytest.mark.slow
def test_jax_stage_equals_the_milp_on_1200_instances():
    tally = check_instances(1200, first_seed=10_000)
    assert tally["instances"] == 3600, tally


def test_non_power_of_two_segments_and_breakpoints():
    """max_segments=5: breakpoints round(U k / 5) half to even in integers, as the reference."""
    problems = [make_instance(seed, "binding") for seed in range(8)]
    out = solve_batch(problems, "position", max_segments=5)
    for i, problem in enumerate(problems):
        milp = allocate(problem, "daily", max_segments=5)
        cost, _ = reference_cost(problem, np.asarray(out.cuts[i], np.int64), "position", max_segments=5)
        assert cost == pytest.approx(milp.objective, rel=1e-6, abs=1e-9)
    upper = np.arange(0, 200, dtype=np.int32)
    breaks = np.asarray(jax_stage._breakpoints(upper, 10))
    from sc_jax.alloc.milp import round_half_even_ratio

    expected = np.where(upper[:, None] > 10, round_half_even_ratio(upper[:, None] * np.arange(11), 10),
                        np.minimum(np.arange(11), upper[:, None]))
    np.testing.assert_array_equal(breaks, expected)
    assert round_half_even_ratio(np.array([45 * 7, 5, 15, 25]), 10).tolist() == [32, 0, 2, 2]


def test_normal_loss_matches_float64():
    """The rational normal loss against scipy in float64: 1e-6 relative for |z| < 5, 5e-6 out to
    13 (the float32 rounding of z^2 / 2 inside exp); 0, not NaN, for huge |z| (sigma at its 1e-9
    floor)."""
    from scipy.special import erfcx

    a = np.concatenate([np.linspace(0.0, 13.0, 4001), np.geomspace(1e-6, 13.0, 500)]).astype(np.float32)
    a64 = a.astype(np.float64)
    exact = np.exp(-0.5 * a64 ** 2) / np.sqrt(2 * np.pi) * (1 - a64 * np.sqrt(np.pi / 2) * erfcx(a64 / np.sqrt(2)))
    got = np.asarray(jax.jit(jax_stage._normal_loss_abs)(np.concatenate([a, -a])), np.float64)
    near = a < 5
    np.testing.assert_allclose(got[: a.size][near], exact[near], rtol=1e-6)
    np.testing.assert_allclose(got[: a.size], exact, rtol=5e-6, atol=1e-37)
    np.testing.assert_array_equal(got[: a.size], got[a.size:])  # G(|z|): even
    huge = np.asarray(jax_stage._normal_loss_abs(np.array([30.0, 1e10, -3e38, np.inf], np.float32)))
    assert np.all(np.isfinite(huge)) and np.all(huge == 0.0)


def _sorted_threshold(slope, width, need):
    """The need-th cheapest unit's slope by sorting (the definition)."""
    order = np.argsort(slope, kind="stable")
    return slope[order][np.searchsorted(np.cumsum(width[order]), need)]


def test_threshold_search_is_exact_on_ties_and_near_ties():
    """The threshold search against sorting: exact ties across products, values a few float32
    ulps apart, every slope equal, need = all units, good, bad and no hints."""
    rng = np.random.default_rng(7)
    K, B, N = 16, 8, 40
    search = jax.jit(jax_stage._threshold)
    for trial in range(12):
        upper = rng.integers(0, 50, (B, N)).astype(np.int32)
        breaks = np.asarray(jax_stage._breakpoints(upper, K, axis=0))
        width = (breaks[1:] - breaks[:-1]).astype(np.int32)
        base = np.float32(rng.uniform(0.5, 20.0))
        if trial % 3 == 0:  # few distinct values: ties across products and within a product
            slope = rng.choice(np.array([1.0, 2.0, 4.17, 8.6], np.float32), (K, B, N))
        elif trial % 3 == 1:  # clusters a few ulps apart
            slope = np.nextafter(base, np.float32(np.inf)) * np.ones((K, B, N), np.float32)
            slope = (slope.view(np.int32) + rng.integers(-20, 20, (K, B, N)).astype(np.int32)).view(np.float32)
        else:
            slope = rng.lognormal(0.0, 2.0, (K, B, N)).astype(np.float32)
        slope = np.where(width > 0, np.sort(slope, axis=0), np.inf).astype(np.float32)
        if trial == 3:
            slope = np.where(width > 0, base, np.inf).astype(np.float32)  # every slope equal
        total = width.sum(axis=(0, 2))
        need = np.minimum(rng.integers(1, np.maximum(total, 1) + 1), total).astype(np.int32)
        need[0] = total[0]  # every unit
        truth = np.array([_sorted_threshold(slope[:, b].ravel(), width[:, b].ravel(), need[b]) if need[b] > 0
                          else np.nan for b in range(B)], np.float32)
        for hint in (np.full(B, -1.0, np.float32), truth * np.float32(1.001), truth / 30, truth):
            found, _ = search(slope, upper, need, np.nan_to_num(hint, nan=-1.0).astype(np.float32))
            np.testing.assert_array_equal(np.asarray(found)[need > 0], truth[need > 0], err_msg=f"trial {trial}")


def test_allocate_method_jax_returns_an_allocation_result():
    problem = random_problem(3, 9, tightness=0.6)
    jax_result = allocate(problem, "jax", max_segments=None, time_limit=1.0)
    daily = allocate(problem, "daily", max_segments=None)
    assert jax_result.method == "jax" and jax_result.status == "optimal" and not jax_result.fallback
    assert jax_result.orders.dtype == np.int64 and jax_result.orders.shape == (9, 3)
    assert jax_result.objective == pytest.approx(daily.objective, rel=1e-6)
    assert jax_result.info["jax_objective"] == pytest.approx(daily.objective, rel=1e-4)
    np.testing.assert_array_equal(jax_result.overflow, daily.overflow)
    loose = allocate(dataclasses.replace(problem, capacity=problem.capacity + 1e4), "jax", max_segments=None)
    assert loose.status == "not_binding" and loose.objective == 0.0
    np.testing.assert_array_equal(loose.orders, problem.order_upper_bound())


def test_vmap_of_the_single_instance_function_equals_the_batch():
    problems = [make_instance(seed, KINDS[seed % len(KINDS)]) for seed in range(8)]
    stack = lambda name, dtype: np.stack([getattr(p, name).astype(dtype) for p in problems])
    args = (stack("desired_orders", np.int32), stack("on_hand", np.int32), stack("pipeline", np.int32),
            stack("holding_cost", np.float32), stack("shortage_cost", np.float32),
            stack("supply_capacity", np.int32), stack("forecast_mean", np.float32), stack("forecast_std", np.float32),
            stack("lead_times", np.int32), stack("capacity", np.float32))
    mapped = jax.jit(jax.vmap(jax_stage.daily_allocation))(*args)
    batched = _batch("position", 16)(*args)
    np.testing.assert_array_equal(mapped.orders, batched.orders)
    np.testing.assert_array_equal(mapped.need, batched.need)


@pytest.mark.parametrize("options, message", [
    (dict(capacity_basis="physical"), "'capacity_basis' must be one of ('position', 'expected', 'projected'), got 'physical'"),
    (dict(max_segments=0), "'max_segments' must be None or an integer >= 1, got 0"),
    (dict(min_cut_cost_fraction=-1.0), "'min_cut_cost_fraction' must be a finite number >= 0, got -1.0"),
    (dict(band_size=10), "'options' of method 'jax' must be among ('max_segments', 'capacity_basis', "
                         "'min_cut_cost_fraction'), got unknown 'band_size'"),
    (dict(time_limit=0), "'time_limit' must be None or a number > 0 (seconds), got 0"),
])
def test_bad_options_raise_config_error(options, message):
    with pytest.raises(ConfigError) as error:
        allocate(random_problem(0, 4), "jax", **options)
    assert str(error.value) == message


def test_pure_function_rejects_bad_static_options():
    problem = random_problem(0, 4)
    args = (problem.desired_orders, problem.on_hand, problem.pipeline, problem.holding_cost, problem.shortage_cost,
            problem.supply_capacity, problem.forecast_mean, problem.forecast_std, problem.lead_times, problem.capacity)
    with pytest.raises(ConfigError, match=r"^'max_segments' must be an integer >= 1, got None$"):
        jax_stage.daily_allocation(*args, max_segments=None)
    with pytest.raises(ConfigError, match=r"^'capacity_basis' must be one of \('position', 'expected', 'projected'\), got 'x'$"):
        jax_stage.daily_allocation(*args, capacity_basis="x")
    with pytest.raises(ConfigError, match=r"^'min_cut_cost_fraction' must be a finite number >= 0, got nan$"):
        jax_stage.daily_allocation(*args, min_cut_cost_fraction=float("nan"))
    with pytest.raises(ConfigError, match=r"^'desired_orders' must be a 2-D array"):
        jax_stage.daily_allocation(problem.desired_orders[0], *args[1:])
    big = dataclasses.replace(problem, on_hand=problem.on_hand + 2**24)
    with pytest.raises(ConfigError, match=r"^'on_hand' must be integers < 2\*\*24 for method 'jax'"):
        allocate(big, "jax")


def test_projected_stock_by_hand():
    """The projected basis's stock on each stage's arrival day, computed by hand: the retailer sells
    the rounded forecast out of stock + arrivals, an upper stage ships it out of its stock before
    the day's arrivals, capped by the supply capacity of the stage below (stage 2 here: 3)."""
    problem = AllocationProblem(
        desired_orders=[[0, 0, 0]], on_hand=[[3, 6, 9]], pipeline=[[10, 14, 4]],
        pipeline_by_day=[[[5, 5, 0, 0], [0, 7, 7, 0], [1, 1, 1, 1]]],
        holding_cost=[[0.1, 0.1, 0.1]], shortage_cost=[[1.0, 1.0, 1.0]], supply_capacity=[[100, 3, 100]],
        forecast_mean=[[4.4, 4.5, 5.5, 4.6, 9.0]], forecast_std=[[1.0] * 5], lead_times=[2, 3, 4],
        capacity=[100, 100, 100])
    # retailer: 3+5-4 = 4, 4+5-4 = 5; stage 1: 6-4 = 2, 2+7-2 = 7, 7+7-6 = 8;
    # stage 2: 9+1-3 = 7, 5, 3, 3+1-3 = 1 (forecast rounded half to even: 4, 4, 6, 5)
    np.testing.assert_array_equal(projected_stock(problem), [[5, 8, 1]])
    stage_major = lambda x: np.moveaxis(np.asarray(x), 1, 0)[:, None]  # [N, M] -> [M, 1, N]
    in_jax = jax_stage.projected_stock(stage_major(problem.on_hand).astype(np.int32),
                                       np.transpose(problem.pipeline_by_day, (2, 1, 0))[:, :, None].astype(np.int32),
                                       problem.forecast_mean.T[:, None].astype(np.float32),
                                       problem.lead_times[:, None].astype(np.int32),
                                       stage_major(problem.supply_capacity).astype(np.int32))
    np.testing.assert_array_equal(np.asarray(in_jax)[:, 0, 0], [5, 8, 1])
    room, overflow = capacity_room(problem, "projected")
    np.testing.assert_array_equal(room, [95, 92, 99])
    assert capacity_room(problem, "position")[0].tolist() == [87, 80, 87]


def test_projected_basis_rounds_float64_forecasts_as_the_reference():
    """Forecasts a hair off a half (float64 2.5 + 1e-9 is 2.5 in float32): the JAX stage rounds
    hi + lo exactly as the reference's np.rint of the float64 value, so the projected room and the
    orders agree (with the float32 part alone, the retailer's projected stock would be 4 units higher)."""
    base = AllocationProblem(
        desired_orders=[[6, 6, 6]] * 4, on_hand=[[12, 12, 12]] * 4, pipeline=[[0, 0, 0]] * 4,
        pipeline_by_day=np.zeros((4, 3, 2), np.int64), holding_cost=[[0.1, 0.1, 0.1]] * 4,
        shortage_cost=[[1.0, 1.0, 1.0]] * 4, supply_capacity=[[100, 100, 100]] * 4,
        forecast_mean=[[2.5 + 1e-9] * 3, [2.5 + 1e-9] * 3, [4.5 + 1e-9] * 3, [3.5 - 1e-9] * 3],
        forecast_std=[[1.0] * 3] * 4, lead_times=[2, 2, 2], capacity=[40, 40, 40])
    assert np.rint(base.forecast_mean[:, 0]).tolist() == [3, 3, 5, 3]  # float32 alone: 2, 2, 4, 4
    for problem in (base, dataclasses.replace(base, forecast_mean=np.rint(base.forecast_mean) + 0.5)):
        room = capacity_room(problem, "projected")[0]
        daily = allocate(problem, "daily", capacity_basis="projected", max_segments=None)
        jax_result = allocate(problem, "jax", capacity_basis="projected", max_segments=None)
        need = np.maximum(problem.order_upper_bound().sum(0) - room, 0)
        assert jax_result.info["need"] == need.tolist() and (need[0] > 0 or problem is not base)
        np.testing.assert_array_equal(jax_result.orders.sum(0), daily.orders.sum(0))
        assert jax_result.objective == pytest.approx(daily.objective, rel=1e-6)
    hi = np.array([2.5, 3.5, 2.5, 3.5, 2.5, -0.5, 0.4999999701976776], np.float32)
    lo = np.array([1e-12, -1e-12, 0.0, 0.0, -1e-12, -1e-12, 0.0], np.float32)
    expected = np.rint(hi.astype(np.float64) + lo.astype(np.float64))
    np.testing.assert_array_equal(np.asarray(jax_stage._round_half_even(hi, lo)), expected)


def test_projected_basis_needs_the_arrival_schedule():
    problem = dataclasses.replace(random_problem(3, 4), pipeline_by_day=None)
    with pytest.raises(ConfigError, match=r"^capacity_basis 'projected' needs 'pipeline_by_day'"):
        capacity_room(problem, "projected")
    with pytest.raises(ConfigError, match=r"^capacity_basis 'projected' needs 'pipeline_by_day'"):
        allocate(problem, "jax", capacity_basis="projected")
    with pytest.raises(ConfigError, match=r"^capacity_basis 'projected' needs 'pipeline_by_day'"):
        jax_stage.daily_allocation(problem.desired_orders, problem.on_hand, problem.pipeline, problem.holding_cost,
                                   problem.shortage_cost, problem.supply_capacity, problem.forecast_mean,
                                   problem.forecast_std, problem.lead_times, problem.capacity,
                                   capacity_basis="projected")
