"""The environment object as a newcomer uses it (gymnax style):

    env, params = sc_jax.make("orgym_v1")
    obs, state = env.reset(key, params)
    obs, state, reward, done, info = env.step(key, state, action, params)

presets and their static settings, shapes, auto-reset, spaces, hashability / jit, a batch of
params under vmap, the wrappers, and the one rollout against a hand-written loop."""
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import sc_jax
from sc_jax.env import Box, EnvParams, EnvState, InventoryEnv, StepInfo, make_env, replicate, rollout
from sc_jax.env.rollout import sample_paths
from sc_jax.errors import ConfigError
from sc_jax.env.wrappers import (FlattenObservationWrapper, LogWrapper, SafetyStockEnv,
                                 ScaleRewardByCostRatio, fixed_safety_stock, params_by_sigma)
from sc_jax.evaluate import scenario_costs
from sc_jax.policies import base_stock

KEY = jax.random.PRNGKey(0)
STATIC = {  # name: (periods, history length, demand, observation, forecast window)
    "orgym_v0": (30, 10, "poisson", "orgym", 0),
    "orgym_v1": (30, 10, "poisson", "orgym", 0),
    "hybrid": (200, 4, "forecast", "rich", 15),
}


@pytest.fixture(scope="module")
def v1():
    return sc_jax.make("orgym_v1")


@pytest.mark.parametrize("name", sorted(STATIC))
def test_make_returns_env_and_params_with_static_settings(name):
    env, params = sc_jax.make(name)
    assert isinstance(env, InventoryEnv) and isinstance(params, EnvParams)
    periods, history, demand, observation, window = STATIC[name]
    assert (env.num_stages, env.periods, env.history_length, env.demand_kind, env.observation_kind,
            env.forecast_window, env.couple_products, env.name) == (3, periods, history, demand, observation,
                                                                   window, False, name)
    assert env.num_actions == 3 and env.episode_length == periods and env.unwrapped is env
    assert bool(params.backlog) == (name == "orgym_v0")
    np.testing.assert_array_equal(params.supply_capacity, [100, 90, 80])
    # spaces: the observation space has the observation's shape and contains it
    obs, state = env.reset(KEY, params)
    space = env.observation_space(params)
    assert isinstance(space, Box) and space.shape == obs.shape == (env.obs_size,)
    assert bool(space.contains(obs)) and obs.dtype == jnp.float32
    # the action space is [0, supply capacity] per stage, and its samples lie in it
    actions = env.action_space(params)
    assert actions.shape == (3,)
    np.testing.assert_array_equal(actions.low, [0, 0, 0])
    np.testing.assert_array_equal(actions.high, params.supply_capacity)
    samples = jax.vmap(actions.sample)(jax.random.split(KEY, 64))
    assert samples.shape == (64, 3) and samples.dtype == actions.dtype
    assert bool(jax.vmap(actions.contains)(samples).all())
    assert not bool(actions.contains(jnp.array([-1, 0, 0]))) and not bool(actions.contains(jnp.array([0, 91, 0])))
    # params default to the env's own (gymnax: env.default_params)
    np.testing.assert_array_equal(env.reset(KEY)[0], obs)


def test_reset_step_shapes(v1):
    env, params = v1
    obs, state = env.reset(KEY, params)
    assert isinstance(state, EnvState) and int(state.time) == 0
    assert state.on_hand.shape == (3,) and state.arrival_schedule.shape == (11, 3)
    assert state.request_history.shape == (10, 3) and state.backlog_units.shape == (4,)
    assert state.demand.actual.shape == (30,) and state.demand.actual.dtype == jnp.int32
    action = env.action_space(params).sample(KEY)
    for out in (env.step(KEY, state, action, params), env.step_env(KEY, state, action, params)):
        obs2, state2, reward, done, info = out
        assert obs2.shape == obs.shape and reward.shape == () and reward.dtype == jnp.float32
        assert done.shape == () and done.dtype == jnp.bool_ and not bool(done)
        assert isinstance(info, StepInfo) and info.sales.shape == (4,) and info.on_hand.shape == (3,)
        assert int(state2.time) == 1
        np.testing.assert_array_equal(obs2, env.get_obs(state2, params))
    # OR-Gym observation: on hand, then the request history with this period's order last
    np.testing.assert_array_equal(obs2[:3], state2.on_hand)
    np.testing.assert_array_equal(obs2[-3:], jnp.maximum(action, 0))


