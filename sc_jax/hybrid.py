"""The hybrid method's deployment loop over many products sharing capacity.

Every `action_frequency` days each product's safety stock is chosen by a policy of the
safety-stock env (`act(policy_params, state, params, key) -> safety stock [M]`: the RL brain's act,
`sc_jax.env.wrappers.fixed_safety_stock`, `static_by_ratio`, `sc_jax.policies.random_safety`); every day the JAX order-up-to controller
turns the safety stocks into wished orders per product and stage; the capacity stage
(sc_jax.alloc: the daily MILP or greedy marginal allocation, both exact for the daily model) cuts the
wishes of all products so that each stage's stock + pipeline fits its shared capacity; then one
coupled environment step moves every product (sc_jax.env, vmapped over products, with the shared
capacity rule refusing any arrivals beyond capacity). `allocation="none"` skips the capacity stage
(the environment's proportional refusal is then the only capacity control: "brain only").

The JAX parts (decisions, wishes, the env step) are jitted and vmapped over products; the MILP runs
on the host between them (SciPy/HiGHS, outside jit), so the loop over days is a Python loop.
`allocation="jax"` runs the whole episode as one jitted scan instead (`sc_jax.hybrid_jax`: the same
model solved exactly by the JAX capacity stage, same keys, same costs; many samples per call there).
Randomness: `key` gives every product its demand path (reset) and decision keys; the same key
gives the same paths to every method (common random numbers).

Shapes: N products, M stages, T days, H forecast days given to the allocation (max lead + 1).
"""
from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.alloc import AllocationProblem, allocate
from sc_jax.env.types import EnvParams
from sc_jax.errors import ConfigError
from sc_jax.policies.order_up_to import controller, forecast_window, order_up_to

ALLOCATIONS = ("daily", "greedy", "jax", "none")  # the rolling LP needs arrival schedules: not in this loop


@dataclass(frozen=True)
class HybridResult:
    """One episode of N products under one method."""

    cost: np.ndarray  # [N] holding + missed sales + refused arrivals over the episode (= -reward)
    holding_cost: np.ndarray  # [N]
    shortage_cost: np.ndarray  # [N]
    overflow_cost: np.ndarray  # [N] refused arrivals x overflow_cost (default: the stage's k)
    refused_units: np.ndarray  # [M] arrivals the env refused over the shared capacity (summed over days)
    peak_utilisation: np.ndarray  # [M] max over days of total on hand / shared capacity
    statuses: dict  # allocation status -> number of days
    fallback_days: int  # days the MILP timed out or fell back (greedy / rounded LP)
    alloc_s: float  # wall time in the capacity stage (build + solve), summed over days
    wall_s: float

    @property
    def total_cost(self) -> float:
        return float(self.cost.sum())


# --- safety-stock policies for run_hybrid: act(policy_params, state, params, key) -> safety stock [M] ---

class StaticByRatio(NamedTuple):
    """A static safety stock per cost ratio: log10 ratios [R], stocks [R, M]; a product uses the row
    of the ratio nearest (in log) to its own."""

    log10_ratios: jnp.ndarray
    stocks: jnp.ndarray


def static_by_ratio(table: StaticByRatio, state, params, key):
    """The row of `table` whose ratio is nearest (in log) to the product's cost ratio."""
    del state, key
    row = jnp.argmin(jnp.abs(table.log10_ratios - jnp.log10(params.cost_ratio)))
    return jnp.asarray(table.stocks, jnp.int32)[row]


def _check(env, params: EnvParams, allocation: str, action_frequency: int) -> None:
    if allocation not in ALLOCATIONS:
        raise ConfigError(f"'allocation' must be one of {ALLOCATIONS}, got {allocation!r}")
    if params.initial_inventory.ndim != 2:
        raise ConfigError("the hybrid loop needs a product axis: build (env, params) with sc_jax.env.catalog.make_catalog")
    if allocation != "none" and not env.couple_products:
        raise ConfigError("allocation needs a shared capacity: make_catalog(..., shared_capacity=...)")
    if not isinstance(action_frequency, (int, np.integer)) or action_frequency < 1:
        raise ConfigError(f"'action_frequency' must be an integer >= 1, got {action_frequency!r}")


