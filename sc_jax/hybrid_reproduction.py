"""Pieces of the hybrid sample's reproduction (experiments/reproduce_hybrid.py, issues #10 / #15).

* `method_policy`: one policy for every JAX method of the reproduction, selected by a traced
  method index, so that one compiled episode serves them all (the PPO brain, the HDPO brain,
  constant safety stock, random safety stock: a safety stock every `action_frequency` days turned
  into daily orders by the order-up-to controller; the forecast-sigma rule, echelon base stock
  and the capacity-aware brain (sc_jax.agents.capacity_brain: z of the sigma rule every day from
  the product's features and the stages' shared utilisation): daily orders).
* `make_daily_runner`: episodes of N products x S samples as one jitted `lax.scan` over days,
  with the JAX capacity stage (`sc_jax.alloc.jax_stage.daily_allocation_batch`, the daily model
  of `sc_jax.alloc` solved exactly: the same stage `sc_jax.hybrid.run_hybrid(allocation="jax")`
  runs) between the controller and one coupled env step, or without one (single SKU). Unlike
  `run_hybrid` it keeps every day's cost and the sample's notebook cost per day: the sample's two
  figure metrics are computed from them.
* `tune_constant`: the CRN search of a constant parameter vector (z of the sigma rule, a safety
  stock, echelon base-stock levels) per scenario (cost ratio x sigma) and per group of scenarios
  (e.g. a cost ratio across sigma levels), on training keys only.
* `hybrid_keys`: the reset and decision keys `run_hybrid` derives from an episode key (so the
  multi-SKU methods, MIP-mixed included, meet the same demand paths).

Randomness only through explicit keys; nothing depends on wall-clock time. Shapes: S samples,
N products, M stages, T days, L scenarios, C candidates, D parameters per candidate.
"""
from __future__ import annotations

import functools
import itertools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.alloc.jax_stage import daily_allocation_batch
from sc_jax.alloc.milp import CAPACITY_BASES
from sc_jax.checks import check_choice, check_integer
from sc_jax.env.rollout import rollout
from sc_jax.env.types import EnvParams, EnvState
from sc_jax.errors import ConfigError
from sc_jax.hybrid import stage_utilisation
from sc_jax.policies.base_stock import base_stock
from sc_jax.policies.order_up_to import forecast_window, order_up_to
from sc_jax.policies.random_safety import SafetyRange, random_safety
from sc_jax.policies.sigma_rule import sigma_rule_policy
from sc_jax.sample_metrics import NOTEBOOK_FIRST_DAY, notebook_day_terms

#: the JAX methods `method_policy` switches between (index = position); "brain" is the brain of
#: `brain_act` (PPO in experiments/reproduce_hybrid.py), "brain_hdpo" the one of `hdpo_act`,
#: "capacity_brain" the sigma rule with the z and cover days of `capacity_z` (sc_jax.agents.capacity_brain.make_action)
POLICY_MODES = ("brain", "safety", "random", "sigma_rule", "base_stock", "brain_hdpo", "capacity_brain")
#: modes whose action is a safety stock held for `action_frequency` days (the others order daily)
SAFETY_MODES = ("brain", "safety", "random", "brain_hdpo")
# the daily controller of each mode: 0 order-up-to on the safety stock, 1 sigma rule, 2 base stock,
# 3 the sigma rule with the capacity brain's z
_CONTROLLER = (0, 0, 0, 1, 2, 0, 3)
OBJECTIVES = ("env_cost", "notebook_cost")

# vmap axes of an EnvState whose day index is shared by the whole batch (as sc_jax.env.rollout)
_SHARED_TIME = EnvState(stock=0, due=0, requests=0, owed=0, time=None, demand=0)


class MethodParams(NamedTuple):
    """The parameters of every mode (only the selected one is read). mode: int32 [] index into
    POLICY_MODES; brain: the brain's policy params (any pytree; a dummy when there is no brain);
    safety [M] float32: the constant safety stock; low, high [M] int32: the random safety range;
    z [M] float32: the sigma rule's safety factors; levels [M] float32: echelon base-stock levels;
    brain_hdpo: the second (HDPO) brain's policy params (a dummy when there is none);
    capacity_brain: the capacity-aware brain's policy params (a dummy when there is none)."""

    mode: jnp.ndarray
    brain: Any
    safety: jnp.ndarray
    low: jnp.ndarray
    high: jnp.ndarray
    z: jnp.ndarray
    levels: jnp.ndarray
    brain_hdpo: Any = None
    capacity_brain: Any = None


