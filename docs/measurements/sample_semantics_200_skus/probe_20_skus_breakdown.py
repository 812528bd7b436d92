"""Where the cost goes under the sample semantics: python probe_20_skus_breakdown.py 20 10 1 sample (SKUs, ratio, sigma, semantics)."""
import os, sys, numpy as np, jax.numpy as jnp
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
from sc_jax.mip_mixed import capped_safety_targets, checkpoint_safety_targets, run_mip_mixed

ck = os.environ["BRAIN_CHECKPOINT"]  # the run's checkpoint_exact (PPO brain)
N = int(sys.argv[1]); ratio = float(sys.argv[2]); sigma = int(sys.argv[3]); sem = sys.argv[4]
env, params = hybrid_sample_catalog(N, ratio, semantics=sem, sigma_max=sigma, capacity_per_sku=25.0, periods=200)
reset_keys, act_keys = hybrid_keys(training_keys(0, 1), N)
cap = np.asarray(params.shared_capacity, np.float64).reshape(-1, 3)[0]
brain = capped_safety_targets(checkpoint_safety_targets(ck, params, act_keys, every=10), cap, 0.9)
for name, target in (("mip_mixed", None), ("brain_cap_0.9", brain)):
    r = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), safety_target=target, integrality="none", warm_start=True)
    d = r.daily
    print(name, "env cost", round(float(r.cost.sum()), 1), "holding", round(float(d["holding_cost"].sum()), 1),
          "shortage", round(float(d["shortage_cost"].sum()), 1), "overflow", round(float(d["overflow_cost"].sum()), 1),
          "refused/stage", np.asarray(r.refused_units).astype(int).tolist())
    lost = d["lost"].sum(axis=(1, 2))  # [T, M+?]
    print("   lost units per stage (sum over days, SKUs):", lost.sum(0).astype(int).tolist(),
          " mean on hand per stage:", np.round(d["on_hand"].sum(axis=(1, 2)).mean(0), 1).tolist(),
          " mean orders/day per stage:", np.round(d["orders"].sum(axis=(1, 2)).mean(0), 1).tolist())
    if target is not None:
        print("   utilisation mean/max per stage:", np.round(d["shared_utilisation"].mean(axis=(0, 1)), 3).tolist(),
              np.round(d["shared_utilisation"].max(axis=(0, 1)), 3).tolist())
