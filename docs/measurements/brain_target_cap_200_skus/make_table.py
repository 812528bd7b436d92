"""The ratio-100 table of docs/hybrid_reproduction.md's "Capacity-aware brain targets" section:
python docs/measurements/brain_target_cap_200_skus/make_table.py docs/measurements/brain_target_cap_200_skus/ratio_100_details.json"""
import json, sys
from pathlib import Path

import numpy as np

from sc_jax.stats import mean_ci, paired_difference

M = str(Path(__file__).resolve().parents[1])
def load(path):
    return json.load(open(path))['per_episode']['multi_sku']
cap = load(sys.argv[1])['100']
unc = {}
for f in ['warm_margin_2_ratio_100_sigma_1_8_details.json', 'warm_margin_2_ratio_100_sigma_9_details.json']:
    unc.update(load(f'{M}/brain_safety_mip_200_skus/{f}')['100'])
mip = {}
mip.update(load(f'{M}/mip_mixed_200_skus_exact/details.json')['100'])
for k, v in load(f'{M}/mip_mixed_200_skus_exact_warm/sigma_2_4_6_8_details.json')['100'].items():
    mip.setdefault(k, {}).update(v)
jax_rows = load(f'{M}/cover_head_200_skus/exact_details.json')['100']
def ec(d, m): return np.asarray(d[m]['exact']['env_cost'], float)
def pd(a, b):
    d = paired_difference(a, b); return f"{d['mean']/1e3:+.1f} ± {d['ci95']/1e3:.1f} ({100*d['mean']/np.mean(b):+.1f}%)"
def mc(a):
    m, c = mean_ci(a); return f"{m/1e3:.1f} ± {c/1e3:.1f}"
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
    best_classical = min((ec(jax_rows[s], m) for m in ('sigma_rule_alloc', 'fixed_safety_alloc')), key=np.mean)
    print(f"| {s} | {mc(mm)} | {mc(f)} ({z:g}) | {mc(u)} | **{mc(b)}** | {pd(b, u)} | {pd(b, f)} | {pd(b, mm)} | {chosen.replace('_safety_mip','')} ({tcs}) | {' / '.join(str(x) for x in c['brain_safety_mip']['exact']['refused_units_per_stage'])} |")