def method_params(mode: str, num_stages: int, *, brain=None, safety=None, low=None, high=None, z=None,
                  levels=None, brain_hdpo=None, capacity_brain=None) -> MethodParams:
    """MethodParams of one method (unused fields zero; `brain`, `brain_hdpo`, `capacity_brain`
    dummies unless given).
    Methods that should share one compiled episode must carry the same brain pytrees."""
    check_choice("mode", mode, POLICY_MODES)
    M = int(num_stages)
    vec = lambda x, dtype: jnp.zeros((M,), dtype) if x is None else jnp.broadcast_to(jnp.asarray(x, dtype), (M,))
    return MethodParams(mode=jnp.asarray(POLICY_MODES.index(mode), jnp.int32),
                        brain=jnp.zeros(()) if brain is None else brain,
                        safety=vec(safety, jnp.float32), low=vec(low, jnp.int32), high=vec(high, jnp.int32),
                        z=vec(z, jnp.float32), levels=vec(levels, jnp.float32),
                        brain_hdpo=jnp.zeros(()) if brain_hdpo is None else brain_hdpo,
                        capacity_brain=jnp.zeros(()) if capacity_brain is None else capacity_brain)


@functools.lru_cache(maxsize=None)
def method_policy(brain_act: Callable | None = None, timing: str = "after_arrivals", hdpo_act: Callable | None = None,
                  capacity_z: Callable | None = None):
    """(decide, order) for MethodParams:

    decide(mp, state, params, key) -> safety stock [M] float32 (on decision days; modes brain,
      safety, random, brain_hdpo; 0 for the daily-order modes);
    order(mp, safety, state, params, utilisation=None) -> orders [M] int32 every day: the
      order-up-to controller (sc_jax.policies.order_up_to, capped to supply capacity and the
      supplier's on hand) on `safety` for the safety modes, the sigma rule (installation form,
      capped to what the supplier can ship, `timing` "after_arrivals" under the sample's semantics,
      "before_arrivals" under sc_jax's exact ones) or echelon base stock for the others; mode
      capacity_brain: the same sigma rule with (z, cover_days) = capacity_z(mp.capacity_brain, state,
      params, utilisation) (the stages' shared utilisation [M] of the product's sample at the start of the
      day, sc_jax.hybrid.stage_utilisation; None: zeros), decided every day.
    `brain_act(policy_params, state, params, key)` is the brain's act on `mp.brain` (None: mode
    brain gives 0), `hdpo_act` the second brain's on `mp.brain_hdpo` (None: mode brain_hdpo gives 0);
    both in the safety-stock env (sc_jax.env.wrappers.SafetyStockEnv) of the same base env.
    `capacity_z` (sc_jax.agents.capacity_brain.make_action; None: mode capacity_brain orders 0)."""
    sigma = sigma_rule_policy("installation", True, timing)

    def decide(mp: MethodParams, state, params, key):
        M = mp.safety.shape[-1]
        zero = lambda: jnp.zeros((M,), jnp.float32)
        branches = [
            (lambda: jnp.asarray(brain_act(mp.brain, state, params, key), jnp.float32)) if brain_act else zero,
            lambda: mp.safety,
            lambda: random_safety(SafetyRange.tree_unflatten(None, (mp.low, mp.high)), state, params,
                                  key).astype(jnp.float32),
            zero, zero,
            (lambda: jnp.asarray(hdpo_act(mp.brain_hdpo, state, params, key), jnp.float32)) if hdpo_act else zero,
            zero]
        return jax.lax.switch(mp.mode, branches)

    def order(mp: MethodParams, safety, state, params, utilisation=None):
        M = mp.z.shape[-1]
        if utilisation is None:
            utilisation = jnp.zeros((M,), jnp.float32)

        def capacity_brain():
            if capacity_z is None:
                return jnp.zeros((M,), jnp.int32)
            z, cover = capacity_z(mp.capacity_brain, state, params, utilisation)
            return sigma(jnp.asarray(z, jnp.float32), state, params,
                         cover_days=jnp.asarray(cover, jnp.float32)).astype(jnp.int32)

        return jax.lax.switch(jnp.asarray(_CONTROLLER, jnp.int32)[mp.mode], [
            lambda: order_up_to(safety, state, params).astype(jnp.int32),
            lambda: sigma(mp.z, state, params).astype(jnp.int32),
            lambda: base_stock(mp.levels, state, params).astype(jnp.int32),
            capacity_brain])

    return decide, order


