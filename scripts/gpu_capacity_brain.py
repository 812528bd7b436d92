"""The capacity brain's ES training on an accelerator (no Hydra needed).

    PYTHONPATH=. python scripts/gpu_capacity_brain.py [--products 50 2000] [--iterations 60] [--batches 1 16]

For each catalog size: experiments/hybrid.py's catalog (ratios 10/100/1000, shared capacity 30/50/70
per product, sigma 2/6/10, 200 days, expected capacity basis), conf/hybrid.yaml's capacity_brain
settings, trained with each `population_batch` (1: candidates one after the other; 16: all
vmapped); prints compile + training seconds, seconds per iteration, the candidates' training cost
first -> last, and the trained vs the untrained brain on 8 held-out samples. Last line: JSON.
"""
from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

from sc_jax.agents.capacity_brain import CapacityBrainConfig, init_params, make_policy, make_train
from sc_jax.alloc.jax_stage import jit_for_backend
from sc_jax.env.catalog import make_catalog
from sc_jax.hybrid_jax import hybrid_episodes, stack_params
from sc_jax.sharding import describe

SIGMAS = (2, 6, 10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--products", type=int, nargs="+", default=[50, 2000])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16])
    args = parser.parse_args()
    out = {"device": describe(), "jax": jax.__version__, "runs": []}
    for n in args.products:
        catalogs = [make_catalog(jax.random.PRNGKey(0), n, ratios=(10, 100, 1000), sigma_max=s,
                                 shared_capacity=n * np.array([30.0, 50.0, 70.0]), periods=200) for s in SIGMAS]
        env, params = catalogs[0][0], stack_params([p for _, p in catalogs])
        held_out = jax.random.split(jax.random.PRNGKey(20240601), 8)
        for batch in args.batches:
            config = CapacityBrainConfig(iterations=args.iterations, population_batch=batch)
            train = jit_for_backend(make_train(config, env, params))
            start = time.perf_counter()
            trained, metrics = jax.block_until_ready(train(jax.random.PRNGKey(1)))
            seconds = time.perf_counter() - start
            short = CapacityBrainConfig(iterations=1, population_batch=batch)  # compile time alone, about
            start = time.perf_counter()
            jax.block_until_ready(jit_for_backend(make_train(short, env, params))(jax.random.PRNGKey(1)))
            one_iteration = time.perf_counter() - start
            episodes = hybrid_episodes(env, make_policy(config, env.periods), capacity_basis="expected",
                                       action_frequency=1)
            untrained = init_params(config, jax.random.split(jax.random.PRNGKey(1))[0])
            cost = lambda p: [float(episodes(p, c, held_out).cost.mean()) for _, c in catalogs]
            curve = np.asarray(metrics["cost"])
            row = {"products": n, "population_batch": batch, "iterations": args.iterations,
                   "train_incl_compile_s": seconds, "one_iteration_incl_compile_s": one_iteration,
                   "s_per_iteration": (seconds - one_iteration) / max(args.iterations - 1, 1),
                   "train_cost_first": float(curve[0]), "train_cost_last": float(curve[-1]),
                   "held_out_cost_untrained": cost(untrained), "held_out_cost_trained": cost(trained)}
            out["runs"].append(row)
            print(json.dumps(row), flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
