"""Scalar argument checks shared by the whole package (NumPy only, no JAX: sc_jax.alloc uses them
too): entry-point configs, PPOConfig, the allocation methods.

Every rejection raises `sc_jax.errors.ConfigError` (a ValueError) with the
project's message form ``'<field>' must be <allowed values>, got <given>``.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from sc_jax.errors import ConfigError

__all__ = [
    "ConfigError", "check_bool", "check_choice", "check_integer", "check_number", "check_number_list", "check_options",
    "check_time_limit", "reject_unknown_keys", "show",
]


def show(value) -> str:
    """Short repr of a given value for messages (NumPy scalars as Python scalars, arrays by shape)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def is_number(value) -> bool:
    """A real number (Python or NumPy), not a bool."""
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def is_integer(value) -> bool:
    """An integer (Python or NumPy), not a bool."""
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def check_choice(name: str, value, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"'{name}' must be one of {allowed}, got {show(value)}")
    return value


def check_number(name: str, value, allowed: str, ok, allow_none: bool = False):
    """A finite-or-inf real number for which ``ok(value)`` holds (NaN always fails).

    ``allowed`` is the text after "must be", e.g. "a number in [0, 1)".
    """
    if value is None and allow_none:
        return None
    if not is_number(value) or math.isnan(value) or not ok(float(value)):
        raise ConfigError(f"'{name}' must be {allowed}, got {show(value)}")
    return float(value)


def check_integer(name: str, value, minimum: int, allow_none: bool = False, maximum: int | None = None):
    """An integer >= minimum (and <= maximum when given), or None when allowed."""
    if value is None and allow_none:
        return None
    ok = is_integer(value) and value >= minimum and (maximum is None or value <= maximum)
    if not ok:
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        allowed = f"None or an integer {bound}" if allow_none else f"an integer {bound}"
        raise ConfigError(f"'{name}' must be {allowed}, got {show(value)}")
    return int(value)


def check_number_list(name: str, value, allowed: str, ok, empty: bool = False) -> list[float]:
    """A 1-D list of finite numbers for which ``ok(array)`` holds (empty only when `empty`);
    ``allowed`` names the elements, e.g. "numbers > 0"."""
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        arr = np.zeros((0, 0))
    if arr.ndim != 1 or (arr.size == 0 and not empty) or not np.all(np.isfinite(arr)) or not ok(arr):
        raise ConfigError(f"'{name}' must be a {'' if empty else 'non-empty '}list of {allowed}, got {value!r}")
    return [float(x) for x in arr]


def check_bool(name: str, value, allowed: str = "True or False") -> bool:
    """A bool; `allowed` words the message ("true or false" for YAML keys)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"'{name}' must be {allowed}, got {show(value)}")
    return bool(value)


def check_time_limit(value) -> float | None:
    return check_number("time_limit", value, "None or a number > 0 (seconds)", lambda x: x > 0, allow_none=True)


def reject_unknown_keys(cfg, allowed, where: str = "config") -> None:
    """ConfigError when the mapping `cfg` has keys outside `allowed` (e.g. a misspelt `+foo=1`
    override, which Hydra would otherwise pass on silently)."""
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ConfigError(f"unknown {where} key(s) {unknown}; allowed: {sorted(allowed)}")


def check_options(method: str, given, allowed: tuple[str, ...]) -> None:
    """Reject option names that ``method`` does not take, listing the ones it does."""
    unknown = [name for name in given if name not in allowed]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise ConfigError(f"'options' of method {method!r} must be among {allowed}, got unknown {listed}")
