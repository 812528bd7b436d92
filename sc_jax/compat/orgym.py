"""OR-Gym compatibility: replay a demand path and actions through sc_jax's one jitted step.

`simulate(config, demand, actions)` takes OR-Gym's keyword names (periods, I0, p, r, k, h, c, L,
backlog, alpha) and returns what OR-Gym 0.5.0's InvManagement env would produce: per-step rewards
(discount included), observations in OR-Gym's layout (reset observation first) and on-hand
inventory at the start of each period. Agreement is tested to 1e-4 (tests/test_orgym_parity.py).
"""
from __future__ import annotations

from functools import partial
from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.env.dynamics import reset_with_demand, step_env
from sc_jax.env.demand import stationary_path
from sc_jax.env.params import ORGYM_DEFAULTS, make_params
from sc_jax.errors import ConfigError

CONFIG_KEYS = ("periods", "I0", "p", "r", "k", "h", "c", "L", "backlog", "alpha")


def params_from_config(config: Mapping, **overrides):
    """EnvParams from an OR-Gym keyword config (unknown keys are an error)."""
    unknown = set(config) - set(CONFIG_KEYS)
    if unknown:
        raise ConfigError(f"unknown OR-Gym config key(s) {sorted(unknown)}; allowed: {CONFIG_KEYS}")
    merged = {**ORGYM_DEFAULTS, **config}
    return make_params(periods=merged.pop("periods"), **merged, demand="user",
                       user_demand=np.zeros(int(config.get("periods", 30)), np.int32), **overrides)


@partial(jax.jit, static_argnames=())
def _replay(params, demand, actions):
    obs0, state = reset_with_demand(params, stationary_path(demand, params))

    def one_period(state, action):
        obs, state, reward, _, _ = step_env(None, state, action, params)
        return state, (obs, reward, state.on_hand)

    _, (obs, rewards, on_hand) = jax.lax.scan(one_period, state, actions)
    observations = jnp.concatenate([obs0[None], obs])
    inventory = jnp.concatenate([params.initial_inventory[None], on_hand])
    return rewards, observations, inventory


def simulate(config: Mapping, demand, actions) -> dict:
    """Replay `actions` [T, M] against integer `demand` [T] under OR-Gym config `config`.

    Returns NumPy arrays: rewards [T], observations [T+1, M*(max L+1)], inventory [T+1, M]."""
    params = params_from_config(config)
    T, M = params.periods, params.num_stages
    demand = np.asarray(demand)
    if demand.shape != (T,):
        raise ConfigError(f"demand must have shape [periods]=({T},), got {demand.shape}")
    from sc_jax.env.demand import validate_user_demand

    demand = validate_user_demand(demand, T)[0]
    actions = np.asarray(actions, dtype=np.float64)
    if actions.shape != (T, M):
        raise ConfigError(f"actions must have shape [periods, stages]=({T}, {M}), got {actions.shape}")
    if not np.all(np.isfinite(actions)):
        raise ConfigError("actions must be finite numbers")
    rewards, observations, inventory = _replay(params, jnp.asarray(demand),
                                               jnp.asarray(actions, jnp.float32))
    return {"rewards": np.asarray(rewards, np.float64),
            "observations": np.asarray(observations, np.float64),
            "inventory": np.asarray(inventory, np.float64)}
