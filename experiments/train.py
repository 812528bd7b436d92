"""Train a brain from config: `python experiments/train.py [env=... agent=... ...]`.

agent=ppo_orders (default, env=orgym_v0|orgym_v1): order quantities every period.
agent=hdpo_orders: the same brain trained by HDPO (pathwise gradients, docs/hdpo.md); the agent
group's `algorithm` (ppo | hdpo, default ppo) picks the trainer.
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
from sc_jax.agents import hdpo
from sc_jax.agents.checkpoint import save_checkpoint
from sc_jax.agents.ppo import PPOConfig, make_policy, make_train
from sc_jax.checks import check_choice, check_integer, reject_unknown_keys
from sc_jax.config import env_from_cfg, register_configs, to_dict
from sc_jax.env.wrappers import check_sigma_levels
from sc_jax.runlog import hydra_run_dir, logger_from_cfg, write_json, stop_cleanly_on_interrupt
from sc_jax.errors import ConfigError
from sc_jax.sharding import describe, shard_batch
from sc_jax.sweep import grid_params, grid_points, resume_or_none

register_configs()
KEYS = ("env", "demand", "agent", "logger", "seed", "num_seeds", "grid", "eval", "plot", "resume")


def ppo_config(agent: dict, logger_cfg: dict | None) -> PPOConfig:
    """PPOConfig from the agent group; progress lines follow the logger's throttle unless the
    agent sets its own."""
    ppo = dict(agent.get("ppo", {}))
    if not ppo.get("progress_every_s"):
        ppo["progress_every_s"] = float((logger_cfg or {}).get("progress_every_s", 0.0))
    return PPOConfig.from_dict(ppo)


ALGORITHMS = ("ppo", "hdpo")


def agent_config(agent: dict, logger_cfg: dict | None):
    """The agent group's config: PPOConfig (`algorithm: ppo`, the default) or HDPOConfig
    (`algorithm: hdpo`, conf/agent/hdpo_*.yaml); progress lines as in `ppo_config`."""
    algorithm = check_choice("agent.algorithm", agent.get("algorithm", "ppo"), ALGORITHMS)
    if algorithm == "ppo":
        return ppo_config(agent, logger_cfg)
    config = dict(agent.get("hdpo", {}))
    if not config.get("progress_every_s"):
        config["progress_every_s"] = float((logger_cfg or {}).get("progress_every_s", 0.0))
    return hdpo.HDPOConfig.from_dict(config)


def algorithm_of(config) -> tuple[str, object, object]:
    """(name, make_train, make_policy) of an agent config."""
    if isinstance(config, hdpo.HDPOConfig):
        return "hdpo", hdpo.make_train, hdpo.make_policy
    return "ppo", make_train, make_policy


def check_eval_config(eval_cfg: dict, brain) -> None:
    """The held-out evaluation's settings, checked before any training is spent."""
    reject_unknown_keys(eval_cfg, ("num_paths", "seed", "oracle_paths", "bound_paths", "sigma_levels"), "eval")
    check_integer("eval.num_paths", eval_cfg["num_paths"], 1)
    check_integer("eval.seed", eval_cfg["seed"], 0)
    for name in ("oracle_paths", "bound_paths"):
        check_integer(f"eval.{name}", eval_cfg.get(name, 0) or 0, 0)
    if brain == "safety":
        check_sigma_levels(eval_cfg["sigma_levels"], "eval.sigma_levels")


