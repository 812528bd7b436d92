"""Multi-device: evaluation, scenario costs and seed-vmapped training split their batch over the
local devices (sc_jax.sharding) and give the numbers of one device. Eight fake CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=8) in a subprocess, against one."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    import sc_jax
    from sc_jax.agents.ppo import PPOConfig, make_train
    from sc_jax.evaluate import evaluate, scenario_costs
    from sc_jax.policies import base_stock
    from sc_jax.sharding import shard_batch

    env, params = sc_jax.make("orgym_v1")
    levels = jnp.asarray([60, 70, 80])
    result = evaluate(env, base_stock, levels, params, jax.random.PRNGKey(3), num_samples=16)
    keys = jax.random.split(jax.random.PRNGKey(4), 24)
    by_h = jax.vmap(lambda h: params.replace(unit_holding_cost=params.unit_holding_cost * h))(jnp.asarray([1.0, 2.0]))
    costs = scenario_costs(env, base_stock, levels, by_h, keys)
    if "train" not in sys.argv[1:]:
        json.dump({"devices": jax.local_device_count(), "reward": np.asarray(result.reward).tolist(),
                   "fill": np.asarray(result.fill_rate).tolist(), "costs": costs.tolist()}, sys.stdout)
        raise SystemExit(0)
    config = PPOConfig(num_envs=8, num_minibatches=2, update_epochs=1, hidden=(8,), total_timesteps=480,
                       progress_every_s=0.0)
    train = make_train(config, env, params)
    seeds = shard_batch(jax.random.split(jax.random.PRNGKey(0), 8))
    _, metrics = jax.jit(jax.vmap(train))(seeds)
    out = {"devices": jax.local_device_count(),
           "seed_sharded": len(getattr(seeds, "sharding", None).device_set) if hasattr(seeds, "sharding") else 1,
           "reward": np.asarray(result.reward).tolist(), "fill": np.asarray(result.fill_rate).tolist(),
           "costs": costs.tolist(), "returns": np.asarray(metrics["episode_return"]).tolist()}
    json.dump(out, sys.stdout)
""")


def _run(devices: int, *args, script: str = SCRIPT) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}",
           "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


ONE_DEVICE_SCRIPT = textwrap.dedent("""
    import contextlib, io, json, sys
    out = {}
    for name, source in %r:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                exec(compile(source, name, "exec"), {"__name__": "__main__"})
            except SystemExit:
                pass
        out[name] = json.loads(printed.getvalue().strip().splitlines()[-1])
    json.dump(out, sys.stdout)
""")


@pytest.fixture(scope="module")
def one_device():
    """The one-device reference of both scripts below, run in one subprocess (one interpreter and
    JAX start-up instead of two; each script runs in a fresh namespace, as with `python -c`)."""
    return _run(1, script=ONE_DEVICE_SCRIPT % ((("evaluate", SCRIPT), ("hybrid", HYBRID_SCRIPT)),))


def test_eight_devices_evaluate_like_one(one_device):
    one, eight = one_device["evaluate"], _run(8)
    assert one["devices"] == 1 and eight["devices"] == 8
    for name in ("reward", "fill", "costs"):
        np.testing.assert_allclose(eight[name], one[name], rtol=1e-6, err_msg=name)


@pytest.mark.slow
def test_eight_devices_train_seeds_like_one():
    one, eight = _run(1, "train"), _run(8, "train")
    assert eight["seed_sharded"] == 8  # the seed axis really is spread over the 8 devices
    for name in ("reward", "fill", "costs"):
        np.testing.assert_allclose(eight[name], one[name], rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(eight["returns"], one["returns"], rtol=1e-5)


HYBRID_SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, jax.numpy as jnp, numpy as np
    from sc_jax.env.catalog import make_catalog
    from sc_jax.env.wrappers import fixed_safety_stock
    from sc_jax.hybrid_jax import hybrid_episodes
    from sc_jax.sharding import shard_batch

    env, params = make_catalog(jax.random.PRNGKey(0), 6, shared_capacity=[80.0, 150.0, 200.0], sigma_max=4,
                               periods=30)
    keys = jax.random.split(jax.random.PRNGKey(9), 4)
    stats = hybrid_episodes(env, fixed_safety_stock)(jnp.array([4, 12, 12]), params, keys, 1e-3)
    json.dump({"devices": jax.local_device_count(), "keys_sharded": len(shard_batch(keys).sharding.device_set),
               "cost_devices": len(stats.cost.sharding.device_set), "cost": np.asarray(stats.cost).tolist(),
               "binding": np.asarray(stats.binding_stage_days).tolist(),
               "cut": np.asarray(stats.cut_units).tolist()}, sys.stdout)
""")


def test_hybrid_episodes_split_samples_over_devices_like_one(one_device):
    """sc_jax.hybrid_jax: the samples of a batch of episodes spread over 2 devices (the capacity
    stage's skip test and search reduce across them) give the numbers of one device."""
    one, two = one_device["hybrid"], _run(2, script=HYBRID_SCRIPT)
    assert two["keys_sharded"] == 2 and two["cost_devices"] == 2 and one["cost_devices"] == 1
    assert np.sum(one["binding"]) > 0  # the capacity binds: the cross-device reductions matter
    np.testing.assert_allclose(two["cost"], one["cost"], rtol=1e-6)
    assert two["binding"] == one["binding"] and two["cut"] == one["cut"]
