"""Gather a Hydra multirun into one table and one figure:

    python experiments/aggregate.py multirun/train/<date>_<time> [--metric eval.mean_reward] [--x seed] [--out DIR]
                                    [--wandb [offline|online]]

Walks every job directory under the multirun dir (any depth: a job is a folder holding
`.hydra/overrides.yaml`), reads its overrides and its results file (results.json for train,
hybrid and reproduce_orgym; evaluation.json for evaluate), and flattens the numeric leaves of the
results into dotted columns (lists of up to MAX_LIST numbers become `name.0`, `name.1`, ...;
longer lists such as learning curves are left out). Writes, atomically, into `--out` (default:
the multirun dir):
- aggregate.csv: one row per finished job: its dir, its override values, every numeric column;
- aggregate.md: the same rows with the swept keys, the metric and its CI column (the overrides
  shared by every job on one line above);
- aggregate.png: the metric against the first swept key (`--x`), one line per combination of the
  other swept keys, with error bars from the matching `*ci95*` column where the jobs carry one.
Jobs without a results file (unfinished) are listed and left out. Works for every entry point
(train, evaluate, hybrid, reproduce_orgym), and for a train.py job with an in-process `grid`
(give its run dir): each grid point is a row, its values in `grid.<key>` columns. Bad inputs
raise sc_jax.errors.ConfigError.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import sys
from pathlib import Path

import yaml

from sc_jax.errors import ConfigError
from sc_jax.runlog import write_text_atomic
from sc_jax.sweep import RESULTS_FILES, load_results

MAX_LIST = 16
DEFAULT_METRICS = ("eval.mean_reward",)  # tried in order when --metric is not given


def flatten(value, prefix: str = "", out: dict | None = None) -> dict:
    """Numeric leaves of nested dicts/lists as {dotted.name: float} (bools and strings skipped;
    lists longer than MAX_LIST skipped)."""
    out = {} if out is None else out
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, list):
        if len(value) <= MAX_LIST:
            for i, v in enumerate(value):
                flatten(v, f"{prefix}.{i}" if prefix else str(i), out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = float(value)
    elif isinstance(value, str) and value in ("nan", "inf", "-inf"):  # runlog writes non-finite floats as strings
        out[prefix] = float(value)
    return out


def parse_override(line: str) -> tuple[str, object]:
    key, _, value = str(line).partition("=")
    key = key.lstrip("+~")
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError:
        parsed = value
    if not isinstance(parsed, (int, float, str, bool)) or parsed is None:
        parsed = value  # lists, dicts, null: keep the text
    return key, parsed


def collect(multirun_dir) -> tuple[list[dict], list[str]]:
    """(finished jobs, unfinished job dirs). A job: {"dir", "overrides": {key: value}, "results": {col: float}}."""
    root = Path(multirun_dir)
    if not root.is_dir():
        raise ConfigError(f"multirun dir {str(root)!r} is not a directory (give the hydra.sweep.dir of a `-m` run)")
    jobs, unfinished = [], []
    for overrides_file in sorted(root.rglob(".hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        stored, name = None, None
        for name in RESULTS_FILES:
            stored = load_results(job_dir, name)
            if stored is not None:
                break
        rel = str(job_dir.relative_to(root)) or "."
        if stored is None:
            unfinished.append(rel)
            continue
        lines = yaml.safe_load(overrides_file.read_text()) or []
        overrides = dict(parse_override(line) for line in lines)
        if isinstance(stored, dict) and isinstance(stored.get("grid_points"), list):
            # an in-process grid (train.py `grid`): one row per point, its keys as `grid.<key>`
            shared = {k: v for k, v in stored.items() if k not in ("grid_points", "grid")}
            for point in stored["grid_points"]:
                swept = {f"grid.{k}": point[k] for k in stored.get("grid", {}) if k in point}
                jobs.append({"dir": rel, "results_file": name, "overrides": {**overrides, **swept},
                             "results": flatten({**shared, **point})})
            continue
        jobs.append({"dir": rel, "results_file": name, "overrides": overrides, "results": flatten(stored)})
    if not jobs:
        raise ConfigError(f"no finished jobs under {str(root)!r}: no job dir (with .hydra/overrides.yaml) holds "
                          f"one of {list(RESULTS_FILES)}" + (f"; unfinished: {unfinished}" if unfinished else ""))
    return jobs, unfinished


def override_keys(jobs) -> tuple[list[str], list[str]]:
    """(every override key in first-seen order, the swept ones: more than one value across jobs)."""
    keys = []
    for job in jobs:
        keys += [k for k in job["overrides"] if k not in keys]
    swept = [k for k in keys if len({repr(job["overrides"].get(k)) for job in jobs}) > 1]
    return keys, swept


def result_columns(jobs) -> list[str]:
    columns = []
    seen = set()
    for job in jobs:
        for col in job["results"]:
            if col not in seen:
                seen.add(col)
                columns.append(col)
    return columns


def ci_column(metric: str, columns) -> str | None:
    """The `*ci95*` column beside `metric` (same parent): name with mean->ci95, name_ci95, or the
    parent's only ci95 column."""
    parent, _, name = metric.rpartition(".")
    siblings = [c for c in columns if c.rpartition(".")[0] == parent and "ci95" in c.rpartition(".")[2]]
    for candidate in (name.replace("mean", "ci95"), f"{name}_ci95", "ci95"):
        full = f"{parent}.{candidate}" if parent else candidate
        if full in siblings and full != metric:
            return full
    return siblings[0] if len(siblings) == 1 and siblings[0] != metric else None


