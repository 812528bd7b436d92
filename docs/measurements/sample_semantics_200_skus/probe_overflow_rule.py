"""Probe (probe_overflow_rule.txt): how many arriving units the env refuses against the excess over the shared
capacity at the stage-days that overflow, under RULE=floor (the rule before 2026-11-29) or largest_remainder, for
MIP-mixed with a floor target from day 10 (z = 0), sample semantics, 200 SKUs, training episodes of the tuning stream:
    RULE=floor python probe_overflow_rule.py 100 9 3 2 2.0   # ratio, sigma, floor, episodes, capacity margin z"""
import os
import sys, time, numpy as np, jax.numpy as jnp
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
from sc_jax.mip_mixed import run_mip_mixed, sigma_safety_targets, delayed_safety_targets
from sc_jax.env.types import SUPPLIER_TIMING
from sc_jax.sample_metrics import step_points
N, ratio, sigma, floor, eps, margin = 200, float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
env, params = hybrid_sample_catalog(N, ratio, semantics="sample", sigma_max=sigma, capacity_per_sku=25.0, periods=200,
                                    overflow_rule=os.environ.get("RULE", "largest_remainder"))
reset_keys, act_keys = hybrid_keys(training_keys(0, eps), N)
lead = np.asarray(params.lead_time).reshape(-1, 3)[0]
tgt = delayed_safety_targets(sigma_safety_targets(np.zeros(3), lead, timing=SUPPLIER_TIMING["sample"], alignment="sample", floor=floor), 10)
t0 = time.time()
r = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), safety_target=tgt, integrality="none", warm_start=True, capacity_margin_z=margin)
d = r.daily
C = np.asarray(params.shared_capacity).reshape(-1, 3)[0]
on = d["on_hand"].sum(axis=1)  # [T, S, M]
before = np.concatenate([np.zeros_like(on[:1]), on[:-1]], 0)  # day 0: initial stock not in daily; ignore day 0
arr = (d["arrivals"] + d["overflow"]).sum(axis=1)
ref = d["overflow"].sum(axis=1)
excess = np.maximum(arr - (C - before), 0)
ev = ref > 0
print(f"rule {env.overflow_rule} ratio {ratio:g} sigma {sigma} floor {floor} margin {margin}: env {r.cost.sum(0).mean():.0f} fig {step_points(r.day_cost.sum(axis=1)).mean():.1f} "
      f"refused {int(ref.sum())} per stage {ref.sum(axis=(0,1)).astype(int).tolist()} events {int(ev.sum())} excess at events {int(np.ceil(excess[ev]).sum())} "
      f"products arriving per event {np.mean((d['arrivals'] + d['overflow'] > 0).sum(axis=1)[ev]) if ev.any() else 0:.0f} "
      f"lost/ep {np.round(d['lost'].sum(axis=(0, 1, 2)) / eps).astype(int).tolist()} ({time.time()-t0:.0f}s)", flush=True)
if ev.any():
    idx = np.argwhere(ev)[:8]
    for t, s, m in idx:
        print(f"  day {t} sample {s} stage {m}: stock before {before[t,s,m]:.0f} arrivals {arr[t,s,m]:.0f} room {C[m]-before[t,s,m]:.0f} excess {excess[t,s,m]:.0f} refused {ref[t,s,m]:.0f}")
