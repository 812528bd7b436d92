"""The hybrid sample's semantics (a static switch of the one step), its instances (random initial
stock, random start day, rounded costs, 25 per SKU of shared capacity) and its figure metrics."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.env import make_env, rollout
from sc_jax.env.hybrid_sample import hybrid_sample_catalog, sample_costs
from sc_jax.env.rollout import sample_paths
from sc_jax.errors import ConfigError
from sc_jax.sample_metrics import (PUBLISHED_MULTI_SKU, PUBLISHED_SINGLE_SKU, REFERENCE_REIMPLEMENTATION,
                                   mean_standard_error, notebook_cost, notebook_daily_cost, step_points)


def _two_stage(semantics, backlog=False):
    return make_env(periods=4, I0=[3, 2], p=0.0, r=[0, 0, 0], k=[1.0, 0.5, 0.25], h=[0.1, 0.05], c=[10, 10],
                    L=[1, 1], backlog=backlog, alpha=1.0, demand="user", user_demand=[[4, 4, 4, 4]],
                    charge_capacity_shortfall=False, supply_semantics=semantics)


def _steps(env, params, actions):
    _, state = env.reset(jax.random.PRNGKey(0), params)
    out = []
    for a in actions:
        _, state, reward, _, info = env.step_env(None, state, jnp.array(a), params)
        out.append((float(reward), info))
    return out


def test_sample_semantics_hand_computed():
    """Day 0: on hand [3, 2], demand 4, orders [5, 6], lead times 1.
    Retail sells 3 (1 lost, k 1.0); stage 1 holds 2 of the 5 ordered: it sells 2 and is charged
    3 missed (k 0.5), yet all 5 arrive tomorrow; the plant ships 6. Cost 1 + 1.5 = 2.5.
    Day 1: arrivals [5, 6]; retail sells 4 (1 left); stage 1 ships 5 of its 6 (1 left):
    holding 0.1 + 0.05 = 0.15. Day 2: retail 1 + 5 arriving, sells 4 (2 left); stage 1 holds 1
    (nothing arrives) of the 5 ordered: 1 sold, 4 missed (2.0), yet all 5 will arrive."""
    env, params = _two_stage("sample")
    (r0, i0), (r1, i1), (r2, i2) = _steps(env, params, [[5, 6], [5, 0], [5, 0]])
    assert r0 == pytest.approx(-2.5) and r1 == pytest.approx(-0.15)
    assert i0.sales.tolist() == [3, 2, 6] and i0.accepted.tolist() == [5, 6]
    assert i0.lost.tolist() == [1, 3, 0] and i0.on_hand.tolist() == [0, 0]
    assert i1.arrivals.tolist() == [5, 6] and i1.on_hand.tolist() == [1, 1] and i1.lost.tolist() == [0, 0, 0]
    assert i2.arrivals.tolist() == [5, 0] and i2.sales.tolist() == [4, 1, 0] and i2.lost.tolist() == [0, 4, 0]
    assert i2.on_hand.tolist() == [2, 0] and i2.accepted.tolist() == [5, 0]
    assert r2 == pytest.approx(-(0.5 * 4 + 0.1 * 2))


def test_exact_semantics_on_the_same_case():
    """Exact (OR-Gym): stage 1 ships only the 2 it holds (3 unfilled, charged 0.5 each), so only 2
    arrive."""
    env, params = _two_stage("exact")
    (r0, i0), (r1, i1) = _steps(env, params, [[5, 6], [0, 0]])
    assert i0.accepted.tolist() == [2, 6] and i0.lost.tolist() == [1, 3, 0] and r0 == pytest.approx(-2.5)
    assert i1.arrivals.tolist() == [2, 6]


def test_sample_semantics_with_backlog_charges_but_never_owes_delivered_units():
    env, params = _two_stage("sample", backlog=True)
    (_, i0), = _steps(env, params, [[5, 6]])
    assert i0.unfilled.tolist() == [1, 3, 0] and i0.backlogged.tolist() == [1, 0, 0]
    assert i0.lost.tolist() == [0, 3, 0]


def test_semantics_is_static_and_checked():
    env, _ = sc_jax.make("hybrid", cost_ratio=10.0)
    assert env.supply_semantics == "exact"
    with pytest.raises(ConfigError, match="'supply_semantics'"):
        env.replace(supply_semantics="loose")
    with pytest.raises(ConfigError, match="'supply_semantics'"):
        make_env(supply_semantics="loose")
    with pytest.raises(ConfigError, match="'semantics'"):
        sc_jax.make("hybrid_sample", semantics="loose")


def test_hybrid_sample_instance():
    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=3)
    assert env.supply_semantics == "sample" and env.periods == 200 and env.forecast_window >= 11
    np.testing.assert_allclose(params.unit_shortage_cost, [0.10, 0.08, 0.05, 0.02])
    np.testing.assert_allclose(params.unit_holding_cost, [0.001, 0.0008, 0.0005], rtol=1e-6)
    assert not bool(params.charge_capacity_shortfall) and not bool(params.backlog)
    assert params.lead_time.tolist() == [2, 3, 4] and params.supply_capacity.tolist() == [100, 90, 80]
    keys = jax.random.split(jax.random.PRNGKey(0), 64)
    paths = sample_paths(env, params, keys)
    start = np.asarray(paths.initial_on_hand)
    assert start.min() == 5 and start.max() == 9 and start.shape == (64, 3)
    # reset draws the same initial stock and path as the rollout's sample_paths (one key, one episode)
    _, state = env.reset(keys[3], params)
    np.testing.assert_array_equal(state.on_hand, start[3])
    assert int(state.in_transit.sum()) == 0
    np.testing.assert_array_equal(state.demand.actual, paths.actual[3])
    exact_env, exact = sc_jax.make("hybrid_sample", cost_ratio=100.0, semantics="exact")
    assert exact_env.supply_semantics == "exact"
    np.testing.assert_array_equal(sample_paths(exact_env, exact, keys).initial_on_hand, start)  # CRN
    with pytest.raises(ConfigError, match=r"\['I0', 'k'\]"):
        sc_jax.make("hybrid_sample", k=[1, 1, 1, 1], I0=[1, 1, 1])


def test_random_start_day_follows_the_series():
    """With randvar 1 the forecast is floor(offset + amp1 sin(ph1 x) + amp2 sin(ph2 x)) at
    x = s + 1, s + 2, ... for the episode's start day s in [0, 306)."""
    env, params = sc_jax.make("hybrid_sample", cost_ratio=10.0, periods=30)
    keys = jax.random.split(jax.random.PRNGKey(1), 12)
    means = np.asarray(sample_paths(env, params, keys).forecast_mean)
    x_all = np.arange(1, 306 + means.shape[1] + 1, dtype=np.float32)
    series = np.floor(20 + 5 * np.sin(np.float32(0.02) * x_all) + 3 * np.sin(np.float32(0.05) * x_all))
    starts = []
    for row in means:
        hits = [s for s in range(306) if np.array_equal(series[s:s + row.size], row)]
        assert hits, "no start day reproduces the path's forecast"
        starts.append(hits[0])
    assert len(set(starts)) > 6  # random starts
    hybrid_env, hybrid = sc_jax.make("hybrid", cost_ratio=10.0, periods=30)  # start_days 1: day 0
    first = np.asarray(sample_paths(hybrid_env, hybrid, keys).forecast_mean)
    assert all(np.array_equal(series[: first.shape[1]], row) for row in first)


