"""The two brains behind one interface (experiments/train.py, evaluate.py, hybrid.py,
reproduce_orgym.py, reproduce_hybrid.py): build a brain's training env from config, evaluate a
trained brain on held-out paths against its baselines and the perfect-information bound, load one
from a checkpoint (trained by PPO or by HDPO: the checkpoint's "algorithm", sc_jax.agents.hdpo).
(sc_jax.evaluate evaluates any daily policy; this module adds what a brain needs around it: its
env, its baselines, its bound, its checkpoint.)

Brains ("orders" | "safety"), each trained by PPO (sc_jax.agents.ppo) or HDPO (sc_jax.agents.hdpo):
- orders: a network ordering every period; the training env is the InventoryEnv itself. Held out:
  `sc_jax.evaluate.evaluate` on `num_paths` paths drawn from `seed`, and the bound of
  `sc_jax.oracle` on the first `oracle_paths` of the same paths (a MILP per path, so usually a
  subset), with the policy's gap on exactly those paths.
- safety: a network choosing a safety stock every `action_frequency` days
  (sc_jax.env.wrappers.SafetyStockEnv over the hybrid chain; for training optionally wrapped in
  ScaleRewardByCostRatio, never for evaluation: costs are always raw). Held out: episode costs
  per sigma level (`sc_jax.evaluate.scenario_costs`, the same keys for every policy and level:
  common random numbers) beside static safety stocks tuned on *training* paths
  (`sc_jax.tuning.tune_static_safety`, another seed) and the bound (`safety_bound`) on the first
  `bound_paths` paths of each level: exactly the paths the brain is evaluated on.

Shapes: L sigma levels, S paths, M stages.
"""
from __future__ import annotations

import math
import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.agents import hdpo
from sc_jax.agents.checkpoint import load_config, load_policy_params
from sc_jax.agents.ppo import PPOConfig, make_policy
from sc_jax.env.params import batch_shape
from sc_jax.env.rollout import sample_paths
from sc_jax.env.wrappers import (SafetyStockEnv, ScaleRewardByCostRatio, fixed_safety_stock,
                                 params_by_sigma, sigma_levels_for)
from sc_jax.checks import check_number, reject_unknown_keys
from sc_jax.errors import ConfigError
from sc_jax.evaluate import demand_paths, evaluate, scenario_costs
from sc_jax.stats import mean_ci

BRAINS = ("orders", "safety")
#: training algorithms a checkpoint may name ("algorithm" in config.json; absent: ppo)
ALGORITHMS = ("ppo", "hdpo")
#: `safety` config keys: SafetyStockEnv's settings + the training reward scale
SAFETY_KEYS = ("action_frequency", "safety_low", "safety_high", "ratio_low", "ratio_high", "sigma_low",
               "sigma_high", "controller", "z_step", "reward_ratio_power")
#: cost ratios a ratio-conditioned safety brain is evaluated at
CONDITIONED_RATIOS = (10.0, 100.0, 1000.0)


def _check_brain(brain) -> str:
    if brain not in BRAINS:
        raise ConfigError(f"'agent.brain' must be one of {list(BRAINS)}, got {brain!r}")
    return brain


# ----------------------------------------------------------------------------------- envs

def build_env(brain: str, env, params=None, safety_cfg: dict | None = None):
    """The training env of `brain` over `env` (an InventoryEnv) and one product's `params`:
    orders: `env` itself; safety: SafetyStockEnv(env, **safety_cfg), wrapped in
    ScaleRewardByCostRatio(power) when safety_cfg["reward_ratio_power"] != 0 (training only:
    `evaluation_env` removes it)."""
    _check_brain(brain)
    params = env.default_params if params is None else params
    if params is not None and batch_shape(params) != ():
        raise ConfigError(f"a {brain} brain trains on one product: params must have no leading product axis, "
                          f"got batch shape {batch_shape(params)}")
    if brain == "orders":
        return env
    cfg = dict(safety_cfg or {})
    reject_unknown_keys(cfg, SAFETY_KEYS, "agent.safety")
    power = cfg.pop("reward_ratio_power", 0.0)
    power = 0.0 if power is None else power
    check_number("agent.safety.reward_ratio_power", power, "a finite number", math.isfinite)
    safety = SafetyStockEnv(env, **cfg)
    return ScaleRewardByCostRatio(safety, float(power)) if power else safety


