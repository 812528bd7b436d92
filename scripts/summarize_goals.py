"""Issue #10's and #15's goals, read from reproduce_hybrid runs (docs/hybrid_reproduction.md).

    python scripts/summarize_goals.py RUN_DIR [RUN_DIR ...] [--row mip_then_brain] [--out summary.md]
    python scripts/summarize_goals.py RUN_DIR [RUN_DIR ...] --experiment multi_sku   # row: brain_safety_mip
    python scripts/summarize_goals.py RUN_DIR ... --experiment multi_sku --row brain_or_mip --ablation fixed_safety_mip

Reads each run dir's details.json (per-episode values; several dirs, e.g. one run per semantics
or per group of points, are merged; a method at a point in several dirs: the last dir's values)
and prints, per semantics and metric, one row per ratio and sigma: MIP-mixed, the best classical
policy (issue #15's bar, the lowest mean of mip_mixed, sigma_rule, fixed_safety and
fixed_safety_mip for the single SKU; of mip_mixed, sigma_rule_alloc and fixed_safety_alloc for
200 SKUs), the PPO brain + controller (brain_alloc), the judged row (`--row`, default brain_or_mip
/ brain_safety_mip), and paired differences on the same episodes (common random numbers): row -
best classical (mean ± 95% CI, and in % of the best), brain_alloc and the row against MIP-mixed
(in %, issue #10's goals), the row against its fixed-safety ablation (`--ablation`, default
fixed_safety / fixed_safety_alloc; paired, mean ± 95% CI and in %); for 200 SKUs also the row's refused units per stage (summed over the
episodes). A closing count per table says at how many points the row equals the best classical
(within 0.01%: float32 against float64 sums of the same orders), is above it with a CI clear of
0, inside the CI, or below.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from sc_jax.runlog import write_text_atomic
from sc_jax.stats import mean_ci, paired_difference

#: per experiment: issue #15's classical bar, the judged row by default, the fixed-safety ablation
EXPERIMENTS = {
    "single_sku": {"classical": ("mip_mixed", "sigma_rule", "fixed_safety", "fixed_safety_mip"),
                   "row": "brain_or_mip", "ablation": "fixed_safety"},
    "multi_sku": {"classical": ("mip_mixed", "sigma_rule_alloc", "fixed_safety_alloc"),
                  "row": "brain_safety_mip", "ablation": "fixed_safety_alloc"},
}
#: |paired mean difference| <= this x the best's mean counts as equal: a row replayed through the JAX
#: runner (float32 sums) and the same orders in the MIP runner (float64) differ by ~1e-6 relative
EQUAL_RTOL = 1e-4
METRICS = ("env_cost", "notebook_cost")


def load(run_dirs: list[Path], experiment: str = "single_sku") -> dict:
    """{sem: {ratio: {sigma: {method: {metric: values}}}}} merged over the runs' details.json
    (multi_sku: also "refused_units_per_stage")."""
    merged: dict = {}
    for run in run_dirs:
        path = run / "details.json"
        if not path.is_file():
            raise SystemExit(f"no details.json in {run} (a finished reproduce_hybrid run dir is needed)")
        per_episode = json.loads(path.read_text())["per_episode"].get(experiment, {})
        for ratio, by_sigma in per_episode.items():
            for sigma, by_method in by_sigma.items():
                for method, by_sem in by_method.items():
                    for sem, entry in by_sem.items():
                        cell = merged.setdefault(sem, {}).setdefault(ratio, {}).setdefault(sigma, {})
                        cell[method] = {m: np.asarray(entry[m], np.float64) for m in METRICS if m in entry}
                        if "refused_units_per_stage" in entry:
                            cell[method]["refused"] = entry["refused_units_per_stage"]
    return merged


def _pct(diff: float, base: float) -> str:
    return f"{100 * diff / base:+.1f}%" if base else "n/a"


def _paired(a, b) -> str:
    """a - b on the same episodes: mean ± 95% CI (in % of b's mean)."""
    d = paired_difference(a, b)
    return f"{d['mean']:+.2f} ± {d['ci95']:.2f} ({_pct(d['mean'], float(np.mean(b)))})"


def table(cells: dict, metric: str, row: str | None = None, experiment: str = "single_sku",
          ablation: str | None = None) -> tuple[list[str], dict]:
    spec = EXPERIMENTS[experiment]
    row = row or spec["row"]
    ablation = ablation or spec["ablation"]
    head = ["ratio", "σ", "mip_mixed", "best classical", "brain_alloc", row,
            f"{row} − best (paired)", "brain_alloc vs MIP", f"{row} vs MIP", f"{row} vs {ablation}"]
    if experiment == "multi_sku":
        head.append(f"{row}: refused units per stage")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    count = {"above": 0, "inside": 0, "below": 0, "equal": 0, "above_points": []}
    for ratio in sorted(cells, key=float):
        for sigma in sorted(cells[ratio], key=int):
            c = cells[ratio][sigma]
            if not all(m in c and metric in c[m] for m in ("mip_mixed", row)):
                continue
            mean = lambda m: float(np.mean(c[m][metric]))
            present = [m for m in spec["classical"] if m in c and metric in c[m]]
            best = min(present, key=mean)
            d = paired_difference(c[row][metric], c[best][metric])
            if abs(d["mean"]) <= EQUAL_RTOL * abs(mean(best)):
                count["equal"] += 1
            elif d["mean"] - d["ci95"] > 0:
                count["above"] += 1
                count["above_points"].append(f"ratio {float(ratio):g} σ {sigma} ({_pct(d['mean'], mean(best))})")
            elif d["mean"] + d["ci95"] < 0:
                count["below"] += 1
            else:
                count["inside"] += 1
            fmt = lambda m: "{:.2f} ± {:.2f}".format(*mean_ci(c[m][metric])) if m in c else "-"
            mip = mean("mip_mixed")
            lines.append(" | ".join([
                f"| {float(ratio):g}", sigma, fmt("mip_mixed"), f"{fmt(best)} ({best})", fmt("brain_alloc"),
                fmt(row), f"{d['mean']:+.2f} ± {d['ci95']:.2f} ({_pct(d['mean'], mean(best))})",
                _pct(mean("brain_alloc") - mip, mip) if "brain_alloc" in c else "-",
                _pct(mean(row) - mip, mip),
                _paired(c[row][metric], c[ablation][metric]) if ablation in c and metric in c[ablation] else "-",
            ] + ([" / ".join(f"{u:,}" for u in c[row]["refused"]) if "refused" in c[row] else "-"]
                 if experiment == "multi_sku" else [])) + " |")
    return lines, count


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="reproduce_hybrid run dirs (details.json)")
    parser.add_argument("--experiment", choices=sorted(EXPERIMENTS), default="single_sku",
                        help="single_sku (one SKU) or multi_sku (the SKUs sharing capacity)")
    parser.add_argument("--row", default=None,
                        help="the row judged against the best classical (default brain_or_mip / brain_safety_mip)")
    parser.add_argument("--ablation", default=None,
                        help="the row's ablation, compared paired (default fixed_safety / fixed_safety_alloc)")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables to this markdown file")
    args = parser.parse_args(argv)
    merged = load(args.runs, args.experiment)
    args.row = args.row or EXPERIMENTS[args.experiment]["row"]
    found = {m for by_ratio in merged.values() for by_sigma in by_ratio.values() for c in by_sigma.values() for m in c}
    if args.row not in found:
        raise SystemExit(f"--row {args.row!r} is in none of the runs' details.json; rows there: {sorted(found)}")
    out = []
    for sem in sorted(merged):
        for metric in METRICS:
            lines, count = table(merged[sem], metric, args.row, args.experiment, args.ablation)
            out += [f"## {sem} semantics, {metric}", ""] + lines + [
                "", f"{args.row} against the best classical: equal at {count['equal']}, below (CI clear of 0) at "
                f"{count['below']}, inside the CI at {count['inside']}, above (CI clear of 0) at {count['above']} points"
                + (": " + ", ".join(count["above_points"]) if count["above_points"] else "") + ".", ""]
    text = "\n".join(out)
    print(text)
    if args.out is not None:
        write_text_atomic(args.out, text + "\n")


if __name__ == "__main__":
    main()
