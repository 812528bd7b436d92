"""The tables of docs/hybrid_reproduction.md's "A floor and the start-up" subsection (the sample's
semantics at 200 SKUs, multi_sku.mip_target_floors and multi_sku.target_start_day, with the guard):
    python docs/measurements/sample_semantics_200_skus/make_floor_table.py
reads this folder's MIP-mixed runs (as make_guard_table.py), the guarded runs without a floor
(guard_ratio_<r>_*_details.json) and those with floors and the start day (floor_ratio_<r>_*_details.json),
all on the same evaluation episodes."""
from make_guard_table import mip, refused, rows  # this folder's scripts
from make_table import METRIC_TABLES, cell, diff, values

from sc_jax.sample_metrics import PUBLISHED_MULTI_SKU

guard = rows("guard_ratio_*_details.json")
floor = rows("floor_ratio_*_details.json")


def fixed_label(params):
    z, f = params["z"][0], params.get("floor", 0)
    return f"z {z:g}, floor {f}"


def mip_rows(g, metric, scale):
    """((fixed, brain, brain_or_mip) per-episode values, their three cells: each with its tuned
    (z, floor), cap, or the row brain_or_mip chose) of one point's MIP rows."""
    f, b, bo = (values(g[m], metric) for m in ("fixed_safety_mip", "brain_safety_mip", "brain_or_mip"))
    chosen = g["brain_or_mip"]["sample"]["params"]["chosen"].replace("_safety_mip", "")
    return (f, b, bo), [f"{cell(f, scale)} ({fixed_label(g['fixed_safety_mip']['sample']['params'])})",
                        f"{cell(b, scale)} (cap {g['brain_safety_mip']['sample']['params']['target_cap']:g})",
                        f"{cell(bo, scale)} ({chosen})"]


def main():
    for metric, scale, label in METRIC_TABLES:
        print(f"\n{label}\n")
        print("| ratio | σ | MIP-mixed (published) | `brain_or_mip` without floor or start day | `fixed_safety_mip` "
              "(z, floor) | brain (cap) | `brain_or_mip` (chose) | `brain_or_mip` − MIP-mixed | − without floor | "
              "brain − `fixed_safety_mip` | refused (brain_or_mip) | published brain+MIP |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for ratio in ("100", "10"):
            for sigma in sorted(floor.get(ratio, {}), key=int):
                g = floor[ratio][sigma]
                mm = values(mip[ratio][sigma]["mip_mixed"], metric)
                old = values(guard[ratio][sigma]["brain_or_mip"], metric)
                (f, b, bo), mip_cells = mip_rows(g, metric, scale)
                pub = PUBLISHED_MULTI_SKU[int(ratio)]
                cols = [f"{cell(mm, scale)}" + (f" ({pub['mip_mixed'][int(sigma) - 1]})" if metric == "notebook_cost" else ""),
                        cell(old, scale), *mip_cells, diff(bo, mm, scale), diff(bo, old, scale), diff(b, f, scale),
                        refused(g["brain_or_mip"]),
                        str(pub["brain_mip"][int(sigma) - 1]) if metric == "notebook_cost" else "-"]
                print(f"| {ratio} | {sigma} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main()