@partial(jax.jit, static_argnums=(0, 1, 4))
def _run_steps(env, auto_reset, key, params, num_steps):
    """num_steps steps of a constant action from reset(key): per step (time, done, demand path)."""
    _, state = env.reset(key, params)
    step = env.step if auto_reset else env.step_env

    def body(state, k):
        _, state, reward, done, _ = step(k, state, jnp.array([20, 20, 20]), params)
        return state, (state.time, done, state.demand.actual, state.on_hand)

    return jax.lax.scan(body, state, jax.random.split(jax.random.fold_in(key, 1), num_steps))


def test_step_auto_resets_after_periods_and_step_env_does_not():
    env, params = sc_jax.make("orgym_v1", periods=6)
    T = env.periods
    _, (time, done, paths, on_hand) = _run_steps(env, True, KEY, params, 2 * T)
    np.testing.assert_array_equal(done, np.arange(2 * T) % T == T - 1)
    np.testing.assert_array_equal(time, np.where(np.arange(2 * T) % T == T - 1, 0, np.arange(2 * T) % T + 1))
    np.testing.assert_array_equal(on_hand[T - 1], params.initial_inventory)  # reset state
    assert not np.array_equal(paths[0], paths[T - 1])  # a new episode: a new demand path
    np.testing.assert_array_equal(paths[T - 1], paths[T])  # held for the episode
    # without auto-reset the episode ends and stays ended
    final, (time, done, paths, _) = _run_steps(env, False, KEY, params, T)
    np.testing.assert_array_equal(time, np.arange(1, T + 1))
    assert bool(done[-1]) and not bool(done[:-1].any()) and bool(env.is_terminal(final, params))
    np.testing.assert_array_equal(paths[-1], paths[0])


def test_env_is_hashable_and_a_static_jit_argument(v1):
    env, params = v1
    again, _ = sc_jax.make("orgym_v1")
    assert env == again and hash(env) == hash(again) and env != sc_jax.make("orgym_v1", periods=5)[0]
    assert {env: 1}[again] == 1
    traces = []

    @partial(jax.jit, static_argnums=0)
    def first_reward(env, key, params):
        traces.append(env)
        _, state = env.reset(key, params)
        return env.step(key, state, jnp.array([5, 5, 5]), params)[2]

    a = first_reward(env, KEY, params)
    b = first_reward(again, KEY, sc_jax.make("orgym_v1")[1])
    assert len(traces) == 1 and float(a) == float(b)  # equal envs share the compiled function
    wrapped = LogWrapper(FlattenObservationWrapper(env))
    assert hash(wrapped) == hash(LogWrapper(FlattenObservationWrapper(again)))


def test_a_batch_of_params_vmaps_through_reset_and_step():
    env, params = make_env(demand_params={"mu": np.array([5.0, 20.0, 40.0, 60.0])}, backlog=False,
                           c=np.array([[100, 90, 80]] * 2 + [[10, 10, 10]] * 2))
    assert params.initial_inventory.shape == (4, 3) and params.supply_capacity.shape == (4, 3)
    keys = jax.random.split(KEY, 4)
    obs, state = jax.vmap(env.reset)(keys, params)
    assert obs.shape == (4, env.obs_size) and state.on_hand.shape == (4, 3)
    action = jnp.tile(jnp.array([50, 50, 50]), (4, 1))
    step = jax.jit(jax.vmap(env.step))
    obs, state, reward, done, info = step(keys, state, action, params)
    assert obs.shape == (4, env.obs_size) and reward.shape == (4,) and info.accepted.shape == (4, 3)
    np.testing.assert_array_equal(info.accepted[2:, 2], 10)  # each product its own capacity
    np.testing.assert_array_equal(info.accepted[:2, 2], 50)
    means = np.asarray(state.demand.actual).mean(axis=1)
    assert means[0] < 15 < 40 < means[3]  # each product its own demand (mu 5 and 60)
    # replicate: one product's params with a leading axis
    one = replicate(sc_jax.make("orgym_v1")[1], 4)
    assert jax.vmap(env.reset)(keys, one)[0].shape == (4, env.obs_size)


