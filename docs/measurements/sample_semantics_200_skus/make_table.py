"""The tables of docs/hybrid_reproduction.md's "The sample's semantics at 200 SKUs" section:
    python docs/measurements/sample_semantics_200_skus/make_table.py
reads this folder's ratio_<r>_details.json (MIP-mixed, fixed_safety_mip with SKU 0's z, the brain capped
at 0.9) and tuned_ratio_<r>_details.json (constants tuned in the catalog), the same evaluation episodes."""
import json
from pathlib import Path

import numpy as np

from sc_jax.sample_metrics import PUBLISHED_MULTI_SKU, REFERENCE_REIMPLEMENTATION
from sc_jax.stats import mean_ci, paired_difference

HERE = Path(__file__).resolve().parent


def load(name):
    path = HERE / name
    return json.loads(path.read_text())["per_episode"]["multi_sku"] if path.exists() else {}


def values(row, metric):
    return np.asarray(row["sample"][metric], float)


def cell(a, scale):
    m, c = mean_ci(a)
    return f"{m / scale:,.1f} ± {c / scale:,.1f}"


#: the two tables: (metric, scale, heading)
METRIC_TABLES = (("notebook_cost", 1.0, "the 200-SKU figure's metric"),
                 ("env_cost", 1e3, "env cost per episode, thousands"))


def published_mip_mixed(ratio: str, sigma: str) -> str:
    """' (published; re-implementation)' of MIP-mixed's figure value at a point."""
    pub = PUBLISHED_MULTI_SKU[int(ratio)]["mip_mixed"][int(sigma) - 1]
    re = REFERENCE_REIMPLEMENTATION[f"mip_mixed_multi_sku_r{ratio}"].get(int(sigma))
    return f" ({pub}; {re})" if re is not None else f" ({pub})"


def diff(a, b, scale):
    d = paired_difference(a, b)
    return f"{d['mean'] / scale:+,.1f} ± {d['ci95'] / scale:,.1f} ({100 * d['mean'] / np.mean(b):+.1f}%)"


def main():
    for metric, scale, label in METRIC_TABLES:
        print(f"\n{label}\n")
        print("| ratio | σ | MIP-mixed (published; re-implementation) | `fixed_safety_mip`, SKU 0's z | brain, cap 0.9 | "
              "`fixed_safety_mip`, z tuned in the catalog | brain, cap tuned in the catalog | `brain_or_mip` (chose) | "
              "`brain_or_mip` − MIP-mixed | brain (cap tuned) − `fixed_safety_mip` (z tuned) |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for ratio in ("100", "10"):
            base, tuned = load(f"ratio_{ratio}_details.json").get(ratio, {}), load(f"tuned_ratio_{ratio}_details.json").get(ratio, {})
            for sigma in sorted(base, key=int):
                b, t = base[sigma], tuned.get(sigma, {})
                mm = values(b["mip_mixed"], metric)
                ref = published_mip_mixed(ratio, sigma) if metric == "notebook_cost" else ""
                cols = [f"{cell(mm, scale)}{ref}"]
                f0 = values(b["fixed_safety_mip"], metric)
                cols.append(f"{cell(f0, scale)} (z {b['fixed_safety_mip']['sample']['params']['z'][0]:g})")
                cols.append(cell(values(b["brain_safety_mip"], metric), scale))
                if t:
                    ft, bt = values(t["fixed_safety_mip"], metric), values(t["brain_safety_mip"], metric)
                    cols.append(f"{cell(ft, scale)} (z {t['fixed_safety_mip']['sample']['params']['z'][0]:g})")
                    cols.append(f"{cell(bt, scale)} (cap {t['brain_safety_mip']['sample']['params']['target_cap']:g})")
                    bo = values(t["brain_or_mip"], metric)
                    chosen = t["brain_or_mip"]["sample"]["params"]["chosen"].replace("_safety_mip", "")
                    cols += [f"{cell(bo, scale)} ({chosen})", diff(bo, mm, scale), diff(bt, ft, scale)]
                else:
                    cols += ["-"] * 5
                print(f"| {ratio} | {sigma} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
