"""The tables of docs/hybrid_reproduction.md's "One margin for every point" subsection (the sample's semantics
at 200 SKUs, conf/preset/sample_200_skus.yaml's settings: the floor runs with mip_mixed.capacity_margin_z=4 at
ratios 10 and 100, σ 1..9): margin_4_ratio_<r>*_details.json against the same runs without it (the margin
z = 2 at ratio 100, none at ratio 10: remainder_ratio_<r>_*_details.json) and MIP-mixed (as
make_guard_table.py), all on the same evaluation episodes:
    python docs/measurements/sample_semantics_200_skus/make_one_margin_table.py"""
from make_guard_table import rows  # this folder's scripts
from make_remainder_table import print_comparison


def main():
    print_comparison(rows("remainder_ratio_*_details.json"), rows("margin_4_ratio_*_details.json"),
                     "z = 2 (ratio 100) / none (ratio 10)", ", z = 4", "before", "before → z = 4")


if __name__ == "__main__":
    main()
