"""The forecast-sigma order-up-to rule (sc_jax.policies.sigma_rule) and its CRN tuning."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.env import make_env, rollout
from sc_jax.errors import ConfigError
from sc_jax.policies import order_up_to
from sc_jax.policies.sigma_rule import (cover_windows, sigma_rule, sigma_rule_echelon, sigma_rule_policy,
                                        validate_sigma_rule)
from sc_jax.tuning import sigma_rule_costs, tune_sigma_rule


def _states(env, params, n=25, key=0):
    """States along an episode under the rule (z = 1), for per-state comparisons."""
    _, state = env.reset(jax.random.PRNGKey(key), params)
    step = jax.jit(lambda state: env.step_env(None, state, sigma_rule(jnp.ones(env.num_stages), state, params),
                                              params)[1])
    states = []
    for _ in range(n):
        states.append(state)
        state = step(state)
    return states


def test_sigma_zero_is_order_up_to_the_forecast():
    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=1, periods=30, semantics="exact")
    act = sigma_rule_policy("installation", True, "before_arrivals")
    act = jax.jit(act)
    for state in _states(env, params):
        assert float(jnp.abs(state.demand.forecast_std).max()) == 0.0
        orders = act(jnp.array([2.5, -1.0, 3.0]), state, params)  # z is irrelevant without sigma
        np.testing.assert_array_equal(orders, act(jnp.zeros(3), state, params))
        # stage 0's window is order_up_to's: the same order
        assert int(orders[0]) == int(order_up_to(jnp.zeros(3), state, params)[0])
        # every stage: order up to the forecast over its window, capped
        mask = np.asarray(cover_windows(params.lead_time, 40, "installation", "before_arrivals"))
        mean = np.asarray(state.demand.forecast_mean)
        window = np.concatenate([mean, np.repeat(mean[-1:], 40)])[int(state.time):int(state.time) + 40]
        position = np.asarray(state.on_hand + state.in_transit)
        wished = np.maximum(np.ceil(window @ mask) - position, 0)
        supplier = np.append(np.asarray(state.on_hand)[1:], np.inf)
        np.testing.assert_array_equal(orders, np.minimum(np.minimum(wished, params.supply_capacity), supplier))


def test_installation_and_echelon_agree_on_one_stage():
    env, params = make_env(periods=20, I0=[5], p=0.0, r=[0, 0], k=[1.0, 0.5], h=[0.01], c=[60], L=[2],
                           backlog=False, demand="forecast", demand_params={"sigma_max": 6},
                           forecast_window=15, observation="rich")
    both = jax.jit(lambda z, state: (sigma_rule(z, state, params), sigma_rule_echelon(z, state, params)))
    for state in _states(env, params):
        for z in (-1.0, 0.0, 1.7):
            installation, echelon = both(jnp.array([z]), state)
            np.testing.assert_array_equal(installation, echelon)


def test_orders_respect_capacity_and_negative_z_orders_less():
    env, params = sc_jax.make("hybrid_sample", cost_ratio=10.0, sigma_max=9, periods=30)
    for form in ("installation", "echelon"):
        for cap in (True, False):
            act = jax.jit(sigma_rule_policy(form, cap))
            for state in _states(env, params):
                high = act(jnp.full(3, 50.0), state, params)
                assert np.all(np.asarray(high) <= np.asarray(params.supply_capacity))
                low, mid = act(jnp.full(3, -1.0), state, params), act(jnp.zeros(3), state, params)
                assert np.all(np.asarray(low) <= np.asarray(mid))
                # the tuning grid's lowest z (conf/reproduce_hybrid.yaml): "order nothing"
                assert np.all(np.asarray(act(jnp.full(3, -1000.0), state, params)) == 0)


def test_vmapped_over_products_and_samples():
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.evaluate import evaluate

    env, params = hybrid_sample_catalog(3, 100.0, sigma_max=5, periods=10)
    result = evaluate(env, sigma_rule, jnp.full(3, 2.0), params, jax.random.PRNGKey(0), num_samples=2)
    assert result.reward.shape == (3, 2) and np.all(np.isfinite(result.reward))
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    one_env, one = sc_jax.make("hybrid_sample", cost_ratio=100.0, periods=10)
    reward, _, _ = rollout(one_env, sigma_rule_echelon, jnp.array([1.0, 0.5, -0.5]), one, keys)
    assert reward.shape == (4,)


def test_bad_z_and_sigma_name_the_field():
    with pytest.raises(ConfigError, match="'z'"):
        validate_sigma_rule([1.0, 2.0], 3)
    with pytest.raises(ConfigError, match="'z'"):
        validate_sigma_rule([1.0, np.nan, 2.0], 3)
    with pytest.raises(ConfigError, match="'forecast_std'"):
        validate_sigma_rule([1.0, 1.0, 2.0], 3, forecast_std=[1.0, np.inf])
    assert validate_sigma_rule([[-1.0, 0.0, 2.0]], 3).shape == (1, 3)  # negative z allowed
    with pytest.raises(ConfigError, match="'form'"):
        sigma_rule_policy("base")
    with pytest.raises(ConfigError, match="'timing'"):
        sigma_rule_policy("installation", True, "later")


def test_tuning_uses_training_keys_only_and_is_deterministic():
    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, periods=30)
    kwargs = dict(num_paths=4, seed=3, z_values=(0.0, 2.0), steps=(1.0,), max_moves=2)
    first = tune_sigma_rule(env, params, [6], objective="notebook_cost", **kwargs)
    again = tune_sigma_rule(env, params, [6], objective="notebook_cost", **kwargs)
    assert first["best"] == again["best"] and first["best_per_sigma"] == again["best_per_sigma"]
    assert len(first["best"]) == 3 and first["train_seed"] == 3
    # its training cost is the cost on keys split from PRNGKey(seed): no evaluation keys involved
    keys = jax.random.split(jax.random.PRNGKey(3), 4)
    by_level = jax.vmap(lambda s: params.replace(forecast=params.forecast.at[6].set(s)))(jnp.array([6.0]))
    cost = np.asarray(sigma_rule_costs(env, sigma_rule, by_level, keys, np.array([first["best"]]),
                                       "notebook_cost")).mean()
    assert cost == pytest.approx(first["train_cost"], rel=1e-5)
    with pytest.raises(ConfigError, match="'objective'"):
        tune_sigma_rule(env, params, [2], objective="profit", **kwargs)


# --- the rule through the order-up-to controller (hybrid.py's sigma_rule_alloc) and on stationary paths ---

@pytest.mark.parametrize("preset,kwargs", [("hybrid", {"periods": 30}), ("orgym_v0", {})])
def test_safety_equivalent_makes_the_controller_order_what_the_rule_orders(preset, kwargs):
    """The loops' controller on safety_equivalent(z) == the rule, both forms and both timings
    (with "after_arrivals" the controller's supplier cap counts today's arrivals, as the rule's),
    along an episode: the capacity stage of experiments/hybrid.py then cuts the rule's orders."""
    from sc_jax.policies.order_up_to import controller, order_up_to_after_arrivals
    from sc_jax.policies.sigma_rule import sigma_rule_safety_policy

    env, params = sc_jax.make(preset, **kwargs)
    for form, timing in (("installation", "before_arrivals"), ("echelon", "before_arrivals"),
                         ("installation", "after_arrivals"), ("echelon", "after_arrivals")):
        rule = sigma_rule_policy(form, True, timing)
        safety = sigma_rule_safety_policy(form, timing)
        control = controller(safety)
        assert control is (order_up_to if timing == "before_arrivals" else order_up_to_after_arrivals)
        both = jax.jit(lambda z, s: (rule(z, s, params), control(safety(z, s, params), s, params),
                                     safety(z, s, params)))
        _, state = env.reset(jax.random.PRNGKey(2), params)
        step = jax.jit(lambda s, a: env.step_env(None, s, a, params)[1])
        for _ in range(env.periods):
            for z in (jnp.array([1.3, -0.7, 2.1]), jnp.zeros(3), jnp.array([-2.0, 3.0, 0.5])):
                orders, via_controller, stock = both(z, state)
                np.testing.assert_array_equal(orders, via_controller)
                assert stock.dtype == jnp.int32  # an integer: the JAX episode casts safety stocks to int32
            state = step(state, orders)


def test_tuning_on_stationary_paths_uses_only_the_given_paths():
    from sc_jax.evaluate import demand_paths
    from sc_jax.tuning import candidate_rewards, tune_sigma_rule_on_paths

    env, params = sc_jax.make("orgym_v1")
    assert float(params.demand_std) == pytest.approx(20 ** 0.5, rel=1e-6)  # Poisson(20): sigma = sqrt(mean)
    train = demand_paths(env, params, jax.random.PRNGKey(0), 16)[0]
    kwargs = dict(z_values=(0.0, 2.0), steps=(1.0,), max_moves=2)
    found = tune_sigma_rule_on_paths(env, params, train, **kwargs)
    assert found == {**tune_sigma_rule_on_paths(env, params, train, **kwargs), "search_s": found["search_s"]}
    act = sigma_rule_policy("installation", True, "before_arrivals")
    reward = candidate_rewards(env, act, jnp.asarray([found["z"]], jnp.float32), params, train).mean()
    assert float(reward) == pytest.approx(found["train_reward"], rel=1e-5)
    assert found["train_reward"] >= found["grid_train_reward"] and found["train_paths"] == 16
    with pytest.raises(ConfigError, match="'z_values'"):
        tune_sigma_rule_on_paths(env, params, train, z_values=[np.nan])
    with pytest.raises(ConfigError, match="'steps'"):
        tune_sigma_rule_on_paths(env, params, train, steps=[0.0])
    forecast_env, forecast_params = sc_jax.make("hybrid", periods=30)
    with pytest.raises(ConfigError, match="tune_sigma_rule"):
        tune_sigma_rule_on_paths(forecast_env, forecast_params, train)
