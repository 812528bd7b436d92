"""Tune the classical baselines by simulation (common random numbers on fixed training paths).

* `grid_search`: many candidate parameter vectors x a few hundred training paths in one jitted,
  vmapped call per chunk of candidates ([C, S] rewards), e.g. a coarse grid over echelon
  base-stock levels.
* `local_search`: integer neighbourhood refinement: from the incumbent, evaluate all
  3**M - 1 moves of +-step per stage in one call, move to the best improving neighbour, halve
  the step when none improves, stop after step 1.
* `tune_base_stock`: coarse grid + local search (our search); `dfo_base_stock`: OR-Gym's
  derivative-free optimisation, scipy.optimize.minimize(method="Powell") on the mean simulated
  reward over the training paths (a jitted vmapped objective), then the same integer
  neighbourhood search.
* `tune_static_safety`: the best fixed safety stock of the safety-stock env
  (sc_jax.env.wrappers.SafetyStockEnv) per cost ratio: a lattice, then integer neighbourhood
  moves until none is better, for the sigma mixture and per sigma level.
* `tune_sigma_rule` (forecast demand, per sigma_max level, on training keys) and
  `tune_sigma_rule_on_paths` (stationary demand, e.g. Poisson with sigma = sqrt(mean), on given
  training paths): the safety factors z [M] of the forecast-sigma rule (sc_jax.policies.sigma_rule):
  a grid per stage, then +-step moves per stage while the training mean improves.
Every candidate runs through `sc_jax.env.rollout`. Always report tuned policies on held-out
paths (different keys): the training mean is biased upwards by the selection.
"""
from __future__ import annotations

import itertools
import time
from functools import partial
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.env.params import batch_shape
from sc_jax.env.rollout import rollout
from sc_jax.env.types import EnvParams
from sc_jax.env.wrappers import fixed_safety_stock, params_by_sigma
from sc_jax.errors import ConfigError
from sc_jax.policies.base_stock import base_stock
from sc_jax.policies.s_S import SSParams, s_S


@partial(jax.jit, static_argnames=("env", "act"))
def _rewards_chunk(env, act, candidates, env_params, paths, keys):
    """candidates [C, ...] x paths [S, T] -> discounted episode rewards [C, S]."""
    demand = jax.vmap(env.stationary_path, in_axes=(0, None))(paths, env_params)
    return jax.vmap(lambda c: rollout(env, act, c, env_params, keys, demand=demand)[0])(candidates)


def candidate_rewards(env, act: Callable, candidates, env_params: EnvParams, paths, *, chunk: int = 512,
                      key=None) -> np.ndarray:
    """Rewards [C, S] of C candidate parameter pytrees (leading axis C) on paths [S, T] of one
    product. Candidates are evaluated `chunk` at a time (the last chunk is padded, so one
    compilation serves every call of the same sizes)."""
    if batch_shape(env_params) != ():
        raise ConfigError("tuning works on one product's EnvParams (no leading product axis)")
    paths = jnp.asarray(paths, jnp.int32)
    if paths.ndim != 2 or paths.shape[1] != env.periods:
        raise ConfigError(f"'paths' must be [S, {env.periods}], got {paths.shape}")
    key = jax.random.PRNGKey(0) if key is None else key
    keys = jax.random.split(key, paths.shape[0])
    leaves = jax.tree.leaves(candidates)
    C = int(np.shape(leaves[0])[0])
    chunk = max(1, min(chunk, C))
    out = []
    for start in range(0, C, chunk):
        part = jax.tree.map(lambda x: jnp.asarray(x[start:start + chunk]), candidates)
        n = int(jax.tree.leaves(part)[0].shape[0])
        if n < chunk:  # pad with the last candidate to keep one compiled shape
            part = jax.tree.map(lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], chunk - n, axis=0)]), part)
        out.append(np.asarray(_rewards_chunk(env, act, part, env_params, paths, keys))[:n])
    return np.concatenate(out, axis=0)


