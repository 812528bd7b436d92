"""experiments/reproduce_hybrid.py: composes (defaults and +preset=quick), runs both experiments on a
tiny budget with every method (the PPO brain loaded from a checkpoint, the HDPO brain of brain_hdpo
trained in the run), writes every key of issue #10's schema (plus #15's rows, both metrics),
resumes a finished run untouched, rejects bad keys naming the field; the JAX episode runner it uses
matches the safety-stock env and the one rollout."""
import importlib
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.hydra_config import compose_config

import sc_jax
from sc_jax.errors import ConfigError

# quick, shrunk: 30 days, 2 SKUs, 2 episodes, one point per experiment, one semantics (each semantics
# compiles its own episodes), tiny PPO and HDPO brains, one-candidate tuning grids (no simulation to tune)
TINY = ["+preset=quick", "periods=30", "episodes=2", "num_skus=2", "ratios=[100]", "sigma_levels=[3]",
        "semantics=[exact]", "tuning.train_episodes=2", "tuning.sigma_rule.z_values=[1.0]",
        "tuning.sigma_rule.steps=[]", "tuning.safety.steps=[]",
        "tuning.base_stock.grid_max=0", "tuning.base_stock.steps=[]", "agent.safety.safety_high=8",
        "tuning.mip_safety.z_values=[0.0]", "tuning.mip_start_days=[0,20,200]", "mip_mixed.workers=2", "multi_sku.catalog_train_episodes=2",
        "multi_sku.methods=[brain_alloc,mip_mixed,random_alloc,static_alloc,sigma_rule_alloc,fixed_safety_alloc,"
        "capacity_brain_alloc,brain_or_mip,fixed_safety_mip,brain_safety_mip]",
        "tuning.safety.values=[4]", "capacity_brain.hidden=[4]", "capacity_brain.population=2",
        "capacity_brain.iterations=2", "capacity_brain.train_samples=1", "brain_es.hidden=[4]",
        "brain_es.population=2", "brain_es.iterations=2", "brain_es.train_samples=1",
        "agent.ppo.num_envs=8", "agent.ppo.num_minibatches=2", "agent.ppo.update_epochs=1", "agent.ppo.hidden=[8]",
        "agent.ppo.total_timesteps=32", "agent.ppo.progress_every_s=0", "brain_hdpo.hdpo.batch_size=4",
        "brain_hdpo.hdpo.num_updates=2", "brain_hdpo.hdpo.hidden=[8]", "brain_hdpo.hdpo.normalize_obs=false",
        "logger.console=false", "plot=true"]


def _compose(overrides=()):
    return compose_config("reproduce_hybrid", overrides)


def _module():
    return importlib.import_module("experiments.reproduce_hybrid")


def test_defaults_and_quick_compose():
    cfg = _compose()
    assert list(cfg.semantics) == ["sample", "exact"] and cfg.single_sku.episodes >= 100
    assert list(cfg.multi_sku.ratios) == [10, 100] and cfg.multi_sku.num_skus == 200
    assert cfg.agent.brain == "safety" and cfg.agent.safety.ratio_low == 1.0
    quick = _compose(["+preset=quick"])
    assert quick.multi_sku.num_skus < 200 and quick.single_sku.episodes < cfg.single_sku.episodes
    assert {"sigma_rule", "fixed_safety", "brain_or_mip", "mip_then_brain"} <= set(quick.single_sku.methods)
    assert {"sigma_rule_alloc", "fixed_safety_alloc"} <= set(quick.multi_sku.methods)
    # the top-level keys override every experiment, the preset included
    s = _module().settings(_module().to_dict(_compose(["+preset=quick", "episodes=3", "ratios=[7]", "num_skus=5"])))
    assert s["single_sku"]["episodes"] == s["multi_sku"]["episodes"] == 3
    assert s["single_sku"]["ratios"] == s["multi_sku"]["ratios"] == [7.0] and s["multi_sku"]["num_skus"] == 5


def test_sample_200_skus_preset_is_the_documented_command():
    # conf/preset/sample_200_skus.yaml must stay the command line of docs/hybrid_reproduction.md's
    # "One margin for every point" runs plus the "One command, nothing refused" allowance (their brain
    # checkpoint was the default training's), so the preset reproduces those tables; and it still yields
    # to the top-level keys
    documented = ["single_sku.enabled=false", "semantics=[sample]", "num_skus=200", "episodes=10",
                  "mip_mixed.workers=2", "mip_mixed.warm_start=true", "mip_mixed.integrality=none",
                  "multi_sku.methods=[mip_mixed,fixed_safety_mip,brain_safety_mip,brain_or_mip]",
                  "multi_sku.tune_mip_in_catalog=true", "multi_sku.mip_mixed_guard=true",
                  "multi_sku.brain_target_cap=[0.02,0.1,0.2,0.4]", "multi_sku.mip_target_floors=[0,1,2,3,4]",
                  "multi_sku.target_start_day=10", "tuning.mip_safety.z_values=[0.0]",
                  "mip_mixed.capacity_margin_z=4.0", "mip_mixed.capacity_margin_lead={10:echelon,100:stage}",
                  "mip_mixed.capacity_margin_lost={10:0.1,100:0.05}", "ratios=[10,100]",
                  "sigma_levels=[1,2,3,4,5,6,7,8,9]"]
    m = _module()
    preset = m.settings(m.to_dict(_compose(["+preset=sample_200_skus"])))
    command = m.settings(m.to_dict(_compose(documented)))
    # (the disabled single-SKU experiment's ratios and episodes differ: the documented command's top-level keys)
    assert {k: v for k, v in preset.items() if k != "single_sku"} == {k: v for k, v in command.items() if k != "single_sku"}
    assert preset["semantics"] == ["sample"] and not preset["single_sku"]["enabled"]
    assert preset["mip_mixed"]["capacity_margin_z"] == {10.0: 4.0, 100.0: 4.0}
    assert preset["mip_mixed"]["capacity_margin_lost"] == {10.0: 0.1, 100.0: 0.05}
    assert preset["multi_sku"]["target_start_day"] == 10
    assert m.settings(m.to_dict(_compose(["+preset=sample_200_skus", "ratios=[100]"])))["multi_sku"]["ratios"] == [100.0]


def test_exact_200_skus_preset_is_the_documented_command():
    # conf/preset/exact_200_skus.yaml must stay docs/hybrid_reproduction.md's exact-semantics command
    # ("One command under the exact semantics"), so the preset reproduces its tables
    documented = ["single_sku.enabled=false", "semantics=[exact]", "num_skus=200", "episodes=10",
                  "mip_mixed.workers=2", "mip_mixed.warm_start=true", "mip_mixed.integrality=none",
                  "multi_sku.methods=[mip_mixed,fixed_safety_mip,brain_safety_mip,brain_or_mip]",
                  "multi_sku.brain_target_cap=0.9", "mip_mixed.capacity_margin_z={10:0,100:2}",
                  "mip_mixed.capacity_margin_lost={10:0.05,100:0}", "mip_mixed.capacity_margin_baseline=false",
                  "ratios=[10,100]", "sigma_levels=[1,2,3,4,5,6,7,8,9]"]
    m = _module()
    preset = m.settings(m.to_dict(_compose(["+preset=exact_200_skus"])))
    command = m.settings(m.to_dict(_compose(documented)))
    assert {k: v for k, v in preset.items() if k != "single_sku"} == {k: v for k, v in command.items() if k != "single_sku"}
    assert preset["semantics"] == ["exact"] and not preset["mip_mixed"]["capacity_margin_baseline"]
    assert preset["mip_mixed"]["capacity_margin_z"] == {10.0: 0.0, 100.0: 2.0}


