"""Catalogs of N products: per-product cost ratios, demand parameters and forecasts, built in one
vectorised call (no Python loop over products) from an explicit `jax.random` key."""
from __future__ import annotations

from typing import Sequence

import jax
import numpy as np

from sc_jax.env.environment import InventoryEnv
from sc_jax.env.params import make_env
from sc_jax.env.presets import (HYBRID_CAPACITY, HYBRID_INITIAL_INVENTORY, HYBRID_LEAD_TIMES,
                                hybrid_costs, validate_cost_ratio)
from sc_jax.env.types import EnvParams
from sc_jax.errors import ConfigError


def sample_cost_ratios(key, num_products: int, ratios: Sequence[float] | None = (10, 100, 1000),
                       ratio_range: tuple[float, float] | None = None) -> np.ndarray:
    """Ratios drawn from a list, or log-uniform on `ratio_range`."""
    if ratio_range is not None:
        lo, hi = (float(x) for x in validate_cost_ratio(ratio_range, "ratio_range"))
        if not lo <= hi:
            raise ConfigError(f"'ratio_range' must satisfy 0 < low <= high, got {ratio_range}")
        u = np.asarray(jax.random.uniform(key, (num_products,)), np.float64)
        return np.exp(np.log(lo) + u * (np.log(hi) - np.log(lo)))
    try:
        ratios = np.asarray(ratios, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"'ratios' must be a non-empty list of finite numbers > 0, got {ratios!r}") from None
    if ratios.ndim != 1 or ratios.size == 0 or not np.all(np.isfinite(ratios)) or np.any(ratios <= 0):
        raise ConfigError(f"'ratios' must be a non-empty list of finite numbers > 0, got {ratios.tolist()}")
    return ratios[np.asarray(jax.random.randint(key, (num_products,), 0, ratios.size))]


#: OR-Gym's stationary demand profiles, each set per product from its mean demand
STATIONARY_PROFILES = ("poisson", "binomial", "uniform", "geometric")


def stationary_profile(kind: str, mean) -> dict:
    """Demand parameters of profile `kind` with mean `mean` (array [N] or scalar):
    poisson mu = mean; binomial n = round(2 mean), p = mean / n (variance about mean / 2);
    uniform integers on [round(mean / 2), round(3 mean / 2)] (high exclusive, +1);
    geometric (support 1, 2, ...) p = 1 / mean (variance about mean^2)."""
    mean = np.maximum(np.asarray(mean, np.float64), 1.0)
    if kind == "poisson":
        return {"mu": mean}
    if kind == "binomial":
        n = np.round(2 * mean)
        return {"n": n, "p": mean / n}
    if kind == "uniform":
        return {"low": np.round(mean / 2), "high": np.round(1.5 * mean) + 1}
    if kind == "geometric":
        return {"p": 1.0 / mean}
    raise ConfigError(f"stationary profile must be one of {STATIONARY_PROFILES}, got {kind!r}")


def make_catalog(key, num_products: int, *, ratios=(10, 100, 1000), ratio_range=None,
                 demand: str = "forecast", offset_range=(10.0, 30.0), sigma_max: int = 5,
                 mu_range=(10.0, 30.0), shared_capacity=None, periods: int = 200,
                 forecast_window: int = 15, observation: str = "rich",
                 **overrides) -> tuple[InventoryEnv, EnvParams]:
    """N products on the hybrid chain (hybrid.md costs by SKU index and cost ratio).

    demand="forecast": per-product offset ~ U(offset_range), amplitudes ~ U(0, 0.25 offset) and
    U(0, 0.15 offset), the sample's phases, `sigma_max` shared. demand="poisson" | "binomial" |
    "uniform" | "geometric": mean ~ U(mu_range) per product (`stationary_profile`); the forecast
    the controller sees is the profile's mean and std. demand="user": `user_demand=` paths [S, T]
    for every product; the forecast is their overall mean and std.
    `shared_capacity` (scalar or [3], > 0) couples the products (see sc_jax.env.dynamics).
    Returns (env, params) with a leading product axis [N] on every params field."""
    if not isinstance(num_products, (int, np.integer)) or num_products < 1:
        raise ConfigError(f"'num_products' must be an integer >= 1, got {num_products!r}")
    k_ratio, k_offset, k_amp1, k_amp2 = jax.random.split(key, 4)
    ratio = sample_cost_ratios(k_ratio, num_products, ratios, ratio_range)
    shortage, holding = hybrid_costs(np.arange(num_products), ratio)
    u = lambda k: np.asarray(jax.random.uniform(k, (num_products,)), np.float64)
    if demand == "forecast":
        offset = offset_range[0] + u(k_offset) * (offset_range[1] - offset_range[0])
        demand_params = {"offset": offset, "amp1": 0.25 * offset * u(k_amp1),
                         "ph1": 0.02, "amp2": 0.15 * offset * u(k_amp2),
                         "ph2": 0.05, "randvar": 1, "sigma_max": sigma_max}
    elif demand in STATIONARY_PROFILES:
        demand_params = stationary_profile(demand, mu_range[0] + u(k_offset) * (mu_range[1] - mu_range[0]))
    elif demand == "user":
        if "user_demand" not in overrides:
            raise ConfigError("catalog demand 'user' needs 'user_demand' (integer paths [samples, periods], "
                              "shared by every product; e.g. sc_jax.env.demand.load_demand_csv)")
        demand_params = None
    else:
        raise ConfigError(f"catalog 'demand' must be one of {['forecast', *STATIONARY_PROFILES, 'user']}, "
                          f"got {demand!r}")
    if shared_capacity is not None:
        try:
            shared_capacity = np.broadcast_to(np.asarray(shared_capacity, np.float64), (3,))
        except (TypeError, ValueError):
            raise ConfigError(f"'shared_capacity' must be a number or 3 numbers (one per stage), "
                              f"got {shared_capacity!r}") from None
    kwargs = dict(periods=periods, I0=HYBRID_INITIAL_INVENTORY, p=0.0, r=np.zeros(4), k=shortage,
                  h=holding, c=HYBRID_CAPACITY, L=HYBRID_LEAD_TIMES, backlog=False, alpha=1.0,
                  demand=demand, demand_params=demand_params, cost_ratio=ratio,
                  observation=observation, forecast_window=forecast_window,
                  shared_capacity=shared_capacity, name="hybrid_catalog")
    kwargs.update(overrides)
    return make_env(**kwargs)

