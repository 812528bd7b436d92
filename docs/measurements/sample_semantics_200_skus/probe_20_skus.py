"""The cap probe under the sample semantics: python probe_20_skus.py 20 sample (SKUs, semantics); the brain checkpoint path is the run's."""
import os, sys, numpy as np, jax.numpy as jnp
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
from sc_jax.mip_mixed import capped_safety_targets, checkpoint_safety_targets, run_mip_mixed
from sc_jax.sample_metrics import notebook_cost
from sc_jax.sample_metrics import step_points
ck = os.environ["BRAIN_CHECKPOINT"]  # the run's checkpoint_exact (PPO brain)
N = int(sys.argv[1]); sem = sys.argv[2]
for ratio in (100.0, 10.0):
  for sigma in (1, 5, 9):
    env, params = hybrid_sample_catalog(N, ratio, semantics=sem, sigma_max=sigma, capacity_per_sku=25.0, periods=200)
    reset_keys, act_keys = hybrid_keys(training_keys(0, 2), N)
    cap = np.asarray(params.shared_capacity, np.float64).reshape(-1, 3)[0]
    line = []
    for name, frac, w in (("mip", None, 1.0), ("b0.9", 0.9, 1.0), ("b0.2", 0.2, 1.0), ("b0.1", 0.1, 1.0), ("b0.05", 0.05, 1.0), ("b0.9w0.1", 0.9, 0.1), ("b0.2w0.1", 0.2, 0.1)):
        t = None if frac is None else capped_safety_targets(checkpoint_safety_targets(ck, params, act_keys, every=10), cap, frac)
        r = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), safety_target=t, integrality="none", warm_start=True, safety_penalty_weight=w)
        fig = step_points(r.day_cost.sum(axis=1)).mean()
        line.append(f"{name} {r.cost.sum(0).mean():.0f}/{fig:.1f}/{int(np.sum(r.refused_units))}")
    print(f"ratio {ratio:g} sigma {sigma}: " + "  ".join(line), flush=True)
