"""Full-budget PPO runs behind the targets of docs/ppo.md (not part of the default test suite).

    python scripts/ppo_targets.py orders   # OR-Gym v0/v1, rich and OR-Gym observations
    python scripts/ppo_targets.py safety   # hybrid brains: ratios 10, 100, 1000 + ratio-conditioned

Each training run is timed including compilation (jit of the whole training function). Scores:
deterministic policy on held-out paths (a seed training never uses); OR-Gym rows also get the
perfect-information bound (sc_jax.oracle, MILP per path) on a subset of the same paths.
Results go to docs/ppo_results_<part>.json and are printed as a table.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sc_jax.agents import evaluation  # noqa: E402
from sc_jax.agents.orders import make_orders_env  # noqa: E402
from sc_jax.agents.ppo import PPOConfig, make_policy, make_train  # noqa: E402
from sc_jax.agents.safety_env import make_safety_env  # noqa: E402
from sc_jax.env.presets import get_preset  # noqa: E402

EVAL_SEED = 20240601
ORDERS = {  # env, observation -> PPO settings (docs/ppo.md explains the choices)
    ("orgym_v0", "rich"): dict(num_envs=64, total_timesteps=1_000_000, critic_time=False),
    ("orgym_v1", "rich"): dict(num_envs=64, total_timesteps=1_000_000, critic_time=False),
    ("orgym_v0", "orgym"): dict(num_envs=64, total_timesteps=1_000_000, critic_time=True),
    ("orgym_v1", "orgym"): dict(num_envs=64, total_timesteps=1_000_000, critic_time=True),
}
SAFETY = dict(num_envs=384, total_timesteps=6_000_000, context_features=1)
SAFETY_ENV = dict(action_frequency=10, safety_low=0, safety_high=60)
CONDITIONED_ENV = dict(ratio_low=10.0, ratio_high=1000.0, reward_ratio_power=0.5)  # ratio-conditioned brain
BOUND_PATHS = 20  # perfect-information MILP on the first 20 held-out paths of each sigma level
SIGMAS = list(range(1, 11))


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu_count": os.cpu_count(), "loadavg_at_start": load, "platform": platform.platform(),
            "jax": jax.__version__, "backend": jax.default_backend()}


def timed_train(config: PPOConfig, env, seed: int = 0):
    t0 = time.perf_counter()
    train = jax.jit(make_train(config, env))
    policy_params, metrics = jax.block_until_ready(train(jax.random.PRNGKey(seed)))
    return policy_params, metrics, time.perf_counter() - t0


def orders(overrides: dict, oracle_paths: int = 200, num_paths: int = 1000) -> dict:
    rows = {}
    for (name, observation), settings in ORDERS.items():
        params = get_preset(name, observation=observation)
        config = PPOConfig(**{**settings, **overrides})
        env = make_orders_env(params)
        load = os.getloadavg()[0]
        pp, metrics, seconds = timed_train(config, env)
        res = evaluation.evaluate_orders(make_policy(config, env), pp, params, num_paths=num_paths,
                                         seed=EVAL_SEED, oracle_paths=oracle_paths)
        rows[f"{name}/{observation}"] = {"train_incl_compile_s": seconds, "load_1min": load,
                                         "config": config.to_dict(), **res,
                                         "final_train_return": float(metrics["episode_return"][-1])}
        o = res.get("oracle", {})
        print(f"{name:9s} {observation:6s} score {res['mean_reward']:7.2f} +- {res['ci95']:.2f}  "
              f"bound {o.get('bound_mean', float('nan')):7.2f} gap {o.get('gap_pct', float('nan')):5.1f}%  "
              f"train {seconds:6.1f}s (load {load:.1f})", flush=True)
    return rows


def safety(overrides: dict, num_paths: int = 500, grid_paths: int = 32, only_conditioned: bool = False,
           conditioned_overrides: dict | None = None) -> dict:
    """Per-ratio brains and the ratio-conditioned brain. only_conditioned: retrain just the
    conditioned brain (with conditioned_overrides), reusing the static baselines and per-ratio
    brains of docs/ppo_results_safety.json."""
    base = get_preset("hybrid", cost_ratio=100.0)
    brains = {f"ratio_{r:g}": dict(ratio=r) for r in (10.0, 100.0, 1000.0)}
    brains["conditioned"] = dict(ratio=None)
    out = {"brains": {}, "static": {}}
    if only_conditioned:
        out = json.loads((ROOT / "docs/ppo_results_safety.json").read_text())["results"]
        brains = {"conditioned": dict(ratio=None)}
    for r in (10.0, 100.0, 1000.0) if not only_conditioned else ():
        out["static"][f"ratio_{r:g}"] = evaluation.tune_static(
            get_preset("hybrid", cost_ratio=r), r, SIGMAS, safety_low=SAFETY_ENV["safety_low"],
            safety_high=SAFETY_ENV["safety_high"], action_frequency=10, num_paths=grid_paths)
        print("static", r, out["static"][f"ratio_{r:g}"]["best"], flush=True)
    bounds = {r: evaluation.safety_bound(get_preset("hybrid", cost_ratio=r), r, SIGMAS,
                                         jax.random.split(jax.random.PRNGKey(EVAL_SEED), num_paths)[:BOUND_PATHS])
              for r in (10.0, 100.0, 1000.0)}
    for name, spec in brains.items():
        config = PPOConfig(**{**SAFETY, **overrides,
                              **((conditioned_overrides or {}) if spec["ratio"] is None else {})})
        if spec["ratio"] is None:
            env_base = base
            env = make_safety_env(base, **SAFETY_ENV, **CONDITIONED_ENV)
            ratios = [10.0, 100.0, 1000.0]
        else:
            env_base = get_preset("hybrid", cost_ratio=spec["ratio"])
            env = make_safety_env(env_base, **SAFETY_ENV)
            ratios = [spec["ratio"]]
        load = os.getloadavg()[0]
        pp, metrics, seconds = timed_train(config, env)
        act = make_policy(config, env)
        row = {"train_incl_compile_s": seconds, "load_1min": load, "config": config.to_dict(), "eval": {}}
        for r in ratios:
            res = evaluation.evaluate_safety(act, pp, env_base, r, sigma_levels=SIGMAS, num_paths=num_paths,
                                             seed=EVAL_SEED, action_frequency=10,
                                             static=out["static"][f"ratio_{r:g}"], bound=bounds[r])
            row["eval"][f"ratio_{r:g}"] = res
            print(f"{name:12s} ratio {r:6g}: brain {res['brain_overall']:8.3f} static {res['static_overall']:8.3f} "
                  f"static/sigma {res['static_per_sigma_overall']:8.3f} bound gap {res['bound']['gap_pct']:.1f}% "
                  f"beats all sigma "
                  f"{res['brain_beats_static_all_sigma']} diff {np.round(res['brain_minus_static'], 2).tolist()} "
                  f"train {seconds:.1f}s (load {load:.1f})", flush=True)
        out["brains"][name] = row
    for r in (10.0, 100.0, 1000.0):
        key = f"ratio_{r:g}"
        per = out["brains"][key]["eval"][key]["brain_overall"]
        cond = out["brains"]["conditioned"]["eval"][key]["brain_overall"]
        out.setdefault("conditioned_vs_per_ratio_pct", {})[key] = 100 * (cond - per) / per
    print("conditioned vs per-ratio (% cost):", out["conditioned_vs_per_ratio_pct"], flush=True)
    return out


if __name__ == "__main__":
    part = sys.argv[1]
    overrides = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
    info = machine()
    print(info, flush=True)
    if part == "orders":
        result = orders(overrides)
    elif part == "safety_conditioned":  # retrain only the conditioned brain; overrides apply to it
        result = safety({}, only_conditioned=True, conditioned_overrides=overrides)
        part = "safety"
    else:
        result = safety(overrides)
    (ROOT / "docs").mkdir(exist_ok=True)
    (ROOT / f"docs/ppo_results_{part}.json").write_text(json.dumps({"machine": info, "overrides": overrides,
                                                                     "results": result}, indent=1))
