"""Probe (2026-11-29): why arrivals are still refused under the sample's semantics with the capacity
margin z = 4, and what a lost-sales allowance does. 200 SKUs, 2 episodes (keys from PRNGKey(7), not the
reproduction's evaluation keys), MIP-mixed with a constant floor target (z 0, `floor` units per stage,
fixed_safety_mip's shape), the LP (integrality none), warm-started, as conf/preset/sample_200_skus.yaml:
    python docs/measurements/sample_semantics_200_skus/probe_lost_sales.py RATIO SIGMA LEAD Z FLOOR C
LEAD stage | echelon (mip_mixed.capacity_margin_lead), Z the margin's z, C mip_mixed.capacity_margin_lost.
Prints refused units per stage, env cost per episode (all SKUs), the 200-SKU figure's metric (mean of the
two episodes' step points), then, for the first refusal days of each episode, the retailer's last two
days: the demand against the plan's forecast of it, and the sales lost to stock-outs."""
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.hybrid_reproduction import hybrid_keys
from sc_jax.mip_mixed import run_mip_mixed, sigma_safety_targets
from sc_jax.sample_metrics import step_points

ratio, sigma, lead_kind, z = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
floor = int(sys.argv[5]) if len(sys.argv) > 5 else 3
lost_c = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
env, params = hybrid_sample_catalog(200, ratio, semantics="sample", sigma_max=sigma, periods=200)
reset_keys, _ = hybrid_keys(jax.random.split(jax.random.PRNGKey(7), 2), 200)
keys = jnp.swapaxes(reset_keys, 0, 1)
target = sigma_safety_targets(np.zeros(3), np.array([2, 3, 4]), timing="after_arrivals", floor=floor)
t0 = time.perf_counter()
r = run_mip_mixed(env, params, keys, integrality="none", warm_start=True, capacity_margin_z=z,
                  capacity_margin_lead=lead_kind, capacity_margin_lost=lost_c, safety_target=target,
                  safety_penalty_weight=1.0)
print(f"{time.perf_counter() - t0:.0f}s refused per stage", r.refused_units, "env cost", r.cost.sum(0), "figure",
      step_points(r.day_cost.sum(axis=1)).mean(), "overflow cost", r.daily["overflow_cost"].sum())
d = r.daily
refused = np.asarray(d["overflow"]).sum(axis=1)  # [T, S, M]
state = jax.vmap(lambda k: jax.vmap(env.reset)(k, params)[1])(keys.swapaxes(0, 1))
mean = np.asarray(state.demand.forecast_mean, np.float64)  # [S, P, T + W]
std = np.asarray(state.demand.forecast_std, np.float64)
demand = np.asarray(d["demand"], np.float64)  # [T, P, S]
lost = np.asarray(d["lost"], np.float64)  # [T, P, S, M + 1]: retail, then each supplier's unfilled share
for s in range(refused.shape[1]):
    days = np.nonzero(refused[:, s].sum(-1) > 0)[0]
    print(f"episode {s}: refusal days {days.size}, by stage {refused[:, s].sum(0)}")
    for t in days[:4]:
        sold = demand[t - 2:t, :, s].sum() - lost[t - 2:t, :, s, 0].sum()
        plan = mean[s, :, t - 1:t + 1].sum()  # the sample alignment: the plan of day u takes mean[u + 1] for day u
        print(f"  day {t}: refused {refused[t, s]}; retail, days t-2 and t-1: forecast {plan:.0f}, demand "
              f"{demand[t - 2:t, :, s].sum():.0f} (short by {plan - demand[t - 2:t, :, s].sum():.0f} against a "
              f"margin of {z * np.sqrt(np.square(std[s, :, t - 1:t + 1]).sum()):.0f}), lost to stock-outs "
              f"{lost[t - 2:t, :, s, 0].sum():.0f}, so sold {sold:.0f}: {plan - sold:.0f} under the plan")
