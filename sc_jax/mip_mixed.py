"""Episodes under "MIP with mixed cost" (the hybrid sample's baseline): a host-side runner.

Every day the rolling-horizon mixed-cost MILP (`sc_jax.alloc.mip_mixed`) plans H days on the
forecast means from each episode's state; day 0's integer orders go to the env's own step (jitted,
vmapped over products, `env.vmap_products` when they share capacity, and over samples).

    keys = sc_jax.evaluate.demand_keys(key, P, S)   # [P, S]: the paths evaluate(...) uses
    result = run_mip_mixed(env, params, keys, alignment="sample")
    result.cost          # [P, S] env cost per episode (holding + missed sales + refused arrivals)
    result.daily         # per-day info [T, P, S, ...] (lost, on_hand, ...): notebook metrics

Common random numbers: episode (p, s) draws its demand (and initial on hand) from `keys[p, s]`
exactly as `sc_jax.env.rollout` / `sc_jax.evaluate.evaluate` do (`episode_keys`), so MIP-mixed
meets the same paths as every JAX policy given the same keys.

Forecast alignment (`alignment`): "sample" hands the model forecast_mean[t+1 : t+1+H] while day
t is simulated (the sample's `iteration_demand_forecast`: its plan is one day out of step with the
demand it meets); "aligned" hands it forecast_mean[t : t+H]. Past the stored forecast the last
value is repeated (the presets store T + 15 days).

Safety targets (`safety_target`, optional): a callable (t, state [S, P]) -> [S, P, M] units handed
to the model as its soft safety target (sc_jax.alloc.mip_mixed), each unit-day short of it
costing `safety_penalty_weight` x the product's retail k. `sigma_safety_targets(z, ...)` gives
issue #15's fixed-safety hybrid (z sqrt(sum sigma^2) over each stage's cover window, from the
forecast sigma); `policy_safety_targets(policy, ...)` a safety-stock brain's decisions (the
sample's brain + "Safety" controller), `checkpoint_safety_targets(checkpoint, ...)` the same from a
saved brain, loaded in each worker process (so it runs with `workers` > 1). Without a target the model is MIP-mixed itself.

Capacity margin (`capacity_margin_z` z_c >= 0, shared capacity only): the model's capacity row of
day tau and stage j keeps z_c sqrt(sum over the sample's products and the days before
min(tau, L_j) of sigma^2) units free (the forecast sigma over the days the plan covers, `alignment`
as the means). A plan that fills the row on the forecast means has arrivals refused whenever
demand falls short of the forecast (more stock on hand than planned when they come); the margin
is headroom for that aggregate shortfall over the lead time of the orders placed today (later
rows are re-planned before their orders are placed: their margin stays at the lead time's). Day
0's row is what is already committed: no margin there. z_c = 0 (the default) is the model
without a margin. `capacity_margin_lead` says which lead time: "stage" (the default) L_j, the
stage's own; "echelon" L_0 + ... + L_j: an upper stage's stock also grows while a shortfall at
the retailer travels up the chain as smaller orders, so its excess builds over the lead times below
it too. `capacity_margin_lost` c >= 0 adds c sum(sigma) over the same products and days: a SKU
that runs out ends the day at 0, not below, so it cannot offset another SKU's surplus and the summed
stock sits above the plan's by the expected lost sales (sigma phi(0) = 0.4 sigma a day for a SKU held
at its forecast), which the symmetric z term does not cover (docs/hybrid_reproduction.md, "The sales
lost to stock-outs"; 0, the default, adds nothing).

Models per day: with shared capacity, one model per sample over its P products (their capacity
row); without, one block-diagonal model over all P x S episodes (HiGHS solves the blocks together:
one call per day instead of P x S). Shapes: P products, S samples, M stages, T days.
"""
from __future__ import annotations

import inspect
import multiprocessing
import functools
import os
import pickle
import time
from collections import Counter
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.alloc.mip_mixed import CAPACITY_ROWS, INTEGRALITY, TIMINGS, LpWarmStart, MixedCostProblem, solve_mixed
from sc_jax.checks import check_bool, check_choice, check_integer, check_number, check_time_limit
from sc_jax.env.keys import check_key_batch
from sc_jax.env.params import batch_shape, replicate
from sc_jax.env.types import SUPPLIER_TIMING, EnvParams
from sc_jax.errors import ConfigError

ALIGNMENTS = ("sample", "aligned")
#: the lead time over which the capacity margin sums the forecast sigma (module docstring)
MARGIN_LEADS = ("stage", "echelon")
#: per-day StepInfo fields kept in MipMixedResult.daily, [T, P, S, ...]
DAILY_FIELDS = ("demand", "lost", "on_hand", "accepted", "arrivals", "overflow", "holding_cost",
                "shortage_cost", "overflow_cost")


