"""The perfect-information bound of the hybrid sample's multi-SKU experiment (docs/hybrid_reproduction.md).

    python scripts/coupled_bound.py [--num-skus 200] [--ratios 10 100] [--sigmas 1 5 9] [--episodes 10]
        [--solve 2] [--seed 0] [--periods 200] [--semantics exact] [--out bound.json]

`sc_jax.oracle.coupled_oracle_rewards` (the LP over all SKUs sharing the capacity, demand known in
advance) on the episodes experiments/reproduce_hybrid.py evaluates its multi-SKU methods on with
the same `seed` and `episodes` (the keys depend on both), solved for the first `solve` of them: a
lower bound on every method's env cost per episode, so the per-episode values pair with those of
details.json. One HiGHS LP per episode
(200 SKUs: about 320,000 variables, 100 s on the 2-core VM). Progress per episode; the JSON is
rewritten (atomically) after each one, so a run cut short keeps what it finished.
"""
from __future__ import annotations

import argparse
import platform
import time

import jax
import numpy as np

from sc_jax.env.hybrid_sample import hybrid_sample_catalog
from sc_jax.hybrid_reproduction import hybrid_keys, multi_sku_keys
from sc_jax.oracle import coupled_oracle_rewards
from sc_jax.runlog import write_json


def bound_costs(num_skus: int, ratio: float, sigma: float, semantics: str, keys, on_episode=None,
                periods: int = 200) -> list[float]:
    """Lower bound on the env cost of each episode (all SKUs), the keys' demand paths and stock."""
    env, params = hybrid_sample_catalog(num_skus, ratio, semantics=semantics, sigma_max=sigma, periods=periods)
    reset_keys, _ = hybrid_keys(keys, num_skus)
    costs = []
    for e in range(reset_keys.shape[0]):
        states = jax.vmap(env.reset)(reset_keys[e], params)[1]
        paths = jax.tree.map(lambda x: np.asarray(x)[:, None], states.demand)  # [N, 1, ...]
        costs.append(float(-coupled_oracle_rewards(env, params, paths)[0]))
        if on_episode is not None:
            on_episode(e, costs[-1])
    return costs


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-skus", type=int, default=200)
    parser.add_argument("--ratios", type=float, nargs="+", default=[10.0, 100.0])
    parser.add_argument("--sigmas", type=float, nargs="+", default=[1.0, 5.0, 9.0])
    parser.add_argument("--episodes", type=int, default=10, help="the reproduction's multi_sku episodes")
    parser.add_argument("--solve", type=int, default=None, help="solve the first this many (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--periods", type=int, default=200, help="episode length (the reproduction's `periods`)")
    parser.add_argument("--semantics", choices=("exact", "sample"), default="exact")
    parser.add_argument("--out", default="coupled_bound.json")
    args = parser.parse_args(argv)
    if args.num_skus < 1 or args.episodes < 1 or args.periods < 1:
        parser.error("--num-skus, --episodes and --periods must be >= 1")
    solve = args.episodes if args.solve is None else args.solve
    if not 1 <= solve <= args.episodes:
        parser.error(f"--solve must be in [1, --episodes={args.episodes}], got {solve}")
    out = {"what": "perfect-information LP bound (sc_jax.oracle.coupled_oracle_rewards) on the multi-SKU episodes of "
                   "experiments/reproduce_hybrid.py with this seed: env cost per episode, all SKUs",
           "settings": vars(args), "machine": {"platform": platform.platform(), "jax": jax.__version__},
           "env_cost": {}}
    keys = multi_sku_keys(args.seed, args.episodes)[:solve]
    start = time.perf_counter()
    for ratio in args.ratios:
        for sigma in args.sigmas:
            point = out["env_cost"].setdefault(f"{ratio:g}", {}).setdefault(f"{sigma:g}", [])

            def on_episode(e, cost, ratio=ratio, sigma=sigma, point=point):
                point.append(cost)
                out["wall_s"] = time.perf_counter() - start
                write_json(args.out, out)
                print(f"[coupled_bound] ratio {ratio:g} sigma {sigma:g} episode {e + 1}/{solve}: "
                      f"{cost:,.1f} ({out['wall_s']:.0f}s)", flush=True)

            bound_costs(args.num_skus, ratio, sigma, args.semantics, keys, on_episode, args.periods)
    return out


if __name__ == "__main__":
    main()
