"""Throughput of the hybrid episode: the host loop with the daily MILP vs the jitted JAX episode.

    python experiments/bench_hybrid.py [sizes=[200,2000]] [samples=16] [host_samples=1]   (Hydra, conf/bench_hybrid.yaml)
    python scripts/gpu_hybrid_check.py                                                    (on a GPU, no Hydra needed)

For every size it builds experiments/hybrid.py's default catalog (cost ratios 10/100/1000, shared
capacity 30/50/70 per product and stage: below the initial stock), a static safety stock per cost
ratio as the policy (decided every 10 days), the position capacity basis by default (the capacity
then binds at every stage every day; `capacity_basis=expected`, experiments/hybrid.py's choice,
binds on about a third of the days at these sizes), and times

* host   `sc_jax.hybrid.run_hybrid(..., allocation="daily")`: the JAX day functions jitted, the
         MILP (HiGHS) on the host every day, one sample at a time; `host_samples` of the samples
         (its product-days/s is per sample, so fewer samples measure the same rate); 0 skips it
         (sizes the host loop would take minutes over: the speed-up is then not measured);
* jax    `sc_jax.hybrid_jax.hybrid_episodes`: the whole episode of all `samples` in one jitted
         call (scan over days, the JAX capacity stage), best of `repeats` calls.

Compilation is excluded for both (the host's jitted pieces are called once first; the JAX episodes'
first call is timed separately as compile_s). Both run in the same process, one after the other;
the machine's load average before and after each size is recorded (other jobs slow both).
Also reported: the days on which the capacity binds (the MILP's "optimal" days; the JAX stage's
binding days) and the largest relative difference of a sample's total cost between the two (the
same model, the same keys: float32 sums and float32 cut costs only).

The last printed line is JSON:
{"product_days_per_s": {"host": {"200": x, "2000": y}, "jax": {"200": x, "2000": y}}, ...}.
The config is checked before anything runs; a bad value raises `sc_jax.errors.ConfigError`.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.alloc import allocate, random_problem
from sc_jax.alloc.milp import CAPACITY_BASES
from sc_jax.checks import check_choice, check_integer, check_time_limit, is_integer, is_number, show
from sc_jax.config import to_dict
from sc_jax.env.catalog import make_catalog
from sc_jax.errors import ConfigError
from sc_jax.hybrid import StaticByRatio, make_hybrid_functions, run_hybrid, static_by_ratio
from sc_jax.hybrid_jax import hybrid_episodes
from sc_jax.runlog import hydra_run_dir, stop_cleanly_on_interrupt, write_json
from sc_jax.runlog import machine_name as cpu_and_cores
from sc_jax.sharding import describe

CONFIG_KEYS = ("sizes", "samples", "host_samples", "periods", "sigma", "ratios", "capacity_per_product",
               "capacity_basis", "stocks", "max_segments", "time_limit", "repeats", "seed")


def machine_name() -> str:
    """The CPU and cores (sc_jax.runlog.machine_name), then JAX and its local devices."""
    return f"{cpu_and_cores()}; JAX {jax.__version__} on {describe()}"


def _positive_numbers(name, value, count=None):
    ok = (isinstance(value, (list, tuple)) and value and (count is None or len(value) == count)
          and all(is_number(x) and 0 < x < np.inf for x in value))
    if not ok:
        length = f"{count} " if count else "a non-empty list of "
        raise ConfigError(f"'{name}' must be {length}numbers > 0, got {show(value)}")
    return [float(x) for x in value]


def check_config(cfg) -> dict:
    """The benchmark settings, validated (ConfigError naming the key and the allowed values)."""
    if not hasattr(cfg, "items"):
        raise ConfigError(f"'cfg' must be a mapping (dict or DictConfig) with keys {CONFIG_KEYS}, "
                          f"got {type(cfg).__name__}")
    settings = {k: v for k, v in to_dict(cfg).items() if k not in ("defaults", "hydra")}
    missing = [k for k in CONFIG_KEYS if k not in settings]
    unknown = [k for k in settings if k not in CONFIG_KEYS]
    if missing or unknown:
        raise ConfigError(f"'cfg' keys must be exactly {CONFIG_KEYS}, got missing {missing}, unknown {unknown}")
    sizes = settings["sizes"]
    if not isinstance(sizes, (list, tuple)) or not sizes or not all(is_integer(s) and s >= 1 for s in sizes):
        raise ConfigError(f"'sizes' must be a non-empty list of integers >= 1 (products), got {show(sizes)}")
    samples = check_integer("samples", settings["samples"], 1)
    check_integer("host_samples", settings["host_samples"], 0, maximum=samples)
    check_integer("periods", settings["periods"], 1)
    check_integer("sigma", settings["sigma"], 1)
    ratios = _positive_numbers("ratios", settings["ratios"])
    _positive_numbers("capacity_per_product", settings["capacity_per_product"], 3)
    check_choice("capacity_basis", settings["capacity_basis"], CAPACITY_BASES)
    stocks = settings["stocks"]
    try:
        array = np.asarray(stocks)
    except (TypeError, ValueError):
        array = np.zeros(0)
    if (array.shape != (len(ratios), 3) or array.dtype.kind not in "iu" or np.any(array < 0)):
        raise ConfigError(f"'stocks' must be {len(ratios)} rows (one per ratio) of 3 integers >= 0, got {show(stocks)}")
    check_integer("max_segments", settings["max_segments"], 1)
    check_time_limit(settings["time_limit"])
    check_integer("repeats", settings["repeats"], 1)
    check_integer("seed", settings["seed"], 0)
    return settings


def _warm_host(functions, table, params, key) -> None:
    """Compile the host loop's jitted day functions (one call each) and start HiGHS."""
    act_all, reset_all, day_inputs, env_step = functions
    n = params.initial_inventory.shape[0]
    state = reset_all(jax.random.split(key, n), params)
    safety = act_all(table, state, params, jax.random.split(key, n))
    orders = day_inputs(safety, state, params)[0]
    jax.block_until_ready(env_step(state, orders, params))
    allocate(random_problem(0, 5), "daily")


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages (`os.getloadavg`; None where unavailable): other
    jobs on a shared machine slow both methods, which this records next to the rates."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def time_size(n: int, s: dict) -> dict:
    load_before = load_average()
    env, params = make_catalog(jax.random.PRNGKey(s["seed"]), n, ratios=s["ratios"], sigma_max=s["sigma"],
                               shared_capacity=n * np.asarray(s["capacity_per_product"], np.float64),
                               periods=s["periods"])
    table = StaticByRatio(jnp.log10(jnp.asarray(s["ratios"], jnp.float32)), jnp.asarray(s["stocks"], jnp.int32))
    keys = jax.random.split(jax.random.PRNGKey(s["seed"] + 1), s["samples"])
    product_days = n * s["periods"]
    options = {"capacity_basis": s["capacity_basis"], "max_segments": s["max_segments"]}

    batch = hybrid_episodes(env, static_by_ratio, allocation="jax", **options)
    start = time.perf_counter()
    stats = jax.block_until_ready(batch(table, params, keys, np.float32(1e-3)))
    compile_s = time.perf_counter() - start
    times = []
    for _ in range(s["repeats"]):
        start = time.perf_counter()
        stats = jax.block_until_ready(batch(table, params, keys, np.float32(1e-3)))
        times.append(time.perf_counter() - start)
    stats = jax.device_get(stats)
    jax_rate = product_days * s["samples"] / min(times)

    jax_row = {
        "jax": jax_rate, "jax_compile_s": compile_s, "jax_best_s": min(times),
        "binding_days_jax": float(np.mean(stats.binding_days)),
        "binding_stage_days_jax": np.mean(stats.binding_stage_days, axis=0).tolist(),
        "search_steps_per_day": float(np.mean(stats.search_steps) / s["periods"]),
        "refused_units_jax": int(np.sum(stats.refused_units)),
        "peak_utilisation_jax": np.max(stats.peak_utilisation, axis=0).tolist(),
    }
    if s["host_samples"] == 0:
        return {"host": None, "speedup": None, **jax_row, "load_average_before": load_before,
                "load_average_after": load_average()}
    functions = make_hybrid_functions(env, params, static_by_ratio)
    _warm_host(functions, table, params, keys[0])
    host, start = [], time.perf_counter()
    for key in keys[:s["host_samples"]]:
        host.append(run_hybrid(env, params, static_by_ratio, table, key, allocation="daily", functions=functions,
                               alloc_options={**options, "time_limit": s["time_limit"]}))
    host_s = time.perf_counter() - start
    host_rate = product_days * len(host) / host_s
    cost_diff = max(abs(h.total_cost - float(stats.cost[i].sum())) / max(abs(h.total_cost), 1e-12)
                    for i, h in enumerate(host))
    return {
        "host": host_rate, "speedup": jax_rate / host_rate, **jax_row, "host_s": host_s,
        "host_alloc_share": sum(h.alloc_s for h in host) / host_s,
        "host_fallback_days": sum(h.fallback_days for h in host),
        "binding_days_host": float(np.mean([h.statuses.get("optimal", 0) for h in host])),
        "cost_rel_diff": cost_diff,
        "same_binding_days": all(h.statuses.get("optimal", 0) == int(stats.binding_days[i]) for i, h in enumerate(host)),
        "load_average_before": load_before, "load_average_after": load_average(),
    }


