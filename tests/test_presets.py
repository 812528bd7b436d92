"""Presets, the catalog generator, observations and the config bridge."""
import jax
import numpy as np
import pytest
from omegaconf import OmegaConf

from sc_jax.config import env_params_from_cfg
from sc_jax.env import observation_size, reset
from sc_jax.env.catalog import make_catalog
from sc_jax.env.presets import get_preset, hybrid_costs
from sc_jax.errors import ConfigError

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]


def test_orgym_presets():
    v0, v1 = get_preset("orgym_v0"), get_preset("orgym_v1")
    assert bool(v0.backlog) and not bool(v1.backlog)
    obs, _ = reset(jax.random.PRNGKey(0), v0)
    assert obs.shape == (33,) == (observation_size(v0),)
    np.testing.assert_array_equal(obs[:3], [100, 100, 200])
    rich = get_preset("orgym_v1", observation="rich")
    obs, _ = reset(jax.random.PRNGKey(0), rich)
    assert obs.shape == (observation_size(rich),) and obs.shape[0] > 33


def test_hybrid_costs_follow_the_sample():
    k, h = hybrid_costs(2, 100.0)
    price = (1 + 0.2 * 2) * (4 - np.arange(4)) / 4
    np.testing.assert_allclose(k, price / 10)
    np.testing.assert_allclose(h, price[:3] / 10 / 100)
    p = get_preset("hybrid", cost_ratio=1000.0)
    assert list(np.asarray(p.lead_time)) == [2, 3, 4] and list(np.asarray(p.supply_capacity)) == [100, 90, 80]
    assert float(p.retail_price) == 0 and float(p.unit_cost.sum()) == 0
    assert float(p.cost_ratio) == 1000.0 and p.demand_kind == "forecast"


def test_catalog_many_products():
    params = make_catalog(jax.random.PRNGKey(0), 500, ratios=(10, 100, 1000), shared_capacity=5000)
    assert params.initial_inventory.shape == (500, 3) and params.couple_products
    assert set(np.unique(np.asarray(params.cost_ratio))) == {10.0, 100.0, 1000.0}
    ratio = np.asarray(params.shortage_cost[:, 0] / params.holding_cost[:, 0])
    np.testing.assert_allclose(ratio, np.asarray(params.cost_ratio), rtol=1e-4)
    ranged = make_catalog(jax.random.PRNGKey(1), 1000, ratio_range=(10, 1000), demand="poisson")
    r = np.asarray(ranged.cost_ratio)
    assert r.min() >= 10 and r.max() <= 1000 and np.median(np.log10(r)) == pytest.approx(2, abs=0.15)
    with pytest.raises(ConfigError, match="'num_products'"):
        make_catalog(jax.random.PRNGKey(0), 0)


@pytest.mark.parametrize("env", ["orgym_v0", "orgym_v1", "hybrid"])
@pytest.mark.parametrize("demand", ["poisson", "binomial", "uniform", "geometric", "forecast"])
def test_every_config_group_builds(env, demand):
    params = env_params_from_cfg(OmegaConf.load(ROOT / f"conf/env/{env}.yaml"),
                                 OmegaConf.load(ROOT / f"conf/demand/{demand}.yaml"))
    assert params.demand_kind == demand


def test_config_errors():
    env = OmegaConf.load(ROOT / "conf/env/orgym_v0.yaml")
    with pytest.raises(ConfigError, match="env.preset must be one of"):
        env_params_from_cfg({**OmegaConf.to_container(env), "preset": "nope"})
    with pytest.raises(ConfigError, match="demand.csv"):
        env_params_from_cfg(env, {"kind": "user", "params": {}, "csv": None})
