"""Throughput of the jitted, vmapped environment: product-steps per second.

OR-Gym defaults (v0), Poisson(20) demand, an echelon base-stock policy in the loop, 30-period
episodes (reset with demand sampling included), compile time excluded (one warm-up call per size),
best of `repeats` timed calls. Every product has its own params row (a real catalog), so the
params are vmapped too. Two drivers of the same step: `scan(vmap(step))` (sc_jax.env.rollout,
the period index shared by the batch; the headline figure) and `vmap(scan(step))` (one episode
per product under vmap).

Reference: OR-Gym 0.5.0's own env stepped in a Python loop, measured in the same run when
`orgym_dir` points at an unpacked or-gym wheel (see sc_jax/compat/orgym_reference.py); without
it the reference line says so and the ratio is omitted.

    python experiments/bench_env.py [sizes=[1000,10000,100000]] [orgym_dir=DIR]   (Hydra, conf/bench_env.yaml)

The last line printed is JSON: {"product_steps_per_s": {"1000": ..., ...}, ...}.
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import hydra

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.config import to_dict
from sc_jax.env import replicate, reset, step_env
from sc_jax.env.presets import get_preset
from sc_jax.env.rollout import rollout
from sc_jax.logging import hydra_run_dir, write_json
from sc_jax.policies import base_stock

BASE_STOCK_LEVELS = (80.0, 180.0, 420.0)


def make_scan_simulator(periods: int):
    """jit(scan over periods of vmap(step)) -> total reward [products]."""
    levels = jnp.asarray(BASE_STOCK_LEVELS, jnp.float32)
    return jax.jit(lambda keys, params: rollout(base_stock, levels, params, keys)[0])


def make_vmap_simulator(periods: int):
    """jit(vmap over products of one scanned episode) -> total reward [products]."""

    def episode(key, params):
        _, state = reset(key, params)
        levels = jnp.asarray(BASE_STOCK_LEVELS, jnp.float32)

        def period(state, _):
            action = base_stock(levels, state, params)
            _, state, reward, _, _ = step_env(None, state, action, params)
            return state, reward

        _, rewards = jax.lax.scan(period, state, None, length=periods)
        return rewards.sum()

    return jax.jit(jax.vmap(episode))


def time_size(num_products: int, repeats: int, driver: str, seed: int = 0) -> dict:
    params = replicate(get_preset("orgym_v0"), num_products)
    simulate = (make_scan_simulator if driver == "scan" else make_vmap_simulator)(params.periods)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_products)
    start = time.perf_counter()
    simulate(keys, params).block_until_ready()
    compile_s = time.perf_counter() - start
    times = []
    for r in range(repeats):
        keys = jax.random.split(jax.random.PRNGKey(seed + r + 1), num_products)
        start = time.perf_counter()
        mean_reward = float(simulate(keys, params).mean())
        times.append(time.perf_counter() - start)
    best = min(times)
    return {"products": num_products, "driver": driver, "compile_s": compile_s, "best_s": best,
            "median_s": float(np.median(times)),
            "product_steps_per_s": num_products * params.periods / best, "mean_reward": mean_reward}


def time_orgym(orgym_dir: str, episodes: int) -> float:
    """Periods per second of OR-Gym's env (Poisson demand) under the same base-stock levels."""
    from sc_jax.compat.orgym_reference import load_reference_env_class

    env = load_reference_env_class(orgym_dir)()
    levels = np.array(BASE_STOCK_LEVELS)
    steps, start = 0, time.perf_counter()
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            position = np.cumsum(env.I[env.period] + env.T[env.period]
                                 - (env.B[env.period - 1, :-1] if env.period else 0))
            supplier = np.append(env.I[env.period, 1:], np.inf)
            action = np.minimum(np.minimum(np.maximum(levels - position, 0), env.supply_capacity), supplier)
            _, _, done, _ = env.step(action)
            steps += 1
    return steps / (time.perf_counter() - start)


def run(cfg, run_dir=None) -> dict:
    """Time every size in cfg.sizes with both drivers; print the table and the JSON line; write
    bench_env.json into the run directory."""
    args = to_dict(cfg)
    run_dir = Path(run_dir) if run_dir is not None else hydra_run_dir()
    device = jax.devices()[0]
    print(f"jax {jax.__version__} on {device.platform} ({device.device_kind}); "
          f"{platform.processor() or platform.machine()}")
    reference = time_orgym(args["orgym_dir"], args["orgym_episodes"]) if args["orgym_dir"] else None
    rows = [time_size(int(n), int(args["repeats"]), driver, int(args["seed"]))
            for n in args["sizes"] for driver in ("scan", "vmap")]
    print(f"{'products':>10} {'driver':>6} {'compile s':>10} {'best s':>10} {'product-steps/s':>16} {'x OR-Gym':>10}")
    for row in rows:
        ratio = f"{row['product_steps_per_s'] / reference:10.0f}" if reference else f"{'n/a':>10}"
        print(f"{row['products']:>10} {row['driver']:>6} {row['compile_s']:>10.2f} {row['best_s']:>10.4f} "
              f"{row['product_steps_per_s']:>16.3e} {ratio}")
    vmapped = {str(r["products"]): r["product_steps_per_s"] for r in rows if r["driver"] == "vmap"}
    rows = [r for r in rows if r["driver"] == "scan"]
    if reference:
        print(f"OR-Gym 0.5.0 reference, measured in this run: {reference:,.0f} periods/s (one product)")
    else:
        print("OR-Gym reference not measured (pass orgym_dir=DIR); ratios omitted")
    summary = {
        "product_steps_per_s": {str(r["products"]): r["product_steps_per_s"] for r in rows},
        "compile_s": {str(r["products"]): r["compile_s"] for r in rows},
        "product_steps_per_s_vmap_episode": vmapped,
        "orgym_periods_per_s": reference,
        "speedup_vs_orgym": ({str(r["products"]): r["product_steps_per_s"] / reference for r in rows}
                             if reference else None),
        "device": f"{device.platform}:{device.device_kind}", "jax": jax.__version__,
    }
    write_json(run_dir / "bench_env.json", summary)
    print(json.dumps(summary))
    return summary


@hydra.main(config_path="../conf", config_name="bench_env", version_base=None)
def main(cfg) -> None:
    run(cfg)


if __name__ == "__main__":
    main()
