"""HDPO (sc_jax.agents.hdpo): the relaxed step equals the exact one on the OR-Gym fixtures,
pathwise gradients are finite and point the right way, a tiny training run improves the exact
env's episode reward, checkpoints round-trip, experiments/train.py runs agent=hdpo_orders; the
same for the safety-stock brain (gradients through the order-up-to controller, agent=hdpo_safety
and hdpo_safety_conditioned, load_brain + experiments/evaluate.py on an HDPO checkpoint).

Tiny shapes and shared compiled functions (module fixtures) keep this file fast; the full-budget
runs behind docs/hdpo.md's numbers are scripts/hdpo_targets.py.
"""
import importlib
import json
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.agents.checkpoint import load_config, load_policy_params, save_checkpoint
from sc_jax.agents.hdpo import (HDPOConfig, TruncateGradient, init_policy_params, make_policy, make_train,
                               relax)
from sc_jax.compat import orgym
from sc_jax.env.rollout import rollout
from sc_jax.env.wrappers import LogWrapper
from sc_jax.errors import ConfigError
from sc_jax.policies import base_stock
from tests.hydra_config import compose_config

FIXTURES = Path(__file__).parent / "fixtures"
CASES = [c for name in ("orgym_trajectories.json", "orgym_random_cases.json")
         for c in json.loads((FIXTURES / name).read_text())["cases"]]
TINY = dict(batch_size=16, num_updates=40, hidden=(16,), lr=1e-2)


# ------------------------------------------------------------------ relaxed step == exact step

PAD_T = 40  # every case on one padded shape per stage count


@partial(jax.jit, static_argnames=("env",))
def _replay(env, params, demand, actions):
    """States, rewards, observations and step info of `actions` [T, M] on `demand` [T]."""
    obs0, state = env.reset_with_demand(params, env.stationary_path(demand, params))

    def one(state, action):
        obs, state, reward, _, info = env.step_env(None, state, action, params)
        return state, (obs, reward, info, state)

    _, (obs, rewards, info, states) = jax.lax.scan(one, state, actions)
    return obs0, obs, rewards, info, states


def _by_stage_count():
    """{M: (env, stacked params [C], demand [C, PAD_T], actions [C, PAD_T, M], cases)}: the
    fixture cases padded like sc_jax.compat.orgym.simulate, grouped by shape."""
    groups = {}
    for case in CASES:
        env, params = orgym.env_from_config(case["config"])
        T = env.periods
        params = params.replace(user_demand=jnp.zeros((1, PAD_T), jnp.int32))
        demand = np.pad(np.asarray(case["demand"], np.int32), (0, PAD_T - T))
        actions = np.pad(np.asarray(case["actions"], np.float32), ((0, PAD_T - T), (0, 0)))
        groups.setdefault(env.num_stages, []).append((env, params, demand, actions, case))
    out = {}
    for M, items in groups.items():
        history = max(i[0].history_length for i in items)
        env = items[0][0].replace(periods=PAD_T, history_length=history, default_params=None)
        stack = lambda xs: jax.tree.map(lambda *a: jnp.stack(a), *xs)
        out[M] = (env, stack([i[1] for i in items]), jnp.asarray(np.stack([i[2] for i in items])),
                  jnp.asarray(np.stack([i[3] for i in items])), [i[4] for i in items])
    return out


def test_relaxed_step_equals_exact_step_on_the_orgym_fixtures():
    """The OR-Gym fixture cases with 1 and 3 stages (33 of the 68: the 8 reference trajectories and
    25 random ones; lead times 0..10, both modes, over-capacity actions; 2 and 4 stages run the same
    code and would only add compile time), integer actions and OR-Gym's own fractional and negative ones
    (the relaxed floor is straight-through: forward value = floor): the relaxed step reproduces
    OR-Gym's recorded rewards and inventory, and for 3 stages every state, reward, observation
    and step-info field equals the exact step's."""
    groups = _by_stage_count()
    assert sorted(groups) == [1, 2, 3, 4] and sum(len(g[-1]) for g in groups.values()) == 68
    for M in (1, 3):
        env, params, demand, actions, cases = groups[M]
        for integer in (True, False):
            acts = jnp.floor(actions) if integer else actions  # negatives stay: the step orders 0
            run = lambda e: jax.vmap(partial(_replay, e))(params, demand, acts)
            relaxed = run(env.replace(relaxed=True))
            if M == 3:  # one stage count against the exact step itself (compile time)
                exact = run(env)
                for a, b in zip(jax.tree.leaves(exact), jax.tree.leaves(relaxed)):
                    if jnp.issubdtype(a.dtype, jnp.integer):
                        assert b.dtype in (jnp.float32, a.dtype)
                    np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))
            rewards, on_hand = np.asarray(relaxed[2]), np.asarray(relaxed[3].on_hand)  # host copies: no op per case
            for i, case in enumerate(cases):
                T, expected = len(case["demand"]), case["expected"]
                np.testing.assert_allclose(rewards[i][:T], expected["rewards"], rtol=0, atol=1e-4,
                                           err_msg=case["name"])
                np.testing.assert_array_equal(on_hand[i][:T], np.asarray(expected["inventory"])[1:],
                                              err_msg=case["name"])


