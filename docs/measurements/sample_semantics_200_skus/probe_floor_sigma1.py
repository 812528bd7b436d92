"""Probe (probe_floor_sigma1.txt): constant targets in units per SKU and stage, (retail, DC, DC[, start day]), in the
coupled MIP-mixed, sample semantics, the 2 training episodes of the tuning stream:
    python probe_floor_sigma1.py 200 100 1 2 "[None,(1,1,1),(1,1,1,10),(1,1,1,20)]"   # SKUs ratio sigmas episodes rows"""
import sys, time, numpy as np, jax.numpy as jnp
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
from sc_jax.mip_mixed import run_mip_mixed
from sc_jax.sample_metrics import step_points
N = int(sys.argv[1]); ratio = float(sys.argv[2]); sigmas = [int(s) for s in sys.argv[3].split(",")]
eps = int(sys.argv[4]) if len(sys.argv) > 4 else 2
import ast
targets = ast.literal_eval(sys.argv[5]) if len(sys.argv) > 5 else [None, (1, 1, 1)]
class Const:
    def __init__(self, u): self.start = u[3] if len(u) > 3 else 0; self.u = np.asarray(u[:3], np.float64)
    def __call__(self, t, state):
        S, P = state.on_hand.shape[:2]
        return np.broadcast_to(self.u * (t >= self.start), (S, P, 3)).copy()
for sigma in sigmas:
    env, params = hybrid_sample_catalog(N, ratio, semantics="sample", sigma_max=sigma, capacity_per_sku=25.0, periods=200)
    reset_keys, act_keys = hybrid_keys(training_keys(0, eps), N)
    for u in targets:
        t0 = time.time()
        r = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), safety_target=None if u is None else Const(u),
                          integrality="none", warm_start=True, capacity_margin_z=2.0 if ratio >= 100 else 0.0)
        dc = r.day_cost.sum(axis=1)  # [T, S]
        fig = step_points(dc).mean()
        lost = r.daily["lost"]; onh = r.daily["on_hand"]  # [T,P,S,M]
        lost_s = lost.sum(axis=(0, 1, 2)) / eps; on_s = onh.sum(axis=(0, 1, 2)) / eps
        print(f"sigma {sigma} target {u}: env {r.cost.sum(0).mean():.0f} fig {fig:.1f} refused {int(np.sum(r.refused_units))} "
              f"lost/ep {np.round(lost_s[:3]).astype(int).tolist()} onhand/ep {np.round(on_s[:3]).astype(int).tolist()} ({time.time()-t0:.0f}s)", flush=True)
