"""The tables of docs/hybrid_reproduction.md's "One command under the exact semantics" subsection:
`+preset=exact_200_skus` run as one command (preset_details.json: the points it finished), against issue
#15's classical bar on the same evaluation episodes (MIP-mixed of the exact grid, integer orders, no margin;
the σ-rule and the fixed safety stock through the capacity stage from the cover-head run) and against the
earlier capped runs (brain_target_cap_200_skus: ratio 10 without a margin, ratio 100 with the preset's own
settings). The constant-target row (`fixed_safety_mip`) does not depend on the brain, so its difference to
the earlier run is the price of the allowance at ratio 10 and a reproducibility check at ratio 100; the
brain's rows are not compared (this run's brain, trained here, differs from those runs' checkpoint):
    python docs/measurements/exact_preset_200_skus/make_table.py"""
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "brain_target_cap_200_skus"))
from make_table import M, merged, mip_mixed  # noqa: E402 - brain_target_cap_200_skus/make_table.py

import make_bar_table as bar  # noqa: E402 - this folder's: the cells, differences and the JAX rows of the bar
from make_bar_table import cell, diff  # noqa: E402

METRICS = (("env_cost", 1e3, "env cost per episode, thousands (all 200 SKUs, all days; the exact semantics' headline)"),
           ("notebook_cost", 1.0, "the 200-SKU figure's metric (one day in ten)"))
BAR_JAX = bar.JAX_BAR


def values(row, metric):
    return bar.values(row, "exact", metric)


def refused(row):
    return " / ".join(str(int(x)) for x in row["exact"]["refused_units_per_stage"])


def main():
    preset_path = HERE / "preset_details.json"
    cover = M / "cover_head_200_skus/exact_details.json"
    earlier = {"10": merged([M / "brain_target_cap_200_skus/ratio_10_details.json",
                             M / "brain_target_cap_200_skus/ratio_10_rest_details.json"], "10"),
               "100": merged([M / "brain_target_cap_200_skus/ratio_100_details.json"], "100")}
    for metric, scale, label in METRICS:
        print(f"\n{label}\n")
        print("| ratio | σ | MIP-mixed: grid (integer) | MIP-mixed: preset | best of σ-rule / fixed safety + capacity "
              "stage | `fixed_safety_mip` (z) | − the earlier run | brain, capped 0.9 | `brain_or_mip` (chose) | "
              "`brain_or_mip` − MIP-mixed (grid) | refused per stage: `brain_or_mip`; brain; fixed; MIP-mixed | peak "
              "utilisation |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for ratio in ("100", "10"):
            preset, grid, jax_rows = (merged([preset_path], ratio), mip_mixed(ratio), merged([cover], ratio))
            for sigma in sorted(preset, key=int):
                p = preset[sigma]
                if "brain_or_mip" not in p:
                    continue
                bar = min((values(jax_rows[sigma][m], metric) for m in BAR_JAX), key=np.mean)
                bar_name = min(BAR_JAX, key=lambda m: np.mean(values(jax_rows[sigma][m], metric)))
                grid_mm, bo = values(grid[sigma]["mip_mixed"], metric), values(p["brain_or_mip"], metric)
                fixed = values(p["fixed_safety_mip"], metric)
                before = earlier[ratio].get(sigma, {}).get("fixed_safety_mip")
                chosen = p["brain_or_mip"]["exact"]["params"]["chosen"].replace("_safety_mip", "")
                z = p["fixed_safety_mip"]["exact"]["params"]["z"][0]
                peak = max(max(p[m]["exact"]["peak_utilisation_per_stage"]) for m in p)
                cols = [cell(grid_mm, scale), cell(values(p["mip_mixed"], metric), scale),
                        f"{cell(bar, scale)} ({bar_name.replace('_alloc', '')})", f"{cell(fixed, scale)} ({z:g})",
                        "-" if before is None else diff(fixed, values(before, metric), scale),
                        cell(values(p["brain_safety_mip"], metric), scale), f"**{cell(bo, scale)}** ({chosen})",
                        diff(bo, grid_mm, scale),
                        "; ".join(refused(p[m]) for m in ("brain_or_mip", "brain_safety_mip", "fixed_safety_mip",
                                                          "mip_mixed")),
                        f"{peak:.3f}"]
                print(f"| {ratio} | {sigma} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
