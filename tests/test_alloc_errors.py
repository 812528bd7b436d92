"""Bad input to sc_jax.alloc and experiments/bench_alloc.py raises ConfigError in one message form:
'<field>' must be <allowed values>, got <what was given>."""
import dataclasses
import re
import subprocess
import sys

import numpy as np
import pytest
from omegaconf import OmegaConf

from sc_jax import alloc
from sc_jax.alloc import AllocationProblem, allocate, allocate_from_config, random_problem
from sc_jax.alloc.milp import build_cut_segments, capacity_room, solve_daily
from sc_jax.alloc.rolling import solve_rolling
from sc_jax.errors import ConfigError
from tests.hydra_config import CONF_DIR

DAILY_ALLOWED = "('max_segments', 'capacity_basis', 'min_cut_cost_fraction', 'band_size')"
ROLLING_ALLOWED = ("('horizon', 'safety_penalty_weight', 'repair_upward', 'max_segments', 'capacity_basis',"
                   " 'min_cut_cost_fraction')")


@pytest.fixture(scope="module")
def problem():
    return random_problem(0, 6, tightness=0.5)


def _raises(message, call, *args, **kwargs):
    """ConfigError with exactly `message` (a literal, not a regex), in the project's form."""
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$") as error:
        call(*args, **kwargs)
    assert isinstance(error.value, ValueError)


# --- allocate / solve_daily / solve_rolling arguments ------------------------------------------

ARGUMENT_CASES = [
    (dict(time_limit="5"), "'time_limit' must be None or a number > 0 (seconds), got '5'"),
    (dict(time_limit=0), "'time_limit' must be None or a number > 0 (seconds), got 0"),
    (dict(time_limit=float("nan")), "'time_limit' must be None or a number > 0 (seconds), got nan"),
    (dict(time_limit=True), "'time_limit' must be None or a number > 0 (seconds), got True"),
    (dict(method="foo"), "'method' must be one of ('daily', 'rolling', 'greedy', 'jax'), got 'foo'"),
    (dict(method=None), "'method' must be one of ('daily', 'rolling', 'greedy', 'jax'), got None"),
    (dict(mip_rel_gap=1.0), "'mip_rel_gap' must be a number in [0, 1), got 1.0"),
    (dict(mip_rel_gap=-0.1), "'mip_rel_gap' must be a number in [0, 1), got -0.1"),
    (dict(mip_rel_gap="0.1"), "'mip_rel_gap' must be a number in [0, 1), got '0.1'"),
    (dict(foo=1), f"'options' of method 'daily' must be among {DAILY_ALLOWED}, got unknown 'foo'"),
    (dict(method="greedy", foo=1, bar=2),
     f"'options' of method 'greedy' must be among {DAILY_ALLOWED}, got unknown 'foo', 'bar'"),
    (dict(method="rolling", band_size=10),
     f"'options' of method 'rolling' must be among {ROLLING_ALLOWED}, got unknown 'band_size'"),
    (dict(capacity_basis="physical"), "'capacity_basis' must be one of ('position', 'expected', 'projected'), got 'physical'"),
    (dict(method="greedy", capacity_basis=1),
     "'capacity_basis' must be one of ('position', 'expected', 'projected'), got 1"),
    (dict(max_segments=0), "'max_segments' must be None or an integer >= 1, got 0"),
    (dict(max_segments=2.5), "'max_segments' must be None or an integer >= 1, got 2.5"),
    (dict(band_size=0), "'band_size' must be None or an integer >= 1, got 0"),
    (dict(band_size="500"), "'band_size' must be None or an integer >= 1, got '500'"),
    (dict(min_cut_cost_fraction=-1.0), "'min_cut_cost_fraction' must be a finite number >= 0, got -1.0"),
    (dict(method="rolling", horizon=3),
     "'horizon' must be None or an integer in [5, 10], got 3"),
    (dict(method="rolling", horizon=11), "'horizon' must be None or an integer in [5, 10], got 11"),
    (dict(method="rolling", safety_penalty_weight=2), "'safety_penalty_weight' must be a number in [0, 1], got 2"),
    (dict(method="rolling", repair_upward="yes"), "'repair_upward' must be True or False, got 'yes'"),
    (dict(method="rolling", max_segments=0), "'max_segments' must be None or an integer >= 1, got 0"),
]


@pytest.mark.parametrize("kwargs, message", ARGUMENT_CASES, ids=[m for _, m in ARGUMENT_CASES])
def test_allocate_rejects_bad_arguments(problem, kwargs, message):
    _raises(message, allocate, problem, **kwargs)