@dataclass
class MipMixedResult:
    """P products x S samples under MIP-mixed (module docstring).

    cost [P, S]: env cost per episode (-reward: holding + shortage + overflow, the SKU's own k, h);
    daily: dict of per-day arrays [T, P, S, ...] (DAILY_FIELDS, and "orders" [T, P, S, M]: the
      orders executed each day, which replayed through the env give the same episode) plus
      "shared_utilisation" [T, S, M];
    statuses: solver status -> number of models; solve_s [T]: wall time of the day's solves (model
    build included); solve_s_per_model [T]: the same divided by the models of the day;
    capacity_slack [T, models]: each plan's capacity slack (0 when its capacity rows hold);
    refused_units [M] and peak_utilisation [M]: over all samples and days (shared capacity)."""

    cost: np.ndarray
    daily: dict
    statuses: dict
    solve_s: np.ndarray
    solve_s_per_model: np.ndarray
    capacity_slack: np.ndarray
    fallback_models: int
    timed_out_models: int
    refused_units: np.ndarray
    peak_utilisation: np.ndarray
    wall_s: float
    settings: dict = field(default_factory=dict)

    @property
    def day_cost(self) -> np.ndarray:
        """[T, P, S] the env cost of each day (holding + shortage + overflow): `cost` day by day."""
        return self.daily["holding_cost"] + self.daily["shortage_cost"] + self.daily["overflow_cost"]


def forecast_slice(forecast_mean: np.ndarray, t: int, horizon: int, alignment: str) -> np.ndarray:
    """[..., horizon] forecast means handed to the model on day t: forecast_mean[..., t+1 : t+1+H]
    ("sample") or [..., t : t+H] ("aligned"); the last stored value repeated past the end."""
    start = t + (1 if alignment == "sample" else 0)
    idx = np.minimum(np.arange(start, start + horizon), forecast_mean.shape[-1] - 1)
    return forecast_mean[..., idx]


def _capacity_margin(sigma, t, horizon, alignment, margin_lead, z, lost):
    """[S, H, M] units off day tau's capacity row of stage j: z sqrt(sum sigma^2) + lost x sum sigma over
    the sample's products and the plan's days before min(tau, margin_lead[j]) (sigma [S, P, T + W])."""
    days = np.minimum(np.arange(horizon)[:, None], margin_lead[None, :])  # [H, M]

    def before(x):  # [S, H, M]: sum over products, cumulated over the plan's days, at each row's count
        total = forecast_slice(x, t, horizon, alignment).sum(axis=1)  # [S, H]
        return np.concatenate([np.zeros((total.shape[0], 1)), np.cumsum(total, axis=1)], axis=1)[:, days]

    margin = z * np.sqrt(before(np.square(sigma)))
    return margin + lost * before(sigma) if lost > 0 else margin


def _compiled(env):
    """(reset_all(keys [S, P], params) -> state [S, P], step_all(state, orders [S, P, M], params))."""

    @jax.jit
    def reset_all(keys, params):
        return jax.vmap(lambda k: jax.vmap(env.reset)(k, params)[1])(keys)

    @jax.jit
    def step_all(state, orders, params):
        def per_sample(state, orders):
            def one(state, p, o):
                _, state, reward, _, info = env.step_env(None, state, o, p)
                kept = {name: getattr(info, name) for name in DAILY_FIELDS}
                kept["shared_utilisation"] = info.shared_utilisation
                return state, reward, kept

            return env.vmap_products(one)(state, params, orders)

        state, reward, kept = jax.vmap(per_sample)(state, orders)
        return state, reward, kept, state.on_hand, state.arrival_schedule

    return reset_all, step_all


_CACHE: dict = {}


def _safety_fields(target, sample, shortage, weight) -> dict:
    """The MixedCostProblem's safety fields for one sample's products (sample an index) or for all
    S x P episodes flattened sample-major (sample None); {} without a target."""
    if target is None:
        return {}
    if sample is not None:
        return {"safety_target": target[sample], "safety_penalty": weight * shortage}
    S, P, M = target.shape
    return {"safety_target": target.reshape(S * P, M), "safety_penalty": np.tile(weight * shortage, S)}