def require_order_up_to(env, where: str):
    """ConfigError unless the safety brain's env uses the order-up-to controller: the hybrid
    deployment loops (experiments/hybrid.py, reproduce_hybrid) turn its action into a safety stock
    in units; a sigma-rule brain's action is a safety factor index and would be misread."""
    controller = getattr(evaluation_env(env), "controller", "order_up_to")
    if controller != "order_up_to":
        raise ConfigError(f"{where}: the hybrid deployment loop runs the order-up-to controller, so "
                          f"'agent.safety.controller' must be 'order_up_to', got {controller!r} (a sigma-rule brain is "
                          "trained and evaluated by experiments/train.py and evaluate.py)")
    return env


def evaluation_env(env):
    """`env` without training-only reward scaling (ScaleRewardByCostRatio layers removed)."""
    while isinstance(env, ScaleRewardByCostRatio):
        env = env.env
    return env


def _safety_env(env) -> SafetyStockEnv:
    env = evaluation_env(env)
    if not isinstance(env, SafetyStockEnv):
        raise ConfigError(f"a safety brain is evaluated in its SafetyStockEnv (build_env('safety', ...) or "
                          f"load_brain), got {type(env).__name__}")
    return env


# ---------------------------------------------------------------------------- orders brain

def _half_width(values) -> float:
    return float(mean_ci(values)[1])  # NaN for one value


def evaluate_orders(env, act, policy_params, params=None, *, num_paths: int = 1000, seed: int = 20240601,
                    oracle_paths: int = 0) -> dict:
    """Mean episode reward (95% CI) and fill rate on `num_paths` held-out paths from `seed`;
    `oracle_paths` > 0: the perfect-information bound on the first of the same paths."""
    params = env.default_params if params is None else params
    key = jax.random.PRNGKey(seed)
    result = evaluate(env, act, policy_params, params, key, num_samples=num_paths)
    rewards = np.asarray(result.reward)[0]
    out = {"num_paths": num_paths, "seed": seed, "mean_reward": float(rewards.mean()),
           "ci95": _half_width(rewards), "fill_rate": float(np.mean(np.asarray(result.fill_rate)))}
    if oracle_paths > 0:
        from sc_jax.oracle import oracle_rewards

        k = min(int(oracle_paths), num_paths)
        t0 = time.perf_counter()
        paths = demand_paths(env, params, key, num_paths)[0][:k]
        bound = oracle_rewards(env, params, paths)
        out["oracle"] = {"num_paths": k, "bound_mean": float(bound.mean()),
                         "policy_mean_same_paths": float(rewards[:k].mean()),
                         "gap": float(bound.mean() - rewards[:k].mean()),
                         "gap_pct": float(100 * (bound.mean() - rewards[:k].mean()) / abs(bound.mean())),
                         "solve_s": time.perf_counter() - t0}
    return out


# ---------------------------------------------------------------------------- safety brain

@partial(jax.jit, static_argnames=("env",))
def _level_paths(env, by_level, keys):
    """DemandPath [L, S, ...] per sigma level: the paths and each episode's initial stock."""
    return jax.vmap(lambda p: sample_paths(env, p, keys))(by_level)