def _untrained_ppo_checkpoint(directory, cfg) -> str:
    """A PPO safety brain (initial weights, no training: no compile) for TINY's env, as
    brain.checkpoint: the run then trains only the HDPO brain (one training compile, as before
    brain_hdpo existed) and loads the PPO one (load_brain for both algorithms in one run)."""
    from sc_jax.agents.brains import build_env
    from sc_jax.agents.checkpoint import save_checkpoint
    from sc_jax.agents.ppo import PPOConfig, init_policy_params
    from sc_jax.config import to_dict

    agent = to_dict(cfg.agent)
    base_env, base = sc_jax.make("hybrid_sample", semantics="exact", periods=int(cfg.periods))
    env = build_env("safety", base_env, base, agent["safety"])
    config = PPOConfig.from_dict(agent["ppo"])
    save_checkpoint(directory, init_policy_params(jax.random.PRNGKey(0), config, env),
                    {"brain": "safety", "algorithm": "ppo", "agent": config.to_dict(), "safety": agent["safety"],
                     "env": {"preset": "hybrid_sample", "semantics": "exact", "periods": int(cfg.periods)}}, env=env)
    return str(directory)


def _untrained_capacity_checkpoint(directory, periods: int) -> str:
    """An untrained capacity brain (zero output weights: z = z_init = 1 everywhere) saved as
    experiments/reproduce_hybrid.py saves one, for capacity_brain.checkpoint (no training compile)."""
    from sc_jax.agents.capacity_brain import CapacityBrainConfig, init_params
    from sc_jax.agents.checkpoint import save_checkpoint

    config = CapacityBrainConfig(hidden=(4,), z_init=1.0, timing="before_arrivals")
    save_checkpoint(directory, init_params(config, jax.random.PRNGKey(5)),
                    {"brain": "capacity", "agent": config.to_dict(), "semantics": "exact", "periods": periods})
    return str(directory)


class _Log:
    def info(self, message):
        pass


