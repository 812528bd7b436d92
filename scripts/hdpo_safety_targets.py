"""HDPO's safety-stock numbers (docs/hdpo.md, "Safety-stock brain"): at cost ratios 10 / 100 / 1000,
the safety-stock brain trained by HDPO against the PPO brain and the best static safety stock, every
policy on the SAME held-out paths, with 95% CIs, paired differences and training time each.

    python scripts/hdpo_safety_targets.py                      # everything (38 min on the 2-core VM at load 8-11)
    python scripts/hdpo_safety_targets.py --ratios 100 --no-conditioned --no-bound
    python scripts/hdpo_safety_targets.py --ratios 100 --num-paths 8 --grid-paths 2 --no-bound \
        --hdpo num_updates=2 batch_size=4 --ppo num_envs=8 total_timesteps=320 num_minibatches=2 --out /tmp/smoke.json

Brains (settings from conf/agent/*.yaml as experiments/train.py composes them; seed 0, last iterate,
no seed selection):
  hdpo            agent=hdpo_safety at each ratio                 (HDPO, 2,000 updates x 64 paths)
  ppo             agent=ppo_safety at each ratio                  (PPO, 384 envs x 6M decisions)
  hdpo_conditioned, ppo_conditioned: agent=*_safety_conditioned   (one brain, ratio log-uniform in
                  [10, 1000] per episode, evaluated at each ratio)
  static          the best constant safety stock per ratio for the sigma mixture
                  (sc_jax.tuning.tune_static_safety on 32 training paths per sigma level, seed 0)
Held out: 500 paths per sigma level 1..10 from PRNGKey(20240601) (the keys
sc_jax.agents.brains.evaluate_safety draws: train.py's evaluation with eval.num_paths=500), the same keys at every
sigma level and for every policy (common random numbers), exact integer env, each brain in its own
SafetyStockEnv (reward scaling removed), cost = holding + missed sales over 200 days. Statistics:
the unit is a path key (its 10 sigma levels averaged), so a CI is the t-interval over 500 keys and a
paired difference is taken key by key. Bound (context, optional): the perfect-information MILP on
the first 20 paths of each sigma level.

Training time: jit lower + compile, then the run (`block_until_ready`), both reported; the 1-minute
load average at the start of each run is recorded (the VM is shared). Writes docs/hdpo_safety_results.json
(or --out) after every brain, so a partial run leaves its numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sc_jax  # noqa: E402
from sc_jax.agents import hdpo  # noqa: E402
from sc_jax.agents.brains import build_env, evaluation_env, safety_bound  # noqa: E402
from sc_jax.agents.ppo import PPOConfig, make_policy as ppo_policy, make_train as ppo_train  # noqa: E402
from sc_jax.env.wrappers import fixed_safety_stock, params_by_sigma  # noqa: E402
from sc_jax.evaluate import scenario_costs  # noqa: E402
from sc_jax.runlog import write_json  # noqa: E402
from sc_jax.stats import mean_ci, paired_difference  # noqa: E402
from sc_jax.tuning import tune_static_safety  # noqa: E402

EVAL_SEED, NUM_PATHS, BOUND_PATHS, GRID_PATHS = 20240601, 500, 20, 32
SIGMAS = list(range(1, 11))
RATIOS = (10.0, 100.0, 1000.0)
AGENTS = {("hdpo", False): "hdpo_safety", ("hdpo", True): "hdpo_safety_conditioned",
          ("ppo", False): "ppo_safety", ("ppo", True): "ppo_safety_conditioned"}


def agent_config(name: str) -> dict:
    """conf/agent/<name>.yaml as experiments/train.py composes it (the settings live there only)."""
    from hydra import compose, initialize_config_dir

    from sc_jax.config import register_configs, to_dict

    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base=None):
        return to_dict(compose(config_name="train", overrides=[f"agent={name}"]).agent)


def timed_train(algorithm: str, config, env, params, seed: int):
    """(policy_params, final training return, compile s, train s) of one seed."""
    make_train = hdpo.make_train if algorithm == "hdpo" else ppo_train
    train = make_train(config, env, params)
    key = jax.random.PRNGKey(seed)
    t0 = time.perf_counter()
    compiled = jax.jit(train).lower(key).compile()
    t1 = time.perf_counter()
    policy_params, metrics = jax.block_until_ready(compiled(key))
    t2 = time.perf_counter()
    return policy_params, float(np.asarray(metrics["episode_return"])[-1]), t1 - t0, t2 - t1


def summary(costs) -> dict:
    """costs [L, S] -> overall mean and 95% CI over the S path keys, and the per-sigma means."""
    per_key = np.asarray(costs, np.float64).mean(axis=0)
    mean, ci = mean_ci(per_key)
    return {"mean": float(mean), "ci95": float(ci), "per_sigma": np.asarray(costs).mean(axis=1).tolist()}


def paired(a, b) -> dict:
    """a - b [L, S] key by key (sigma levels averaged): mean, 95% CI, the share of keys where a
    costs less, and the mean difference per sigma level."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = paired_difference(a.mean(axis=0), b.mean(axis=0))
    return {"mean": d["mean"], "ci95": d["ci95"], "a_cheaper_fraction": float(np.mean(a.mean(axis=0) < b.mean(axis=0))),
            "per_sigma": (a - b).mean(axis=1).tolist()}


