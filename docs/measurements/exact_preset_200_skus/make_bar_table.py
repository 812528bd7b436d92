"""Issue #15's 200-SKU table, both semantics: the one-command presets' rows against the whole classical bar
(MIP-mixed as the issue specifies it, without a capacity margin; the σ-rule and the fixed safety stock through
sc_jax's capacity stage, catalog-tuned, from the cover-head run) and the sample's published brain + MIP, all on
seed 0's 10 evaluation episodes (common random numbers):
    python docs/measurements/exact_preset_200_skus/make_bar_table.py [exact] [sample]
- exact: `+preset=exact_200_skus` as one command (preset_details.json), MIP-mixed from the exact grid
  (integer orders);
- sample: `+preset=sample_200_skus` (its points run by parts: sample_semantics_200_skus/per_ratio_*,
  lost_sales_ratio_100 at ratio 100 σ 5-9, and at σ 1, where the forecast σ and so every margin is 0, the
  margin_4 runs of the same settings), MIP-mixed from that folder's runs without a margin."""
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
M = HERE.parent
sys.path.insert(0, str(M / "brain_target_cap_200_skus"))
from make_table import mip_mixed  # noqa: E402 - brain_target_cap_200_skus/make_table.py

from sc_jax.sample_metrics import PUBLISHED_MULTI_SKU  # noqa: E402
from sc_jax.stats import mean_ci, paired_difference  # noqa: E402

JAX_BAR = ("sigma_rule_alloc", "fixed_safety_alloc")
PRESET_ROWS = ("fixed_safety_mip", "brain_safety_mip", "brain_or_mip")
METRICS = (("env_cost", 1e3, "env cost per episode, thousands (all 200 SKUs, all days)"),
           ("notebook_cost", 1.0, "the 200-SKU figure's metric (one day in ten; the sample's figure)"))


def rows(paths):
    """{ratio: {sigma: {method: record}}} merged over the files (later files win)."""
    out = {}
    for path in paths:
        for ratio, by_sigma in json.loads(Path(path).read_text())["per_episode"]["multi_sku"].items():
            for sigma, methods in by_sigma.items():
                out.setdefault(ratio, {}).setdefault(sigma, {}).update(methods)
    return out


def sources(semantics):
    """(preset rows, MIP-mixed without a margin, JAX rows) per semantics: {ratio: {sigma: {method: record}}}."""
    jax_rows = rows([M / f"cover_head_200_skus/{semantics}_details.json"])
    if semantics == "exact":
        mip = {r: mip_mixed(r) for r in ("10", "100")}
        return rows([HERE / "preset_details.json"]), mip, jax_rows
    folder = M / "sample_semantics_200_skus"
    first = rows(sorted(folder.glob("margin_4_ratio_*_details.json")))  # σ 1: every margin is 0 there
    preset = {r: {"1": first[r]["1"]} for r in ("10", "100")}
    for r, by_sigma in rows([folder / "lost_sales_ratio_100_details.json",
                             *sorted(folder.glob("per_ratio_ratio_*_details.json"))]).items():
        preset[r].update(by_sigma)
    mip = rows([folder / "ratio_100_details.json", folder / "ratio_10_details.json",
                folder / "mip_mixed_rest_details.json"])
    return preset, mip, jax_rows


def values(row, semantics, metric):
    return np.asarray(row[semantics][metric], float)


def cell(a, scale):
    m, c = mean_ci(a)
    return f"{m / scale:,.1f} ± {c / scale:,.1f}"


def diff(a, b, scale):
    d = paired_difference(a, b)
    return f"{d['mean'] / scale:+,.1f} ± {d['ci95'] / scale:,.1f} ({100 * d['mean'] / np.mean(b):+.1f}%)"


def main(which=("exact", "sample")):
    for semantics in which:
        preset, mip, jax_rows = sources(semantics)
        for metric, scale, label in METRICS:
            print(f"\n{semantics} semantics, {label}\n")
            print("| ratio | σ | MIP-mixed | σ-rule + stage | fixed safety + stage | `fixed_safety_mip` | brain's targets "
                  "| `brain_or_mip` (chose) | `brain_or_mip` − best of the bar | refused (`brain_or_mip`) | "
                  "published brain + MIP |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for ratio in ("100", "10"):
                for sigma in sorted(preset.get(ratio, {}), key=int):
                    p = preset[ratio][sigma]
                    bar = {"MIP-mixed": values(mip[ratio][sigma]["mip_mixed"], semantics, metric),
                           **{m: values(jax_rows[ratio][sigma][m], semantics, metric) for m in JAX_BAR}}
                    best = min(bar, key=lambda m: np.mean(bar[m]))
                    bo = values(p["brain_or_mip"], semantics, metric)
                    chosen = p["brain_or_mip"][semantics]["params"]["chosen"].replace("_safety_mip", "")
                    published = (str(PUBLISHED_MULTI_SKU[int(ratio)]["brain_mip"][int(sigma) - 1])
                                 if semantics == "sample" and metric == "notebook_cost" else "-")
                    cols = [cell(bar["MIP-mixed"], scale), *(cell(bar[m], scale) for m in JAX_BAR),
                            *(cell(values(p[m], semantics, metric), scale) for m in PRESET_ROWS[:2]),
                            f"**{cell(bo, scale)}** ({chosen})",
                            f"{diff(bo, bar[best], scale)}" + ("" if best == "MIP-mixed" else f" ({best})"),
                            f"{int(np.sum(p['brain_or_mip'][semantics]['refused_units_per_stage'])):,}", published]
                    print(f"| {ratio} | {sigma} | " + " | ".join(cols) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or ("exact", "sample"))
