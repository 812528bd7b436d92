"""Fixed-length episodes for a batch of products, the fast way.

`rollout` scans over periods outside and vmaps the one step over products inside, with the period
index shared by the batch (unbatched under vmap): reading the period's demand is then a slice,
not a per-product gather. Same step, same results as `vmap(episode)`; use either.

Shapes: `params` and `keys` carry a leading product axis [N]; outputs are [N] or [T, N].
"""
from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp

from sc_jax.env.dynamics import reset, step_env
from sc_jax.env.types import PRODUCT_AXIS, EnvParams, EnvState

# vmap axes of an EnvState whose period index is shared by the whole batch
SHARED_TIME_AXES = EnvState(stock=0, due=0, requests=0, owed=0, time=None, demand=0)


def rollout(policy: Callable, policy_params: Any, params: EnvParams, keys,
            collect: Callable | None = None):
    """Run one episode per product: returns (episode reward [N], collected [T, N, ...] or None).

    `policy(policy_params, state, params, key) -> action [M]` for one product (policy_params are
    shared by the batch); `collect(info, reward)` picks per-step outputs to keep."""
    split = jax.vmap(jax.random.split)(keys)  # [N, 2, ...]: reset key, then action key
    reset_keys, act_keys = split[:, 0], split[:, 1]
    _, state = jax.vmap(reset)(reset_keys, params)
    state = state.replace(time=jnp.zeros((), jnp.int32))

    def product_step(state, params, key):
        action = policy(policy_params, state, params, jax.random.fold_in(key, state.time))
        _, state, reward, _, info = step_env(None, state, action, params)
        return state, (reward, collect(info, reward) if collect else None)

    axis_name = PRODUCT_AXIS if params.couple_products else None
    batched_step = jax.vmap(product_step, in_axes=(SHARED_TIME_AXES, 0, 0),
                            out_axes=(SHARED_TIME_AXES, 0), axis_name=axis_name)

    def period(state, _):
        return batched_step(state, params, act_keys)

    _, (rewards, collected) = jax.lax.scan(period, state, None, length=params.periods)
    return rewards.sum(0), collected
