"""Where MIP-mixed and the JAX capacity stage send the shared capacity, SKU group by SKU group.

The first N SKUs of the hybrid sample's catalog sharing 25 per SKU and stage, one ratio and sigma,
the exact semantics by default: MIP-mixed (the rolling horizon model) against the order-up-to
controller with constant safety stocks through the JAX capacity stage (projected basis), on the
same episodes (multi_sku_keys(seed, episodes), as experiments/reproduce_hybrid.py). Prints, per
policy, the env cost per episode and, per group of SKUs (by index, i.e. by value: SKU i's k grows
with i), the retailer's lost units per day, the share of demand served and each stage's mean on
hand, over days >= 20 (docs/hybrid_reproduction.md, "Why MIP-mixed stays ahead ...").

    python scripts/diagnose_allocation.py --skus 20 --ratio 10 --sigma 1 --episodes 2 --groups 7 15 \
        --safety 0,0,0 0,10,10
"""
from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.alloc.milp import CAPACITY_BASES
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.env.types import SUPPLIER_TIMING
from sc_jax.hybrid_reproduction import hybrid_keys, make_daily_runner, method_params, multi_sku_keys
from sc_jax.mip_mixed import run_mip_mixed
from sc_jax.sample_metrics import NOTEBOOK_FIRST_DAY


def group_rows(name, cost, retail_lost, demand, on_hand, groups):
    """retail_lost, demand [N] per day (days >= 20, mean over episodes), on_hand [N, M] (mean per day)."""
    print(f"{name}: env cost per episode {cost:,.1f}")
    for lo, hi in groups:
        lost, dem = retail_lost[lo:hi].sum(), demand[lo:hi].sum()
        print(f"  SKUs {lo}-{hi - 1}: retail lost per day {lost:,.1f} ({1 - lost / dem:.0%} of demand served), "
              f"mean on hand per stage {[round(float(x), 1) for x in on_hand[lo:hi].sum(0)]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skus", type=int, default=20)
    parser.add_argument("--ratio", type=float, default=10.0)
    parser.add_argument("--sigma", type=int, default=1)
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--semantics", choices=sorted(SUPPLIER_TIMING), default="exact")
    parser.add_argument("--groups", type=int, nargs="*", default=[7, 15], help="first SKU index of each group after the first")
    parser.add_argument("--safety", nargs="*", default=["0,0,0", "0,10,10"], help="safety stocks per stage, comma separated")
    parser.add_argument("--basis", default="projected", choices=CAPACITY_BASES, help="the JAX capacity stage's capacity basis")
    args = parser.parse_args(argv)
    N = args.skus
    if N < 1 or list(args.groups) != sorted(set(args.groups)) or any(not 0 < g < N for g in args.groups):
        parser.error(f"--skus must be >= 1 and --groups increasing SKU indices in 1..{N - 1}, got {args.groups}")
    try:
        safety_stocks = [np.asarray([float(x) for x in text.split(",")], np.float32) for text in args.safety]
    except ValueError:
        parser.error(f"--safety must be comma-separated numbers per stage, got {args.safety}")
    bounds = [0] + list(args.groups) + [N]
    groups = list(zip(bounds[:-1], bounds[1:]))
    env, params = hybrid_sample_catalog(N, args.ratio, semantics=args.semantics, sigma_max=args.sigma, periods=200)
    if any(x.shape != (params.num_stages,) for x in safety_stocks):
        parser.error(f"--safety must give {params.num_stages} numbers (one per stage) each, got {args.safety}")
    reset_keys, act_keys = hybrid_keys(multi_sku_keys(args.seed, args.episodes), N)
    first = NOTEBOOK_FIRST_DAY
    t0 = time.perf_counter()
    mip = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1))
    demand = mip.daily["demand"][first:].sum(0).mean(-1)  # [N]: the same demand for every policy (common random numbers)
    days = env.periods - first
    print(f"{N} SKUs, ratio {args.ratio:g}, sigma {args.sigma}, {args.semantics} semantics, {args.episodes} episodes; "
          f"per day over days {first}-{env.periods - 1}; MIP-mixed {time.perf_counter() - t0:.0f}s")
    group_rows("MIP-mixed", mip.cost.sum(0).mean(), mip.daily["lost"][first:, :, :, 0].sum(0).mean(-1) / days,
               demand / days, mip.daily["on_hand"][first:].mean(0).mean(1), groups)
    runner = make_daily_runner(env, None, timing=SUPPLIER_TIMING[args.semantics], allocation="jax", capacity_basis=args.basis)
    for text, safety in zip(args.safety, safety_stocks):
        out = jax.device_get(runner(method_params("safety", params.num_stages, safety=safety), params, reset_keys,
                                    act_keys, np.float32(1e-3)))
        group_rows(f"order-up-to, safety {text} (JAX stage, {args.basis})", np.asarray(out.cost).sum(1).mean(),
                   np.asarray(out.lost_by_stage)[..., 0].mean(0) / days, demand / days,
                   np.asarray(out.mean_on_hand).mean(0), groups)


if __name__ == "__main__":
    main()