def choose_metric(metric: str | None, columns) -> str:
    if metric is not None:
        if metric not in columns:
            raise ConfigError(f"unknown metric {metric!r}; available: {columns}")
        return metric
    for name in DEFAULT_METRICS:
        if name in columns:
            return name
    means = [c for c in columns if "mean" in c.rpartition(".")[2] and "ci95" not in c]
    return (means or columns)[0]


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def write_tables(jobs, keys, swept, metric, ci, columns, out: Path) -> tuple[Path, Path]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    # a result column named like an override key (e.g. eval.num_paths) is written as results.<name>
    writer.writerow(["job"] + keys + [f"results.{c}" if c in keys else c for c in columns])
    for job in jobs:
        writer.writerow([job["dir"]] + [job["overrides"].get(k, "") for k in keys]
                        + [repr(job["results"][c]) if c in job["results"] else "" for c in columns])
    write_text_atomic(out / "aggregate.csv", buf.getvalue())
    shown = swept + [metric] + ([ci] if ci else [])
    fixed = [f"{k}={_cell(jobs[0]['overrides'].get(k))}" for k in keys if k not in swept]
    lines = [f"{len(jobs)} finished jobs; all {len(columns)} result columns in aggregate.csv",
             f"Same in every job: {', '.join(fixed) if fixed else '(nothing)'}", "",
             "| " + " | ".join(shown) + " |", "|" + "---|" * len(shown)]
    for job in jobs:
        row = [_cell(job["overrides"].get(k)) for k in swept]
        row += [_cell(job["results"].get(c)) for c in ([metric] + ([ci] if ci else []))]
        lines.append("| " + " | ".join(row) + " |")
    write_text_atomic(out / "aggregate.md", "\n".join(lines) + "\n")
    return out / "aggregate.csv", out / "aggregate.md"


def _sort_key(value):
    return (0, value, "") if isinstance(value, (int, float)) else (1, 0, str(value))


