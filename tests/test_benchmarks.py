"""The benchmark entry points compose with Hydra and run on a tiny budget; their last printed
line is the JSON the issues specify."""
import importlib
import json

import numpy as np
from tests.hydra_config import compose_config


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
    assert set(summary["product_steps_per_s_vmap_episode"]) == {"8", "16"}


def test_bench_alloc(tmp_path, capsys):
    summary = _run("bench_alloc", ["sizes=[30]", "repeats=1", "rolling_max=30", "full_max=30"],
                   tmp_path, capsys)
    assert set(summary["solve_s"]) == set(summary["build_s"]) == {"30"}
    # the daily model is exact: the independent greedy method reaches the same objective
    np.testing.assert_allclose(summary["objective"]["30"], summary["greedy_objective"]["30"], rtol=1e-6)
    assert "30" in summary["rolling"]["objective"]
