"""experiments/hybrid.py composes with Hydra and runs every method end to end on a tiny budget."""
import importlib
import json

import pytest
from tests.hydra_config import compose_config

from sc_jax.errors import ConfigError

TINY = ["catalog.num_products=4", "catalog.ratios=[10,1000]", "catalog.periods=20", "sigma_levels=[2,5]", "episodes=2",
        "static.grid_paths=2", "agent.safety.safety_high=3", "agent.ppo.num_envs=8",
        "agent.ppo.num_minibatches=2", "agent.ppo.update_epochs=1", "agent.ppo.hidden=[8]",
        "agent.ppo.total_timesteps=32", "agent.ppo.progress_every_s=0", "logger.console=false"]


def _compose(overrides):
    return compose_config("hybrid", overrides)


def test_hybrid_defaults_compose():
    cfg = _compose([])
    assert cfg.agent.brain == "safety" and cfg.alloc.method == "daily"
    assert cfg.alloc.capacity_basis == "expected" and len(cfg.methods) == 5


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


@pytest.mark.parametrize("overrides,message", [
    (["episodes=0"], "'episodes' must be an integer >= 1, got 0"),
    (["seed=abc"], "'seed' must be an integer >= 0, got 'abc'"),
    (["+foo=1"], r"unknown hybrid key\(s\) \['foo'\]"),
    (["sigma_levels=[0]"], r"'sigma_levels\[\]' must be an integer >= 1, got 0"),
    (["catalog.num_products=0"], "'catalog.num_products' must be an integer >= 1, got 0"),
])
def test_hybrid_rejects_bad_config_before_any_work(overrides, message, tmp_path):
    hybrid = importlib.import_module("experiments.hybrid")
    with pytest.raises(ConfigError, match=message):
        hybrid.run(_compose(TINY + overrides), run_dir=tmp_path)
    assert not (tmp_path / "results.json").exists()
