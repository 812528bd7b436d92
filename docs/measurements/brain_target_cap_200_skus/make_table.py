"""The ratio-100 table of docs/hybrid_reproduction.md's "Capacity-aware brain targets" section:
python docs/measurements/brain_target_cap_200_skus/make_table.py docs/measurements/brain_target_cap_200_skus/ratio_100_details.json
(its helpers serve make_ratio_10_table.py too)"""
import json, sys
from pathlib import Path

import numpy as np

from sc_jax.stats import mean_ci, paired_difference

M = Path(__file__).resolve().parents[1]


def merged(paths, ratio):
    """{sigma: {method: per-episode record}} of `ratio` merged over the details files."""
    out = {}
    for path in paths:
        for sigma, methods in json.loads(Path(path).read_text())['per_episode']['multi_sku'].get(ratio, {}).items():
            out.setdefault(sigma, {}).update(methods)
    return out


def mip_mixed(ratio):
    """The exact-semantics grid's MIP-mixed runs of `ratio`, σ 1..9."""
    return merged([M / 'mip_mixed_200_skus_exact/details.json',
                   M / 'mip_mixed_200_skus_exact_warm/sigma_2_4_6_8_details.json'], ratio)


def ec(d, m): return np.asarray(d[m]['exact']['env_cost'], float)
def pd(a, b):
    d = paired_difference(a, b); return f"{d['mean']/1e3:+.1f} ± {d['ci95']/1e3:.1f} ({100*d['mean']/np.mean(b):+.1f}%)"
def mc(a):
    m, c = mean_ci(a); return f"{m/1e3:.1f} ± {c/1e3:.1f}"


def main():
    cap = merged([sys.argv[1]], '100')
    unc = merged([M / f'brain_safety_mip_200_skus/{f}' for f in ['warm_margin_2_ratio_100_sigma_1_8_details.json',
                                                                 'warm_margin_2_ratio_100_sigma_9_details.json']], '100')
    mip = mip_mixed('100')
    print("| σ | MIP-mixed | `fixed_safety_mip` (z) | `brain_safety_mip`, uncapped | capped 0.9 | capped − uncapped | capped − `fixed_safety_mip` | capped − MIP-mixed | `brain_or_mip` chose (training cost, thousands) | refused (capped) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for s in sorted(cap, key=int):
        c = cap[s]
        if 'brain_safety_mip' not in c: continue
        b = ec(c, 'brain_safety_mip'); f = ec(c, 'fixed_safety_mip'); u = ec(unc[s], 'brain_safety_mip'); mm = ec(mip[s], 'mip_mixed')
        z = c['fixed_safety_mip']['exact'].get('params', {}).get('z', ['?'])[0]
        ch = c.get('brain_or_mip', {}).get('exact', {})
        chosen = ch.get('params', {}).get('chosen', '-'); tc = ch.get('params', {}).get('train_cost', {})
        tcs = " / ".join(f"{v/1e3:.1f}" for v in tc.values())
        print(f"| {s} | {mc(mm)} | {mc(f)} ({z:g}) | {mc(u)} | **{mc(b)}** | {pd(b, u)} | {pd(b, f)} | {pd(b, mm)} | {chosen.replace('_safety_mip','')} ({tcs}) | {' / '.join(str(x) for x in c['brain_safety_mip']['exact']['refused_units_per_stage'])} |")


if __name__ == "__main__":
    main()
