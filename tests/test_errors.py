"""Bad input raises ConfigError naming the field (and the allowed values)."""
import numpy as np
import pytest

from sc_jax.env import make_params
from sc_jax.env.demand import load_demand_csv
from sc_jax.env.presets import get_preset
from sc_jax.errors import ConfigError

CASES = [
    (dict(I0=[100, 100], r=[1, 1, 1, 1]), "'r' must have length 3"),
    (dict(h=[0.1, 0.1]), "'h' must have length 3"),
    (dict(L=[3, -1, 2]), "'L' must be >= 0"),
    (dict(L=[3, 1.5, 2]), "'L' must hold integers"),
    (dict(c=[100, 0, 80]), "'c' must be > 0"),
    (dict(c=[100, -5, 80]), "'c' must be > 0"),
    (dict(I0=[-1, 0, 0]), "'I0' must be >= 0"),
    (dict(k=[0.1, -0.1, 0, 0]), "'k' must be >= 0"),
    (dict(alpha=1.5), "'alpha' must be in \\(0, 1\\]"),
    (dict(periods=0), "'periods' must be an integer >= 1"),
    (dict(backlog="yes"), "'backlog' must be a boolean"),
    (dict(observation="pixels"), "'observation' must be one of"),
    (dict(demand="normal"), "demand kind must be one of"),
    (dict(demand=7), "demand kind must be one of"),
    (dict(demand="poisson", demand_params={"mu": -2}), "'mu' must be > 0"),
    (dict(demand="poisson", demand_params={"lam": 2}), "unknown parameter"),
    (dict(demand="binomial", demand_params={"n": 10, "p": 1.5}), "'p' must be in \\(0, 1\\]"),
    (dict(demand="binomial", demand_params={"n": 2.5, "p": 0.5}), "'n' must be an integer"),
    (dict(demand="uniform", demand_params={"low": 5, "high": 5}), "'high' must be > low"),
    (dict(demand="uniform", demand_params={"low": -1, "high": 5}), "'low' must be >= 0"),
    (dict(demand="geometric", demand_params={"p": 0}), "'p' must be in \\(0, 1\\]"),
    (dict(demand="geometric"), "needs parameter 'p'"),
    (dict(demand="forecast", demand_params={"sigma_max": 0}), "'sigma_max' must be >= 1"),
    (dict(demand="user"), "needs 'user_demand'"),
    (dict(demand="user", user_demand=np.ones(29)), "user demand must have shape"),
    (dict(demand="user", user_demand=np.full(30, 1.5)), "whole numbers"),
    (dict(demand="user", user_demand=-np.ones(30)), "must be >= 0"),
    (dict(demand="user", user_demand=np.ones((2, 3, 30))), "user demand must have shape"),
    (dict(demand="poisson", user_demand=np.ones(30)), "only used with demand='user'"),
    (dict(shared_capacity=[100, -1, 100]), "'shared_capacity' must be >= 0"),
    (dict(shared_capacity=[100, 100]), "'shared_capacity' must have length 3"),
    (dict(I0=np.zeros((4, 3)), c=np.ones((5, 3))), "inconsistent leading"),
]


@pytest.mark.parametrize("kwargs,message", CASES, ids=[m for _, m in CASES])
def test_make_params_rejects(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        make_params(**kwargs)


def test_unknown_preset_lists_the_allowed_names():
    with pytest.raises(ConfigError, match=r"unknown preset 'orgym_v2'.*orgym_v0"):
        get_preset("orgym_v2")


def test_csv_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,x\n")
    with pytest.raises(ConfigError, match="could not be parsed"):
        load_demand_csv(str(bad))
    frac = tmp_path / "frac.csv"
    frac.write_text("1,2.5,3\n")
    with pytest.raises(ConfigError, match="whole numbers"):
        load_demand_csv(str(frac))
