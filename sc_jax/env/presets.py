"""Named scenarios.

orgym_v0 / orgym_v1: OR-Gym's InvManagement defaults, backlog / lost sales, Poisson(20) demand.
hybrid: the NY <- TN <- LA <- China chain of Microsoft's hybrid sample (hybrid.md): lead times
  [2, 3, 4], supply capacity [100, 90, 80], 200-day episodes, forecast demand, lost sales, no
  revenue or purchase cost, shortage cost k_j = price_j / 10 with price_j = (1 + 0.2 i)(4 - j)/4
  for SKU index i, holding h_j = k_j / cost_ratio. Initial on hand [40, 60, 80] is our choice
  (the sample does not state one): about two days of demand per day of lead time.
"""
from __future__ import annotations

import numpy as np

from sc_jax.env.environment import InventoryEnv
from sc_jax.env.params import ORGYM_DEFAULTS, make_env
from sc_jax.env.types import EnvParams
from sc_jax.errors import ConfigError

HYBRID_LEAD_TIMES = (2, 3, 4)
HYBRID_CAPACITY = (100, 90, 80)
HYBRID_INITIAL_INVENTORY = (40, 60, 80)


def validate_sku_index(sku_index) -> np.ndarray:
    """SKU indices (scalar or array) as int64, each an integer >= 0."""
    try:
        i = np.asarray(sku_index, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"'sku_index' must be an integer >= 0 (or an array of them), got {sku_index!r}") from None
    if not np.all(np.isfinite(i)) or np.any(i < 0) or np.any(i != np.round(i)) or isinstance(sku_index, bool):
        raise ConfigError(f"'sku_index' must be an integer >= 0 (or an array of them), got {sku_index!r}")
    return i.astype(np.int64)


def validate_cost_ratio(cost_ratio, name: str = "cost_ratio") -> np.ndarray:
    """Cost ratios k / h (scalar or array), each finite and > 0."""
    try:
        ratio = np.asarray(cost_ratio, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' must be a number > 0 (missed-sale cost / holding cost), got {cost_ratio!r}") from None
    if not np.all(np.isfinite(ratio)) or np.any(ratio <= 0):
        raise ConfigError(f"'{name}' must be a finite number > 0 (missed-sale cost / holding cost), got {cost_ratio!r}")
    return ratio


def hybrid_costs(sku_index, cost_ratio):
    """(unit shortage cost [..., 4], unit holding cost [..., 3]) of hybrid.md for SKU index and
    cost ratio (scalars or arrays)."""
    i = validate_sku_index(sku_index).astype(np.float64)[..., None]
    cost_ratio = validate_cost_ratio(cost_ratio)
    price = (1.0 + 0.2 * i) * (4.0 - np.arange(4)) / 4.0
    shortage = price / 10.0
    holding = holding_from_ratio(shortage, cost_ratio, 3)
    return shortage, holding


def hybrid(cost_ratio=100.0, sku_index=0, *, periods: int = 200, forecast_window: int = 15,
           demand_params=None, observation: str = "rich", **overrides):
    """(env, params) of one SKU of the hybrid sample's chain (module docstring)."""
    shortage, holding = hybrid_costs(sku_index, cost_ratio)
    kwargs = dict(periods=periods, I0=HYBRID_INITIAL_INVENTORY, p=0.0, r=np.zeros(4), k=shortage,
                  h=holding, c=HYBRID_CAPACITY, L=HYBRID_LEAD_TIMES, backlog=False, alpha=1.0,
                  demand="forecast", demand_params=demand_params or {}, cost_ratio=cost_ratio,
                  observation=observation, forecast_window=forecast_window, name="hybrid")
    fixed = sorted(set(overrides) & {"k", "h", "cost_ratio"})
    if fixed:
        raise ConfigError(f"{fixed} are set by the hybrid preset from 'cost_ratio' and 'sku_index'; "
                          "allowed overrides: cost_ratio, sku_index and other make_env keywords")
    kwargs.update(overrides)
    return make_env(**kwargs)


def holding_from_ratio(shortage, cost_ratio, num_stages: int) -> np.ndarray:
    """h_m = k_m / cost_ratio for the M stages that hold stock (the hybrid sample's rule, used by
    every preset so that `cost_ratio` means the same thing everywhere)."""
    ratio = validate_cost_ratio(cost_ratio)
    k = np.asarray(shortage, np.float64)
    return k[..., :num_stages] / ratio[..., None]


def _orgym(name: str, backlog: bool):
    def preset(cost_ratio=None, **overrides):
        """OR-Gym's chain; `cost_ratio` (default None: OR-Gym's own h) sets h_m = k_m / cost_ratio
        for every stocked stage m (k stays OR-Gym's or the given one; a lost retail sale still also
        forgoes the margin p - r_0)."""
        if "backlog" in overrides and overrides["backlog"] is not backlog:  # the same value is harmless
            raise ConfigError(f"'backlog' must be {backlog} (fixed by the preset {name!r}; use "
                              f"{'orgym_v1' if backlog else 'orgym_v0'!r} for backlog={not backlog}), "
                              f"got {overrides['backlog']!r}")
        if cost_ratio is not None:
            if "h" in overrides:
                raise ConfigError("set either 'h' (holding costs) or 'cost_ratio' (h = k / cost_ratio), "
                                  f"not both; got h={overrides['h']!r} and cost_ratio={cost_ratio!r}")
            k = overrides.get("k", ORGYM_DEFAULTS["k"])
            M = np.shape(np.atleast_1d(overrides.get("I0", ORGYM_DEFAULTS["I0"])))[-1]
            overrides["h"] = holding_from_ratio(k, cost_ratio, M)
            overrides["cost_ratio"] = cost_ratio
        return make_env(**{"backlog": backlog, "name": name, **overrides})

    return preset


PRESETS = {
    "orgym_v0": _orgym("orgym_v0", True),
    "orgym_v1": _orgym("orgym_v1", False),
    "hybrid": hybrid,
    "hybrid_sample": lambda **kw: _hybrid_sample(**kw),
}


def _hybrid_sample(**overrides):
    """The hybrid sample's own single-SKU instance (sc_jax.env.hybrid_sample; imported lazily,
    it builds on this module)."""
    from sc_jax.env.hybrid_sample import hybrid_sample

    return hybrid_sample(**overrides)


def make(name: str, **overrides) -> tuple[InventoryEnv, EnvParams]:
    """`(env, params)` of a named scenario (gymnax's `make`); keyword overrides go to
    `sc_jax.env.make_env` (OR-Gym names: periods, I0, p, r, k, h, c, L, alpha, demand, ...)."""
    if name not in PRESETS:
        raise ConfigError(f"'name' must be one of the presets {sorted(PRESETS)}, got {name!r}")
    return PRESETS[name](**overrides)
