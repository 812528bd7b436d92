"""experiments/bench_hybrid.py composes with Hydra and runs on a tiny budget; its last printed line
is the JSON the issue specifies; bad configs fail before any work."""
import importlib
import json

import pytest
from tests.hydra_config import compose_config

from sc_jax.errors import ConfigError

TINY = ["sizes=[4]", "samples=2", "host_samples=1", "periods=20", "repeats=1"]


def test_bench_hybrid_tiny(tmp_path, capsys):
    summary = importlib.import_module("experiments.bench_hybrid").run(compose_config("bench_hybrid", TINY),
                                                                      run_dir=tmp_path)
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line) == json.loads((tmp_path / "bench_hybrid.json").read_text())
    rates = json.loads(last_line)["product_days_per_s"]
    assert set(rates) == {"host", "jax"} and set(rates["host"]) == set(rates["jax"]) == {"4"}
    assert rates["host"]["4"] > 0 and rates["jax"]["4"] > 0
    row = summary["details"]["4"]
    assert row["binding_days_host"] > 0 and row["same_binding_days"]  # the capacity binds, on the same days
    assert row["cost_rel_diff"] < 1e-5  # the same model and keys: the same cost
    for key in ("load_average_before", "load_average_after"):  # recorded next to the rates
        assert row[key] is None or len(row[key]) == 3


@pytest.mark.parametrize("overrides, message", [
    (["sizes=[0]"], "'sizes' must be a non-empty list of integers >= 1 (products), got [0]"),
    (["host_samples=3"], "'host_samples' must be an integer in [0, 2], got 3"),
    (["capacity_basis=physical"], "'capacity_basis' must be one of ('position', 'expected', 'projected'), got 'physical'"),
    (["capacity_per_product=[1,2]"], "'capacity_per_product' must be 3 numbers > 0, got [1, 2]"),
    (["stocks=[[1,2,3]]"], "'stocks' must be 3 rows (one per ratio) of 3 integers >= 0, got [[1, 2, 3]]"),
    (["+foo=1"], "'cfg' keys must be exactly"),
])
def test_bench_hybrid_rejects_bad_config(overrides, message, tmp_path):
    cfg = compose_config("bench_hybrid", TINY[:1] + ["samples=2"] + overrides)
    with pytest.raises(ConfigError) as error:
        importlib.import_module("experiments.bench_hybrid").run(cfg, run_dir=tmp_path)
    assert str(error.value).startswith(message)
    assert not (tmp_path / "bench_hybrid.json").exists()