def echelon_grid(local_values) -> np.ndarray:
    """All echelon level vectors [C, M] whose per-stage local levels come from `local_values`
    (a list of M 1-D arrays): echelon z = cumsum(local)."""
    local = np.array(list(itertools.product(*[np.asarray(v, np.float64) for v in local_values])))
    return np.cumsum(local, axis=1)


def grid_search(env, act: Callable, candidates: np.ndarray, env_params: EnvParams, paths, *, chunk: int = 512):
    """Best of array candidates [C, M] by mean reward on paths: (best [M], best mean, means [C])."""
    means = candidate_rewards(env, act, jnp.asarray(candidates, jnp.float32), env_params, paths, chunk=chunk).mean(axis=1)
    best = int(np.argmax(means))
    return np.asarray(candidates[best], np.float64), float(means[best]), means


def local_search(env, act: Callable, start, env_params: EnvParams, paths, *, steps=(16, 8, 4, 2, 1),
                 max_iters: int = 200, start_value: float | None = None, moves: str = "all"):
    """Integer neighbourhood search over a parameter vector [D] (e.g. echelon base-stock levels).

    For each step size: evaluate the neighbours x + step * d in one vmapped call, with
    d in {-1,0,1}^D \\ {0} (moves="all": 3**D - 1 neighbours) or d = +-e_i (moves="axis": 2 D),
    and move to the best one while it improves the mean training reward.
    Returns (best [D], best mean reward, number of candidate evaluations)."""
    x = np.round(np.asarray(start, np.float64))
    D = x.size
    if moves == "all":
        moves = np.array([d for d in itertools.product((-1, 0, 1), repeat=D) if any(d)], np.float64)
    elif moves == "axis":
        moves = np.concatenate([np.eye(D), -np.eye(D)])
    else:
        raise ConfigError(f"moves must be 'all' or 'axis', got {moves!r}")
    value = (float(candidate_rewards(env, act, jnp.asarray(x[None], jnp.float32), env_params, paths).mean())
             if start_value is None else start_value)
    evaluations = 1
    for step in steps:
        for _ in range(max_iters):
            neighbours = x[None] + step * moves
            means = candidate_rewards(env, act, jnp.asarray(neighbours, jnp.float32), env_params, paths,
                                      chunk=len(moves)).mean(axis=1)
            evaluations += len(moves)
            best = int(np.argmax(means))
            if means[best] <= value + 1e-9:
                break
            x, value = neighbours[best], float(means[best])
    return x, value, evaluations


def tune_base_stock(env, env_params: EnvParams, paths, *, local_values=None, steps=(8, 4, 2, 1),
                    chunk: int = 512) -> dict:
    """Our base-stock search: coarse echelon grid, then integer neighbourhood search, on the
    training `paths` [S, T]. Default grid: local levels 0..200 in steps of 10 per stage."""
    M = env_params.num_stages
    if local_values is None:
        local_values = [np.arange(0, 201, 10)] * M
    grid = echelon_grid(local_values)
    grid_best, grid_value, _ = grid_search(env, base_stock, grid, env_params, paths, chunk=chunk)
    levels, value, evals = local_search(env, base_stock, grid_best, env_params, paths, steps=steps,
                                        start_value=grid_value)
    return {"levels": levels, "train_reward": value, "grid_levels": grid_best,
            "grid_train_reward": grid_value, "grid_size": len(grid), "local_evaluations": evals}


