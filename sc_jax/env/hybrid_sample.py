"""The hybrid sample's own instances, as its code builds them (docs/hybrid_reproduction.md).

`sc_jax.make("hybrid_sample", cost_ratio=100, sku_index=0, semantics="sample")` is one SKU;
`hybrid_sample_catalog(200, cost_ratio=100)` is the 200-SKU experiment (SKU i = index i, all at
one ratio, sharing 25 x 200 = 5,000 units per stage). What differs from the `hybrid` preset:

- initial on hand uniform integer in [5, 10) per stage and episode, drawn from the episode key
  (`I0=5, I0_high=10`), empty pipeline;
- the forecast series starts at a uniform day in [0, 306) of the 3-year series
  (`demand_params["start_days"] = 306`), the generator's other values the sample's;
- costs rounded as the sample rounds them (`rounded_costs=True`): price_j = round((1 + 0.2 i)(4 - j)/4, 2),
  k_j = round(price_j / 10, 2), h_j = round(k_j / ratio, 5); SKU 0: k = [0.10, 0.08, 0.05, 0.02]
  (`hybrid_costs`, unrounded: [0.10, 0.075, 0.05, 0.025]);
- no charge for orders above supply capacity (the sample clips them), lost sales, no revenue;
- `semantics`: "sample" (its simulator: orders arrive in full, a supplier's shortfall is only
  charged to it) or "exact" (sc_jax's, OR-Gym's); the env's static `supply_semantics`.
"""
from __future__ import annotations

import numpy as np

from sc_jax.checks import check_choice, check_integer
from sc_jax.env.demand import FORECAST_DEFAULTS
from sc_jax.env.params import make_env
from sc_jax.env.presets import (HYBRID_CAPACITY, HYBRID_LEAD_TIMES, hybrid_costs, validate_cost_ratio,
                                validate_sku_index)
from sc_jax.env.types import SUPPLY_SEMANTICS
from sc_jax.errors import ConfigError

SAMPLE_INITIAL_LOW = 5  # numpy randint(5, 10): on hand uniform on [5, 10) per stage
SAMPLE_INITIAL_HIGH = 10
SAMPLE_START_DAYS = 306  # randint(0, 356 - 50): the episode's first day in the 3-year series
SAMPLE_CAPACITY_PER_SKU = 25  # inventory_capacity = 25 x number of SKUs per stage
SAMPLE_FORECAST = {**FORECAST_DEFAULTS, "start_days": float(SAMPLE_START_DAYS)}  # offset 20, amp1 5, ...
_FIXED = ("k", "h", "cost_ratio", "I0", "I0_high", "supply_semantics", "shared_capacity")


def sample_costs(sku_index, cost_ratio, rounded: bool = True):
    """(k [..., 4], h [..., 3]) of SKU index i at `cost_ratio`, rounded as the sample rounds them
    (module docstring); `rounded=False` gives `hybrid_costs`."""
    if not rounded:
        return hybrid_costs(sku_index, cost_ratio)
    i = validate_sku_index(sku_index).astype(np.float64)[..., None]
    ratio = validate_cost_ratio(cost_ratio)
    price = np.round((1.0 + 0.2 * i) * (4.0 - np.arange(4)) / 4.0, 2)
    shortage = np.round(price / 10.0, 2)
    holding = np.round(shortage[..., :3] / np.asarray(ratio, np.float64)[..., None], 5)
    return shortage, holding


