"""What the shared-capacity overflow rule costs (docs/migration.md, "The shared-capacity overflow rule"):
coupled episodes of make_catalog's products under `overflow_rule` largest_remainder (the default) and
floor (the reference, measured in the same run, interleaved, best of `--repeats`), each day ordering
`scale` x 20 units per stage: 0.5 never overflows, 1 and 2 overflow on most days.
    python scripts/bench_overflow_rule.py --products 200 2000 --samples 16
Prints one line per size and scale (refused units under both rules, seconds, the ratio), then JSON."""
import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.env.catalog import make_catalog
from sc_jax.env.rollout import rollout

RULES = ("floor", "largest_remainder")


def episodes_fn(env, params, keys, n):
    """jitted: scale -> (total reward, refused units) of every sample's episode."""
    def policy(scale, state, params, key):
        return jnp.full((3,), 20.0) * scale

    def one(key, scale):
        reward, refused, _ = rollout(env, policy, scale, params, jax.random.split(key, n),
                                     collect=lambda tr: tr.info.overflow.sum())
        return reward.sum(), refused.sum()

    return jax.jit(lambda scale: jax.vmap(one, in_axes=(0, None))(keys, scale))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, nargs="+", default=[200, 2000])
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    out = []
    for n in args.products:
        env, params = make_catalog(jax.random.PRNGKey(0), n, shared_capacity=n * np.array([30.0, 50.0, 70.0]),
                                   periods=200)
        keys = jax.random.split(jax.random.PRNGKey(1), args.samples)
        fns = {rule: episodes_fn(env.replace(overflow_rule=rule), params, keys, n) for rule in RULES}
        for scale in args.scales:
            refused = {rule: int(np.asarray(fns[rule](scale)[1]).sum()) for rule in RULES}  # compiles
            best = dict.fromkeys(RULES, np.inf)
            for _ in range(args.repeats):
                for rule in RULES:
                    start = time.perf_counter()
                    jax.block_until_ready(fns[rule](scale))
                    best[rule] = min(best[rule], time.perf_counter() - start)
            row = {"products": n, "samples": args.samples, "scale": scale, "refused": refused, "best_s": best,
                   "ratio": best["largest_remainder"] / best["floor"], "load_1min": os.getloadavg()[0]}
            out.append(row)
            print(f"{n} products x {args.samples} samples, orders x{scale:g}: refused {refused['floor']:,} (floor) / "
                  f"{refused['largest_remainder']:,} (largest_remainder); best {best['floor']:.3f} / "
                  f"{best['largest_remainder']:.3f} s: ratio {row['ratio']:.2f}", flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
