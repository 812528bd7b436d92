"""Build and validate an environment and its params (NumPy, outside jit).

`make_env` takes OR-Gym's keyword names and returns `(env, params)`: the static settings on the
`InventoryEnv`, the arrays on `EnvParams`. Every array argument may carry leading product axes
(e.g. `I0` of shape [products, M], `demand_params={"mu": mus}` with `mus` of shape [products]):
all fields are broadcast to one batch shape, which is how catalogs of many products are built
without a Python loop over products.
"""
from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.env import demand as demand_lib
from sc_jax.env.environment import InventoryEnv
from sc_jax.env.types import (DEMAND_KINDS, OBSERVATION_KINDS, SUPPLY_SEMANTICS, TABLE_DEMAND_KINDS,
                              EnvParams)
from sc_jax.errors import ConfigError

#: OR-Gym InvManagement's defaults (its v0; v1 differs only in backlog=False). The one source:
#: make_env's defaults, the presets and the OR-Gym replay read them from here.
ORGYM_DEFAULTS = dict(periods=30, I0=(100, 100, 200), p=2.0, r=(1.5, 1.0, 0.75, 0.5),
                      k=(0.10, 0.075, 0.05, 0.025), h=(0.15, 0.10, 0.05), c=(100, 90, 80),
                      L=(3, 5, 10), backlog=True, alpha=0.97)


