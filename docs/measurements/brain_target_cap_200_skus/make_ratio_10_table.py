"""The ratio-10 table (σ 1..9) of docs/hybrid_reproduction.md's "Capacity-aware brain targets" section,
exact semantics: the capped runs (ratio_10_details.json: σ 1 / 5 / 9; ratio_10_rest_details.json: the
other σ) against the grid's MIP-mixed and uncapped brain_safety_mip on the same evaluation episodes:
    python docs/measurements/brain_target_cap_200_skus/make_ratio_10_table.py"""
import json
from pathlib import Path

import numpy as np

from sc_jax.stats import mean_ci, paired_difference

HERE = Path(__file__).resolve().parent
MEASUREMENTS = HERE.parent


def merged(*paths, ratio="10"):
    """{sigma: {method: per-episode record}} of `ratio` over the files."""
    out = {}
    for path in paths:
        for sigma, methods in json.loads(Path(path).read_text())["per_episode"]["multi_sku"].get(ratio, {}).items():
            out.setdefault(sigma, {}).update(methods)
    return out


capped = merged(HERE / "ratio_10_details.json", HERE / "ratio_10_rest_details.json")
uncapped = merged(MEASUREMENTS / "brain_safety_mip_200_skus/ratio_10_details.json",
                  MEASUREMENTS / "brain_safety_mip_200_skus/warm_ratio_10_sigma_2_4_6_8_details.json")
mip = merged(MEASUREMENTS / "mip_mixed_200_skus_exact/details.json",
             MEASUREMENTS / "mip_mixed_200_skus_exact_warm/sigma_2_4_6_8_details.json")


def env_cost(row):
    return np.asarray(row["exact"]["env_cost"], np.float64)


def cell(values):
    mean, ci = mean_ci(values)
    return f"{mean / 1e3:.1f} ± {ci / 1e3:.1f}"


def diff(a, b):
    d = paired_difference(a, b)
    return f"{d['mean'] / 1e3:+.1f} ± {d['ci95'] / 1e3:.1f} ({100 * d['mean'] / np.mean(b):+.1f}%)"


def refused(row):
    return " / ".join(str(int(x)) for x in row["exact"]["refused_units_per_stage"])


def main():
    print("| σ | MIP-mixed | `fixed_safety_mip` (z) | `brain_safety_mip`, uncapped | capped 0.9 | `brain_or_mip` (chose) | "
          "`brain_or_mip` − MIP-mixed | capped − `fixed_safety_mip` | refused per stage: uncapped; capped; `brain_or_mip` |")
    print("|---|---|---|---|---|---|---|---|---|")
    for sigma in sorted(capped, key=int):
        c = capped[sigma]
        mm, f, b, u, bo = (env_cost(r) for r in (mip[sigma]["mip_mixed"], c["fixed_safety_mip"],
                                                  c["brain_safety_mip"], uncapped[sigma]["brain_safety_mip"],
                                                  c["brain_or_mip"]))
        z = c["fixed_safety_mip"]["exact"]["params"]["z"][0]
        chosen = c["brain_or_mip"]["exact"]["params"]["chosen"].replace("_safety_mip", "")
        print(f"| {sigma} | {cell(mm)} | {cell(f)} ({z:g}) | {cell(u)} | {cell(b)} | {cell(bo)} ({chosen}) | "
              f"{diff(bo, mm)} | {diff(b, f)} | {refused(uncapped[sigma]['brain_safety_mip'])}; "
              f"{refused(c['brain_safety_mip'])}; {refused(c['brain_or_mip'])} |")


if __name__ == "__main__":
    main()