def dfo_base_stock(env, env_params: EnvParams, paths, *, x0=None, maxfev: int = 2000,
                   steps=(4, 2, 1)) -> dict:
    """OR-Gym's DFO baseline: Powell on the mean simulated reward of echelon levels over the
    training paths, then an integer neighbourhood search from the rounded Powell point.
    Default x0: echelon levels of mean demand x (lead time + 1) per stage."""
    from scipy.optimize import minimize

    M = env_params.num_stages
    if x0 is None:
        mean = float(np.asarray(env_params.demand_mean))
        x0 = np.cumsum(mean * (np.asarray(env_params.lead_time, np.float64) + 1))
    x0 = np.asarray(x0, np.float64)
    if x0.shape != (M,):
        raise ConfigError(f"x0 must have shape [{M}], got {x0.shape}")
    paths = jnp.asarray(paths, jnp.int32)
    keys = jax.random.split(jax.random.PRNGKey(0), paths.shape[0])

    def objective(x):  # one candidate: the same jitted chunk function with C = 1
        return -float(np.asarray(_rewards_chunk(env, base_stock, jnp.asarray(x[None], jnp.float32),
                                                env_params, paths, keys)).mean())

    res = minimize(objective, x0, method="Powell", options={"maxfev": maxfev, "xtol": 0.5, "ftol": 1e-6})
    powell_levels = np.asarray(res.x, np.float64)
    powell_value = -float(res.fun)
    levels, value, evals = local_search(env, base_stock, np.ceil(powell_levels), env_params, paths, steps=steps)
    if value < powell_value:  # ceil() is what the policy does, so this cannot happen; keep safe
        levels, value = np.ceil(powell_levels), powell_value
    return {"levels": levels, "train_reward": value, "powell_levels": powell_levels,
            "powell_train_reward": powell_value, "powell_evaluations": int(res.nfev),
            "local_evaluations": evals}


def s_S_flat(x, state, params, key=None):
    """(s, S) policy on a flat vector x = [s (M), S (M)]; s is clipped to <= S so that every
    point a search visits is a valid (s, S) pair."""
    M = params.num_stages
    S = x[M:]
    return s_S(SSParams(jnp.minimum(x[:M], S), S), state, params, key)


def tune_s_S(env, env_params: EnvParams, paths, base_levels, *, gaps=(0, 5, 10, 20, 40),
             steps=(4, 2, 1)) -> dict:
    """(s, S) search around tuned base-stock levels: S = base levels, s = S - 1 - gap_m over a
    grid of per-stage gaps (gap 0 everywhere is the base-stock policy itself, so the result is
    never worse on the training paths), then an axis-move integer search over all 2M numbers."""
    M = env_params.num_stages
    S = np.round(np.asarray(base_levels, np.float64))
    gap_grid = np.array(list(itertools.product(*[np.asarray(gaps, np.float64)] * M)))
    candidates = np.concatenate([S[None] - 1 - gap_grid, np.broadcast_to(S, gap_grid.shape)], axis=1)
    start, start_value, _ = grid_search(env, s_S_flat, candidates, env_params, paths, chunk=len(candidates))
    x, value, evals = local_search(env, s_S_flat, start, env_params, paths, steps=steps,
                                   start_value=start_value, moves="axis")
    s_final = np.minimum(x[:M], x[M:])
    return {"reorder_point": s_final, "order_up_to": x[M:], "train_reward": value,
            "grid_train_reward": start_value, "local_evaluations": evals}


# --- static safety stock of the safety-stock env --------------------------------------------------

def static_grid(num_stages: int, low: int, high: int, step: int = 1) -> np.ndarray:
    """Integer safety stocks in [low, high]^M on a lattice of `step` (high always included): [G, M]."""
    levels = sorted(set(range(low, high + 1, step)) | {high})
    return np.array(list(itertools.product(levels, repeat=num_stages)), np.int32)


def neighbourhood(center, low: int, high: int, radius: int = 2) -> np.ndarray:
    """Integer safety stocks within `radius` of `center` [M] per stage, clipped to the range: [G, M]."""
    offsets = np.array(list(itertools.product(range(-radius, radius + 1), repeat=len(center))))
    return np.unique(np.clip(np.asarray(center)[None] + offsets, low, high), axis=0).astype(np.int32)


@partial(jax.jit, static_argnames=("env", "chunk"))
def static_safety_costs(env, params_by_level: EnvParams, keys, grid, chunk: int = 64):
    """Mean episode cost [G, L] of each fixed safety stock grid[g] [M] of the safety-stock `env`
    at each scenario level (params with a leading axis [L]) on the same keys [S]."""

    def candidate(safety):
        return jax.vmap(lambda p: -rollout(env, fixed_safety_stock, safety, p, keys)[0].mean())(params_by_level)

    return jax.lax.map(candidate, jnp.asarray(grid), batch_size=chunk)