def sigma_safety_targets(z, lead_times, *, timing: str, alignment: str = "sample", form: str = "installation",
                         floor=0):
    """safety_target(t, state) for run_mip_mixed: ceil(z_j sqrt(sum sigma^2)) over stage j's cover
    window (sc_jax.policies.sigma_rule.cover_windows, the rule's windows for `timing`), from the
    day the model's forecast starts (`alignment`), clipped at 0 (a negative z is no target), plus
    `floor` whole units (a number or [M] per stage, >= 0). z: [M] for every product or [P, M] per
    product (e.g. the candidates of a tuning grid). The floor is what a z cannot give where the
    forecast sigma is 0 (the sample's sigmax 1): a unit or two against the sample alignment's
    one-day shift of the plan (docs/hybrid_reproduction.md)."""
    from sc_jax.policies.sigma_rule import FORMS, cover_windows

    check_choice("alignment", alignment, ALIGNMENTS)
    check_choice("timing", timing, TIMINGS)
    check_choice("form", form, FORMS)
    lead = np.asarray(lead_times, np.int64).reshape(-1)
    z = np.asarray(z, np.float64)
    if z.ndim not in (1, 2) or z.shape[-1] != lead.size or not np.all(np.isfinite(z)):
        raise ConfigError(f"'z' of the safety target must be finite, shape [{lead.size}] or [products, {lead.size}], "
                          f"got shape {z.shape}")
    try:
        units = np.asarray(floor, np.float64)
    except (TypeError, ValueError):
        units = np.zeros((0, 0))  # not numbers: fails the shape test below
    if (units.ndim > 1 or units.size not in (1, lead.size) or not np.all(np.isfinite(units)) or np.any(units < 0)
            or np.any(units != np.round(units))):
        raise ConfigError(f"'floor' of the safety target must be whole units >= 0, a number or [{lead.size}] per "
                          f"stage, got {np.asarray(floor).tolist()!r}")
    length = int(lead.sum()) + lead.size + 1
    mask = np.asarray(cover_windows(lead, length, form, timing), np.float64)  # [length, M]
    return SigmaSafetyTarget(z, mask, alignment, np.broadcast_to(units, lead.shape).copy())


class SigmaSafetyTarget:
    """sigma_safety_targets' callable: a class (not a closure) so it pickles into run_mip_mixed's
    worker processes (`workers`)."""

    def __init__(self, z: np.ndarray, mask: np.ndarray, alignment: str, floor: np.ndarray | None = None):
        self.z, self.mask, self.alignment = z, mask, alignment
        self.floor = np.zeros(mask.shape[1]) if floor is None else floor
        self._var = None

    def __call__(self, t, state):
        if t == 0 or self._var is None:  # drawn at reset: fetched once per run (a reused callable refetches)
            std = np.asarray(state.demand.forecast_std, np.float64)
            self._var = std * std  # [S, P, T + W]
        var = forecast_slice(self._var, t, self.mask.shape[0], self.alignment)  # [S, P, length]
        return np.maximum(np.ceil(self.z * np.sqrt(var @ self.mask) - 1e-9), 0.0) + self.floor


def policy_safety_targets(policy: Callable, policy_params, params: EnvParams, act_keys, *, every: int = 10):
    """safety_target(t, state) for run_mip_mixed from a safety-stock brain: policy(policy_params,
    state, params, key) -> [M] decided on days t % every == 0 with keys split(fold_in(act_key, t), P)
    (sc_jax.hybrid_reproduction.make_daily_runner's: the same decisions in the same state), held
    in between. act_keys [S]. It does not pickle (the policy is a function): for worker processes
    use checkpoint_safety_targets."""
    check_integer("every", every, 1)
    return PolicySafetyTarget(params, act_keys, every, policy=(policy, policy_params))


def _load_safety_brain(checkpoint: str):
    """(act, policy_params) of the safety-stock brain saved at `checkpoint` (in the process that runs it)."""
    from sc_jax.agents.brains import load_brain

    kind, act, policy_params, *_ = load_brain(Path(checkpoint))
    if kind != "safety":
        raise ConfigError(f"'checkpoint' must hold a safety-stock brain, got a {kind!r} brain ({checkpoint})")
    return act, policy_params


def checkpoint_safety_targets(checkpoint, params: EnvParams, act_keys, *, every: int = 10):
    """policy_safety_targets of the safety-stock brain saved at `checkpoint` (sc_jax.agents.brains.load_brain),
    as a target that pickles: each process that runs it (submit_mip_mixed's workers) loads the brain
    itself on first use; submit_mip_mixed hands each job its samples' act_keys."""
    check_integer("every", every, 1)
    path = Path(checkpoint)
    if not path.is_dir():
        raise ConfigError(f"'checkpoint' must be a brain's checkpoint directory, got {str(checkpoint)!r}")
    return PolicySafetyTarget(params, act_keys, every, load=functools.partial(_load_safety_brain, str(path)))


