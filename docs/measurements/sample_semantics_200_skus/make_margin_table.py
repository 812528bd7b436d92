"""The table of docs/hybrid_reproduction.md's "Refusing only the excess" subsection on the capacity margin
z = 4 (ratio 100 σ 7-9, sample semantics, 200 SKUs): the floor runs under the env's largest_remainder rule with
mip_mixed.capacity_margin_z=4 (margin_4_ratio_100_details.json) against the same runs with z = 2
(remainder_ratio_100_*_details.json) and MIP-mixed (as make_guard_table.py), on the same evaluation episodes:
    python docs/measurements/sample_semantics_200_skus/make_margin_table.py"""
from make_floor_table import mip_rows
from make_guard_table import mip, refused, rows  # this folder's scripts
from make_table import METRIC_TABLES, cell, diff, values

margin_2 = rows("remainder_ratio_100_*_details.json")["100"]
margin_4 = rows("margin_4_ratio_100*_details.json")["100"]


def main():
    for metric, scale, label in METRIC_TABLES:
        print(f"\n{label}\n")
        print("| σ | MIP-mixed | `brain_or_mip`, z = 2 | `fixed_safety_mip` (z, floor), z = 4 | brain (cap), z = 4 | "
              "`brain_or_mip` (chose), z = 4 | − MIP-mixed | − z = 2 | brain − `fixed_safety_mip` | refused: z = 2 → 4 |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for sigma in sorted(margin_4, key=int):
            g, old_row = margin_4[sigma], margin_2[sigma]["brain_or_mip"]
            mm, old = values(mip["100"][sigma]["mip_mixed"], metric), values(old_row, metric)
            (f, b, bo), mip_cells = mip_rows(g, metric, scale)
            cols = [cell(mm, scale), cell(old, scale), *mip_cells, diff(bo, mm, scale), diff(bo, old, scale),
                    diff(b, f, scale),
                    f"{refused(old_row)} → {refused(g['brain_or_mip'])}"]
            print(f"| {sigma} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