def tune_static_safety(env, params: EnvParams, ratio, sigma_levels, *, num_paths: int = 32, seed: int = 0,
                       coarse_step: int | None = None, radius: int = 2, max_moves: int = 10) -> dict:
    """Best fixed safety stock [M] of the safety-stock `env` (sc_jax.env.wrappers.SafetyStockEnv,
    its safety range) at cost `ratio`, on training paths (keys from `seed`, never the held-out
    seed): for the sigma mixture ("best") and for each sigma level ("best_per_sigma", a stronger
    baseline that knows sigma). Search: the full integer grid when the range has <= 11 values per
    stage, else a lattice of `coarse_step` followed by moves to the best integer neighbour
    (+-radius per stage) until none is better (at most `max_moves`), so the result does not
    depend on the lattice."""
    low, high = int(env.safety_low), int(env.safety_high)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_paths)
    by_level = params_by_sigma(params, ratio, sigma_levels)
    M = env.num_stages
    if coarse_step is None:
        coarse_step = 1 if high - low <= 10 else max((high - low) // 8, 1)
    t0 = time.perf_counter()
    grid = static_grid(M, low, high, coarse_step)
    costs = np.asarray(static_safety_costs(env, by_level, keys, jnp.asarray(grid)))  # [G, L]
    evaluated = len(grid)

    def refine(center, level_index=None):
        nonlocal evaluated
        center = np.asarray(center)
        if coarse_step == 1:
            return center
        sel = by_level if level_index is None else jax.tree.map(lambda x: x[level_index:level_index + 1], by_level)
        full = (2 * radius + 1) ** M
        for _ in range(max_moves):
            cand = neighbourhood(center, low, high, radius)
            evaluated += len(cand)
            # pad to one shape (clipping at the range's edges shrinks the box): one compilation
            padded = np.concatenate([cand, np.repeat(cand[:1], full - len(cand), axis=0)])
            c = np.asarray(static_safety_costs(env, sel, keys, jnp.asarray(padded)))[: len(cand)]
            best = cand[np.argmin(c.mean(axis=1))]
            if np.array_equal(best, center):
                break
            center = best
        return center

    best = refine(grid[np.argmin(costs.mean(axis=1))])
    per_sigma = [refine(grid[np.argmin(costs[:, i])], i) for i in range(len(sigma_levels))]
    return {"best": np.asarray(best).tolist(), "best_per_sigma": [np.asarray(b).tolist() for b in per_sigma],
            "coarse_step": int(coarse_step), "candidates_evaluated": int(evaluated),
            "train_paths_per_sigma": num_paths, "train_seed": seed, "search_s": time.perf_counter() - t0}


# --- the forecast-sigma rule (sc_jax.policies.sigma_rule) ----------------------------------------

SIGMA_RULE_OBJECTIVES = ("env_cost", "notebook_cost")


@partial(jax.jit, static_argnames=("env", "act", "objective", "first_day", "chunk"))
def sigma_rule_costs(env, act, params_by_level: EnvParams, keys, candidates, objective: str = "env_cost",
                     first_day: int = 20, chunk: int = 64):
    """Mean cost [C, L] of each candidate z [C, M] at each scenario level (params with a leading
    axis [L]) on the same training keys [S] (common random numbers). objective "env_cost": the
    env's own cost (-reward); "notebook_cost": the sample's notebook metric
    (sc_jax.sample_metrics: k' = [0.15, 0.10, 0.05], h' = k' / cost_ratio, days >= first_day)."""
    from sc_jax.sample_metrics import notebook_day_terms

    def collect(tr):
        if objective == "env_cost":
            return None
        return notebook_day_terms(tr.info)

    def one(z, p):
        reward, kept, _ = rollout(env, act, z, p, keys, collect=collect if objective != "env_cost" else None)
        if objective == "env_cost":
            return -reward.mean()
        lost, held = kept  # [T, S]
        return (lost[first_day:] + held[first_day:] / p.cost_ratio).sum(0).mean()

    def candidate(z):
        return jax.vmap(lambda p: one(z, p))(params_by_level)

    return jax.lax.map(candidate, jnp.asarray(candidates, jnp.float32), batch_size=chunk)


def tune_sigma_rule(env, params: EnvParams, sigma_levels, *, num_paths: int = 32, seed: int = 0,
                    form: str = "installation", cap_supplier: bool = True, timing: str = "after_arrivals",
                    objective: str = "env_cost",
                    z_values=(-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0), steps=(0.25, 0.125),
                    max_moves: int = 20, first_day: int = 20) -> dict:
    """z [M] of sc_jax.policies.sigma_rule tuned on training keys (PRNGKey(seed) split `num_paths`,
    never the evaluation keys) at the params' own cost ratio, for each forecast sigma_max level and
    for their mixture: the full grid of `z_values` per stage, then moves of +-step per stage (for
    each step in `steps`) to the best neighbour while it improves. `objective`: "env_cost" or
    "notebook_cost" (SIGMA_RULE_OBJECTIVES). Returns {"best", "best_per_sigma", "train_cost",
    "train_cost_per_sigma", ...}."""
    from sc_jax.checks import check_choice
    from sc_jax.env.wrappers import SIGMA_INDEX, check_sigma_levels
    from sc_jax.policies.sigma_rule import sigma_rule_policy

    check_choice("objective", objective, SIGMA_RULE_OBJECTIVES)
    levels = check_sigma_levels(sigma_levels)
    if batch_shape(params) != ():
        raise ConfigError("tune_sigma_rule works on one product's EnvParams (no leading product axis)")
    if env.demand_kind != "forecast":
        raise ConfigError(f"tune_sigma_rule needs forecast demand (sigma_max levels), got {env.demand_kind!r}")
    act = sigma_rule_policy(form, cap_supplier, timing)
    M = params.num_stages
    keys = jax.random.split(jax.random.PRNGKey(seed), num_paths)
    by_level = jax.vmap(lambda s: params.replace(forecast=params.forecast.at[SIGMA_INDEX].set(s)))(
        jnp.asarray(levels, jnp.float32))
    t0 = time.perf_counter()
    grid = np.array(list(itertools.product(np.asarray(z_values, np.float64), repeat=M)))
    costs = np.asarray(sigma_rule_costs(env, act, by_level, keys, grid, objective, first_day))  # [G, L]
    evaluated = len(grid)
    moves = np.concatenate([np.eye(M), -np.eye(M)])

    def refine(center, value, level_index=None):
        nonlocal evaluated
        sel = by_level if level_index is None else jax.tree.map(lambda x: x[level_index:level_index + 1], by_level)
        for step in steps:
            for _ in range(max_moves):
                cand = center[None] + step * moves
                c = np.asarray(sigma_rule_costs(env, act, sel, keys, cand, objective, first_day)).mean(axis=1)
                evaluated += len(cand)
                if c.min() >= value - 1e-9:
                    break
                center, value = cand[int(np.argmin(c))], float(c.min())
        return center, value

    mixture = costs.mean(axis=1)
    best, best_cost = refine(grid[np.argmin(mixture)], float(mixture.min()))
    per_sigma = [refine(grid[np.argmin(costs[:, i])], float(costs[:, i].min()), i) for i in range(len(levels))]
    return {"best": best.tolist(), "train_cost": best_cost, "best_per_sigma": [z.tolist() for z, _ in per_sigma],
            "train_cost_per_sigma": [c for _, c in per_sigma], "sigma_levels": levels, "objective": objective,
            "form": form, "cap_supplier": bool(cap_supplier), "timing": timing, "train_paths": num_paths, "train_seed": seed,
            "candidates_evaluated": int(evaluated), "search_s": time.perf_counter() - t0}


def _z_list(name: str, values, positive: bool = False, empty: bool = False) -> np.ndarray:
    try:
        arr = np.asarray(values, np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 0))
    if arr.ndim != 1 or (arr.size == 0 and not empty) or not np.all(np.isfinite(arr)) or (positive and np.any(arr <= 0)):
        what = "numbers > 0" if positive else "finite numbers (negative allowed)"
        raise ConfigError(f"'{name}' must be a {'' if empty else 'non-empty '}list of {what}, got {values!r}")
    return arr


