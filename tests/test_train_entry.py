"""experiments/train.py and experiments/evaluate.py compose with Hydra and run end to end on a
tiny budget (both brains), writing checkpoint, results JSON and learning-curve PNG."""
import importlib
import json

import numpy as np
import pytest
from tests.hydra_config import compose_config

TINY_PPO = ["agent.ppo.num_envs=8", "agent.ppo.num_minibatches=2", "agent.ppo.update_epochs=1",
            "agent.ppo.hidden=[8]", "agent.ppo.progress_every_s=0", "logger.console=false"]


def _compose(name, overrides):
    return compose_config(name, overrides)


@pytest.fixture(scope="module")
def train_mod():
    return importlib.import_module("experiments.train")


@pytest.fixture(scope="module")
def evaluate_mod():
    return importlib.import_module("experiments.evaluate")


def test_defaults_compose():
    cfg = _compose("train", [])
    assert cfg.env.preset == "orgym_v0" and cfg.agent.brain == "orders" and not cfg.logger.wandb.enabled
    cfg = _compose("train", ["env=hybrid", "demand=forecast", "agent=ppo_safety"])
    assert cfg.agent.brain == "safety" and cfg.agent.safety.action_frequency == 10
    cfg = _compose("evaluate", ["checkpoint=x"])
    assert cfg.num_paths >= 1000


def test_train_and_evaluate_orders(train_mod, evaluate_mod, tmp_path):
    cfg = _compose("train", TINY_PPO + ["env=orgym_v1", "env.observation=rich",
                                        "agent.ppo.total_timesteps=480", "num_seeds=2",
                                        "agent.ppo.head=categorical", "agent.ppo.ent_coef=0.01",
                                        "eval.num_paths=20", "eval.oracle_paths=2"])
    results = train_mod.run(cfg, run_dir=tmp_path / "train")
    run_dir = tmp_path / "train"
    for name in ("checkpoint/policy.msgpack", "checkpoint/config.json", "results.json",
                 "learning_curve.png", "metrics.jsonl"):
        assert (run_dir / name).exists(), name
    assert results["num_updates"] == 2 and len(results["final_train_return_per_seed"]) == 2
    oracle = results["eval"]["oracle"]
    assert oracle["bound_mean"] >= oracle["policy_mean_same_paths"] - 1e-3  # a bound
    ecfg = _compose("evaluate", [f"checkpoint={run_dir / 'checkpoint'}", "num_paths=20", "oracle_paths=0",
                                 f"seed={cfg.eval.seed}", "logger.console=false"])
    evaluated = evaluate_mod.run(ecfg, run_dir=tmp_path / "eval")
    # same held-out key, same restored policy: the same score as train.py's own evaluation
    assert abs(evaluated["eval"]["mean_reward"] - results["eval"]["mean_reward"]) < 1e-3
    assert json.loads((tmp_path / "eval" / "evaluation.json").read_text())["brain"] == "orders"


def test_train_and_evaluate_safety(train_mod, evaluate_mod, tmp_path):
    cfg = _compose("train", TINY_PPO + ["env=hybrid", "demand=forecast", "agent=ppo_safety", "env.periods=40",
                                        "agent.safety.safety_high=4", "agent.ppo.total_timesteps=64",
                                        "eval.num_paths=8", "eval.sigma_levels=[1,5]"])
    results = train_mod.run(cfg, run_dir=tmp_path / "train")
    ev = results["eval"]["ratio_100"]
    assert len(ev["brain_mean"]) == 2 and all(c > 0 for c in ev["brain_mean"])
    ecfg = _compose("evaluate", [f"checkpoint={tmp_path / 'train' / 'checkpoint'}", "num_paths=8",
                                 "sigma_levels=[1,5]", "grid_paths=4", "bound_paths=2", "logger.console=false"])
    evaluated = evaluate_mod.run(ecfg, run_dir=tmp_path / "eval")
    ev = evaluated["eval"]["ratio_100"]
    assert len(ev["static"]["best"]) == 3 and len(ev["brain_minus_static"]) == 2
    # the perfect-information bound is below the brain's cost on the same two paths per level
    assert ev["bound"]["num_paths"] == 2
    assert ev["bound"]["bound_overall"] <= ev["bound"]["brain_overall_same_paths"] + 1e-6


