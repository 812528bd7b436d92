"""Validate classical policy parameters on the host (NumPy) before they enter jit.

Inside jit a NaN level or an (s, S) pair with s > S silently produces nonsense orders; these
checks run once per configuration and raise `sc_jax.errors.ConfigError` naming the field.
Every function returns the parameters as JAX arrays ready for the policy.
Shapes: [M] for one product, or [..., M] with leading (product / candidate) axes.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from sc_jax.env.types import EnvParams
from sc_jax.errors import ConfigError


def _stage_array(name: str, value, params: EnvParams, *, integer: bool = False,
                 minimum: float | None = None) -> np.ndarray:
    """`value` as float64 [..., M], finite (and integer / >= minimum when asked)."""
    M = params.num_stages
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' must be numeric with one entry per stage (M={M}), got {value!r}") from None
    if arr.ndim == 0 or arr.shape[-1] != M:
        raise ConfigError(f"'{name}' must have shape [..., {M}] (one entry per stage, M={M}), "
                          f"got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"'{name}' must be finite, got {value!r}")
    if integer and np.any(arr != np.round(arr)):
        raise ConfigError(f"'{name}' must hold integers, got {value!r}")
    if minimum is not None and np.any(arr < minimum):
        raise ConfigError(f"'{name}' must be >= {minimum}, got {value!r}")
    return arr


def validate_levels(levels, params: EnvParams, name: str = "levels") -> jnp.ndarray:
    """Echelon base-stock levels z [..., M]: finite (negative allowed: never order)."""
    return jnp.asarray(_stage_array(name, levels, params), jnp.float32)


def validate_s_S(reorder_point, order_up_to, params: EnvParams):
    """(s, S) echelon pairs [..., M] each: finite and s <= S stage by stage."""
    s = _stage_array("s (reorder point)", reorder_point, params)
    S = _stage_array("S (order-up-to level)", order_up_to, params)
    try:
        bad = s > S
    except ValueError:
        raise ConfigError(f"'s' and 'S' must have the same shape, got {s.shape} and {S.shape}") from None
    if np.any(bad):
        raise ConfigError(f"(s, S) policy needs s <= S at every stage, got s={s.tolist()} S={S.tolist()}")
    return jnp.asarray(s, jnp.float32), jnp.asarray(S, jnp.float32)


def validate_constant(quantity, params: EnvParams) -> jnp.ndarray:
    """Constant order quantities [..., M]: finite integers >= 0."""
    return jnp.asarray(_stage_array("quantity", quantity, params, integer=True, minimum=0), jnp.int32)


def validate_safety_stock(safety_stock, params: EnvParams) -> jnp.ndarray:
    """Safety stock of the order-up-to policy [..., M]: finite."""
    return jnp.asarray(_stage_array("safety_stock", safety_stock, params), jnp.float32)


def validate_safety_range(low, high, params: EnvParams):
    """Integer safety-stock range [low, high] (inclusive) per stage, low <= high."""
    lo = _stage_array("low", low, params, integer=True)
    hi = _stage_array("high", high, params, integer=True)
    if lo.shape != hi.shape:
        raise ConfigError(f"'low' and 'high' must have the same shape, got {lo.shape} and {hi.shape}")
    if np.any(lo > hi):
        raise ConfigError(f"'low' must be <= 'high' at every stage (safety-stock range), got "
                          f"low={lo.astype(np.int64).tolist()} high={hi.astype(np.int64).tolist()}")
    return jnp.asarray(lo, jnp.int32), jnp.asarray(hi, jnp.int32)


__all__ = ["validate_levels", "validate_s_S", "validate_constant", "validate_safety_stock",
           "validate_safety_range"]
