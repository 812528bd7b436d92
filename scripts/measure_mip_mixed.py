"""Measure MIP with mixed cost on the hybrid sample's instances (docs/hybrid_reproduction.md).

    python scripts/measure_mip_mixed.py [--episodes 20] [--sigmas 2 6 11] [--multi-sigmas 1 5 9]
        [--multi-episodes 1] [--out docs/measurements/mip_mixed.json]

Single SKU, ratio 100: the notebook metric (sample semantics, sample alignment) and the env's own
200-day cost (sample and exact semantics), mean and 95% CI over `episodes` episodes (common random
numbers: the same keys for every variant); per-day solve time. 200 SKUs sharing 5,000 per stage,
ratio 100, sample semantics: the 200-SKU figure's metric and per-day solve time.
"""
from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import numpy as np

import sc_jax
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.evaluate import demand_keys
from sc_jax.mip_mixed import run_mip_mixed
from sc_jax.sample_metrics import REFERENCE_REIMPLEMENTATION, mean_standard_error, notebook_cost, step_points
from sc_jax.stats import mean_ci


def summary(values):
    values = np.asarray(values, np.float64).ravel()
    mean, half = mean_ci(values)
    return {"mean": float(mean), "ci95": float(half), "std": float(values.std(ddof=1)), "n": int(values.size)}


def single_sku(sigma, semantics, alignment, episodes, seed, timing=None, horizon=None):
    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=sigma, semantics=semantics)
    keys = demand_keys(jax.random.PRNGKey(seed), 1, episodes)
    result = run_mip_mixed(env, params, keys, alignment=alignment, timing=timing, horizon=horizon)
    notebook = notebook_cost(result.daily["lost"], result.daily["on_hand"], 100.0)
    return {"semantics": semantics, "alignment": alignment, "timing": result.settings["timing"],
            "horizon": result.settings["horizon"], "sigma": sigma,
            "env_cost": summary(result.cost), "notebook_cost": summary(notebook),
            "lost_after_day_20": summary(result.daily["lost"][20:].sum(axis=(0, 3))),
            "statuses": result.statuses, "solve_s_per_day": float(result.solve_s.mean()),
            "episodes_per_model": episodes, "wall_s": result.wall_s}


def multi_sku(sigma, episodes, seed, num_skus=200):
    env, params = hybrid_sample_catalog(num_skus, 100.0, sigma_max=sigma)
    keys = demand_keys(jax.random.PRNGKey(seed), num_skus, episodes)
    result = run_mip_mixed(env, params, keys)
    day_cost = result.day_cost.sum(axis=1)  # [T, S]: all SKUs
    mean, se = mean_standard_error(step_points(day_cost))
    return {"sigma": sigma, "num_skus": num_skus, "episodes": episodes, "figure_metric": {"mean": mean, "se": se},
            "env_cost_per_episode": summary(result.cost.sum(axis=0)), "statuses": result.statuses,
            "solve_s_per_day": float(result.solve_s.mean()), "solve_s_per_day_max": float(result.solve_s.max()),
            "refused_units": result.refused_units.tolist(), "peak_utilisation": result.peak_utilisation.tolist(),
            "max_capacity_slack": float(result.capacity_slack.max()), "wall_s": result.wall_s}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--sigmas", type=int, nargs="+", default=[2, 6, 11])
    parser.add_argument("--multi-sigmas", type=int, nargs="*", default=[1, 5, 9])
    parser.add_argument("--multi-episodes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="docs/measurements/mip_mixed.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    out = {"machine": f"{platform.machine()} {platform.processor() or ''} ({jax.devices()[0].platform}, "
                      f"jax {jax.__version__})", "reference": {k: {str(s): v for s, v in d.items()}
                                                             for k, d in REFERENCE_REIMPLEMENTATION.items()},
           "single_sku": [], "multi_sku": []}
    variants = [("sample", "sample", None, None), ("sample", "aligned", None, None),
                ("exact", "sample", None, None), ("exact", "aligned", None, None),
                ("exact", "sample", "after_arrivals", 10)]
    for sigma in args.sigmas:
        for semantics, alignment, timing, horizon in variants:
            row = single_sku(sigma, semantics, alignment, args.episodes, args.seed, timing, horizon)
            out["single_sku"].append(row)
            print(f"sigma {sigma} {semantics:6s} {alignment:7s} {row['timing']:15s} H {row['horizon']}: "
                  f"notebook {row['notebook_cost']['mean']:.2f} env {row['env_cost']['mean']:.2f} "
                  f"lost>20 {row['lost_after_day_20']['mean']:.1f} solve/day {row['solve_s_per_day']:.3f}s "
                  f"{row['statuses']}", flush=True)
    for sigma in args.multi_sigmas:
        row = multi_sku(sigma, args.multi_episodes, args.seed)
        out["multi_sku"].append(row)
        print(f"200 SKUs sigma {sigma}: figure {row['figure_metric']['mean']:.1f} +- {row['figure_metric']['se']:.1f} "
              f"solve/day {row['solve_s_per_day']:.3f}s (max {row['solve_s_per_day_max']:.2f}) refused "
              f"{row['refused_units']} peak {np.round(row['peak_utilisation'], 3).tolist()} {row['statuses']}",
              flush=True)
    out["wall_s"] = time.perf_counter() - t0
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"wrote {args.out} ({out['wall_s']:.0f}s)")


if __name__ == "__main__":
    main()