def test_tiny_run_writes_the_schema_and_resumes(tmp_path, monkeypatch):
    module = _module()
    checkpoint = _untrained_ppo_checkpoint(tmp_path / "ppo_brain", _compose(TINY))
    capacity = _untrained_capacity_checkpoint(tmp_path / "capacity_brain", 30)
    overrides = TINY + [f"brain.checkpoint={checkpoint}", f"capacity_brain.checkpoint={capacity}"]
    written = []  # partial.json after each finished point (a killed run keeps them), gone once results.json is
    real_write_json = module.write_json

    def spy(path, value):
        if Path(path).name == "partial.json":
            written.append(sorted(k for k, v in value["per_episode"].items() if v))
        real_write_json(path, value)

    monkeypatch.setattr(module, "write_json", spy)
    results = module.run(_compose(overrides), run_dir=tmp_path)
    assert written == [["single_sku"], ["multi_sku", "single_sku"]] and not (tmp_path / "partial.json").exists()
    saved = json.loads((tmp_path / "results.json").read_text())
    single, multi = saved["single_sku"]["100"]["3"], saved["multi_sku"]["100"]["3"]
    assert set(single) == set(module.SINGLE_METHODS) and set(multi) == set(module.MULTI_METHODS)
    # brain_alloc: the PPO checkpoint, loaded; brain_hdpo: trained here by HDPO, saved, another policy
    assert saved["brain"]["exact"]["checkpoint"] == checkpoint and saved["brain"]["exact"]["algorithm"] == "ppo"
    assert saved["brain_hdpo"]["exact"]["trained_here"] and saved["brain_hdpo"]["exact"]["algorithm"] == "hdpo"
    assert json.loads((tmp_path / "checkpoint_hdpo_exact" / "config.json").read_text())["algorithm"] == "hdpo"
    assert single["brain_hdpo"]["env_cost"]["exact"]["mean"] != single["brain_alloc"]["env_cost"]["exact"]["mean"]
    assert "brain_minus_this" in single["brain_hdpo"]
    # brain_hdpo.checkpoint: the HDPO brain saved by the run loads back; a PPO checkpoint is refused
    s = module.settings(module.to_dict(_compose(overrides)))
    loaded = module._load_brains("brain_hdpo.checkpoint", str(tmp_path / "checkpoint_hdpo_exact"), s, algorithm="hdpo")
    assert loaded["exact"][2]["algorithm"] == "hdpo" and loaded["exact"][0] is not None
    with pytest.raises(ConfigError, match=r"'brain_hdpo\.checkpoint' must hold a brain trained by hdpo, got one "
                                          r"trained by 'ppo'"):
        module._load_brains("brain_hdpo.checkpoint", checkpoint, s, algorithm="hdpo")
    for table in (single, multi):
        for method, row in table.items():
            assert {"mean", "ci95", "std", "metric", "semantics"} <= set(row), method
            for metric in ("env_cost", "notebook_cost"):
                assert set(row[metric]) == {"exact"} and {"mean", "ci95", "std"} <= set(row[metric]["exact"])
            assert np.isfinite(row["mean"]) and row["env_cost"]["exact"]["mean"] > 0
    for row in multi.values():
        assert {"peak_utilisation", "refused_units", "alloc_s_per_day"} <= set(row)
        assert 0 <= row["peak_utilisation"] and row["refused_units"] >= 0 and row["alloc_s_per_day"] > 0
    # capacity_brain_alloc, the untrained capacity brain loaded (z = 1 at every stage, every day): exactly
    # sigma_rule_alloc with its tuned z = 1 (the one-candidate grid), episode by episode, through the capacity stage
    assert saved["capacity_brain"]["exact"]["checkpoint"] == capacity and multi["sigma_rule_alloc"]["params"]["exact"]["z"] == [1.0] * 3
    same = multi["sigma_rule_alloc"]["capacity_brain_minus_this"]
    assert all(same[m]["exact"]["mean"] == 0 and same[m]["exact"]["ci95"] == 0 for m in ("env_cost", "notebook_cost"))
    assert multi["capacity_brain_alloc"]["refused_units"] == multi["sigma_rule_alloc"]["refused_units"]
    assert "brain_minus_this" in multi["capacity_brain_alloc"] and "capacity_brain_minus_this" in multi["brain_alloc"]
    # multi_sku.tune_in_catalog: fixed_safety_alloc's stock searched in the 2-SKU catalog itself from the single-SKU
    # value (4; moves of the grid step 20, clipped to [0, 8]) on training episodes: never worse there than its start
    tuned = saved["tuned"]["exact"]
    assert multi["fixed_safety_alloc"]["params"]["exact"]["tuned_in"] == "catalog"
    assert multi["fixed_safety_alloc"]["params"]["exact"]["safety_stock"] == tuned["catalog_fixed_safety"]["ratio_100_sigma_3"]
    assert set(tuned["catalog_fixed_safety"]["ratio_100_sigma_3"]) <= {0.0, 4.0, 8.0}
    assert tuned["catalog_train"]["episodes"] == 2 and tuned["catalog_train"]["candidates_evaluated"] >= 7
    per_episode = json.loads((tmp_path / "details.json").read_text())["per_episode"]
    raw, raw_multi = per_episode["single_sku"]["100"]["3"], per_episode["multi_sku"]["100"]["3"]
    # brain_es: trained here on the tuned sigma rule's z (the one-candidate grid: 1 everywhere) as its base
    es = saved["brain_es"]["exact"]
    assert es["z_base"] == [[[1.0, 1.0, 1.0]]] and es["points"] == [[100.0, 3]] and es["config"]["residual"]
    assert np.isfinite(es["train_cost_last"]) and "brain_minus_this" in single["brain_es"]
    # its correction is kept only where it beat the rule on validation episodes (the default 32), the
    # paired difference's whole 95% CI below 0: never where the brain's validation mean is not lower
    assert es["validation_episodes"] == 32 and es["validation_gate"] == "paired_ci_all"
    assert len(es["validation_notebook_cost_brain"]) == len(es["validation_notebook_cost_rule"]) == 1
    assert es["gate"] in ([[0.0]], [[1.0]])
    assert es["gate"] == [[0.0]] or es["validation_cost_brain"][0] < es["validation_cost_rule"][0]
    if es["gate"] == [[0.0]]:  # gated off: the tuned rule itself, episode by episode
        assert raw["brain_es"]["exact"]["env_cost"] == raw["sigma_rule"]["exact"]["env_cost"]
    # fixed_safety_mip with z = 0 (the one candidate) is MIP-mixed itself, episode by episode (issue #15)
    assert saved["tuned"]["exact"]["mip_safety"] == {"ratio_100_sigma_3": [0.0, 0.0, 0.0]}
    assert single["fixed_safety_mip"]["params"]["exact"] == {"z": [0.0, 0.0, 0.0], "penalty_weight": 1.0}
    assert raw["fixed_safety_mip"]["exact"]["env_cost"] == raw["mip_mixed"]["exact"]["env_cost"]
    # brain_safety_mip: the PPO brain's safety stocks as the MIP's target (they cost something here)
    assert single["brain_safety_mip"]["params"]["exact"]["every"] == 10 and "brain_minus_this" in single["brain_safety_mip"]
    # ... and coupled by the capacity row for the SKUs sharing capacity: z = 0 is MIP-mixed there too (all
    # three run in mip_mixed.workers' processes, brain_safety_mip's brain loaded from its checkpoint in each)
    assert raw_multi["fixed_safety_mip"]["exact"]["env_cost"] == raw_multi["mip_mixed"]["exact"]["env_cost"]
    from sc_jax.agents.brains import load_brain
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, multi_sku_keys
    from sc_jax.mip_mixed import policy_safety_targets, run_mip_mixed
    _, act, policy_params, *_ = load_brain(Path(checkpoint))  # the PPO brain the run loaded
    env, params = hybrid_sample_catalog(2, 100.0, semantics="exact", sigma_max=3, periods=30)
    reset_keys, act_keys = hybrid_keys(multi_sku_keys(0, 2), 2)
    here = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1),
                         safety_target=policy_safety_targets(act, policy_params, params, act_keys, every=10))
    np.testing.assert_allclose(here.cost.sum(0), raw_multi["brain_safety_mip"]["exact"]["env_cost"], rtol=1e-12)
    assert multi["brain_safety_mip"]["refused_units"] >= 0 and multi["fixed_safety_mip"]["params"]["exact"]["z"] == [0.0] * 3
    # multi SKU brain_or_mip (listed before the rows it compares, run after them): brain_safety_mip or
    # fixed_safety_mip, whichever was cheaper on the coupled catalog's training episodes, its evaluation reused
    choice = multi["brain_or_mip"]["params"]["exact"]
    train = choice["train_cost"]
    assert choice["chosen"] == ("brain_safety_mip" if train["brain_safety_mip"] <= train["fixed_safety_mip"]
                                else "fixed_safety_mip")
    assert raw_multi["brain_or_mip"]["exact"]["env_cost"] == raw_multi[choice["chosen"]]["exact"]["env_cost"]
    assert choice["chosen_params"] == multi[choice["chosen"]]["params"]["exact"]
    # its training cost is fixed_safety_mip's (z = 0: MIP-mixed) on the tuning stream's 2 episodes, never the evaluation ones
    train_reset, _ = hybrid_keys(jax.random.split(jax.random.fold_in(jax.random.PRNGKey(0), 1), 2), 2)
    on_train = run_mip_mixed(env, params, jnp.swapaxes(train_reset, 0, 1))
    assert train["fixed_safety_mip"] == pytest.approx(float(on_train.cost.sum(0).mean()), rel=1e-12)
    # brain_or_mip: the family with the lower training cost, its evaluation values
    choice = single["brain_or_mip"]["params"]["exact"]
    train = choice["train_cost"]
    assert choice["chosen"] == ("brain_es" if train["brain_es"] <= train["fixed_safety_mip"] else "fixed_safety_mip")
    assert raw["brain_or_mip"]["exact"]["env_cost"] == raw[choice["chosen"]]["exact"]["env_cost"]
    assert train["fixed_safety_mip"] == min(saved["tuned"]["exact"]["mip_safety_train_cost"]["ratio_100_sigma_3"].values())
    # mip_then_brain: D = 0 is brain_es and D = the whole episode fixed_safety_mip on the training episodes
    # (fixed_safety_mip's orders replayed), the lowest training cost chosen, its evaluation run in between
    switch = single["mip_then_brain"]["params"]["exact"]
    assert set(switch["train_cost"]) == {"0", "20", "30"}  # the preset's candidates, 200 clipped to 30 days
    assert switch["train_cost"]["0"] == pytest.approx(train["brain_es"], rel=1e-9)
    assert switch["train_cost"]["30"] == pytest.approx(train["fixed_safety_mip"], rel=1e-5)
    assert str(switch["start_days"]) == min(switch["train_cost"], key=lambda d: (switch["train_cost"][d], int(d)))
    if switch["start_days"] == 0:
        assert raw["mip_then_brain"]["exact"]["env_cost"] == raw["brain_es"]["exact"]["env_cost"]
    if switch["start_days"] == 30:
        np.testing.assert_allclose(raw["mip_then_brain"]["exact"]["env_cost"], raw["fixed_safety_mip"]["exact"]["env_cost"],
                                   rtol=1e-5)
    # the perfect-information bound is below every policy on the env's own cost (same episodes)
    bound = single["bound"]["env_cost"]["exact"]["mean"]
    assert all(row["env_cost"]["exact"]["mean"] >= bound - 1e-6 for row in single.values())
    assert single["brain_alloc"]["metric"] == "notebook_cost" and single["bound"]["semantics"] == "exact"
    assert "brain_minus_this" in single["fixed_safety"] and saved["headline"]["single_sku"]["semantics"] == "exact"
    assert saved["tuned"]["exact"]["safety"] and saved["timings"]["total_s"] > 0 and saved["machine"]["cpu_count"]
    md = (tmp_path / "results.md").read_text()
    assert "## Single SKU: notebook_cost, exact semantics" in md and "| fixed_safety |" in md
    assert "| capacity_brain_alloc |" in md
    for name in ("single_sku.png", "multi_sku.png", "details.json", "checkpoint_hdpo_exact/policy.msgpack"):
        assert (tmp_path / name).exists(), name
    assert results["single_sku"]["100"]["3"]["mip_mixed"]["mean"] == pytest.approx(single["mip_mixed"]["mean"])
    # resume: a finished run is returned as stored, its files untouched
    stamp = (tmp_path / "results.json").stat().st_mtime_ns
    again = module.run(_compose(overrides), run_dir=tmp_path)
    assert again == saved and (tmp_path / "results.json").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("override, field", [
    ("ratios=[0]", "ratios"), ("sigma_levels=[0]", "sigma_levels"), ("episodes=0", "episodes"),
    ("num_skus=0", "num_skus"), ("seed=-1", "seed"), ("semantics=[fast]", "semantics"),
    ("single_sku.methods=[brain]", "single_sku.methods"), ("multi_sku.methods=[bound]", "multi_sku.methods"),
    ("+typo=1", "typo"), ("+single_sku.typo=1", "typo"), ("brain.train_semantics=both", "brain.train_semantics"),
    ("tuning.objective.sample=cost", "tuning.objective.sample"), ("mip_mixed.alignment=late", "mip_mixed.alignment"),
    ("multi_sku.capacity_basis=stock", "multi_sku.capacity_basis"), ("periods=20", "periods"),
    ("multi_sku.tune_in_catalog=maybe", "multi_sku.tune_in_catalog"),
    ("multi_sku.catalog_train_episodes=0", "multi_sku.catalog_train_episodes"),
    ("multi_sku.mip_choice_episodes=0", "multi_sku.mip_choice_episodes"),
    ("multi_sku.brain_target_cap=0", "multi_sku.brain_target_cap"),
    ("multi_sku.fixed_target_cap=-0.5", "multi_sku.fixed_target_cap"),
    ("multi_sku.tune_mip_in_catalog=maybe", "multi_sku.tune_mip_in_catalog"),
    ("multi_sku.brain_target_cap=[0.5,-1]", "multi_sku.brain_target_cap"),
    ("multi_sku.brain_target_cap=[]", "multi_sku.brain_target_cap"),
    ("multi_sku.mip_mixed_guard=yes", "multi_sku.mip_mixed_guard"),
    ("multi_sku.mip_mixed_guard=true", "multi_sku.mip_mixed_guard"),  # without tune_mip_in_catalog
    (("multi_sku.mip_mixed_guard=true", "multi_sku.tune_mip_in_catalog=true", "tuning.mip_safety.z_values=[1.0]"),
     "multi_sku.mip_mixed_guard"),  # no z = 0: no MIP-mixed reference
    ("multi_sku.capacity_per_sku=0", "multi_sku.capacity_per_sku"), ("tuning.safety.steps=[0]", "tuning.safety.steps"),
    ("brain.checkpoint={sample: x}", "brain.checkpoint"), ("tuning.safety.values=[-1]", "tuning.safety.values"),
    ("brain_hdpo.hdpo.lr=-1", "'brain_hdpo.hdpo.lr' must be a finite number"),
    ("+brain_hdpo.hdpo.num_envs=8", "unknown brain_hdpo.hdpo key"), ("+brain_hdpo.typo=1", "typo"),
    ("brain_hdpo.checkpoint=3", "brain_hdpo.checkpoint"),
    ("+agent.safety.controller=sigma_rule", "agent.safety.controller"),
    ("capacity_brain.population=3", "capacity_brain.population"), ("capacity_brain.z_init=5", "capacity_brain.z_init"),
    ("capacity_brain.train_sigma_levels=[0]", "capacity_brain.train_sigma_levels"),
    ("capacity_brain.train_seed=-1", "capacity_brain.train_seed"), ("+capacity_brain.typo=1", "typo"),
    ("capacity_brain.timing=after_arrivals", "capacity_brain.timing"), ("capacity_brain.form=echelon", "capacity_brain.form"),
    ("capacity_brain.action_frequency=10", "capacity_brain.action_frequency"),
    ("capacity_brain.checkpoint={sample: x}", "capacity_brain.checkpoint"),
    ("capacity_brain.residual=true", "capacity_brain.residual"),
    ("capacity_brain.observe_utilisation=2", "capacity_brain.observe_utilisation"),
    ("capacity_brain.cover_max=-1", "capacity_brain.cover_max"), ("+brain_es.cover_max=1", "unknown brain_es key"),
    ("brain_es.population=3", "brain_es.population"), ("brain_es.train_seed=-1", "brain_es.train_seed"),
    ("+brain_es.residual=false", "unknown brain_es key"),
    ("brain_es.delta_max=0", "brain_es.delta_max"),
    ("brain_es.population_batch=0", "brain_es.population_batch"),
    ("brain_es.validation_episodes=-1", "brain_es.validation_episodes"),
    ("brain_es.validation_gate=median", "brain_es.validation_gate"),
    ("single_sku.methods=[brain_or_mip,brain_es]", "brain_or_mip combines brain_es and fixed_safety_mip"),
    ("single_sku.methods=[mip_then_brain,fixed_safety_mip]", "mip_then_brain combines brain_es and fixed_safety_mip"),
    ("tuning.mip_start_days=[-1]", "tuning.mip_start_days"), ("tuning.mip_start_days=[2.5]", "tuning.mip_start_days"),
    ("tuning.mip_start_days=[]", "tuning.mip_start_days"),
    ("tuning.mip_start_objective=cost", "tuning.mip_start_objective"),
    ("tuning.mip_safety.z_values=[-1.0]", "tuning.mip_safety.z_values"),
    ("tuning.mip_safety.z_values=[]", "tuning.mip_safety.z_values"),
    ("tuning.mip_safety.penalty_weight=-1", "tuning.mip_safety.penalty_weight"),
    ("+tuning.mip_safety.typo=1", "typo"), ("mip_mixed.workers=0", "mip_mixed.workers"),
    ("mip_mixed.integrality=some", "mip_mixed.integrality"),
    ("mip_mixed.capacity_margin_z=-1", "mip_mixed.capacity_margin_z"),
    ("mip_mixed.capacity_margin_lead=chain", "mip_mixed.capacity_margin_lead"),
    ("mip_mixed.capacity_margin_lost=-0.05", "mip_mixed.capacity_margin_lost"),
    ("mip_mixed.warm_start=maybe", "mip_mixed.warm_start"),
    ("mip_mixed.capacity_margin_baseline=maybe", "mip_mixed.capacity_margin_baseline"),
    ("mip_mixed.rounded_plan=maybe", "mip_mixed.rounded_plan"),
    (("multi_sku.methods=[fixed_safety_mip]", "multi_sku.tune_mip_in_catalog=true", "multi_sku.mip_mixed_guard=true",
      "mip_mixed.capacity_margin_z=2.0", "mip_mixed.capacity_margin_baseline=false"),
     "capacity_margin_baseline"),  # the guard's reference (z = 0) would carry a margin MIP-mixed lacks
    ("multi_sku.target_start_day=-1", "multi_sku.target_start_day"),
    ("multi_sku.overflow_rule=round", "multi_sku.overflow_rule"),
    ("multi_sku.target_start_day=2.5", "multi_sku.target_start_day"),
    ("multi_sku.mip_target_floors=[1.5]", "multi_sku.mip_target_floors"),
    ("multi_sku.mip_target_floors=[-1,0]", "multi_sku.mip_target_floors"),
    ("multi_sku.mip_target_floors=[0,2]", "multi_sku.mip_target_floors"),  # without tune_mip_in_catalog
    (("multi_sku.mip_target_floors=[2]", "multi_sku.tune_mip_in_catalog=true", "multi_sku.mip_mixed_guard=true"),
     "multi_sku.mip_target_floors"),  # the guard's reference (z = 0, no floor) missing
])
def test_bad_keys_name_the_field(tmp_path, override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.").replace("[", r"\[")):
        _module().run(_compose(TINY + (list(override) if isinstance(override, tuple) else [override])),
                      run_dir=tmp_path)
    assert not (tmp_path / "results.json").exists()


def test_capacity_margin_per_cost_ratio_reaches_each_catalogs_mip(monkeypatch):
    """mip_mixed.capacity_margin_* take one value for every ratio or a mapping {ratio: value}: each
    coupled catalog's MIP runs with its own ratio's margin (a mapping may name ratios the run lacks,
    not miss one it has); a single-SKU run gets no margin; a coupled run without its ratio is a bug."""
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, multi_sku_keys
    m = _module()
    per_ratio = ["ratios=[10,100]", "mip_mixed.capacity_margin_z=4.0",
                 "mip_mixed.capacity_margin_lead={10:echelon,100:stage,1000:stage}",
                 "mip_mixed.capacity_margin_lost={10:0.1,100:0.05}"]
    s = m.settings(m.to_dict(_compose(per_ratio)))
    assert s["mip_mixed"]["capacity_margin_lead"] == {10.0: "echelon", 100.0: "stage"}
    seen = []
    monkeypatch.setattr(m, "run_mip_mixed", lambda env, params, keys, progress=None, **options: seen.append(options))
    env, params = hybrid_sample_catalog(2, 10.0, semantics="exact", sigma_max=3, periods=30)
    reset_keys, _ = hybrid_keys(multi_sku_keys(0, 1), 2)
    m._mip_episodes(s, None, env, params, reset_keys, 10.0)
    m._mip_episodes(s, None, env, params, reset_keys, 100)
    assert [(o["capacity_margin_z"], o["capacity_margin_lead"], o["capacity_margin_lost"]) for o in seen] == [
        (4.0, "echelon", 0.1), (4.0, "stage", 0.05)]
    assert "capacity_margin_z" not in m._mip_options(s)  # the single SKU: no shared capacity, no margin
    # capacity_margin_baseline=false: the rows with a safety target keep their margin, MIP-mixed has none
    target = m._mip_safety_z("exact", s, np.zeros(3), np.array([2, 3, 4]))
    assert m._mip_options(s, None, 100)["capacity_margin_z"] == 4.0
    bare = m.settings(m.to_dict(_compose(per_ratio + ["mip_mixed.capacity_margin_baseline=false"])))
    assert not {"capacity_margin_z", "capacity_margin_lost"} & set(m._mip_options(bare, None, 100))
    assert m._mip_options(bare, target, 100)["capacity_margin_lost"] == 0.05
    with pytest.raises(ValueError, match="needs its cost ratio"):
        m._mip_run(s, env, params, jnp.swapaxes(reset_keys, 0, 1))
    # a run over one of the mapping's ratios (a preset's mapping, `ratios=[100]`) takes that ratio's value
    one = m.settings(m.to_dict(_compose(per_ratio[1:] + ["ratios=[100]"])))
    assert one["mip_mixed"]["capacity_margin_lost"] == {100.0: 0.05}
    lead = "mip_mixed.capacity_margin_lead=stage"
    for override, field in (
            (per_ratio[1:] + ["ratios=[10,1000]"], r"capacity_margin_lost' must give a value for every cost ratio of "
                                                   r"the multi-SKU experiment \['10', '1000'\], got none for \['1000'\]"),
            ([lead, "mip_mixed.capacity_margin_lost={ten:0.1}"], "capacity_margin_lost' must be a value or a mapping "
                                                                 "from cost ratios"),
            ([lead, "mip_mixed.capacity_margin_lost={10:-1,100:0}"], r"'mip_mixed\.capacity_margin_lost\.10' must be "
                                                                     "a number >= 0"),
            (["mip_mixed.capacity_margin_lead={10:chain,100:stage}"], r"'mip_mixed\.capacity_margin_lead\.10' must be "
                                                                      "one of")):
        with pytest.raises(ConfigError, match=field):
            m.settings(m.to_dict(_compose(["ratios=[10,100]"] + override)))


def test_multi_sku_brain_or_mip_runs_its_choice_alone(tmp_path):
    """Multi SKU brain_or_mip without the rows it compares (in this process, mip_mixed.workers=1),
    the brain's targets capped (multi_sku.brain_target_cap): the chosen row's episodes run on the
    evaluation keys, equal to that row run directly."""
    from sc_jax.agents.brains import load_brain
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, multi_sku_keys
    from sc_jax.mip_mixed import capped_safety_targets, policy_safety_targets, run_mip_mixed, sigma_safety_targets

    checkpoint = _untrained_ppo_checkpoint(tmp_path / "ppo_brain", _compose(TINY))
    overrides = TINY + [f"brain.checkpoint={checkpoint}", "single_sku.enabled=false", "mip_mixed.workers=1",
                        "multi_sku.methods=[brain_or_mip]", "tuning.mip_safety.z_values=[2.0]",
                        "multi_sku.brain_target_cap=0.3"]
    saved = _module().run(_compose(overrides), run_dir=tmp_path / "run")
    row = saved["multi_sku"]["100"]["3"]
    assert set(row) == {"brain_or_mip"}
    choice = row["brain_or_mip"]["params"]["exact"]
    env, params = hybrid_sample_catalog(2, 100.0, semantics="exact", sigma_max=3, periods=30)
    reset_keys, act_keys = hybrid_keys(multi_sku_keys(0, 2), 2)
    if choice["chosen"] == "brain_safety_mip":
        _, act, policy_params, *_ = load_brain(Path(checkpoint))
        target = capped_safety_targets(policy_safety_targets(act, policy_params, params, act_keys, every=10),
                                       np.asarray(params.shared_capacity)[0], 0.3)
        assert choice["chosen_params"]["target_cap"] == 0.3
    else:
        assert choice["chosen_params"]["z"] == [2.0] * 3
        target = sigma_safety_targets([2.0] * 3, np.asarray(params.lead_time).reshape(-1, 3)[0], timing="before_arrivals")
    here = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), safety_target=target)
    assert row["brain_or_mip"]["env_cost"]["exact"]["mean"] == pytest.approx(float(here.cost.sum(0).mean()), rel=1e-12)
    assert set(choice["train_cost"]) == {"brain_safety_mip", "fixed_safety_mip"}


def test_multi_sku_fixed_target_cap_caps_the_ablation_alone(tmp_path):
    """multi_sku.fixed_target_cap caps fixed_safety_mip's constant-z targets in the coupled catalog
    (the brain's cap's ablation): the row equals run_mip_mixed with the capped target on the
    evaluation keys, the cap binds (the uncapped target gives another cost) and is recorded."""
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, multi_sku_keys
    from sc_jax.mip_mixed import capped_safety_targets, run_mip_mixed, sigma_safety_targets

    overrides = TINY + ["single_sku.enabled=false", "mip_mixed.workers=1", "multi_sku.methods=[fixed_safety_mip]",
                        "tuning.mip_safety.z_values=[3.0]", "multi_sku.fixed_target_cap=0.2"]
    row = _module().run(_compose(overrides), run_dir=tmp_path / "run")["multi_sku"]["100"]["3"]["fixed_safety_mip"]
    assert row["params"]["exact"]["target_cap"] == 0.2 and row["params"]["exact"]["z"] == [3.0] * 3
    env, params = hybrid_sample_catalog(2, 100.0, semantics="exact", sigma_max=3, periods=30)
    reset_keys, _ = hybrid_keys(multi_sku_keys(0, 2), 2)
    keys = jnp.swapaxes(reset_keys, 0, 1)
    plain = sigma_safety_targets([3.0] * 3, np.asarray(params.lead_time).reshape(-1, 3)[0], timing="before_arrivals")
    capped = run_mip_mixed(env, params, keys,
                           safety_target=capped_safety_targets(plain, np.asarray(params.shared_capacity)[0], 0.2))
    uncapped = run_mip_mixed(env, params, keys, safety_target=plain)
    mean = row["env_cost"]["exact"]["mean"]
    assert mean == pytest.approx(float(capped.cost.sum(0).mean()), rel=1e-12)
    assert mean != pytest.approx(float(uncapped.cost.sum(0).mean()), rel=1e-6)


def test_daily_runner_matches_the_safety_env_and_the_rollout():
    """One compiled episode for every method: the brain's controller with a constant safety stock
    gives the safety-stock env's costs, the sigma rule and base stock the one rollout's, on the
    same keys (common random numbers with sc_jax.evaluate and MIP-mixed)."""
    from sc_jax.env import rollout
    from sc_jax.env.params import replicate
    from sc_jax.env.wrappers import SafetyStockEnv, fixed_safety_stock
    from sc_jax.evaluate import scenario_costs
    from sc_jax.hybrid_reproduction import make_daily_runner, method_params, single_keys
    from sc_jax.policies.base_stock import base_stock
    from sc_jax.policies.sigma_rule import sigma_rule_policy
    from sc_jax.sample_metrics import notebook_cost

    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=5, semantics="sample", periods=40)
    keys = jax.random.split(jax.random.PRNGKey(1), 4)
    run = make_daily_runner(env, None, timing="after_arrivals")
    reset_keys, act_keys = single_keys(keys)
    p1 = replicate(params, 1)
    out = run(method_params("safety", 3, safety=[6, 3, 2]), p1, reset_keys, act_keys)
    ref = scenario_costs(SafetyStockEnv(env, safety_high=20), fixed_safety_stock, jnp.array([6, 3, 2]),
                         jax.tree.map(lambda x: x[None], params), keys)[0]
    np.testing.assert_allclose(np.asarray(out.cost[:, 0]), ref, rtol=1e-5)
    for mode, act, x in (("sigma_rule", sigma_rule_policy("installation", True, "after_arrivals"), [2.0, 1.0, 0.5]),
                         ("base_stock", base_stock, [70.0, 150.0, 250.0])):
        out = run(method_params(mode, 3, **{"z" if mode == "sigma_rule" else "levels": x}), p1, reset_keys, act_keys)
        reward, (lost, on_hand), _ = rollout(env, act, jnp.asarray(x), params, keys,
                                             collect=lambda tr: (tr.info.lost, tr.info.on_hand))
        np.testing.assert_allclose(np.asarray(out.cost[:, 0]), -np.asarray(reward), rtol=1e-5)
        np.testing.assert_allclose(np.asarray(out.notebook_day[20:, :, 0]).sum(0),
                                   notebook_cost(np.asarray(lost), np.asarray(on_hand), 100.0), rtol=1e-5)
        # the per-stage diagnostics: lost units and mean on hand per stage over days >= 20, as the rollout's
        np.testing.assert_array_equal(np.asarray(out.lost_by_stage[:, 0]), np.asarray(lost)[20:].sum(0))
        np.testing.assert_allclose(np.asarray(out.mean_on_hand[:, 0]), np.asarray(on_hand)[20:].mean(0), rtol=1e-6)
        np.testing.assert_array_equal(np.asarray(out.lost_units), np.asarray(out.lost_by_stage).sum(-1))



