"""Train and evaluate one safety-stock brain variant (the sweep behind docs/ppo.md's brain-2 table).

    python scripts/safety_variants.py NAME '<json spec>' OUT.json

spec: {"ratio": 10 | 100 | 1000 | null (ratio-conditioned), "ppo": {PPOConfig overrides},
       "env": {make_safety_env overrides}, "seed": 0, "num_paths": 500,
       "static_file": a results JSON holding results.static (default docs/ppo_results_safety.json)}
The static baselines (grid-searched safety stocks per ratio, same safety range) come from that file
so that a variant costs one training + evaluation; scores are on the held-out paths of
scripts/ppo_targets.py (same seed, same paths). Several variants run side by side as separate
processes (e.g. pinned with taskset on a many-core host).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import jax

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from ppo_targets import (CONDITIONED_ENV, EVAL_SEED, SAFETY, SAFETY_ENV, SIGMAS, machine,  # noqa: E402
                         timed_train)

from sc_jax.agents import evaluation  # noqa: E402
from sc_jax.agents.ppo import PPOConfig, make_policy  # noqa: E402
from sc_jax.agents.safety_env import make_safety_env  # noqa: E402
from sc_jax.env.presets import get_preset  # noqa: E402


def run_variant(spec: dict) -> dict:
    static_file = ROOT / spec.get("static_file", "docs/ppo_results_safety.json")
    static = json.loads(static_file.read_text())["results"]["static"]
    ratio = spec.get("ratio")
    config = PPOConfig(**{**SAFETY, **spec.get("ppo", {})})
    if ratio is None:
        base = get_preset("hybrid", cost_ratio=100.0)
        env = make_safety_env(base, **{**SAFETY_ENV, **CONDITIONED_ENV, **spec.get("env", {})})
        ratios = [10.0, 100.0, 1000.0]
    else:
        base = get_preset("hybrid", cost_ratio=float(ratio))
        env = make_safety_env(base, **{**SAFETY_ENV, **spec.get("env", {})})
        ratios = [float(ratio)]
    load = os.getloadavg()[0]
    policy_params, metrics, seconds = timed_train(config, env, spec.get("seed", 0))
    act = make_policy(config, env)
    out = {"spec": spec, "config": config.to_dict(), "train_incl_compile_s": seconds, "load_1min": load,
           "machine": machine(), "eval": {}}
    for r in ratios:
        res = evaluation.evaluate_safety(act, policy_params, base, r, sigma_levels=SIGMAS,
                                         num_paths=spec.get("num_paths", 500), seed=EVAL_SEED,
                                         action_frequency=SAFETY_ENV["action_frequency"],
                                         static=static[f"ratio_{r:g}"])
        out["eval"][f"ratio_{r:g}"] = {k: res[k] for k in ("brain_overall", "brain_mean", "static_overall",
                                                           "brain_minus_static", "brain_beats_static_all_sigma")}
    return out


def summary(name: str, out: dict) -> str:
    parts = [f"{name}: train {out['train_incl_compile_s']:.1f}s"]
    for key, res in out["eval"].items():
        worst = max(res["brain_minus_static"])
        parts.append(f"{key} {res['brain_overall']:.3f} (worst sigma vs static {worst:+.3f})")
    return " | ".join(parts)


if __name__ == "__main__":
    name, spec, path = sys.argv[1], json.loads(sys.argv[2]), Path(sys.argv[3])
    t0 = time.perf_counter()
    result = run_variant(spec)
    result["wall_s"] = time.perf_counter() - t0
    result["jax_backend"] = jax.default_backend()
    path.write_text(json.dumps({"name": name, **result}, indent=1))
    print(summary(name, result), flush=True)
