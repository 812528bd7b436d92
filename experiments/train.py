"""Train a PPO brain from config: `python experiments/train.py [env=... agent=... ...]`.

agent=ppo_orders (default, env=orgym_v0|orgym_v1): order quantities every period.
agent=ppo_safety env=hybrid demand=forecast: safety stock every action_frequency days.

The whole training is one jitted function; `num_seeds` seeds train at once (vmap) and the one
with the best final training return is kept (chosen without held-out data). Writes into the run
dir: checkpoint/ (policy.msgpack + config.json), results.json (timings, held-out evaluation,
learning curve), metrics.jsonl (via the run logger), learning_curve.png.
"""
from __future__ import annotations

import time
from pathlib import Path

import hydra
import jax
import numpy as np

from sc_jax.agents.brains import build_env, evaluate_brain
from sc_jax.agents.checkpoint import save_checkpoint
from sc_jax.agents.ppo import PPOConfig, make_policy, make_train
from sc_jax.checks import check_integer, reject_unknown_keys
from sc_jax.config import env_from_cfg, register_configs, to_dict
from sc_jax.env.wrappers import check_sigma_levels
from sc_jax.runlog import hydra_run_dir, logger_from_cfg, write_json
from sc_jax.sweep import resume_or_none

register_configs()
KEYS = ("env", "demand", "agent", "logger", "seed", "num_seeds", "eval", "plot", "resume")


def ppo_config(agent: dict, logger_cfg: dict | None) -> PPOConfig:
    """PPOConfig from the agent group; progress lines follow the logger's throttle unless the
    agent sets its own."""
    ppo = dict(agent.get("ppo", {}))
    if not ppo.get("progress_every_s"):
        ppo["progress_every_s"] = float((logger_cfg or {}).get("progress_every_s", 0.0))
    return PPOConfig.from_dict(ppo)


def check_eval_config(eval_cfg: dict, brain) -> None:
    """The held-out evaluation's settings, checked before any training is spent."""
    reject_unknown_keys(eval_cfg, ("num_paths", "seed", "oracle_paths", "bound_paths", "sigma_levels"), "eval")
    check_integer("eval.num_paths", eval_cfg["num_paths"], 1)
    check_integer("eval.seed", eval_cfg["seed"], 0)
    for name in ("oracle_paths", "bound_paths"):
        check_integer(f"eval.{name}", eval_cfg.get(name, 0) or 0, 0)
    if brain == "safety":
        check_sigma_levels(eval_cfg["sigma_levels"], "eval.sigma_levels")


def run(cfg, run_dir=None) -> dict:
    run_dir = Path(run_dir) if run_dir is not None else hydra_run_dir()
    full = to_dict(cfg)
    reject_unknown_keys(full, KEYS, "train")
    stored = resume_or_none(full, run_dir, "results.json", "[train]")  # a finished job: untouched
    if stored is not None:
        return stored
    seed = check_integer("seed", full.get("seed", 0), 0)
    num_seeds = check_integer("num_seeds", full.get("num_seeds", 1), 1)
    check_eval_config(full["eval"], full["agent"].get("brain"))
    logger = logger_from_cfg(run_dir, full.get("logger"), full)
    agent = full["agent"]
    brain = agent.get("brain", "orders")
    ppo = ppo_config(agent, full.get("logger"))
    safety_cfg = agent.get("safety") if brain == "safety" else None
    base_env, env_params = env_from_cfg(full["env"], full["demand"])
    env = build_env(brain, base_env, env_params, safety_cfg)

    train = make_train(ppo, env, env_params)
    keys = jax.random.split(jax.random.PRNGKey(seed), num_seeds)
    logger.info(f"[train] brain={brain} env={full['env'].get('preset')} seeds={num_seeds} "
                f"updates={train.num_updates} x {ppo.num_envs} envs x {env.episode_length} decisions")
    t0 = time.perf_counter()
    compiled = jax.jit(jax.vmap(train)).lower(keys).compile()
    t1 = time.perf_counter()
    policy_all, metrics = jax.block_until_ready(compiled(keys))
    t2 = time.perf_counter()
    metrics = jax.tree.map(np.asarray, metrics)
    best = int(np.argmax(metrics["episode_return"][:, -1]))
    policy_params = jax.tree.map(lambda x: x[best], policy_all)
    steps = metrics["timesteps"][0]
    stride = max(len(steps) // 200, 1)
    for i in range(0, len(steps), stride):
        logger.log({f"train/{k}": float(v[best, i]) for k, v in metrics.items() if k != "timesteps"},
                   step=int(steps[i]))

    config_record = {"brain": brain, "agent": ppo.to_dict(), "env": full["env"], "demand": full["demand"],
                     "safety": safety_cfg, "seed": seed, "seed_index": best}
    save_checkpoint(run_dir / "checkpoint", policy_params, config_record, env=env)
    act = make_policy(ppo, env, deterministic=True)
    t3 = time.perf_counter()
    evaluation = evaluate_brain(brain, act, policy_params, env, env_params, full["eval"])
    t4 = time.perf_counter()
    results = {
        "brain": brain, "env": full["env"].get("preset"), "observation": full["env"].get("observation"),
        "num_seeds": num_seeds, "kept_seed_index": best,
        "timesteps": int(steps[-1]), "num_updates": int(len(steps)),
        "compile_s": t1 - t0, "train_s": t2 - t1, "train_incl_compile_s": t2 - t0, "eval_s": t4 - t3,
        "final_train_return_per_seed": metrics["episode_return"][:, -1].tolist(),
        "curve": {"timesteps": steps[::stride].tolist(),
                  "episode_return": metrics["episode_return"][best, ::stride].tolist()},
        "eval": evaluation,
    }
    logger.log({"eval/" + k: v for k, v in _headline(brain, evaluation).items()})
    if full.get("plot", True):
        from sc_jax.plots import learning_curve

        learning_curve(steps, metrics["episode_return"], run_dir / "learning_curve.png",
                       title=f"PPO {brain} on {full['env'].get('preset')}")
    write_json(run_dir / "results.json", results)  # last: its presence marks the job finished (resume)
    logger.info(f"[train] done: train {t2 - t1:.1f}s + compile {t1 - t0:.1f}s; eval {_headline(brain, evaluation)}")
    logger.finish()
    return results


def _headline(brain, evaluation) -> dict:
    if brain == "orders":
        return {"mean_reward": evaluation["mean_reward"]}
    return {f"{k}/brain_cost": v["brain_overall"] for k, v in evaluation.items()}


@hydra.main(config_path="../conf", config_name="train", version_base=None)
def main(cfg):
    run(cfg)


if __name__ == "__main__":
    main()
