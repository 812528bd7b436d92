"""scripts/: the settings they use come from conf/ (one source per default)."""
import importlib
import importlib.util
from pathlib import Path

from tests.hydra_config import compose_config

ROOT = Path(__file__).resolve().parents[1]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gpu_check_uses_the_orders_brain_settings():
    agent = compose_config("train", ["agent=ppo_orders"]).agent.ppo
    gpu_check = _load("gpu_check")
    assert {k: agent[k] for k in gpu_check.ORDERS_PPO if k != "critic_time"} == \
        {k: v for k, v in gpu_check.ORDERS_PPO.items() if k != "critic_time"}


def test_ppo_targets_reads_the_agent_group():
    ppo_targets = _load("ppo_targets")
    assert ppo_targets.agent_config("ppo_safety_conditioned")["safety"] == dict(
        compose_config("train", ["agent=ppo_safety_conditioned"]).agent.safety)
    assert ppo_targets.agent_config("ppo_orders")["ppo"]["total_timesteps"] == \
        compose_config("train", []).agent.ppo.total_timesteps


def test_hdpo_safety_targets_reads_the_agent_group():
    targets = _load("hdpo_safety_targets")
    for name in ("hdpo_safety", "hdpo_safety_conditioned"):
        composed = compose_config("train", [f"agent={name}"]).agent
        got = targets.agent_config(name)
        assert got["hdpo"] == dict(composed.hdpo) and got["safety"] == dict(composed.safety)


def test_gpu_hybrid_check_reads_the_bench_config():
    defaults = _load("gpu_hybrid_check").bench_defaults()
    composed = compose_config("bench_hybrid", [])
    assert defaults == {k: v for k, v in composed.items() if k != "hydra"}
    importlib.import_module("experiments.bench_hybrid").check_config(defaults)


def test_coupled_bound_pairs_with_the_reproduction_and_bounds_mip_mixed(tmp_path):
    """The script's episodes are the reproduction's multi-SKU episodes (its `_multi` keys, which
    depend on the episode count): on a tiny catalog the bound is below MIP-mixed's cost there."""
    import json

    import jax

    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.hybrid_reproduction import hybrid_keys, multi_sku_keys
    from sc_jax.mip_mixed import run_mip_mixed

    script = _load("coupled_bound")
    out = tmp_path / "bound.json"
    script.main(["--num-skus", "3", "--ratios", "100", "--sigmas", "2", "--episodes", "3", "--solve", "1",
                 "--periods", "40", "--out", str(out)])
    bound = json.loads(out.read_text())["env_cost"]["100"]["2"]
    env, params = hybrid_sample_catalog(3, 100.0, semantics="exact", sigma_max=2.0, periods=40)
    reset_keys, _ = hybrid_keys(multi_sku_keys(0, 3)[:1], 3)  # the first of a 3-episode reproduction
    mip = run_mip_mixed(env, params, jax.numpy.swapaxes(reset_keys, 0, 1)).cost.sum(axis=0)
    assert len(bound) == 1 and 0 < bound[0] <= mip[0] + 1e-6, (bound, mip)


def test_summarize_goals_classifies_brain_or_mip_against_the_best_classical(tmp_path):
    """summarize_goals: the best classical row per point, the paired difference and where
    brain_or_mip is above it; runs merged across dirs (one per semantics)."""
    import json

    import numpy as np
    import pytest

    summarize = _load("summarize_goals")
    base = np.array([10.0, 12.0, 11.0, 13.0])

    def point(brain_or_mip):
        rows = {"mip_mixed": base + 2, "sigma_rule": base, "fixed_safety": base + 5, "fixed_safety_mip": base + 1,
                "brain_alloc": base + 3, "brain_or_mip": brain_or_mip}
        return {m: {"exact": {"env_cost": v.tolist(), "notebook_cost": v.tolist()}} for m, v in rows.items()}

    details = {"per_episode": {"single_sku": {"100": {"2": point(base * (1 + 1e-6)), "6": point(base + 1.0),
                                                      "11": point(base - 0.5)}}}}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "details.json").write_text(json.dumps(details))
    merged = summarize.load([tmp_path / "run"])
    lines, count = summarize.table(merged["exact"], "env_cost")
    assert count["equal"] == 1 and count["above"] == 1  # sigma 2: 1e-6 relative above, float noise: equal and count["below"] == 1 and count["inside"] == 0
    assert count["above_points"] == ["ratio 100 σ 6 (+8.7%)"]
    row = next(line for line in lines if line.startswith("| 100 | 6 |"))
    assert "(sigma_rule)" in row and "+1.00 ± 0.00 (+8.7%)" in row
    # any row can be the judged one: brain_alloc (base + 3) is above sigma_rule (base) at every point
    _, count = summarize.table(merged["exact"], "env_cost", row="brain_alloc")
    assert count["above"] == 3 and count["equal"] == count["below"] == count["inside"] == 0
    # 200 SKUs: the bar is mip_mixed / sigma_rule_alloc / fixed_safety_alloc, the row brain_safety_mip by
    # default, its refused units per stage shown; a later run dir's method at a point replaces an earlier one's
    multi = lambda rows: {m: {"exact": {"env_cost": v.tolist(), "refused_units_per_stage": [3, 0, 1]}}
                          for m, v in rows.items()}
    first = {"100": {"5": multi({"mip_mixed": base + 2, "sigma_rule_alloc": base + 4, "fixed_safety_alloc": base + 1,
                                 "brain_safety_mip": base + 9})}}
    later = {"100": {"5": multi({"brain_safety_mip": base - 1.0})}}
    for name, per_episode in (("a", first), ("b", later)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "details.json").write_text(json.dumps({"per_episode": {"multi_sku": per_episode}}))
    merged = summarize.load([tmp_path / "a", tmp_path / "b"], "multi_sku")
    lines, count = summarize.table(merged["exact"], "env_cost", experiment="multi_sku")
    assert count["below"] == 1 and count["above"] == count["equal"] == count["inside"] == 0
    row = next(line for line in lines if line.startswith("| 100 | 5 |"))
    assert "(fixed_safety_alloc)" in row and "-2.00 ± 0.00" in row and row.endswith("| 3 / 0 / 1 |")
    assert "| -2.00 ± 0.00 (-16.0%) | 3 / 0 / 1 |" in row  # against fixed_safety_alloc (base + 1), paired
    lines, _ = summarize.table(merged["exact"], "env_cost", experiment="multi_sku", ablation="mip_mixed")
    assert "brain_safety_mip vs mip_mixed" in lines[0]
    assert next(line for line in lines if line.startswith("| 100 | 5 |")).endswith("| -3.00 ± 0.00 (-22.2%) | 3 / 0 / 1 |")
    with pytest.raises(SystemExit, match="no details.json"):
        summarize.load([tmp_path / "missing"])
    with pytest.raises(SystemExit, match="--row 'brain_typo' is in none of the runs"):
        summarize.main([str(tmp_path / "run"), "--row", "brain_typo"])