class PolicySafetyTarget:
    """policy_safety_targets' and checkpoint_safety_targets' callable: decisions every `every` days
    (held in between) for the samples of `act_keys` [S]. With a loader it pickles (the compiled
    decision is rebuilt in the receiving process); `for_samples(index)` is the same target on a
    subset of the samples (one job per sample in submit_mip_mixed)."""

    def __init__(self, params, act_keys, every: int, *, policy=None, load=None):
        self.params, self.act_keys, self.every = params, jnp.asarray(act_keys), int(every)
        self._policy, self._load = policy, load
        self._decide, self._held = None, None

    def for_samples(self, index) -> "PolicySafetyTarget":
        return PolicySafetyTarget(self.params, self.act_keys[index], self.every, policy=self._policy, load=self._load)

    def __getstate__(self):
        if self._load is None:
            raise TypeError("a safety target built from a policy function does not pickle "
                            "(checkpoint_safety_targets' does)")
        return {"params": self.params, "act_keys": self.act_keys, "every": self.every, "load": self._load}

    def __setstate__(self, state):
        self.__init__(state["params"], state["act_keys"], state["every"], load=state["load"])

    def _compiled(self):
        policy, policy_params = self._policy if self._policy is not None else self._load()

        @jax.jit
        def decide(state, params, day_keys):  # state [S, P], day_keys [S, P]
            return jax.vmap(jax.vmap(lambda s, p, k: policy(policy_params, s, p, k), in_axes=(0, 0, 0)),
                            in_axes=(0, None, 0))(state, params, day_keys)

        return decide

    def __call__(self, t, state):
        if self._decide is None:
            self._decide = self._compiled()
        if t % self.every == 0 or self._held is None:
            P = jax.tree.leaves(state)[0].shape[1]
            day_keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, t), P))(self.act_keys)
            self._held = np.maximum(np.asarray(self._decide(state, self.params, day_keys), np.float64), 0.0)
        return self._held


def _check_safety_target(target) -> None:
    """The target a wrapper (capped, delayed) is built on must be a safety_target callable."""
    if not callable(target):
        raise ConfigError(f"'target' must be a safety_target callable (t, state) -> [samples, products, stages], "
                          f"got {type(target).__name__}")


class _WrappedSafetyTarget:
    """A safety target built on another: forwards the decision keys and the per-sample split
    (submit_mip_mixed hands each job its samples' through for_samples) to the inner target."""

    def __init__(self, target):
        self.target = target

    def _rewrap(self, inner):
        raise NotImplementedError

    @property
    def act_keys(self):
        return self.target.act_keys

    def __getattr__(self, name):
        if name == "for_samples" and hasattr(self.target, "for_samples"):
            return lambda index: self._rewrap(self.target.for_samples(index))
        raise AttributeError(name)


def capped_safety_targets(target, capacity, fraction: float):
    """`target` (a safety_target callable) with its sum over a sample's products at most
    fraction x capacity per stage: where a stage's targets ask for more, all of that stage's are
    scaled down in proportion (rounded down), elsewhere unchanged. A brain trained on one SKU
    alone asks, at high forecast sigma, for more safety stock in total than the shared capacity
    holds; soft targets the plan cannot meet make it fill every stage to the brim
    (docs/hybrid_reproduction.md, "The 200-SKU grid"). capacity: [M] units per stage (the
    catalog's shared capacity); fraction > 0. It pickles (and splits per sample) when `target` does."""
    _check_safety_target(target)
    cap = np.asarray(capacity, np.float64).reshape(-1)
    if cap.size == 0 or not np.all(np.isfinite(cap)) or np.any(cap <= 0):
        raise ConfigError(f"'capacity' must be finite units > 0 per stage, got {cap.tolist()}")
    fraction = check_number("fraction", fraction, "a finite number > 0 (of the shared capacity per stage)",
                            lambda x: 0 < x < float("inf"))
    return CappedSafetyTarget(target, fraction * cap)


class CappedSafetyTarget(_WrappedSafetyTarget):
    """capped_safety_targets' callable: a class (not a closure) so it pickles into the workers."""

    def __init__(self, target, cap: np.ndarray):
        super().__init__(target)
        self.cap = cap

    def _rewrap(self, inner):
        return CappedSafetyTarget(inner, self.cap)

    def __call__(self, t, state):
        units = np.asarray(self.target(t, state), np.float64)  # [S, P, M]
        if units.shape[-1] != self.cap.size:
            raise ConfigError(f"the capped safety target has {units.shape[-1]} stages, the capacity {self.cap.size}")
        total = units.sum(axis=1, keepdims=True)  # [S, 1, M]
        over = total > self.cap
        scale = np.where(over, self.cap / np.where(over, total, 1.0), 1.0)
        return np.where(over, np.floor(units * scale + 1e-9), units)


def delayed_safety_targets(target, start_day: int):
    """`target` (a safety_target callable) with no target on days t < start_day: the plan is
    MIP-mixed's through the start-up (stock 5..9, an empty pipeline), where a soft target trades
    sales for stock (each unit-day short costs as much as a lost sale), and the target's from
    start_day on. It pickles (and splits per sample) when `target` does."""
    _check_safety_target(target)
    return DelayedSafetyTarget(target, check_integer("start_day", start_day, 0))


class DelayedSafetyTarget(_WrappedSafetyTarget):
    """delayed_safety_targets' callable: a class (not a closure) so it pickles into the workers."""

    def __init__(self, target, start_day: int):
        super().__init__(target)
        self.start_day = start_day

    def _rewrap(self, inner):
        return DelayedSafetyTarget(inner, self.start_day)

    def __call__(self, t, state):
        units = np.asarray(self.target(t, state), np.float64)  # the inner one keeps its own clock (a brain's decisions)
        return units if t >= self.start_day else np.zeros_like(units)


