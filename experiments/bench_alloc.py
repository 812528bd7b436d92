"""Benchmark the shared-capacity allocation: daily MILP vs rolling-horizon LP.

    python experiments/bench_alloc.py [sizes=[100,1000,10000]] [rolling_max=1000]   (Hydra, conf/bench_alloc.yaml)

For every size it builds a random hybrid-shaped instance (3 stages, lead
times 2/3/4, cost ratios 10/100/1000, capacity tightness 0.8 of the desired
orders), then times

* daily          the daily model as configured (banded HiGHS model),
* daily-full     the same model handed to HiGHS whole (sizes <= full_max),
* greedy         the independent exact method (objective must match),
* rolling        the horizon LP variant (sizes <= rolling_max).

Times are medians over `repeats` runs.  The objective gap is the rolling
variant's cut cost relative to the daily model's, both measured with the
daily model's cost.  The last printed line is JSON for scripts.

The config is checked before anything runs; a bad value raises
`sc_jax.errors.ConfigError` naming the key and the allowed values.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from types import SimpleNamespace

import hydra
import numpy as np

from sc_jax.alloc import allocate, random_problem
from sc_jax.checks import check_integer, check_number, check_time_limit, is_integer, show
from sc_jax.config import to_dict
from sc_jax.errors import ConfigError
from sc_jax.runlog import hydra_run_dir, machine_name, stop_cleanly_on_interrupt, write_json

# Keys of conf/bench_alloc.yaml (all required).
CONFIG_KEYS = ("sizes", "rolling_max", "full_max", "repeats", "tightness", "seed", "time_limit", "band_size",
               "max_segments")


def timed(problem, method, repeats, **options):
    """Median build and solve seconds over ``repeats`` runs, and the last result."""
    results = [allocate(problem, method, **options) for _ in range(repeats)]
    build = statistics.median(r.build_s for r in results)
    solve = statistics.median(r.solve_s for r in results)
    return build, solve, results[-1]


def check_config(cfg) -> SimpleNamespace:
    """The benchmark settings, validated (ConfigError naming the key and the allowed values)."""
    if isinstance(cfg, SimpleNamespace):
        cfg = vars(cfg)
    if not hasattr(cfg, "items"):
        raise ConfigError(
            f"'cfg' must be a mapping (dict or DictConfig) with keys {CONFIG_KEYS}, got {type(cfg).__name__}"
        )
    settings = {key: value for key, value in to_dict(cfg).items() if key not in ("defaults", "hydra")}
    missing = [key for key in CONFIG_KEYS if key not in settings]
    unknown = [key for key in settings if key not in CONFIG_KEYS]
    if missing or unknown:
        raise ConfigError(f"'cfg' keys must be exactly {CONFIG_KEYS}, got missing {missing}, unknown {unknown}")
    sizes = settings["sizes"]
    if (not isinstance(sizes, (list, tuple)) or not sizes
            or not all(is_integer(size) and size >= 1 for size in sizes)):
        raise ConfigError(f"'sizes' must be a non-empty list of integers >= 1 (products), got {show(sizes)}")
    check_integer("repeats", settings["repeats"], 1)
    check_number("tightness", settings["tightness"], "a number in (0, 1]", lambda x: 0 < x <= 1)
    check_time_limit(settings["time_limit"])
    check_integer("rolling_max", settings["rolling_max"], 0)
    check_integer("full_max", settings["full_max"], 0)
    check_integer("seed", settings["seed"], 0)
    check_integer("band_size", settings["band_size"], 1, allow_none=True)
    check_integer("max_segments", settings["max_segments"], 1, allow_none=True)
    return SimpleNamespace(**settings)


def run(cfg, run_dir=None) -> dict:
    """Time every size in cfg.sizes; print the table and the JSON line; write bench_alloc.json."""
    args = check_config(cfg)
    run_dir = Path(run_dir) if run_dir is not None else hydra_run_dir()

    allocate(random_problem(0, 5), "daily")  # warm-up: imports and HiGHS start-up are not timed
    daily_options = dict(time_limit=args.time_limit, band_size=args.band_size, max_segments=args.max_segments)
    summary = {"solve_s": {}, "build_s": {}, "total_s": {}, "objective": {}, "status": {},
               "greedy_objective": {}, "full_model_solve_s": {},
               "rolling": {"solve_s": {}, "build_s": {}, "objective": {}, "objective_gap_rel": {}},
               "machine": machine_name(), "tightness": args.tightness}

    header = f"{'products':>9} {'method':<11} {'build s':>9} {'solve s':>9} {'objective':>14} {'vars':>8}  {'gap vs daily':>12}  status"
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        problem = random_problem(args.seed, size, tightness=args.tightness)
        key = str(size)
        build, solve, daily = timed(problem, "daily", args.repeats, **daily_options)
        rows = [("daily", build, solve, daily)]
        summary["solve_s"][key], summary["build_s"][key] = round(solve, 4), round(build, 4)
        summary["total_s"][key] = round(build + solve, 4)
        summary["objective"][key] = daily.objective
        summary["status"][key] = daily.status
        if size <= args.full_max:
            build_f, solve_f, full = timed(problem, "daily", args.repeats, **{**daily_options, "band_size": None})
            rows.append(("daily-full", build_f, solve_f, full))
            summary["full_model_solve_s"][key] = round(solve_f, 4)
        build_g, solve_g, greedy = timed(problem, "greedy", args.repeats, max_segments=args.max_segments)
        rows.append(("greedy", build_g, solve_g, greedy))
        summary["greedy_objective"][key] = greedy.objective
        if size <= args.rolling_max:
            build_r, solve_r, rolling = timed(problem, "rolling", 1, time_limit=args.time_limit,
                                              max_segments=args.max_segments)
            rows.append(("rolling", build_r, solve_r, rolling))
            gap = (rolling.objective - daily.objective) / max(abs(daily.objective), 1e-12)
            summary["rolling"]["solve_s"][key] = round(solve_r, 4)
            summary["rolling"]["build_s"][key] = round(build_r, 4)
            summary["rolling"]["objective"][key] = rolling.objective
            summary["rolling"]["objective_gap_rel"][key] = gap
        for name, build_s, solve_s, result in rows:
            gap = (result.objective - daily.objective) / max(abs(daily.objective), 1e-12)
            variables = result.info.get("n_variables", 0)
            print(f"{size:>9} {name:<11} {build_s:>9.4f} {solve_s:>9.4f} {result.objective:>14.4f} {variables:>8}"
                  f"  {gap:>+12.3%}  {result.status}{' (fallback)' if result.fallback else ''}")
        if not np.isclose(daily.objective, greedy.objective, rtol=1e-6):
            print(f"WARNING: daily {daily.objective} != greedy {greedy.objective} at {size} products")
    print(f"machine: {summary['machine']}")
    write_json(run_dir / "bench_alloc.json", summary)
    print(json.dumps(summary))
    return summary


@hydra.main(config_path="../conf", config_name="bench_alloc", version_base=None)
def main(cfg) -> None:
    stop_cleanly_on_interrupt("[bench_alloc]")
    run(cfg)


if __name__ == "__main__":
    main()