class DailyRun(NamedTuple):
    """Episodes of N products x S samples (make_daily_runner)."""

    cost: jnp.ndarray  # [S, N] env cost per episode and product (holding + missed sales + refused)
    day_cost: jnp.ndarray  # [T, S, N] the env cost of each day
    notebook_day: jnp.ndarray  # [T, S, N] the sample's notebook cost of each day (sc_jax.sample_metrics)
    lost_units: jnp.ndarray  # [S, N] units lost (retail + suppliers' unfilled orders) on days >= first_day (20)
    lost_by_stage: jnp.ndarray  # [S, N, M+1] the same per stage (0: the retailer's missed sales)
    mean_on_hand: jnp.ndarray  # [S, N, M] each stage's mean on hand at the end of the days >= first_day
    refused_units: jnp.ndarray  # [S, M] arrivals refused over the shared capacity (summed over days)
    peak_utilisation: jnp.ndarray  # [S, M] max over days of total on hand / shared capacity
    cut_units: jnp.ndarray  # [S, M] units the capacity stage cut from the controller's wishes


def hybrid_keys(keys, num_products: int):
    """(reset keys [S, N], decision keys [S]) that `sc_jax.hybrid.run_hybrid` (and
    `sc_jax.hybrid_jax`) derive from episode keys [S]: reset split(split(key)[0], N), decisions
    split(key)[1]."""
    k_reset, k_act = jax.vmap(jax.random.split, out_axes=1)(jnp.asarray(keys))
    return jax.vmap(lambda k: jax.random.split(k, num_products))(k_reset), k_act


def training_keys(seed: int, count: int):
    """The reproduction's tuning stream: split(fold_in(PRNGKey(seed), 1), count) (never evaluation keys)."""
    return jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 1), count)


def multi_sku_keys(seed: int, episodes: int):
    """The multi-SKU experiment's evaluation episode keys: split(fold_in(PRNGKey(seed), 2), episodes)
    (they depend on the episode count: the first k of a 10-episode run are not a k-episode run's)."""
    return jax.random.split(jax.random.fold_in(jax.random.PRNGKey(seed), 2), episodes)


def single_keys(keys):
    """(reset keys [S, 1], decision keys [S]) for one product: the episode key itself resets it
    (as sc_jax.env.rollout, sc_jax.evaluate and sc_jax.mip_mixed.run_mip_mixed with keys [1, S])."""
    keys = jnp.asarray(keys)
    return keys[:, None], jax.vmap(lambda k: jax.random.fold_in(k, 0x5EED))(keys)