def plot(jobs, swept, x_key, metric, ci, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    others = [k for k in swept if k != x_key]
    groups: dict[tuple, list] = {}
    for job in jobs:
        if metric not in job["results"]:
            continue
        label = tuple(job["overrides"].get(k) for k in others)
        x = job["overrides"].get(x_key) if x_key else jobs.index(job)
        groups.setdefault(label, []).append((x, job["results"][metric],
                                             job["results"].get(ci) if ci else None))
    xs = sorted({p[0] for pts in groups.values() for p in pts}, key=_sort_key)
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for label, pts in sorted(groups.items(), key=lambda kv: [_sort_key(v) for v in kv[0]]):
        pts.sort(key=lambda p: _sort_key(p[0]))
        px = [p[0] if numeric else xs.index(p[0]) for p in pts]
        py = [p[1] for p in pts]
        err = [p[2] if p[2] is not None and math.isfinite(p[2]) else 0.0 for p in pts]
        name = ", ".join(f"{k}={v}" for k, v in zip(others, label)) or metric
        if ci and any(p[2] is not None for p in pts):
            ax.errorbar(px, py, yerr=err, marker="o", capsize=3, label=name)
        else:
            ax.plot(px, py, marker="o", label=name)
    if not numeric:
        ax.set_xticks(range(len(xs)), [str(x) for x in xs], rotation=30, ha="right")
    ax.set_xlabel(x_key or "job")
    ax.set_ylabel(metric + (" (bars: 95% CI)" if ci else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = out / "aggregate.png"
    tmp = out / f".aggregate.{os.getpid()}.tmp.png"
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def aggregate(multirun_dir, metric: str | None = None, out=None, x: str | None = None) -> dict:
    """Write aggregate.csv/.md/.png for `multirun_dir`; returns a summary (paths, keys, metric)."""
    jobs, unfinished = collect(multirun_dir)
    keys, swept = override_keys(jobs)
    columns = result_columns(jobs)
    metric = choose_metric(metric, columns)
    ci = ci_column(metric, columns)
    if x is not None and x not in keys:
        raise ConfigError(f"unknown --x key {x!r}; the jobs' override keys: {keys}")
    x_key = x or (swept[0] if swept else (keys[0] if keys else None))
    out = Path(out) if out is not None else Path(multirun_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = write_tables(jobs, keys, swept, metric, ci, columns, out)
    png = plot(jobs, swept, x_key, metric, ci, out)
    return {"jobs": len(jobs), "unfinished": unfinished, "keys": keys, "swept": swept, "x": x_key,
            "metric": metric, "ci": ci, "csv": csv_path, "md": md_path, "png": png}


def sweep_group(multirun_dir) -> str:
    """The wandb group the sweep's jobs logged into (sc_jax.runlog.hydra_job): "<entry>:<sweep dir name>"."""
    root = Path(multirun_dir)
    for hydra_file in sorted(root.rglob(".hydra/hydra.yaml")):
        job = ((yaml.safe_load(hydra_file.read_text()) or {}).get("hydra") or {}).get("job") or {}
        if job.get("name"):
            return f"{job['name']}:{root.name}"
    return root.name


def log_to_wandb(summary: dict, multirun_dir, project: str = "sc_jax", mode: str = "offline"):
    """The aggregate table and figure as one wandb run (job_type "aggregate") in the sweep's group."""
    import wandb  # only when asked (--wandb)

    with open(summary["csv"], newline="") as f:
        rows = list(csv.reader(f))
    run = wandb.init(project=project, mode=mode, group=sweep_group(multirun_dir), job_type="aggregate",
                     name="aggregate", dir=str(Path(summary["csv"]).parent))
    run.log({"aggregate": wandb.Table(columns=rows[0], data=rows[1:]),
             **({"aggregate_plot": wandb.Image(str(summary["png"]))} if summary.get("png") else {})})
    run.finish()
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("multirun_dir", help="the hydra.sweep.dir of a `-m` run")
    parser.add_argument("--metric", help="result column to plot (dotted, e.g. eval.mean_reward); "
                                         "default: eval.mean_reward or the first *mean* column")
    parser.add_argument("--x", help="override key on the x axis (default: the first swept key)")
    parser.add_argument("--out", help="output folder (default: the multirun dir)")
    parser.add_argument("--wandb", nargs="?", const="offline", choices=("offline", "online"),
                        help="also log the table and figure to wandb, in the sweep's group (default mode offline)")
    parser.add_argument("--wandb-project", default="sc_jax")
    args = parser.parse_args(argv)
    try:
        summary = aggregate(args.multirun_dir, args.metric, args.out, args.x)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{summary['jobs']} finished jobs (swept: {summary['swept']}); metric {summary['metric']}"
          + (f" +- {summary['ci']}" if summary["ci"] else "") + f" against {summary['x']}")
    if summary["unfinished"]:
        print(f"left out {len(summary['unfinished'])} unfinished job(s): {summary['unfinished']}")
    print(f"wrote {summary['csv']}, {summary['md']}, {summary['png']}")
    if args.wandb:
        log_to_wandb(summary, args.multirun_dir, args.wandb_project, args.wandb)
        print(f"logged to wandb ({args.wandb}), group {sweep_group(args.multirun_dir)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
