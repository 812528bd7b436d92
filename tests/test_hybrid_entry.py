"""experiments/hybrid.py composes with Hydra and runs every method end to end on a tiny budget."""
import importlib
import json
import math

import pytest
from tests.hydra_config import compose_config

from sc_jax.errors import ConfigError

TINY = ["catalog.num_products=4", "catalog.ratios=[10,1000]", "catalog.periods=20", "sigma_levels=[2,5]", "episodes=2",
        "static.grid_paths=2", "agent.safety.safety_high=3", "agent.ppo.num_envs=8",
        "agent.ppo.num_minibatches=2", "agent.ppo.update_epochs=1", "agent.ppo.hidden=[8]",
        "agent.ppo.total_timesteps=32", "agent.ppo.progress_every_s=0", "logger.console=false",
        "tuning.sigma_rule.z_values=[0.0,2.0]", "tuning.sigma_rule.steps=[]", "tuning.sigma_rule.train_paths=2",
        "capacity_brain.iterations=2", "capacity_brain.population=2", "capacity_brain.train_samples=1",
        "capacity_brain.hidden=[4]", "capacity_brain.progress_every_s=0"]


def _compose(overrides):
    return compose_config("hybrid", overrides)


def test_hybrid_defaults_compose():
    cfg = _compose([])
    assert cfg.agent.brain == "safety" and cfg.alloc.method == "daily"
    assert cfg.alloc.capacity_basis == "expected"
    assert set(cfg.methods) == set(importlib.import_module("experiments.hybrid").METHODS)
    assert {"fixed_safety_alloc", "sigma_rule_alloc"} <= set(cfg.methods) and cfg.methods[0] == "brain+alloc"
    assert cfg.tuning.sigma_rule.train_seed != cfg.seed  # training keys are not the evaluation keys


def test_hybrid_runs_every_method_on_common_paths(tmp_path):
    hybrid = importlib.import_module("experiments.hybrid")
    results = hybrid.run(_compose(TINY), run_dir=tmp_path)
    table = results["table"]
    assert set(table) == set(hybrid.METHODS)
    for method, rows in table.items():
        for sigma in (2, 5):
            row = rows[sigma]
            assert len(row["total_cost_per_episode"]) == 2 and row["total_cost_mean"] > 0
            # totals = holding + missed sales + refused arrivals, and the per-ratio split adds up
            parts = row["holding"] + row["missed_sales"] + row["refused_cost"]
            assert abs(parts - row["total_cost_mean"]) < 1e-6 * max(1.0, parts)
            assert abs(sum(row["cost_per_ratio"].values()) - row["total_cost_mean"]) < 1e-6 * max(1.0, parts)
            if method != "brain_only":
                assert sum(row["statuses"].values()) == 2 * 20  # one allocation per day and episode
    paired = results["paired_minus_brain+alloc"]
    assert set(paired) == set(hybrid.METHODS) - {"brain+alloc"}
    row, diff = table["static+alloc"][5], paired["static+alloc"][5]
    ref = table["brain+alloc"][5]["total_cost_per_episode"]
    assert abs(diff["mean"] - (row["total_cost_mean"] - sum(ref) / 2)) < 1e-6 * row["total_cost_mean"]
    assert diff["ci95"] >= 0 and row["total_cost_ci95"] >= 0
    assert (tmp_path / "checkpoint" / "policy.msgpack").exists() and (tmp_path / "hybrid_costs.png").exists()
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["num_products"] == 4 and saved["alloc"]["capacity_basis"] == "expected"
    # the issue-15 rows: tuned parameters per ratio and sigma recorded, costs finite, the rule decided daily
    assert saved["daily_decisions"] == ["sigma_rule_alloc", "capacity_brain_alloc"]
    trained = saved["capacity_brain"]  # trained here on its own seed, saved, its config recorded
    assert trained["train_seed"] != _compose(TINY).seed and trained["config"]["iterations"] == 2
    assert math.isfinite(trained["train_cost_first"]) and math.isfinite(trained["train_cost_last"])
    assert (tmp_path / "capacity_brain" / "policy.msgpack").exists()
    for r in ("ratio_10", "ratio_1000"):
        for g in ("sigma_2", "sigma_5"):
            z, stock = saved["sigma_rule"]["z"][r][g], saved["fixed_safety"][r][g]
            assert len(z) == 3 and all(math.isfinite(x) for x in z)
            assert len(stock) == 3 and all(0 <= x <= 3 for x in stock)  # the brain's safety range
    for method in ("sigma_rule_alloc", "fixed_safety_alloc"):
        assert all(math.isfinite(x) for g in ("2", "5") for x in saved["table"][method][g]["total_cost_per_episode"])
    # the checkpoint it wrote loads back as the brain of a second run
    again = hybrid.run(_compose(TINY + [f"brain.checkpoint={tmp_path / 'checkpoint'}", "methods=[brain+alloc]"]),
                       run_dir=tmp_path / "again")
    assert again["table"]["brain+alloc"][2]["total_cost_per_episode"] == table["brain+alloc"][2]["total_cost_per_episode"]


