"""Demand profiles x cost ratios (#12): every profile reaches both brains and the hybrid loop, and a
cost ratio means h = k / ratio on every preset; the in-process grid trains the same policy as a
separate run at that point."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from tests.hydra_config import compose_config

import sc_jax
from sc_jax.agents.brains import build_env
from sc_jax.config import env_from_cfg
from sc_jax.env.catalog import STATIONARY_PROFILES, make_catalog, stationary_profile
from sc_jax.env.params import ORGYM_DEFAULTS
from sc_jax.env.wrappers import fixed_safety_stock, sigma_levels_for
from sc_jax.errors import ConfigError
from sc_jax.hybrid import run_hybrid
from sc_jax.sweep import grid_params, grid_points


@pytest.mark.parametrize("name", ["orgym_v0", "orgym_v1"])
def test_orgym_cost_ratio_sets_holding_from_shortage(name):
    _, own = sc_jax.make(name)
    np.testing.assert_allclose(own.unit_holding_cost, ORGYM_DEFAULTS["h"], rtol=1e-6)  # default: OR-Gym's h
    _, params = sc_jax.make(name, cost_ratio=10)
    np.testing.assert_allclose(params.unit_holding_cost, np.asarray(ORGYM_DEFAULTS["k"][:3]) / 10, rtol=1e-6)
    assert float(params.cost_ratio) == 10
    _, custom = sc_jax.make(name, cost_ratio=4, k=[1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(custom.unit_holding_cost, [0.25, 0.5, 0.75], rtol=1e-6)
    with pytest.raises(ConfigError, match="either 'h'.*or 'cost_ratio'"):
        sc_jax.make(name, cost_ratio=10, h=[1, 1, 1])
    with pytest.raises(ConfigError, match="cost_ratio"):
        sc_jax.make(name, cost_ratio=-1)


def test_cost_ratio_from_config():
    cfg = compose_config("train", ["env.cost_ratio=100", "demand=geometric"])
    env, params = env_from_cfg(cfg.env, cfg.demand)
    assert env.demand_kind == "geometric"
    np.testing.assert_allclose(params.unit_holding_cost, np.asarray(ORGYM_DEFAULTS["k"][:3]) / 100, rtol=1e-6)
    cfg = compose_config("train", ["env.cost_ratio=100", "env.h=[1,1,1]"])
    with pytest.raises(ConfigError, match="either 'h'"):
        env_from_cfg(cfg.env, cfg.demand)
    # the hybrid preset's cost_ratio is the same rule
    cfg = compose_config("train", ["env=hybrid", "demand=forecast", "env.cost_ratio=10"])
    _, hybrid = env_from_cfg(cfg.env, cfg.demand)
    np.testing.assert_allclose(hybrid.unit_holding_cost, hybrid.unit_shortage_cost[:3] / 10, rtol=1e-6)


@pytest.mark.parametrize("kind", STATIONARY_PROFILES)
def test_stationary_profiles_have_the_stated_mean(kind):
    mean = np.array([5.0, 20.0, 30.0])
    _, params = make_catalog(jax.random.PRNGKey(0), 3, demand=kind, mu_range=(5.0, 5.0))
    np.testing.assert_allclose(params.demand_mean, 5.0, rtol=0.05 if kind == "uniform" else 1e-4)
    profile = stationary_profile(kind, mean)
    assert set(profile) == {"poisson": {"mu"}, "binomial": {"n", "p"}, "uniform": {"low", "high"},
                            "geometric": {"p"}}[kind]
    env, one = sc_jax.make("hybrid", demand=kind, demand_params={k: float(v[1]) for k, v in profile.items()})
    assert env.demand_kind == kind and abs(float(one.demand_mean) - 20.0) <= 0.5
    with pytest.raises(ConfigError, match="stationary profile must be one of"):
        stationary_profile("normal", mean)
    with pytest.raises(ConfigError, match="catalog 'demand' must be one of"):
        make_catalog(jax.random.PRNGKey(0), 3, demand="normal")
    with pytest.raises(ConfigError, match="needs 'user_demand'"):
        make_catalog(jax.random.PRNGKey(0), 3, demand="user")


def test_safety_brain_takes_every_profile():
    for kind, params in (("poisson", {"mu": 20}), ("binomial", {"n": 40, "p": 0.5}),
                         ("uniform", {"low": 10, "high": 31}), ("geometric", {"p": 0.05})):
        base, p = sc_jax.make("hybrid", demand=kind, demand_params=params)
        env = build_env("safety", base, p, {"action_frequency": 10})
        obs, state = env.reset(jax.random.PRNGKey(0), p)
        _, state, reward, _, _ = env.step_env(jax.random.PRNGKey(1), state, jnp.array([5, 5, 5]), p)
        assert np.isfinite(float(reward)) and float(reward) < 0
        # the forecast the controller reads is the profile's mean and std
        np.testing.assert_allclose(state.demand.forecast_mean, p.demand_mean)
        assert sigma_levels_for(env, [2, 6]) == [1]  # sigma_max does not apply to a stationary profile
    user_env, user = sc_jax.make("hybrid", demand="user", user_demand=np.full((3, 200), 7))
    assert float(user.demand_mean) == 7.0 and float(user.demand_std) == 0.0  # the rule: paths' mean and std
    forecast_env = build_env("safety", *sc_jax.make("hybrid"), {})
    assert sigma_levels_for(forecast_env, [2, 6]) == [2, 6]
    with pytest.raises(ConfigError, match="needs observation 'rich'"):
        build_env("safety", *sc_jax.make("orgym_v0"), {})


def test_hybrid_loop_runs_a_stationary_catalog():
    env, params = make_catalog(jax.random.PRNGKey(0), 4, demand="poisson", shared_capacity=[170, 250, 330],
                               periods=20)
    result = run_hybrid(env, params, fixed_safety_stock, jnp.array([2, 4, 4]), jax.random.PRNGKey(1),
                        allocation="daily", action_frequency=10)
    assert np.all(np.isfinite(result.cost)) and result.cost.sum() > 0
    assert np.all(result.peak_utilisation <= 1.0 + 1e-6)


def test_grid_points_and_params():
    points = grid_points({"cost_ratio": [10, 100], "sigma_max": [2, 6, 9], "ignored": None} | {})
    assert len(points) == 6 and points[0] == {"cost_ratio": 10.0, "sigma_max": 2}
    assert grid_points({}) == [{}] and grid_points({"cost_ratio": None}) == [{}]
    _, params = sc_jax.make("hybrid")
    by_point = grid_params(params, points)
    np.testing.assert_allclose(by_point.cost_ratio, [10, 10, 10, 100, 100, 100])
    np.testing.assert_allclose(by_point.forecast[:, 6], [2, 6, 9, 2, 6, 9])
    np.testing.assert_allclose(by_point.unit_holding_cost[3], params.unit_shortage_cost[:3] / 100, rtol=1e-6)
    _, orgym = sc_jax.make("orgym_v0")  # sigma only: OR-Gym's own h is kept
    np.testing.assert_allclose(grid_params(orgym, [{"sigma_max": 3}]).unit_holding_cost[0], orgym.unit_holding_cost)
    for bad, message in (({"seed": [1]}, "unknown grid key"), ({"cost_ratio": []}, "grid.cost_ratio"),
                         ({"cost_ratio": [0]}, "grid.cost_ratio"), ({"sigma_max": [1.5]}, "grid.sigma_max")):
        with pytest.raises(ConfigError, match=message):
            grid_points(bad)