def make_day_functions(env, params: EnvParams):
    """Jitted, decision-independent pieces of one day, vmapped over products, taking the params as
    an argument (so catalogs of the same shapes, e.g. other sigma levels, reuse the compilation):
    reset_all(keys, params), day_inputs(safety, state, params, control=order_up_to) and
    env_step(state, orders, params). `control` (static) is the controller turning safety stocks
    into wishes: make_hybrid_functions binds the policy's (sc_jax.policies.order_up_to.controller),
    so one set of day functions serves every policy."""
    horizon = int(np.max(np.asarray(params.lead_time))) + 1

    @jax.jit
    def reset_all(keys, params):
        return jax.vmap(env.reset)(keys, params)[1]

    @functools.partial(jax.jit, static_argnames="control")
    def day_inputs(safety, state, params, control=order_up_to):
        """Wished orders, on hand, pipeline [N, M], the forecast window [N, H] (mean, std) and
        the pipeline by arrival day [N, M, max lead time] (day 0 = arrives today).

        The wishes are the controller's orders capped by supply capacity and the supplier's stock
        (what the single-product brain trained with); the capacity stage only cuts them."""

        def one(safety, state, p):
            return (control(safety, state, p), state.on_hand, state.in_transit,
                    forecast_window(state.demand.forecast_mean, state.time, horizon),
                    forecast_window(state.demand.forecast_std, state.time, horizon),
                    jnp.stack([jnp.stack(row) for row in state.due[:horizon - 1]], axis=-1))

        return jax.vmap(one)(safety, state, params)

    @jax.jit
    def env_step(state, orders, params):
        def one(state, p, orders):
            _, state, _, _, info = env.step_env(None, state, orders, p)
            return state, (info.holding_cost, info.shortage_cost, info.overflow_cost, info.overflow,
                           info.shared_utilisation)

        return env.vmap_products(one)(state, params, orders)

    return reset_all, day_inputs, env_step


def observes_utilisation(policy: Callable) -> bool:
    """Whether `policy` also reads the stages' shared-capacity utilisation: such a policy (a
    capacity-aware brain, sc_jax.agents.capacity_brain) sets `observes_utilisation = True` and is
    called policy(policy_params, state, params, key, utilisation [M]) by both hybrid loops."""
    return bool(getattr(policy, "observes_utilisation", False))


def stage_utilisation(stock, capacity) -> jnp.ndarray:
    """[M, ...] on hand of all products at each stage / the shared capacity, at the start of the
    day (before arrivals): `stock` the state's tuple of M arrays [..., N] (products last),
    `capacity` [M] or [M, ...]."""
    return jnp.stack([x.sum(-1) for x in stock]).astype(jnp.float32) / jnp.asarray(capacity, jnp.float32)


def make_hybrid_functions(env, params: EnvParams, policy: Callable, day_functions=None):
    """(act_all, reset_all, day_inputs, env_step) for `run_hybrid(functions=...)`; `day_functions` from
    make_day_functions can be shared by several policies (one compilation)."""

    @jax.jit
    def act_all(policy_params, state, params, keys):
        if observes_utilisation(policy):
            utilisation = stage_utilisation(state.stock, params.shared_capacity[0])
            return jax.vmap(lambda s, p, k: policy(policy_params, s, p, k, utilisation))(state, params, keys)
        return jax.vmap(lambda s, p, k: policy(policy_params, s, p, k))(state, params, keys)

    reset_all, day_inputs, env_step = day_functions or make_day_functions(env, params)
    control = controller(policy)
    if control is not order_up_to:  # e.g. the sigma rule's cap after arrivals: bind it (same compilation cache)
        day_inputs = functools.partial(day_inputs, control=control)
    return act_all, reset_all, day_inputs, env_step


def _host_arrays(params: EnvParams) -> dict:
    M = params.num_stages
    return {
        "holding_cost": np.asarray(params.unit_holding_cost, np.float64)[:, :M],
        "shortage_cost": np.asarray(params.unit_shortage_cost, np.float64)[:, :M],
        "supply_capacity": np.asarray(params.supply_capacity, np.float64)[:, :M],
        "lead_times": _same_for_all_products("lead_time", params.lead_time),
        "capacity": _same_for_all_products("shared_capacity", params.shared_capacity),
    }