def test_hybrid_config_errors(tmp_path):
    hybrid = importlib.import_module("experiments.hybrid")
    with pytest.raises(ConfigError, match="methods must be"):
        hybrid.run(_compose(TINY + ["methods=[brain+milp]"]), run_dir=tmp_path)
    with pytest.raises(ConfigError, match="'catalog.demand' must be one of"):
        hybrid.run(_compose(TINY + ["catalog.demand=normal"]), run_dir=tmp_path)
    with pytest.raises(ConfigError, match="catalog.mu_range must be two numbers"):
        hybrid.run(_compose(TINY + ["catalog.mu_range=[-5,10]"]), run_dir=tmp_path)
    with pytest.raises(ConfigError, match="catalog.demand 'user' needs catalog.demand_csv"):
        hybrid.run(_compose(TINY + ["catalog.demand=user"]), run_dir=tmp_path)
    with pytest.raises(ConfigError, match="capacity_per_product"):
        hybrid.run(_compose(TINY + ["catalog.capacity_per_product=[10,20]"]), run_dir=tmp_path)


def test_sigma_rule_alloc_z_from_training_episodes_only(tmp_path):
    """z is tuned on training keys only: another evaluation seed (other evaluation episodes) leaves
    it unchanged."""
    hybrid = importlib.import_module("experiments.hybrid")
    fast = TINY + ["methods=[sigma_rule_alloc]", "episodes=1", "plot=false"]
    first = hybrid.run(_compose(fast), run_dir=tmp_path / "a")
    other = hybrid.run(_compose(fast + ["seed=7"]), run_dir=tmp_path / "b")
    assert other["sigma_rule"]["z"] == first["sigma_rule"]["z"]
    assert other["table"]["sigma_rule_alloc"][2]["total_cost_per_episode"] != \
        first["table"]["sigma_rule_alloc"][2]["total_cost_per_episode"]


@pytest.mark.slow  # ~50 s of compilation (as tests/test_hybrid_jax.py::test_experiment_runs_on_the_jax_path)
def test_sigma_rule_alloc_runs_on_the_jax_path(tmp_path):
    """alloc=jax (the jitted episode with the JAX capacity stage) runs sigma_rule_alloc on the same
    episodes as the host loop's daily MILP, with the same costs."""
    hybrid = importlib.import_module("experiments.hybrid")
    fast = TINY + ["methods=[sigma_rule_alloc]", "episodes=1", "sigma_levels=[5]", "plot=false"]
    host = hybrid.run(_compose(fast), run_dir=tmp_path / "host")
    jax_run = hybrid.run(_compose(fast + ["alloc=jax", "alloc.capacity_basis=expected"]), run_dir=tmp_path / "jax")
    assert jax_run["alloc"]["method"] == "jax" and jax_run["sigma_rule"]["z"] == host["sigma_rule"]["z"]
    row, ref = jax_run["table"]["sigma_rule_alloc"][5], host["table"]["sigma_rule_alloc"][5]
    assert row["total_cost_mean"] == pytest.approx(ref["total_cost_mean"], rel=1e-4)
    assert row["refused_units"] == ref["refused_units"]


