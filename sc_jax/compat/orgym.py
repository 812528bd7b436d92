"""OR-Gym compatibility: replay a demand path and actions through sc_jax's one jitted step.

`simulate(config, demand, actions)` (through the one rollout, sc_jax.env.rollout) takes OR-Gym's keyword names (periods, I0, p, r, k, h, c, L,
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

from sc_jax.env.demand import validate_user_demand
from sc_jax.env.params import ORGYM_DEFAULTS, make_env
from sc_jax.env.rollout import rollout
from sc_jax.checks import reject_unknown_keys
from sc_jax.errors import ConfigError

CONFIG_KEYS = ("periods", "I0", "p", "r", "k", "h", "c", "L", "backlog", "alpha")


# Replays run on padded shapes (periods rounded up to a multiple of 10, a history of at least 10
# periods) so that configs of different lengths share compiled code; the padding is cut off.
_PAD_PERIODS, _MIN_HISTORY = 10, 10


def env_from_config(config: Mapping, **overrides):
    """(env, params) from an OR-Gym keyword config (unknown keys are an error)."""
    if config is None or not isinstance(config, Mapping):
        raise ConfigError(f"'config' must be a mapping of OR-Gym keywords {CONFIG_KEYS} (may be empty), "
                          f"got {type(config).__name__}")
    reject_unknown_keys(config, CONFIG_KEYS, "OR-Gym config")
    merged = {**ORGYM_DEFAULTS, **config}
    periods = merged.pop("periods")
    return make_env(periods=periods, **merged, demand="user",
                    user_demand=np.zeros(periods if isinstance(periods, int) and periods > 0 else 1,
                                         np.int32), **overrides)


def _action_at_period(actions, state, params, key):
    """Replay policy: the recorded action of the current period."""
    del params, key
    return actions[state.time]


@partial(jax.jit, static_argnames=("env",))
def _replay(env, params, demand, actions):
    """The recorded actions through the one rollout (a batch of one episode)."""
    path = env.stationary_path(demand, params)
    obs0, _ = env.reset_with_demand(params, path)
    batch = jax.tree.map(lambda x: x[None], path)
    collect = lambda tr: (env.get_obs(tr.next_state, params), tr.reward, tr.info.on_hand)
    _, (obs, rewards, on_hand), _ = rollout(env, _action_at_period, actions, params, demand=batch,
                                            collect=collect)
    observations = jnp.concatenate([obs0[None], obs[:, 0]])
    inventory = jnp.concatenate([params.initial_inventory[None], on_hand[:, 0]])
    return rewards[:, 0], observations, inventory


def simulate(config: Mapping, demand, actions) -> dict:
    """Replay `actions` [T, M] against integer `demand` [T] under OR-Gym config `config`.

    Returns NumPy arrays: rewards [T], observations [T+1, M*(max L+1)], inventory [T+1, M]."""
    env, params = env_from_config(config)
    T, M, max_lead = env.periods, env.num_stages, env.history_length
    demand = np.asarray(demand)
    if demand.shape != (T,):
        raise ConfigError(f"demand must have shape [periods]=({T},), got {demand.shape}")
    demand = validate_user_demand(demand, T)[0]
    actions = np.asarray(actions, dtype=np.float64)
    if actions.shape != (T, M):
        raise ConfigError(f"actions must have shape [periods, stages]=({T}, {M}), got {actions.shape}")
    if not np.all(np.isfinite(actions)):
        raise ConfigError("actions must be finite numbers")
    padded_T = -(-T // _PAD_PERIODS) * _PAD_PERIODS
    padded_env = env.replace(periods=padded_T, history_length=max(max_lead, _MIN_HISTORY),
                             default_params=None)
    params = params.replace(user_demand=jnp.zeros((1, padded_T), jnp.int32))
    pad = padded_T - T
    rewards, observations, inventory = _replay(
        padded_env, params, jnp.asarray(np.pad(demand, (0, pad))),
        jnp.asarray(np.pad(actions, ((0, pad), (0, 0))), jnp.float32))
    # OR-Gym's observation: on hand, then the last max(L) requests (drop the extra history)
    observations = np.asarray(observations, np.float64)[: T + 1]
    observations = np.concatenate([observations[:, :M], observations[:, observations.shape[1] - M * max_lead:]], axis=1)
    return {"rewards": np.asarray(rewards, np.float64)[:T],
            "observations": observations,
            "inventory": np.asarray(inventory, np.float64)[: T + 1]}
