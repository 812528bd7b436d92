"""sc_jax's step against OR-Gym 0.5.0: the 8 reference trajectories and 60 random configurations
(1-4 stages, lead times 0..6, fractional, negative and over-capacity actions, both modes),
produced by OR-Gym's unmodified module (tests/fixtures/make_orgym_random_cases.py)."""
import json
from pathlib import Path

import numpy as np
import pytest

from sc_jax.compat import orgym
from sc_jax.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"
TOL = 1e-4


def _cases(name):
    return json.loads((FIXTURES / name).read_text())["cases"]


REFERENCE = _cases("orgym_trajectories.json")
RANDOM = _cases("orgym_random_cases.json")


def _check(case):
    out = orgym.simulate(case["config"], case["demand"], case["actions"])
    expected = case["expected"]
    for field in ("rewards", "observations", "inventory"):
        np.testing.assert_allclose(out[field], np.asarray(expected[field]), rtol=0, atol=TOL,
                                   err_msg=f"{case['name']}: {field}")


@pytest.mark.parametrize("case", REFERENCE, ids=[c["name"] for c in REFERENCE])
def test_reference_trajectories(case):
    _check(case)


def test_random_configurations():
    assert len(RANDOM) == 60
    stage_counts = {len(c["config"]["I0"]) for c in RANDOM}
    assert stage_counts == {1, 2, 3, 4}
    assert any(0 in c["config"]["L"] for c in RANDOM), "lead time 0 must be covered"
    for case in RANDOM:
        _check(case)


def test_episode_reward_matches():
    case = REFERENCE[0]
    out = orgym.simulate(case["config"], case["demand"], case["actions"])
    assert out["rewards"].sum() == pytest.approx(sum(case["expected"]["rewards"]), abs=1e-3)


def test_replay_traces_once_per_shape():
    """Same shapes, different values: one trace of the jitted replay (no retracing)."""
    case = REFERENCE[0]
    orgym._replay.clear_cache() if hasattr(orgym._replay, "clear_cache") else None
    before = orgym._replay._cache_size()
    for shift in range(3):
        demand = np.asarray(case["demand"]) + shift
        orgym.simulate(case["config"], demand, case["actions"])
    assert orgym._replay._cache_size() - before == 1


def test_bad_inputs_name_the_field():
    case = REFERENCE[0]
    with pytest.raises(ConfigError, match="demand"):
        orgym.simulate(case["config"], case["demand"][:-1], case["actions"])
    with pytest.raises(ConfigError, match="actions"):
        orgym.simulate(case["config"], case["demand"], np.zeros((30, 2)))
    with pytest.raises(ConfigError, match="unknown OR-Gym config"):
        orgym.simulate({"lead": [1, 2, 3]}, case["demand"], case["actions"])
    with pytest.raises(ConfigError, match="'L'"):
        orgym.simulate({"L": [1, -2, 3]}, case["demand"], case["actions"])
