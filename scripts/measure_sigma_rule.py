"""Tune and measure the forecast-sigma rule on the hybrid sample's single SKU (docs/hybrid_reproduction.md).

    python scripts/measure_sigma_rule.py [--ratio 100] [--sigmas 2 6 11] [--train-paths 32]
        [--episodes 20] [--out docs/measurements/sigma_rule.json]

z per stage is tuned per sigma level on training keys (PRNGKey(1000 + seed)); the evaluation uses
the episodes of scripts/measure_mip_mixed.py (sc_jax.evaluate.demand_keys(PRNGKey(seed), 1, S)),
so the numbers pair with MIP-mixed's (common random numbers). Sample semantics are scored on the
notebook metric with z tuned on it; exact semantics on the env's own cost with z tuned on it.
"""
from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np

import sc_jax
from sc_jax.env import rollout
from sc_jax.evaluate import demand_keys
from sc_jax.policies.sigma_rule import sigma_rule_policy
from sc_jax.sample_metrics import notebook_cost
from sc_jax.stats import mean_ci
from sc_jax.tuning import tune_sigma_rule


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratio", type=float, default=100.0)
    parser.add_argument("--sigmas", type=int, nargs="+", default=[2, 6, 11])
    parser.add_argument("--train-paths", type=int, default=32)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/measurements/sigma_rule.json")
    args = parser.parse_args()
    out = {"ratio": args.ratio, "rows": []}
    t0 = time.perf_counter()
    for semantics, timing, objective in (("sample", "after_arrivals", "notebook_cost"),
                                          ("exact", "before_arrivals", "env_cost")):
        env, params = sc_jax.make("hybrid_sample", cost_ratio=args.ratio, semantics=semantics)
        tuned = tune_sigma_rule(env, params, args.sigmas, num_paths=args.train_paths, seed=1000 + args.seed,
                                timing=timing, objective=objective)
        act = sigma_rule_policy("installation", True, timing)
        for sigma, z in zip(args.sigmas, tuned["best_per_sigma"]):
            _, p = sc_jax.make("hybrid_sample", cost_ratio=args.ratio, semantics=semantics, sigma_max=sigma)
            keys = demand_keys(jax.random.PRNGKey(args.seed), 1, args.episodes)[0]
            reward, (lost, on_hand), _ = rollout(env, act, jnp.asarray(z, jnp.float32), p, keys,
                                                 collect=lambda tr: (tr.info.lost, tr.info.on_hand))
            notebook = notebook_cost(np.asarray(lost), np.asarray(on_hand), args.ratio)
            row = {"semantics": semantics, "timing": timing, "objective": objective, "sigma": sigma, "z": z}
            for name, values in (("env_cost", -np.asarray(reward)), ("notebook_cost", notebook)):
                mean, half = mean_ci(values)
                row[name] = {"mean": float(mean), "ci95": float(half)}
            out["rows"].append(row)
            print(f"{semantics:6s} sigma {sigma:2d} z {np.round(z, 3).tolist()}: notebook "
                  f"{row['notebook_cost']['mean']:.2f} env {row['env_cost']['mean']:.2f}", flush=True)
        out[f"tuning_{semantics}"] = {k: v for k, v in tuned.items()}
    out["wall_s"] = time.perf_counter() - t0
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {args.out} ({out['wall_s']:.0f}s)")


if __name__ == "__main__":
    main()