def _array(name: str, value, *, integer: bool = False, length: int | None = None,
           minimum: float | None = None, strict: bool = False, what: str = "") -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' must be numeric{what}, got {value!r}") from None
    if length is not None and (arr.ndim == 0 or arr.shape[-1] != length):
        raise ConfigError(f"'{name}' must have length {length}{what}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"'{name}' must be finite, got {value!r}")
    if integer and np.any(arr != np.round(arr)):
        raise ConfigError(f"'{name}' must hold integers, got {value!r}")
    if minimum is not None:
        bad = arr <= minimum if strict else arr < minimum
        if np.any(bad):
            op = ">" if strict else ">="
            raise ConfigError(f"'{name}' must be {op} {minimum}, got {value!r}")
    return arr


_D = ORGYM_DEFAULTS


def make_env(*, periods: int = _D["periods"], I0=_D["I0"], p=_D["p"], r=_D["r"], k=_D["k"],
             h=_D["h"], c=_D["c"], L=_D["L"], backlog=_D["backlog"], alpha=_D["alpha"],
             demand="poisson", demand_params: Mapping | None = None, user_demand=None,
             charge_capacity_shortfall=True, cost_ratio=None, observation: str = "orgym",
             forecast_window: int = 0, history_length: int | None = None,
             shared_capacity=None, overflow_cost=None, I0_high=None,
             supply_semantics: str = "exact", overflow_rule: str = "largest_remainder",
             name: str = "inventory") -> tuple[InventoryEnv, EnvParams]:
    """(env, params), validated, for one product or a batch (leading axes on any array argument).

    OR-Gym names: periods T, I0 initial on hand [M], p retail price, r unit cost [M+1],
    k shortage cost [M+1], h holding cost [M], c supply capacity [M], L lead times [M],
    backlog (True: v0, False: v1), alpha discount. Demand: `demand` in DEMAND_KINDS (or an OR-Gym
    code 1..5) with `demand_params` ({mu}, {n, p}, {low, high}, {p}, forecast generator keys) or
    `user_demand` [T] / [S, T]. `shared_capacity` [M] (> 0) couples products (see dynamics).
    `cost_ratio` (observed by agents): given, or k[0] / h[0] (0 when k[0] = 0, inf when h[0] = 0;
    the observation clips it). `I0_high` [M] (exclusive, > I0): each episode's initial on hand is
    uniform on [I0, I0_high), drawn from the episode key (default None: always I0).
    `supply_semantics`: "exact" (OR-Gym) or "sample" (the hybrid sample's simulator: orders arrive
    in full, a supplier's shortfall is only charged to it; sc_jax.env.dynamics). `overflow_rule`
    (with `shared_capacity`): "largest_remainder" refuses exactly the arrivals beyond the room,
    "floor" up to one unit more per arriving product (OVERFLOW_RULES, sc_jax.env.dynamics; checked by
    InventoryEnv)."""
    if not isinstance(periods, (int, np.integer)) or isinstance(periods, bool) or periods < 1:
        raise ConfigError(f"'periods' must be an integer >= 1, got {periods!r}")
    periods = int(periods)
    I0 = _array("I0", I0, integer=True, minimum=0)
    if I0.ndim == 0:
        I0 = I0[None]
    M = I0.shape[-1]
    if M < 1:
        raise ConfigError("'I0' must have one entry per stage holding inventory (at least 1)")
    stages = f" (M={M} stages from I0)"
    r = _array("r", r, length=M + 1, minimum=0, what=stages + " (M+1 values)")
    k = _array("k", k, length=M + 1, minimum=0, what=stages + " (M+1 values)")
    h = _array("h", h, length=M, minimum=0, what=stages)
    c = _array("c", c, integer=True, length=M, minimum=0, strict=True, what=stages)
    L = _array("L", L, integer=True, length=M, minimum=0, what=stages)
    p = _array("p", p, minimum=0)
    alpha = _array("alpha", alpha)
    if np.any((alpha <= 0) | (alpha > 1)):
        raise ConfigError(f"'alpha' must be in (0, 1], got {alpha}")
    if not np.all(np.isin(np.asarray(backlog), (0, 1))):
        raise ConfigError(f"'backlog' must be a boolean (True = v0 backlog, False = v1 lost sales), got {backlog!r}")
    if I0_high is None:
        I0_high = I0 + 1
    else:
        I0_high = _array("I0_high", I0_high, integer=True, length=M, what=stages + " (exclusive upper bound of I0)")
        if np.any(I0_high <= np.broadcast_to(I0, np.broadcast_shapes(I0.shape, I0_high.shape))):
            raise ConfigError(f"'I0_high' must be > I0 per stage (on hand is uniform on [I0, I0_high)), "
                              f"got I0={I0.tolist()}, I0_high={I0_high.tolist()}")
    if supply_semantics not in SUPPLY_SEMANTICS:
        raise ConfigError(f"'supply_semantics' must be one of {SUPPLY_SEMANTICS}, got {supply_semantics!r}")
    if observation not in OBSERVATION_KINDS:
        raise ConfigError(f"'observation' must be one of {OBSERVATION_KINDS}, got {observation!r}")
    if not isinstance(forecast_window, (int, np.integer)) or forecast_window < 0:
        raise ConfigError(f"'forecast_window' must be an integer >= 0, got {forecast_window!r}")
    max_lead = int(L.max())
    if history_length is None:
        history_length = max_lead
    if not isinstance(history_length, (int, np.integer)) or history_length < max_lead:
        raise ConfigError(f"'history_length' must be an integer >= max lead time {max_lead}, got {history_length!r}")

    kind = demand_lib.normalise_kind(demand)
    if user_demand is not None and kind != "user":
        raise ConfigError(f"'user_demand' is only used with demand='user', got demand={kind!r}")
    dparams = dict(demand_params or {})
    if kind == "poisson" and not dparams:
        dparams = {"mu": 20.0}
    cdf, offset = np.ones((1,), np.float32), 0
    low = high = np.zeros(())
    mean = std = np.zeros(())
    forecast = np.array([demand_lib.FORECAST_DEFAULTS[key] for key in demand_lib.FORECAST_KEYS], np.float32)
    users = np.zeros((1, periods), np.int32)
    if kind in TABLE_DEMAND_KINDS or kind == "uniform":
        dist = demand_lib.scipy_distribution(kind, dparams)
        mean, std = dist.mean(), dist.std()
        if kind == "uniform":
            low, high = np.asarray(dparams["low"]), np.asarray(dparams["high"])
        else:
            cdf, offset = demand_lib.cdf_table(kind, dparams)
    elif kind == "user":
        if user_demand is None:
            raise ConfigError("demand 'user' needs 'user_demand' (an integer array [periods] or [samples, periods])")
        if dparams:
            raise ConfigError(f"demand 'user' takes no demand_params, got {sorted(dparams)}")
        users = demand_lib.validate_user_demand(user_demand, periods)
        mean, std = users.mean(), users.std()
    elif kind == "forecast":
        forecast = demand_lib.forecast_vector(dparams)
        # stationary summary for agents that do not read the forecast window
        mean, std = forecast[..., 0], (forecast[..., 6] - 1) / 2

    if cost_ratio is None:  # derived from the chain's own costs: any k, h >= 0 is valid (OR-Gym)
        with np.errstate(divide="ignore", invalid="ignore"):
            cost_ratio = np.where(k[..., 0] == 0, 0.0, k[..., 0] / h[..., 0])
    else:
        cost_ratio = _array("cost_ratio", cost_ratio, minimum=0, strict=True)
    coupled = shared_capacity is not None
    shared = (_array("shared_capacity", shared_capacity, length=M, minimum=0, strict=True, what=stages)
              if coupled else np.full((M,), np.inf))
    overflow = (_array("overflow_cost", overflow_cost, length=M, minimum=0, what=stages)
                if overflow_cost is not None else k[..., :M])

    # one batch shape for every field
    vectors = dict(I0=I0, I0_range=I0_high - I0, r=r, k=k, h=h, c=c, L=L, shared=shared, overflow=overflow)
    scalars = dict(p=p, alpha=alpha, backlog=np.asarray(backlog), ratio=cost_ratio, low=low,
                   high=high, mean=np.asarray(mean), std=np.asarray(std))
    try:
        batch = np.broadcast_shapes(*(v.shape[:-1] for v in vectors.values()),
                                    *(s.shape for s in scalars.values()), cdf.shape[:-1],
                                    forecast.shape[:-1])
    except ValueError:
        raise ConfigError("per-product arrays have inconsistent leading (product) shapes: " + ", ".join(
            f"{n}{v.shape}" for n, v in {**vectors, **scalars}.items())) from None
    vec = lambda x, dtype: jnp.asarray(np.broadcast_to(x, batch + x.shape[-1:]).astype(dtype))
    sca = lambda x, dtype: jnp.asarray(np.broadcast_to(x, batch).astype(dtype))
    params = EnvParams(
        initial_inventory=vec(I0, np.int32), initial_inventory_range=vec(I0_high - I0, np.int32),
        retail_price=sca(p, np.float32),
        unit_cost=vec(r, np.float32), unit_shortage_cost=vec(k, np.float32),
        unit_holding_cost=vec(h, np.float32), supply_capacity=vec(c, np.int32),
        lead_time=vec(L, np.int32), backlog=sca(scalars["backlog"], bool),
        discount=sca(alpha, np.float32), log_discount=sca(np.log(alpha), np.float32),
        charge_capacity_shortfall=sca(np.asarray(bool(charge_capacity_shortfall)), bool),
        cost_ratio=sca(cost_ratio, np.float32), demand_cdf=vec(cdf, np.float32),
        demand_offset=sca(np.asarray(offset), np.int32), demand_low=sca(low, np.int32),
        demand_high=sca(high, np.int32), demand_mean=sca(scalars["mean"], np.float32),
        demand_std=sca(scalars["std"], np.float32),
        user_demand=jnp.asarray(np.broadcast_to(users, batch + users.shape)),
        forecast=vec(forecast, np.float32), shared_capacity=vec(shared, np.float32),
        unit_overflow_cost=vec(overflow, np.float32))
    env = InventoryEnv(num_stages=M, periods=periods, history_length=int(history_length),
                       demand_kind=kind, observation_kind=observation,
                       forecast_window=int(forecast_window), couple_products=coupled,
                       supply_semantics=supply_semantics, overflow_rule=overflow_rule, name=name,
                       default_params=params)
    return env, params


def batch_shape(params: EnvParams) -> tuple:
    """Leading (product) axes of a params pytree."""
    return tuple(params.initial_inventory.shape[:-1])


def replicate(params: EnvParams, num_products: int) -> EnvParams:
    """The same product `num_products` times (a leading product axis)."""
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (num_products,) + x.shape), params)


__all__ = ["make_env", "replicate", "batch_shape", "ORGYM_DEFAULTS", "DEMAND_KINDS"]
