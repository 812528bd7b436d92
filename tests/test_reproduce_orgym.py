"""reproduce_orgym composes with Hydra and runs end to end on a tiny budget."""
import importlib
import json
import math

import pytest
from tests.hydra_config import compose_config

# Tiny budget; the sizes (64 paths, a 6**3 grid in one chunk, 26-neighbour chunks) match
# tests/test_evaluate.py so that a full test session reuses its compiled evaluations.
TINY = ["eval.paths=64", "oracle.paths=64", "search.train_paths=64", "search.grid_step=40",
        "search.chunk=216", "search.local_steps=[2,1]", "dfo.maxfev=20", "dfo.local_steps=[1]",
        "s_S.enabled=false", "ppo.enabled=false", "hdpo.enabled=false", "logger.console=false",
        "sigma_rule.z_values=[0.0,2.0]", "sigma_rule.steps=[1.0]"]
# (s, S) search compiles two more programs; it runs in the slow test below. HDPO (on by default)
# compiles its trainer per row: its rows run in the slow test with a tiny budget.


def compose_cfg(overrides):
    return compose_config("reproduce_orgym", overrides)


def test_defaults_compose():
    cfg = compose_cfg([])
    assert list(cfg.variants) == ["v0", "v1"] and cfg.eval.paths >= 1000
    assert cfg.env.preset == "orgym_v0" and cfg.demand.kind == "poisson" and cfg.ppo.enabled
    assert cfg.hdpo.enabled and cfg.sigma_rule.enabled  # issues #13 and #15: in the default table


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """One end-to-end run on the tiny budget (both variants, every default method but the slow
    ones), shared by the two tests below: (results, run dir)."""
    run_dir = tmp_path_factory.mktemp("reproduce_orgym")
    return importlib.import_module("experiments.reproduce_orgym").run(compose_cfg(TINY), run_dir=run_dir), run_dir


def test_runs_end_to_end_and_writes_results(tiny_run):
    results, run_dir = tiny_run
    on_disk = json.loads((run_dir / "results.json").read_text())
    assert set(on_disk) == {"v0", "v1"}
    for variant in ("v0", "v1"):
        rows = on_disk[variant]
        assert {"base_stock", "dfo", "oracle", "sigma_rule"} <= set(rows)
        for row in rows.values():
            assert {"mean", "ci95", "gap_to_bound"} <= set(row)
            # the bound holds on the same paths for every method
            assert row["gap_to_bound"] >= -1e-3
        assert rows["oracle"]["gap_to_bound"] == pytest.approx(0.0, abs=1e-9)
        assert rows["base_stock"]["mean"] == pytest.approx(results[variant]["base_stock"]["mean"])
    details = json.loads((run_dir / "details.json").read_text())
    search = details["v0"]["base_stock"]
    assert search["train_reward"] >= search["grid_train_reward"]  # refinement never loses
    assert (run_dir / "results.png").stat().st_size > 1000
    assert "| base_stock |" in (run_dir / "results.md").read_text()
    assert "| sigma_rule |" in (run_dir / "results.md").read_text()
    # the sigma rule: Poisson(20) sigma = sqrt(20) per day, z per stage from the training paths
    row, search = on_disk["v1"]["sigma_rule"], details["v1"]["sigma_rule"]
    assert row["sigma_per_day"] == pytest.approx(20 ** 0.5, rel=1e-6) and row["z"] == search["z"]
    assert len(row["z"]) == 3 and all(math.isfinite(x) for x in row["z"] + [row["mean"], row["gap_to_bound"]])
    assert search["train_reward"] >= search["grid_train_reward"]  # the moves never lose on training paths
    assert search["train_paths"] == 64


def test_sigma_rule_is_tuned_on_training_paths_only(tiny_run, tmp_path):
    """Other held-out paths (fewer of them) leave the tuned z unchanged; its training reward is the
    mean over the training paths PRNGKey(seed), recomputed here. The first run is the shared tiny
    run (64 held-out paths); the second runs v1 alone, without DFO."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from sc_jax.config import env_from_cfg, to_dict
    from sc_jax.evaluate import demand_paths
    from sc_jax.policies.sigma_rule import sigma_rule_policy
    from sc_jax.tuning import candidate_rewards

    module = importlib.import_module("experiments.reproduce_orgym")
    fast = TINY + ["variants=[v1]", "dfo.enabled=false", "plot=false"]
    first, first_dir = tiny_run
    second = module.run(compose_cfg(fast + ["eval.paths=32", "oracle.paths=8"]), run_dir=tmp_path / "b")
    z = first["v1"]["sigma_rule"]["z"]
    assert second["v1"]["sigma_rule"]["z"] == z
    assert second["v1"]["sigma_rule"]["paths"] == 32 and first["v1"]["sigma_rule"]["paths"] == 64
    cfg = compose_cfg(fast)
    env, params = env_from_cfg({**to_dict(cfg.env), "preset": "orgym_v1"}, cfg.demand)
    train = demand_paths(env, params, jax.random.PRNGKey(0), 64)[0]
    reward = candidate_rewards(env, sigma_rule_policy("installation", True, "before_arrivals"),
                               jnp.asarray([z], jnp.float32), params, train).mean()
    details = json.loads((first_dir / "details.json").read_text())
    assert float(reward) == pytest.approx(details["v1"]["sigma_rule"]["train_reward"], rel=1e-5)
    assert np.isfinite(first["v1"]["sigma_rule"]["mean"])


@pytest.mark.parametrize("override,message", [
    ("sigma_rule.z_values=[]", "'sigma_rule.z_values' must be a non-empty list of finite numbers"),
    ("sigma_rule.z_values=[1.0,.nan]", "'sigma_rule.z_values' must be a non-empty list of finite numbers"),
    ("sigma_rule.z_values=abc", "'sigma_rule.z_values' must be a non-empty list"),
    ("sigma_rule.steps=[0.5,-1]", "'sigma_rule.steps' must be a list of numbers > 0"),
    ("sigma_rule.form=base", r"'sigma_rule.form' must be one of \('installation', 'echelon'\)"),
    ("sigma_rule.enabled=maybe", "'sigma_rule.enabled' must be true or false"),
    ("+sigma_rule.z=1", r"unknown sigma_rule key\(s\) \['z'\]"),
])
def test_bad_sigma_rule_config_names_the_field_before_any_work(override, message, tmp_path):
    from sc_jax.errors import ConfigError

    module = importlib.import_module("experiments.reproduce_orgym")
    with pytest.raises(ConfigError, match=message):
        module.run(compose_cfg(TINY + [override]), run_dir=tmp_path)
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "details.json").exists()


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
def test_hdpo_rows_with_tiny_training(tmp_path):
    module = importlib.import_module("experiments.reproduce_orgym")
    cfg = compose_cfg(TINY + ["variants=[v1]", "hdpo.enabled=true", "hdpo.agent.num_updates=4",
                              "hdpo.agent.batch_size=8", "hdpo.agent.hidden=[8]"])
    results = module.run(cfg, run_dir=tmp_path)
    for name in ("hdpo", "hdpo_orgym_obs"):
        row = results["v1"][name]
        assert math.isfinite(row["mean"]) and row["gap_to_bound"] >= -1e-3 and row["train_seconds"] > 0


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
