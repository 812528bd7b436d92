"""The hybrid method's whole episode as one jitted function (the capacity stage in JAX).

`sc_jax.hybrid.run_hybrid` steps days on the host and calls HiGHS once a day; here the same
episode is one `lax.scan` over days: every `action_frequency` days each product's safety stock
comes from the policy (`act(policy_params, state, params, key)`, the brain or a baseline rule),
every day the order-up-to controller wishes orders, the JAX capacity stage
(`sc_jax.alloc.jax_stage.daily_allocation`, exact for the daily model, the same model as the
MILP) cuts them, and one coupled env step moves all products. `vmap` over demand samples (keys)
runs many episodes in one call, and a second `vmap` over params sweeps scenarios (sigma, cost
ratios, capacity per product: anything traced in `EnvParams`) without recompiling.

    batch = hybrid_episodes(env, policy)              # jitted: (policy_params, params, keys [S], frac)
    stats = batch(policy_params, params, keys, 1e-3)  # EpisodeStats with a leading [S] axis

The samples are an explicit batch axis inside (not a vmap), so that the capacity stage can skip
the stages that bind in no sample that day (`daily_allocation_batch`, one `lax.cond` per stage).

Same randomness as the host loop: `key` gives every product its demand path (reset keys
`split(split(key)[0], N)`) and decision keys (`split(fold_in(split(key)[1], t), N)` on day t), so
`run_hybrid(..., allocation="jax")` and `allocation="daily"` see the same paths and, with the
same orders every day, give the same costs (tests/test_hybrid_jax.py).

Shapes: S samples, N products, M stages, T days. Costs are float32 sums over days.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.alloc.jax_stage import daily_allocation_batch
from sc_jax.checks import check_choice, check_integer
from sc_jax.env.types import EnvParams, EnvState
from sc_jax.errors import ConfigError
from sc_jax.policies.order_up_to import forecast_window, order_up_to

EPISODE_ALLOCATIONS = ("jax", "none")  # "none": no capacity stage (the env refuses arrivals: brain only)

# vmap axes of an EnvState whose day index is shared by all products (and samples): the day's
# demand and forecast are then slices, not per-product gathers (as sc_jax.env.rollout)
_SHARED_TIME = EnvState(stock=0, due=0, requests=0, owed=0, time=None, demand=0)


class EpisodeStats(NamedTuple):
    """One episode of N products (vmap adds leading axes)."""

    holding_cost: jnp.ndarray  # [N] float32, summed over days
    shortage_cost: jnp.ndarray  # [N] missed sales (lost sales at every stage)
    overflow_cost: jnp.ndarray  # [N] refused arrivals x unit overflow cost
    refused_units: jnp.ndarray  # [M] int32, arrivals the env refused over the shared capacity
    peak_utilisation: jnp.ndarray  # [M] max over days of total on hand / shared capacity
    binding_days: jnp.ndarray  # [] int32, days on which the capacity stage cut at some stage
    binding_stage_days: jnp.ndarray  # [M] int32, days on which stage m had to cut
    cut_units: jnp.ndarray  # [M] int32, units cut by the capacity stage over the episode
    search_steps: jnp.ndarray  # [] int32, threshold-search steps summed over days (diagnostics)

    @property
    def cost(self):
        """[..., N] total cost per product (= minus the env reward)."""
        return self.holding_cost + self.shortage_cost + self.overflow_cost


def check_episode_options(allocation: str, action_frequency, max_segments, capacity_basis) -> None:
    check_choice("allocation", allocation, EPISODE_ALLOCATIONS)
    check_integer("action_frequency", action_frequency, 1)
    check_integer("max_segments", max_segments, 1)
    check_choice("capacity_basis", capacity_basis, ("position", "expected"))


def make_episode(env, policy: Callable, *, allocation: str = "jax", action_frequency: int = 10,
                 max_segments: int = 16, capacity_basis: str = "position") -> Callable:
    """episodes(policy_params, params, keys [S], min_cut_cost_fraction) -> EpisodeStats [S, ...]:
    one episode per key (demand sample) of the catalog `params` ([N] products sharing capacity,
    `env.couple_products`; the same params for every sample), pure: jit it, vmap it over params
    for sweeps. The samples are an explicit batch axis so that the capacity stage skips, in one
    `lax.cond` per stage, the stages that bind in no sample that day.

    policy(policy_params, state, params, key) -> safety stock [M] for one product. The capacity
    stage reads the shared capacity and lead times of product 0 (the host loop checks that every
    product has the same; `run_hybrid` does too)."""
    check_episode_options(allocation, action_frequency, max_segments, capacity_basis)
    if allocation != "none" and not env.couple_products:
        raise ConfigError("allocation needs a shared capacity: make_catalog(..., shared_capacity=...)")
    horizon = env.history_length + 1  # >= max lead time + 1: covers every protection interval
    T = env.periods

    def inputs(safety, state, params):
        return (order_up_to(safety, state, params), state.on_hand, state.in_transit,
                forecast_window(state.demand.forecast_mean, state.time, horizon),
                forecast_window(state.demand.forecast_std, state.time, horizon))

    def step(state, params, orders):
        _, state, _, _, info = env.step_env(None, state, orders, params)
        return state, (info.holding_cost, info.shortage_cost, info.overflow_cost, info.overflow,
                       info.shared_utilisation)

    # [S, N] batches: samples outside, products inside; the day index shared by all
    day_inputs = jax.vmap(jax.vmap(inputs, in_axes=(0, _SHARED_TIME, 0)), in_axes=(0, _SHARED_TIME, None))
    env_step = jax.vmap(env.vmap_products(step, in_axes=(_SHARED_TIME, 0, 0), out_axes=(_SHARED_TIME, 0)),
                        in_axes=(_SHARED_TIME, None, 0), out_axes=(_SHARED_TIME, 0))

    def episodes(policy_params, params: EnvParams, keys, min_cut_cost_fraction=1e-3) -> EpisodeStats:
        S, N, M = keys.shape[0], params.initial_inventory.shape[0], params.num_stages
        k_reset, k_act = jax.vmap(jax.random.split, out_axes=1)(keys)
        reset = jax.vmap(lambda k: jax.vmap(env.reset)(jax.random.split(k, N), params)[1])
        state = reset(k_reset).replace(time=jnp.zeros((), jnp.int32))
        act = jax.vmap(lambda s, p, k: policy(policy_params, s, p, k), in_axes=(_SHARED_TIME, 0, 0))
        act_all = jax.vmap(act, in_axes=(_SHARED_TIME, None, 0))
        per_sample = lambda x: jnp.broadcast_to(x, (S,) + x.shape)
        holding = per_sample(params.unit_holding_cost[:, :M])
        shortage = per_sample(params.unit_shortage_cost[:, :M])
        supply = per_sample(params.supply_capacity)
        lead_times, capacity = per_sample(params.lead_time[0]), per_sample(params.shared_capacity[0])

        def decide(state, t):
            day_keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, t), N))(k_act)
            return jnp.asarray(act_all(state, params, day_keys), jnp.int32)

        def day(carry, t):
            state, safety, hint, totals = carry
            safety = jax.lax.cond(t % action_frequency == 0, decide, lambda s, t: safety, state, t)
            wishes, on_hand, pipeline, mean, std = day_inputs(safety, state, params)
            if allocation == "jax":
                stage = daily_allocation_batch(wishes, on_hand, pipeline, holding, shortage, supply, mean, std,
                                               lead_times, capacity, max_segments=max_segments,
                                               capacity_basis=capacity_basis,
                                               min_cut_cost_fraction=min_cut_cost_fraction, threshold_hint=hint)
                orders, need, cuts, steps = stage.orders, stage.need, stage.cuts.sum(1), stage.search_steps
                hint = jnp.where(stage.threshold >= 0, stage.threshold, hint)  # speeds up tomorrow's search
            else:
                orders, need = wishes, jnp.zeros((S, M), jnp.int32)
                cuts, steps = jnp.zeros((S, M), jnp.int32), jnp.zeros((S,), jnp.int32)
            state, (h, s, o, refused, utilisation) = env_step(state, params, orders)
            totals = EpisodeStats(
                holding_cost=totals.holding_cost + h, shortage_cost=totals.shortage_cost + s,
                overflow_cost=totals.overflow_cost + o, refused_units=totals.refused_units + refused.sum(1),
                peak_utilisation=jnp.maximum(totals.peak_utilisation, utilisation.max(1)),
                binding_days=totals.binding_days + jnp.any(need > 0, axis=1).astype(jnp.int32),
                binding_stage_days=totals.binding_stage_days + (need > 0).astype(jnp.int32),
                cut_units=totals.cut_units + cuts, search_steps=totals.search_steps + steps)
            return (state, safety, hint, totals), None

        zeros_n, zeros_m = jnp.zeros((S, N), jnp.float32), jnp.zeros((S, M), jnp.int32)
        totals = EpisodeStats(zeros_n, zeros_n, zeros_n, zeros_m, jnp.zeros((S, M), jnp.float32),
                              jnp.zeros((S,), jnp.int32), zeros_m, zeros_m, jnp.zeros((S,), jnp.int32))
        safety, hint = jnp.zeros((S, N, M), jnp.int32), jnp.full((S, M), -1.0, jnp.float32)
        (_, _, _, totals), _ = jax.lax.scan(day, (state, safety, hint, totals), jnp.arange(T, dtype=jnp.int32))
        return totals

    return episodes


@functools.lru_cache(maxsize=64)
def hybrid_episodes(env, policy: Callable, *, allocation: str = "jax", action_frequency: int = 10,
                    max_segments: int = 16, capacity_basis: str = "position") -> Callable:
    """Jitted batch(policy_params, params, keys [S], min_cut_cost_fraction) -> EpisodeStats [S, ...]:
    one episode per key (demand sample) of the catalog `params`; cached per (env, policy,
    options), so repeated calls and other catalogs of the same shapes reuse the compilation.
    Sweep scenarios with `jax.vmap(batch, in_axes=(None, 0, None, None))` over params stacked
    on a leading axis (or `sweep_episodes`)."""
    return jax.jit(make_episode(env, policy, allocation=allocation, action_frequency=action_frequency,
                                max_segments=max_segments, capacity_basis=capacity_basis))


@functools.lru_cache(maxsize=64)
def sweep_episodes(env, policy: Callable, *, allocation: str = "jax", action_frequency: int = 10,
                   max_segments: int = 16, capacity_basis: str = "position") -> Callable:
    """Jitted sweep(policy_params, params [C, N], keys [S], min_cut_cost_fraction) ->
    EpisodeStats [C, S, ...]: scenarios (params stacked on a leading axis C: sigma levels, cost
    ratios, capacities, ...) x demand samples, the same keys for every scenario (common random
    numbers)."""
    episodes = make_episode(env, policy, allocation=allocation, action_frequency=action_frequency,
                            max_segments=max_segments, capacity_basis=capacity_basis)
    return jax.jit(jax.vmap(episodes, in_axes=(None, 0, None, None)))


def stack_params(catalogs) -> EnvParams:
    """Params of several catalogs of the same shapes stacked on a new leading (scenario) axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *catalogs)


__all__ = ["EPISODE_ALLOCATIONS", "EpisodeStats", "check_episode_options", "hybrid_episodes",
           "make_episode", "stack_params", "sweep_episodes"]