def check_grid(points: list[dict], brain: str, env) -> None:
    """What an in-process grid may sweep for this brain and env (ConfigError otherwise)."""
    swept = set().union(*points)
    if "sigma_max" in swept and (brain != "orders" or env.unwrapped.demand_kind != "forecast"):
        raise ConfigError("'grid.sigma_max' sweeps the forecast generator's sigma: it needs demand=forecast and an "
                          "orders brain (the safety brain draws sigma per episode: agent.safety.sigma_low/high)")
    if "cost_ratio" in swept and getattr(env, "randomises_ratio", False):
        raise ConfigError("'grid.cost_ratio' cannot sweep a ratio-conditioned brain (it draws the ratio per "
                          "episode: agent.safety.ratio_low/high); use agent=ppo_safety or drop the grid")


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
    ppo = agent_config(agent, full.get("logger"))  # PPOConfig or HDPOConfig
    algorithm, make_train_fn, make_policy_fn = algorithm_of(ppo)
    safety_cfg = agent.get("safety") if brain == "safety" else None
    base_env, env_params = env_from_cfg(full["env"], full["demand"])
    env = build_env(brain, base_env, env_params, safety_cfg)

    points = grid_points(full.get("grid"))
    swept_grid = points != [{}]
    check_grid(points, brain, env)
    train = make_train_fn(ppo, env, env_params)
    keys = shard_batch(jax.random.split(jax.random.PRNGKey(seed), num_seeds))  # seeds over local devices
    logger.info(f"[train] brain={brain} env={full['env'].get('preset')} seeds={num_seeds} "
                f"{algorithm} updates={train.num_updates} x {getattr(ppo, 'num_envs', None) or ppo.batch_size} envs "
                f"x {env.episode_length} decisions"
                + (f"; in-process grid of {len(points)} points {points}" if swept_grid else "")
                + f"; devices {describe()}")
    t0 = time.perf_counter()
    if swept_grid:  # every grid point x every seed in one jitted call (one compile)
        by_point = grid_params(env_params, points)
        compiled = jax.jit(jax.vmap(jax.vmap(train, (0, None)), (None, 0))).lower(keys, by_point).compile()
        t1 = time.perf_counter()
        policy_all, metrics = jax.block_until_ready(compiled(keys, by_point))
    else:
        # params as an argument, not baked-in constants: jobs that differ only in traced values
        # (cost ratio, demand parameters) compile the same program (a persistent cache hit)
        compiled = jax.jit(jax.vmap(train, (0, None))).lower(keys, env_params).compile()
        t1 = time.perf_counter()
        policy_all, metrics = jax.block_until_ready(compiled(keys, env_params))
    t2 = time.perf_counter()
    metrics = jax.tree.map(np.asarray, metrics)
    timing = {"compile_s": t1 - t0, "train_s": t2 - t1, "train_incl_compile_s": t2 - t0}
    if swept_grid:
        return _finish_grid(full, run_dir, logger, brain, ppo, safety_cfg, env, env_params, points, by_point,
                            policy_all, metrics, timing, seed)
    best = int(np.argmax(metrics["episode_return"][:, -1]))
    policy_params = jax.tree.map(lambda x: x[best], policy_all)
    steps = metrics["timesteps"][0]
    stride = max(len(steps) // 200, 1)
    for i in range(0, len(steps), stride):
        logger.log({f"train/{k}": float(v[best, i]) for k, v in metrics.items() if k != "timesteps"},
                   step=int(steps[i]))

    config_record = {"brain": brain, "algorithm": algorithm, "agent": ppo.to_dict(), "env": full["env"],
                     "demand": full["demand"],
                     "safety": safety_cfg, "seed": seed, "seed_index": best}
    save_checkpoint(run_dir / "checkpoint", policy_params, config_record, env=env)
    act = make_policy_fn(ppo, env, deterministic=True)
    t3 = time.perf_counter()
    evaluation = evaluate_brain(brain, act, policy_params, env, env_params, full["eval"])
    t4 = time.perf_counter()
    results = {
        "brain": brain, "env": full["env"].get("preset"), "observation": full["env"].get("observation"),
        "num_seeds": num_seeds, "kept_seed_index": best,
        "timesteps": int(steps[-1]), "num_updates": int(len(steps)),
        **timing, "eval_s": t4 - t3, "devices": describe(),
        "final_train_return_per_seed": metrics["episode_return"][:, -1].tolist(),
        "curve": {"timesteps": steps[::stride].tolist(),
                  "episode_return": metrics["episode_return"][best, ::stride].tolist()},
        "eval": evaluation,
    }
    logger.log({"eval/" + k: v for k, v in _headline(brain, evaluation).items()})
    if full.get("plot", True):
        from sc_jax.plots import learning_curve

        learning_curve(steps, metrics["episode_return"], run_dir / "learning_curve.png",
                       title=f"{algorithm.upper()} {brain} on {full['env'].get('preset')}")
    write_json(run_dir / "results.json", results)  # last: its presence marks the job finished (resume)
    logger.info(f"[train] done: train {t2 - t1:.1f}s + compile {t1 - t0:.1f}s; eval {_headline(brain, evaluation)}")
    logger.finish()
    return results


def _finish_grid(full, run_dir, logger, brain, ppo, safety_cfg, env, env_params, points, by_point,
                 policy_all, metrics, timing, seed) -> dict:
    """Per grid point: keep the best seed, save its checkpoint (checkpoint/point_<i>), evaluate it
    on the held-out paths at that point's params; results.json lists the points (`grid_points`,
    which experiments/aggregate.py expands into one row each)."""
    algorithm, _, make_policy_fn = algorithm_of(ppo)
    act = make_policy_fn(ppo, env, deterministic=True)
    steps = metrics["timesteps"][0, 0]
    rows = []
    t3 = time.perf_counter()
    for i, point in enumerate(points):
        returns = metrics["episode_return"][i]  # [seeds, updates]
        best = int(np.argmax(returns[:, -1]))
        policy_params = jax.tree.map(lambda x: x[i, best], policy_all)
        point_params = jax.tree.map(lambda x: x[i], by_point)
        env_record = {**full["env"], **({"cost_ratio": point["cost_ratio"]} if "cost_ratio" in point else {})}
        demand_record = dict(full["demand"])
        if "sigma_max" in point:
            demand_record["params"] = {**demand_record.get("params", {}), "sigma_max": point["sigma_max"]}
        save_checkpoint(run_dir / "checkpoint" / f"point_{i}", policy_params,
                        {"brain": brain, "algorithm": algorithm, "agent": ppo.to_dict(), "env": env_record,
                         "demand": demand_record,
                         "safety": safety_cfg, "seed": seed, "seed_index": best, "grid_point": point}, env=env)
        evaluation = evaluate_brain(brain, act, policy_params, env, point_params, full["eval"])
        rows.append({**point, "kept_seed_index": best, "final_train_return_per_seed": returns[:, -1].tolist(),
                     "final_train_return": float(returns[best, -1]), "eval": evaluation})
        logger.log({f"grid_{i}/eval/{k}": v for k, v in _headline(brain, evaluation).items()})
        logger.info(f"[train] grid point {i + 1}/{len(points)} {point}: {_headline(brain, evaluation)}")
    results = {"brain": brain, "env": full["env"].get("preset"), "observation": full["env"].get("observation"),
               "num_seeds": int(metrics["episode_return"].shape[1]),
               "grid": {k: v for k, v in full["grid"].items() if v is not None},
               "timesteps": int(steps[-1]), "num_updates": int(len(steps)), **timing,
               "eval_s": time.perf_counter() - t3, "devices": describe(), "grid_points": rows}
    write_json(run_dir / "results.json", results)  # last: its presence marks the job finished (resume)
    logger.info(f"[train] grid done: {len(points)} points x {results['num_seeds']} seeds in one call, "
                f"train {timing['train_s']:.1f}s + compile {timing['compile_s']:.1f}s")
    logger.finish()
    return results


def _headline(brain, evaluation) -> dict:
    if brain == "orders":
        return {"mean_reward": evaluation["mean_reward"]}
    return {f"{k}/brain_cost": v["brain_overall"] for k, v in evaluation.items()}


@hydra.main(config_path="../conf", config_name="train", version_base=None)
def main(cfg):
    stop_cleanly_on_interrupt("[train]")
    run(cfg)


if __name__ == "__main__":
    main()