@functools.lru_cache(maxsize=32)
def make_daily_runner(env, brain_act: Callable | None = None, *, timing: str = "after_arrivals",
                      allocation: str = "none", action_frequency: int = 10, max_segments: int = 16,
                      capacity_basis: str = "expected", first_day: int = NOTEBOOK_FIRST_DAY,
                      hdpo_act: Callable | None = None, capacity_z: Callable | None = None):
    """Jitted run(mp: MethodParams, params [N], reset_keys [S, N], act_keys [S], min_cut_cost_fraction)
    -> DailyRun: one episode per sample of the N products of `params` (sharing capacity when
    `env.couple_products`) under the method `mp` (method_policy). allocation "jax": the capacity
    stage cuts the wishes (the controller's orders, or the daily-order modes' orders) so that each
    stage fits its shared capacity (capacity_basis "expected" or "position", sc_jax.alloc);
    "none": the wishes go to the env (its shared-capacity rule refuses what does not fit).
    Decisions on days t % action_frequency == 0 with keys split(fold_in(act_key, t), N), as
    run_hybrid. `brain_act` / `hdpo_act`: the acts of modes brain / brain_hdpo, `capacity_z` the
    (z, cover days) of mode capacity_brain (method_policy); its utilisation is each sample's stages' total on
    hand / shared capacity at the start of the day (sc_jax.hybrid.stage_utilisation, as
    sc_jax.hybrid_jax.make_episode gives the brain in training; zeros without shared capacity).
    `start_orders` [T, S, N, M] int32 with `start_days` (a traced int): on days t < start_days the
    episode executes start_orders[t] instead of the method's orders (another policy's start-up,
    e.g. sc_jax.mip_mixed's `daily["orders"]` on the same keys, which then replays that policy's
    days exactly), the method's own from then on.
    Cached per settings (one compilation per env and brains)."""
    check_choice("allocation", allocation, ("none", "jax"))
    check_integer("action_frequency", action_frequency, 1)
    check_integer("max_segments", max_segments, 1)
    check_choice("capacity_basis", capacity_basis, CAPACITY_BASES)
    if allocation == "jax" and not env.couple_products:
        raise ConfigError("allocation 'jax' needs products sharing capacity (env.couple_products)")
    decide, order = method_policy(brain_act, timing, hdpo_act, capacity_z)
    horizon = env.history_length + 1
    T = env.periods

    def inputs(mp, safety, state, params, utilisation):
        return (order(mp, safety, state, params, utilisation), state.on_hand, state.in_transit,
                forecast_window(state.demand.forecast_mean, state.time, horizon),
                forecast_window(state.demand.forecast_std, state.time, horizon),
                jnp.stack([jnp.stack(row) for row in state.due], axis=-1))  # [M, days] by arrival day

    def step(state, params, orders):
        _, state, _, _, info = env.step_env(None, state, orders, params)
        lost_term, held_term = notebook_day_terms(info)
        notebook = lost_term + held_term / params.cost_ratio
        return state, (info.holding_cost + info.shortage_cost + info.overflow_cost, notebook,
                       info.lost, info.overflow, info.shared_utilisation, state.on_hand)

    day_inputs = jax.vmap(jax.vmap(inputs, in_axes=(None, 0, _SHARED_TIME, 0, None)),
                          in_axes=(None, 0, _SHARED_TIME, None, 0))
    env_step = jax.vmap(env.vmap_products(step, in_axes=(_SHARED_TIME, 0, 0), out_axes=(_SHARED_TIME, 0)),
                        in_axes=(_SHARED_TIME, None, 0), out_axes=(_SHARED_TIME, 0))
    decide_all = jax.vmap(jax.vmap(decide, in_axes=(None, _SHARED_TIME, 0, 0)), in_axes=(None, _SHARED_TIME, None, 0))

    @jax.jit
    def run(mp: MethodParams, params: EnvParams, reset_keys, act_keys, min_cut_cost_fraction=1e-3,
            start_orders=None, start_days=0) -> DailyRun:
        S, N = reset_keys.shape[0], reset_keys.shape[1]
        M = params.num_stages
        if start_orders is not None and (jnp.shape(start_orders) != (T, S, N, M)
                                         or not jnp.issubdtype(jnp.asarray(start_orders).dtype, jnp.integer)):
            raise ConfigError(f"'start_orders' must be integer orders of shape [periods, samples, products, stages] = "
                              f"{(T, S, N, M)}, got {jnp.asarray(start_orders).dtype} {jnp.shape(start_orders)}")
        reset = jax.vmap(lambda k: jax.vmap(env.reset)(k, params)[1])
        state = reset(reset_keys).replace(time=jnp.zeros((), jnp.int32))
        per_sample = lambda x: jnp.broadcast_to(x, (S,) + x.shape)
        holding, shortage = per_sample(params.unit_holding_cost[:, :M]), per_sample(params.unit_shortage_cost[:, :M])
        supply = per_sample(params.supply_capacity)
        lead_times = per_sample(params.lead_time[0])
        capacity = per_sample(params.shared_capacity[0]) if env.couple_products else None

        def new_safety(state, t):
            day_keys = jax.vmap(lambda k: jax.random.split(jax.random.fold_in(k, t), N))(act_keys)
            return decide_all(mp, state, params, day_keys)

        def day(carry, t):
            state, safety, hint, refused, peak, cut, lost_sum, held_sum = carry
            safety = jax.lax.cond(t % action_frequency == 0, new_safety, lambda s, t: safety, state, t)
            if capacity is not None:  # [S, M]: each sample's stages, before the day's arrivals
                utilisation = stage_utilisation(state.stock, capacity.T).T
            else:
                utilisation = jnp.zeros((S, M), jnp.float32)
            wishes, on_hand, pipeline, mean, std, by_day = day_inputs(mp, safety, state, params, utilisation)
            if allocation == "jax":
                stage = daily_allocation_batch(wishes, on_hand, pipeline, holding, shortage, supply, mean, std,
                                               lead_times, capacity, max_segments=max_segments,
                                               capacity_basis=capacity_basis,
                                               min_cut_cost_fraction=min_cut_cost_fraction, threshold_hint=hint,
                                               pipeline_by_day=by_day if capacity_basis == "projected" else None)
                orders = stage.orders
                own_day = True if start_orders is None else t >= start_days  # replayed days cut nothing
                cut = cut + jnp.where(own_day, stage.cuts.sum(1), 0)
                hint = jnp.where(stage.threshold >= 0, stage.threshold, hint)
            else:
                orders = wishes
            if start_orders is not None:  # another policy's executed orders replayed on days < start_days
                orders = jnp.where(t < start_days, start_orders[t], orders)
            state, (cost, notebook, lost, overflow, utilisation, on_hand) = env_step(state, params, orders)
            refused = refused + overflow.sum(1)
            peak = jnp.maximum(peak, utilisation.max(1))
            counted = t >= first_day  # summed in the carry: per-day [T, S, N, M] outputs would not fit large runs
            lost_sum = lost_sum + jnp.where(counted, lost, 0).astype(jnp.float32)
            held_sum = held_sum + jnp.where(counted, on_hand, 0).astype(jnp.float32)
            return (state, safety, hint, refused, peak, cut, lost_sum, held_sum), (cost, notebook)

        zeros_m = jnp.zeros((S, M), jnp.int32)
        carry = (state, jnp.zeros((S, N, M), jnp.float32), jnp.full((S, M), -1.0, jnp.float32), zeros_m,
                 jnp.zeros((S, M), jnp.float32), zeros_m, jnp.zeros((S, N, M + 1), jnp.float32),
                 jnp.zeros((S, N, M), jnp.float32))
        (_, _, _, refused, peak, cut, lost_sum, held_sum), (cost, notebook) = jax.lax.scan(
            day, carry, jnp.arange(T, dtype=jnp.int32))
        return DailyRun(cost=cost.sum(0), day_cost=cost, notebook_day=notebook, lost_units=lost_sum.sum(-1),
                        lost_by_stage=lost_sum, mean_on_hand=held_sum / max(T - first_day, 1),
                        refused_units=refused, peak_utilisation=peak, cut_units=cut)

    return run