def run(cfg, run_dir=None) -> dict:
    """Time every size; print the table and the JSON line; write bench_hybrid.json."""
    s = check_config(cfg)
    run_dir = Path(run_dir) if run_dir is not None else hydra_run_dir()
    rows = {str(n): time_size(int(n), s) for n in s["sizes"]}
    header = (f"{'products':>9} {'samples':>8} {'host pd/s':>11} {'jax pd/s':>11} {'speedup':>8} {'compile s':>10}"
              f" {'binding days host/jax':>22} {'MILP share':>10} {'cost diff':>10}")
    print(header)
    print("-" * len(header))
    for n, r in rows.items():
        host = (f"{r['host']:>11.3g}", f"{r['speedup']:>7.1f}x", f"{r['binding_days_host']:>10.1f}",
                f"{r['host_alloc_share']:>10.0%}", f"{r['cost_rel_diff']:>10.1e}") if r["host"] else \
            (f"{'-':>11}", f"{'-':>8}", f"{'-':>10}", f"{'-':>10}", f"{'-':>10}")
        print(f"{n:>9} {s['samples']:>8} {host[0]} {r['jax']:>11.3g} {host[1]} {r['jax_compile_s']:>10.1f}"
              f" {host[2]} / {r['binding_days_jax']:<9.1f} {host[3]} {host[4]}")
    summary = {
        "product_days_per_s": {"host": {n: r["host"] for n, r in rows.items()},
                               "jax": {n: r["jax"] for n, r in rows.items()}},
        "speedup": {n: r["speedup"] for n, r in rows.items()},
        "details": rows, "samples": s["samples"], "host_samples": s["host_samples"], "periods": s["periods"],
        "sigma": s["sigma"], "capacity_basis": s["capacity_basis"], "machine": machine_name(),
    }
    print(f"machine: {summary['machine']}; host loop on {s['host_samples']} of {s['samples']} samples "
          "(its product-days/s is per sample); load average (1/5/15 min) before/after each size: "
          + "; ".join(f"{n}: {r['load_average_before']} / {r['load_average_after']}" for n, r in rows.items()))
    write_json(run_dir / "bench_hybrid.json", summary)
    print(json.dumps(summary))
    return summary


def main() -> None:
    import hydra  # here, not at the top: scripts/gpu_hybrid_check.py calls run() where Hydra is absent

    @hydra.main(config_path="../conf", config_name="bench_hybrid", version_base=None)
    def hydra_main(cfg) -> None:
        stop_cleanly_on_interrupt("[bench_hybrid]")
        run(cfg)

    hydra_main()


if __name__ == "__main__":
    main()