def _common(cost_ratio, sku_index, semantics, sigma_max, rounded_costs, overrides):
    check_choice("semantics", semantics, SUPPLY_SEMANTICS)
    fixed = sorted(set(overrides) & set(_FIXED))
    if fixed:
        raise ConfigError(f"{fixed} are set by the hybrid_sample instances (from 'cost_ratio', 'sku_index', "
                          f"'semantics', 'capacity_per_sku'); allowed overrides: other make_env keywords")
    if not isinstance(rounded_costs, (bool, np.bool_)):
        raise ConfigError(f"'rounded_costs' must be True or False, got {rounded_costs!r}")
    shortage, holding = sample_costs(sku_index, cost_ratio, rounded=bool(rounded_costs))
    demand_params = {**SAMPLE_FORECAST, "sigma_max": sigma_max, **overrides.pop("demand_params", {})}
    return dict(I0=(SAMPLE_INITIAL_LOW,) * 3, I0_high=(SAMPLE_INITIAL_HIGH,) * 3, p=0.0, r=np.zeros(4),
                k=shortage, h=holding, c=HYBRID_CAPACITY, L=HYBRID_LEAD_TIMES, backlog=False, alpha=1.0,
                charge_capacity_shortfall=False, demand="forecast", demand_params=demand_params,
                cost_ratio=cost_ratio, supply_semantics=semantics)


def hybrid_sample(cost_ratio=100.0, sku_index=0, *, semantics: str = "sample", sigma_max=5,
                  periods: int = 200, forecast_window: int = 15, observation: str = "rich",
                  rounded_costs: bool = True, **overrides):
    """(env, params) of one SKU of the sample's single-SKU experiment (module docstring).
    `sigma_max` is the generator's `sigmax` (the figures' x-axis); `forecast_window` must cover
    the controller's horizon + 1 (the sample alignment reads forecast[t+1 : t+1+H])."""
    kwargs = _common(cost_ratio, sku_index, semantics, sigma_max, rounded_costs, overrides)
    kwargs.update(periods=periods, forecast_window=forecast_window, observation=observation,
                  name="hybrid_sample")
    kwargs.update(overrides)
    return make_env(**kwargs)


def hybrid_sample_catalog(num_skus: int = 200, cost_ratio=100.0, *, semantics: str = "sample", sigma_max=5,
                          capacity_per_sku=SAMPLE_CAPACITY_PER_SKU, coupled: bool = True, periods: int = 200,
                          forecast_window: int = 15, observation: str = "rich", rounded_costs: bool = True,
                          **overrides):
    """(env, params [num_skus]) of the 200-SKU experiment: SKU i has index i (its own costs) and its
    own demand series (each product draws its path from its own episode key), every SKU at
    `cost_ratio` (a number, or one per SKU); with `coupled` the SKUs share
    `capacity_per_sku x num_skus` units per stage (the sample: 25 x 200 = 5,000), enforced by the
    env's shared-capacity rule (refused arrivals, reported as info.overflow)."""
    check_integer("num_skus", num_skus, 1)
    if not isinstance(coupled, (bool, np.bool_)):
        raise ConfigError(f"'coupled' must be True or False, got {coupled!r}")
    try:
        per_sku = np.broadcast_to(np.asarray(capacity_per_sku, np.float64), (3,))
    except (TypeError, ValueError):
        per_sku = np.full((3,), np.nan)
    if not np.all(np.isfinite(per_sku)) or np.any(per_sku <= 0):
        raise ConfigError(f"'capacity_per_sku' must be a number > 0 or 3 of them (one per stage), "
                          f"got {capacity_per_sku!r}")
    ratio = np.broadcast_to(validate_cost_ratio(cost_ratio), (num_skus,))
    kwargs = _common(ratio, np.arange(num_skus), semantics, sigma_max, rounded_costs, overrides)
    kwargs.update(periods=periods, forecast_window=forecast_window, observation=observation,
                  shared_capacity=per_sku * num_skus if coupled else None, name="hybrid_sample_catalog")
    kwargs.update(overrides)
    return make_env(**kwargs)


__all__ = ["SAMPLE_CAPACITY_PER_SKU", "SAMPLE_FORECAST", "SAMPLE_INITIAL_HIGH", "SAMPLE_INITIAL_LOW",
           "SAMPLE_START_DAYS", "hybrid_sample", "hybrid_sample_catalog", "sample_costs"]