def machine() -> dict:
    return {"platform": platform.platform(), "backend": jax.default_backend(), "nproc": os.cpu_count(),
            "jax": jax.__version__, "loadavg_at_start": list(os.getloadavg())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ratios", nargs="+", type=float, default=list(RATIOS))
    parser.add_argument("--algorithms", nargs="+", default=["hdpo", "ppo"], choices=["hdpo", "ppo"])
    parser.add_argument("--no-per-ratio", action="store_true", help="skip the per-ratio brains")
    parser.add_argument("--no-conditioned", action="store_true", help="skip the ratio-conditioned brains")
    parser.add_argument("--no-bound", action="store_true", help="skip the perfect-information bound")
    parser.add_argument("--num-paths", type=int, default=NUM_PATHS, help="held-out paths per sigma level")
    parser.add_argument("--seed", type=int, default=0, help="training seed of every brain")
    parser.add_argument("--grid-paths", type=int, default=GRID_PATHS, help="training paths per sigma level (static)")
    parser.add_argument("--hdpo", nargs="*", default=[], help="HDPOConfig overrides key=value (JSON values)")
    parser.add_argument("--ppo", nargs="*", default=[], help="PPOConfig overrides key=value (JSON values)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "hdpo_safety_results.json"))
    args = parser.parse_args(argv)
    ratios = [float(r) for r in args.ratios]
    overrides = {name: {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in getattr(args, name))}
                 for name in ("hdpo", "ppo")}
    kinds = ([] if args.no_per_ratio else [False]) + ([] if args.no_conditioned else [True])
    out = {"machine": machine(), "eval_seed": EVAL_SEED, "num_paths_per_sigma": args.num_paths, "sigma_levels": SIGMAS,
           "bound_paths_per_sigma": 0 if args.no_bound else BOUND_PATHS, "static_grid_paths": args.grid_paths,
           "overrides": overrides,
           "seed": args.seed, "statistics": "unit = path key (the sigma levels averaged); CI = 95% t-interval over "
                                            "the keys; paired differences key by key",
           "configs": {}, "brains": {}, "static": {}, "bound": {}, "table": {}}
    t_start = time.perf_counter()

    def save():
        out["total_s"] = time.perf_counter() - t_start
        out["machine"]["loadavg_now"] = list(os.getloadavg())
        write_json(Path(args.out), out)

    base_env, _ = sc_jax.make("hybrid")
    keys = jax.random.split(jax.random.PRNGKey(EVAL_SEED), args.num_paths)  # evaluate_safety's keys
    eval_params = {r: sc_jax.make("hybrid", cost_ratio=r)[1] for r in ratios}
    by_level = {r: params_by_sigma(eval_params[r], r, SIGMAS) for r in ratios}
    costs = {}  # (policy name, ratio) -> [L, S]

    # the best static stock per ratio (tuned on training paths), evaluated on the held-out paths
    static_env = evaluation_env(build_env("safety", base_env, None, agent_config("ppo_safety")["safety"]))
    for r in ratios:
        t0 = time.perf_counter()
        tuned = tune_static_safety(static_env, eval_params[r], r, SIGMAS, num_paths=args.grid_paths)
        costs[("static", r)] = scenario_costs(static_env, fixed_safety_stock, jnp.asarray(tuned["best"], jnp.int32),
                                             by_level[r], keys)
        out["static"][f"ratio_{r:g}"] = {"best": np.asarray(tuned["best"]).tolist(), "tune_s": time.perf_counter() - t0,
                                         **summary(costs[("static", r)])}
        print(f"static ratio {r:g}: {tuned['best']} -> {out['static'][f'ratio_{r:g}']['mean']:.3f}", flush=True)
        if not args.no_bound:
            t0 = time.perf_counter()
            bound = safety_bound(static_env, eval_params[r], r, SIGMAS, keys[:BOUND_PATHS])
            out["bound"][f"ratio_{r:g}"] = {"mean": float(bound.mean()), "per_sigma": bound.mean(axis=1).tolist(),
                                            "solve_s": time.perf_counter() - t0}
            costs[("bound", r)] = bound
    save()

    for conditioned in kinds:
        for algorithm in args.algorithms:
            agent_name = AGENTS[(algorithm, conditioned)]
            agent = agent_config(agent_name)
            config = (hdpo.HDPOConfig.from_dict({**agent["hdpo"], **overrides["hdpo"]}) if algorithm == "hdpo"
                      else PPOConfig.from_dict({**agent["ppo"], **overrides["ppo"]}))
            out["configs"][agent_name] = {"agent": config.to_dict(), "safety": agent["safety"]}
            for train_ratio in ([100.0] if conditioned else ratios):  # conditioned: base params, ratio drawn
                name = f"{algorithm}_conditioned" if conditioned else f"{algorithm}/ratio_{train_ratio:g}"
                env, params = sc_jax.make("hybrid", cost_ratio=train_ratio)
                train_env = build_env("safety", env, params, agent["safety"])
                load = os.getloadavg()[0]
                print(f"[{name}] training ({agent_name}, load {load:.1f}) ...", flush=True)
                pp, final, compile_s, train_s = timed_train(algorithm, config, train_env, params, args.seed)
                act = (hdpo.make_policy if algorithm == "hdpo" else ppo_policy)(config, train_env, deterministic=True)
                eval_env = evaluation_env(train_env)
                row = {"agent": agent_name, "load_1min_at_start": load, "final_train_return": final,
                       "compile_s": compile_s, "train_s": train_s, "train_incl_compile_s": compile_s + train_s,
                       "eval": {}}
                t0 = time.perf_counter()
                for r in (ratios if conditioned else [train_ratio]):
                    c = scenario_costs(eval_env, act, pp, by_level[r], keys)  # [L, S]
                    costs[(name.split("/")[0], r)] = c
                    row["eval"][f"ratio_{r:g}"] = summary(c)
                row["eval_s"] = time.perf_counter() - t0
                out["brains"][name] = row
                print(f"[{name}] compile {compile_s:.1f}s + train {train_s:.1f}s; "
                      + ", ".join(f"{k} {v['mean']:.3f} ± {v['ci95']:.3f}" for k, v in row["eval"].items()), flush=True)
                save()

    # the table: every policy at every ratio on the same paths, paired differences
    for r in ratios:
        cell = {}
        for policy in ("hdpo", "ppo", "hdpo_conditioned", "ppo_conditioned", "static"):
            if (policy, r) in costs:
                cell[policy] = summary(costs[(policy, r)])
        pairs = [("hdpo", "ppo"), ("hdpo_conditioned", "ppo_conditioned"), ("hdpo", "static"), ("ppo", "static"),
                 ("hdpo_conditioned", "static"), ("ppo_conditioned", "static"), ("hdpo_conditioned", "hdpo")]
        for a, b in pairs:
            if (a, r) in costs and (b, r) in costs:
                cell[f"{a}_minus_{b}"] = paired(costs[(a, r)], costs[(b, r)])
        if ("bound", r) in costs:
            k = costs[("bound", r)].shape[1]
            cell["bound"] = {"mean": float(costs[("bound", r)].mean()), "paths_per_sigma": k,
                             **{f"{p}_same_paths": float(costs[(p, r)][:, :k].mean())
                                for p in ("hdpo", "ppo", "hdpo_conditioned", "ppo_conditioned", "static")
                                if (p, r) in costs}}
        out["table"][f"ratio_{r:g}"] = cell
    save()
    print_table(out)
    return out


def print_table(out: dict) -> None:
    def fmt(x):
        return "-" if x is None else f"{x['mean']:.3f} ± {x['ci95']:.3f}"

    def seconds(name):
        row = out["brains"].get(name)
        return "-" if row is None else f"{row['train_incl_compile_s']:.0f} ({row['compile_s']:.0f})"

    print("| ratio | HDPO | PPO | HDPO − PPO | HDPO cond. | PPO cond. | HDPO c. − PPO c. | best static | HDPO − static |"
          " HDPO s (compile) | PPO s (compile) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for key, cell in out["table"].items():
        g = cell.get
        print(f"| {key[6:]} | {fmt(g('hdpo'))} | {fmt(g('ppo'))} | {fmt(g('hdpo_minus_ppo'))} | "
              f"{fmt(g('hdpo_conditioned'))} | {fmt(g('ppo_conditioned'))} | "
              f"{fmt(g('hdpo_conditioned_minus_ppo_conditioned'))} | {fmt(g('static'))} | "
              f"{fmt(g('hdpo_minus_static'))} | {seconds('hdpo/' + key)} | {seconds('ppo/' + key)} |")


if __name__ == "__main__":
    main()