def minimal_horizon(lead_times, timing: str) -> int:
    """The shortest plan in which a top-stage order can reach the customer: sum(L) + 1 with
    "after_arrivals" (10 on the hybrid chain, the sample's H), sum(L) + M - 1 + 1 with
    "before_arrivals" (12): a supplier then ships a unit the day after it arrives."""
    lead = np.asarray(lead_times, np.int64)
    return int(lead.sum()) + (lead.size - 1 if timing == "before_arrivals" else 0) + 1


def _checked(env, params, keys, *, horizon, alignment, time_limit, mip_rel_gap, integrality, capacity_row,
             timing, safety_target, safety_penalty_weight, capacity_margin_z, capacity_margin_lead,
             capacity_margin_lost, warm_start, rounded_plan):
    """run_mip_mixed's arguments checked (ConfigError naming the field): (params [P], keys [P, S],
    timing, lead times [M], horizon)."""
    check_choice("alignment", alignment, ALIGNMENTS)
    check_choice("integrality", integrality, INTEGRALITY)
    check_choice("capacity_row", capacity_row, CAPACITY_ROWS)
    check_time_limit(time_limit)
    check_number("mip_rel_gap", mip_rel_gap, "a number in [0, 1)", lambda x: 0 <= x < 1)
    check_number("safety_penalty_weight", safety_penalty_weight, "a number >= 0", lambda x: x >= 0)
    check_number("capacity_margin_z", capacity_margin_z, "a number >= 0", lambda x: x >= 0)
    check_choice("capacity_margin_lead", capacity_margin_lead, MARGIN_LEADS)
    check_number("capacity_margin_lost", capacity_margin_lost, "a number >= 0", lambda x: x >= 0)
    check_bool("warm_start", warm_start)
    check_bool("rounded_plan", rounded_plan)
    for name, value in (("capacity_margin_z", capacity_margin_z), ("capacity_margin_lost", capacity_margin_lost)):
        if value > 0 and not env.couple_products:
            raise ConfigError(f"'{name}' > 0 needs a catalog sharing capacity (env.couple_products), got {value} "
                              f"without one")
    if safety_target is not None and not callable(safety_target):
        raise ConfigError("'safety_target' must be a callable (t, state) -> [samples, products, stages] or None, "
                          f"got {type(safety_target).__name__}")
    if timing is None:
        timing = SUPPLIER_TIMING[env.supply_semantics]
    check_choice("timing", timing, TIMINGS)
    if getattr(env, "unwrapped", env) is not env:
        raise ConfigError("run_mip_mixed needs the InventoryEnv itself (it plans the orders), not a wrapper")
    if len(batch_shape(params)) > 1:
        raise ConfigError(f"params must have at most one product axis, got batch shape {batch_shape(params)}")
    keys = jnp.asarray(keys)
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if batch_shape(params) == ():
        params = replicate(params, 1)
        if keys.ndim == (1 if typed else 2):  # [S]: add the product axis
            keys = keys[None]
    if keys.ndim != (2 if typed else 3):
        raise ConfigError(f"'keys' must be episode keys [P, S] (or [S] for one product), got shape {keys.shape}")
    P = batch_shape(params)[0]
    flat = keys.reshape((-1,) + keys.shape[2:])
    check_key_batch(flat)
    if keys.shape[0] != P:
        raise ConfigError(f"'keys' must have a leading product axis of {P} (the params' products), got {keys.shape}")
    lead = np.asarray(params.lead_time)
    if not np.all(lead == lead[:1]):
        raise ConfigError("lead times must be the same for every product (one model per sample)")
    lead = lead[0].astype(np.int64)
    if horizon is None:
        horizon = minimal_horizon(lead, timing)
    check_integer("horizon", horizon, int(lead.max()) + 1)
    return params, keys, timing, lead, horizon


