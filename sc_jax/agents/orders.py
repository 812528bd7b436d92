"""Brain 1: PPO choosing OR-Gym order quantities every period.

The training env is the InventoryEnv itself (`step_env`, fixed 30-period episodes); actions are
integer orders per stage in its action space [0, supply capacity c_m]. The observation is the
env's: OR-Gym's 33 numbers (`observation="orgym"`) or the richer one (`"rich"`: + backlog,
pipeline by lag, period index).
"""
from __future__ import annotations

from typing import Mapping

import jax

from sc_jax.agents.ppo import PPOConfig, make_policy, make_train


def train_orders_agent(env, params=None, cfg: PPOConfig | Mapping | None = None, seed: int = 0):
    """Train PPO on one product's chain (`env`, `params`; default env.default_params); returns
    (act, policy_params) with act the deterministic policy
    act(policy_params, state, params, key) -> orders [M] int32."""
    config = cfg if isinstance(cfg, PPOConfig) else PPOConfig.from_dict(dict(cfg or {}))
    train = jax.jit(make_train(config, env, params))
    policy_params, _ = train(jax.random.PRNGKey(seed))
    return make_policy(config, env, deterministic=True), policy_params


__all__ = ["train_orders_agent"]