def safety_bound(env, params, ratio, sigma_levels, keys, *, integer: bool = True) -> np.ndarray:
    """Perfect-information cost [L, S] per sigma level on exactly the demand paths that
    `scenario_costs(env, ..., keys)` (sc_jax.env.rollout) plays from episode `keys` [S]: the
    oracle (sc_jax.oracle) knows the whole path; minus its reward is holding + missed sales on
    the hybrid chain (p = 0, r = 0, alpha = 1). Each episode starts from the stock the env drew
    for it (`DemandPath.initial_on_hand`: the hybrid sample's 5..9 per stage), as the policies do."""
    from sc_jax.oracle import oracle_rewards

    env = _safety_env(env)
    by_level = params_by_sigma(params, ratio, sigma_levels)
    paths = jax.device_get(_level_paths(env, by_level, keys))  # DemandPath [L, S, ...]
    return np.stack([-oracle_rewards(env.unwrapped, jax.tree.map(lambda x, i=i: x[i], by_level),
                                     jax.tree.map(lambda x, i=i: x[i], paths), integer=integer)
                     for i in range(len(sigma_levels))])


def evaluate_safety(env, act, policy_params, params, ratio, *, sigma_levels, num_paths: int, seed: int,
                    static: dict | None = None, bound_paths: int = 0, bound: np.ndarray | None = None) -> dict:
    """Held-out costs per sigma level at cost `ratio` of the brain (`act` in the safety-stock
    `env`, reward scaling removed), of the static baselines `static` (tune_static_safety's
    result) and the bound on the first `bound_paths` paths of each level (`bound` [L, k]: reuse
    one from `safety_bound` on the same keys, e.g. for several brains)."""
    env = _safety_env(env)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_paths)  # every policy and sigma level
    by_level = params_by_sigma(params, ratio, sigma_levels)
    brain = scenario_costs(env, act, policy_params, by_level, keys)  # [L, S]
    out = {"ratio": float(ratio), "sigma_levels": list(sigma_levels), "num_paths": num_paths,
           "brain_mean": brain.mean(axis=1).tolist(),
           "brain_ci95": [_half_width(row) for row in brain],
           "brain_overall": float(brain.mean())}
    if bound is not None or bound_paths > 0:
        t0 = time.perf_counter()
        if bound is None:
            bound = safety_bound(env, params, ratio, sigma_levels, keys[:min(int(bound_paths), num_paths)])
        bound = np.asarray(bound)
        k = bound.shape[1]
        same = brain[:, :k]
        out["bound"] = {"num_paths": k, "bound_mean": bound.mean(axis=1).tolist(),
                        "bound_overall": float(bound.mean()), "brain_overall_same_paths": float(same.mean()),
                        "gap_pct": float(100 * (same.mean() - bound.mean()) / bound.mean()),
                        "solve_s": time.perf_counter() - t0}
    if static is not None:
        fixed = scenario_costs(env, fixed_safety_stock, jnp.asarray(static["best"], jnp.int32), by_level, keys)
        per_sigma = np.stack([
            scenario_costs(env, fixed_safety_stock, jnp.asarray(stock, jnp.int32),
                           jax.tree.map(lambda x, i=i: x[i:i + 1], by_level), keys)[0]
            for i, stock in enumerate(static["best_per_sigma"])])
        diff = brain - fixed  # paired (same paths)
        out.update({
            "static": static,
            "static_mean": fixed.mean(axis=1).tolist(),
            "static_overall": float(fixed.mean()),
            "static_per_sigma_mean": per_sigma.mean(axis=1).tolist(),
            "static_per_sigma_overall": float(per_sigma.mean()),
            "brain_minus_static": diff.mean(axis=1).tolist(),
            "brain_minus_static_ci95": [_half_width(row) for row in diff],
            "brain_beats_static_all_sigma": bool(np.all(diff.mean(axis=1) < 0)),
        })
    return out


# ------------------------------------------------------------------------------- one entry

