"""The σ 1..9 tables of docs/hybrid_reproduction.md's "The sample's semantics at 200 SKUs" section
(multi_sku.mip_mixed_guard):
    python docs/measurements/sample_semantics_200_skus/make_guard_table.py
reads this folder's MIP-mixed runs (ratio_<r>_details.json: σ 1 / 5 / 9; mip_mixed_rest_details.json:
the other σ) and the guarded runs (guard_ratio_<r>_*_details.json), all on the same evaluation episodes."""
import json

import numpy as np
from make_table import HERE, METRIC_TABLES, cell, diff, published_mip_mixed, values  # this folder's script

from sc_jax.sample_metrics import PUBLISHED_MULTI_SKU


def rows(pattern):
    """{ratio: {sigma: {method: per-episode record}}} merged over the files matching pattern."""
    out = {}
    for path in sorted(HERE.glob(pattern)):
        for ratio, by_sigma in json.loads(path.read_text())["per_episode"]["multi_sku"].items():
            for sigma, methods in by_sigma.items():
                out.setdefault(ratio, {}).setdefault(sigma, {}).update(methods)
    return out


def refused(row):
    return f"{int(np.sum(row['sample']['refused_units_per_stage'])):,}"


mip = {r: {**rows("ratio_*_details.json").get(r, {}), **rows("mip_mixed_rest_details.json").get(r, {})}
       for r in ("100", "10")}
guard = rows("guard_ratio_*_details.json")
def main():
    for metric, scale, label in METRIC_TABLES:
        print(f"\n{label}\n")
        print("| ratio | σ | MIP-mixed (published; re-implementation) | `fixed_safety_mip` (z) | brain (cap) | "
              "`brain_or_mip` (chose) | `brain_or_mip` − MIP-mixed | brain − `fixed_safety_mip` | refused (brain_or_mip) | "
              "published brain+MIP |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for ratio in ("100", "10"):
            for sigma in sorted(mip[ratio], key=int):
                mm = values(mip[ratio][sigma]["mip_mixed"], metric)
                ref = published_mip_mixed(ratio, sigma) if metric == "notebook_cost" else ""
                cols = [f"{cell(mm, scale)}{ref}"]
                g = guard.get(ratio, {}).get(sigma)
                if g:
                    f, b, bo = (values(g[m], metric) for m in ("fixed_safety_mip", "brain_safety_mip", "brain_or_mip"))
                    chosen = g["brain_or_mip"]["sample"]["params"]["chosen"].replace("_safety_mip", "")
                    cols += [f"{cell(f, scale)} (z {g['fixed_safety_mip']['sample']['params']['z'][0]:g})",
                             f"{cell(b, scale)} (cap {g['brain_safety_mip']['sample']['params']['target_cap']:g})",
                             f"{cell(bo, scale)} ({chosen})", diff(bo, mm, scale), diff(b, f, scale),
                             refused(g["brain_or_mip"])]
                else:
                    cols += ["-"] * 6
                cols.append(str(PUBLISHED_MULTI_SKU[int(ratio)]["brain_mip"][int(sigma) - 1]) if metric == "notebook_cost"
                            else "-")
                print(f"| {ratio} | {sigma} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
