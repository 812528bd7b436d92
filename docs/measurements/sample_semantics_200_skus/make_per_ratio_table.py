"""The tables of docs/hybrid_reproduction.md's "One command, nothing refused" subsection (the sample's semantics
at 200 SKUs, `+preset=sample_200_skus` with its per-ratio capacity margin: z = 4, plus the lost-sales allowance
0.1 over the echelon lead time at ratio 10 and 0.05 over each stage's own at ratio 100). The points run with
it: per_ratio_ratio_<r>_*_details.json, and at ratio 100 σ 5-9 lost_sales_ratio_100_details.json (the same
settings: the allowance 0.05 over each stage's own lead time); every row of those runs, MIP-mixed with the
same margin included. Against the preset's earlier runs with z = 4 alone (margin_4_ratio_<r>*_details.json)
and MIP-mixed without a margin (as make_guard_table.py), all on the same evaluation episodes:
    python docs/measurements/sample_semantics_200_skus/make_per_ratio_table.py"""
from make_floor_table import mip_rows
from make_guard_table import mip, refused, rows  # this folder's scripts
from make_table import METRIC_TABLES, cell, diff, values

from sc_jax.sample_metrics import PUBLISHED_MULTI_SKU


def main():
    before = rows("margin_4_ratio_*_details.json")
    after = rows("lost_sales_ratio_100_details.json")
    for ratio, by_sigma in rows("per_ratio_ratio_*_details.json").items():
        after.setdefault(ratio, {}).update(by_sigma)
    for metric, scale, label in METRIC_TABLES:
        print(f"\n{label}\n")
        print("| ratio | σ | MIP-mixed, no margin (published) | MIP-mixed, this margin | `brain_or_mip`, z = 4 | "
              "`fixed_safety_mip` (z, floor) | brain (cap) | `brain_or_mip` (chose) | `brain_or_mip` − MIP-mixed "
              "(no margin) | − z = 4 | refused: z = 4 → this margin (MIP-mixed) | "
              "published brain+MIP |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for ratio in ("100", "10"):
            for sigma in sorted(after.get(ratio, {}), key=int):
                g, old_row = after[ratio][sigma], before[ratio][sigma]["brain_or_mip"]
                plain, old = values(mip[ratio][sigma]["mip_mixed"], metric), values(old_row, metric)
                margin = values(g["mip_mixed"], metric)
                (_, _, bo), mip_cells = mip_rows(g, metric, scale)
                pub = PUBLISHED_MULTI_SKU[int(ratio)]
                notebook = metric == "notebook_cost"
                cols = [cell(plain, scale) + (f" ({pub['mip_mixed'][int(sigma) - 1]})" if notebook else ""),
                        cell(margin, scale), cell(old, scale), *mip_cells, diff(bo, plain, scale),
                        diff(bo, old, scale),
                        f"{refused(old_row)} → {refused(g['brain_or_mip'])} ({refused(g['mip_mixed'])})",
                        str(pub["brain_mip"][int(sigma) - 1]) if notebook else "-"]
                print(f"| {ratio} | {sigma} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
