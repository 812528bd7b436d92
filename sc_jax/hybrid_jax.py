"""The hybrid method's whole episode as one jitted function (the capacity stage in JAX).

`sc_jax.hybrid.run_hybrid` steps days on the host and calls HiGHS once a day; here the same
episode is one `lax.scan` over days: every `action_frequency` days each product's safety stock
comes from the policy (`act(policy_params, state, params, key)`, the brain or a baseline rule),
every day the order-up-to controller wishes orders, the JAX capacity stage
(`sc_jax.alloc.jax_stage.allocate_stages`, exact for the daily model, the same model as the
MILP) cuts them, and one coupled env step moves all products. `vmap` over demand samples (keys)
runs many episodes in one call, and a second `vmap` over params sweeps scenarios (sigma, cost
ratios, capacity per product: anything traced in `EnvParams`) without recompiling.

    batch = hybrid_episodes(env, policy)              # jitted: (policy_params, params, keys [S], frac)
    stats = batch(policy_params, params, keys, 1e-3)  # EpisodeStats with a leading [S] axis

The samples are an explicit batch axis inside (not a vmap), so that the capacity stage can skip
the stages that bind in no sample that day (`allocate_stages`, one `lax.cond` per stage).

Speed on XLA's CPU backend (docs/hybrid.md, "Measured"): per-stage arrays are kept [M, S, N]
with products minor, params with the product axis last, the forecasts time-major so that a
day's window is one contiguous slice (the controller gets that window, `_day_view`), a few
intermediates are computed into buffers of their own (`_materialized`) rather than fused into
every consumer, and the episodes are compiled with YNNPACK fusions off (CPU_COMPILER_OPTIONS).
None of this changes a result.

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

from sc_jax.alloc.milp import CAPACITY_BASES
from sc_jax.alloc.jax_stage import CPU_COMPILER_OPTIONS, _materialized, allocate_stages, jit_for_backend
from sc_jax.checks import check_choice, check_integer
from sc_jax.env.types import DemandPath, EnvParams, EnvState
from sc_jax.errors import ConfigError
from sc_jax.hybrid import observes_utilisation, stage_utilisation
from sc_jax.policies.order_up_to import controller
from sc_jax.sample_metrics import NOTEBOOK_FIRST_DAY, notebook_day_terms
from sc_jax.sharding import shard_batch

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
    notebook_cost: jnp.ndarray  # [N] float32, the hybrid sample's notebook metric (sc_jax.sample_metrics):
    #   lost units x k' + on hand x k' / ratio, summed over days >= NOTEBOOK_FIRST_DAY

    @property
    def cost(self):
        """[..., N] total cost per product (= minus the env reward)."""
        return self.holding_cost + self.shortage_cost + self.overflow_cost


def check_episode_options(allocation: str, action_frequency, max_segments, capacity_basis) -> None:
    check_choice("allocation", allocation, EPISODE_ALLOCATIONS)
    check_integer("action_frequency", action_frequency, 1)
    check_integer("max_segments", max_segments, 1)
    check_choice("capacity_basis", capacity_basis, CAPACITY_BASES)


def _day_view(state: EnvState, mean_window, std_window) -> EnvState:
    """The state as the order-up-to controller needs it on one day: the forecast cut to today's
    window (H + 1 days) at time 0. `order_up_to` reads the forecast only through
    `forecast_window(series, state.time, H + 1)`, which on this view is the same window, so the
    wishes are the same (tests/test_hybrid_jax.py: allocation "jax" = "daily"); what the window
    saves is reading every product's whole forecast with a stride each day."""
    demand = DemandPath(actual=state.demand.actual, forecast_mean=mean_window, forecast_std=std_window,
                        initial_on_hand=state.demand.initial_on_hand)
    return state.replace(time=jnp.zeros((), jnp.int32), demand=demand)


def _product_minor(params: EnvParams) -> tuple[EnvParams, EnvParams]:
    """Params with the product axis last on every field, and the vmap axes to read them: the
    per-stage values of all products are then contiguous (vectorised loads; [N, M] with M = 3
    minor is read with a stride)."""
    axes = jax.tree.map(lambda x: x.ndim - 1, params)
    return jax.tree.map(lambda x: jnp.moveaxis(x, 0, -1), params), axes