def _same_for_all_products(name: str, value) -> np.ndarray:
    """[M] from a per-product [N, M] field that the capacity stage needs shared by all products."""
    value = np.asarray(value)
    if value.ndim == 2:
        if not np.all(value == value[:1]):
            raise ConfigError(f"{name} must be the same for every product in the hybrid loop "
                              f"(the capacity stage shares it), got {np.unique(value, axis=0).tolist()}")
        value = value[0]
    return value


def jax_alloc_settings(alloc_options: dict | None) -> dict:
    """The JAX episode's capacity-stage settings from the `alloc_options` of the host loop:
    max_segments, capacity_basis, min_cut_cost_fraction (validated as sc_jax.alloc does);
    time_limit, mip_rel_gap and band_size are validated and unused (no solver, nothing timed)."""
    from sc_jax.alloc.milp import DAILY_OPTIONS, check_daily_options
    from sc_jax.checks import check_options

    options = dict(alloc_options or {})
    check_options("jax", options, DAILY_OPTIONS + ("time_limit", "mip_rel_gap"))
    check_daily_options(**options)
    if options.get("max_segments", 16) is None:
        raise ConfigError("'max_segments' must be an integer >= 1 for allocation 'jax' (fixed shapes), got None")
    return {"max_segments": int(options.get("max_segments", 16)),
            "capacity_basis": options.get("capacity_basis", "position"),
            "min_cut_cost_fraction": float(options.get("min_cut_cost_fraction", 1e-3))}


def _run_jax(env, params, policy, policy_params, key, action_frequency, alloc_options) -> HybridResult:
    return run_hybrid_batch(env, params, policy, policy_params, jnp.asarray(key)[None], allocation="jax",
                            action_frequency=action_frequency, alloc_options=alloc_options)[0]


def run_hybrid_batch(env, params: EnvParams, policy: Callable, policy_params: Any, keys, *,
                     allocation: str = "jax", action_frequency: int = 10,
                     alloc_options: dict | None = None) -> list[HybridResult]:
    """One episode per key [S] in one jitted call (sc_jax.hybrid_jax): `allocation` "jax" (the
    JAX capacity stage) or "none" (no capacity stage); the same results as `run_hybrid` with each
    key. alloc_options as for run_hybrid (validated; only max_segments, capacity_basis and
    min_cut_cost_fraction matter). wall_s is the call's time (compilation included on the first
    call of a shape) divided by S; alloc_s is 0.0 (the stage runs inside the episode)."""
    from sc_jax.hybrid_jax import EPISODE_ALLOCATIONS, hybrid_episodes

    if allocation not in EPISODE_ALLOCATIONS:
        raise ConfigError(f"'allocation' must be one of {EPISODE_ALLOCATIONS} for a batch of episodes, "
                          f"got {allocation!r}")
    _check(env, params, allocation, action_frequency)
    settings = jax_alloc_settings(alloc_options)
    _host_arrays(params)  # lead times and capacity shared by all products (as the host loop checks)
    keys = jnp.asarray(keys)
    t0 = time.perf_counter()
    batch = hybrid_episodes(env, policy, allocation=allocation, action_frequency=int(action_frequency),
                            max_segments=settings["max_segments"], capacity_basis=settings["capacity_basis"])
    stats = jax.device_get(batch(policy_params, params, keys, np.float32(settings["min_cut_cost_fraction"])))
    wall_s = (time.perf_counter() - t0) / keys.shape[0]
    results = []
    for i in range(keys.shape[0]):
        row = lambda x: np.asarray(x[i], np.float64)
        holding, shortage, overflow_cost = row(stats.holding_cost), row(stats.shortage_cost), row(stats.overflow_cost)
        binding = int(stats.binding_days[i])
        statuses = ({} if allocation == "none" else
                    {name: days for name, days in (("optimal", binding), ("not_binding", env.periods - binding)) if days})
        results.append(HybridResult(cost=holding + shortage + overflow_cost, holding_cost=holding,
                                    shortage_cost=shortage, overflow_cost=overflow_cost,
                                    refused_units=row(stats.refused_units), peak_utilisation=row(stats.peak_utilisation),
                                    statuses=statuses, fallback_days=0, alloc_s=0.0, wall_s=wall_s))
    return results


