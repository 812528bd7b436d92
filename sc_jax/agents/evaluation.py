"""Held-out evaluation of trained brains (used by experiments/train.py and experiments/evaluate.py).

Orders brain: sc_jax.evaluate.evaluate (CRN, jitted, vmapped) on `num_paths` held-out paths drawn
from `seed`, and the perfect-information bound of sc_jax.oracle on the first `oracle_paths` of the
same paths (a MILP per path, so usually a subset), with the policy's gap on exactly those paths.

Safety brain: the brain decides every `action_frequency` days, which needs the decision held
between days, so it is evaluated with the macro-step rollout of sc_jax.agents.safety_env
(`episode_costs`) rather than the daily-policy evaluator. Same keys for every policy and every
sigma level (common random numbers); static baselines are grid-searched on *training* paths (a
different seed) and reported on the held-out ones. `safety_bound` solves the perfect-information
MILP (sc_jax.oracle) on the first paths of the same keys: the cost no policy can beat on them.
"""
from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.agents.safety_env import (best_static, episode_costs, neighbourhood, static_decide,
                                      static_grid, with_scenario)
from sc_jax.env import EnvParams, reset
from sc_jax.evaluate import demand_paths, evaluate, mean_ci


def _mean_ci(x):
    """(mean, 95% half-width) as floats; one value: half-width 0."""
    mean, half = mean_ci(x)
    return float(mean), float(half) if len(x) > 1 else 0.0


def evaluate_orders(act, policy_params, env_params: EnvParams, *, num_paths: int = 1000,
                    seed: int = 20240601, oracle_paths: int = 0) -> dict:
    key = jax.random.PRNGKey(seed)
    result = evaluate(act, policy_params, env_params, key, num_samples=num_paths)
    rewards = np.asarray(result.reward)[0]
    mean, ci = _mean_ci(rewards)
    out = {"num_paths": num_paths, "seed": seed, "mean_reward": mean, "ci95": ci,
           "fill_rate": float(np.mean(np.asarray(result.fill_rate)))}
    if oracle_paths > 0:
        from sc_jax.oracle import oracle_rewards

        k = min(int(oracle_paths), num_paths)
        t0 = time.perf_counter()
        paths = demand_paths(key, env_params, num_paths)[0][:k]
        bound = oracle_rewards(env_params, paths)
        out["oracle"] = {"num_paths": k, "bound_mean": float(bound.mean()),
                         "policy_mean_same_paths": float(rewards[:k].mean()),
                         "gap": float(bound.mean() - rewards[:k].mean()),
                         "gap_pct": float(100 * (bound.mean() - rewards[:k].mean()) / abs(bound.mean())),
                         "solve_s": time.perf_counter() - t0}
    return out


def params_by_sigma(base: EnvParams, ratio, sigma_levels) -> EnvParams:
    """`base` at cost `ratio` with a leading sigma_max axis [L] (one scenario per sigma level)."""
    return jax.vmap(lambda s: with_scenario(base, ratio, s))(jnp.asarray(sigma_levels, jnp.float32))


def safety_cost_table(decide, policy_params, base: EnvParams, ratio, sigma_levels, keys,
                      action_frequency: int) -> np.ndarray:
    """Episode costs [L sigma levels, S paths] at one cost ratio."""
    params = params_by_sigma(base, ratio, sigma_levels)
    run = jax.jit(jax.vmap(lambda p: episode_costs(decide, policy_params, p, keys, action_frequency)))
    return np.asarray(run(params))


def static_per_level_costs(safety_by_level, base: EnvParams, ratio, sigma_levels, keys,
                           action_frequency: int) -> np.ndarray:
    """Costs [L, S] of static safety stock safety_by_level[l] [M] at sigma level l."""
    params = params_by_sigma(base, ratio, sigma_levels)
    run = jax.jit(jax.vmap(lambda s, p: episode_costs(static_decide, s, p, keys, action_frequency)))
    return np.asarray(run(safety_by_level, params))


