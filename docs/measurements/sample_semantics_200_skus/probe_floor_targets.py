"""Probe (probe_floor_targets.txt): ceil(z sqrt(sum sigma^2)) + floor units, from day D, penalty weight w, in the
coupled MIP-mixed, sample semantics, the 2 training episodes of the tuning stream; rows (z, floor, D[, w]):
    python probe_floor_targets.py 200 100 9 2 "[None,(1,0,10),(0,3,10)]" [margin z, default 2 at ratio 100]"""
import sys, time, ast, numpy as np, jax.numpy as jnp
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
from sc_jax.mip_mixed import run_mip_mixed, sigma_safety_targets
from sc_jax.env.types import SUPPLIER_TIMING
from sc_jax.sample_metrics import step_points
import os; SEM = os.environ.get("SEM", "sample")  # SEM=exact: probe_floor_exact_sigma5.txt
N = int(sys.argv[1]); ratio = float(sys.argv[2]); sigmas = [int(s) for s in sys.argv[3].split(",")]
eps = int(sys.argv[4]); rows = ast.literal_eval(sys.argv[5])  # (z, floor, D) or None
margin = float(sys.argv[6]) if len(sys.argv) > 6 else (2.0 if ratio >= 100 else 0.0)
class Wrapped:
    def __init__(self, inner, floor, start): self.inner, self.floor, self.start = inner, floor, start
    def __call__(self, t, state):
        base = self.inner(t, state)
        return (base + self.floor) * (t >= self.start)
for sigma in sigmas:
    env, params = hybrid_sample_catalog(N, ratio, semantics=SEM, sigma_max=sigma, capacity_per_sku=25.0, periods=200)
    reset_keys, act_keys = hybrid_keys(training_keys(0, eps), N)
    lead = np.asarray(params.lead_time).reshape(-1, 3)[0]
    for row in rows:
        t0 = time.time()
        tgt = None; w = 1.0
        if row is not None:
            z, floor, start = row[:3]; w = row[3] if len(row) > 3 else 1.0
            tgt = Wrapped(sigma_safety_targets(np.full(3, z), lead, timing=SUPPLIER_TIMING[SEM], alignment="sample"), floor, start)
        r = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), safety_target=tgt,
                          integrality="none", warm_start=True, capacity_margin_z=margin, safety_penalty_weight=w)
        dc = r.day_cost.sum(axis=1)
        fig = step_points(dc).mean(); figs = step_points(dc).mean(axis=0)
        lost = r.daily["lost"].sum(axis=(0, 1, 2)) / eps
        print(f"ratio {ratio:g} sigma {sigma} row {row}: env {r.cost.sum(0).mean():.0f} fig {fig:.1f} {np.round(figs,1).tolist()} refused {int(np.sum(r.refused_units))} "
              f"lost/ep {np.round(lost[:3]).astype(int).tolist()} ({time.time()-t0:.0f}s)", flush=True)
