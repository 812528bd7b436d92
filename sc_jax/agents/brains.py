"""The two brains behind one interface: build the TrainEnv of a brain from config, evaluate a
trained brain on held-out paths, load one from a checkpoint (used by experiments/train.py and
experiments/evaluate.py)."""
from __future__ import annotations

from sc_jax.agents.checkpoint import load_config, load_policy_params
from sc_jax.agents.orders import make_orders_env
from sc_jax.agents.ppo import PPOConfig, make_policy
from sc_jax.agents.safety_env import make_safety_env
from sc_jax.config import env_params_from_cfg
from sc_jax.errors import ConfigError

BRAINS = ("orders", "safety")


def build_env(brain: str, env_params, safety_cfg: dict | None):
    if brain == "orders":
        return make_orders_env(env_params)
    if brain == "safety":
        return make_safety_env(env_params, **dict(safety_cfg or {}))
    raise ConfigError(f"agent.brain must be 'orders' or 'safety', got {brain!r}")


def evaluate_brain(brain: str, act, policy_params, env_params, safety_cfg, eval_cfg: dict,
                   ratios=None, static_baseline: bool = False, grid_paths: int = 32) -> dict:
    """Held-out evaluation (shared with experiments/evaluate.py)."""
    from sc_jax.agents import evaluation

    if brain == "orders":
        return evaluation.evaluate_orders(act, policy_params, env_params,
                                          num_paths=int(eval_cfg["num_paths"]), seed=int(eval_cfg["seed"]),
                                          oracle_paths=int(eval_cfg.get("oracle_paths", 0) or 0))
    safety_cfg = dict(safety_cfg or {})
    freq = int(safety_cfg.get("action_frequency", 10))
    if ratios is None:
        lo, hi = safety_cfg.get("ratio_low"), safety_cfg.get("ratio_high")
        ratios = [10.0, 100.0, 1000.0] if lo is not None and hi is not None else [float(env_params.cost_ratio)]
    out = {}
    for ratio in ratios:
        static = None
        if static_baseline:
            static = evaluation.tune_static(env_params, ratio, eval_cfg["sigma_levels"],
                                            safety_low=int(safety_cfg.get("safety_low", 0)),
                                            safety_high=int(safety_cfg.get("safety_high", 10)),
                                            action_frequency=freq, num_paths=grid_paths)
        out[f"ratio_{ratio:g}"] = evaluation.evaluate_safety(
            act, policy_params, env_params, ratio, sigma_levels=list(eval_cfg["sigma_levels"]),
            num_paths=int(eval_cfg["num_paths"]), seed=int(eval_cfg["seed"]), action_frequency=freq,
            static=static, bound_paths=int(eval_cfg.get("bound_paths", 0) or 0))
    return out


def load_brain(checkpoint):
    """(brain, act_fn, policy_params, env_params, saved config) from a checkpoint directory."""
    saved = load_config(checkpoint)
    agent = PPOConfig.from_dict(saved["agent"])
    env_params = env_params_from_cfg(saved["env"], saved.get("demand"))
    env = build_env(saved["brain"], env_params, saved.get("safety"))
    policy_params = load_policy_params(checkpoint, agent, env)
    return saved["brain"], make_policy(agent, env, deterministic=True), policy_params, env_params, saved


