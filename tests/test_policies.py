"""Classical policies on hand-checkable states, their equivalences, and parameter validation."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.errors import ConfigError
from sc_jax.policies import (SafetyRange, SSParams, base_stock, constant_order, order_up_to,
                             inventory_position, random_safety, random_safety_stock, s_S,
                             validate_constant, validate_levels, validate_s_S,
                             validate_safety_range, validate_safety_stock)

ENV, PARAMS = sc_jax.make("orgym_v0")  # OR-Gym defaults: c [100, 90, 80], L [3, 5, 10], Poisson(20)


def state_with(on_hand, in_transit_stage=None, backlog=None):
    """Period-0 state with given on hand [3]; optional units in transit (arriving next period)."""
    _, state = ENV.reset_with_demand(PARAMS, ENV.stationary_path(jnp.zeros(30, jnp.int32), PARAMS))
    state = state.replace(on_hand=jnp.asarray(on_hand, jnp.int32))
    if in_transit_stage is not None:
        schedule = state.arrival_schedule.at[1].set(jnp.asarray(in_transit_stage, jnp.int32))
        state = state.replace(arrival_schedule=schedule)
    if backlog is not None:
        state = state.replace(backlog_units=jnp.asarray(backlog, jnp.int32))
    return state


def test_base_stock_orders_up_to_echelon_levels():
    state = state_with([10, 20, 30])  # echelon positions [10, 30, 60]
    np.testing.assert_array_equal(base_stock(jnp.array([15., 50., 100.]), state, PARAMS), [5, 20, 40])
    # stage 0 wants 90, supplier (stage 1) holds 20; stage 1 wants 70, holds 30; stage 2: 140 > c=80
    np.testing.assert_array_equal(base_stock(jnp.array([100., 100., 200.]), state, PARAMS), [20, 30, 80])
    # in transit and backlog owed count in the position: [10+5, 20+0, 30+0] - backlog [3, 0, 0]
    state = state_with([10, 20, 30], in_transit_stage=[5, 0, 0], backlog=[3, 0, 0, 0])
    np.testing.assert_array_equal(base_stock(jnp.array([15., 50., 100.]), state, PARAMS), [3, 18, 38])


def test_order_up_to_covers_forecast_over_lead_time_plus_safety():
    # forecast 20/period over L+1 periods: [80, 120, 220]; + safety 5; position [100, 100, 200]
    state = state_with([100, 100, 200])
    np.testing.assert_array_equal(order_up_to(jnp.array([5., 5., 5.]), state, PARAMS), [0, 25, 25])
    state = state_with([10, 30, 200])  # stage 0 wants 75, its supplier holds 30
    np.testing.assert_array_equal(order_up_to(jnp.array([5., 5., 5.]), state, PARAMS), [30, 95 - 5, 25])


def test_inventory_position_is_the_echelon_position():
    state = state_with([10, 20, 30], in_transit_stage=[5, 0, 7], backlog=[3, 4, 0, 0])
    # cumsum of on hand + in transit - owed by the stage: [10+5-3, 20-4, 30+7]
    np.testing.assert_array_equal(inventory_position(state), [12, 28, 65])
    np.testing.assert_array_equal(state.in_transit, [5, 0, 7])
    np.testing.assert_array_equal(state.backlog_units, [3, 4, 0, 0])


def test_s_S_orders_only_at_or_below_reorder_point():
    state = state_with([10, 20, 30])  # echelon positions [10, 30, 60]
    ss = SSParams(jnp.array([10., 20., 60.]), jnp.array([50., 80., 100.]))
    # stage 0 at s -> wants 40, capped by supplier stock 20; stage 1 above s; stage 2 at s -> 40
    np.testing.assert_array_equal(s_S(ss, state, PARAMS), [20, 0, 40])


def test_s_S_with_s_equal_S_minus_one_is_base_stock():
    rng = np.random.default_rng(0)
    for _ in range(20):
        state = state_with(rng.integers(0, 150, 3), in_transit_stage=rng.integers(0, 60, 3),
                           backlog=np.append(rng.integers(0, 30, 3), 0))
        levels = jnp.asarray(np.cumsum(rng.integers(0, 200, 3)), jnp.float32)
        np.testing.assert_array_equal(s_S(SSParams(levels - 1, levels), state, PARAMS),
                                      base_stock(levels, state, PARAMS))


def test_constant_order_is_capped():
    np.testing.assert_array_equal(constant_order(jnp.array([30, 30, 30]), state_with([0, 10, 0]), PARAMS),
                                  [10, 0, 30])
    np.testing.assert_array_equal(constant_order(jnp.array([500, 5, 500]), state_with([0, 1000, 1000]), PARAMS),
                                  [100, 5, 80])


def test_random_safety_stock_draws_within_range_from_the_key():
    state = state_with([60, 100, 200])
    low, high = jnp.array([0, 0, 0]), jnp.array([20, 20, 20])
    policy = jax.jit(random_safety_stock)
    keys = jax.random.split(jax.random.PRNGKey(0), 64)
    actions = np.stack([np.asarray(policy(SafetyRange(low, high), state, PARAMS, k)) for k in keys])
    lo = np.asarray(order_up_to(low, state, PARAMS))
    hi = np.asarray(order_up_to(high, state, PARAMS))
    assert np.all(actions >= lo) and np.all(actions <= hi)
    assert len({tuple(a) for a in actions}) > 5  # it does vary with the key
    np.testing.assert_array_equal(policy(SafetyRange(low, high), state, PARAMS, keys[0]), actions[0])
    # a degenerate range is plain order-up-to
    fixed = SafetyRange(jnp.array([7, 7, 7]), jnp.array([7, 7, 7]))
    np.testing.assert_array_equal(policy(fixed, state, PARAMS, keys[1]), order_up_to(jnp.array([7., 7., 7.]), state, PARAMS))


def test_random_safety_decision_rule_and_range_through_jit():
    """random_safety (the safety-stock env's decision rule) draws integers in [low, high]; a
    SafetyRange is a pytree, so it crosses jit and vmap."""
    state = state_with([60, 100, 200])
    safety = SafetyRange([0, 5, 10], [2, 5, 20])
    keys = jax.random.split(jax.random.PRNGKey(1), 256)
    draws = np.asarray(jax.jit(jax.vmap(random_safety, in_axes=(None, None, None, 0)))(safety, state, PARAMS, keys))
    assert draws.shape == (256, 3) and draws.dtype == np.int32
    assert np.all(draws >= [0, 5, 10]) and np.all(draws <= [2, 5, 20])
    assert set(draws[:, 0]) == {0, 1, 2} and set(draws[:, 1]) == {5}  # high inclusive


@pytest.mark.parametrize("call, match", [
    (lambda: validate_levels([1.0, 2.0], PARAMS), r"shape \[\.\.\., 3\]"),
    (lambda: validate_levels([1.0, np.nan, 2.0], PARAMS), "finite"),
    (lambda: validate_levels("abc", PARAMS), "numeric"),
    (lambda: validate_s_S([10, 50, 20], [20, 40, 30], PARAMS), "s <= S"),
    (lambda: validate_s_S([10, 20], [20, 40, 30], PARAMS), "reorder point"),
    (lambda: validate_constant([1, -1, 2], PARAMS), ">= 0"),
    (lambda: validate_constant([1.5, 1, 2], PARAMS), "integers"),
    (lambda: validate_safety_stock([1, np.inf, 2], PARAMS), "finite"),
    (lambda: validate_safety_range([0, 5, 0], [1, 4, 1], PARAMS), "'low' must be <= 'high'"),
    (lambda: SafetyRange([0, 5, 0], [1, 4, 1]), r"'low' must be <= 'high'.*low=\[0, 5, 0\]"),
    (lambda: SafetyRange([0, 0.5, 0], [1, 4, 1]), "must hold integers"),
    (lambda: SafetyRange([0, 0], [1, 4, 1]), "same shape"),
])
def test_bad_policy_parameters_get_clear_errors(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def test_validation_returns_policy_ready_arrays():
    assert validate_levels([[1, 2, 3], [4, 5, 6]], PARAMS).shape == (2, 3)  # candidate batches
    s, S = validate_s_S([1, 2, 3], [1, 3, 5], PARAMS)
    assert s.dtype == jnp.float32 and S.dtype == jnp.float32
    assert validate_constant([1, 2, 3], PARAMS).dtype == jnp.int32


def relaxed(state):
    """`state` with float32 quantities, as the relaxed (differentiable) env holds them
    (sc_jax.agents.hdpo); the period index stays int32."""
    f = lambda xs: jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), xs)
    return state.replace(stock=f(state.stock), due=f(state.due), requests=f(state.requests), owed=f(state.owed))


def test_order_up_to_keeps_the_state_dtype_with_a_straight_through_ceil():
    """Exact (int32) state: int32 orders as always. Relaxed (float32) state: the same values as
    float32, and the gradient reaches the safety stock (d order / d safety = 1 while the order is
    neither 0 nor capped by the supplier's stock or the capacity, 0 where it is): what HDPO trains
    the safety-stock brain through."""
    from sc_jax.policies import desired_orders

    for on_hand, transit in (([100, 100, 200], None), ([10, 30, 200], None), ([3, 50, 7], [1, 2, 3])):
        state = state_with(on_hand, in_transit_stage=transit)
        float_state = relaxed(state)
        assert float_state.on_hand.dtype == jnp.float32 and float_state.time.dtype == jnp.int32
        for safety in (jnp.array([5., 5., 5.]), jnp.array([0.3, 17.5, 2.9]), jnp.array([0., 0., 0.])):
            exact = order_up_to(safety, state, PARAMS)
            assert exact.dtype == jnp.int32
            orders = order_up_to(safety, float_state, PARAMS)
            assert orders.dtype == jnp.float32
            np.testing.assert_array_equal(np.asarray(orders), np.asarray(exact, np.float32))
            np.testing.assert_array_equal(np.asarray(desired_orders(safety, float_state, PARAMS)),
                                          np.asarray(desired_orders(safety, state, PARAMS), np.float32))
    # forecast 20/period over L+1 periods [80, 120, 220] + 5.2 -> targets [86, 126, 226]; position
    # [10, 60, 200]: stage 0 wants 76 but its supplier holds 60 (capped: 0), stage 1 orders 66 <
    # capacity 90 (1), stage 2 orders 26 < 80 (1)
    state = relaxed(state_with([10, 60, 200]))
    np.testing.assert_array_equal(np.asarray(order_up_to(jnp.full((3,), 5.2), state, PARAMS)), [60, 66, 26])
    jac = jax.jacobian(lambda s: order_up_to(s, state, PARAMS))(jnp.array([5.2, 5.2, 5.2]))
    np.testing.assert_array_equal(np.asarray(jac), np.diag([0.0, 1.0, 1.0]))
    # an order of 0 (position above the target) passes no gradient either
    state = relaxed(state_with([200, 200, 300]))
    assert float(jnp.abs(jax.jacobian(lambda s: order_up_to(s, state, PARAMS))(jnp.full((3,), 5.2))).max()) == 0.0


def test_cap_order_keeps_the_state_dtype():
    from sc_jax.policies import cap_order

    state = state_with([0, 10, 0])
    wish = jnp.array([30, 30, 500])
    capped = cap_order(wish, state, PARAMS)
    assert capped.dtype == jnp.int32
    np.testing.assert_array_equal(capped, [10, 0, 80])
    float_capped = cap_order(wish.astype(jnp.float32), relaxed(state), PARAMS)
    assert float_capped.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(float_capped), [10.0, 0.0, 80.0])