def make_episode(env, policy: Callable, *, allocation: str = "jax", action_frequency: int = 10,
                 max_segments: int = 16, capacity_basis: str = "position") -> Callable:
    """episodes(policy_params, params, keys [S], min_cut_cost_fraction) -> EpisodeStats [S, ...]:
    one episode per key (demand sample) of the catalog `params` ([N] products sharing capacity,
    `env.couple_products`; the same params for every sample), pure: jit it, vmap it over params
    for sweeps. The samples are an explicit batch axis so that the capacity stage skips, in one
    `lax.cond` per stage, the stages that bind in no sample that day.

    policy(policy_params, state, params, key) -> safety stock [M] for one product (a policy with
    `observes_utilisation` also gets the stages' utilisation [M], sc_jax.hybrid.stage_utilisation).
    The capacity
    stage reads the shared capacity and lead times of product 0 (the host loop checks that every
    product has the same; `run_hybrid` does too).

    Layout inside the scan (for XLA's CPU backend; results do not depend on it): per-stage
    arrays [M, S, N] (products minor), params with the product axis last, the forecast window of
    the day [H + 1, S, N] sliced once and shared by the controller and the capacity stage."""
    check_episode_options(allocation, action_frequency, max_segments, capacity_basis)
    if allocation != "none" and not env.couple_products:
        raise ConfigError("allocation needs a shared capacity: make_catalog(..., shared_capacity=...)")
    horizon = env.history_length + 1  # >= max lead time + 1: covers every protection interval
    T = env.periods

    def episodes(policy_params, params: EnvParams, keys, min_cut_cost_fraction=1e-3) -> EpisodeStats:
        S, N, M = keys.shape[0], params.initial_inventory.shape[0], params.num_stages
        k_reset, k_act = jax.vmap(jax.random.split, out_axes=1)(keys)
        reset = jax.vmap(lambda k: jax.vmap(env.reset)(jax.random.split(k, N), params)[1])
        state = reset(k_reset).replace(time=jnp.zeros((), jnp.int32))
        params_t, p_axes = _product_minor(params)
        # [S, N] batches (samples outside, products inside) of per-product functions; per-stage
        # outputs and inputs [M, S, N]; the day index shared by all
        both = lambda fn, in_axes, out_axes, inner=jax.vmap: jax.vmap(
            inner(fn, in_axes=tuple(a if name != "params" else p_axes for name, a in in_axes),
                  out_axes=out_axes),
            in_axes=tuple(a if name != "params" else None for name, a in in_axes), out_axes=out_axes)
        state_axes = ("state", _SHARED_TIME)
        view_axes = ("view", _SHARED_TIME.replace(demand=DemandPath(actual=0, forecast_mean=1, forecast_std=1,
                                                                   initial_on_hand=0)))
        # one [S, N] output per stage (a tuple of scalars per product): each is then one
        # contiguous vector, which XLA's CPU backend vectorises ([S, N, M] puts M = 3 minor)
        per_stage = lambda fn: lambda *args: tuple(fn(*args)[m] for m in range(M))
        control = controller(policy)  # order_up_to (its cap counting today's arrivals for such a policy)
        wish = both(per_stage(lambda safety, state, params: control(safety, state, params)),
                    (("safety", 1), view_axes, ("params", None)), 0)
        # the forecasts time-major [T + W + H, S, N] (padded as forecast_window pads: the last
        # day repeated), in buffers of their own, so that a day's window is one contiguous slice
        def time_major(series):
            series = jnp.moveaxis(series, -1, 0)
            return jnp.concatenate([series, jnp.repeat(series[-1:], horizon, axis=0)], axis=0)

        mean_t, std_t = _materialized(state.demand.forecast_mean, lambda a, b: (time_major(a), time_major(b)),
                                      state.demand.forecast_mean, state.demand.forecast_std)
        window = lambda series, t: jax.lax.dynamic_slice_in_dim(series, t, horizon, axis=0)

        def step(state, params, orders):
            _, state, _, _, info = env.step_env(None, state, orders, params)
            lost_term, held_term = notebook_day_terms(info)
            notebook = lost_term + held_term / params.cost_ratio
            return state, (info.holding_cost, info.shortage_cost, info.overflow_cost, info.overflow,
                           info.shared_utilisation, notebook)

        env_step = both(step, (state_axes, ("params", None), ("orders", 1)), (_SHARED_TIME, (0, 0, 0, 1, 1, 0)),
                        inner=env.vmap_products)
        if observes_utilisation(policy):  # the stages' utilisation of its sample [M], shared by its products
            act = lambda s, p, k: jax.vmap(
                jax.vmap(lambda s, p, k, u: policy(policy_params, s, p, k, u), in_axes=(_SHARED_TIME, p_axes, 0, None),
                         out_axes=1),
                in_axes=(_SHARED_TIME, None, 0, 1), out_axes=1)(s, p, k, stage_utilisation(s.stock, capacity))
        else:
            act = both(lambda s, p, k: policy(policy_params, s, p, k), (state_axes, ("params", None), ("keys", 0)), 1)
        by_stage = lambda x: jnp.moveaxis(x, 0, -1)[:, None, :]  # [N, M] -> [M, 1, N]
        holding, shortage = by_stage(params.unit_holding_cost[:, :M]), by_stage(params.unit_shortage_cost[:, :M])
        supply = by_stage(params.supply_capacity)
        lead_times = jnp.broadcast_to(params.lead_time[0][:, None], (M, S))
        capacity = jnp.broadcast_to(params.shared_capacity[0][:, None], (M, S))

        def decide(state, t):
            day_keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, t), N))(k_act)
            return jnp.asarray(act(state, params_t, day_keys), jnp.int32)

        def day(carry, t):
            state, safety, hint, totals = carry
            safety = jax.lax.cond(t % action_frequency == 0, decide, lambda s, t: safety, state, t)
            mean_days, std_days = window(mean_t, state.time), window(std_t, state.time)  # [H, S, N]
            view = _day_view(state, mean_days, std_days)
            wishes = jnp.stack(_materialized(mean_days, wish, safety, view, params_t))  # [M, S, N]
            if allocation == "jax":
                on_hand = jnp.stack(state.stock)  # [M, S, N]
                pipeline = jnp.stack([sum(row[m] for row in state.due) for m in range(M)])
                by_day = jnp.stack([jnp.stack(row) for row in state.due]) if capacity_basis == "projected" else None
                stage = allocate_stages(wishes, on_hand, pipeline, holding, shortage, supply, mean_days, std_days,
                                        lead_times, capacity, max_segments=max_segments,
                                        capacity_basis=capacity_basis,
                                        min_cut_cost_fraction=min_cut_cost_fraction, threshold_hint=hint,
                                        pipeline_by_day=by_day)
                orders, need, steps = stage.orders, stage.need.T, stage.search_steps
                cuts = stage.cuts.sum(-1).T
                hint = jnp.where(stage.threshold >= 0, stage.threshold, hint)  # speeds up tomorrow's search
            else:
                orders, need = wishes, jnp.zeros((S, M), jnp.int32)
                cuts, steps = jnp.zeros((S, M), jnp.int32), jnp.zeros((S,), jnp.int32)
            orders = _materialized(mean_days, lambda x: x, orders)  # one buffer, not recomputed per consumer
            state, (h, s, o, refused, utilisation, note) = env_step(state, params_t, orders)  # [S, N], [M, S, N]
            totals = EpisodeStats(
                holding_cost=totals.holding_cost + h, shortage_cost=totals.shortage_cost + s,
                overflow_cost=totals.overflow_cost + o, refused_units=totals.refused_units + refused.sum(-1).T,
                peak_utilisation=jnp.maximum(totals.peak_utilisation, utilisation.max(-1).T),
                binding_days=totals.binding_days + jnp.any(need > 0, axis=1).astype(jnp.int32),
                binding_stage_days=totals.binding_stage_days + (need > 0).astype(jnp.int32),
                cut_units=totals.cut_units + cuts, search_steps=totals.search_steps + steps,
                notebook_cost=totals.notebook_cost + jnp.where(t >= NOTEBOOK_FIRST_DAY, note, 0.0))
            return (state, safety, hint, totals), None

        zeros_n, zeros_m = jnp.zeros((S, N), jnp.float32), jnp.zeros((S, M), jnp.int32)
        totals = EpisodeStats(zeros_n, zeros_n, zeros_n, zeros_m, jnp.zeros((S, M), jnp.float32),
                              jnp.zeros((S,), jnp.int32), zeros_m, zeros_m, jnp.zeros((S,), jnp.int32), zeros_n)
        safety, hint = jnp.zeros((M, S, N), jnp.int32), jnp.full((M, S), -1.0, jnp.float32)
        (_, _, _, totals), _ = jax.lax.scan(day, (state, safety, hint, totals), jnp.arange(T, dtype=jnp.int32))
        return totals

    return episodes


