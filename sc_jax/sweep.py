"""Resumable sweeps: skip a job whose run directory already holds its results file.

Every entry point (experiments/train.py, evaluate.py, hybrid.py, reproduce_orgym.py) writes its
results file last and atomically (sc_jax.runlog.write_json: temporary file + os.replace), so a
run directory either holds a complete, parseable results file (the job finished) or none (the job
never finished, or died half-way: it is redone). Each entry's `run()` calls `resume_or_none` first,
before it opens metrics.jsonl, so a finished job's files are never touched:

    stored = resume_or_none(full, run_dir, "results.json", "[train]")
    if stored is not None:
        return stored

The top-level config key `resume` (default true) turns the skip off (`resume=false` redoes the
job and overwrites its files). Sweep directories are named by the job's overrides
(`hydra.sweep.subdir: ${hydra.job.override_dirname}`), so rerunning the remaining seeds of an
interrupted sweep into the same `hydra.sweep.dir` lands each job in its own directory; see
docs/sweeps.md.
"""
from __future__ import annotations

import itertools
import json
import sys
from pathlib import Path
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.checks import check_bool
from sc_jax.env.wrappers import SIGMA_INDEX, with_scenario
from sc_jax.errors import ConfigError

RESULTS_FILES = ("results.json", "evaluation.json")  # train/hybrid/reproduce_orgym, evaluate


def load_results(run_dir, results_name: str = "results.json"):
    """The stored results of a finished job (parsed JSON), or None when the file is missing or
    does not parse (a job that never finished)."""
    path = Path(run_dir) / results_name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def finished(run_dir, results_name: str = "results.json") -> bool:
    """Whether `run_dir` holds a complete results file (it exists and parses as JSON)."""
    return load_results(run_dir, results_name) is not None


def resume_flag(cfg: Mapping[str, Any]) -> bool:
    """The `resume` key (default true); anything but a boolean is a ConfigError."""
    return check_bool("resume", cfg.get("resume", True), "true or false")


def resume_or_none(cfg: Mapping[str, Any], run_dir, results_name: str = "results.json",
                   prefix: str = "[sc_jax]"):
    """The stored results when `cfg.resume` is true and `run_dir` already holds a complete
    `results_name` (the caller returns them without running); else None (the caller runs).

    The skip is announced on stderr and in the Hydra job log (logger "sc_jax.runlog")."""
    if not resume_flag(cfg):
        return None
    stored = load_results(run_dir, results_name)
    if stored is None:
        return None
    message = f"{prefix} skipped: {run_dir} already holds {results_name} (resume=false redoes it)"
    from sc_jax.runlog import log_to_job_file

    logger_cfg = cfg.get("logger") or {}
    if logger_cfg.get("console", True):
        print(message, file=sys.stderr, flush=True)
    log_to_job_file(message)
    return stored


__all__ = ["RESULTS_FILES", "finished", "load_results", "resume_flag", "resume_or_none"]


# --- in-process grids: scalar sweeps as one vmapped, jitted call ----------------------------------

#: scalar keys an in-process grid may sweep (`grid:` in conf/train.yaml)
GRID_KEYS = ("cost_ratio", "sigma_max")


def grid_points(grid: Mapping[str, Any] | None) -> list[dict]:
    """Every combination of the grid's values, first key slowest: {key: value} per point;
    [{}] for an empty grid (keys set to None are not swept). Keys from GRID_KEYS; values non-empty lists of numbers > 0
    (sigma_max: integers >= 1)."""
    grid = {k: v for k, v in dict(grid or {}).items() if v is not None}  # null: not swept
    unknown = sorted(set(grid) - set(GRID_KEYS))
    if unknown:
        raise ConfigError(f"unknown grid key(s) {unknown}; allowed: {list(GRID_KEYS)}")
    values = {}
    for key, vals in grid.items():
        try:
            arr = np.asarray(vals, np.float64)
        except (TypeError, ValueError):
            arr = np.zeros((0, 0))
        ok = arr.ndim == 1 and arr.size > 0 and np.all(np.isfinite(arr)) and np.all(arr > 0)
        if key == "sigma_max":
            ok = ok and np.all(arr >= 1) and np.all(arr == np.round(arr))
        if not ok:
            allowed = "integers >= 1" if key == "sigma_max" else "finite numbers > 0"
            raise ConfigError(f"'grid.{key}' must be a non-empty list of {allowed}, got {vals!r}")
        values[key] = [int(v) if key == "sigma_max" else float(v) for v in arr]
    return [dict(zip(values, combo)) for combo in itertools.product(*values.values())]


def grid_params(params, points: list[dict]):
    """One product's params with a leading grid axis [G]: point i at its cost ratio (h = k / ratio,
    as every preset defines it) and forecast sigma_max; keys a point omits keep `params`' value."""
    ratio = jnp.asarray([p.get("cost_ratio", float(params.cost_ratio)) for p in points], jnp.float32)
    sigma = jnp.asarray([p.get("sigma_max", float(params.forecast[SIGMA_INDEX])) for p in points], jnp.float32)
    by_point = jax.vmap(lambda r, s: with_scenario(params, r, s))(ratio, sigma)
    if not any("cost_ratio" in p for p in points):  # keep the env's own h (OR-Gym's is not k / ratio)
        by_point = by_point.replace(unit_holding_cost=jnp.broadcast_to(
            params.unit_holding_cost, by_point.unit_holding_cost.shape))
    return by_point