# --- tuning constant parameters on training keys (common random numbers) ---------------------------

@functools.lru_cache(maxsize=None)
def _scenario_costs_fn(env, timing: str, objective: str, first_day: int):
    """Jitted costs(kind [], by_scenario [L], keys [K], candidates [L, C, M]) -> mean cost [L, C]:
    candidate c of scenario l (params by_scenario[l]) on the K training keys (the one rollout, a
    daily orders policy: kind 1 = order-up-to with a constant safety stock, 3 = the sigma rule,
    4 = echelon base stock, as POLICY_MODES)."""
    _, order = method_policy(None, timing)

    def act(mp, state, params, key):
        del key
        return order(mp, mp.safety, state, params)

    def collect(tr):
        return notebook_day_terms(tr.info)

    @jax.jit
    def costs(kind, by_scenario, keys, candidates):
        M = candidates.shape[-1]

        def one(params, x):
            mp = MethodParams(kind, jnp.zeros(()), x, jnp.zeros((M,), jnp.int32), jnp.zeros((M,), jnp.int32), x, x)
            reward, kept, _ = rollout(env, act, mp, params, keys, collect=collect if objective != "env_cost" else None)
            if objective == "env_cost":
                return -reward.mean()
            lost, held = kept  # [T, K]
            return (lost[first_day:] + held[first_day:] / params.cost_ratio).sum(0).mean()

        return jax.vmap(lambda p, cands: jax.vmap(lambda x: one(p, x))(cands))(by_scenario, candidates)

    return costs


