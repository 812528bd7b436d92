"""PPO brains: learning on a tiny budget, vmap over seeds, checkpoints, the safety-stock brain.

Small shapes and shared compiled functions (module fixtures) keep this file fast; the full-budget
runs that show the targets are scripts/ppo_targets.py (results in docs/ppo.md).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.agents import networks
from sc_jax.agents.brains import (build_env, evaluate_brain, evaluate_safety, evaluation_env,
                                  load_brain, safety_bound)
from sc_jax.agents.checkpoint import load_config, load_policy_params, save_checkpoint
from sc_jax.agents.orders import train_orders_agent
from sc_jax.agents.ppo import PPOConfig, gae, init_policy_params, make_policy, make_train
from sc_jax.env.rollout import rollout, sample_paths
from sc_jax.env.wrappers import (SafetyStockEnv, ScaleRewardByCostRatio, fixed_safety_stock,
                                 params_by_sigma, with_scenario)
from sc_jax.errors import ConfigError
from sc_jax.evaluate import scenario_costs
from sc_jax.oracle import build_model, solve_path
from sc_jax.policies import order_up_to
from sc_jax.tuning import neighbourhood, static_grid, tune_static_safety

TINY = dict(num_envs=64, total_timesteps=64 * 30 * 40, hidden=(32, 32), update_epochs=4,
            num_minibatches=4, lr=3e-3)
MICRO = dict(num_envs=8, total_timesteps=8 * 30 * 3, hidden=(8,), num_minibatches=2, update_epochs=2)


@pytest.fixture(scope="module")
def v1_rich():
    return sc_jax.make("orgym_v1", observation="rich")


@pytest.fixture(scope="module")
def trained_v1(v1_rich):
    env, params = v1_rich
    config = PPOConfig(**TINY)
    policy_params, metrics = jax.jit(make_train(config, env, params))(jax.random.PRNGKey(0))
    return config, env, params, policy_params, metrics


@pytest.fixture(scope="module")
def eval_keys():
    return jax.random.split(jax.random.PRNGKey(987), 256)


def test_tiny_training_improves_over_initial_policy(trained_v1, eval_keys):
    config, env, params, policy_params, metrics = trained_v1
    act = make_policy(config, env)
    score = jax.jit(lambda p: rollout(env, act, p, params, eval_keys)[0].mean())
    initial = init_policy_params(jax.random.PRNGKey(0), config, env)
    initial = {**initial, "obs_stats": policy_params["obs_stats"]}
    before, after = float(score(initial)), float(score(policy_params))
    # measured (seeded, CPU): before ~ -40 (orders at half capacity), after ~ 390-420
    assert after > before + 200, (before, after)
    assert after > 350
    curve = np.asarray(metrics["episode_return"])
    assert curve[-5:].mean() > curve[:5].mean() + 150
    assert np.all(np.isfinite(curve))


def test_actions_are_integers_in_the_box(trained_v1):
    config, env, params, policy_params, _ = trained_v1
    _, state = env.reset(jax.random.PRNGKey(3), params)
    space = env.action_space(params)
    for deterministic in (True, False):
        act = make_policy(config, env, deterministic=deterministic)
        actions = jax.vmap(lambda k: act(policy_params, state, params, k))(jax.random.split(jax.random.PRNGKey(1), 64))
        assert actions.dtype == jnp.int32
        assert np.all(np.asarray(actions) >= np.asarray(space.low))
        assert np.all(np.asarray(actions) <= np.asarray(space.high))


def test_checkpoint_round_trip_gives_identical_actions(trained_v1, tmp_path):
    config, env, params, policy_params, _ = trained_v1
    save_checkpoint(tmp_path, policy_params, {"agent": config.to_dict(), "brain": "orders"}, env=env)
    saved = load_config(tmp_path)
    restored_config = PPOConfig.from_dict(saved["agent"])
    assert restored_config == config
    assert saved["shapes"] == {"obs_size": env.obs_size, "episode_length": 30, "num_actions": 3}
    restored = load_policy_params(tmp_path, restored_config, env)
    for a, b in zip(jax.tree.leaves(policy_params), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    keys = jax.random.split(jax.random.PRNGKey(5), 32)
    states = jax.vmap(lambda k: env.reset(k, params)[1])(keys)
    act = make_policy(config, env)
    a1 = jax.vmap(lambda s: act(policy_params, s, params, None))(states)
    a2 = jax.vmap(lambda s: act(restored, s, params, None))(states)
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))


def test_checkpoint_in_an_env_of_other_sizes_is_a_config_error(trained_v1, tmp_path):
    config, env, params, policy_params, _ = trained_v1
    record = {"brain": "orders", "agent": config.to_dict(), "demand": None,
              "env": {"preset": "orgym_v1", "observation": "rich"}}
    save_checkpoint(tmp_path / "ok", policy_params, record, env=env)
    brain, act, restored, loaded_env, loaded_params, _ = load_brain(tmp_path / "ok")
    assert brain == "orders" and loaded_env == env
    state = env.reset(jax.random.PRNGKey(0), params)[1]
    np.testing.assert_array_equal(np.asarray(act(restored, state, loaded_params, None)),
                                  np.asarray(make_policy(config, env)(policy_params, state, params, None)))
    # the saved config rebuilds a 40-period env: another episode length and observation size
    save_checkpoint(tmp_path / "long", policy_params, {**record, "env": {**record["env"], "periods": 40}}, env=env)
    with pytest.raises(ConfigError, match=r"observation size \d+ \(env: \d+\), episode length .*30 \(env: 40\)"):
        load_brain(tmp_path / "long")
    # without recorded shapes the sizes are read off the saved arrays
    save_checkpoint(tmp_path / "bare", policy_params, {"agent": config.to_dict()})
    with pytest.raises(ConfigError, match=r"observation size"):
        load_policy_params(tmp_path / "bare", config, env.replace(observation_kind="orgym"))
    with pytest.raises(ConfigError, match=r"actor/Dense_0/bias is \(32,\) in the checkpoint, \(16,\)"):
        load_policy_params(tmp_path / "bare", PPOConfig(**{**TINY, "hidden": (16, 32)}), env)


def test_vmapped_seeds_equal_separate_runs():
    """jax.vmap(train) over two seeds equals two separate runs. A short run: float rounding of
    batched vs unbatched kernels is amplified over many updates (measured: 0.8% on one weight
    after 40 updates), so equality is checked where it is meaningful."""
    env, params = sc_jax.make("orgym_v0", observation="orgym")
    train = make_train(PPOConfig(**MICRO), env, params)
    keys = jax.random.split(jax.random.PRNGKey(11), 2)
    batched, batched_metrics = jax.jit(jax.vmap(train))(keys)
    single = jax.jit(train)
    for i in range(2):
        p, m = single(keys[i])
        for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(batched)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b)[i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(m["episode_return"]), np.asarray(batched_metrics["episode_return"])[i],
                                   rtol=1e-4, atol=1e-3)
    # different seeds really differ
    assert not np.allclose(np.asarray(batched_metrics["episode_return"][0]),
                           np.asarray(batched_metrics["episode_return"][1]))


def test_train_orders_agent_trains_make_train_on_the_env(monkeypatch):
    """The wiring only (the training itself is tested above): make_train(config, env, params),
    jitted, seeded with PRNGKey(seed); the deterministic policy of that env."""
    from sc_jax.agents import orders

    env, params = sc_jax.make("orgym_v0", observation="orgym")
    config = PPOConfig(**MICRO)
    calls = []

    def fake_make_train(cfg, e, p):
        calls.append((cfg, e, p))
        return lambda key: (init_policy_params(key, cfg, e), {})

    monkeypatch.setattr(orders, "make_train", fake_make_train)
    act, policy_params = train_orders_agent(env, None, MICRO, seed=2)
    assert calls == [(config, env, None)]
    expected = init_policy_params(jax.random.PRNGKey(2), config, env)
    for a, b in zip(jax.tree.leaves(policy_params), jax.tree.leaves(expected)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    state = env.reset(jax.random.PRNGKey(0), params)[1]
    np.testing.assert_array_equal(np.asarray(act(policy_params, state, params, None)),
                                  np.asarray(make_policy(config, env)(policy_params, state, params, None)))


def test_gae_matches_hand_computation():
    values = jnp.array([[1.0], [2.0], [3.0]])
    rewards = jnp.array([[1.0], [1.0], [1.0]])
    dones = jnp.array([[0.0], [0.0], [1.0]])
    adv, targets = gae(values, rewards, dones, gamma=1.0, lam=0.5)
    d2 = 1.0 - 3.0
    d1 = 1.0 + 3.0 - 2.0
    d0 = 1.0 + 2.0 - 1.0
    expected = [d0 + 0.5 * (d1 + 0.5 * d2), d1 + 0.5 * d2, d2]
    np.testing.assert_allclose(np.asarray(adv[:, 0]), expected, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(targets), np.asarray(adv + values))


def test_heads_log_prob_and_action_mapping():
    key = jax.random.PRNGKey(0)
    mean, log_std = jnp.array([0.3, -1.0]), jnp.array([0.1, -0.2])
    raw = networks.sample_raw(key, (mean, log_std), "gaussian")
    expected = jax.scipy.stats.norm.logpdf(raw, mean, jnp.exp(log_std)).sum()
    np.testing.assert_allclose(networks.log_prob((mean, log_std), raw, "gaussian"), expected, rtol=1e-5)
    low, high = np.array([0, 0]), np.array([100, 80])
    assert networks.to_action(jnp.array([-50.0, 50.0]), low, high, "gaussian", 0).tolist() == [0, 80]
    assert networks.to_action(jnp.array([0, 20]), low, high, "categorical", 21).tolist() == [0, 80]
    assert networks.to_action(jnp.array([10, 10]), low, high, "categorical", 21).tolist() == [50, 40]


def test_state_dependent_std_and_context_features():
    net = networks.ActorCritic(num_stages=3, hidden=(8, 8), state_dependent_std=True, context_features=1,
                               init_log_std=-0.5)
    obs = jnp.zeros((2, 5)).at[1].set(jnp.array([0.5, -1.0, 2.0, 0.3, 3.0]))
    params = net.init(jax.random.PRNGKey(0), obs, obs)
    (mean, log_std), _ = net.apply(params, obs, obs)
    assert mean.shape == log_std.shape == (2, 3)  # one std per state and stage
    np.testing.assert_allclose(np.asarray(log_std[0]), -0.5, atol=1e-6)  # zero input: the bias init
    assert not np.allclose(np.asarray(log_std[0]), np.asarray(log_std[1]))
    # the context (last observation entry) is concatenated to the actor's second layer only
    assert params["params"]["actor"]["Dense_1"]["kernel"].shape == (8 + 1, 8)
    assert params["params"]["critic"]["Dense_1"]["kernel"].shape == (8, 8)
    assert jnp.isfinite(networks.log_prob((mean, log_std), mean + 1.0, "gaussian")).all()


def test_config_errors():
    with pytest.raises(ConfigError, match="'agent.ppo.head' must be one of"):
        PPOConfig(head="beta")
    with pytest.raises(ConfigError, match="'agent.ppo.num_envs' must be divisible by 'agent.ppo.num_minibatches' \\(4\\)"):
        PPOConfig(num_envs=10, num_minibatches=4)
    with pytest.raises(ConfigError, match="unknown agent key"):
        PPOConfig.from_dict({"learning_rate": 1.0})
    hybrid_env, hybrid_params = sc_jax.make("hybrid")
    with pytest.raises(ConfigError, match="needs observation .rich."):
        build_env("safety", *sc_jax.make("orgym_v0"), {})
    with pytest.raises(ConfigError, match="action_frequency"):
        build_env("safety", hybrid_env, hybrid_params, {"action_frequency": 7})
    with pytest.raises(ConfigError, match="unknown agent.safety key"):
        build_env("safety", hybrid_env, hybrid_params, {"frequency": 10})
    with pytest.raises(ConfigError, match="'agent.brain' must be one of"):
        build_env("prices", hybrid_env, hybrid_params, {})


@pytest.mark.parametrize("field, value, allowed", [
    ("lr", 0.0, "a finite number > 0"), ("lr", float("nan"), "a finite number > 0"),
    ("lr", float("inf"), "a finite number > 0"), ("gamma", 0.0, r"a number in \(0, 1\]"),
    ("gamma", 1.5, r"a number in \(0, 1\]"), ("gae_lambda", -0.1, r"a number in \[0, 1\]"),
    ("gae_lambda", 1.1, r"a number in \[0, 1\]"), ("clip_eps", 0.0, "a finite number > 0"),
    ("hidden", [], "a non-empty list of integers >= 1"), ("hidden", [-8], "a non-empty list of integers >= 1"),
    ("hidden", [8.5], "a non-empty list of integers >= 1"), ("hidden", "64", "a non-empty list of integers >= 1"),
    ("update_epochs", 0, "an integer >= 1"), ("num_minibatches", 0, "an integer >= 1"),
    ("num_envs", 0, "an integer >= 1"), ("num_envs", 4.0, "an integer >= 1"),
    ("max_grad_norm", 0.0, "a finite number > 0"), ("ent_coef", -0.01, "a finite number >= 0"),
    ("vf_coef", -1.0, "a finite number >= 0"), ("progress_every_s", -1.0, "a finite number >= 0"),
    ("context_features", -1, "an integer >= 0"), ("num_bins", 1, "an integer >= 2"),
    ("total_timesteps", 1.5e6, "an integer"), ("lr", True, "a finite number > 0"),
    ("normalize_obs", "yes", "true or false"), ("reward_scale", 0.0, "a finite number > 0"),
])
def test_ppo_config_rejects_bad_values(field, value, allowed):
    with pytest.raises(ConfigError, match=f"'agent.ppo.{field}' must be {allowed}, got "):
        PPOConfig(**{field: value})


@pytest.mark.parametrize("total", [0, -5, 8 * 30 - 1])
def test_too_few_timesteps_for_one_update_is_an_error(total):
    env, params = sc_jax.make("orgym_v0")
    with pytest.raises(ConfigError, match=r"'agent.ppo.total_timesteps' must be an integer >= num_envs x episode "
                                          r"length = 8 x 30 = 240 \(one update\), got "):
        make_train(PPOConfig(**{**MICRO, "total_timesteps": total}), env, params)
    make_train(PPOConfig(**{**MICRO, "total_timesteps": 240}), env, params)  # exactly one update: fine
    with pytest.raises(ConfigError, match="'agent.ppo.context_features' must be an integer in"):
        make_train(PPOConfig(**{**MICRO, "context_features": env.obs_size + 1}), env, params)


# ----------------------------------------------------------------------- safety-stock brain

@pytest.fixture(scope="module")
def hybrid():
    return sc_jax.make("hybrid", cost_ratio=100.0, periods=40, demand_params={"sigma_max": 5})


def test_macro_step_is_ten_daily_order_up_to_steps(hybrid):
    env, params = hybrid
    safety_env = SafetyStockEnv(env)
    _, state = env.reset(jax.random.PRNGKey(2), params)
    safety = jnp.array([3, 7, 12], jnp.int32)
    obs, macro_state, reward, done, info = jax.jit(
        lambda s: safety_env.step_env(jax.random.PRNGKey(0), s, safety, params))(state)
    daily_step = jax.jit(lambda s: env.step_env(None, s, order_up_to(safety, s, params), params))
    daily, total = state, 0.0
    for _ in range(10):
        _, daily, r, _, _ = daily_step(daily)
        total += float(r)
    for a, b in zip(jax.tree.leaves(macro_state), jax.tree.leaves(daily)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(float(reward), total, rtol=1e-5)
    # hybrid preset: no revenue or purchase, so -reward is holding + missed-sale cost
    np.testing.assert_allclose(-float(reward), float(info["holding_cost"] + info["shortage_cost"]), rtol=1e-5)
    assert not bool(done) and int(macro_state.time) == 10
    assert int(safety_env.step_index(macro_state)) == 1 and safety_env.episode_length == 4


def test_with_scenario_sets_hybrid_costs(hybrid):
    _, params = hybrid
    p = jax.jit(with_scenario)(params, 1000.0, 3.0)
    _, ref = sc_jax.make("hybrid", cost_ratio=1000.0, periods=40, demand_params={"sigma_max": 3})
    np.testing.assert_allclose(np.asarray(p.unit_holding_cost), np.asarray(ref.unit_holding_cost), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p.forecast), np.asarray(ref.forecast), rtol=1e-6)
    np.testing.assert_allclose(float(p.cost_ratio), 1000.0)


def test_conditioned_brain_env_samples_ratios_and_sigmas_and_scales_only_training(hybrid):
    env, params = hybrid
    train_env = build_env("safety", env, params, {"ratio_low": 10.0, "ratio_high": 1000.0, "safety_high": 20,
                                                  "reward_ratio_power": 0.5})
    assert isinstance(train_env, ScaleRewardByCostRatio) and train_env.power == 0.5
    safety_env = evaluation_env(train_env)
    assert isinstance(safety_env, SafetyStockEnv) and evaluation_env(safety_env) is safety_env
    sampled = jax.vmap(train_env.sample_params, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(0), 2000),
                                                                   params)
    ratios, sigmas = np.asarray(sampled.cost_ratio), np.asarray(sampled.forecast[:, 6])
    assert ratios.min() >= 10 and ratios.max() <= 1000
    assert abs(np.median(np.log10(ratios)) - 2.0) < 0.1  # log-uniform
    assert set(np.unique(sigmas)) == set(range(1, 11))
    assert train_env.episode_length == 4 and train_env.num_actions == 3
    assert np.asarray(train_env.action_space(params).high).tolist() == [20, 20, 20]
    # the training reward is the raw reward x (ratio / 100) ** 0.5; build_env without the power: raw
    assert build_env("safety", env, params, {"reward_ratio_power": 0.0}) == SafetyStockEnv(env)
    p = with_scenario(params, 400.0, 5.0)
    state = env.reset(jax.random.PRNGKey(1), p)[1]
    stock = jnp.array([5, 5, 5])
    raw = safety_env.step_env(jax.random.PRNGKey(0), state, stock, p)[2]
    scaled = train_env.step_env(jax.random.PRNGKey(0), state, stock, p)[2]
    np.testing.assert_allclose(float(scaled), 2.0 * float(raw), rtol=1e-6)


def _static_costs(env, by_level, keys, grid):
    """Mean cost [G, L] of each fixed safety stock, by a rollout independent of sc_jax.tuning."""
    one = lambda s, p: -rollout(env, fixed_safety_stock, s, p, keys)[0].mean()
    return np.asarray(jax.jit(jax.vmap(jax.vmap(one, in_axes=(None, 0)), in_axes=(0, None)))(
        jnp.asarray(grid), by_level))


def test_static_search_finds_the_grid_optimum(hybrid):
    env, params = hybrid
    safety_env, levels = SafetyStockEnv(env, safety_high=2), [2, 6]
    found = tune_static_safety(safety_env, params, 100.0, levels, num_paths=8)
    grid = static_grid(3, 0, 2)
    table = _static_costs(safety_env, params_by_sigma(params, 100.0, levels),
                          jax.random.split(jax.random.PRNGKey(0), 8), grid)
    assert found["best"] == grid[np.argmin(table.mean(axis=1))].tolist()
    assert found["best_per_sigma"][1] == grid[np.argmin(table[:, 1])].tolist()
    assert len(neighbourhood([0, 4, 2], 0, 4, 1)) == 2 * 2 * 3


def test_static_lattice_plus_local_search_finds_the_full_grid_optimum(hybrid):
    env, params = hybrid
    safety_env, levels = SafetyStockEnv(env, safety_high=8), [3, 5]
    found = tune_static_safety(safety_env, params, 100.0, levels, num_paths=8, coarse_step=4, radius=1)
    grid = static_grid(3, 0, 8)  # all 729 integer candidates
    table = _static_costs(safety_env, params_by_sigma(params, 100.0, levels),
                          jax.random.split(jax.random.PRNGKey(0), 8), grid)
    assert found["coarse_step"] == 4 and found["candidates_evaluated"] < len(grid)
    assert found["best"] == grid[np.argmin(table.mean(axis=1))].tolist()


def test_safety_bound_is_attained_and_below_every_static_policy(hybrid):
    env, params = hybrid
    safety_env = SafetyStockEnv(env)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    levels = [1, 5]
    bound = safety_bound(safety_env, params, 100.0, levels, keys)  # [L, S]
    by_level = params_by_sigma(params, 100.0, levels)
    stocks = jnp.asarray([[0, 0, 0], [2, 6, 6], [5, 10, 12], [12, 20, 20]])
    costs = np.stack([scenario_costs(safety_env, fixed_safety_stock, s, by_level, keys) for s in stocks])  # [G, L, S]
    assert bound.shape == (2, 3) and np.all(bound > 0)
    assert np.all(bound[None] <= costs + 1e-4)
    # the oracle's orders, replayed through the environment on the same path, cost exactly the bound
    p = with_scenario(params, 100.0, 5.0)
    path = sample_paths(safety_env, p, keys[:1])
    _, state = env.reset_with_demand(p, jax.tree.map(lambda x: x[0], path))
    solution = solve_path(build_model(env, p), np.asarray(path.actual[0]))

    def day(state, orders):
        _, state, reward, _, _ = env.step_env(None, state, orders, p)
        return state, reward

    _, rewards = jax.lax.scan(day, state, jnp.asarray(solution.orders, jnp.int32))
    np.testing.assert_allclose(-float(rewards.sum()), bound[1, 0], rtol=1e-4)


def test_evaluate_brain_safety_uses_raw_costs_and_the_evaluated_paths(hybrid, tmp_path):
    env, params = hybrid
    safety = {"ratio_low": 10.0, "ratio_high": 1000.0, "safety_high": 4, "reward_ratio_power": 0.5}
    config = PPOConfig(**{**MICRO, "total_timesteps": 8 * 4, "context_features": 1})
    train_env = build_env("safety", env, params, safety)
    policy_params = init_policy_params(jax.random.PRNGKey(0), config, train_env)
    act = make_policy(config, train_env)
    eval_cfg = {"num_paths": 4, "seed": 9, "bound_paths": 2, "sigma_levels": [1, 5]}
    out = evaluate_brain("safety", act, policy_params, train_env, params, eval_cfg)
    assert sorted(out) == ["ratio_10", "ratio_100", "ratio_1000"]  # a ratio-conditioned brain
    ev = out["ratio_10"]
    keys = jax.random.split(jax.random.PRNGKey(9), 4)
    by_level = params_by_sigma(params, 10.0, [1, 5])
    raw = scenario_costs(evaluation_env(train_env), act, policy_params, by_level, keys)
    np.testing.assert_allclose(ev["brain_mean"], raw.mean(axis=1), rtol=1e-6)  # unscaled env
    assert ev["bound"]["num_paths"] == 2
    assert np.all(np.asarray(ev["bound"]["bound_mean"]) <= raw[:, :2].mean(axis=1) + 1e-4)
    # static baselines on the same paths: one stock for every level, one per level
    static = {"best": [1, 2, 3], "best_per_sigma": [[0, 0, 0], [4, 4, 4]]}
    ev = evaluate_safety(train_env, act, policy_params, params, 10.0, sigma_levels=[1, 5], num_paths=4, seed=9,
                         static=static)
    fixed = [scenario_costs(train_env.env, fixed_safety_stock, jnp.asarray(s), by_level, keys) for s in
             (static["best"], *static["best_per_sigma"])]
    np.testing.assert_allclose(ev["static_mean"], fixed[0].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(ev["static_per_sigma_mean"], [fixed[1][0].mean(), fixed[2][1].mean()], rtol=1e-6)
    np.testing.assert_allclose(ev["brain_minus_static"], (raw - fixed[0]).mean(axis=1), rtol=1e-5, atol=1e-6)
    # a checkpoint of this brain loads back into its unscaled safety env
    record = {"brain": "safety", "agent": config.to_dict(), "safety": safety, "demand": {"kind": "forecast"},
              "env": {"preset": "hybrid", "periods": 40, "demand_params": {"sigma_max": 5}}}
    save_checkpoint(tmp_path, policy_params, record, env=train_env)
    brain, loaded_act, restored, loaded_env, _, _ = load_brain(tmp_path)
    assert brain == "safety" and loaded_env == evaluation_env(train_env)
    np.testing.assert_allclose(scenario_costs(loaded_env, loaded_act, restored, by_level, keys), raw, rtol=1e-6)


def test_evaluate_brain_orders_reports_the_bound_on_the_same_paths(trained_v1):
    config, env, params, policy_params, _ = trained_v1
    out = evaluate_brain("orders", make_policy(config, env), policy_params, env, params,
                         {"num_paths": 16, "seed": 1, "oracle_paths": 2})
    assert out["num_paths"] == 16 and np.isfinite(out["ci95"]) and 0 <= out["fill_rate"] <= 1
    assert out["oracle"]["bound_mean"] >= out["oracle"]["policy_mean_same_paths"] - 1e-3
    with pytest.raises(ConfigError, match="SafetyStockEnv"):
        evaluate_brain("safety", make_policy(config, env), policy_params, env, params,
                       {"num_paths": 4, "seed": 1, "sigma_levels": [1]})