@pytest.mark.parametrize("semantics", ["sample", "exact"])
def test_daily_runner_replays_mip_mixed_orders_then_runs_its_own_method(semantics):
    """MIP-mixed's executed orders (run_mip_mixed's daily["orders"]) replayed by the daily runner on
    the same keys give MIP-mixed's episodes day by day; start_days 0 is the method alone; a switch on
    day D is MIP-mixed's days before D and the method's orders from D on (mip_then_brain)."""
    from sc_jax.env.params import replicate
    from sc_jax.hybrid_reproduction import make_daily_runner, method_params, single_keys
    from sc_jax.mip_mixed import run_mip_mixed

    timing = {"sample": "after_arrivals", "exact": "before_arrivals"}[semantics]
    env, params = sc_jax.make("hybrid_sample", cost_ratio=100.0, sigma_max=4, semantics=semantics, periods=30)
    keys = jax.random.split(jax.random.PRNGKey(3), 3)
    mip = run_mip_mixed(env, params, keys[None])
    start = jnp.asarray(mip.daily["orders"][:, 0])[:, :, None, :]  # [T, S, 1, M]
    run = make_daily_runner(env, None, timing=timing)
    reset_keys, act_keys = single_keys(keys)
    p1 = replicate(params, 1)
    rule = method_params("sigma_rule", 3, z=[2.0, 1.0, 0.5])
    mip_cost = mip.daily["holding_cost"] + mip.daily["shortage_cost"] + mip.daily["overflow_cost"]  # [T, 1, S]
    replayed = run(rule, p1, reset_keys, act_keys, 1e-3, start, 30)
    np.testing.assert_allclose(np.asarray(replayed.day_cost[:, :, 0]), mip_cost[:, 0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(replayed.cost[:, 0]), mip.cost[0], rtol=1e-6)
    alone = run(rule, p1, reset_keys, act_keys)
    np.testing.assert_array_equal(np.asarray(run(rule, p1, reset_keys, act_keys, 1e-3, start, 0).day_cost),
                                  np.asarray(alone.day_cost))
    switched = run(rule, p1, reset_keys, act_keys, 1e-3, start, 12)
    np.testing.assert_allclose(np.asarray(switched.day_cost[:12, :, 0]), mip_cost[:12, 0], rtol=1e-6, atol=1e-6)
    # from day 12 on the rule's own orders: the episode leaves MIP-mixed's (its later days differ)
    assert not np.allclose(np.asarray(switched.day_cost[12:, :, 0]), mip_cost[12:, 0])
    for bad in (start[:10], start.astype(jnp.float32)):  # too few days; fractional orders
        with pytest.raises(ConfigError, match="'start_orders' must be integer orders of shape"):
            run(rule, p1, reset_keys, act_keys, 1e-3, bad, 5)


def test_capacity_brain_trains_on_training_keys_and_loads_back(tmp_path):
    """capacity_brain_alloc's brain trained by the experiment (tiny ES budget, the semantics'
    timing, every ratio x training sigma level a catalog), saved, and loaded back unchanged
    through capacity_brain.checkpoint."""
    module = _module()
    s = module.settings(module.to_dict(_compose(TINY + ["capacity_brain.train_sigma_levels=[2,4]"])))
    timings = {}
    _, trained, info = module._capacity_brain("exact", {}, s, tmp_path, _Log(), timings)
    assert info["trained_here"] and info["config"]["timing"] == "before_arrivals" and info["config"]["hidden"] == [4]
    assert info["scenarios"] == [[100.0, 2], [100.0, 4]] and len(info["train_cost_curve"]) == 2
    assert np.isfinite(info["train_cost_first"]) and np.isfinite(info["train_cost_last"]) and info["train_s"] > 0
    assert info["train_key"] == "fold_in(fold_in(PRNGKey(0), 1), 0)" and timings["capacity_brain_exact_compile_s"] > 0
    s = module.settings(module.to_dict(_compose(TINY + [f"capacity_brain.checkpoint={tmp_path / 'capacity_brain_exact'}"])))
    _, loaded, info = module._capacity_brain("exact", {}, s, tmp_path / "unused", _Log(), {})
    assert info["checkpoint"].endswith("capacity_brain_exact") and info["trained_semantics"] == "exact"
    jax.tree.map(np.testing.assert_array_equal, loaded, trained)


def test_brain_es_gate_keeps_a_correction_only_where_the_paired_interval_is_below_zero():
    """brain_es.validation_gate: "mean" keeps a correction whose mean is lower by noise; "paired_ci"
    only one whose paired difference (same episodes) has its whole 95% CI below 0."""
    gate = _module().correction_gate
    rng = np.random.default_rng(0)
    rule = rng.uniform(10.0, 20.0, (32, 3))
    noise = rng.normal(0.0, 1.0, 32)
    brain = np.stack([rule[:, 0] - 0.5,  # better on every episode
                      rule[:, 1] + noise - noise.mean() - 0.01,  # lower mean, by noise
                      rule[:, 2] + 0.2], axis=1)  # worse
    assert gate(brain, rule, "mean").tolist() == [True, True, False]
    assert gate(brain, rule, "paired_ci").tolist() == [True, False, False]
    assert gate(brain[:1], rule[:1], "paired_ci").tolist() == [False, False, False]  # one episode: no interval
    # paired_ci_both: also not worse on the other metric's mean (point 0 worse there: dropped)
    other_rule = rng.uniform(5.0, 6.0, (32, 3))
    other_brain = other_rule + np.array([0.1, -1.0, -1.0])
    assert gate(brain, rule, "paired_ci_both", other_brain, other_rule).tolist() == [False, False, False]
    assert gate(brain, rule, "paired_ci_both", other_rule - 0.1, other_rule).tolist() == [True, False, False]
    assert gate(brain, rule, "paired_ci_both", other_rule, other_rule).tolist() == [True, False, False]  # equal: kept
    with pytest.raises(ConfigError, match="paired_ci_both"):
        gate(brain, rule, "paired_ci_both")
    # paired_ci_all: the paired CI below 0 on the other metric too; a lower mean by noise is not enough
    other_noise = rng.normal(0.0, 1.0, 32)
    better, by_noise = other_rule - 0.3, other_rule + (other_noise - other_noise.mean() - 0.01)[:, None]
    assert gate(brain, rule, "paired_ci_all", better, other_rule).tolist() == [True, False, False]
    assert gate(brain, rule, "paired_ci_both", by_noise, other_rule).tolist() == [True, False, False]
    assert gate(brain, rule, "paired_ci_all", by_noise, other_rule).tolist() == [False, False, False]
    with pytest.raises(ConfigError, match="paired_ci_all"):
        gate(brain, rule, "paired_ci_all")
    with pytest.raises(ConfigError, match="brain_es.validation_gate"):
        gate(brain, rule, "median")


def test_multi_sku_fixed_safety_mip_tuned_in_the_catalog(tmp_path):
    """multi_sku.tune_mip_in_catalog: fixed_safety_mip's z per point is the candidate with the lowest
    tuning objective on brain_or_mip's training episodes of the coupled catalog (ties: the smaller
    z), each run here directly; the row then equals run_mip_mixed with that z on the evaluation
    keys, and the tuned values are recorded."""
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, multi_sku_keys, training_keys
    from sc_jax.mip_mixed import run_mip_mixed, sigma_safety_targets

    overrides = TINY + ["single_sku.enabled=false", "mip_mixed.workers=1", "multi_sku.methods=[fixed_safety_mip]",
                        "tuning.mip_safety.z_values=[0.0,1.0,4.0]", "multi_sku.tune_mip_in_catalog=true",
                        "multi_sku.mip_choice_episodes=2"]
    saved = _module().run(_compose(overrides), run_dir=tmp_path / "run")
    row = saved["multi_sku"]["100"]["3"]["fixed_safety_mip"]
    env, params = hybrid_sample_catalog(2, 100.0, semantics="exact", sigma_max=3, periods=30)
    lead = np.asarray(params.lead_time).reshape(-1, 3)[0]
    target = lambda z: sigma_safety_targets([z] * 3, lead, timing="before_arrivals")
    train_keys, _ = hybrid_keys(training_keys(0, 2), 2)
    train = {z: float(run_mip_mixed(env, params, jnp.swapaxes(train_keys, 0, 1), safety_target=target(z))
                      .cost.sum(0).mean()) for z in (0.0, 1.0, 4.0)}
    recorded = saved["tuned"]["exact"]["catalog_mip_safety_train_cost"]["ratio_100_sigma_3"]
    assert recorded == pytest.approx({f"{z:g}": c for z, c in train.items()}, rel=1e-12)
    best = min(train, key=lambda z: (train[z], z))
    assert row["params"]["exact"]["z"] == [best] * 3
    assert saved["tuned"]["exact"]["catalog_mip_safety"]["ratio_100_sigma_3"] == [best] * 3
    reset_keys, _ = hybrid_keys(multi_sku_keys(0, 2), 2)
    here = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), safety_target=target(best))
    assert row["env_cost"]["exact"]["mean"] == pytest.approx(float(here.cost.sum(0).mean()), rel=1e-12)