def tune_constant(env, kind: str, by_scenario: EnvParams, keys, grid, *, steps, low=None, high=None,
                  groups=None, objective: str = "env_cost", timing: str = "after_arrivals",
                  first_day: int = NOTEBOOK_FIRST_DAY, max_moves: int = 20, integer: bool = False) -> dict:
    """CRN search of a constant parameter vector [M] of the daily policy `kind` ("safety": the
    order-up-to controller's safety stock, "sigma_rule": z, "base_stock": echelon levels) on
    training `keys` [K] (never evaluation keys), for each scenario of `by_scenario` (one product's
    params with a leading axis [L]) and for each group of `groups` ({label: scenario indices}: the
    mean cost over the group's scenarios, e.g. one safety stock per cost ratio across sigma levels).

    Search: the whole `grid` [G, M] at every scenario, then for each step in `steps` moves of
    +-step per parameter (clipped to [low, high]; rounded when `integer`) to the best neighbour
    while it improves (at most `max_moves` moves per step). Every call evaluates L (scenario,
    2M candidates) pairs: one compiled shape. Returns {"per_scenario": [L][M], "per_scenario_cost":
    [L], "per_group": {label: [M]}, "per_group_cost": {label: cost}, "candidates_evaluated"}."""
    check_choice("kind", kind, ("safety", "sigma_rule", "base_stock"))
    check_choice("objective", objective, OBJECTIVES)
    grid = np.asarray(grid, np.float64)
    L = int(jax.tree.leaves(by_scenario)[0].shape[0])
    M = grid.shape[1]
    chunk = 2 * M
    costs_fn = _scenario_costs_fn(env, timing, objective, int(first_day))
    mode = jnp.asarray(POLICY_MODES.index(kind), jnp.int32)
    lo = -np.inf if low is None else np.asarray(low, np.float64)
    hi = np.inf if high is None else np.asarray(high, np.float64)
    counter = {"evaluated": 0}

    def evaluate(cands, scen):
        """cands [n, C, M] at scenarios scen [n] -> mean training cost [n, C], L pairs per call."""
        n, C = cands.shape[0], cands.shape[1]
        pad = (-C) % chunk
        if pad:
            cands = np.concatenate([cands, np.repeat(cands[:, -1:], pad, axis=1)], axis=1)
        out = np.zeros((n, cands.shape[1]))
        for a in range(0, n, L):
            rows = np.arange(a, min(a + L, n))
            slot = np.concatenate([rows, np.full(L - len(rows), rows[-1])])
            params = jax.tree.map(lambda x: x[np.asarray(scen)[slot]], by_scenario)
            for b in range(0, cands.shape[1], chunk):
                part = jnp.asarray(cands[slot, b:b + chunk], jnp.float32)
                out[rows, b:b + chunk] = np.asarray(costs_fn(mode, params, keys, part))[:len(rows)]
        counter["evaluated"] += n * C
        return out[:, :C]

    moves = np.concatenate([np.eye(M), -np.eye(M)])

    def neighbours(center, step):  # [R, M] -> [R, 2M, M]
        cand = np.clip(center[:, None] + step * moves[None], lo, hi)
        return np.round(cand) if integer else cand

    def search(members):
        """members: list of R index arrays (the scenarios each target averages over)."""
        R = len(members)
        scen = np.concatenate(members)
        rows = np.concatenate([np.full(len(m), r) for r, m in enumerate(members)])
        mean_rows = lambda c: np.stack([c[rows == r].mean(axis=0) for r in range(R)])  # [n, C] -> [R, C]
        costs = mean_rows(grid_costs[scen])
        best = np.argmin(costs, axis=1)
        center, value = grid[best], costs[np.arange(R), best]
        for step in steps:
            for _ in range(max_moves):
                cand = neighbours(center, step)
                c = mean_rows(evaluate(cand[rows], scen))
                j = np.argmin(c, axis=1)
                better = c[np.arange(R), j] < value - 1e-9
                if not better.any():
                    break
                center = np.where(better[:, None], cand[np.arange(R), j], center)
                value = np.where(better, c[np.arange(R), j], value)
        return center, value

    if len(grid) == 1 and not len(steps):  # nothing to choose: no simulation (costs unknown)
        out = {"per_scenario": np.repeat(grid, L, axis=0).tolist(), "per_scenario_cost": [float("nan")] * L}
        if groups:
            out["per_group"] = {g: grid[0].tolist() for g in groups}
            out["per_group_cost"] = {g: float("nan") for g in groups}
        out["candidates_evaluated"] = 0
        return out
    grid_costs = evaluate(np.broadcast_to(grid, (L,) + grid.shape), np.arange(L))  # [L, G]
    center, value = search([np.array([i]) for i in range(L)])
    out = {"per_scenario": center.tolist(), "per_scenario_cost": value.tolist()}
    if groups:
        labels = list(groups)
        members = [np.asarray(groups[g], np.int64).ravel() for g in labels]
        for g, idx in zip(labels, members):
            if idx.size == 0 or idx.min() < 0 or idx.max() >= L:
                raise ConfigError(f"'groups[{g!r}]' must list scenario indices in [0, {L}), got {idx.tolist()}")
        g_center, g_value = search(members)
        out["per_group"] = {g: g_center[r].tolist() for r, g in enumerate(labels)}
        out["per_group_cost"] = {g: float(g_value[r]) for r, g in enumerate(labels)}
    out["candidates_evaluated"] = int(counter["evaluated"])
    return out


