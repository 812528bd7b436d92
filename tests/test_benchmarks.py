"""The benchmark entry points compose with Hydra and run on a tiny budget; their last printed
line is the JSON the issues specify."""
import importlib
import json

import numpy as np
import pytest
from tests.hydra_config import compose_config

from sc_jax.errors import ConfigError


def _run(name, overrides, tmp_path, capsys):
    cfg = compose_config(name, overrides)
    summary = importlib.import_module(f"experiments.{name}").run(cfg, run_dir=tmp_path)
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line) == json.loads((tmp_path / f"{name}.json").read_text())
    return summary


def test_bench_env(tmp_path, capsys):
    summary = _run("bench_env", ["sizes=[8,16]", "repeats=1"], tmp_path, capsys)
    assert set(summary["product_steps_per_s"]) == {"8", "16"}
    assert all(v > 0 for v in summary["product_steps_per_s"].values())
    assert summary["orgym_periods_per_s"] is None and summary["speedup_vs_orgym"] is None


@pytest.mark.parametrize("overrides,message", [
    (["sizes=[0]"], "'sizes\\[\\]' must be an integer >= 1, got 0"),
    (["sizes=[-5]"], "'sizes\\[\\]' must be an integer >= 1, got -5"),
    (["sizes=[]"], "'sizes' must be a non-empty list"),
    (["repeats=0"], "'repeats' must be an integer >= 1, got 0"),
    (["seed=abc"], "'seed' must be an integer >= 0, got 'abc'"),
    (["+foo=1"], "unknown bench_env key\\(s\\) \\['foo'\\]"),
])
def test_bench_env_rejects_bad_config(overrides, message, tmp_path):
    cfg = compose_config("bench_env", overrides)
    with pytest.raises(ConfigError, match=message):
        importlib.import_module("experiments.bench_env").run(cfg, run_dir=tmp_path)
    assert not (tmp_path / "bench_env.json").exists()  # nothing half-measured is written


def test_bench_alloc(tmp_path, capsys):
    summary = _run("bench_alloc", ["sizes=[30]", "repeats=1", "rolling_max=30", "full_max=30"],
                   tmp_path, capsys)
    assert set(summary["solve_s"]) == set(summary["build_s"]) == {"30"}
    # the daily model is exact: the independent greedy method reaches the same objective
    np.testing.assert_allclose(summary["objective"]["30"], summary["greedy_objective"]["30"], rtol=1e-6)
    assert "30" in summary["rolling"]["objective"]