def test_allocate_rejects_a_non_problem():
    _raises("'problem' must be an AllocationProblem, got str 'not a problem'", allocate, "not a problem")
    _raises("'problem' must be an AllocationProblem, got dict {}", allocate, {}, "greedy")
    _raises("'problem' must be an AllocationProblem, got NoneType None", solve_daily, None)
    _raises("'problem' must be an AllocationProblem, got int 3", solve_rolling, 3)


def test_solver_functions_validate_too(problem):
    _raises("'time_limit' must be None or a number > 0 (seconds), got '5'", solve_daily, problem, time_limit="5")
    _raises("'use_milp' must be True or False, got 'no'", solve_daily, problem, use_milp="no")
    _raises("'time_limit' must be None or a number > 0 (seconds), got -1", solve_rolling, problem, time_limit=-1)
    _raises("'capacity_basis' must be one of ('position', 'expected', 'projected'), got 'x'", capacity_room, problem, "x")
    upper = problem.order_upper_bound()
    _raises("'max_segments' must be None or an integer >= 1, got 0", build_cut_segments, problem, upper, [0], 0)


def test_unknown_option_message_lists_the_method_options(problem):
    with pytest.raises(ConfigError) as error:
        allocate(problem, "rolling", foo=1)
    for option in alloc.METHOD_OPTIONS["rolling"]:
        assert repr(option) in str(error.value)


# --- AllocationProblem fields ------------------------------------------------------------------

def _fields(problem, **changes):
    kwargs = {f.name: getattr(problem, f.name) for f in dataclasses.fields(problem)}
    kwargs.update(changes)
    return kwargs


PROBLEM_CASES = [
    (dict(desired_orders=np.ones(3)), "'desired_orders' must be a 2-D array [products, stages], got shape (3,)"),
    (dict(desired_orders=np.ones((6, 0))),
     "'desired_orders' must have at least one stage [products, stages >= 1], got shape (6, 0)"),
    (dict(desired_orders=np.full((6, 3), 1.5)),
     "'desired_orders' must be integers >= 0, got non-integer 1.5 at index (0, 0)"),
    (dict(on_hand=-np.ones((6, 3))), "'on_hand' must be integers >= 0, got -1 at index (0, 0)"),
    (dict(pipeline=np.ones((3, 3))),
     "'pipeline' must have shape (6, 3) [products, stages] like desired_orders, got shape (3, 3)"),
    (dict(supply_capacity=np.full((6, 3), np.nan)),
     "'supply_capacity' must be finite (no NaN or inf), got 18 non-finite value(s), first nan at index (0, 0)"),
    (dict(holding_cost=np.full((6, 3), -0.5)), "'holding_cost' must be numbers >= 0, got -0.5 at index (0, 0)"),
    (dict(shortage_cost=np.full((6, 3), "a")), "'shortage_cost' must be a numeric array, got an array of shape (6, 3)"
                                               " (dtype <U1)"),
    (dict(capacity=[1.0, None, 2.0]), "'capacity' must be a numeric array, got [1.0, None, 2.0] (dtype object)"),
    (dict(capacity=[1.0, -1.0, 2.0]), "'capacity' must be numbers >= 0, got -1 at index (1,)"),
    (dict(capacity=np.ones(2)), "'capacity' must have shape (3,) [stages], one shared capacity per stage, got shape (2,)"),
    (dict(lead_times=[0, 3, 4]), "'lead_times' must be integers >= 1, got [0, 3, 4]"),
    (dict(lead_times=[2, 2.5, 4]), "'lead_times' must be integers >= 1, got [2, 2.5, 4]"),
    (dict(forecast_mean=np.ones((5, 10))),
     "'forecast_mean' must have shape (6, horizon) [products, days], got shape (5, 10)"),
    (dict(forecast_mean=np.ones((6, 3)), forecast_std=np.ones((6, 3))),
     "'forecast_mean' must cover a horizon of at least max(lead_times) + 1 = 5 days (the longest protection"
     " interval), got 3"),
    (dict(forecast_std=np.full((6, 10), np.inf)),
     "'forecast_std' must be finite (no NaN or inf), got 60 non-finite value(s), first inf at index (0, 0)"),
    (dict(pipeline_by_day=np.zeros((6, 3, 2))),
     "'pipeline_by_day' must have shape (6, 3, 4) [products, stages, max lead time], got shape (6, 3, 2)"),
]


@pytest.mark.parametrize("changes, message", PROBLEM_CASES, ids=[m[:60] for _, m in PROBLEM_CASES])
def test_problem_rejects_bad_fields(problem, changes, message):
    _raises(message, AllocationProblem, **_fields(problem, **changes))


