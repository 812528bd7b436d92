"""The tables of docs/hybrid_reproduction.md's "The sales lost to stock-outs" subsection (the sample's
semantics at 200 SKUs, conf/preset/sample_200_skus.yaml's settings plus mip_mixed.capacity_margin_lost=0.05):
lost_sales_ratio_<r>*_details.json against the same runs without it (margin_4_ratio_<r>*_details.json,
"One margin for every point") and MIP-mixed (as make_guard_table.py), all on the same evaluation episodes:
    python docs/measurements/sample_semantics_200_skus/make_lost_sales_table.py"""
from make_guard_table import rows  # this folder's scripts
from make_remainder_table import print_comparison


def main():
    print_comparison(rows("margin_4_ratio_*_details.json"), rows("lost_sales_ratio_*_details.json"),
                     "z = 4", ", z = 4 + lost 0.05", "z = 4", "z = 4 → + lost 0.05")


if __name__ == "__main__":
    main()