def tune_sigma_rule_on_paths(env, params: EnvParams, paths, *, form: str = "installation", cap_supplier: bool = True,
                             timing: str = "before_arrivals",
                             z_values=(-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0), steps=(0.25, 0.125),
                             max_moves: int = 20, chunk: int | None = None) -> dict:
    """z [M] of sc_jax.policies.sigma_rule maximising the mean (discounted) reward on the training
    paths [S, T] of one product with stationary demand (its forecast: the family's mean and sigma
    per day, e.g. Poisson sigma = sqrt(mean)): every candidate on the same paths (common random
    numbers; pass training paths, never the held-out ones). Search: the full grid of `z_values`
    per stage (`grid_search`), then for each step in `steps` moves of +-step per stage to the best
    neighbour while the training mean improves (at most `max_moves` per step). `chunk`: candidates
    per jitted call (default 2M, the moves' count: one compiled shape for the grid and the moves).
    Returns {"z",
    "train_reward", "grid_z", "grid_train_reward", "grid_size", "candidates_evaluated", ...}."""
    from sc_jax.checks import check_bool, check_choice, check_integer
    from sc_jax.policies.sigma_rule import FORMS, TIMINGS, sigma_rule_policy

    check_choice("form", form, FORMS)
    check_bool("cap_supplier", cap_supplier)
    check_choice("timing", timing, TIMINGS)
    values = _z_list("z_values", z_values)
    step_list = _z_list("steps", steps, positive=True, empty=True)
    if env.demand_kind == "forecast":
        raise ConfigError("tune_sigma_rule_on_paths replays stationary paths (their forecast is the family's mean "
                          "and sigma); forecast demand: use tune_sigma_rule")
    act = sigma_rule_policy(form, bool(cap_supplier), timing)
    M = params.num_stages
    moves = np.concatenate([np.eye(M), -np.eye(M)])
    chunk = len(moves) if chunk is None else check_integer("chunk", chunk, 1)
    t0 = time.perf_counter()
    grid = np.array(list(itertools.product(values, repeat=M)))
    grid_z, grid_value, _ = grid_search(env, act, grid, params, paths, chunk=chunk)
    z, value, evaluated = grid_z, grid_value, len(grid)
    for step in step_list:
        for _ in range(max_moves):
            cand = z[None] + step * moves
            means = candidate_rewards(env, act, jnp.asarray(cand, jnp.float32), params, paths,
                                      chunk=chunk).mean(axis=1)
            evaluated += len(cand)
            best = int(np.argmax(means))
            if means[best] <= value + 1e-9:
                break
            z, value = cand[best], float(means[best])
    return {"z": z.tolist(), "train_reward": float(value), "grid_z": grid_z.tolist(),
            "grid_train_reward": float(grid_value), "grid_size": len(grid), "candidates_evaluated": int(evaluated),
            "form": form, "cap_supplier": bool(cap_supplier), "timing": timing,
            "train_paths": int(np.shape(paths)[0]), "search_s": time.perf_counter() - t0}


__all__ = ["candidate_rewards", "s_S_flat", "tune_s_S", "echelon_grid", "grid_search", "local_search",
           "tune_base_stock", "dfo_base_stock", "static_grid", "neighbourhood", "static_safety_costs",
           "tune_static_safety", "SIGMA_RULE_OBJECTIVES", "sigma_rule_costs", "tune_sigma_rule",
           "tune_sigma_rule_on_paths"]
