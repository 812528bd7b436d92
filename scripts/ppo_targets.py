"""Full-budget PPO runs behind the targets of docs/ppo.md (not part of the default test suite).

    python scripts/ppo_targets.py orders   # OR-Gym v0/v1, rich and OR-Gym observations
    python scripts/ppo_targets.py safety   # hybrid brains: ratios 10, 100, 1000 + ratio-conditioned

Each training run is timed including compilation (jit of the whole training function). Scores:
deterministic policy on held-out paths (a seed training never uses); OR-Gym rows also get the
perfect-information bound (sc_jax.oracle, MILP per path) on a subset of the same paths.
Settings: conf/agent/ppo_orders.yaml, ppo_safety.yaml, ppo_safety_conditioned.yaml (composed as
experiments/train.py does; a JSON argument overrides PPO keys). Results go to
docs/ppo_results_<part>.json and are printed as a table.
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
from hydra import compose, initialize_config_dir

import sc_jax
from sc_jax.agents.brains import build_env, evaluate_orders, evaluate_safety, evaluation_env, safety_bound
from sc_jax.agents.ppo import PPOConfig, make_policy, make_train
from sc_jax.config import register_configs, to_dict
from sc_jax.tuning import tune_static_safety

ROOT = Path(__file__).resolve().parents[1]
EVAL_SEED = 20240601
BOUND_PATHS = 20  # perfect-information MILP on the first 20 held-out paths of each sigma level
SIGMAS = list(range(1, 11))
ORDERS_RUNS = [("orgym_v0", "rich"), ("orgym_v1", "rich"), ("orgym_v0", "orgym"), ("orgym_v1", "orgym")]


def agent_config(name: str) -> dict:
    """The agent group conf/agent/<name>.yaml as composed by experiments/train.py: the PPO and
    safety settings live there (and in PPOConfig's defaults) only."""
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return to_dict(compose(config_name="train", overrides=[f"agent={name}"]).agent)


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpu_count": os.cpu_count(), "loadavg_at_start": load, "platform": platform.platform(),
            "jax": jax.__version__, "backend": jax.default_backend()}


def timed_train(config: PPOConfig, env, params, seed: int = 0):
    t0 = time.perf_counter()
    train = jax.jit(make_train(config, env, params))
    policy_params, metrics = jax.block_until_ready(train(jax.random.PRNGKey(seed)))
    return policy_params, metrics, time.perf_counter() - t0


def orders(overrides: dict, oracle_paths: int = 200, num_paths: int = 1000) -> dict:
    rows = {}
    agent = agent_config("ppo_orders")
    for name, observation in ORDERS_RUNS:
        env, params = sc_jax.make(name, observation=observation)
        # the critic sees the period only where the observation lacks it (docs/ppo.md)
        config = PPOConfig.from_dict({**agent["ppo"], "critic_time": observation == "orgym", **overrides})
        load = os.getloadavg()[0]
        pp, metrics, seconds = timed_train(config, env, params)
        res = evaluate_orders(env, make_policy(config, env), pp, params, num_paths=num_paths,
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
    """Per-ratio brains (agent=ppo_safety at each ratio) and the ratio-conditioned brain
    (agent=ppo_safety_conditioned). only_conditioned: retrain just the conditioned brain (with
    conditioned_overrides), reusing the static baselines and per-ratio brains of
    docs/ppo_results_safety.json."""
    per_ratio, conditioned = agent_config("ppo_safety"), agent_config("ppo_safety_conditioned")
    brains = {f"ratio_{r:g}": dict(ratio=r) for r in (10.0, 100.0, 1000.0)}
    brains["conditioned"] = dict(ratio=None)
    out = {"brains": {}, "static": {}}
    if only_conditioned:
        out = json.loads((ROOT / "docs/ppo_results_safety.json").read_text())["results"]
        brains = {"conditioned": dict(ratio=None)}
    base_env, _ = sc_jax.make("hybrid")
    safety_env = evaluation_env(build_env("safety", base_env, None, per_ratio["safety"]))
    for r in (10.0, 100.0, 1000.0) if not only_conditioned else ():
        out["static"][f"ratio_{r:g}"] = tune_static_safety(safety_env, sc_jax.make("hybrid", cost_ratio=r)[1],
                                                           r, SIGMAS, num_paths=grid_paths)
        print("static", r, out["static"][f"ratio_{r:g}"]["best"], flush=True)
    bound_keys = jax.random.split(jax.random.PRNGKey(EVAL_SEED), num_paths)[:BOUND_PATHS]
    bounds = {r: safety_bound(safety_env, sc_jax.make("hybrid", cost_ratio=r)[1], r, SIGMAS, bound_keys)
              for r in (10.0, 100.0, 1000.0)}
    for name, spec in brains.items():
        agent = conditioned if spec["ratio"] is None else per_ratio
        config = PPOConfig.from_dict({**agent["ppo"], **overrides,
                                      **((conditioned_overrides or {}) if spec["ratio"] is None else {})})
        env, params = sc_jax.make("hybrid", cost_ratio=100.0 if spec["ratio"] is None else spec["ratio"])
        train_env = build_env("safety", env, params, agent["safety"])
        ratios = [10.0, 100.0, 1000.0] if spec["ratio"] is None else [spec["ratio"]]
        load = os.getloadavg()[0]
        pp, metrics, seconds = timed_train(config, train_env, params)
        act = make_policy(config, train_env)
        row = {"train_incl_compile_s": seconds, "load_1min": load, "config": config.to_dict(), "eval": {}}
        for r in ratios:
            res = evaluate_safety(train_env, act, pp, params, r, sigma_levels=SIGMAS, num_paths=num_paths,
                                  seed=EVAL_SEED, static=out["static"][f"ratio_{r:g}"], bound=bounds[r])
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
    from sc_jax.runlog import write_json

    write_json(ROOT / f"docs/ppo_results_{part}.json", {"machine": info, "overrides": overrides, "results": result})