# --- wrappers -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hybrid_small():
    """The hybrid chain, short: 20 days, 5-day decisions."""
    env, params = sc_jax.make("hybrid", periods=20, forecast_window=5, cost_ratio=400.0)
    return env, params, SafetyStockEnv(env, action_frequency=5, safety_low=0, safety_high=10)


@partial(jax.jit, static_argnums=0)
def _safety_episodes(env, keys, params, safety):
    """One episode per key of the safety-stock env with env.step (auto-reset) at a fixed safety
    stock: (step index, reward, done, info) [keys, decisions]."""
    def episode(key):
        _, state = env.reset(key, params)

        def body(state, k):
            index = env.step_index(state)
            _, state, reward, done, info = env.step(k, state, safety, params)
            return state, (index, reward, done, info)

        return jax.lax.scan(body, state, jax.random.split(key, env.episode_length))[1]

    return jax.vmap(episode)(keys)


def test_safety_stock_env(hybrid_small):
    base, params, env = hybrid_small
    assert env.episode_length == base.periods // 5 == 4 and env.unwrapped is base
    assert env.obs_size == base.obs_size and env.num_stages == 3  # forwarded
    space = env.action_space(params)
    np.testing.assert_array_equal(space.low, [0, 0, 0])
    np.testing.assert_array_equal(space.high, [10, 10, 10])
    assert bool(space.contains(space.sample(KEY)))
    safety = jnp.array([2, 4, 6])
    keys = jax.random.split(jax.random.PRNGKey(3), 8)
    index, reward, done, info = _safety_episodes(env, keys, params, safety)
    np.testing.assert_array_equal(index, np.broadcast_to(np.arange(4), (8, 4)))
    np.testing.assert_array_equal(done, np.broadcast_to([False, False, False, True], (8, 4)))
    # on the hybrid preset (no revenue, no purchase cost) reward = -(holding + missed sales)
    np.testing.assert_allclose(reward, -(info["holding_cost"] + info["shortage_cost"]), rtol=1e-5, atol=1e-5)
    assert np.all(np.asarray(reward) < 0)
    # scenario_costs runs the one rollout per scenario (cost ratio 400 at sigma levels 1 and 5;
    # the preset's own sigma_max is 5) with episode i's demand drawn from keys[i], as reset does
    costs = scenario_costs(env, fixed_safety_stock, safety, params_by_sigma(params, 400.0, [1, 5]), keys)
    assert costs.shape == (2, 8) and float(params.forecast[6]) == 5.0
    np.testing.assert_allclose(costs[1], -np.asarray(reward).sum(axis=1), rtol=1e-5)
    assert costs[0].mean() < costs[1].mean()  # a better forecast costs less at the same safety stock


@pytest.mark.parametrize("semantics, timing", [("exact", "before_arrivals"), ("sample", "after_arrivals")])
def test_safety_stock_env_sigma_rule_controller(semantics, timing):
    """controller="sigma_rule": action a per stage is the sigma rule's z = a x z_step (negative
    allowed), with the rule's supplier timing taken from the env's supply semantics; a constant
    action gives exactly the sigma rule's episodes through the one rollout (same keys)."""
    from sc_jax.env.rollout import rollout as one_rollout
    from sc_jax.policies.sigma_rule import sigma_rule_policy

    base, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, semantics=semantics, periods=20)
    env = SafetyStockEnv(base, action_frequency=5, safety_low=-8, safety_high=16, controller="sigma_rule",
                         z_step=0.25)
    assert env.sigma_rule_timing == timing
    space = env.action_space(params)
    np.testing.assert_array_equal(space.low, [-8, -8, -8])
    action = jnp.array([8, -4, 2])  # z = [2, -1, 0.5]
    keys = jax.random.split(jax.random.PRNGKey(5), 6)
    by_level = params_by_sigma(params, 100.0, [2, 6])
    costs = scenario_costs(env, fixed_safety_stock, action, by_level, keys)
    rule = sigma_rule_policy("installation", True, timing)
    for i in range(2):
        level = jax.tree.map(lambda x, i=i: x[i], by_level)
        reward = one_rollout(base, rule, jnp.array([2.0, -1.0, 0.5]), level, keys)[0]
        np.testing.assert_allclose(costs[i], -np.asarray(reward), rtol=1e-5)
    # a different z changes the costs (the action is read)
    other = scenario_costs(env, fixed_safety_stock, jnp.array([0, 0, 0]), by_level, keys)
    assert not np.allclose(costs, other)