@pytest.mark.parametrize("overrides,message", [
    (["seed=abc"], "'seed' must be an integer >= 0, got 'abc'"),
    (["num_seeds=0"], "'num_seeds' must be an integer >= 1, got 0"),
    (["+foo=1"], r"unknown train key\(s\) \['foo'\]"),
    (["+env.foo=1"], "unknown env config key"),
    (["env=orgym_v1", "+env.backlog=true"], "'backlog' must be False"),
    (["demand=user"], "demand.csv must name a CSV file"),
    (["demand=user", "demand.csv=/nonexistent/paths.csv"], "'demand.csv' must name a readable CSV file"),
    (["+demand.csv=x.csv"], "'demand.csv' is only read when demand.kind is 'user'"),
    (["agent.ppo.total_timesteps=0"], "agent.ppo.total_timesteps"),
    (["agent.ppo.total_timesteps=-5"], "agent.ppo.total_timesteps"),
    (["agent.ppo.lr=-1"], "agent.ppo.lr"),
    (["agent.ppo.gamma=1.5"], "agent.ppo.gamma"),
    (["agent.ppo.hidden=[]"], "agent.ppo.hidden"),
    (["agent.ppo.hidden=[-8]"], "agent.ppo.hidden"),
    (["env=hybrid", "demand=forecast", "agent=ppo_safety", "eval.sigma_levels=[0]",
      "agent.ppo.total_timesteps=64"], "'eval.sigma_levels' must be a non-empty list of integers >= 1"),
    (["grid.sigma_max=[2,6]"], "'grid.sigma_max' sweeps the forecast generator's sigma"),
    (["env=hybrid", "demand=forecast", "agent=ppo_safety_conditioned", "grid.cost_ratio=[10,100]"],
     "'grid.cost_ratio' cannot sweep a ratio-conditioned brain"),
    (["grid.cost_ratio=[0]"], "'grid.cost_ratio' must be a non-empty list of finite numbers > 0"),
])
def test_train_rejects_bad_config(train_mod, overrides, message, tmp_path):
    from sc_jax.errors import ConfigError

    cfg = _compose("train", TINY_PPO + ["agent.ppo.total_timesteps=240"] + overrides)
    with pytest.raises(ConfigError, match=message):
        train_mod.run(cfg, run_dir=tmp_path)
    assert not (tmp_path / "results.json").exists()


def test_evaluate_needs_a_checkpoint(evaluate_mod, tmp_path):
    from sc_jax.errors import ConfigError

    with pytest.raises(ConfigError, match="'checkpoint' must name a checkpoint directory"):
        evaluate_mod.run(_compose("evaluate", []), run_dir=tmp_path)
    with pytest.raises(ConfigError, match="'num_paths' must be an integer >= 1"):
        evaluate_mod.run(_compose("evaluate", ["checkpoint=x", "num_paths=0"]), run_dir=tmp_path)


def test_in_process_grid_trains_every_point_in_one_call(train_mod, tmp_path):
    """grid.cost_ratio: every point x seed in one jitted call; each point keeps its best seed,
    its checkpoint reloads at its own ratio, and its evaluation matches the point's params.
    With all-zero lead times (OR-Gym needs max(L) >= 1; sc_jax trains and evaluates with
    L = [0, 0, 0]: history length 0, a 3-number observation): one run, one training compile, for
    both (they were two tests, each compiling its own trainer)."""
    from sc_jax.agents.brains import load_brain

    cfg = _compose("train", TINY_PPO + ["grid.cost_ratio=[10,1000]", "num_seeds=2", "agent.ppo.total_timesteps=240",
                                        "eval.num_paths=8", "plot=false", "env.L=[0,0,0]"])
    results = train_mod.run(cfg, run_dir=tmp_path)
    points = results["grid_points"]
    assert [p["cost_ratio"] for p in points] == [10.0, 1000.0] and results["grid"] == {"cost_ratio": [10, 1000]}
    assert all(len(p["final_train_return_per_seed"]) == 2 for p in points)
    assert results["num_updates"] == 1 and all(np.isfinite(p["eval"]["mean_reward"]) for p in points)
    # lower holding cost (ratio 1000) -> a higher reward under the same policy class
    assert points[1]["eval"]["mean_reward"] > points[0]["eval"]["mean_reward"]
    brain, _, _, env, params, saved = load_brain(tmp_path / "checkpoint" / "point_1")
    assert brain == "orders" and float(params.cost_ratio) == 1000.0 and saved["grid_point"] == {"cost_ratio": 1000.0}
    assert env.history_length == 0 and env.obs_size == 3 and np.asarray(params.lead_time).tolist() == [0, 0, 0]
    assert json.loads((tmp_path / "results.json").read_text())["grid_points"][0]["cost_ratio"] == 10.0