def test_multi_sku_brain_target_cap_tuned_in_the_catalog(tmp_path):
    """A list multi_sku.brain_target_cap: per point the fraction with the lowest tuning objective on
    brain_or_mip's training episodes of the coupled catalog (ties: the smaller), each run here
    directly; brain_safety_mip's row equals the brain capped at that fraction on the evaluation keys;
    brain_or_mip takes both candidates' training costs from the tuning."""
    from sc_jax.agents.brains import load_brain
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, multi_sku_keys, training_keys
    from sc_jax.mip_mixed import capped_safety_targets, policy_safety_targets, run_mip_mixed

    checkpoint = _untrained_ppo_checkpoint(tmp_path / "ppo_brain", _compose(TINY))
    caps = [0.05, 0.3, 2.0]
    overrides = TINY + [f"brain.checkpoint={checkpoint}", "single_sku.enabled=false", "mip_mixed.workers=1",
                        "multi_sku.methods=[brain_safety_mip,fixed_safety_mip,brain_or_mip]",
                        f"multi_sku.brain_target_cap={caps}", "multi_sku.tune_mip_in_catalog=true",
                        "tuning.mip_safety.z_values=[0.0,2.0]"]
    saved = _module().run(_compose(overrides), run_dir=tmp_path / "run")
    env, params = hybrid_sample_catalog(2, 100.0, semantics="exact", sigma_max=3, periods=30)
    _, act, policy_params, *_ = load_brain(Path(checkpoint))
    capacity = np.asarray(params.shared_capacity)[0]

    def cost(keys, act_keys, cap):
        target = capped_safety_targets(policy_safety_targets(act, policy_params, params, act_keys, every=10),
                                       capacity, cap)
        return float(run_mip_mixed(env, params, jnp.swapaxes(keys, 0, 1), safety_target=target).cost.sum(0).mean())

    train = {c: cost(*hybrid_keys(training_keys(0, 2), 2), c) for c in caps}
    assert len(set(train.values())) > 1  # the cap binds: the choice matters
    recorded = saved["tuned"]["exact"]["catalog_brain_target_cap_train_cost"]["ratio_100_sigma_3"]
    assert recorded == pytest.approx({f"{c:g}": v for c, v in train.items()}, rel=1e-12)
    best = min(caps, key=lambda c: (train[c], c))
    row = saved["multi_sku"]["100"]["3"]["brain_safety_mip"]
    assert row["params"]["exact"]["target_cap"] == best
    assert row["env_cost"]["exact"]["mean"] == pytest.approx(cost(*hybrid_keys(multi_sku_keys(0, 2), 2), best),
                                                             rel=1e-12)
    # brain_or_mip reads both candidates' training costs off the tuning (the same episodes): the chosen
    # constants' costs, and the lower row's evaluation
    point = saved["multi_sku"]["100"]["3"]
    choice = point["brain_or_mip"]["params"]["exact"]
    fixed_costs = saved["tuned"]["exact"]["catalog_mip_safety_train_cost"]["ratio_100_sigma_3"]
    assert choice["train_cost"] == {"brain_safety_mip": min(train.values()),
                                    "fixed_safety_mip": min(fixed_costs.values())}
    assert point["brain_or_mip"]["env_cost"] == point[choice["chosen"]]["env_cost"]


