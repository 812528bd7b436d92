"""The ratio-10 table (σ 1..9) of docs/hybrid_reproduction.md's "Capacity-aware brain targets" section,
exact semantics: the capped runs (ratio_10_details.json: σ 1 / 5 / 9; ratio_10_rest_details.json: the
other σ) against the grid's MIP-mixed and uncapped brain_safety_mip on the same evaluation episodes:
    python docs/measurements/brain_target_cap_200_skus/make_ratio_10_table.py"""
from pathlib import Path

from make_table import M, ec, mc, merged, mip_mixed, pd  # this folder's script

HERE = Path(__file__).resolve().parent


def refused(row):
    return " / ".join(str(int(x)) for x in row["exact"]["refused_units_per_stage"])


def main():
    capped = merged([HERE / "ratio_10_details.json", HERE / "ratio_10_rest_details.json"], "10")
    uncapped = merged([M / "brain_safety_mip_200_skus/ratio_10_details.json",
                       M / "brain_safety_mip_200_skus/warm_ratio_10_sigma_2_4_6_8_details.json"], "10")
    mip = mip_mixed("10")
    print("| σ | MIP-mixed | `fixed_safety_mip` (z) | `brain_safety_mip`, uncapped | capped 0.9 | `brain_or_mip` (chose) | "
          "`brain_or_mip` − MIP-mixed | capped − `fixed_safety_mip` | refused per stage: uncapped; capped; `brain_or_mip` |")
    print("|---|---|---|---|---|---|---|---|---|")
    for sigma in sorted(capped, key=int):
        c = capped[sigma]
        mm, f, b, u, bo = (ec(*r) for r in ((mip[sigma], "mip_mixed"), (c, "fixed_safety_mip"), (c, "brain_safety_mip"),
                                           (uncapped[sigma], "brain_safety_mip"), (c, "brain_or_mip")))
        z = c["fixed_safety_mip"]["exact"]["params"]["z"][0]
        chosen = c["brain_or_mip"]["exact"]["params"]["chosen"].replace("_safety_mip", "")
        print(f"| {sigma} | {mc(mm)} | {mc(f)} ({z:g}) | {mc(u)} | {mc(b)} | {mc(bo)} ({chosen}) | "
              f"{pd(bo, mm)} | {pd(b, f)} | {refused(uncapped[sigma]['brain_safety_mip'])}; "
              f"{refused(c['brain_safety_mip'])}; {refused(c['brain_or_mip'])} |")


if __name__ == "__main__":
    main()