def test_bad_instance_settings_name_the_field():
    with pytest.raises(ConfigError, match="'I0_high'"):
        make_env(I0=[5, 5, 5], I0_high=[5, 9, 9])
    with pytest.raises(ConfigError, match="'start_days'"):
        make_env(demand="forecast", demand_params={"start_days": 0})
    with pytest.raises(ConfigError, match="'capacity_per_sku'"):
        hybrid_sample_catalog(4, 10.0, capacity_per_sku=-1)


def test_catalog_shares_25_per_sku_and_runs_under_both_semantics():
    for semantics in ("sample", "exact"):
        env, params = hybrid_sample_catalog(5, 100.0, semantics=semantics, periods=20, sigma_max=4)
        assert env.couple_products and env.supply_semantics == semantics
        np.testing.assert_allclose(params.shared_capacity[0], [125, 125, 125])
        k, h = sample_costs(np.arange(5), 100.0)
        np.testing.assert_allclose(params.unit_shortage_cost, k, rtol=1e-6)
        np.testing.assert_allclose(params.unit_holding_cost, h, rtol=1e-6)
        keys = jax.random.split(jax.random.PRNGKey(2), 5)
        order = lambda _, state, p, key: jnp.full((3,), 20, jnp.int32)
        reward, overflow, _ = jax.jit(lambda keys: rollout(env, order, None, params, keys,
                                                           collect=lambda tr: tr.info.overflow))(keys)
        assert reward.shape == (5,) and np.all(np.isfinite(reward))