def test_relaxed_quantities_are_float_and_exact_ones_int():
    """And an integer policy (base stock, int32 orders) takes both envs through the same states
    (a few eager steps: no compile)."""
    env, params = sc_jax.make("orgym_v0")
    levels = jnp.array([80, 180, 400], jnp.int32)
    state = env.reset(jax.random.PRNGKey(5), params)[1]
    relaxed_env = env.replace(relaxed=True)
    relaxed_state = relaxed_env.reset(jax.random.PRNGKey(5), params)[1]
    for _ in range(4):
        action = base_stock(levels, state, params, None)
        assert action.dtype == jnp.int32
        out = env.step_env(None, state, action, params)
        relaxed_out = relaxed_env.step_env(None, relaxed_state, action, params)
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(relaxed_out)):
            np.testing.assert_array_equal(np.asarray(a, np.float64), np.asarray(b, np.float64))
        state, relaxed_state = out[1], relaxed_out[1]
    _, state = env.reset(jax.random.PRNGKey(0), params)
    _, relaxed_state = env.replace(relaxed=True).reset(jax.random.PRNGKey(0), params)
    assert state.on_hand.dtype == jnp.int32 and relaxed_state.on_hand.dtype == jnp.float32
    assert relaxed_state.time.dtype == jnp.int32
    assert env.replace(relaxed=True) != env  # another static setting: another compiled program
    with pytest.raises(ConfigError, match="'relaxed' must be True or False, got 'yes'"):
        env.replace(relaxed="yes")


# ---------------------------------------------------------------------------------- gradients

def _constant(level, state, params, key):
    return level


def test_pathwise_gradient_of_a_constant_order_points_the_right_way():
    """d(mean episode reward)/d(constant order) through the relaxed env, v0 and v1: positive when
    the chain is starved (order 2 a period against Poisson(20) demand), negative at the retailer
    when it floods (order 80 a period: holding cost)."""
    env, v0 = sc_jax.make("orgym_v0")
    v1 = v0.replace(backlog=jnp.asarray(False))  # the same env object: one compile
    keys = jax.random.split(jax.random.PRNGKey(1), 32)
    relaxed = relax(env)
    value = jax.jit(jax.value_and_grad(lambda lv, p: rollout(relaxed, _constant, lv, p, keys)[0].mean()))
    for params in (v0, v1):
        _, grad_low = value(jnp.full((3,), 2.0), params)
        _, grad_high = value(jnp.full((3,), 80.0), params)
        assert np.all(np.isfinite(grad_low)) and np.all(np.isfinite(grad_high))
        assert grad_low[0] > 0 and grad_high[0] < 0, (grad_low, grad_high)


def test_policy_gradients_are_finite_and_nonzero():
    env, params = sc_jax.make("orgym_v1", observation="rich")
    config = HDPOConfig(**TINY)
    policy_params = init_policy_params(jax.random.PRNGKey(0), config, env)
    relaxed = relax(env)
    act = make_policy(config, relaxed, relaxed=True)
    keys = jax.random.split(jax.random.PRNGKey(2), 8)
    grads = jax.jit(jax.grad(lambda w: -rollout(relaxed, act, {**policy_params, "params": w}, params,
                                                keys)[0].mean()))(policy_params["params"])
    for name, g in jax.tree_util.tree_leaves_with_path(grads):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)), name
        assert np.abs(g).max() > 0, name


# ----------------------------------------------------------------------------------- training

