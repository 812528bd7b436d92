"""Probe (probe_alignment_sigma1.txt): MIP-mixed at ratio 100 sigma 1, 200 SKUs, sample semantics, the sample's
one-day forecast shift against aligned forecasts: python probe_alignment_sigma1.py"""
import jax.numpy as jnp
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
from sc_jax.mip_mixed import run_mip_mixed
from sc_jax.sample_metrics import step_points
env, params = hybrid_sample_catalog(200, 100.0, semantics="sample", sigma_max=1, capacity_per_sku=25.0, periods=200)
reset_keys, _ = hybrid_keys(training_keys(0, 2), 200)
for al in ("sample", "aligned"):
    r = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), integrality="none", warm_start=True, alignment=al)
    lost = r.daily["lost"][..., 0].sum(axis=(1, 2)) / 2  # [T] retail lost per day
    print(al, "env", round(float(r.cost.sum(0).mean())), "fig", round(float(step_points(r.day_cost.sum(axis=1)).mean()), 1),
          "retail lost days 0-9", int(lost[:10].sum()), "days 10-199", int(lost[10:].sum()), flush=True)
