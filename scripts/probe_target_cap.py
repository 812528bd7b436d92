"""Probe the brain's capped targets in the coupled planner on training episodes (docs/hybrid_reproduction.md,
"Capacity-aware brain targets").

    python scripts/probe_target_cap.py --checkpoint outputs/reproduce_hybrid/<run>/checkpoint_exact \
        --ratio 100 --sigma 9 --caps none 0.7 0.8 0.9 1.0 --fixed-z 2 --margin-z 2

Runs the multi-SKU catalog (reproduce_hybrid's: `hybrid_sample_catalog`, exact semantics, warm-started
LPs, integrality none) with the brain's safety stocks as the planner's soft targets
(`brain_safety_mip`), each cap of `--caps` applied by `sc_jax.mip_mixed.capped_safety_targets`
(none: uncapped), and, with `--fixed-z`, the constant target z sqrt(sum sigma^2) (`fixed_safety_mip`),
on `--episodes` episodes of reproduce_hybrid's tuning stream (split(fold_in(PRNGKey(seed), 1), n):
never its evaluation episodes). Prints one line per variant (env cost per episode, refused units per
stage, seconds) and, last, the JSON of them all.
"""
from __future__ import annotations

import argparse
import json
import time

import jax.numpy as jnp
import numpy as np

from sc_jax.checks import check_integer
from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.env.types import SUPPLIER_TIMING
from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
from sc_jax.mip_mixed import capped_safety_targets, checkpoint_safety_targets, run_mip_mixed, sigma_safety_targets


def _cap(text: str):
    if text == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a cap must be 'none' or a number > 0, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"a cap must be 'none' or a number > 0, got {text!r}")
    return value


def probe(checkpoint: str, ratio: float, sigma: int, caps, fixed_z=None, *, episodes: int = 1, seed: int = 0,
          num_skus: int = 200, capacity_per_sku: float = 25.0, periods: int = 200, margin_z: float = 0.0,
          semantics: str = "exact") -> dict:
    """{variant: {"env_cost": [per episode], "refused_units_per_stage": [...], "seconds": s}}; variants
    "brain" (uncapped), "brain_cap_<c>", and "fixed_z_<z>" with fixed_z."""
    check_integer("episodes", episodes, 1)
    check_integer("num_skus", num_skus, 1)
    env, params = hybrid_sample_catalog(num_skus, ratio, semantics=semantics, sigma_max=sigma,
                                        capacity_per_sku=capacity_per_sku, periods=periods)
    reset_keys, act_keys = hybrid_keys(training_keys(seed, episodes), num_skus)
    capacity = np.asarray(params.shared_capacity, np.float64).reshape(-1, params.num_stages)[0]
    lead = np.asarray(params.lead_time).reshape(-1, params.num_stages)[0]
    variants = {}
    for cap in caps:
        brain = checkpoint_safety_targets(checkpoint, params, act_keys, every=10)
        name = "brain" if cap is None else f"brain_cap_{cap:g}"
        variants[name] = brain if cap is None else capped_safety_targets(brain, capacity, cap)
    if fixed_z is not None:
        variants[f"fixed_z_{fixed_z:g}"] = sigma_safety_targets(np.full(params.num_stages, float(fixed_z)), lead,
                                                                timing=SUPPLIER_TIMING[semantics])
    out = {}
    for name, target in variants.items():
        t0 = time.perf_counter()
        result = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), safety_target=target, integrality="none",
                               capacity_margin_z=margin_z, warm_start=True)
        out[name] = {"env_cost": result.cost.sum(axis=0).tolist(),
                     "refused_units_per_stage": np.asarray(result.refused_units).astype(int).tolist(),
                     "seconds": time.perf_counter() - t0}
        print(f"ratio {ratio:g} sigma {sigma} {name}: env cost {np.mean(out[name]['env_cost']):,.0f} per episode, "
              f"refused {out[name]['refused_units_per_stage']} ({out[name]['seconds']:.0f}s)", flush=True)
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a safety-stock brain's checkpoint directory")
    parser.add_argument("--ratio", type=float, default=100.0)
    parser.add_argument("--sigma", type=int, default=9)
    parser.add_argument("--caps", type=_cap, nargs="+", default=[None, 0.9], help="'none' or fractions > 0")
    parser.add_argument("--fixed-z", type=float, default=None, help="also the constant target with this z")
    parser.add_argument("--episodes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-skus", type=int, default=200)
    parser.add_argument("--periods", type=int, default=200)
    parser.add_argument("--margin-z", type=float, default=0.0, help="the capacity row's margin (mip_mixed.capacity_margin_z)")
    args = parser.parse_args(argv)
    out = probe(args.checkpoint, args.ratio, args.sigma, args.caps, args.fixed_z, episodes=args.episodes,
                seed=args.seed, num_skus=args.num_skus, periods=args.periods, margin_z=args.margin_z)
    print(json.dumps({"ratio": args.ratio, "sigma": args.sigma, "episodes": args.episodes, "variants": out}))


if __name__ == "__main__":
    main()