def run_mip_mixed(env, params: EnvParams, keys, *, horizon: int | None = None, alignment: str = "sample",
                  time_limit: float | None = 10.0, mip_rel_gap: float = 1e-6, integrality: str = "all",
                  capacity_row: str = "env", timing: str | None = None,
                  safety_target: Callable | None = None, safety_penalty_weight: float = 1.0,
                  capacity_margin_z: float = 0.0, capacity_margin_lead: str = "stage",
                  capacity_margin_lost: float = 0.0, warm_start: bool = False, rounded_plan: bool = True,
                  progress: Callable[[int, float], None] | None = None, workers: int = 1) -> MipMixedResult:
    """One episode per (product, sample) under MIP-mixed.

    env, params: an InventoryEnv (not a wrapper) and its params, one product or [P] (a catalog,
      sharing capacity when env.couple_products); lead times must be the same for every product.
    keys: episode keys [P, S] (or [S] for one product), e.g. sc_jax.evaluate.demand_keys(key, P, S).
    horizon H (>= max lead time + 1; default `minimal_horizon`: 10 = the sample's H on its
      chain with the sample's timing, 12 with sc_jax's exact timing), alignment "sample" | "aligned", time_limit / mip_rel_gap /
      integrality ("all" | "first" | "none") / capacity_row ("env" | "sample") / timing
      (default: the env's, "after_arrivals" under the sample's semantics, "before_arrivals" under
      sc_jax's exact ones): the model's (sc_jax.alloc.mip_mixed). Under the env's exact semantics today's orders
      are also bounded by each supplier's on hand (what the env will ship), so no executed order
      is ever short at its supplier; under the sample's semantics they ship in full anyway.
    safety_target(t, state) -> [S, P, M] units or None, safety_penalty_weight w >= 0: the soft
      safety target (module docstring), each unit-day short costing w x the product's retail k.
    capacity_margin_z >= 0: the capacity row's headroom for demand below the forecast (module
      docstring; shared capacity only); capacity_margin_lead "stage" | "echelon": over each stage's
      own lead time or the lead times of the stages up to it; capacity_margin_lost c >= 0: adds c x the
      sum of sigma over the same products and days, the sales a SKU lost to a stock-out leaves unsold
      (module docstring).
    warm_start: each day's LP starts from the plan's optimal basis of the day before (one chain per
      sample of a coupled catalog, one for a batch of independent SKUs; sc_jax.alloc.mip_mixed,
      "Warm start"): the same optimum value per model, about 6x faster per point at 200 SKUs; where the LP has
      several optimal plans the episodes can differ from cold-started ones (deterministically).
    rounded_plan: on days whose LP orders are rounded down, re-solve the plan with them fixed to
      report its capacity slack (sc_jax.alloc.mip_mixed.solve_mixed; diagnostics only, the same orders);
      False: the LP plan's slack, about 15% less time per model with a safety target.
    progress(t, seconds so far): called after each day (not with workers > 1: the days run in the workers).
    workers > 1: the samples of a coupled catalog (one model per sample and day, so the samples are
      independent) run in that many processes (`submit_mip_mixed`); the same result as workers=1."""
    options = dict(horizon=horizon, alignment=alignment, time_limit=time_limit, mip_rel_gap=mip_rel_gap,
                   integrality=integrality, capacity_row=capacity_row, timing=timing, safety_target=safety_target,
                   safety_penalty_weight=safety_penalty_weight, capacity_margin_z=capacity_margin_z,
                   capacity_margin_lead=capacity_margin_lead, capacity_margin_lost=capacity_margin_lost,
                   warm_start=warm_start, rounded_plan=rounded_plan)
    if check_integer("workers", workers, 1) > 1:
        t_start = time.perf_counter()
        with mip_mixed_executor(workers) as executor:
            parts = [job.result() for job in submit_mip_mixed(executor, env, params, keys, **options)]
        return replace(merge_mip_results(parts), wall_s=time.perf_counter() - t_start)
    params, keys, timing, lead, horizon = _checked(env, params, keys, **options)
    exact_env = env.supply_semantics == "exact"
    P, S = keys.shape[:2]
    M, T = params.num_stages, env.periods
    coupled = bool(env.couple_products)

    t0 = time.perf_counter()
    fns = _CACHE.get(env)
    if fns is None:
        fns = _CACHE[env] = _compiled(env)
    reset_all, step_all = fns
    state = reset_all(jnp.swapaxes(keys, 0, 1), params)  # [S, P]
    forecast = np.asarray(state.demand.forecast_mean, np.float64)  # [S, P, T + W]
    on_hand = np.asarray(state.on_hand)
    schedule = np.asarray(state.arrival_schedule)  # [S, P, Hh + 1, M]
    holding = np.asarray(params.unit_holding_cost, np.float64)[:, :M]
    shortage = np.asarray(params.unit_shortage_cost, np.float64)[:, 0]
    supply = np.asarray(params.supply_capacity, np.float64)
    capacity = np.asarray(params.shared_capacity, np.float64)[0] if coupled else None
    with_margin = capacity_margin_z > 0 or capacity_margin_lost > 0
    sigma = np.asarray(state.demand.forecast_std, np.float64) if with_margin else None
    margin_lead = np.cumsum(lead) if capacity_margin_lead == "echelon" else lead

    daily = {}
    reward_sum = np.zeros((S, P))
    statuses: Counter = Counter()
    solve_s, per_model, slack = np.zeros(T), np.zeros(T), []
    fallback = timed_out = 0
    n_models = S if coupled else 1
    chains = [LpWarmStart() for _ in range(n_models)] if warm_start else [None] * n_models
    for t in range(T):
        mean = forecast_slice(forecast, t, horizon, alignment)  # [S, P, H]
        arrivals = np.zeros((S, P, horizon, M))
        rows = min(horizon, schedule.shape[2])
        arrivals[:, :, :rows] = schedule[:, :, :rows]
        target = None
        if safety_target is not None:
            target = np.asarray(safety_target(t, state), np.float64)
            if target.shape != (S, P, M) or not np.all(np.isfinite(target)) or np.any(target < 0):
                raise ConfigError(f"safety_target(t, state) must return finite units >= 0 of shape {(S, P, M)}, "
                                  f"got shape {target.shape}")
        margin = None
        if sigma is not None:
            margin = _capacity_margin(sigma, t, horizon, alignment, margin_lead, capacity_margin_z,
                                      capacity_margin_lost)
        a0 = time.perf_counter()
        if coupled:
            orders, day_slack = np.zeros((S, P, M), np.int64), []
            for s in range(S):
                result = solve_mixed(MixedCostProblem(
                    on_hand=on_hand[s], arrivals=arrivals[s], forecast_mean=mean[s], holding_cost=holding,
                    shortage_cost=shortage, supply_capacity=supply, lead_times=lead, capacity=capacity,
                    timing=timing, first_day_supply=on_hand[s] if exact_env else None,
                    capacity_margin=None if margin is None else margin[s],
                    **_safety_fields(target, s, shortage, safety_penalty_weight)), time_limit=time_limit, mip_rel_gap=mip_rel_gap,
                    integrality=integrality, capacity_row=capacity_row, warm_start=chains[s],
                    rounded_plan=rounded_plan)
                orders[s] = result.orders
                day_slack.append(result.capacity_slack)
                statuses[result.status] += 1
                fallback += int(result.fallback)
                timed_out += int(result.timed_out)
        else:
            result = solve_mixed(MixedCostProblem(
                on_hand=on_hand.reshape(S * P, M), arrivals=arrivals.reshape(S * P, horizon, M),
                forecast_mean=mean.reshape(S * P, horizon), holding_cost=np.tile(holding, (S, 1)),
                shortage_cost=np.tile(shortage, S), supply_capacity=np.tile(supply, (S, 1)), lead_times=lead,
                timing=timing, first_day_supply=on_hand.reshape(S * P, M) if exact_env else None,
                **_safety_fields(target, None, shortage, safety_penalty_weight)), time_limit=time_limit, mip_rel_gap=mip_rel_gap,
                integrality=integrality, capacity_row=capacity_row, warm_start=chains[0],
                rounded_plan=rounded_plan)
            orders = result.orders.reshape(S, P, M)
            day_slack = [result.capacity_slack]
            statuses[result.status] += 1
            fallback += int(result.fallback)
            timed_out += int(result.timed_out)
        solve_s[t] = time.perf_counter() - a0
        per_model[t] = solve_s[t] / n_models
        slack.append(day_slack)
        daily.setdefault("orders", []).append(np.asarray(orders, np.int32))  # [S, P, M]: what was executed
        state, reward, kept, on_hand_j, schedule_j = step_all(state, jnp.asarray(orders, jnp.int32), params)
        on_hand, schedule = np.asarray(on_hand_j), np.asarray(schedule_j)
        reward_sum += np.asarray(reward, np.float64)
        for name, value in kept.items():
            daily.setdefault(name, []).append(np.asarray(value))
        if progress is not None:
            progress(t, time.perf_counter() - t0)

    out = {}
    for name, values in daily.items():
        stacked = np.stack(values)  # [T, S, P, ...]
        if name == "shared_utilisation":
            out[name] = stacked[:, :, 0]  # the same for every product of a sample: [T, S, M]
        else:
            out[name] = np.swapaxes(stacked, 1, 2)  # [T, P, S, ...]
    refused = out["overflow"].sum(axis=(0, 1, 2)).astype(np.int64)
    peak = out["shared_utilisation"].max(axis=(0, 1)) if coupled else np.zeros(M)
    return MipMixedResult(
        cost=-reward_sum.T, daily=out, statuses=dict(statuses), solve_s=solve_s, solve_s_per_model=per_model,
        capacity_slack=np.asarray(slack, np.float64), fallback_models=fallback, timed_out_models=timed_out,
        refused_units=refused, peak_utilisation=peak, wall_s=time.perf_counter() - t0,
        settings={"horizon": horizon, "alignment": alignment, "time_limit": time_limit, "mip_rel_gap": mip_rel_gap,
                  "integrality": integrality, "capacity_row": capacity_row, "timing": timing,
                  "supply_semantics": env.supply_semantics, "safety_target": safety_target is not None,
                  "safety_penalty_weight": safety_penalty_weight, "capacity_margin_z": capacity_margin_z,
                  "capacity_margin_lead": capacity_margin_lead, "capacity_margin_lost": capacity_margin_lost,
                  "warm_start": bool(warm_start), "rounded_plan": bool(rounded_plan), "products": P, "samples": S,
                  "coupled": coupled})


