"""Throughput of the jitted, vmapped environment: product-steps per second.

OR-Gym defaults (v0), Poisson(20) demand, an echelon base-stock policy in the loop, 30-period
episodes (reset with demand sampling included), compile time excluded (one warm-up call per size),
best of `repeats` timed calls. Every product has its own params row (a real catalog), so the
params are vmapped too. Driver: `sc_jax.env.rollout`, the one rollout that evaluation and tuning
use (scan over periods of the vmapped step, the period index shared by the batch).

Reference: OR-Gym 0.5.0's own env stepped in a Python loop, measured in the same run when
`orgym_dir` points at an unpacked or-gym wheel (loaded by tests/fixtures/orgym_reference.py, a
dev-only shim); without it the reference line says so and the ratio is omitted.

    python experiments/bench_env.py [sizes=[1000,10000,100000]] [orgym_dir=DIR]   (Hydra, conf/bench_env.yaml)

The last line printed is JSON: {"product_steps_per_s": {"1000": ..., ...}, ...}.
"""
from __future__ import annotations

import importlib.util
import json
import platform
import time
from pathlib import Path

import hydra

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.checks import check_integer, reject_unknown_keys
from sc_jax.config import to_dict
from sc_jax.env import make, replicate, rollout
from sc_jax.errors import ConfigError
from sc_jax.sharding import describe, shard_batch
from sc_jax.runlog import hydra_run_dir, write_json, stop_cleanly_on_interrupt
from sc_jax.policies import base_stock

BASE_STOCK_LEVELS = (80.0, 180.0, 420.0)
KEYS = ("sizes", "repeats", "orgym_dir", "orgym_episodes", "seed")


def make_simulator(env):
    """jit(sc_jax.env.rollout under base-stock levels) -> total reward [products]."""
    levels = jnp.asarray(BASE_STOCK_LEVELS, jnp.float32)
    return jax.jit(lambda keys, params: rollout(env, base_stock, levels, params, keys)[0])


def time_size(num_products: int, repeats: int, seed: int = 0) -> dict:
    env, one = make("orgym_v0")
    params = shard_batch(replicate(one, num_products))  # products over all local devices
    simulate = make_simulator(env)
    keys = shard_batch(jax.random.split(jax.random.PRNGKey(seed), num_products))
    start = time.perf_counter()
    simulate(keys, params).block_until_ready()
    compile_s = time.perf_counter() - start
    times = []
    for r in range(repeats):
        keys = shard_batch(jax.random.split(jax.random.PRNGKey(seed + r + 1), num_products))
        start = time.perf_counter()
        mean_reward = float(simulate(keys, params).mean())
        times.append(time.perf_counter() - start)
    best = min(times)
    return {"products": num_products, "compile_s": compile_s, "best_s": best,
            "median_s": float(np.median(times)),
            "product_steps_per_s": num_products * env.periods / best, "mean_reward": mean_reward}


def _orgym_reference():
    """The dev-only shim that imports OR-Gym's env from an unpacked wheel (not installed with sc_jax)."""
    path = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "orgym_reference.py"
    spec = importlib.util.spec_from_file_location("orgym_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def time_orgym(orgym_dir: str, episodes: int) -> float:
    """Periods per second of OR-Gym's env (Poisson demand) under the same base-stock levels."""
    env = _orgym_reference().load_reference_env_class(orgym_dir)()
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
    """Time every size in cfg.sizes; print the table and the JSON line; write bench_env.json
    into the run directory."""
    args = to_dict(cfg)
    reject_unknown_keys(args, KEYS, "bench_env")
    sizes = args["sizes"]
    if not isinstance(sizes, list) or not sizes:
        raise ConfigError(f"'sizes' must be a non-empty list of integers >= 1 (numbers of products), got {sizes!r}")
    sizes = [check_integer("sizes[]", n, 1) for n in sizes]
    repeats = check_integer("repeats", args["repeats"], 1)
    seed = check_integer("seed", args["seed"], 0)
    episodes = check_integer("orgym_episodes", args["orgym_episodes"], 1)
    run_dir = Path(run_dir) if run_dir is not None else hydra_run_dir()
    device = jax.devices()[0]
    print(f"jax {jax.__version__} on {device.platform} ({device.device_kind}); "
          f"{platform.processor() or platform.machine()}")
    reference = time_orgym(args["orgym_dir"], episodes) if args["orgym_dir"] else None
    rows = [time_size(n, repeats, seed) for n in sizes]
    print(f"{'products':>10} {'compile s':>10} {'best s':>10} {'product-steps/s':>16} {'x OR-Gym':>10}")
    for row in rows:
        ratio = f"{row['product_steps_per_s'] / reference:10.0f}" if reference else f"{'n/a':>10}"
        print(f"{row['products']:>10} {row['compile_s']:>10.2f} {row['best_s']:>10.4f} "
              f"{row['product_steps_per_s']:>16.3e} {ratio}")
    if reference:
        print(f"OR-Gym 0.5.0 reference, measured in this run: {reference:,.0f} periods/s (one product)")
    else:
        print("OR-Gym reference not measured (pass orgym_dir=DIR); ratios omitted")
    summary = {
        "product_steps_per_s": {str(r["products"]): r["product_steps_per_s"] for r in rows},
        "compile_s": {str(r["products"]): r["compile_s"] for r in rows},
        "orgym_periods_per_s": reference,
        "speedup_vs_orgym": ({str(r["products"]): r["product_steps_per_s"] / reference for r in rows}
                             if reference else None),
        "device": f"{device.platform}:{device.device_kind}", "devices": describe(), "jax": jax.__version__,
    }
    write_json(run_dir / "bench_env.json", summary)
    print(json.dumps(summary))
    return summary


@hydra.main(config_path="../conf", config_name="bench_env", version_base=None)
def main(cfg) -> None:
    stop_cleanly_on_interrupt("[bench_env]")
    run(cfg)


if __name__ == "__main__":
    main()