@pytest.mark.parametrize("tuned_cap", [True, False])
def test_multi_sku_mip_mixed_guard(tmp_path, tuned_cap):
    """multi_sku.mip_mixed_guard: each in-catalog candidate (z, brain cap) counts only where neither
    metric's training mean is above MIP-mixed's (z = 0) on the same episodes, each run here directly;
    the lowest objective among those wins, and brain_or_mip takes the brain only where it qualifies
    (its cap tuned in the catalog, or one cap whose training episodes brain_or_mip runs itself)."""
    from sc_jax.agents.brains import load_brain
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
    from sc_jax.mip_mixed import capped_safety_targets, policy_safety_targets, run_mip_mixed, sigma_safety_targets
    from sc_jax.sample_metrics import step_points

    checkpoint = _untrained_ppo_checkpoint(tmp_path / "ppo_brain", _compose(TINY))
    caps, zs = ([0.05, 0.3, 2.0] if tuned_cap else [0.05]), [0.0, 1.0, 4.0]
    overrides = TINY + [f"brain.checkpoint={checkpoint}", "single_sku.enabled=false", "mip_mixed.workers=1",
                        "multi_sku.methods=[brain_safety_mip,fixed_safety_mip,brain_or_mip]",
                        f"multi_sku.brain_target_cap={caps if tuned_cap else caps[0]}",
                        "multi_sku.tune_mip_in_catalog=true",
                        f"tuning.mip_safety.z_values={zs}", "multi_sku.mip_mixed_guard=true",
                        "tuning.objective.exact=notebook_cost"]  # the guard then bites through env_cost
    saved = _module().run(_compose(overrides), run_dir=tmp_path / "run")
    env, params = hybrid_sample_catalog(2, 100.0, semantics="exact", sigma_max=3, periods=30)
    _, act, policy_params, *_ = load_brain(Path(checkpoint))
    capacity = np.asarray(params.shared_capacity)[0]
    lead = np.asarray(params.lead_time).reshape(-1, 3)[0]
    keys, act_keys = hybrid_keys(training_keys(0, 2), 2)

    def metrics(target):
        out = run_mip_mixed(env, params, jnp.swapaxes(keys, 0, 1), safety_target=target)
        return {"env_cost": float(out.cost.sum(0).mean()),
                "notebook_cost": float(step_points(out.day_cost.sum(axis=1)).mean(axis=0).mean())}

    by_z = {z: metrics(sigma_safety_targets([z] * 3, lead, timing="before_arrivals")) for z in zs}
    by_cap = {c: metrics(capped_safety_targets(policy_safety_targets(act, policy_params, params, act_keys, every=10),
                                               capacity, c)) for c in caps}
    reference = by_z[0.0]
    ok = lambda m: all(m[k] <= reference[k] for k in reference)  # noqa: E731
    tuned = saved["tuned"]["exact"]
    point = "ratio_100_sigma_3"
    for z, m in by_z.items():
        assert tuned["catalog_mip_safety_train_metrics"][point][f"{z:g}"] == pytest.approx(m, rel=1e-12)
    assert tuned["catalog_mip_safety_guard_excluded"][point] == [f"{z:g}" for z in zs if not ok(by_z[z])]
    objective = lambda m: m["notebook_cost"]  # noqa: E731
    best_z = min((z for z in zs if ok(by_z[z])), key=lambda z: (objective(by_z[z]), z))
    assert tuned["catalog_mip_safety"][point] == [best_z] * 3
    eligible_caps = [c for c in caps if ok(by_cap[c])] or caps
    best_cap = min(eligible_caps, key=lambda c: (objective(by_cap[c]), c))
    if tuned_cap:
        assert tuned["catalog_brain_target_cap_guard_excluded"][point] == [f"{c:g}" for c in caps
                                                                           if not ok(by_cap[c])]
        assert tuned["catalog_brain_target_cap"][point] == best_cap
    else:
        assert "catalog_brain_target_cap" not in tuned
    choice = saved["multi_sku"]["100"]["3"]["brain_or_mip"]["params"]["exact"]
    brain_ok = ok(by_cap[best_cap])
    assert choice["guard"]["brain_eligible"] == brain_ok
    assert choice["train_metrics"]["brain_safety_mip"] == pytest.approx(by_cap[best_cap], rel=1e-12)
    expected = ("brain_safety_mip" if brain_ok and objective(by_cap[best_cap]) <= objective(by_z[best_z])
                else "fixed_safety_mip")
    assert choice["chosen"] == expected
    # the guard changes the choices on this instance (else the test could not fail on them): unguarded, the
    # lowest objective would be another z, and brain_or_mip would take the other row
    assert min(zs, key=lambda z: (objective(by_z[z]), z)) != best_z
    unguarded_cap = min(caps, key=lambda c: (objective(by_cap[c]), c))
    unguarded = ("brain_safety_mip" if objective(by_cap[unguarded_cap]) <= objective(by_z[min(
        zs, key=lambda z: (objective(by_z[z]), z))]) else "fixed_safety_mip")
    assert unguarded != expected


