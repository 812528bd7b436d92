"""reproduce_orgym composes with Hydra and runs end to end on a tiny budget."""
import importlib
import json

import pytest
from tests.hydra_config import compose_config

# Tiny budget; the sizes (64 paths, a 6**3 grid in one chunk, 26-neighbour chunks) match
# tests/test_evaluate.py so that a full test session reuses its compiled evaluations.
TINY = ["eval.paths=64", "oracle.paths=64", "search.train_paths=64", "search.grid_step=40",
        "search.chunk=216", "search.local_steps=[2,1]", "dfo.maxfev=20", "dfo.local_steps=[1]",
        "s_S.enabled=false", "ppo.enabled=false", "logger.console=false"]
# (s, S) search compiles two more programs; it runs in the slow test below


def compose_cfg(overrides):
    return compose_config("reproduce_orgym", overrides)


def test_defaults_compose():
    cfg = compose_cfg([])
    assert list(cfg.variants) == ["v0", "v1"] and cfg.eval.paths >= 1000
    assert cfg.env.preset == "orgym_v0" and cfg.demand.kind == "poisson" and cfg.ppo.enabled


def test_runs_end_to_end_and_writes_results(tmp_path):
    module = importlib.import_module("experiments.reproduce_orgym")
    results = module.run(compose_cfg(TINY), run_dir=tmp_path)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert set(on_disk) == {"v0", "v1"}
    for variant in ("v0", "v1"):
        rows = on_disk[variant]
        assert {"base_stock", "dfo", "oracle"} <= set(rows)
        for row in rows.values():
            assert {"mean", "ci95", "gap_to_bound"} <= set(row)
            # the bound holds on the same paths for every method
            assert row["gap_to_bound"] >= -1e-3
        assert rows["oracle"]["gap_to_bound"] == pytest.approx(0.0, abs=1e-9)
        assert rows["base_stock"]["mean"] == pytest.approx(results[variant]["base_stock"]["mean"])
    details = json.loads((tmp_path / "details.json").read_text())
    search = details["v0"]["base_stock"]
    assert search["train_reward"] >= search["grid_train_reward"]  # refinement never loses
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert "| base_stock |" in (tmp_path / "results.md").read_text()


def test_bad_variant_is_a_clear_error(tmp_path):
    from sc_jax.errors import ConfigError

    module = importlib.import_module("experiments.reproduce_orgym")
    with pytest.raises(ConfigError, match="variants"):
        module.run(compose_cfg(TINY + ["variants=[v2]"]), run_dir=tmp_path)


@pytest.mark.slow
def test_ppo_rows_with_tiny_training(tmp_path):
    module = importlib.import_module("experiments.reproduce_orgym")
    cfg = compose_cfg(TINY + ["variants=[v0]", "ppo.enabled=true", "ppo.agent.total_timesteps=15360",
                              "ppo.agent.num_envs=64", "s_S.enabled=true", "s_S.gaps=[0,10]",
                              "s_S.local_steps=[1]"])
    results = module.run(cfg, run_dir=tmp_path)
    assert {"ppo", "ppo_orgym_obs", "s_S"} <= set(results["v0"])
    details = json.loads((tmp_path / "details.json").read_text())
    # (s, S) includes base stock (gap 0), so it is never worse on the training paths
    assert details["v0"]["s_S"]["train_reward"] >= details["v0"]["base_stock"]["train_reward"] - 1e-3


@pytest.mark.slow
def test_ppo_rows_from_checkpoints(tmp_path):
    from sc_jax.agents.checkpoint import save_checkpoint
    from sc_jax.agents.orders import train_orders_agent
    from sc_jax.agents.ppo import PPOConfig
    from sc_jax.config import env_from_cfg, to_dict

    cfg = compose_cfg(TINY + ["variants=[v1]"])
    env_cfg = {**to_dict(cfg.env), "preset": "orgym_v1"}
    agent = PPOConfig(total_timesteps=15360, num_envs=64)
    env, params = env_from_cfg(env_cfg, cfg.demand)
    _, policy_params = train_orders_agent(env, params, agent)
    ckpt = save_checkpoint(tmp_path / "ckpt", policy_params,
                           {"brain": "orders", "agent": agent.to_dict(), "env": env_cfg,
                            "demand": to_dict(cfg.demand)}, env=env)
    module = importlib.import_module("experiments.reproduce_orgym")
    results = module.run(compose_cfg(TINY + ["variants=[v1]", f"ppo.checkpoints.v1=['{ckpt}']"]),
                         run_dir=tmp_path / "run")
    assert results["v1"]["ppo_orgym_obs"]["gap_to_bound"] >= -1e-3
