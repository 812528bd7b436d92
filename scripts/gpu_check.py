"""PPO on an accelerator: one training run and a vmapped batch of seeds (a sweep is a bigger batch).

    python scripts/gpu_check.py [--seeds 32] [--steps 1000000]

OR-Gym v1 with the rich observation, the settings of docs/ppo.md. Times include compilation;
scores are the deterministic policy on 1,000 held-out paths. Prints a JSON line at the end.
"""
from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np

import sc_jax
from sc_jax.agents.ppo import PPOConfig, make_policy, make_train
from sc_jax.env import rollout

#: the orders brain's settings of conf/agent/ppo_orders.yaml (this script runs where Hydra may be
#: absent; tests/test_scripts.py keeps the two equal), critic without the period (rich observation)
ORDERS_PPO = dict(num_envs=64, critic_time=False)
HELD_OUT_SEED = 12345 + 7_777_777


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=32)
    parser.add_argument("--steps", type=int, default=1_000_000)
    args = parser.parse_args()
    env, params = sc_jax.make("orgym_v1", observation="rich")
    config = PPOConfig.from_dict(dict(ORDERS_PPO, total_timesteps=args.steps, progress_every_s=1e9))
    train = make_train(config, env, params)
    act = make_policy(config, env, deterministic=True)
    held_out = jax.random.split(jax.random.PRNGKey(HELD_OUT_SEED), 1000)
    score = jax.jit(lambda p: rollout(env, act, p, params, held_out)[0].mean())
    out = {"device": str(jax.devices()[0]), "jax": jax.__version__, "steps_per_seed": args.steps}
    for label, seeds in (("one_seed", 1), ("vmapped_seeds", args.seeds)):
        seed_keys = jax.random.split(jax.random.PRNGKey(0), seeds)
        start = time.perf_counter()
        policy_params, _ = jax.block_until_ready(jax.jit(jax.vmap(train))(seed_keys))
        seconds = time.perf_counter() - start
        scores = np.asarray(jax.vmap(score)(policy_params))
        out[label] = {"seeds": seeds, "train_s_incl_compile": seconds,
                      "env_steps_per_s": seeds * args.steps / seconds,
                      "score_mean": float(scores.mean()), "score_min": float(scores.min()),
                      "score_max": float(scores.max())}
        print(label, out[label], flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