@pytest.fixture(scope="module")
def trained():
    """OR-Gym's observation (33 numbers, no period index); the vmap over seeds: the entry point."""
    env, params = sc_jax.make("orgym_v1", observation="orgym")
    config = HDPOConfig(**TINY)
    policy_params, metrics = jax.jit(make_train(config, env, params))(jax.random.PRNGKey(0))
    return config, env, params, policy_params, metrics


def test_tiny_training_improves_the_exact_episode_reward(trained):
    config, env, params, policy_params, metrics = trained
    act = make_policy(config, env)
    keys = jax.random.split(jax.random.PRNGKey(987), 128)  # held out: not the training keys
    score = jax.jit(lambda p: rollout(env, act, p, params, keys)[0].mean())
    initial = {**init_policy_params(jax.random.PRNGKey(0), config, env), "obs_stats": policy_params["obs_stats"]}
    before, after = float(score(initial)), float(score(policy_params))
    # measured (seeded, CPU): before ~ 426 (orders ~20% of capacity), after ~ 517
    assert after > before + 50 and after > 490, (before, after)
    curve = np.asarray(metrics["episode_return"])
    assert curve.shape == (config.num_updates,) and np.all(np.isfinite(curve))
    assert curve[-5:].mean() > curve[:5].mean() + 50
    assert set(metrics) == {"episode_return", "grad_norm", "lr", "timesteps"}
    assert int(metrics["timesteps"][-1]) == config.num_updates * config.batch_size * 30


def test_actions_are_integers_in_the_box(trained):
    config, env, params, policy_params, _ = trained
    keys = jax.random.split(jax.random.PRNGKey(3), 16)
    actions = jax.jit(jax.vmap(lambda k: make_policy(config, env)(policy_params, env.reset(k, params)[1],
                                                                   params, None)))(keys)
    space = env.action_space(params)
    assert actions.dtype == jnp.int32
    assert np.all(np.asarray(actions) >= np.asarray(space.low))
    assert np.all(np.asarray(actions) <= np.asarray(space.high))
    # the exact policy is the floor of the relaxed (continuous) one
    continuous = jax.jit(jax.vmap(lambda k: make_policy(config, relax(env), relaxed=True)(
        policy_params, relax(env).reset(k, params)[1], params, None)))(keys)
    np.testing.assert_array_equal(np.asarray(actions), np.floor(np.asarray(continuous)).astype(np.int32))


def test_checkpoint_round_trip(trained, tmp_path):
    config, env, params, policy_params, _ = trained
    save_checkpoint(tmp_path, policy_params, {"agent": config.to_dict(), "algorithm": "hdpo", "brain": "orders"},
                    env=env)
    saved = load_config(tmp_path)
    restored_config = HDPOConfig.from_dict(saved["agent"])
    assert restored_config == config and saved["algorithm"] == "hdpo"
    restored = load_policy_params(tmp_path, restored_config, env)
    for a, b in zip(jax.tree.leaves(policy_params), jax.tree.leaves(restored)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ConfigError, match=r"observation size"):
        load_policy_params(tmp_path, restored_config, env.replace(observation_kind="rich"))
    with pytest.raises(ConfigError, match=r"actor/Dense_0/bias is \(16,\) in the checkpoint, \(8,\)"):
        load_policy_params(tmp_path, HDPOConfig(**{**TINY, "hidden": (8,)}), env)


def test_truncated_gradient_wrapper():
    """TruncateGradient (config.truncation; trained through in the entry-point test) stops the
    gradient through the state every k decisions and leaves values untouched (eager steps)."""
    env, params = sc_jax.make("orgym_v1")
    relaxed = relax(env)
    cut = TruncateGradient(relaxed, 2)
    state = relaxed.reset(jax.random.PRNGKey(6), params)[1]

    def stock_after(level, e, steps):
        s = state
        for _ in range(steps):
            s = e.step_env(None, s, level, params)[1]
        return s.on_hand.sum()

    level = jnp.full((3,), 30.0)
    assert float(stock_after(level, cut, 3)) == float(stock_after(level, relaxed, 3))
    # after decision 2 the state is cut: only the last step's order still moves the stock
    full = jax.grad(stock_after)(level, relaxed, 3)
    truncated = jax.grad(stock_after)(level, cut, 3)
    one_step = jax.grad(stock_after)(level, relaxed, 1)
    assert not np.allclose(full, truncated)
    np.testing.assert_allclose(np.asarray(truncated), np.asarray(one_step))
    with pytest.raises(ConfigError, match="'every' must be an integer >= 1"):
        TruncateGradient(relaxed, 0)