# --- the figure metrics ------------------------------------------------------------------------

def test_notebook_metric_by_hand():
    T = 25
    lost = np.zeros((T, 4))
    on_hand = np.zeros((T, 3))
    lost[19] = [100, 100, 100, 100]  # day 19 does not count (iteration 20)
    lost[20] = [1, 2, 3, 50]  # the plant's entry is dropped
    on_hand[24] = [10, 20, 30]
    cost = notebook_cost(lost, on_hand, 100.0)
    expected = 0.15 * 1 + 0.10 * 2 + 0.05 * 3 + (0.15 * 10 + 0.10 * 20 + 0.05 * 30) / 100
    assert cost == pytest.approx(expected)
    batch = notebook_daily_cost(np.stack([lost, 2 * lost], 1), np.stack([on_hand, on_hand], 1), 10.0)
    assert batch.shape == (T, 2)
    with pytest.raises(ConfigError, match="'cost_ratio'"):
        notebook_cost(lost, on_hand, 0.0)


def test_multi_sku_points_and_standard_error():
    day_cost = np.arange(200.0)[:, None] * np.ones((1, 3))  # [T, episodes]
    points = step_points(day_cost)
    assert points.shape == (19, 3) and points[0, 0] == 19 and points[-1, 0] == 199
    mean, se = mean_standard_error(points)
    assert mean == pytest.approx(109.0) and se == pytest.approx(points.std(ddof=1) / np.sqrt(57))


def test_published_tables_are_complete():
    for ratio, table in PUBLISHED_SINGLE_SKU.items():
        for mean, std in table.values():
            assert len(mean) == len(std) == 11
    assert all(len(v) == 9 for t in PUBLISHED_MULTI_SKU.values() for v in t.values())
    assert REFERENCE_REIMPLEMENTATION["mip_mixed_notebook_r100"][6] == 25.11


def test_coordinate_search_moves_to_the_minimum_within_bounds():
    from sc_jax.hybrid_reproduction import coordinate_search

    target = np.array([7.0, -3.0, 12.0])
    calls = []

    def cost(x):
        calls.append(np.asarray(x).copy())
        return float(np.sum(np.abs(np.asarray(x) - target)))

    best, value, evaluated = coordinate_search(cost, [0.0, 0.0, 0.0], [5, 2, 1], low=0.0, high=10.0, integer=True)
    assert best.tolist() == [7.0, 0.0, 10.0] and value == cost(best) and evaluated == len(calls) - 1
    assert all(np.all((c >= 0) & (c <= 10) & (c == np.round(c))) for c in calls)
    again = coordinate_search(cost, [0.0, 0.0, 0.0], [5, 2, 1], low=0.0, high=10.0, integer=True)
    assert again[0].tolist() == best.tolist() and again[2] == evaluated  # deterministic
    start, start_value, n = coordinate_search(cost, [7.0, 0.0, 10.0], [], low=0.0, high=10.0)
    assert start.tolist() == [7.0, 0.0, 10.0] and n == 1  # no steps: the start, evaluated once