def evaluate_brain(brain: str, act, policy_params, env, params, eval_cfg: dict, *, ratios=None,
                   static_baseline: bool = False, grid_paths: int = 32) -> dict:
    """Held-out evaluation of a trained brain (experiments/train.py and evaluate.py).

    env: the brain's env (`build_env`'s training env or `load_brain`'s; reward scaling is
      removed here); params: one product's base params.
    eval_cfg: {"num_paths", "seed", "oracle_paths" (orders), "bound_paths", "sigma_levels" (safety)}.
    Safety: `ratios` (default: the env's cost ratio, or 10, 100, 1000 for a ratio-conditioned
    brain) -> {"ratio_<r>": evaluate_safety(...)}; `static_baseline`: tune static safety stocks on
    `grid_paths` training paths per sigma level first."""
    _check_brain(brain)
    params = env.default_params if params is None else params
    if brain == "orders":
        if isinstance(evaluation_env(env), SafetyStockEnv):
            raise ConfigError("an orders brain is evaluated in the InventoryEnv, got a SafetyStockEnv")
        return evaluate_orders(env, act, policy_params, params, num_paths=int(eval_cfg["num_paths"]),
                               seed=int(eval_cfg["seed"]), oracle_paths=int(eval_cfg.get("oracle_paths", 0) or 0))
    env = _safety_env(env)
    if ratios is None:
        ratios = list(CONDITIONED_RATIOS) if env.randomises_ratio else [float(params.cost_ratio)]
    sigma_levels = sigma_levels_for(env, eval_cfg["sigma_levels"])  # [1] unless forecast demand
    out = {}
    for ratio in ratios:
        static = None
        if static_baseline:
            from sc_jax.tuning import tune_static_safety

            static = tune_static_safety(env, params, ratio, sigma_levels, num_paths=grid_paths)
        out[f"ratio_{ratio:g}"] = evaluate_safety(
            env, act, policy_params, params, ratio, sigma_levels=sigma_levels,
            num_paths=int(eval_cfg["num_paths"]), seed=int(eval_cfg["seed"]), static=static,
            bound_paths=int(eval_cfg.get("bound_paths", 0) or 0))
    return out


def agent_from_saved(saved: dict, where) -> tuple:
    """(agent config, make_policy) of a saved config: PPOConfig and PPO's policy, or HDPOConfig
    and HDPO's (deterministic) policy when saved["algorithm"] is "hdpo"."""
    algorithm = saved.get("algorithm", "ppo")
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"checkpoint config {where}: 'algorithm' must be one of {list(ALGORITHMS)}, "
                          f"got {algorithm!r}")
    if algorithm == "hdpo":
        return hdpo.HDPOConfig.from_dict(saved["agent"]), hdpo.make_policy
    return PPOConfig.from_dict(saved["agent"]), make_policy


def load_brain(checkpoint):
    """(brain, act, policy_params, env, params, saved config) from a checkpoint directory.

    env: the brain's evaluation env rebuilt from the saved config (orders: the InventoryEnv;
    safety: its SafetyStockEnv, without training reward scaling); act: the deterministic policy
    act(policy_params, state, params, key) in that env (PPO's, or HDPO's when the config's
    "algorithm" is "hdpo"; both return integer actions in the env's action space). A
    ConfigError when the saved network does not fit the rebuilt env (observation size, episode
    length, actions)."""
    from sc_jax.config import env_from_cfg

    saved = load_config(checkpoint)
    for name in ("brain", "agent", "env"):
        if name not in saved:
            raise ConfigError(f"checkpoint config {checkpoint} has no {name!r} entry (written by "
                              "experiments/train.py: brain, algorithm, agent, env, demand, safety)")
    brain = _check_brain(saved["brain"])
    agent, policy_fn = agent_from_saved(saved, checkpoint)
    base, params = env_from_cfg(saved["env"], saved.get("demand"))
    env = evaluation_env(build_env(brain, base, params, saved.get("safety") if brain == "safety" else None))
    policy_params = load_policy_params(checkpoint, agent, env)
    return brain, policy_fn(agent, env, deterministic=True), policy_params, env, params, saved


__all__ = ["BRAINS", "ALGORITHMS", "SAFETY_KEYS", "build_env", "evaluation_env", "evaluate_orders",
           "safety_bound", "evaluate_safety", "evaluate_brain", "agent_from_saved", "load_brain"]