def coordinate_search(cost: Callable, start, steps, *, low=None, high=None, integer: bool = False,
                      max_moves: int = 20) -> tuple[np.ndarray, float, int]:
    """(best [M], its cost, candidates evaluated): from `start` [M], for each step in `steps` the
    best of the 2M moves +-step per parameter (clipped to [low, high], rounded when `integer`)
    while it improves, at most `max_moves` moves per step: `tune_constant`'s moves, one candidate
    at a time (`cost(x [M]) -> float`, e.g. a coupled catalog's training episodes, which do not
    batch over candidates). Deterministic: ties keep the earlier candidate."""
    center = np.asarray(start, np.float64)
    M = center.size
    moves = np.concatenate([np.eye(M), -np.eye(M)])
    lo = -np.inf if low is None else np.asarray(low, np.float64)
    hi = np.inf if high is None else np.asarray(high, np.float64)
    value, evaluated = float(cost(center)), 1
    for step in steps:
        for _ in range(max_moves):
            candidates = np.clip(center[None] + step * moves, lo, hi)
            if integer:
                candidates = np.round(candidates)
            candidates = [c for c in candidates if not np.array_equal(c, center)]
            if not candidates:
                break
            costs = [float(cost(c)) for c in candidates]
            evaluated += len(costs)
            j = int(np.argmin(costs))
            if costs[j] >= value - 1e-9:
                break
            center, value = candidates[j], costs[j]
    return center, value, evaluated


def product_grid(values) -> np.ndarray:
    """Every combination [G, M] of per-stage values (a list of M 1-D lists)."""
    return np.array(list(itertools.product(*[np.asarray(v, np.float64) for v in values])))


__all__ = ["DailyRun", "MethodParams", "OBJECTIVES", "POLICY_MODES", "SAFETY_MODES", "coordinate_search", "hybrid_keys",
           "make_daily_runner", "method_params", "method_policy", "multi_sku_keys", "product_grid", "single_keys",
           "training_keys", "tune_constant"]