def test_problem_rejects_ragged_and_inconsistent_input(problem):
    with pytest.raises(ConfigError, match=r"^'on_hand' must be a numeric array, got list"):
        AllocationProblem(**_fields(problem, on_hand=[[1, 2, 3], [1, 2]]))
    schedule = problem.pipeline_by_day.copy()
    schedule[0, 0, 0] += 1
    with pytest.raises(ConfigError, match=r"^'pipeline_by_day' must sum over arrival days to 'pipeline', got \d+ != \d+"):
        AllocationProblem(**_fields(problem, pipeline_by_day=schedule))


def test_random_problem_rejects_bad_arguments():
    _raises("'n_products' must be an integer >= 1, got 0", random_problem, 0, 0)
    _raises("'n_products' must be an integer >= 1, got 2.5", random_problem, 0, 2.5)
    _raises("'tightness' must be a number >= 0, got -1", random_problem, 0, 3, tightness=-1)
    _raises("'lead_times' must be a non-empty list of integers >= 1, got (0, 1)", random_problem, 0, 3,
            lead_times=(0, 1))


# --- allocate_from_config -----------------------------------------------------------------------

def test_allocate_from_config_rejects_unknown_keys(problem):
    config = OmegaConf.load(CONF_DIR / "alloc" / "daily.yaml")
    config.time_limit = 5.0  # a common slip: the config key is time_limit_s
    with pytest.raises(ConfigError, match=r"^'alloc' config keys for method 'daily' must be among \(") as error:
        allocate_from_config(problem, config)
    assert "got unknown 'time_limit'" in str(error.value) and "'time_limit_s'" in str(error.value)
    for option in alloc.METHOD_OPTIONS["daily"]:
        assert repr(option) in str(error.value)
    rolling = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "alloc" / "rolling.yaml"))
    with pytest.raises(ConfigError, match="got unknown 'band_size'"):
        allocate_from_config(problem, {**rolling, "band_size": 10})
    _raises("'method' must be one of ('daily', 'rolling', 'greedy', 'jax'), got 'lp'", allocate_from_config, problem,
            {"method": "lp"})
    _raises("'time_limit' must be None or a number > 0 (seconds), got '5'", allocate_from_config, problem,
            {"method": "greedy", "time_limit_s": "5"})
    _raises("'alloc' config must be a mapping (dict or DictConfig), got list", allocate_from_config, problem, [1])


def test_alloc_imports_no_jax():
    code = "import sys, sc_jax.alloc; assert not any(m == 'jax' or m.startswith('jax.') for m in sys.modules)"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- experiments/bench_alloc.py config -----------------------------------------------------------

def _bench_config(**changes):
    config = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "bench_alloc.yaml"))
    config.pop("defaults"), config.pop("hydra")
    config.update(sizes=[5], repeats=1, rolling_max=0, full_max=0)
    config.update(changes)
    return config


BENCH_CASES = [
    (dict(sizes=[0]), "'sizes' must be a non-empty list of integers >= 1 (products), got [0]"),
    (dict(sizes=[-5]), "'sizes' must be a non-empty list of integers >= 1 (products), got [-5]"),
    (dict(sizes=[]), "'sizes' must be a non-empty list of integers >= 1 (products), got []"),
    (dict(sizes=100), "'sizes' must be a non-empty list of integers >= 1 (products), got 100"),
    (dict(sizes=[10, 2.5]), "'sizes' must be a non-empty list of integers >= 1 (products), got [10, 2.5]"),
    (dict(repeats=0), "'repeats' must be an integer >= 1, got 0"),
    (dict(tightness=-1), "'tightness' must be a number in (0, 1], got -1"),
    (dict(tightness=1.5), "'tightness' must be a number in (0, 1], got 1.5"),
    (dict(time_limit=0), "'time_limit' must be None or a number > 0 (seconds), got 0"),
    (dict(rolling_max=-1), "'rolling_max' must be an integer >= 0, got -1"),
    (dict(full_max=1.5), "'full_max' must be an integer >= 0, got 1.5"),
    (dict(band_size=0), "'band_size' must be None or an integer >= 1, got 0"),
]


@pytest.mark.parametrize("changes, message", BENCH_CASES, ids=[m for _, m in BENCH_CASES])
def test_bench_alloc_rejects_bad_config(tmp_path, changes, message):
    from experiments import bench_alloc

    _raises(message, bench_alloc.run, _bench_config(**changes), run_dir=tmp_path)
    assert not (tmp_path / "bench_alloc.json").exists()


def test_bench_alloc_rejects_unknown_and_missing_keys(tmp_path):
    from experiments import bench_alloc

    config = _bench_config(size=[5])
    del config["sizes"]
    with pytest.raises(ConfigError, match=r"^'cfg' keys must be exactly .*got missing \['sizes'\], unknown \['size'\]$"):
        bench_alloc.run(config, run_dir=tmp_path)
