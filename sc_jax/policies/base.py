"""One policy signature for classical rules, decision rules and learned agents.

A policy is a pure function ``act(policy_params, state, params, key) -> action`` for one product
(vmap adds products and samples): orders [M] for the base env, a safety stock [M] for the
safety-stock wrapper (sc_jax.env.wrappers.SafetyStockEnv); the same `sc_jax.env.rollout` runs
both. It reads what it needs from the `EnvState` (static sizes from its shapes; a learned agent
calls `env.get_obs(state, params)`); `policy_params` is any pytree (base-stock levels, network
weights), so tuning and training vmap over it.
"""
from __future__ import annotations

from typing import Any, Callable

import jax.numpy as jnp

from sc_jax.env.types import EnvParams, EnvState

#: act(policy_params, state, params, key) -> action
PolicyFn = Callable[[Any, EnvState, EnvParams, Any], jnp.ndarray]


def cap_order(order, state: EnvState, params: EnvParams, with_arrivals: bool = False):
    """Clip a wished order to [0, supply capacity] and to the supplier's on hand (plant: none),
    plus today's arrivals with `with_arrivals` (the sample's "after_arrivals" timing: a supplier
    ships units the day they arrive), in the state's quantity dtype: int32 for the exact env,
    float32 for the relaxed one (sc_jax.agents.hdpo; min / clip then pass their subgradients)."""
    dtype = state.on_hand.dtype
    available = state.on_hand + state.arrival_schedule[0] if with_arrivals else state.on_hand
    supplier = jnp.concatenate([available[1:], jnp.full((1,), 2**30, dtype)])
    order = jnp.clip(order, 0, params.supply_capacity)
    return jnp.minimum(order, supplier).astype(dtype)
