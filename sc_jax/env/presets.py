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

from sc_jax.env.params import make_params
from sc_jax.env.types import EnvParams
from sc_jax.errors import ConfigError

HYBRID_LEAD_TIMES = (2, 3, 4)
HYBRID_CAPACITY = (100, 90, 80)
HYBRID_INITIAL_INVENTORY = (40, 60, 80)


def hybrid_costs(sku_index, cost_ratio):
    """(shortage cost [..., 4], holding cost [..., 3]) of hybrid.md for SKU index/ratio arrays."""
    i = np.asarray(sku_index, np.float64)[..., None]
    price = (1.0 + 0.2 * i) * (4.0 - np.arange(4)) / 4.0
    shortage = price / 10.0
    holding = shortage[..., :3] / np.asarray(cost_ratio, np.float64)[..., None]
    return shortage, holding


def hybrid_params(cost_ratio=100.0, sku_index=0, *, periods: int = 200, forecast_window: int = 15,
                  demand_params=None, observation: str = "rich", **overrides) -> EnvParams:
    shortage, holding = hybrid_costs(sku_index, cost_ratio)
    kwargs = dict(periods=periods, I0=HYBRID_INITIAL_INVENTORY, p=0.0, r=np.zeros(4), k=shortage,
                  h=holding, c=HYBRID_CAPACITY, L=HYBRID_LEAD_TIMES, backlog=False, alpha=1.0,
                  demand="forecast", demand_params=demand_params or {}, cost_ratio=cost_ratio,
                  observation=observation, forecast_window=forecast_window)
    kwargs.update(overrides)
    return make_params(**kwargs)


PRESETS = {
    "orgym_v0": lambda **kw: make_params(**{"backlog": True, **kw}),
    "orgym_v1": lambda **kw: make_params(**{"backlog": False, **kw}),
    "hybrid": hybrid_params,
}


def get_preset(name: str, **overrides) -> EnvParams:
    """Parameters of a named scenario; keyword overrides go to `make_params`."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; allowed: {sorted(PRESETS)}")
    return PRESETS[name](**overrides)