# The jitted episodes are compiled with YNNPACK fusions off on the CPU (jax_stage's
# CPU_COMPILER_OPTIONS; for these functions only): XLA otherwise turns the small reductions of the
# controller and the capacity stage into YNNPACK calls 3-10x slower than its own loops (the
# controller's 5-day forecast sum took 7 ms a day at 2,000 products x 16 samples).
_jit = jit_for_backend


def _samples_over_devices(jitted: Callable) -> Callable:
    """jitted(policy_params, params, keys, frac) with the keys' sample axis split over the local
    devices (`sc_jax.sharding.shard_batch`: several GPUs, or fake CPU devices; one device, or a
    sample count they do not divide, changes nothing). The samples are independent; the stage's
    skip test and threshold search reduce over them, which XLA turns into cross-device
    reductions, so the numbers are those of one device (tests/test_sharding.py)."""

    @functools.wraps(jitted)
    def run(policy_params, params, keys, min_cut_cost_fraction=1e-3):
        return jitted(policy_params, params, shard_batch(keys), min_cut_cost_fraction)

    run.jitted = jitted  # for .lower() / cost analysis
    return run


@functools.lru_cache(maxsize=64)
def hybrid_episodes(env, policy: Callable, *, allocation: str = "jax", action_frequency: int = 10,
                    max_segments: int = 16, capacity_basis: str = "position") -> Callable:
    """Jitted batch(policy_params, params, keys [S], min_cut_cost_fraction) -> EpisodeStats [S, ...]:
    one episode per key (demand sample) of the catalog `params`; cached per (env, policy,
    options), so repeated calls and other catalogs of the same shapes reuse the compilation.
    The samples are split over the local devices where there are several (`_samples_over_devices`).
    Sweep scenarios with `sweep_episodes` (params stacked on a leading axis)."""
    return _samples_over_devices(_jit(make_episode(env, policy, allocation=allocation,
                                                   action_frequency=action_frequency, max_segments=max_segments,
                                                   capacity_basis=capacity_basis)))


@functools.lru_cache(maxsize=64)
def sweep_episodes(env, policy: Callable, *, allocation: str = "jax", action_frequency: int = 10,
                   max_segments: int = 16, capacity_basis: str = "position") -> Callable:
    """Jitted sweep(policy_params, params [C, N], keys [S], min_cut_cost_fraction) ->
    EpisodeStats [C, S, ...]: scenarios (params stacked on a leading axis C: sigma levels, cost
    ratios, capacities, ...) x demand samples, the same keys for every scenario (common random
    numbers); the samples split over the local devices where there are several."""
    episodes = make_episode(env, policy, allocation=allocation, action_frequency=action_frequency,
                            max_segments=max_segments, capacity_basis=capacity_basis)
    return _samples_over_devices(_jit(jax.vmap(episodes, in_axes=(None, 0, None, None))))


def stack_params(catalogs) -> EnvParams:
    """Params of several catalogs of the same shapes stacked on a new leading (scenario) axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *catalogs)


__all__ = ["CPU_COMPILER_OPTIONS", "EPISODE_ALLOCATIONS", "EpisodeStats", "check_episode_options", "hybrid_episodes",
           "make_episode", "stack_params", "sweep_episodes"]