def test_diagnose_startup_splits_each_episode_at_the_notebook_metric_first_day():
    """diagnose_startup: the two windows add up to each policy's episode cost (the same episodes as
    reproduce_hybrid: the σ-rule's through the daily runner, MIP-mixed's through run_mip_mixed), and
    the notebook window equals sc_jax.sample_metrics.notebook_cost; bad input names what is wrong."""
    import jax
    import numpy as np
    import pytest

    import sc_jax
    from sc_jax.env.params import replicate
    from sc_jax.hybrid_reproduction import make_daily_runner, method_params, single_keys
    from sc_jax.mip_mixed import run_mip_mixed
    from sc_jax.sample_metrics import notebook_cost

    script = _load("diagnose_startup")
    got = script.diagnose("exact", 10.0, 2, [1.0, 0.0, 0.0], episodes=3, periods=30)
    env, params = sc_jax.make("hybrid_sample", cost_ratio=10.0, sigma_max=2, semantics="exact", periods=30)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    mip = run_mip_mixed(env, params, keys[None])
    np.testing.assert_allclose(sum(got["mip_mixed"]["env_cost"]), mip.cost.mean(), rtol=1e-9)
    np.testing.assert_allclose(got["mip_mixed"]["notebook_cost"][1],
                               notebook_cost(mip.daily["lost"][:, 0], mip.daily["on_hand"][:, 0], 10.0).mean(), rtol=1e-9)
    reset_keys, act_keys = single_keys(keys)
    rule = make_daily_runner(env, None, timing="before_arrivals")(
        method_params("sigma_rule", 3, z=[1.0, 0.0, 0.0]), replicate(params, 1), reset_keys, act_keys)
    np.testing.assert_allclose(sum(got["sigma_rule"]["env_cost"]), float(np.asarray(rule.cost).mean()), rtol=1e-5)
    assert got["sigma_rule"]["env_cost"][0] > 0 and got["mip_mixed"]["env_cost"][0] > 0
    with pytest.raises(SystemExit, match="each point must be ratio:sigma"):
        script.main(["unused_run_dir", "--points", "10-1"])
    with pytest.raises(SystemExit, match="no results.json"):
        script.main(["missing_run_dir", "--points", "10:1"])


def test_probe_target_cap_a_cap_that_never_binds_changes_nothing(tmp_path):
    """probe_target_cap: a cap far above the capacity is the uncapped brain, episode by episode;
    a tight one changes the plan; fixed z = 0 is MIP-mixed itself (no target); bad input named."""
    import jax.numpy as jnp
    import pytest

    from sc_jax.env.hybrid_sample import hybrid_sample_catalog
    from sc_jax.errors import ConfigError
    from sc_jax.hybrid_reproduction import hybrid_keys, training_keys
    from sc_jax.mip_mixed import run_mip_mixed
    from tests.test_reproduce_hybrid import TINY, _compose, _untrained_ppo_checkpoint

    checkpoint = _untrained_ppo_checkpoint(tmp_path / "brain", _compose(TINY))
    script = _load("probe_target_cap")
    out = script.probe(checkpoint, 100.0, 3, [None, 1e9, 0.05], 0.0, episodes=2, num_skus=2, periods=30)
    assert out["brain_cap_1e+09"]["env_cost"] == out["brain"]["env_cost"]
    assert out["brain_cap_0.05"]["env_cost"] != out["brain"]["env_cost"]
    env, params = hybrid_sample_catalog(2, 100.0, semantics="exact", sigma_max=3, periods=30)
    reset_keys, _ = hybrid_keys(training_keys(0, 2), 2)  # the tuning stream's, never evaluation episodes
    mip = run_mip_mixed(env, params, jnp.swapaxes(reset_keys, 0, 1), integrality="none", warm_start=True)
    assert out["fixed_z_0"]["env_cost"] == mip.cost.sum(axis=0).tolist()
    with pytest.raises(ConfigError, match="'episodes'"):
        script.probe(checkpoint, 100.0, 3, [None], episodes=0, num_skus=2, periods=30)
    with pytest.raises(SystemExit):
        script.main(["--checkpoint", checkpoint, "--caps", "lots"])
