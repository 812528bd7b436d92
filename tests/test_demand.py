"""Demand families sampled in JAX from explicit keys: moments against SciPy, supports, user
paths and CSV, the forecast generator, reproducibility."""
import jax
import numpy as np
import pytest
from scipy import stats

from sc_jax.env import make_env, replicate
from sc_jax.env.demand import load_demand_csv

FAMILIES = [
    ("poisson", {"mu": 20}, stats.poisson(20)),
    ("binomial", {"n": 40, "p": 0.3}, stats.binom(40, 0.3)),
    ("uniform", {"low": 7, "high": 19}, stats.randint(7, 19)),   # low > 0: OR-Gym rejects it
    ("geometric", {"p": 0.2}, stats.geom(0.2)),                  # OR-Gym rejects geometric
]


def draw(env, params, n_paths, seed=0):
    keys = jax.random.split(jax.random.PRNGKey(seed), n_paths)
    return np.asarray(jax.vmap(env.sample_demand, in_axes=(0, None))(keys, params).actual)


@pytest.mark.parametrize("kind,dparams,dist", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_moments_and_support(kind, dparams, dist):
    env, params = make_env(demand=kind, demand_params=dparams)
    assert env.demand_kind == kind
    x = draw(env, params, 4000).ravel()  # 120,000 draws
    lo, hi = dist.support()
    assert x.min() >= lo and x.max() <= hi
    se = dist.std() / np.sqrt(x.size)
    assert abs(x.mean() - dist.mean()) < 5 * se
    assert x.var() == pytest.approx(dist.var(), rel=0.03)
    # distribution shape: total variation distance to the pmf
    values, counts = np.unique(x, return_counts=True)
    tv = 0.5 * np.abs(counts / x.size - dist.pmf(values)).sum() + 0.5 * (1 - dist.pmf(values).sum())
    assert tv < 0.02
    assert float(params.demand_mean) == pytest.approx(dist.mean(), rel=1e-5)


def test_per_product_parameters_and_same_key_same_path():
    env, params = make_env(periods=30, demand="poisson", demand_params={"mu": np.array([2.0, 50.0])})
    keys = jax.random.split(jax.random.PRNGKey(3), 2)
    a = jax.vmap(env.sample_demand)(keys, params).actual
    b = jax.vmap(env.sample_demand)(keys, params).actual
    np.testing.assert_array_equal(a, b)
    assert float(a[0].mean()) < 10 < float(a[1].mean())


def test_user_demand_rows_and_reset_with_path(tmp_path):
    paths = np.array([[1, 2, 3, 4], [10, 20, 30, 40]])
    env, params = make_env(periods=4, demand="user", user_demand=paths)
    rows = draw(env, params, 50)
    assert {tuple(r) for r in rows} == {tuple(p) for p in paths}
    csv = tmp_path / "demand.csv"
    csv.write_text("# one path per row\n1,2,3,4\n10,20,30,40\n")
    np.testing.assert_array_equal(load_demand_csv(str(csv)), paths)
    # a given path replays through reset_with_demand
    _, state = env.reset_with_demand(params, env.stationary_path(paths[1], params))
    np.testing.assert_array_equal(state.demand.actual, paths[1])


def test_forecast_generator():
    env, params = make_env(periods=200, demand="forecast", forecast_window=15,
                           demand_params={"sigma_max": 6}, observation="rich")
    path = env.sample_demand(jax.random.PRNGKey(0), params)
    assert path.actual.shape == (200,) and path.forecast_mean.shape == (215,)
    mean, std, actual = map(np.asarray, (path.forecast_mean, path.forecast_std, path.actual))
    assert np.all(mean == np.floor(mean)) and mean.min() >= 0 and actual.min() >= 0
    assert set(np.unique(std)) <= set(range(6))
    x = np.arange(1, 216)
    smooth = 20 + 5 * np.sin(0.02 * x) + 3 * np.sin(0.05 * x)
    assert np.all((mean >= np.floor(smooth) - 1) & (mean <= smooth + 1))
    # actual = forecast + N(0, sigma): residuals scale with sigma
    resid = actual - mean[:200]
    assert np.all(resid[std[:200] == 0] >= -1) and np.all(resid[std[:200] == 0] <= 0)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    assert obs.shape == (env.obs_size,) and env.obs_size > 0
    # reset draws the same path as sample_demand from the same key
    np.testing.assert_array_equal(state.demand.actual, path.actual)


def test_reset_is_reproducible_and_keys_differ():
    env, params = make_env()
    params = replicate(params, 3)
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    _, s1 = jax.vmap(env.reset)(keys, params)
    _, s2 = jax.vmap(env.reset)(keys, params)
    np.testing.assert_array_equal(s1.demand.actual, s2.demand.actual)
    assert not np.array_equal(s1.demand.actual[0], s1.demand.actual[1])
