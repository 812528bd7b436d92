"""Demand: parameter tables (NumPy, outside jit) and path sampling (JAX, explicit keys).

Families (OR-Gym codes in brackets):
  poisson   [1] {mu > 0}
  binomial  [2] {n >= 1 integer, 0 < p <= 1}
  uniform   [3] {low >= 0, high > low} integers, high exclusive (SciPy randint)
  geometric [4] {0 < p <= 1}, support 1, 2, ... (number of trials to the first success)
  user      [5] integer paths [S, T] (or [T]); reset draws one row, `reset_with_demand` takes one
  forecast  the generator of the hybrid sample: mean and sigma per day, actual = mean + N(0, sigma)

Poisson, binomial and geometric are sampled by inverse CDF from a table computed once with
SciPy: one uniform draw and a binary search per period, exact up to float32's resolution of the
uniform (the table is cut where the upper tail is below 1e-9). `jax.random.poisson` is a
rejection loop; the project's pre-study probe measured the whole step 5-6x slower with it.
"""
from __future__ import annotations

from typing import Mapping

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from sc_jax.env.types import DEMAND_KINDS, DemandPath, EnvParams
from sc_jax.errors import ConfigError

ORGYM_DIST_CODES = {1: "poisson", 2: "binomial", 3: "uniform", 4: "geometric", 5: "user"}
_TAIL = 1e-9
MAX_TABLE = 1 << 16
FORECAST_KEYS = ("offset", "amp1", "ph1", "amp2", "ph2", "randvar", "sigma_max", "start_days")
#: start_days: the episode starts at a uniform integer day in [0, start_days) of the series (the
#: hybrid sample: 306 of its 3-year series); 1 (the default) = day 0, every draw as before
FORECAST_DEFAULTS = {"offset": 20.0, "amp1": 5.0, "ph1": 0.02, "amp2": 3.0, "ph2": 0.05,
                     "randvar": 1.0, "sigma_max": 5.0, "start_days": 1.0}
# salts folded into the episode key for the draws added after the first three (demand paths drawn
# before they existed stay bit-identical)
_START_SALT = 0x57A27
_INITIAL_SALT = 0x1417
_REQUIRED = {"poisson": ("mu",), "binomial": ("n", "p"), "uniform": ("low", "high"),
             "geometric": ("p",), "user": (), "forecast": FORECAST_KEYS}


def _number(params: Mapping, name: str, kind: str) -> np.ndarray:
    """A demand parameter as a float64 array (scalar or one value per product)."""
    try:
        value = np.asarray(params[name], dtype=np.float64)
    except KeyError:
        raise ConfigError(f"demand '{kind}' needs parameter '{name}' (required: {_REQUIRED[kind]})") from None
    except (TypeError, ValueError):
        raise ConfigError(f"demand parameter '{name}' must be a number, got {params[name]!r}") from None
    if not np.all(np.isfinite(value)):
        raise ConfigError(f"demand parameter '{name}' must be finite, got {value}")
    return value


def _integer(params: Mapping, name: str, kind: str) -> np.ndarray:
    value = _number(params, name, kind)
    if np.any(value != np.round(value)):
        raise ConfigError(f"demand parameter '{name}' must be an integer, got {value}")
    return value.astype(np.int64)


def _check(ok, message: str) -> None:
    if not np.all(ok):
        raise ConfigError(message)


def normalise_kind(kind) -> str:
    """Accept a family name or an OR-Gym code 1..5."""
    if isinstance(kind, (int, np.integer)) and not isinstance(kind, bool):
        if int(kind) in ORGYM_DIST_CODES:
            return ORGYM_DIST_CODES[int(kind)]
    elif isinstance(kind, str) and kind in DEMAND_KINDS:
        return kind
    raise ConfigError(f"demand kind must be one of {DEMAND_KINDS} or an OR-Gym code 1..5, got {kind!r}")


