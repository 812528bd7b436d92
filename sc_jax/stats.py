"""Confidence intervals and paired differences (host NumPy/SciPy): the one place they live."""
from __future__ import annotations

import numpy as np
from scipy import stats as scipy_stats

from sc_jax.errors import ConfigError


def mean_ci(values, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """(mean, half-width of the 95% t-interval) along `axis`; the half-width is NaN for fewer
    than 2 values (no interval exists)."""
    values = np.asarray(values, np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    sem = values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, scipy_stats.t.ppf(0.975, n - 1) * sem


def paired_difference(a, b, axis: int = -1) -> dict:
    """Paired difference a - b of per-episode values on the same demand paths (common random
    numbers): {"mean", "ci95", "win_fraction" (share of episodes with a > b)} along `axis`,
    as floats for 1-D inputs, arrays otherwise."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ConfigError(f"a paired difference needs values of the same shape (the same episodes), got "
                          f"{a.shape} and {b.shape}")
    diff = a - b
    mean, ci = mean_ci(diff, axis=axis)
    win = np.mean(diff > 0, axis=axis)
    scalar = lambda x: float(x) if np.ndim(x) == 0 else x
    return {"mean": scalar(mean), "ci95": scalar(ci), "win_fraction": scalar(win)}


__all__ = ["mean_ci", "paired_difference"]
