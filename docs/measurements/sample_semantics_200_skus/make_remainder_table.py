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

floor_rule = rows("floor_ratio_*_details.json")
remainder = rows("remainder_ratio_*_details.json")


def main():
    for metric, scale, label in METRIC_TABLES:
        print(f"\n{label}\n")
        print("| ratio | σ | MIP-mixed (published) | `brain_or_mip`, rule floor | `fixed_safety_mip` (z, floor) | "
              "brain (cap) | `brain_or_mip` (chose) | `brain_or_mip` − MIP-mixed | − rule floor | "
              "brain − `fixed_safety_mip` | refused: rule floor → largest remainder | published brain+MIP |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for ratio in ("100", "10"):
            for sigma in sorted(remainder.get(ratio, {}), key=int):
                g, old_row = remainder[ratio][sigma], floor_rule[ratio][sigma]["brain_or_mip"]
                mm = values(mip[ratio][sigma]["mip_mixed"], metric)
                old = values(old_row, metric)
                (f, b, bo), mip_cells = mip_rows(g, metric, scale)
                pub = PUBLISHED_MULTI_SKU[int(ratio)]
                cols = [f"{cell(mm, scale)}" + (f" ({pub['mip_mixed'][int(sigma) - 1]})" if metric == "notebook_cost" else ""),
                        cell(old, scale), *mip_cells, diff(bo, mm, scale), diff(bo, old, scale), diff(b, f, scale),
                        f"{refused(old_row)} → {refused(g['brain_or_mip'])}",
                        str(pub["brain_mip"][int(sigma) - 1]) if metric == "notebook_cost" else "-"]
                print(f"| {ratio} | {sigma} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
