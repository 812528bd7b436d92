"""Presets, the catalog generator, observations and the config bridge."""
import jax
import numpy as np
import pytest
from omegaconf import OmegaConf

import sc_jax
from sc_jax.config import env_from_cfg
from sc_jax.env import ORGYM_DEFAULTS, PRESETS
from sc_jax.env.catalog import make_catalog
from sc_jax.env.presets import hybrid_costs
from sc_jax.errors import ConfigError
from tests.hydra_config import compose_config


def test_orgym_presets():
    (e0, v0), (e1, v1) = sc_jax.make("orgym_v0"), sc_jax.make("orgym_v1")
    assert bool(v0.backlog) and not bool(v1.backlog)
    assert e0.name == "orgym_v0" and e1.name == "orgym_v1" and set(PRESETS) == {"orgym_v0", "orgym_v1", "hybrid", "hybrid_sample"}
    assert e0.periods == ORGYM_DEFAULTS["periods"] and e0.history_length == max(ORGYM_DEFAULTS["L"])
    obs, _ = e0.reset(jax.random.PRNGKey(0), v0)
    assert obs.shape == (33,) == (e0.obs_size,)
    np.testing.assert_array_equal(obs[:3], [100, 100, 200])
    rich_env, rich = sc_jax.make("orgym_v1", observation="rich")
    obs, _ = rich_env.reset(jax.random.PRNGKey(0), rich)
    assert obs.shape == (rich_env.obs_size,) and obs.shape[0] > 33
    # overrides go to make_env (OR-Gym names)
    env, params = sc_jax.make("orgym_v0", L=[1, 2, 3], periods=12)
    assert env.periods == 12 and env.history_length == 3 and list(np.asarray(params.lead_time)) == [1, 2, 3]


def test_hybrid_costs_follow_the_sample():
    k, h = hybrid_costs(2, 100.0)
    price = (1 + 0.2 * 2) * (4 - np.arange(4)) / 4
    np.testing.assert_allclose(k, price / 10)
    np.testing.assert_allclose(h, price[:3] / 10 / 100)
    env, p = sc_jax.make("hybrid", cost_ratio=1000.0)
    assert list(np.asarray(p.lead_time)) == [2, 3, 4] and list(np.asarray(p.supply_capacity)) == [100, 90, 80]
    assert float(p.retail_price) == 0 and float(p.unit_cost.sum()) == 0
    assert float(p.cost_ratio) == 1000.0 and env.demand_kind == "forecast"
    assert env.observation_kind == "rich" and env.periods == 200 and env.forecast_window == 15
    env2, p2 = sc_jax.make("hybrid", cost_ratio=10.0, sku_index=2)
    np.testing.assert_allclose(np.asarray(p2.unit_shortage_cost), k, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p2.unit_holding_cost), k[:3] / 10.0, rtol=1e-6)
    assert env2 == env  # the same static settings: compiled code is shared


def test_catalog_many_products():
    env, params = make_catalog(jax.random.PRNGKey(0), 500, ratios=(10, 100, 1000), shared_capacity=5000)
    assert params.initial_inventory.shape == (500, 3) and env.couple_products
    np.testing.assert_array_equal(np.asarray(params.shared_capacity), 5000.0)
    assert set(np.unique(np.asarray(params.cost_ratio))) == {10.0, 100.0, 1000.0}
    ratio = np.asarray(params.unit_shortage_cost[:, 0] / params.unit_holding_cost[:, 0])
    np.testing.assert_allclose(ratio, np.asarray(params.cost_ratio), rtol=1e-4)
    ranged_env, ranged = make_catalog(jax.random.PRNGKey(1), 1000, ratio_range=(10, 1000), demand="poisson")
    assert not ranged_env.couple_products and ranged_env.demand_kind == "poisson"
    r = np.asarray(ranged.cost_ratio)
    assert r.min() >= 10 and r.max() <= 1000 and np.median(np.log10(r)) == pytest.approx(2, abs=0.15)
    with pytest.raises(ConfigError, match="'num_products'"):
        make_catalog(jax.random.PRNGKey(0), 0)


@pytest.mark.parametrize("env", ["orgym_v0", "orgym_v1", "hybrid"])
@pytest.mark.parametrize("demand", ["poisson", "binomial", "uniform", "geometric", "forecast"])
def test_every_config_group_builds(env, demand):
    cfg = compose_config("train", [f"env={env}", f"demand={demand}"])
    built_env, params = env_from_cfg(cfg.env, cfg.demand)
    assert built_env.demand_kind == demand and built_env.name == env
    assert bool(params.backlog) == (env == "orgym_v0")


def test_config_errors():
    env = compose_config("train", ["env=orgym_v0"]).env
    with pytest.raises(ConfigError, match="env.preset must be one of"):
        env_from_cfg({**OmegaConf.to_container(env), "preset": "nope"})
    with pytest.raises(ConfigError, match="demand.csv"):
        env_from_cfg(env, {"kind": "user", "params": {}, "csv": None})
