"""Brain 1: PPO choosing OR-Gym order quantities every period.

The environment is sc_jax.env as is (`step_env`, fixed 30-period episodes); actions are integer
orders per stage in [0, supply capacity c_m]. The observation is whatever `env_params` asks for:
OR-Gym's 33 numbers (`observation="orgym"`) or the richer one (`"rich"`: + backlog, pipeline by
lag, period index).
"""
from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.agents.ppo import PPOConfig, TrainEnv, make_policy, make_train
from sc_jax.env import EnvParams, observation_size, observe, reset, step_env


def make_orders_env(env_params: EnvParams) -> TrainEnv:
    """TrainEnv for one product's OR-Gym chain (no leading product axis on `env_params`)."""
    if env_params.initial_inventory.ndim != 1:
        from sc_jax.errors import ConfigError

        raise ConfigError("orders PPO trains on one product: env params must have no product axis, "
                          f"got initial_inventory shape {env_params.initial_inventory.shape}")
    capacity = tuple(int(c) for c in np.asarray(env_params.supply_capacity))
    return TrainEnv(reset=reset, step=step_env, observe=observe,
                    sample_params=lambda key: env_params,
                    time_index=lambda state: jnp.minimum(state.time, env_params.periods - 1),
                    episode_length=env_params.periods, obs_size=observation_size(env_params),
                    action_low=(0,) * len(capacity), action_high=capacity)


def rollout_returns(act_fn, policy_params, env_params: EnvParams, keys):
    """Episode reward (OR-Gym's: sum of the discounted step rewards) per key [S]; jittable.
    Common random numbers: the path of key i is the same for every policy."""

    def episode(key):
        k_reset, k_act = jax.random.split(key)
        _, state = reset(k_reset, env_params)

        def one(state, k):
            action = act_fn(policy_params, state, env_params, k)
            _, state, reward, _, _ = step_env(k, state, action, env_params)
            return state, reward

        _, rewards = jax.lax.scan(one, state, jax.random.split(k_act, env_params.periods))
        return rewards.sum()

    return jax.vmap(episode)(keys)


def held_out_keys(num_paths: int, seed: int = 12345):
    """Evaluation keys from a seed the training never uses (training draws from its own key)."""
    return jax.random.split(jax.random.PRNGKey(seed + 7_777_777), num_paths)


def train_orders_agent(env_params: EnvParams, cfg: PPOConfig | Mapping | None = None, seed: int = 0):
    """Train PPO on `env_params`; returns (act_fn, policy_params) with act_fn the deterministic
    policy act(policy_params, state, env_params, key) -> orders [M] int32."""
    config = cfg if isinstance(cfg, PPOConfig) else PPOConfig.from_dict(dict(cfg or {}))
    env = make_orders_env(env_params)
    train = jax.jit(make_train(config, env))
    policy_params, _ = train(jax.random.PRNGKey(seed))
    return make_policy(config, env, deterministic=True), policy_params