@pytest.mark.parametrize("field,value,allowed", [
    ("lr", -1.0, "a finite number > 0"),
    ("batch_size", 0, "an integer >= 1"),
    ("num_updates", 1.5, "an integer >= 1"),
    ("hidden", [], "a non-empty list of integers >= 1"),
    ("lr_schedule", "step", "one of"),
    ("activation", "sigmoid", "one of"),
    ("init_action_fraction", 1.0, r"a number in \(0, 1\)"),
    ("final_lr_fraction", 2.0, r"a number in \[0, 1\]"),
    ("max_grad_norm", -1.0, "a finite number >= 0"),
    ("truncation", -1, "an integer >= 0"),
    ("normalize_obs", "yes", "true or false"),
])
def test_config_rejects_bad_values(field, value, allowed):
    with pytest.raises(ConfigError, match=rf"'agent\.hdpo\.{field}' must be {allowed}"):
        HDPOConfig(**{field: value})


def test_config_and_env_errors():
    with pytest.raises(ConfigError, match=r"unknown agent.hdpo key\(s\) \['num_envs'\]"):
        HDPOConfig.from_dict({"num_envs": 8})
    env, params = sc_jax.make("orgym_v1")
    with pytest.raises(ConfigError, match="one product"):
        make_train(HDPOConfig(**TINY), env, jax.tree.map(lambda x: jnp.stack([x, x]), params))
    with pytest.raises(ConfigError, match="InventoryEnv or a wrapper"):
        relax(object())
    assert relax(LogWrapper(env)).env.relaxed  # wrappers keep their stack over the relaxed env
    assert HDPOConfig.from_dict(HDPOConfig().to_dict()) == HDPOConfig()


# ------------------------------------------------------------------------------- entry point

def test_train_entry_point_rejects_bad_hdpo_settings(tmp_path):
    train_mod = importlib.import_module("experiments.train")
    with pytest.raises(ConfigError, match=r"'agent\.hdpo\.lr' must be a finite number > 0"):
        train_mod.run(compose_config("train", ["agent=hdpo_orders", "agent.hdpo.lr=-1", "logger.console=false"]),
                      run_dir=tmp_path / "bad")
    with pytest.raises(ConfigError, match=r"'agent\.algorithm' must be one of \('ppo', 'hdpo'\), got 'sac'"):
        train_mod.run(compose_config("train", ["agent=hdpo_orders", "agent.algorithm=sac", "logger.console=false"]),
                      run_dir=tmp_path / "bad2")


@pytest.mark.slow  # the suite's time: train.py's HDPO path runs by default in the safety-conditioned test below
def test_train_entry_point_runs_hdpo_orders(tmp_path):
    train_mod = importlib.import_module("experiments.train")
    """train.py vmaps make_train's train(key, env_params) over seeds (here 2) in one jitted call."""
    cfg = compose_config("train", ["agent=hdpo_orders", "env=orgym_v1", "num_seeds=2", "agent.hdpo.batch_size=4",
                                   "agent.hdpo.num_updates=3", "agent.hdpo.hidden=[8]", "eval.num_paths=8",
                                   "logger.console=false", "plot=false"])
    assert cfg.agent.algorithm == "hdpo" and cfg.agent.hdpo.lr == HDPOConfig().lr
    results = train_mod.run(cfg, run_dir=tmp_path)
    assert results["num_updates"] == 3 and np.isfinite(results["eval"]["mean_reward"])
    first, second = results["final_train_return_per_seed"]
    assert np.isfinite(first) and first != second  # two seeds: other paths, other weights
    saved = load_config(tmp_path / "checkpoint")
    assert saved["algorithm"] == "hdpo" and saved["agent"]["batch_size"] == 4
    env, params = sc_jax.make("orgym_v1")
    restored = load_policy_params(tmp_path / "checkpoint", HDPOConfig.from_dict(saved["agent"]), env)
    assert restored["params"]["params"]["actor"]["Dense_0"]["kernel"].shape == (env.obs_size, 8)


# ------------------------------------------------------------------------- safety-stock brain