def tune_static(base: EnvParams, ratio, sigma_levels, *, safety_low: int, safety_high: int,
                action_frequency: int, num_paths: int = 32, seed: int = 0, coarse_step: int | None = None,
                radius: int = 2, max_moves: int = 10) -> dict:
    """Best static safety stock [M] on training paths (keys from `seed`, not the held-out seed):
    for the sigma mixture ("best") and for each sigma level ("best_per_sigma", a stronger baseline
    that knows sigma). Search: the full integer grid when the range has <= 11 values per stage,
    else a lattice of `coarse_step` followed by a local search over integer neighbourhoods
    (+-radius per stage) from the lattice optimum."""
    keys = jax.random.split(jax.random.PRNGKey(seed), num_paths)
    params = params_by_sigma(base, ratio, sigma_levels)
    M = base.num_stages
    if coarse_step is None:
        coarse_step = 1 if safety_high - safety_low <= 10 else max((safety_high - safety_low) // 8, 1)
    search = jax.jit(lambda p, g: best_static(p, keys, g, action_frequency)[1])
    t0 = time.perf_counter()
    grid = static_grid(M, safety_low, safety_high, coarse_step)
    costs = np.asarray(search(params, jnp.asarray(grid)))  # [G, L]
    evaluated = len(grid)

    def refine(center, level_index=None):
        """Local search: move to the best integer neighbour (+-radius per stage) until none is
        better (at most `max_moves` moves), so the result does not depend on the lattice."""
        nonlocal evaluated
        center = np.asarray(center)
        if coarse_step == 1:
            return center
        sel = params if level_index is None else jax.tree.map(lambda x: x[level_index:level_index + 1], params)
        full = (2 * radius + 1) ** M
        for _ in range(max_moves):
            cand = neighbourhood(center, safety_low, safety_high, radius)
            evaluated += len(cand)
            # pad to one shape (clipping at the range's edges shrinks the box): one compilation
            padded = np.concatenate([cand, np.repeat(cand[:1], full - len(cand), axis=0)])
            c = np.asarray(search(sel, jnp.asarray(padded)))[: len(cand)]
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


def safety_bound(base: EnvParams, ratio, sigma_levels, keys, *, integer: bool = True) -> np.ndarray:
    """Perfect-information cost [L, S] per sigma level on the demand paths `episode_costs` draws
    from `keys` (same split, same reset): the oracle knows the whole path; minus its reward is
    holding + missed sales on the hybrid preset (p = 0, r = 0, alpha = 1)."""
    from sc_jax.oracle import oracle_rewards

    params = params_by_sigma(base, ratio, sigma_levels)
    draw = jax.jit(jax.vmap(lambda p: jax.vmap(lambda k: reset(jax.random.split(k)[0], p)[1].demand.actual)(keys)))
    paths = np.asarray(draw(params))  # [L, S, T]
    return np.stack([-oracle_rewards(jax.tree.map(lambda x, i=i: x[i], params), paths[i], integer=integer)
                     for i in range(len(sigma_levels))])


def evaluate_safety(act, policy_params, base: EnvParams, ratio, *, sigma_levels, num_paths: int,
                    seed: int, action_frequency: int, static: dict | None = None,
                    bound_paths: int = 0, bound: np.ndarray | None = None) -> dict:
    """Held-out costs per sigma level of the brain (and of the tuned static baselines, and the
    perfect-information bound on the first `bound_paths` paths of each level; `bound` [L, k]:
    reuse one computed by `safety_bound` on the same keys, e.g. for several brains)."""
    keys = jax.random.split(jax.random.PRNGKey(seed), num_paths)
    brain = safety_cost_table(act, policy_params, base, ratio, sigma_levels, keys, action_frequency)
    out = {"ratio": float(ratio), "sigma_levels": list(sigma_levels), "num_paths": num_paths,
           "brain_mean": brain.mean(axis=1).tolist(),
           "brain_ci95": [_mean_ci(row)[1] for row in brain],
           "brain_overall": float(brain.mean())}
    if bound is not None or bound_paths > 0:
        t0 = time.perf_counter()
        if bound is None:
            bound = safety_bound(base, ratio, sigma_levels, keys[:min(int(bound_paths), num_paths)])
        bound = np.asarray(bound)
        k = bound.shape[1]
        same = brain[:, :k]
        out["bound"] = {"num_paths": k, "bound_mean": bound.mean(axis=1).tolist(),
                        "bound_overall": float(bound.mean()), "brain_overall_same_paths": float(same.mean()),
                        "gap_pct": float(100 * (same.mean() - bound.mean()) / bound.mean()),
                        "solve_s": time.perf_counter() - t0}
    if static is not None:
        fixed = safety_cost_table(static_decide, jnp.asarray(static["best"]), base, ratio,
                                  sigma_levels, keys, action_frequency)
        per_sigma = static_per_level_costs(jnp.asarray(static["best_per_sigma"]), base, ratio, sigma_levels,
                                           keys, action_frequency)
        diff = brain - fixed  # paired (same paths)
        out.update({
            "static": static,
            "static_mean": fixed.mean(axis=1).tolist(),
            "static_overall": float(fixed.mean()),
            "static_per_sigma_mean": per_sigma.mean(axis=1).tolist(),
            "static_per_sigma_overall": float(per_sigma.mean()),
            "brain_minus_static": diff.mean(axis=1).tolist(),
            "brain_minus_static_ci95": [_mean_ci(row)[1] for row in diff],
            "brain_beats_static_all_sigma": bool(np.all(diff.mean(axis=1) < 0)),
        })
    return out
