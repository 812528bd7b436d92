"""HDPO's OR-Gym numbers (docs/hdpo.md): train HDPO and PPO per variant (v0, v1) and observation
(rich, OR-Gym's 33 numbers), evaluate both on the same 1,000 held-out paths with the exact env
(sc_jax.evaluate, key PRNGKey(20240601): the paths of sc_jax.agents.brains.evaluate_orders and
experiments/train.py's eval), paired difference HDPO - PPO, and the perfect-information bound
(sc_jax.oracle MILP) on the same paths.

    python scripts/hdpo_targets.py                       # everything (18 min on the 2-core VM at load 8)
    python scripts/hdpo_targets.py --variants v0 --observations rich --no-ppo --no-oracle
Writes docs/hdpo_results.json (or --out).
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
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sc_jax  # noqa: E402
from sc_jax.agents.hdpo import HDPOConfig, make_policy as hdpo_policy, make_train as hdpo_train  # noqa: E402
from sc_jax.agents.ppo import PPOConfig, make_policy as ppo_policy, make_train as ppo_train  # noqa: E402
from sc_jax.evaluate import demand_paths, evaluate  # noqa: E402
from sc_jax.stats import mean_ci, paired_difference  # noqa: E402

EVAL_SEED, NUM_PATHS = 20240601, 1000
PRESETS = {"v0": "orgym_v0", "v1": "orgym_v1"}


def timed_train(make_train, config, env, params, seed: int):
    """(policy_params, final training return, compile s, train s)."""
    train = make_train(config, env, params)
    key = jax.random.PRNGKey(seed)
    t0 = time.perf_counter()
    compiled = jax.jit(train).lower(key).compile()
    t1 = time.perf_counter()
    policy_params, metrics = jax.block_until_ready(compiled(key))
    t2 = time.perf_counter()
    return policy_params, float(np.asarray(metrics["episode_return"])[-1]), t1 - t0, t2 - t1


def held_out(env, act, policy_params, params) -> np.ndarray:
    result = evaluate(env, act, policy_params, params, jax.random.PRNGKey(EVAL_SEED), num_samples=NUM_PATHS)
    return np.asarray(result.reward[0], np.float64)


def summary(rewards) -> dict:
    mean, ci = mean_ci(rewards)
    return {"mean": float(mean), "ci95": float(ci)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="+", default=["v0", "v1"], choices=sorted(PRESETS))
    parser.add_argument("--observations", nargs="+", default=["rich", "orgym"], choices=["rich", "orgym"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ppo", action="store_true")
    parser.add_argument("--no-oracle", action="store_true")
    parser.add_argument("--hdpo", nargs="*", default=[], help="HDPOConfig overrides key=value (Python literals)")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "hdpo_results.json"))
    args = parser.parse_args(argv)
    overrides = {k: eval(v) for k, v in (kv.split("=", 1) for kv in args.hdpo)}  # noqa: S307 (CLI literals)
    hdpo_config = HDPOConfig(**overrides)
    out = {"machine": f"{platform.platform()} / {jax.devices()[0].platform} / nproc {os.cpu_count()}",
           "load_before": os.getloadavg(), "jax": jax.__version__, "eval_seed": EVAL_SEED, "num_paths": NUM_PATHS,
           "hdpo_config": hdpo_config.to_dict(), "seed": args.seed, "rows": {}}
    for variant in args.variants:
        bound = None
        for observation in args.observations:
            env, params = sc_jax.make(PRESETS[variant], observation=observation)
            if bound is None and not args.no_oracle:
                from sc_jax.oracle import oracle_rewards

                t0 = time.perf_counter()
                paths = demand_paths(env, params, jax.random.PRNGKey(EVAL_SEED), NUM_PATHS)[0]
                bound = np.asarray(oracle_rewards(env, params, paths), np.float64)
                out["rows"][f"{variant}/oracle"] = {**summary(bound), "solve_s": time.perf_counter() - t0}
            row = {"load": os.getloadavg()[0]}
            pp, final, compile_s, train_s = timed_train(hdpo_train, hdpo_config, env, params, args.seed)
            hdpo_rewards = held_out(env, hdpo_policy(hdpo_config, env), pp, params)
            row["hdpo"] = {**summary(hdpo_rewards), "final_train_return": final, "compile_s": compile_s,
                           "train_s": train_s, "train_incl_compile_s": compile_s + train_s}
            if bound is not None:
                row["hdpo"]["gap_pct"] = float(100 * (bound.mean() - hdpo_rewards.mean()) / bound.mean())
            if not args.no_ppo:  # reproduce_orgym's PPO rows: 64 envs x 1M periods, time-aware critic for OR-Gym obs
                ppo_config = PPOConfig(num_envs=64, total_timesteps=1_000_000, critic_time=observation == "orgym")
                pp, final, compile_s, train_s = timed_train(ppo_train, ppo_config, env, params, args.seed)
                ppo_rewards = held_out(env, ppo_policy(ppo_config, env), pp, params)
                row["ppo"] = {**summary(ppo_rewards), "final_train_return": final, "compile_s": compile_s,
                              "train_s": train_s, "train_incl_compile_s": compile_s + train_s}
                row["hdpo_minus_ppo"] = paired_difference(hdpo_rewards, ppo_rewards)
            out["rows"][f"{variant}/{observation}"] = row
            print(json.dumps({f"{variant}/{observation}": row}), flush=True)
    out["load_after"] = os.getloadavg()
    Path(args.out).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