def run_hybrid(env, params: EnvParams, policy: Callable, policy_params: Any, key, *,
               allocation: str = "daily", action_frequency: int = 10,
               alloc_options: dict | None = None, functions=None) -> HybridResult:
    """One episode of all N products of (env, params) (a catalog with a shared capacity).

    policy(policy_params, state, params, key) -> safety stock [M] for one product (a brain's act
    function, sc_jax.env.wrappers.fixed_safety_stock, static_by_ratio, sc_jax.policies.random_safety).
    allocation: "daily" (MILP) | "greedy" | "jax" | "none"; alloc_options go to sc_jax.alloc.allocate
    (time_limit, mip_rel_gap, capacity_basis, ...). "jax": the whole episode as one jitted scan
    (sc_jax.hybrid_jax, the JAX capacity stage: same model, same keys; statuses count binding days
    as "optimal"; alloc_s is 0.0, the stage's time is inside wall_s, which includes compilation
    on the first call; `functions` is not used). A MILP time-out or failure falls back inside
    sc_jax.alloc (greedy, exact for this model) and is counted in `fallback_days` and `statuses`.
    `functions`: reuse make_hybrid_functions(env, params, policy) across calls and across catalogs
    of the same shapes, lead times and coupling (saves compilation)."""
    _check(env, params, allocation, action_frequency)
    if allocation == "jax":
        return _run_jax(env, params, policy, policy_params, key, action_frequency, alloc_options)
    t0 = time.perf_counter()
    act_all, reset_all, day_inputs, env_step = functions or make_hybrid_functions(env, params, policy)
    static = _host_arrays(params)
    N, M, T = params.initial_inventory.shape[0], params.num_stages, env.periods
    k_reset, k_act = jax.random.split(key)
    state = reset_all(jax.random.split(k_reset, N), params)
    options = dict(alloc_options or {})
    projected = options.get("capacity_basis") == "projected"
    statuses: Counter = Counter()
    alloc_s, fallback_days = 0.0, 0
    holding, shortage, overflow_cost = np.zeros(N), np.zeros(N), np.zeros(N)
    refused, peak = np.zeros(M), np.zeros(M)
    safety = None
    for t in range(T):
        if t % action_frequency == 0:
            keys = jax.random.split(jax.random.fold_in(k_act, t), N)
            safety = act_all(policy_params, state, params, keys)
        inputs = day_inputs(safety, state, params)
        orders = inputs[0]  # "none": the wishes go to the env as they are, no host round trip
        if allocation != "none":
            wishes, on_hand, pipeline, mean, std = (np.asarray(x) for x in inputs[:5])
            a0 = time.perf_counter()
            problem = AllocationProblem(desired_orders=wishes, on_hand=on_hand, pipeline=pipeline,
                                        holding_cost=static["holding_cost"],
                                        shortage_cost=static["shortage_cost"],
                                        supply_capacity=static["supply_capacity"], forecast_mean=mean,
                                        forecast_std=std, lead_times=static["lead_times"],
                                        capacity=static["capacity"],
                                        # only the projected basis reads it here: given to the rolling
                                        # model it would replace the "all lands on day 0" stand-in
                                        # behind that method's measured results
                                        pipeline_by_day=np.asarray(inputs[5]) if projected else None)
            result = allocate(problem, method=allocation, **options)
            alloc_s += time.perf_counter() - a0
            statuses[result.status] += 1
            fallback_days += int(bool(result.timed_out or result.fallback))
            orders = result.orders
        state, (h, s, o, overflow, utilisation) = env_step(state, jnp.asarray(orders, jnp.int32), params)
        holding += np.asarray(h, np.float64)
        shortage += np.asarray(s, np.float64)
        overflow_cost += np.asarray(o, np.float64)
        refused += np.asarray(overflow, np.float64).sum(axis=0)
        peak = np.maximum(peak, np.asarray(utilisation, np.float64).max(axis=0))
    return HybridResult(cost=holding + shortage + overflow_cost, holding_cost=holding, shortage_cost=shortage,
                        overflow_cost=overflow_cost,
                        refused_units=refused, peak_utilisation=peak, statuses=dict(statuses),
                        fallback_days=fallback_days, alloc_s=alloc_s, wall_s=time.perf_counter() - t0)


__all__ = ["ALLOCATIONS", "HybridResult", "StaticByRatio", "jax_alloc_settings", "make_day_functions",
           "make_hybrid_functions", "observes_utilisation", "run_hybrid", "run_hybrid_batch", "stage_utilisation",
           "static_by_ratio"]