def test_multi_sku_target_floors_and_start_day(tmp_path):
    """multi_sku.mip_target_floors and multi_sku.target_start_day: fixed_safety_mip's in-catalog
    candidates are every (z, floor) pair, labelled "z" / "z+floor", each run here directly
    (sigma_safety_targets with the floor, no target before the start day); the lowest training
    objective wins and the evaluation row records its z, floor and start day."""
    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
    from sc_jax.mip_mixed import delayed_safety_targets, run_mip_mixed, sigma_safety_targets

    zs, floors, start = [0.0, 1.0], [0, 3], 6
    overrides = TINY + ["single_sku.enabled=false", "mip_mixed.workers=1", "multi_sku.methods=[fixed_safety_mip]",
                        "multi_sku.tune_mip_in_catalog=true", f"tuning.mip_safety.z_values={zs}",
                        f"multi_sku.mip_target_floors={floors}", f"multi_sku.target_start_day={start}"]
    saved = _module().run(_compose(overrides), run_dir=tmp_path / "run")
    env, params = hybrid_sample_catalog(2, 100.0, semantics="exact", sigma_max=3, periods=30)
    lead = np.asarray(params.lead_time).reshape(-1, 3)[0]
    keys, _ = hybrid_keys(training_keys(0, 2), 2)

    def env_cost(z, floor, start_day):
        target = sigma_safety_targets([z] * 3, lead, timing="before_arrivals", floor=floor)
        out = run_mip_mixed(env, params, jnp.swapaxes(keys, 0, 1),
                            safety_target=delayed_safety_targets(target, start_day))
        return float(out.cost.sum(0).mean())

    costs = {(z, f): env_cost(z, f, start) for z in zs for f in floors}
    tuned = saved["tuned"]["exact"]
    point = "ratio_100_sigma_3"
    label = lambda z, f: f"{z:g}" if f == 0 else f"{z:g}+{f}"  # noqa: E731
    recorded = tuned["catalog_mip_safety_train_metrics"][point]
    assert set(recorded) == {label(z, f) for z, f in costs}
    for (z, f), cost in costs.items():
        assert recorded[label(z, f)]["env_cost"] == pytest.approx(cost, rel=1e-12)
    best = min(costs, key=lambda c: (costs[c], c))
    assert tuned["catalog_mip_safety_train_choice"][point] == label(*best)
    assert tuned["catalog_mip_safety"][point] == [best[0]] * 3 and tuned["catalog_mip_floor"][point] == best[1]
    row = saved["multi_sku"]["100"]["3"]["fixed_safety_mip"]["params"]["exact"]
    assert row["target_start_day"] == start and row.get("floor", 0) == best[1] and row["z"] == [best[0]] * 3
    # both settings change what is measured here (else the test could not fail on them)
    assert len({round(c, 6) for c in costs.values()}) == len(costs)
    assert env_cost(1.0, 3, 0) != pytest.approx(costs[1.0, 3], rel=1e-9)