# ------------------------------------------------------------------------- samples in processes

def _worker_on_cpu():
    """A worker's JAX on the CPU, one thread: its env steps are tiny; on a GPU host each of many
    processes would otherwise take its own share of the GPU's memory, and on a many-core host
    spin up a thread per core (XLA reads the flags when its backend starts, after this)."""
    jax.config.update("jax_platforms", "cpu")
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false"
                               " intra_op_parallelism_threads=1").strip()


def _one_run(env, params, keys, options):  # module level: it runs in a worker process
    return run_mip_mixed(env, params, keys, **options)


def mip_mixed_executor(workers: int) -> ProcessPoolExecutor:
    """A pool of `workers` processes for submit_mip_mixed ('spawn': JAX does not survive a fork;
    each worker's JAX runs on the CPU)."""
    check_integer("workers", workers, 1)
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_worker_on_cpu)


def submit_mip_mixed(executor: Executor, env, params: EnvParams, keys, **options) -> list[Future]:
    """run_mip_mixed(env, params, keys, **options) for a coupled catalog, one job per sample on
    `executor` (e.g. mip_mixed_executor(16)); merge_mip_results([job.result() ...]) is the result
    run_mip_mixed gives on all samples at once (one model per sample and day: the samples are
    independent). Submitting several points' jobs before collecting any keeps every worker busy.
    A safety target must pickle (sigma_safety_targets' and checkpoint_safety_targets' do,
    policy_safety_targets' does not); one with `for_samples` (a brain's) gets each job's samples."""
    unknown = sorted(set(options) - _RUN_OPTIONS)
    if unknown:
        raise ConfigError(f"submit_mip_mixed options must be among {sorted(_RUN_OPTIONS)}, got {unknown}")
    params, keys, *_ = _checked(env, params, keys, **{**_RUN_DEFAULTS, **options})
    if not env.couple_products:
        raise ConfigError("'workers' > 1 needs a catalog sharing capacity (env.couple_products): without it every "
                          "sample's products are solved in one block model per day")
    target = options.get("safety_target")
    try:
        pickle.dumps(target)
    except Exception as error:  # noqa: BLE001 - any pickling failure means the same thing here
        raise ConfigError(f"'safety_target' must pickle to run in worker processes (sigma_safety_targets' and "
                          f"checkpoint_safety_targets' do, policy_safety_targets' does not): {error}") from None
    if target is not None and hasattr(target, "for_samples"):
        if len(target.act_keys) != keys.shape[1]:
            raise ConfigError(f"the safety target's act_keys must hold one key per sample ({keys.shape[1]}), "
                              f"got {len(target.act_keys)}")
        per_job = lambda s: {**options, "safety_target": target.for_samples(slice(s, s + 1))}
    else:
        per_job = lambda s: options
    return [executor.submit(_one_run, env, params, keys[:, s:s + 1], per_job(s)) for s in range(keys.shape[1])]