@pytest.mark.parametrize("overrides,message", [
    (["tuning.sigma_rule.z_values=[]"], "'tuning.sigma_rule.z_values' must be a non-empty list of finite numbers"),
    (["tuning.sigma_rule.z_values=[1.0,.inf]"], "'tuning.sigma_rule.z_values' must be a non-empty list of finite"),
    (["tuning.sigma_rule.z_values=abc"], "'tuning.sigma_rule.z_values' must be a non-empty list"),
    (["tuning.sigma_rule.steps=[0]"], "'tuning.sigma_rule.steps' must be a list of numbers > 0"),
    (["tuning.sigma_rule.train_paths=0"], "'tuning.sigma_rule.train_paths' must be an integer >= 1, got 0"),
    (["tuning.sigma_rule.train_seed=-1"], "'tuning.sigma_rule.train_seed' must be an integer >= 0, got -1"),
    (["tuning.sigma_rule.form=base"], r"'tuning.sigma_rule.form' must be one of \('installation', 'echelon'\)"),
    (["+tuning.sigma_rule.z=1"], r"unknown tuning.sigma_rule key\(s\) \['z'\]"),
    (["capacity_brain.population=3"], "'capacity_brain.population' must be an even integer >= 2"),
    (["capacity_brain.z_init=5.0"], "'capacity_brain.z_init' must lie strictly between z_low and z_high"),
    (["capacity_brain.timing=late"], r"'capacity_brain.timing' must be one of"),
    (["capacity_brain.train_seed=-1"], "'capacity_brain.train_seed' must be an integer >= 0, got -1"),
    (["+capacity_brain.lr=1"], r"unknown capacity_brain key\(s\) \['lr'\]"),
    (["capacity_brain.noise_std=0"], "'capacity_brain.noise_std' must be a finite number > 0, got 0"),
    (["capacity_brain.population_batch=0"], "'capacity_brain.population_batch' must be an integer >= 1, got 0"),
    (["capacity_brain.residual=maybe"], "'capacity_brain.residual' must be true or false, got 'maybe'"),
    (["capacity_brain.delta_max=-1"], "'capacity_brain.delta_max' must be a finite number > 0, got -1"),
    (["capacity_brain.cover_max=-1"], "'capacity_brain.cover_max' must be a finite number >= 0, got -1"),
])
def test_hybrid_rejects_bad_sigma_rule_config(overrides, message, tmp_path):
    hybrid = importlib.import_module("experiments.hybrid")
    with pytest.raises(ConfigError, match=message):
        hybrid.run(_compose(TINY + overrides), run_dir=tmp_path)
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "checkpoint").exists()


@pytest.mark.parametrize("overrides,message", [
    (["episodes=0"], "'episodes' must be an integer >= 1, got 0"),
    (["seed=abc"], "'seed' must be an integer >= 0, got 'abc'"),
    (["+foo=1"], r"unknown hybrid key\(s\) \['foo'\]"),
    (["sigma_levels=[0]"], r"'sigma_levels\[\]' must be an integer >= 1, got 0"),
    (["catalog.num_products=0"], "'catalog.num_products' must be an integer >= 1, got 0"),
    (["catalog.overflow_rule=round"], "'catalog.overflow_rule' must be one of"),
])
def test_hybrid_rejects_bad_config_before_any_work(overrides, message, tmp_path):
    hybrid = importlib.import_module("experiments.hybrid")
    with pytest.raises(ConfigError, match=message):
        hybrid.run(_compose(TINY + overrides), run_dir=tmp_path)
    assert not (tmp_path / "results.json").exists()


def test_residual_capacity_brain_starts_from_the_tuned_sigma_rule(tmp_path):
    """capacity_brain.residual: the sigma rule is tuned (training episodes) even when
    sigma_rule_alloc is not run, and its z per ratio and sigma is the brain's fixed base."""
    hybrid = importlib.import_module("experiments.hybrid")
    fast = TINY + ["methods=[capacity_brain_alloc]", "episodes=1", "sigma_levels=[5]", "plot=false",
                   "capacity_brain.residual=true"]
    results = hybrid.run(_compose(fast), run_dir=tmp_path)
    saved = json.loads((tmp_path / "capacity_brain" / "config.json").read_text())
    tuned = results["sigma_rule"]["z"]
    assert saved["agent"]["residual"] and saved["z_base"]["sigmas"] == [5.0]
    assert [row[0] for row in saved["z_base"]["z"]] == [tuned["ratio_10"]["sigma_5"], tuned["ratio_1000"]["sigma_5"]]
    assert math.isfinite(results["table"]["capacity_brain_alloc"][5]["total_cost_mean"])