# 40-day episodes (4 decisions of 10 days), 16 paths x 40 updates, a 16-unit network: the shapes
# (and so the compile) of the real brain, a few seconds of training
SAFETY_TINY = ["env=hybrid", "demand=forecast", "env.periods=40", "agent.hdpo.batch_size=16",
               "agent.hdpo.num_updates=40", "agent.hdpo.hidden=[16]", "eval.num_paths=16", "eval.sigma_levels=[2,6]",
               "logger.console=false", "plot=false"]


def test_safety_brain_pathwise_gradients_are_finite_and_nonzero():
    """The ratio-conditioned safety brain (cost ratio and sigma drawn per episode, reward weight
    (ratio/100)^0.5): the gradient of the episode cost flows through the order-up-to controller
    (a straight-through ceil for the relaxed state) to every weight of the policy network; with an
    int32 controller it would be zero (make_train's guard, below)."""
    from sc_jax.agents.brains import build_env

    agent = compose_config("train", ["agent=hdpo_safety_conditioned", "env=hybrid", "demand=forecast"]).agent
    base, params = sc_jax.make("hybrid", cost_ratio=100.0, periods=40)
    env = build_env("safety", base, params, dict(agent.safety))
    config = HDPOConfig(**{**TINY, "context_features": 1})
    policy_params = init_policy_params(jax.random.PRNGKey(0), config, env)
    relaxed = relax(env)
    act = make_policy(config, relaxed, relaxed=True)
    keys = jax.random.split(jax.random.PRNGKey(2), 8)
    scenarios = jax.vmap(env.sample_params, in_axes=(0, None))(jax.random.split(jax.random.PRNGKey(3), 8), params)
    assert float(scenarios.cost_ratio.min()) != float(scenarios.cost_ratio.max())  # ratio-conditioned

    @jax.jit
    def cost_and_grad(weights):
        cost = lambda w: -rollout(relaxed, act, {**policy_params, "params": w}, scenarios, keys)[0].mean()
        return jax.value_and_grad(cost)(weights)

    cost, grads = cost_and_grad(policy_params["params"])
    assert np.isfinite(float(cost)) and float(cost) > 0
    for name, g in jax.tree_util.tree_leaves_with_path(grads):
        g = np.asarray(g)
        assert np.all(np.isfinite(g)), name
        assert np.abs(g).max() > 0, name


def test_make_train_refuses_a_controller_that_cuts_the_gradient(monkeypatch):
    """The guard behind the safety brain: a controller returning int32 orders for a relaxed state
    (as before the straight-through ceil) would make every gradient zero; make_train says so
    instead of training nothing (shapes only: no compile)."""
    from sc_jax.agents.brains import build_env
    from sc_jax.agents.hdpo import check_differentiable

    base, params = sc_jax.make("hybrid", periods=40)
    env = build_env("safety", base, params, {"safety_high": 60})
    check_differentiable(relax(env), params)  # the repository's controller: no error
    controller = importlib.import_module("sc_jax.policies.order_up_to")  # the module (the package exports the function)
    original = controller.order_up_to
    monkeypatch.setattr(controller, "order_up_to", lambda *a, **k: original(*a, **k).astype(jnp.int32))
    with pytest.raises(ConfigError, match="HDPO cannot train this safety-stock brain"):
        make_train(HDPOConfig(**TINY), env, params)


@pytest.fixture(scope="module")
def safety_run(tmp_path_factory):
    """python experiments/train.py env=hybrid demand=forecast agent=hdpo_safety env.cost_ratio=100, tiny."""
    train_mod = importlib.import_module("experiments.train")
    run_dir = tmp_path_factory.mktemp("hdpo_safety")
    cfg = compose_config("train", ["agent=hdpo_safety", "env.cost_ratio=100"] + SAFETY_TINY)
    return train_mod.run(cfg, run_dir=run_dir), run_dir


