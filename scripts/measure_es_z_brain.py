"""Issue #15's single-SKU question with the capacity brain's network and trainer: one network over
every cost ratio and sigma level picks z per stage for the sigma rule every day, from its product's
features (cost ratio, forecast cv and scale, each stage's position, the day of the episode),
trained by evolution strategies (sc_jax.agents.capacity_brain) on the env's own 200-day cost.
Against the sigma rule with z tuned per ratio AND sigma (sc_jax.tuning.tune_sigma_rule, 32
training episodes, seed 1), both on the same held-out episodes (seed 20240601), common random
numbers, the hybrid sample's SKU 0.

The 4 ratios x 11 sigma levels are the 44 products of one uncoupled catalog (no shared capacity:
each product is one scenario), so one episode trains on all of them; each product's cost is
weighted by 1 / the tuned rule's training cost there (ES ranks the mean relative cost).

    python scripts/measure_es_z_brain.py [exact|sample] [iterations] [absolute|residual]
"residual": the network corrects the tuned table's z (CapacityBrainConfig.residual; it starts as
the tuned rule) instead of choosing z from scratch (z_init 1 everywhere).
Writes docs/measurements/es_z_brain_<semantics>_<variant>.json; prints the table.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import sc_jax
from sc_jax.agents.capacity_brain import CapacityBrainConfig, make_policy, make_train, z_table
from sc_jax.alloc.jax_stage import jit_for_backend
from sc_jax.env.types import SUPPLIER_TIMING
from sc_jax.env.wrappers import with_scenario
from sc_jax.hybrid_jax import hybrid_episodes, stack_params
from sc_jax.policies.sigma_rule import safety_equivalent
from sc_jax.stats import paired_difference
from sc_jax.tuning import tune_sigma_rule

RATIOS = (1.0, 10.0, 100.0, 1000.0)
SIGMAS = tuple(range(1, 12))
REPORT_SIGMAS = (2, 6, 11)
HELD_OUT_SEED, HELD_OUT = 20240601, 100


def sigma_table_policy(timing: str):
    """act(table: ZTable, state, params, key): the sigma rule with the z of the product's ratio and
    sigma level (as the safety stock the controller needs, decided daily)."""

    def act(table, state, params, key):
        return safety_equivalent(table.lookup(params), state, params, "installation", timing)

    return act


def main() -> None:
    semantics = sys.argv[1] if len(sys.argv) > 1 else "exact"
    iterations = int(sys.argv[2]) if len(sys.argv) > 2 else 150
    variant = sys.argv[3] if len(sys.argv) > 3 else "absolute"
    assert variant in ("absolute", "residual"), variant
    timing = SUPPLIER_TIMING[semantics]
    env, base = sc_jax.make("hybrid_sample", cost_ratio=100.0, semantics=semantics, periods=200)
    t0 = time.perf_counter()
    z_table_arr, train_cost = np.zeros((len(RATIOS), len(SIGMAS), 3)), np.zeros((len(RATIOS), len(SIGMAS)))
    for i, ratio in enumerate(RATIOS):
        found = tune_sigma_rule(env, with_scenario(base, ratio, 1.0), list(SIGMAS), num_paths=32, seed=1,
                                timing=timing, objective="env_cost")
        z_table_arr[i], train_cost[i] = np.asarray(found["best_per_sigma"]), np.asarray(found["train_cost_per_sigma"])
        print(f"sigma rule tuned, ratio {ratio:g}: z at sigma 2/6/11 "
              f"{[z_table_arr[i, s - 1].tolist() for s in REPORT_SIGMAS]}", flush=True)
    tune_s = time.perf_counter() - t0
    products = [with_scenario(base, r, float(s)) for r in RATIOS for s in SIGMAS]
    catalog = jax.tree.map(lambda *x: jnp.stack(x), *products)  # [44] products, one per scenario
    config = CapacityBrainConfig(z_low=-4.0, z_high=4.0, z_init=1.0, iterations=iterations, train_samples=8,
                                 population=16, noise_std=0.05, learning_rate=0.03, timing=timing,
                                 observe_utilisation=False, progress_every_s=20.0, residual=variant == "residual")
    tuned = z_table(RATIOS, SIGMAS, z_table_arr)
    base_z = tuned if config.residual else None
    train = jit_for_backend(make_train(config, env, stack_params([catalog]), allocation="none",
                                       cost_weights=1.0 / train_cost.reshape(-1), z_base=base_z))
    t0 = time.perf_counter()
    brain, metrics = jax.block_until_ready(train(jax.random.PRNGKey(0)))
    train_s = time.perf_counter() - t0
    keys = jax.random.split(jax.random.PRNGKey(HELD_OUT_SEED), HELD_OUT)
    run = lambda policy, params: np.asarray(
        hybrid_episodes(env, policy, allocation="none", action_frequency=1)(params, catalog, keys).cost, np.float64)
    brain_cost = run(make_policy(config, env.periods), brain)  # [S, 44]
    rule_cost = run(sigma_table_policy(timing), tuned)
    out = {"semantics": semantics, "variant": variant, "timing": timing, "iterations": iterations, "tune_s": tune_s,
           "train_incl_compile_s": train_s, "train_cost": np.asarray(metrics["cost"]).tolist(),
           "config": config.to_dict(), "held_out": HELD_OUT, "held_out_seed": HELD_OUT_SEED, "points": {}}
    print(f"{'ratio':>6} {'sigma':>5} {'brain':>9} {'rule':>9} {'brain - rule (95% CI)':>24}")
    for i, ratio in enumerate(RATIOS):
        for s in SIGMAS:
            j = i * len(SIGMAS) + s - 1
            diff = paired_difference(brain_cost[:, j], rule_cost[:, j])
            point = {"brain": float(brain_cost[:, j].mean()), "sigma_rule": float(rule_cost[:, j].mean()),
                     "diff": diff["mean"], "diff_ci95": diff["ci95"], "z_rule": z_table_arr[i, s - 1].tolist()}
            out["points"][f"ratio_{ratio:g}/sigma_{s}"] = point
            print(f"{ratio:>6g} {s:>5} {point['brain']:>9.2f} {point['sigma_rule']:>9.2f} "
                  f"{diff['mean']:>+10.2f} ± {diff['ci95']:<6.2f} ({diff['mean'] / point['sigma_rule']:+.1%})")
    print(f"tuning {tune_s:.0f}s, ES training {train_s:.0f}s (incl. compile); {jax.devices()[0]}")
    path = Path(__file__).resolve().parents[1] / "docs" / "measurements" / f"es_z_brain_{semantics}_{variant}.json"
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
