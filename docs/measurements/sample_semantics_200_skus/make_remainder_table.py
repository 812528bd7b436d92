"""The tables of docs/hybrid_reproduction.md's "Refusing only the excess" subsection (the sample's
semantics at 200 SKUs, the floor and start-day runs again under the env's `overflow_rule`
largest_remainder, the default since 2026-11-29):
    python docs/measurements/sample_semantics_200_skus/make_remainder_table.py
reads this folder's MIP-mixed runs (as make_guard_table.py: they refused nothing, so both rules give
them), the floor runs under the earlier rule (floor_ratio_<r>_*_details.json) and the same runs
under the new one (remainder_ratio_<r>_*_details.json), all on the same evaluation episodes."""
from make_floor_table import mip_rows
from make_guard_table import mip, refused, rows  # this folder's scripts
from make_table import METRIC_TABLES, cell, diff, values

from sc_jax.sample_metrics import PUBLISHED_MULTI_SKU


def print_comparison(before: dict, after: dict, before_label: str, after_label: str, delta_label: str,
                     refused_label: str):
    """Per metric, one table of every point of `after` ({ratio: {sigma: rows}}, the floor runs' MIP
    rows) against MIP-mixed, `before`'s brain_or_mip on the same episodes and the published figure."""
    for metric, scale, label in METRIC_TABLES:
        print(f"\n{label}\n")
        print(f"| ratio | σ | MIP-mixed (published) | `brain_or_mip`, {before_label} | `fixed_safety_mip` (z, floor){after_label} | "
              f"brain (cap){after_label} | `brain_or_mip` (chose){after_label} | `brain_or_mip` − MIP-mixed | − {delta_label} | "
              f"brain − `fixed_safety_mip` | refused: {refused_label} | published brain+MIP |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for ratio in ("100", "10"):
            for sigma in sorted(after.get(ratio, {}), key=int):
                g, old_row = after[ratio][sigma], before[ratio][sigma]["brain_or_mip"]
                mm, old = values(mip[ratio][sigma]["mip_mixed"], metric), values(old_row, metric)
                (f, b, bo), mip_cells = mip_rows(g, metric, scale)
                pub = PUBLISHED_MULTI_SKU[int(ratio)]
                notebook = metric == "notebook_cost"
                cols = [cell(mm, scale) + (f" ({pub['mip_mixed'][int(sigma) - 1]})" if notebook else ""),
                        cell(old, scale), *mip_cells, diff(bo, mm, scale), diff(bo, old, scale), diff(b, f, scale),
                        f"{refused(old_row)} → {refused(g['brain_or_mip'])}",
                        str(pub["brain_mip"][int(sigma) - 1]) if notebook else "-"]
                print(f"| {ratio} | {sigma} | " + " | ".join(cols) + " |")


def main():
    print_comparison(rows("floor_ratio_*_details.json"), rows("remainder_ratio_*_details.json"),
                     "rule floor", "", "rule floor", "rule floor → largest remainder")


if __name__ == "__main__":
    main()
