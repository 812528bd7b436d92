"""The hybrid deployment loop (sc_jax.hybrid): decisions + order-up-to wishes + capacity stage +
coupled env step, over a small catalog (6 products, 40 days)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sc_jax.env.catalog import make_catalog
from sc_jax.env.wrappers import SafetyStockEnv, fixed_safety_stock
from sc_jax.errors import ConfigError
from sc_jax.hybrid import (StaticByRatio, make_day_functions, make_hybrid_functions, run_hybrid,
                           static_by_ratio)

N, T = 6, 40
SAFETY = jnp.array([4, 12, 12])


def catalog(capacity):
    return make_catalog(jax.random.PRNGKey(0), N, shared_capacity=capacity, sigma_max=4, periods=T)


@pytest.fixture(scope="module")
def loose():
    env, params = catalog([1e6, 1e6, 1e6])
    return env, params, make_hybrid_functions(env, params, fixed_safety_stock)


def test_capacity_not_binding_gives_the_single_product_simulation(loose):
    env, params, fns = loose
    assert env.couple_products and params.initial_inventory.shape == (N, 3)
    key = jax.random.PRNGKey(7)
    daily = run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="daily", functions=fns)
    none = run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="none", functions=fns)
    assert daily.statuses == {"not_binding": T}
    np.testing.assert_array_equal(daily.cost, none.cost)
    np.testing.assert_array_equal(daily.refused_units, 0)
    # each product alone, from the same reset key, in the brain's training env (10-day macro steps)
    reset_keys = jax.random.split(jax.random.split(key)[0], N)
    brain_env = SafetyStockEnv(env.replace(couple_products=False), action_frequency=10)
    assert brain_env.episode_length == T // 10
    step = jax.jit(brain_env.step_env)
    for i in range(N):
        p = jax.tree.map(lambda x, i=i: x[i], params)
        _, state = brain_env.reset(reset_keys[i], p)
        cost = 0.0
        for _ in range(brain_env.episode_length):
            _, state, reward, done, info = step(jax.random.PRNGKey(0), state, SAFETY, p)
            cost -= float(reward)
        assert bool(done)
        np.testing.assert_allclose(daily.cost[i], cost, rtol=1e-5)
        np.testing.assert_allclose(daily.holding_cost[i] + daily.shortage_cost[i], cost, rtol=1e-5)


def test_allocation_keeps_stock_within_the_shared_capacity():
    env, params = catalog([80.0, 150.0, 200.0])  # below the initial stock and the controller's wishes
    fns = make_hybrid_functions(env, params, fixed_safety_stock)
    key = jax.random.PRNGKey(1)
    none = run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="none", functions=fns)
    assert none.refused_units.sum() > 0  # without the capacity stage the env must refuse arrivals
    assert none.overflow_cost.sum() > 0  # and charges them
    results = {}
    for method in ("daily", "greedy"):
        result = results[method] = run_hybrid(env, params, fixed_safety_stock, SAFETY, key,
                                              allocation=method, functions=fns)
        assert result.refused_units.sum() == 0  # position basis: capacity guaranteed
        assert sum(result.statuses.values()) == T and result.fallback_days == 0
        assert np.all(result.cost > 0) and np.all(np.isfinite(result.cost))
    np.testing.assert_allclose(results["daily"].total_cost, results["greedy"].total_cost, rtol=1e-6)  # both exact


def test_policies_share_the_day_functions(loose):
    """static_by_ratio picks each product's row by its cost ratio; with every row equal to
    SAFETY it is the fixed policy, and one make_day_functions serves both policies."""
    env, params, fns = loose
    day = make_day_functions(env, params)
    table = StaticByRatio(jnp.log10(jnp.array([10.0, 100.0, 1000.0])), jnp.stack([SAFETY] * 3))
    by_ratio = make_hybrid_functions(env, params, static_by_ratio, day_functions=day)
    fixed = make_hybrid_functions(env, params, fixed_safety_stock, day_functions=day)
    assert by_ratio[1:] == fixed[1:]
    key = jax.random.PRNGKey(5)
    a = run_hybrid(env, params, static_by_ratio, table, key, allocation="none", functions=by_ratio)
    b = run_hybrid(env, params, fixed_safety_stock, SAFETY, key, allocation="none", functions=fixed)
    np.testing.assert_allclose(a.cost, b.cost, rtol=1e-6)


def test_shared_day_functions_keep_each_policys_controller(loose):
    """A policy whose controller caps after today's arrivals (the sigma rule with the sample's timing)
    gets that controller from day functions shared with an order-up-to policy (experiments/hybrid.py
    shares one set among all its policies): the same episode as with its own day functions, not the
    one the plain controller gives."""
    from sc_jax.policies.order_up_to import order_up_to_after_arrivals
    from sc_jax.policies.sigma_rule import sigma_rule_safety_policy

    env, params, _ = loose
    day = make_day_functions(env, params)
    make_hybrid_functions(env, params, fixed_safety_stock, day_functions=day)  # shared first
    rule = sigma_rule_safety_policy("installation", "after_arrivals")
    shared = make_hybrid_functions(env, params, rule, day_functions=day)
    assert shared[2].keywords == {"control": order_up_to_after_arrivals}
    z, key = jnp.array([1.5, 1.0, 0.5]), jax.random.PRNGKey(2)
    run = lambda functions: run_hybrid(env, params, rule, z, key, allocation="none", action_frequency=1,
                                       functions=functions).cost
    alone = run(None)
    np.testing.assert_array_equal(run(shared), alone)
    plain = (shared[0], shared[1], day[1], shared[3])  # the rule's decisions through the plain controller
    assert not np.allclose(run(plain), alone)


def test_same_key_same_result_and_errors(loose):
    env, params, fns = loose
    a = run_hybrid(env, params, fixed_safety_stock, SAFETY, jax.random.PRNGKey(3), allocation="none", functions=fns)
    b = run_hybrid(env, params, fixed_safety_stock, SAFETY, jax.random.PRNGKey(3), allocation="none", functions=fns)
    np.testing.assert_array_equal(a.cost, b.cost)
    with pytest.raises(ConfigError, match=r"'allocation' must be one of .*got 'lp'"):
        run_hybrid(env, params, fixed_safety_stock, SAFETY, jax.random.PRNGKey(0), allocation="lp")
    uncoupled_env, uncoupled = make_catalog(jax.random.PRNGKey(0), N, periods=T)
    with pytest.raises(ConfigError, match="shared capacity"):
        run_hybrid(uncoupled_env, uncoupled, fixed_safety_stock, SAFETY, jax.random.PRNGKey(0), allocation="daily")
    with pytest.raises(ConfigError, match="product axis"):
        run_hybrid(env, jax.tree.map(lambda x: x[0], params), fixed_safety_stock, SAFETY,
                   jax.random.PRNGKey(0), allocation="none")