def scipy_distribution(kind: str, params: Mapping):
    """The (possibly vectorised) frozen SciPy distribution of a stationary family, after
    validating its parameters; each parameter is a scalar or one value per product."""
    unknown = set(params) - set(_REQUIRED.get(kind, ()))
    if unknown:
        raise ConfigError(f"demand '{kind}' got unknown parameter(s) {sorted(unknown)}; "
                          f"allowed: {_REQUIRED.get(kind, ())}")
    if kind == "poisson":
        mu = _number(params, "mu", kind)
        _check(mu > 0, f"demand parameter 'mu' must be > 0, got {mu}")
        return stats.poisson(mu)
    if kind == "binomial":
        n, p = _integer(params, "n", kind), _number(params, "p", kind)
        _check(n >= 1, f"demand parameter 'n' must be an integer >= 1, got {n}")
        _check((p > 0) & (p <= 1), f"demand parameter 'p' must be in (0, 1], got {p}")
        return stats.binom(n, p)
    if kind == "uniform":
        low, high = _integer(params, "low", kind), _integer(params, "high", kind)
        _check(low >= 0, f"demand parameter 'low' must be >= 0, got {low}")
        _check(high > low, f"demand parameter 'high' must be > low ({low}) (high is exclusive), got {high}")
        return stats.randint(low, high)
    if kind == "geometric":
        p = _number(params, "p", kind)
        _check((p > 0) & (p <= 1), f"demand parameter 'p' must be in (0, 1], got {p}")
        return stats.geom(p)
    raise ConfigError(f"demand '{kind}' has no stationary distribution")


def cdf_table(kind: str, params: Mapping) -> tuple[np.ndarray, int]:
    """Inverse-CDF table [..., K] (float32, last entry exactly 1) and the support's first value,
    one row per product when the parameters are arrays (K covers the widest product)."""
    dist = scipy_distribution(kind, params)
    lo = 1 if kind == "geometric" else 0
    hi = int(np.max(dist.isf(_TAIL))) + 1
    if hi - lo + 1 > MAX_TABLE:
        raise ConfigError(f"demand '{kind}' with {dict(params)} needs a table of {hi - lo + 1} "
                          f"values (> {MAX_TABLE}); use a distribution with a lighter tail")
    support = np.arange(lo, hi + 1)
    cdf = dist.cdf(support.reshape((-1,) + (1,) * np.ndim(dist.mean())))
    cdf = np.moveaxis(np.asarray(cdf, np.float64), 0, -1).astype(np.float32)
    cdf[..., -1] = 1.0
    return cdf, lo