def test_tiny_safety_training_improves_the_exact_cost(safety_run):
    """The brain trained through the relaxed step and the controller costs less in the exact env,
    on train.py's held-out paths, than the initial policy (safety stock ~20% of the range at every
    stage) on the same paths; the training curve (exact costs of fresh paths each update) falls."""
    from sc_jax.agents.brains import evaluate_safety, load_brain

    results, run_dir = safety_run
    brain, act, policy_params, env, params, saved = load_brain(run_dir / "checkpoint")
    assert brain == "safety" and saved["algorithm"] == "hdpo" and float(params.cost_ratio) == 100.0
    config = HDPOConfig.from_dict(saved["agent"])
    initial = {**init_policy_params(jax.random.PRNGKey(0), config, env), "obs_stats": policy_params["obs_stats"]}
    # the same act (make_policy is cached), env and paths as train.py's evaluation: no new compile
    before = evaluate_safety(env, act, initial, params, 100.0, sigma_levels=[2, 6], num_paths=16, seed=20240601)
    after = results["eval"]["ratio_100"]
    # measured (seeded, CPU): before 15.33 (safety stock ~12 at every stage), after 7.53
    assert after["brain_overall"] < 0.75 * before["brain_overall"], (before["brain_overall"], after["brain_overall"])
    curve = np.asarray(results["curve"]["episode_return"])  # minus the costs
    assert np.all(np.isfinite(curve)) and curve[-5:].mean() > curve[:5].mean() + 3


def test_safety_checkpoint_round_trip_load_brain_and_evaluate(safety_run, tmp_path):
    """load_brain rebuilds an HDPO safety brain from its checkpoint (config.json "algorithm":
    "hdpo"): integer safety stocks in the env's range, and experiments/evaluate.py scores it on
    train.py's held-out paths exactly as train.py scored the trained params in memory (the same
    actions at every decision of 32 episodes, or the costs would differ)."""
    from sc_jax.agents.brains import load_brain

    results, run_dir = safety_run
    brain, act, policy_params, env, params, _ = load_brain(run_dir / "checkpoint")
    first = jax.jit(jax.vmap(lambda k: act(policy_params, env.reset(k, params)[1], params, None)))  # jit: eager is slow
    actions = np.asarray(first(jax.random.split(jax.random.PRNGKey(4), 8)))
    assert actions.dtype == np.int32 and actions.shape == (8, 3)
    assert actions.min() >= 0 and actions.max() <= 60 and len(np.unique(actions)) > 1
    evaluate_mod = importlib.import_module("experiments.evaluate")
    cfg = compose_config("evaluate", [f"checkpoint={run_dir / 'checkpoint'}", "num_paths=16", "seed=20240601",
                                      "sigma_levels=[2,6]", "static_baseline=false", "bound_paths=0",
                                      "logger.console=false"])
    out = evaluate_mod.run(cfg, run_dir=tmp_path)
    assert out["brain"] == "safety"
    np.testing.assert_allclose(out["eval"]["ratio_100"]["brain_mean"], results["eval"]["ratio_100"]["brain_mean"],
                               rtol=1e-6)
    bad = tmp_path / "bad"
    save_checkpoint(bad, policy_params, {**load_config(run_dir / "checkpoint"), "algorithm": "sac"})
    with pytest.raises(ConfigError, match=r"'algorithm' must be one of \['ppo', 'hdpo'\], got 'sac'"):
        load_brain(bad)


def test_train_entry_point_runs_hdpo_safety_conditioned(tmp_path):
    """agent=hdpo_safety_conditioned: a log-uniform cost ratio per episode, evaluated at 10, 100
    and 1000 (a couple of updates: the entry point's plumbing, not a score)."""
    train_mod = importlib.import_module("experiments.train")
    cfg = compose_config("train", ["agent=hdpo_safety_conditioned", "env=hybrid", "demand=forecast", "env.periods=40",
                                   "agent.hdpo.batch_size=4", "agent.hdpo.num_updates=2", "agent.hdpo.hidden=[16]",
                                   "eval.num_paths=4", "eval.sigma_levels=[2,6]", "logger.console=false", "plot=false"])
    assert cfg.agent.safety.ratio_low == 10.0 and cfg.agent.safety.reward_ratio_power == 0.5
    results = train_mod.run(cfg, run_dir=tmp_path)
    assert sorted(results["eval"]) == ["ratio_10", "ratio_100", "ratio_1000"]
    costs = [results["eval"][k]["brain_overall"] for k in ("ratio_10", "ratio_100", "ratio_1000")]
    assert np.all(np.isfinite(costs)) and costs[0] > costs[1] > costs[2]  # holding cost k / ratio
    saved = load_config(tmp_path / "checkpoint")
    assert saved["algorithm"] == "hdpo" and saved["safety"]["ratio_high"] == 1000.0
