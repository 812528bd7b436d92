"""The hybrid deployment loop (sc_jax.hybrid): decisions + order-up-to wishes + capacity stage +
coupled env step, over a small catalog (6 products, 40 days)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from sc_jax.agents.safety_env import macro_step, static_decide
from sc_jax.env import reset
from sc_jax.env.catalog import make_catalog
from sc_jax.errors import ConfigError
from sc_jax.hybrid import make_hybrid_functions, run_hybrid

N, T = 6, 40
SAFETY = jnp.array([4, 12, 12])


def catalog(capacity):
    return make_catalog(jax.random.PRNGKey(0), N, shared_capacity=capacity, sigma_max=4, periods=T)


@pytest.fixture(scope="module")
def loose():
    params = catalog([1e6, 1e6, 1e6])
    return params, make_hybrid_functions(params, static_decide)


def test_capacity_not_binding_gives_the_single_product_simulation(loose):
    params, fns = loose
    key = jax.random.PRNGKey(7)
    daily = run_hybrid(params, static_decide, SAFETY, key, allocation="daily", functions=fns)
    none = run_hybrid(params, static_decide, SAFETY, key, allocation="none", functions=fns)
    assert daily.statuses == {"not_binding": T}
    np.testing.assert_array_equal(daily.cost, none.cost)
    # each product alone, from the same reset key, in the brain's training env (10-day macro steps)
    reset_keys = jax.random.split(jax.random.split(key)[0], N)
    step = jax.jit(macro_step, static_argnums=4)
    for i in range(N):
        p = jax.tree.map(lambda x, i=i: x[i], params).replace(couple_products=False)
        _, state = reset(reset_keys[i], p)
        cost = 0.0
        for _ in range(T // 10):
            _, state, reward, _, _ = step(jax.random.PRNGKey(0), state, SAFETY, p, 10)
            cost -= float(reward)
        np.testing.assert_allclose(daily.cost[i], cost, rtol=1e-5)


def test_allocation_keeps_stock_within_the_shared_capacity():
    params = catalog([80.0, 150.0, 200.0])  # below the initial stock and the controller's wishes
    fns = make_hybrid_functions(params, static_decide)
    key = jax.random.PRNGKey(1)
    none = run_hybrid(params, static_decide, SAFETY, key, allocation="none", functions=fns)
    assert none.refused_units.sum() > 0  # without the capacity stage the env must refuse arrivals
    assert none.overflow_cost.sum() > 0  # and charges them
    for method in ("daily", "greedy"):
        result = run_hybrid(params, static_decide, SAFETY, key, allocation=method, functions=fns)
        assert result.refused_units.sum() == 0  # position basis: capacity guaranteed
        assert sum(result.statuses.values()) == T and result.fallback_days == 0
        assert np.all(result.cost > 0) and np.all(np.isfinite(result.cost))
    greedy = run_hybrid(params, static_decide, SAFETY, key, allocation="greedy", functions=fns)
    daily = run_hybrid(params, static_decide, SAFETY, key, allocation="daily", functions=fns)
    np.testing.assert_allclose(daily.total_cost, greedy.total_cost, rtol=1e-6)  # both exact


def test_same_key_same_result_and_errors(loose):
    params, fns = loose
    a = run_hybrid(params, static_decide, SAFETY, jax.random.PRNGKey(3), allocation="none", functions=fns)
    b = run_hybrid(params, static_decide, SAFETY, jax.random.PRNGKey(3), allocation="none", functions=fns)
    np.testing.assert_array_equal(a.cost, b.cost)
    with pytest.raises(ConfigError, match="allocation must be one of"):
        run_hybrid(params, static_decide, SAFETY, jax.random.PRNGKey(0), allocation="lp")
    uncoupled = make_catalog(jax.random.PRNGKey(0), N, periods=T)
    with pytest.raises(ConfigError, match="shared capacity"):
        run_hybrid(uncoupled, static_decide, SAFETY, jax.random.PRNGKey(0), allocation="daily")