def test_safety_stock_env_controller_errors():
    base, _ = sc_jax.make("hybrid", periods=20, forecast_window=5)
    with pytest.raises(ConfigError, match=r"'controller' must be one of .*'order_up_to', 'sigma_rule'.*got 'pid'"):
        SafetyStockEnv(base, action_frequency=5, controller="pid")
    with pytest.raises(ConfigError, match="'z_step' must be a finite number > 0, got 0"):
        SafetyStockEnv(base, action_frequency=5, controller="sigma_rule", z_step=0)
    with pytest.raises(ConfigError, match=r"0 <= safety_low < safety_high \(controller 'order_up_to'\), got \[-1, 10\]"):
        SafetyStockEnv(base, action_frequency=5, safety_low=-1)
    SafetyStockEnv(base, action_frequency=5, safety_low=-1, controller="sigma_rule")  # negative z: allowed


def test_scale_reward_by_cost_ratio(hybrid_small):
    base, params, env = hybrid_small
    scaled = ScaleRewardByCostRatio(env, power=0.5)  # (400 / 100) ** 0.5 = 2
    assert scaled.episode_length == env.episode_length
    _, state = scaled.reset(KEY, params)
    safety = jnp.array([2, 4, 6])
    rewards = jax.jit(lambda state: (env.step_env(KEY, state, safety, params)[2],
                                     scaled.step_env(KEY, state, safety, params)[2],
                                     scaled.step(KEY, state, safety, params)[2]))(state)
    reward, scaled_env_reward, scaled_reward = map(float, rewards)
    assert scaled_env_reward == pytest.approx(2.0 * reward, rel=1e-6)
    assert scaled_reward == pytest.approx(2.0 * reward, rel=1e-6)


def test_flatten_observation_wrapper(hybrid_small):
    base, params, _ = hybrid_small
    env = FlattenObservationWrapper(base)
    obs, state = env.reset(KEY, params)
    assert obs.ndim == 1 and obs.dtype == jnp.float32 and env.observation_space(params).shape == obs.shape
    np.testing.assert_array_equal(obs, base.reset(KEY, params)[0])
    obs2, *_ = env.step(KEY, state, jnp.array([10, 10, 10]), params)
    np.testing.assert_array_equal(obs2, base.step(KEY, state, jnp.array([10, 10, 10]), params)[0])


def test_log_wrapper_returns_the_sum_of_a_finished_episode():
    base, params = sc_jax.make("orgym_v0", periods=5)
    env = LogWrapper(FlattenObservationWrapper(base))
    T = base.periods

    @jax.jit
    def run(key):
        _, state = env.reset(key, params)

        def body(state, k):
            _, state, reward, done, info = env.step(k, state, jnp.array([20.0, 20.0, 20.0]), params)
            return state, (reward, done, info)

        return jax.lax.scan(body, state, jax.random.split(key, 2 * T + 2))[1]

    reward, done, info = run(KEY)
    reward = np.asarray(reward)
    np.testing.assert_array_equal(info["returned_episode"], done)
    np.testing.assert_array_equal(np.flatnonzero(done), [T - 1, 2 * T - 1])
    returned = np.asarray(info["returned_episode_returns"])
    assert returned[:T - 1].tolist() == [0.0] * (T - 1)  # nothing finished yet
    assert returned[T - 1] == pytest.approx(reward[:T].sum(), rel=1e-6)
    assert returned[2 * T - 1] == pytest.approx(reward[T:2 * T].sum(), rel=1e-6)
    assert returned[2 * T] == returned[2 * T - 1]  # held until the next episode ends
    assert reward[:T].sum() != pytest.approx(reward[T:2 * T].sum())  # different demand paths
    np.testing.assert_array_equal(np.asarray(info["returned_episode_lengths"])[T - 1:], T)
    np.testing.assert_array_equal(info["timestep"], np.arange(1, 2 * T + 3))