def merge_mip_results(parts: list[MipMixedResult]) -> MipMixedResult:
    """The results of disjoint sample batches of one catalog (submit_mip_mixed's jobs, in order)
    as one: samples concatenated, counts summed, the day's solve time summed over the batches."""
    if not parts:
        raise ConfigError("'parts' must hold at least one MipMixedResult, got none")
    daily = {name: np.concatenate([p.daily[name] for p in parts], axis=1 if name == "shared_utilisation" else 2)
             for name in parts[0].daily}
    statuses: Counter = Counter()
    for p in parts:
        statuses.update(p.statuses)
    solve_s = np.sum([p.solve_s for p in parts], axis=0)
    capacity_slack = np.concatenate([p.capacity_slack for p in parts], axis=1)  # [T, models]
    return MipMixedResult(
        cost=np.concatenate([p.cost for p in parts], axis=1), daily=daily, statuses=dict(statuses),
        solve_s=solve_s, solve_s_per_model=solve_s / max(capacity_slack.shape[1], 1), capacity_slack=capacity_slack,
        fallback_models=sum(p.fallback_models for p in parts), timed_out_models=sum(p.timed_out_models for p in parts),
        refused_units=np.sum([p.refused_units for p in parts], axis=0),
        peak_utilisation=np.max([p.peak_utilisation for p in parts], axis=0),
        wall_s=max(p.wall_s for p in parts),
        settings={**parts[0].settings, "samples": sum(p.cost.shape[1] for p in parts)})


_RUN_DEFAULTS = {name: param.default for name, param in inspect.signature(run_mip_mixed).parameters.items()
                 if param.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("progress", "workers")}
_RUN_OPTIONS = set(_RUN_DEFAULTS)


__all__ = ["ALIGNMENTS", "DAILY_FIELDS", "MipMixedResult", "PolicySafetyTarget", "SigmaSafetyTarget",
           "capped_safety_targets", "checkpoint_safety_targets", "delayed_safety_targets", "forecast_slice",
           "merge_mip_results",
           "minimal_horizon", "mip_mixed_executor", "policy_safety_targets", "run_mip_mixed", "sigma_safety_targets",
           "submit_mip_mixed"]
