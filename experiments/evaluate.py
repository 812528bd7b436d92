"""Evaluate a trained brain: `python experiments/evaluate.py checkpoint=<run>/checkpoint`.

Loads policy params + config written by experiments/train.py (a brain trained by PPO or by HDPO:
config.json's "algorithm", sc_jax.agents.brains.load_brain), rebuilds the env from the saved
config and evaluates the deterministic policy on held-out paths (a seed training never used):
orders brain: mean episode reward with a 95% CI and the perfect-information bound (sc_jax.oracle)
on `oracle_paths` of the same paths; safety brain: cost per sigma level beside the grid-searched
static safety stock (tuned on training paths) and the same bound on `bound_paths` per sigma level. Writes evaluation.json into the run dir.
"""
from __future__ import annotations

import time
from pathlib import Path

import hydra

from sc_jax.agents.brains import evaluate_brain, load_brain
from sc_jax.checks import check_integer, reject_unknown_keys
from sc_jax.config import to_dict
from sc_jax.env.wrappers import check_sigma_levels
from sc_jax.errors import ConfigError
from sc_jax.runlog import hydra_run_dir, logger_from_cfg, write_json, stop_cleanly_on_interrupt
from sc_jax.sweep import resume_or_none

KEYS = ("checkpoint", "num_paths", "seed", "oracle_paths", "bound_paths", "sigma_levels",
        "static_baseline", "grid_paths", "logger", "resume")


def run(cfg, run_dir=None) -> dict:
    run_dir = Path(run_dir) if run_dir is not None else hydra_run_dir()
    full = to_dict(cfg)
    reject_unknown_keys(full, KEYS, "evaluate")
    stored = resume_or_none(full, run_dir, "evaluation.json", "[evaluate]")  # a finished job: untouched
    if stored is not None:
        return stored
    if not full.get("checkpoint") or full["checkpoint"] == "???":
        raise ConfigError("'checkpoint' must name a checkpoint directory written by experiments/train.py "
                          "(checkpoint=outputs/train/<run>/checkpoint), got none")
    eval_cfg = {"num_paths": check_integer("num_paths", full["num_paths"], 1),
                "seed": check_integer("seed", full["seed"], 0),
                "oracle_paths": check_integer("oracle_paths", full.get("oracle_paths", 0), 0),
                "bound_paths": check_integer("bound_paths", full.get("bound_paths", 0), 0),
                "sigma_levels": check_sigma_levels(full["sigma_levels"])}
    grid_paths = check_integer("grid_paths", full.get("grid_paths", 32), 1)
    logger = logger_from_cfg(run_dir, full.get("logger"), full)
    checkpoint = Path(full["checkpoint"])
    brain, act, policy_params, env, env_params, saved = load_brain(checkpoint)
    t0 = time.perf_counter()
    evaluation = evaluate_brain(brain, act, policy_params, env, env_params, eval_cfg,
                                static_baseline=bool(full.get("static_baseline", True)),
                                grid_paths=grid_paths)
    results = {"checkpoint": str(checkpoint), "brain": brain, "env": saved["env"].get("preset"),
               "observation": saved["env"].get("observation"), "eval_s": time.perf_counter() - t0,
               "eval": evaluation}
    if brain == "orders":
        logger.log({"eval/mean_reward": evaluation["mean_reward"]})
        logger.info(f"[evaluate] {results['env']}: {evaluation['mean_reward']:.2f} +- {evaluation['ci95']:.2f}"
                    + (f", bound gap {evaluation['oracle']['gap']:.2f}" if "oracle" in evaluation else ""))
    else:
        for k, v in evaluation.items():
            logger.log({f"eval/{k}/brain_cost": v["brain_overall"]})
            logger.info(f"[evaluate] {k}: brain {v['brain_overall']:.3f}"
                        + (f", static {v['static_overall']:.3f}" if "static_overall" in v else "")
                        + (f", bound gap {v['bound']['gap_pct']:.1f}%" if "bound" in v else ""))
    write_json(run_dir / "evaluation.json", results)  # last: its presence marks the job finished (resume)
    logger.finish()
    return results


@hydra.main(config_path="../conf", config_name="evaluate", version_base=None)
def main(cfg):
    stop_cleanly_on_interrupt("[evaluate]")
    run(cfg)


if __name__ == "__main__":
    main()
