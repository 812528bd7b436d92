"""The σ 1..9 tables of docs/hybrid_reproduction.md's "The sample's semantics at 200 SKUs" section
(multi_sku.mip_mixed_guard):
    python docs/measurements/sample_semantics_200_skus/make_guard_table.py
reads this folder's MIP-mixed runs (ratio_<r>_details.json: σ 1 / 5 / 9; mip_mixed_rest_details.json:
the other σ) and the guarded runs (guard_ratio_<r>_*_details.json), all on the same evaluation episodes."""
import json
from pathlib import Path

import numpy as np

from sc_jax.sample_metrics import PUBLISHED_MULTI_SKU, REFERENCE_REIMPLEMENTATION
from sc_jax.stats import mean_ci, paired_difference

HERE = Path(__file__).resolve().parent


def rows(pattern):
    """{ratio: {sigma: {method: per-episode record}}} merged over the files matching pattern."""
    out = {}
    for path in sorted(HERE.glob(pattern)):
        for ratio, by_sigma in json.loads(path.read_text())["per_episode"]["multi_sku"].items():
            for sigma, methods in by_sigma.items():
                out.setdefault(ratio, {}).setdefault(sigma, {}).update(methods)
    return out


def values(row, metric):
    return np.asarray(row["sample"][metric], float)


def cell(a, scale):
    m, c = mean_ci(a)
    return f"{m / scale:,.1f} ± {c / scale:,.1f}"


def diff(a, b, scale):
    d = paired_difference(a, b)
    return f"{d['mean'] / scale:+,.1f} ± {d['ci95'] / scale:,.1f} ({100 * d['mean'] / np.mean(b):+.1f}%)"


def refused(row):
    return f"{int(np.sum(row['sample']['refused_units_per_stage'])):,}"


mip = {r: {**rows("ratio_*_details.json").get(r, {}), **rows("mip_mixed_rest_details.json").get(r, {})}
       for r in ("100", "10")}
guard = rows("guard_ratio_*_details.json")
for metric, scale, label in (("notebook_cost", 1.0, "the 200-SKU figure's metric"),
                             ("env_cost", 1e3, "env cost per episode, thousands")):
    print(f"\n{label}\n")
    print("| ratio | σ | MIP-mixed (published; re-implementation) | `fixed_safety_mip` (z) | brain (cap) | "
          "`brain_or_mip` (chose) | `brain_or_mip` − MIP-mixed | brain − `fixed_safety_mip` | refused (brain_or_mip) | "
          "published brain+MIP |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for ratio in ("100", "10"):
        for sigma in sorted(mip[ratio], key=int):
            mm = values(mip[ratio][sigma]["mip_mixed"], metric)
            ref = ""
            if metric == "notebook_cost":
                pub = PUBLISHED_MULTI_SKU[int(ratio)]["mip_mixed"][int(sigma) - 1]
                re = REFERENCE_REIMPLEMENTATION[f"mip_mixed_multi_sku_r{ratio}"].get(int(sigma))
                ref = f" ({pub}; {re})" if re is not None else f" ({pub})"
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
