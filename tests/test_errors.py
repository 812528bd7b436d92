"""Bad input raises ConfigError naming the field, the allowed values and what was given; valid
OR-Gym corner cases (k[0] = 0, all lead times 0) work."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.compat.orgym import simulate
from sc_jax.env import make_env, rollout
from sc_jax.env.catalog import make_catalog
from sc_jax.env.demand import load_demand_csv
from sc_jax.errors import ConfigError
from sc_jax.evaluate import demand_paths, evaluate
from sc_jax.policies import (SafetyRange, base_stock, validate_constant, validate_levels,
                             validate_safety_stock)

CASES = [
    (dict(I0=[100, 100], r=[1, 1, 1, 1]), "'r' must have length 3"),
    (dict(h=[0.1, 0.1]), "'h' must have length 3"),
    (dict(L=[3, -1, 2]), "'L' must be >= 0"),
    (dict(L=[3, 1.5, 2]), "'L' must hold integers"),
    (dict(c=[100, 0, 80]), "'c' must be > 0"),
    (dict(c=[100, -5, 80]), "'c' must be > 0"),
    (dict(I0=[-1, 0, 0]), "'I0' must be >= 0"),
    (dict(k=[0.1, -0.1, 0, 0]), "'k' must be >= 0"),
    (dict(alpha=1.5), "'alpha' must be in \\(0, 1\\]"),
    (dict(periods=0), "'periods' must be an integer >= 1"),
    (dict(backlog="yes"), "'backlog' must be a boolean"),
    (dict(observation="pixels"), "'observation' must be one of"),
    (dict(demand="normal"), "demand kind must be one of"),
    (dict(demand=7), "demand kind must be one of"),
    (dict(demand="poisson", demand_params={"mu": -2}), "'mu' must be > 0"),
    (dict(demand="poisson", demand_params={"lam": 2}), "unknown parameter"),
    (dict(demand="binomial", demand_params={"n": 10, "p": 1.5}), "'p' must be in \\(0, 1\\]"),
    (dict(demand="binomial", demand_params={"n": 2.5, "p": 0.5}), "'n' must be an integer"),
    (dict(demand="uniform", demand_params={"low": 5, "high": 5}), "'high' must be > low"),
    (dict(demand="uniform", demand_params={"low": -1, "high": 5}), "'low' must be >= 0"),
    (dict(demand="geometric", demand_params={"p": 0}), "'p' must be in \\(0, 1\\]"),
    (dict(demand="geometric"), "needs parameter 'p'"),
    (dict(demand="forecast", demand_params={"sigma_max": 0}), "'sigma_max' must be >= 1"),
    (dict(demand="user"), "needs 'user_demand'"),
    (dict(demand="user", user_demand=np.ones(29)), "user demand must have shape"),
    (dict(demand="user", user_demand=np.full(30, 1.5)), "whole numbers"),
    (dict(demand="user", user_demand=-np.ones(30)), "must be >= 0"),
    (dict(demand="user", user_demand=np.ones((2, 3, 30))), "user demand must have shape"),
    (dict(demand="poisson", user_demand=np.ones(30)), "only used with demand='user'"),
    (dict(shared_capacity=[100, -1, 100]), r"'shared_capacity' must be > 0, got \[100, -1, 100\]"),
    (dict(shared_capacity=[0, 0, 0]), r"'shared_capacity' must be > 0, got \[0, 0, 0\]"),
    (dict(shared_capacity=[100, 100]), "'shared_capacity' must have length 3"),
    (dict(I0=np.zeros((4, 3)), c=np.ones((5, 3))), "inconsistent leading"),
]


@pytest.mark.parametrize("kwargs,message", CASES, ids=[m for _, m in CASES])
def test_make_env_rejects(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_env(**kwargs)


@pytest.mark.parametrize("call, message", [
    (lambda: sc_jax.make("orgym_v2"), r"'name' must be one of .*'orgym_v0'.*got 'orgym_v2'"),
    (lambda: sc_jax.make("orgym_v1", backlog=True), r"'backlog' must be False .*orgym_v1.*got True"),
    (lambda: sc_jax.make("orgym_v0", backlog=False), r"'backlog' must be True .*orgym_v0.*got False"),
    (lambda: sc_jax.make("hybrid", sku_index=-5), r"'sku_index' must be an integer >= 0.*got -5"),
    (lambda: sc_jax.make("hybrid", sku_index=2.5), r"'sku_index' must be an integer >= 0.*got 2.5"),
    (lambda: sc_jax.make("hybrid", cost_ratio=0), r"'cost_ratio' must be a finite number > 0.*got 0"),
    (lambda: sc_jax.make("hybrid", cost_ratio=-3.0), r"'cost_ratio' must be a finite number > 0.*got -3.0"),
    (lambda: sc_jax.make("hybrid", h=[1, 1, 1]), r"\['h'\] are set by the hybrid preset"),
    (lambda: make_catalog(jax.random.PRNGKey(0), 3, ratios=[np.nan]),
     r"'ratios' must be a non-empty list of finite numbers > 0, got \[nan\]"),
    (lambda: make_catalog(jax.random.PRNGKey(0), 3, shared_capacity=[1, 2]),
     r"'shared_capacity' must be a number or 3 numbers .*got \[1, 2\]"),
    (lambda: SafetyRange(low=10, high=0), r"'low' must be <= 'high'.*low=10.*high=0"),
    (lambda: validate_levels([10.0, 20.0], sc_jax.make("orgym_v0")[1]),
     r"'levels' must have shape \[\.\.\., 3\].*got shape \(2,\)"),
    (lambda: validate_constant([1, 2, 3, 4], sc_jax.make("orgym_v0")[1]),
     r"'quantity' must have shape \[\.\.\., 3\].*got shape \(4,\)"),
    (lambda: validate_safety_stock([[1, 2]], sc_jax.make("orgym_v0")[1]),
     r"'safety_stock' must have shape \[\.\.\., 3\].*got shape \(1, 2\)"),
    (lambda: simulate(None, np.zeros(30), np.zeros((30, 3))), r"'config' must be a mapping .*got NoneType"),
    (lambda: simulate({"periods": 5, "q": 1}, np.zeros(5), np.zeros((5, 3))), r"unknown OR-Gym config key\(s\) \['q'\]"),
    (lambda: load_demand_csv("/nonexistent/demand.csv"),
     r"'demand.csv' must name a readable CSV file, got '/nonexistent/demand.csv'"),
], ids=["unknown preset", "v1 backlog", "v0 backlog", "sku -5", "sku 2.5", "ratio 0", "ratio < 0",
        "hybrid h", "catalog nan ratio", "catalog capacity length", "SafetyRange", "levels length",
        "constant length", "safety stock length", "simulate None", "simulate unknown key", "csv missing"])
def test_bad_arguments(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_csv_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,x\n")
    with pytest.raises(ConfigError, match="could not be parsed"):
        load_demand_csv(str(bad))
    frac = tmp_path / "frac.csv"
    frac.write_text("1,2.5,3\n")
    with pytest.raises(ConfigError, match="whole numbers"):
        load_demand_csv(str(frac))


# --- actions --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def v0():
    env, params = sc_jax.make("orgym_v0")
    return env, params, env.reset(jax.random.PRNGKey(0), params)[1]


@pytest.mark.parametrize("action", [jnp.ones(2), jnp.ones(4), jnp.asarray(5.0), jnp.ones((1, 3))],
                         ids=["length 2", "length 4", "scalar", "[1, 3]"])
def test_wrong_action_shape(v0, action):
    env, params, state = v0
    message = r"'action' must have shape \(3,\).*got shape " + re.escape(str(tuple(action.shape)))
    with pytest.raises(ConfigError, match=message):
        env.step_env(None, state, action, params)
    with pytest.raises(ConfigError, match="'action' must have shape"):  # at trace time under jit
        jax.jit(env.step)(jax.random.PRNGKey(0), state, action, params)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_concrete_non_finite_action(v0, bad):
    env, params, state = v0
    with pytest.raises(ConfigError, match=r"'action' must be finite order quantities, got \[.*"):
        env.step_env(None, state, jnp.array([bad, 1.0, 1.0]), params)
    with pytest.raises(ConfigError, match="'action' must be finite"):
        env.step(jax.random.PRNGKey(0), state, np.array([1.0, bad, 1.0]), params)


def _nan_every_third(policy_params, state, params, key):
    """Traced NaN orders every third period (a diverged network), else policy_params."""
    return jnp.where(state.time % 3 == 0, jnp.nan, policy_params)


def test_traced_non_finite_action_is_flagged_and_counted(v0):
    env, params, state = v0
    step = jax.jit(env.step_env)
    _, nan_state, _, _, info = step(None, state, jnp.array([np.nan, 10.0, 10.0]), params)
    assert bool(info.invalid_action)
    assert int(info.requested[0]) == 0  # NaN orders 0
    zero = step(None, state, jnp.array([0.0, 10.0, 10.0]), params)
    np.testing.assert_array_equal(np.asarray(nan_state.on_hand), np.asarray(zero[1].on_hand))
    assert not bool(zero[4].invalid_action)
    _, _, _, _, info = step(None, state, jnp.array([10.0, 10.0, np.inf]), params)
    assert bool(info.invalid_action) and int(info.accepted[2]) == 80  # +inf capped by capacity
    result = evaluate(env, _nan_every_third, jnp.full(3, 10.0), params, jax.random.PRNGKey(0), num_samples=4)
    np.testing.assert_array_equal(np.asarray(result.invalid_actions), 10)  # periods 0, 3, ..., 27
    assert np.all(np.isfinite(np.asarray(result.reward)))


def test_int_key_for_evaluate(v0):
    env, params, _ = v0
    with pytest.raises(ConfigError, match=r"'key' must be a JAX PRNG key.*got int 0"):
        evaluate(env, base_stock, jnp.array([60.0, 120.0, 180.0]), params, 0, num_samples=2)
    with pytest.raises(ConfigError, match="'key' must be one JAX PRNG key"):
        evaluate(env, base_stock, jnp.array([60.0, 120.0, 180.0]), params,
                 jax.random.split(jax.random.PRNGKey(0), 2), num_samples=2)


# --- valid OR-Gym corner cases --------------------------------------------------------------------

def test_zero_retail_shortage_cost_is_accepted():
    """k[0] = 0 is a valid OR-Gym config (no missed-sale cost): the cost ratio k0/h0 is 0 and the
    observation stays finite (the rich one clips log10 of the ratio)."""
    k = [0, 0.1, 0.05, 0.02]
    for observation in ("orgym", "rich"):
        env, params = make_env(k=k, observation=observation)
        assert float(params.cost_ratio) == 0.0
        obs, state = env.reset(jax.random.PRNGKey(0), params)
        obs, _, reward, _, _ = env.step_env(None, state, jnp.array([10, 10, 10]), params)
        assert np.all(np.isfinite(np.asarray(obs))) and np.isfinite(float(reward))
    out = simulate({"k": k}, np.full(30, 20), np.full((30, 3), 15.0))
    assert all(np.all(np.isfinite(v)) for v in out.values())
    base = simulate({}, np.full(30, 20), np.full((30, 3), 15.0))
    assert np.all(out["rewards"] >= base["rewards"] - 1e-4)  # no missed-sale charge, nothing else changes


def test_all_zero_lead_times_work_everywhere():
    """L = [0, 0, 0] (orders arrive within the period, history length 0) through step, the
    rollout, evaluate and tuning."""
    from sc_jax.tuning import echelon_grid, grid_search

    env, params = make_env(L=[0, 0, 0], periods=10)
    assert env.history_length == 0 and env.obs_size == 3
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    obs, state, reward, done, info = jax.jit(env.step)(jax.random.PRNGKey(1), state, jnp.array([30, 20, 10]), params)
    np.testing.assert_array_equal(info.arrivals, info.accepted)  # lead time 0: arrives now
    assert obs.shape == (3,) and state.request_history.shape == (0, 3)
    levels = jnp.array([40.0, 80.0, 120.0])
    keys = jax.random.split(jax.random.PRNGKey(2), 4)
    total, _, final = rollout(env, base_stock, levels, params, keys)
    assert total.shape == (4,) and int(final.time) == 10
    result = evaluate(env, base_stock, levels, params, jax.random.PRNGKey(2), num_samples=4)
    np.testing.assert_allclose(np.asarray(result.reward[0]), np.asarray(total), rtol=1e-6)
    paths = demand_paths(env, params, jax.random.PRNGKey(3), 8)[0]
    grid = echelon_grid([[0, 40]] * 3)  # 8 candidates, one chunk
    best, value, means = grid_search(env, base_stock, grid, params, paths, chunk=8)
    assert means.shape == (8,) and value == means.max() and np.all(np.isfinite(means))
    # the OR-Gym replay: observations are on hand only (no request history)
    out = simulate({"L": [0, 0, 0], "periods": 10}, np.full(10, 20), np.full((10, 3), 15.0))
    assert out["observations"].shape == (11, 3)
    np.testing.assert_array_equal(out["inventory"][1], [95, 100, 200])  # 100 + 15 arriving now - 20


def test_all_zero_lead_times_safety_stock_tuning():
    from sc_jax.env.wrappers import SafetyStockEnv
    from sc_jax.tuning import tune_static_safety

    base, params = sc_jax.make("hybrid", L=[0, 0, 0], periods=10, forecast_window=2)
    env = SafetyStockEnv(base, action_frequency=5, safety_high=2)
    out = tune_static_safety(env, params, 100.0, [1, 3], num_paths=4)
    assert len(out["best"]) == 3 and len(out["best_per_sigma"]) == 2


def test_keys_must_be_prng_keys():
    """An int where a key belongs, or one key where a batch belongs, names the argument."""
    import jax
    import jax.numpy as jnp

    import sc_jax
    from sc_jax.env import rollout
    from sc_jax.policies import base_stock

    env, params = sc_jax.make("orgym_v0")
    with pytest.raises(ConfigError, match="'key' must be a JAX PRNG key .* got int 0"):
        env.reset(0, params)
    levels = jnp.array([80.0, 180.0, 420.0])
    with pytest.raises(ConfigError, match="'keys' must be a batch of JAX PRNG keys .* got int 0"):
        rollout(env, base_stock, levels, params, 0)
    with pytest.raises(ConfigError, match=r"'keys' must be a batch .* shape \(2,\)"):
        rollout(env, base_stock, levels, params, jax.random.PRNGKey(0))


def test_env_object_and_wrapper_settings_are_checked():
    """A hand-built or replaced env, and the training reward wrapper, name a bad setting."""
    import sc_jax
    from sc_jax.env import make_env
    from sc_jax.env.wrappers import SafetyStockEnv, ScaleRewardByCostRatio

    env, _ = sc_jax.make("orgym_v0")
    with pytest.raises(ConfigError, match="'name' must be a string"):
        make_env(name=5)
    with pytest.raises(ConfigError, match="'periods' must be an integer >= 1, got 0"):
        env.replace(periods=0)
    with pytest.raises(ConfigError, match=r"'observation_kind' must be one of \('orgym', 'rich'\), got 'pixels'"):
        env.replace(observation_kind="pixels")
    with pytest.raises(ConfigError, match="'power' must be a finite number, got 'x'"):
        ScaleRewardByCostRatio(SafetyStockEnv(sc_jax.make("hybrid")[0]), power="x")


def test_sigma_rule_brain_is_refused_by_the_hybrid_deployment_loops():
    """agent.safety.controller reaches the safety env; the hybrid loops (which deploy the
    order-up-to controller) refuse a sigma-rule brain instead of misreading its z index as units."""
    import sc_jax
    from sc_jax.agents.brains import build_env, require_order_up_to

    env, params = sc_jax.make("hybrid", periods=20, forecast_window=5)
    safety = build_env("safety", env, params, {"action_frequency": 5, "controller": "sigma_rule", "safety_low": -4,
                                               "z_step": 0.5, "reward_ratio_power": 0.5})
    assert safety.env.controller == "sigma_rule" and safety.env.z_step == 0.5
    with pytest.raises(ConfigError, match="'agent.safety.controller' must be 'order_up_to', got 'sigma_rule'"):
        require_order_up_to(safety, "agent.safety")
    plain = build_env("safety", env, params, {"action_frequency": 5})
    assert require_order_up_to(plain, "agent.safety") is plain
