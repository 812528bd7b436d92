"""sc_jax against stockpyl's exact serial-system optimum (Chen-Zheng), conventions mapped.

Fixture: tests/fixtures/stockpyl_serial.json, produced by tests/fixtures/make_stockpyl_serial.py
(stockpyl needs NumPy < 2, so it is not a test dependency). The map (docs/textbook_timing.md):
stockpyl lead time = sc_jax lead time + 1, sc_jax local holding = sum of stockpyl's echelon
holding costs from the stage up, and stockpyl's cost = sc_jax's cost + the holding it charges on
units in transit (mu * sum_{m < M-1} h[m+1] * L[m]; sc_jax charges none).

Per instance: (a) sc_jax's simulated cost per period at stockpyl's optimal echelon levels equals
stockpyl's optimal cost minus that constant; (b) moving any one echelon level by +-1 or +-2 does
not lower sc_jax's cost beyond noise, and changes it by what stockpyl predicts (paired, common
random numbers). Discrimination: stockpyl's cost without the in-transit constant, and stockpyl's
optimum for unmapped lead times (L_textbook = L_sc), both fall clearly outside the intervals.

Every interval is a two-sided t-interval over the samples, Bonferroni-corrected so that all the
intervals of this file hold together with 95% probability. Bias not in the interval: the warm-up
from an empty pipeline (I0 = local levels), measured 7-23 cost units per episode (A 7, B 15, C 8,
D 23), i.e. <= 0.023 per period at PERIODS = 1000, against interval half-widths of 0.11-0.36.
"""
import json
from functools import lru_cache
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import sc_jax
from sc_jax.evaluate import evaluate
from sc_jax.policies import base_stock

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "stockpyl_serial.json").read_text())
INSTANCES = {inst["name"]: inst for inst in FIXTURE["instances"]}
NAMES = sorted(INSTANCES)
PERIODS, SAMPLES, SEED = 1000, 200, 0
# intervals per instance: (a) 1, unmapped 2, neighbours 2 each
N_INTERVALS = sum(3 + 2 * len(inst["neighbours"]) for inst in INSTANCES.values())
T_CRIT = stats.t.ppf(1 - 0.05 / (2 * N_INTERVALS), SAMPLES - 1)


def interval(values):
    """(mean, Bonferroni-corrected half-width) over the samples."""
    values = np.asarray(values, np.float64)
    return values.mean(), T_CRIT * values.std(ddof=1) / np.sqrt(values.size)


@lru_cache(maxsize=None)
def simulated(name):
    """Cost per period [SAMPLES] of every candidate of one instance, all on the same demand paths."""
    inst = INSTANCES[name]
    kwargs = {key: value for key, value in inst["sc_jax"].items() if key != "backlog"}  # v0 = backlog
    env, params = sc_jax.make("orgym_v0", periods=PERIODS, **kwargs)

    def cost(levels):
        result = evaluate(env, base_stock, jnp.asarray(levels, jnp.float32), params,
                          jax.random.PRNGKey(SEED), num_samples=SAMPLES)
        return -np.asarray(result.reward, np.float64)[0] / PERIODS

    return {"optimum": cost(inst["optimal_echelon_levels"]),
            "unmapped": cost(inst["unmapped"]["optimal_echelon_levels"]),
            "neighbours": [cost(nb["levels"]) for nb in inst["neighbours"]]}


@pytest.mark.parametrize("name", NAMES)
def test_cost_at_textbook_optimum_matches_after_in_transit_holding(name):
    inst = INSTANCES[name]
    mean, half = interval(simulated(name)["optimum"])
    expected = inst["stockpyl_cost_per_period"] - inst["in_transit_holding"]
    assert abs(mean - expected) <= half, (
        f"{name}: sc_jax {mean:.4f} +- {half:.4f} vs stockpyl - in transit = {expected:.4f}")
    # discriminates: the uncorrected textbook cost is outside
    assert abs(mean - inst["stockpyl_cost_per_period"]) > half


@pytest.mark.parametrize("name", NAMES)
def test_unmapped_lead_times_are_clearly_wrong(name):
    inst, sim = INSTANCES[name], simulated(name)
    unmapped = inst["unmapped"]
    mean, half = interval(sim["unmapped"])
    for prediction in (unmapped["stockpyl_cost_per_period"],
                       unmapped["stockpyl_cost_per_period"] - inst["in_transit_holding"]):
        assert abs(mean - prediction) > half, (
            f"{name}: unmapped levels {unmapped['optimal_echelon_levels']} cost {mean:.4f} +- {half:.4f}, "
            f"which an unmapped stockpyl ({prediction:.4f}) would also predict")
    # and the unmapped optimum is clearly worse in sc_jax than the mapped one (paired)
    excess, half = interval(sim["unmapped"] - sim["optimum"])
    assert excess - half > 0


@pytest.mark.parametrize("name", NAMES)
def test_textbook_optimum_is_sc_jax_optimum(name):
    inst, sim = INSTANCES[name], simulated(name)
    for nb, cost in zip(inst["neighbours"], sim["neighbours"]):
        diff, half = interval(cost - sim["optimum"])  # paired: same demand paths
        where = f"{name}: stage {nb['stage']} level {nb['move']:+d} -> {nb['levels']}"
        assert diff + half >= 0, f"{where} lowers sc_jax's cost by {-diff:.4f} +- {half:.4f}"
        assert abs(diff - nb["stockpyl_minus_optimum"]) <= half, (
            f"{where}: sc_jax cost change {diff:+.4f} +- {half:.4f}, "
            f"stockpyl's {nb['stockpyl_minus_optimum']:+.4f}")
