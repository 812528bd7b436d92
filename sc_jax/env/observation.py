"""Observations.

"orgym": OR-Gym's layout, M x (H + 1) numbers: on hand per stage at the start of the period, then
  the last H requested orders (max(action, 0) floored, before backlog/capacity caps), oldest
  first, zero-padded (H = max lead time; 33 numbers with the defaults).
"rich": the OR-Gym numbers, then in transit per stage [M], backlog [M+1], in-transit units by
  the period they arrive in [H, M] (1..H periods ahead), periods left / T, one-hot period [T] (only when T <= 64: in short episodes the
  period matters, long ones would drown the rest), forecast mean and std over the next W periods
  [2W], lead times [M] and log10(cost ratio). Unscaled: agents normalise.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from sc_jax.env.types import EnvParams, EnvState

ONE_HOT_MAX_PERIODS = 64
RATIO_CLIP = (1e-6, 1e6)


def orgym_observation(state: EnvState) -> jnp.ndarray:
    return jnp.concatenate([state.on_hand, state.request_history.reshape(-1)]).astype(jnp.float32)


def rich_observation(env, state: EnvState, params: EnvParams) -> jnp.ndarray:
    f32 = lambda x: jnp.asarray(x, jnp.float32).reshape(-1)
    T, W = env.periods, env.forecast_window
    t = jnp.minimum(state.time, T - 1)
    parts = [
        orgym_observation(state),
        f32(state.in_transit),
        f32(state.backlog_units),
        f32(state.arrival_schedule[:-1]),  # rows 0..H-1 arrive 1..H periods ahead (row H is empty)
        f32((T - state.time) / T),
    ]
    if T <= ONE_HOT_MAX_PERIODS:
        parts.append(jax.nn.one_hot(t, T, dtype=jnp.float32))
    if W > 0:
        start = jnp.minimum(state.time, T)
        parts.append(jax.lax.dynamic_slice(state.demand.forecast_mean, (start,), (W,)))
        parts.append(jax.lax.dynamic_slice(state.demand.forecast_std, (start,), (W,)))
    # the ratio is clipped into [1e-6, 1e6] so that a chain without missed-sale or holding cost
    # (ratio 0 or inf, e.g. OR-Gym's k[0] = 0) still gives a finite observation
    ratio = jnp.clip(params.cost_ratio, RATIO_CLIP[0], RATIO_CLIP[1])
    parts += [f32(params.lead_time), f32(jnp.log10(ratio))]
    return jnp.concatenate(parts)


def observe(env, state: EnvState, params: EnvParams) -> jnp.ndarray:
    if env.observation_kind == "rich":
        return rich_observation(env, state, params)
    return orgym_observation(state)


def observation_size(env) -> int:
    """Length of the observation vector (a Python int, from static settings only)."""
    M, H, T, W = env.num_stages, env.history_length, env.periods, env.forecast_window
    if env.observation_kind == "rich":
        one_hot = T if T <= ONE_HOT_MAX_PERIODS else 0
        return M * (H + 1) + M + (M + 1) + H * M + 1 + one_hot + 2 * W + M + 1
    return M * (H + 1)