def validate_user_demand(demand, periods: int) -> np.ndarray:
    """User paths as int32 [S, T]; accepts [T] (one path) or [S, T]."""
    arr = np.asarray(demand)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != periods:
        raise ConfigError(f"user demand must have shape [periods] or [samples, periods] with "
                          f"periods={periods}, got shape {np.shape(demand)}")
    if arr.size == 0:
        raise ConfigError("user demand is empty")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ConfigError(f"user demand must be numeric integers, got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise ConfigError("user demand must hold whole numbers (non-integer or non-finite value found)")
    if np.any(arr < 0):
        raise ConfigError(f"user demand must be >= 0, found {arr.min()}")
    if np.any(arr > 2**30):
        raise ConfigError("user demand values must be <= 2**30 (int32 quantities)")
    return arr.astype(np.int32)


def forecast_vector(params: Mapping) -> np.ndarray:
    """Forecast generator parameters as float32 [..., 7] in FORECAST_KEYS order; each value a
    scalar or one per product."""
    unknown = set(params) - set(FORECAST_KEYS)
    if unknown:
        raise ConfigError(f"forecast demand got unknown parameter(s) {sorted(unknown)}; allowed: {FORECAST_KEYS}")
    merged = {**FORECAST_DEFAULTS, **params}
    values = [_number(merged, key, "forecast") for key in FORECAST_KEYS]
    _check(values[5] >= 1, f"forecast parameter 'randvar' must be >= 1 (u uniform in [0, randvar)), got {values[5]}")
    _check(values[6] >= 1, f"forecast parameter 'sigma_max' must be >= 1 (sigma uniform in [0, sigma_max)), got {values[6]}")
    _check(values[0] >= 0, f"forecast parameter 'offset' must be >= 0, got {values[0]}")
    _check((values[7] >= 1) & (values[7] == np.round(values[7])) & (values[7] <= 2**24),
           f"forecast parameter 'start_days' must be an integer in [1, 2**24] (the episode starts at a "
           f"uniform day in [0, start_days) of the series; 1 = day 0), got {values[7]}")
    return np.stack(np.broadcast_arrays(*values), axis=-1).astype(np.float32)


def _forecast_path(key, params: EnvParams, periods: int, length: int) -> DemandPath:
    """hybrid.md's generator: day x = s+1..s+n, forecast = offset + amp1 sin(ph1 x) + amp2 sin(ph2 x)
    + u_x (u_x uniform integer in [0, randvar)), sigma_x uniform integer in [0, sigma_max),
    actual = forecast + N(0, sigma_x); both clipped at 0 and truncated to integers. The start day
    s is uniform in [0, start_days) (0 by default); u, sigma and the noise are independent per
    day, so drawing them for the episode's days only is the same law as slicing a longer series."""
    offset, amp1, ph1, amp2, ph2, randvar, sigma_max, start_days = (params.forecast[i] for i in range(8))
    k_noise, k_sigma, k_actual = jax.random.split(key, 3)
    start = jax.random.randint(jax.random.fold_in(key, _START_SALT), (), 0,
                               jnp.maximum(start_days, 1.0).astype(jnp.int32))
    x = jnp.arange(1, length + 1, dtype=jnp.float32) + start.astype(jnp.float32)
    u = jnp.floor(jax.random.uniform(k_noise, (length,)) * jnp.floor(randvar))
    mean = offset + amp1 * jnp.sin(ph1 * x) + amp2 * jnp.sin(ph2 * x) + u
    sigma = jnp.floor(jax.random.uniform(k_sigma, (length,)) * jnp.floor(sigma_max))
    actual = mean + sigma * jax.random.normal(k_actual, (length,))
    mean = jnp.floor(jnp.maximum(mean, 0.0))
    actual = jnp.floor(jnp.maximum(actual, 0.0)).astype(jnp.int32)
    return DemandPath(actual=actual[:periods], forecast_mean=mean, forecast_std=sigma)


def sample_demand(env, key, params: EnvParams) -> DemandPath:
    """Draw one episode of demand [T] (and forecasts [T+W]) for one product; `env` gives the
    static settings (periods, forecast window, demand kind)."""
    return _sample_path(env, key, params).replace(initial_on_hand=draw_initial_on_hand(key, params))


def draw_initial_on_hand(key, params: EnvParams):
    """[M] on hand at period 0: initial_inventory + a uniform integer in [0, initial_inventory_range)
    from the episode key (always initial_inventory with the default range 1)."""
    low = params.initial_inventory
    spread = jnp.maximum(params.initial_inventory_range, 1)
    return low + jax.random.randint(jax.random.fold_in(key, _INITIAL_SALT), low.shape, 0, spread, dtype=jnp.int32)


def _sample_path(env, key, params: EnvParams) -> DemandPath:
    T, W = env.periods, env.forecast_window
    kind = env.demand_kind
    if kind == "forecast":
        return _forecast_path(key, params, T, T + W)
    if kind in ("poisson", "binomial", "geometric"):
        u = jax.random.uniform(key, (T,))
        actual = params.demand_offset + jnp.searchsorted(params.demand_cdf, u, side="right").astype(jnp.int32)
    elif kind == "uniform":
        actual = jax.random.randint(key, (T,), params.demand_low, params.demand_high, dtype=jnp.int32)
    elif kind == "user":
        row = jax.random.randint(key, (), 0, params.user_demand.shape[0])
        actual = params.user_demand[row]
    else:  # validated at construction; kept for a clear message if params were built by hand
        raise ConfigError(f"demand kind must be one of {DEMAND_KINDS}, got {kind!r}")
    return stationary_path(env, actual.astype(jnp.int32), params)


def stationary_path(env, actual, params: EnvParams) -> DemandPath:
    """Wrap a given path [T] with the family's constant mean/std as its forecast."""
    n = env.periods + env.forecast_window
    return DemandPath(actual=jnp.asarray(actual, jnp.int32),
                      forecast_mean=jnp.full((n,), params.demand_mean, jnp.float32),
                      forecast_std=jnp.full((n,), params.demand_std, jnp.float32),
                      initial_on_hand=jnp.asarray(params.initial_inventory, jnp.int32))


def load_demand_csv(path: str) -> np.ndarray:
    """Load user demand from CSV: one row per path, one column per period, integers, no header;
    lines starting with '#' are comments. Returns int32 [S, T] (validated)."""
    try:
        data = np.loadtxt(path, delimiter=",", comments="#", ndmin=2, dtype=np.float64)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
        raise ConfigError(f"'demand.csv' must name a readable CSV file, got {path!r} ({type(err).__name__})") from None
    except ValueError as err:
        raise ConfigError(f"user demand CSV {path!r} could not be parsed as numbers: {err}") from None
    return validate_user_demand(data, data.shape[1])