# --- the one rollout --------------------------------------------------------------------------------

def test_rollout_equals_a_hand_written_loop(v1):
    env, params = v1
    levels = jnp.array([60.0, 130.0, 240.0])
    keys = jax.random.split(jax.random.PRNGKey(4), 3)
    collect = lambda tr: (tr.action, tr.reward, tr.info.on_hand, tr.info.sales, tr.state.time)
    total, (actions, rewards, on_hand, sales, times), final = rollout(
        env, base_stock, levels, params, keys, collect=collect)
    assert total.shape == (3,) and rewards.shape == (30, 3) and on_hand.shape == (30, 3, 3)
    np.testing.assert_array_equal(times, np.broadcast_to(np.arange(30)[:, None], (30, 3)))
    paths = sample_paths(env, params, keys)
    step = jax.jit(env.step_env)
    for i in range(3):
        path = jax.tree.map(lambda x, i=i: x[i], paths)
        _, state = env.reset_with_demand(params, path)
        loop_rewards = []
        for t in range(env.periods):
            action = base_stock(levels, state, params)
            np.testing.assert_array_equal(action, actions[t, i])
            _, state, reward, _, info = step(None, state, action, params)
            np.testing.assert_array_equal(info.on_hand, on_hand[t, i])
            np.testing.assert_array_equal(info.sales, sales[t, i])
            loop_rewards.append(float(reward))
        np.testing.assert_allclose(loop_rewards, rewards[:, i], rtol=1e-6, atol=1e-5)
        assert float(total[i]) == pytest.approx(sum(loop_rewards), rel=1e-5)
        np.testing.assert_array_equal(state.on_hand, final.on_hand[i])
        np.testing.assert_array_equal(state.backlog_units, final.backlog_units[i])
    # the rollout's paths are what env.reset draws from the same keys
    np.testing.assert_array_equal(paths.actual[0], env.reset(keys[0], params)[1].demand.actual)


# --- gymnax interoperability (gymnax is optional) --------------------------------------------------

def test_spaces_agree_with_gymnax(v1):
    spaces = pytest.importorskip("gymnax.environments.spaces")
    env, params = v1
    ours = env.action_space(params)
    theirs = spaces.Box(ours.low, ours.high, ours.shape, ours.dtype)
    keys = jax.random.split(KEY, 32)
    assert all(bool(theirs.contains(ours.sample(k))) for k in keys)
    assert all(bool(ours.contains(theirs.sample(k))) for k in keys)
    obs_space = env.observation_space(params)
    theirs = spaces.Box(obs_space.low, obs_space.high, obs_space.shape, obs_space.dtype)
    assert bool(theirs.contains(env.reset(KEY, params)[0]))


def test_rich_observation_shows_the_next_arrivals():
    """The rich observation's in-transit-by-period block [H, M] starts with what arrives at the
    next step (it used to drop that row and show the always-empty row H instead)."""
    env, params = sc_jax.make("orgym_v1", L=[1, 2, 3], I0=[100, 100, 100], observation="rich")
    M, H = 3, env.history_length
    _, state = env.reset(jax.random.PRNGKey(0), params)
    obs, state, _, _, _ = env.step_env(None, state, jnp.array([5, 6, 7]), params)
    start = M * (H + 1) + M + (M + 1)
    schedule = np.asarray(obs[start:start + H * M]).reshape(H, M)
    np.testing.assert_array_equal(schedule, [[5, 0, 0], [0, 6, 0], [0, 0, 7]])
    _, _, _, _, info = env.step_env(None, state, jnp.zeros(3), params)
    np.testing.assert_array_equal(info.arrivals, schedule[0])
