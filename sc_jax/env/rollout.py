"""The one rollout: fixed-length episodes of a batch, for evaluation, tuning, PPO evaluation and
benchmarks (training collects its own transitions; the hybrid deployment loop steps on the host).

`rollout` scans over the env's decisions outside and vmaps the one step over the batch inside,
with the period index shared by the batch (unbatched under vmap): reading the period's demand is
then a slice, not a per-product gather (bench_env: the fastest driver measured). The batch is
products (sharing capacity when the env couples them) or demand samples of one product; vmap
`rollout` again for a second axis (sc_jax.evaluate puts samples outside, products inside).

Common random numbers: episode i's demand comes from `episode_keys(keys)[0][i]` only and the
policy's randomness from the other half, so every policy sees the same paths from the same keys.

Shapes: N = batch, T = env.episode_length decisions, M stages.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from sc_jax.env.keys import check_key_batch, episode_keys
from sc_jax.env.params import batch_shape
from sc_jax.env.types import DemandPath, EnvParams, EnvState

# vmap axes of an EnvState whose period index is shared by the whole batch
_SHARED_TIME_AXES = EnvState(stock=0, due=0, requests=0, owed=0, time=None, demand=0)


class Transition(NamedTuple):
    """What `collect` sees for one product and one decision."""

    state: EnvState  # before the decision
    action: Any
    reward: jnp.ndarray
    next_state: EnvState
    info: Any


def sample_paths(env, params: EnvParams, keys) -> DemandPath:
    """The demand paths [N] (DemandPath with a leading axis) that `rollout(..., keys)` uses;
    `params` one product (shared) or batched [N]."""
    params_axis = None if batch_shape(params) == () else 0
    return jax.vmap(env.sample_demand, in_axes=(0, params_axis))(episode_keys(keys)[0], params)


def rollout(env, policy: Callable, policy_params, params: EnvParams, keys=None, *,
            demand: DemandPath | None = None, collect: Callable | None = None,
            policy_batched: bool = False):
    """Run one episode per batch entry: (episode reward [N], collected [T, N, ...] or None,
    final state [N]).

    env: an InventoryEnv or a wrapper (e.g. sc_jax.env.wrappers.SafetyStockEnv: then a decision
      is a macro step and `policy` returns its action, a safety stock).
    policy(policy_params, state, params, key) -> action for one product; policy_params shared by
      the batch, or with a leading [N] axis on every leaf when `policy_batched`.
    params: one product's params (shared by the batch) or batched [N].
    keys [N]: episode keys (demand drawn from them); or `demand`, a DemandPath [N] to replay, with
      `keys` then only seeding the policy (default PRNGKey(0) split).
    collect(Transition) -> pytree: per-step outputs to keep (e.g. info fields)."""
    if demand is None:
        if keys is not None:
            check_key_batch(keys)
        if keys is None:
            from sc_jax.errors import ConfigError

            raise ConfigError("rollout needs episode `keys` [N] or given `demand` paths")
        demand = sample_paths(env, params, keys)
    n = demand.actual.shape[0]
    if keys is None:
        keys = jax.random.split(jax.random.PRNGKey(0), n)
    check_key_batch(keys)
    policy_keys = episode_keys(keys)[1]
    params_axis = None if batch_shape(params) == () else 0
    _, state = jax.vmap(env.reset_with_demand, in_axes=(params_axis, 0))(params, demand)
    state = state.replace(time=jnp.zeros((), jnp.int32))

    def one(policy_params, state, params, key):
        action = policy(policy_params, state, params, jax.random.fold_in(key, state.time))
        _, next_state, reward, _, info = env.step_env(None, state, action, params)
        kept = collect(Transition(state, action, reward, next_state, info)) if collect else None
        return next_state, (reward, kept)

    batched = env.vmap_products(one, in_axes=(0 if policy_batched else None, _SHARED_TIME_AXES,
                                              params_axis, 0),
                                out_axes=(_SHARED_TIME_AXES, 0))

    def decision(state, _):
        return batched(policy_params, state, params, policy_keys)

    state, (rewards, collected) = jax.lax.scan(decision, state, None, length=env.episode_length)
    return rewards.sum(0), collected, state


__all__ = ["Transition", "episode_keys", "rollout", "sample_paths"]
