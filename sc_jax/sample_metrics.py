"""The hybrid sample's own figure metrics, computed from sc_jax's per-day info, and its published
numbers (docs/hybrid_reproduction.md).

Single SKU (`notebook_cost`): the sample's notebooks score a run from its per-day log, not by the
environment's reward: only days whose log row has `iteration > 20` count (the start-up
transient dropped; sc_jax's day t, 0-based, is the row logged after it, iteration t + 1, so days
t >= 20 count), a day costs sum_j k'_j lost_j + (k'_j / ratio) on_hand_j over the 3 stocked
stages with k' = [0.15, 0.10, 0.05] (fixed in the notebook, not the SKU's k), summed over the
remaining days of each episode.

200 SKUs (`step_points`, `mean_standard_error`): the assessment logs the cost of the last day of
each 10-day decision step (all SKUs and stages, each SKU's own k and h), drops the first step
(`iteration > 1`), and plots the mean and standard error over all remaining points of all episodes.

NumPy, except `notebook_day_terms` (JAX, for jitted episodes). Shapes: T days first, any batch axes after.
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from sc_jax.checks import check_integer
from sc_jax.errors import ConfigError

NOTEBOOK_K = (0.15, 0.10, 0.05)
NOTEBOOK_FIRST_DAY = 20  # iteration > 20 with iteration = day + 1

#: printed in the sample's notebooks (bonsai/logs/single_sku_r30, _r100, singel_sku_r1000): notebook
#: cost per episode, mean and std over episodes, sigmax 1..11
PUBLISHED_SINGLE_SKU = {
    30: {"brain_mip": ([3.96, 6.20, 9.25, 13.11, 18.16, 21.36, 26.41, 32.08, 36.40, 42.74, 46.98],
                       [0.13, 0.27, 0.68, 1.23, 2.09, 3.03, 3.08, 4.71, 3.74, 6.10, 5.22]),
         "mip_mixed": ([1.61, 6.00, 11.07, 18.33, 24.13, 29.78, 36.41, 41.04, 46.69, 51.79, 56.27],
                       [0.68, 1.70, 2.33, 1.74, 1.69, 2.98, 3.04, 5.19, 4.44, 6.25, 3.91])},
    100: {"brain_mip": ([1.33, 2.23, 3.35, 5.80, 8.90, 11.31, 15.94, 20.34, 23.90, 30.04, 34.21],
                        [0.06, 0.24, 0.47, 1.18, 1.80, 2.62, 2.93, 4.56, 3.69, 5.68, 4.97]),
          "mip_mixed": ([1.57, 5.62, 10.57, 16.64, 21.36, 25.27, 31.38, 36.24, 40.72, 46.80, 50.81],
                        [0.70, 1.48, 2.22, 1.90, 3.59, 4.05, 3.97, 5.51, 5.15, 5.97, 4.58])},
    1000: {"brain_mip": ([0.178, 0.32, 0.92, 2.96, 5.74, 8.26, 12.92, 17.23, 20.80, 26.37, 30.45],
                         [0.004, 0.09, 0.47, 1.25, 1.83, 2.48, 2.69, 4.68, 4.19, 5.74, 4.88]),
           "mip_mixed": ([1.66, 5.67, 10.72, 16.96, 21.14, 25.59, 32.21, 37.02, 41.21, 47.47, 51.47],
                         [0.76, 1.71, 2.55, 1.94, 3.45, 4.43, 4.41, 5.72, 5.52, 6.09, 4.66])},
}
#: ratio 100, sum over the episode's counted days of lost units and on hand (all stages), sigmax 1..11
PUBLISHED_SINGLE_SKU_LOST_R100 = {
    "brain_mip": [0.0, 1.4, 6.6, 24.1, 48.9, 66.6, 101.7, 134.6, 159.8, 202.3, 233.0],
    "mip_mixed": [9.9, 35.1, 66.4, 104.9, 134.4, 159.1, 198.2, 228.7, 256.1, 296.1, 320.7],
}
#: read off the 200-SKU figure (capacity 5,000): one day's cost of all SKUs, every 10th day, sigmax 1..9
PUBLISHED_MULTI_SKU = {
    10: {"brain_mip": [90, 215, 350, 460, 580, 665, 775, 870, 1220],
         "mip_mixed": [35, 145, 255, 365, 490, 605, 710, 820, 935]},
    100: {"brain_mip": [25, 45, 60, 120, 335, 320, 195, 195, 205],
          "mip_mixed": [25, 95, 165, 240, 320, 400, 470, 535, 600]},
}
#: an independent re-implementation of the sample's chain (its semantics, demand, one-day forecast
#: shift, LP-relaxed MIP-mixed; 40 episodes per point, 2026-11-27; docs/hybrid_reproduction.md), ratio 100
REFERENCE_REIMPLEMENTATION = {
    "mip_mixed_notebook_r100": dict(zip(range(1, 12), [1.64, 6.04, 10.68, 15.52, 20.31, 25.11, 30.16, 35.00,
                                                       39.75, 44.55, 49.55])),
    "mip_mixed_env_cost_exact_r100": {2: 21.9, 4: 28.7, 6: 35.6, 8: 42.7, 11: 53.1},
    "mip_mixed_multi_sku_r100": {1: 24.6, 3: 176.8, 5: 331.9, 7: 487.3, 9: 642.2},
    "mip_mixed_multi_sku_r10": {1: 37.8, 3: 271.9, 5: 511.6, 7: 751.3, 9: 989.5},
}


def _days_first(name, value, min_ndim=1):
    arr = np.asarray(value, np.float64)
    if arr.ndim < min_ndim:
        raise ConfigError(f"'{name}' must have the days as its first axis, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"'{name}' must be finite")
    return arr


def notebook_daily_cost(lost, on_hand, cost_ratio, *, k=NOTEBOOK_K):
    """[T, ...] the notebooks' cost of each day: sum over the 3 stocked stages of
    k'_j lost_j + (k'_j / ratio) on_hand_j. lost [T, ..., >= M] (sc_jax's info.lost: retail, then
    each supplier's unfilled orders; the plant's entry, if present, is dropped), on_hand [T, ..., M],
    cost_ratio a number or broadcastable to the batch axes."""
    k = np.asarray(k, np.float64)
    lost = _days_first("lost", lost, 2)
    on_hand = _days_first("on_hand", on_hand, 2)
    M = k.size
    if on_hand.shape[-1] != M or lost.shape[-1] < M or lost.shape[:-1] != on_hand.shape[:-1]:
        raise ConfigError(f"'lost' [T, ..., >= {M}] and 'on_hand' [T, ..., {M}] must share their leading axes, "
                          f"got {lost.shape} and {on_hand.shape}")
    ratio = np.asarray(cost_ratio, np.float64)
    if not np.all(np.isfinite(ratio)) or np.any(ratio <= 0):
        raise ConfigError(f"'cost_ratio' must be finite and > 0, got {cost_ratio!r}")
    return (lost[..., :M] @ k) + (on_hand @ k) / ratio


def notebook_day_terms(info):
    """One env step's notebook terms, traced (jit-able): (sum_j k'_j lost_j, sum_j k'_j on_hand_j)
    over the M stocked stages of `info` (sc_jax's step info of one product: lost [M + 1], on_hand
    [M]); the day's cost is lost_term + on_hand_term / cost_ratio (`notebook_daily_cost`)."""
    k = jnp.asarray(NOTEBOOK_K, jnp.float32)
    M = info.on_hand.shape[-1]
    return info.lost[..., :M].astype(jnp.float32) @ k[:M], info.on_hand.astype(jnp.float32) @ k[:M]


def notebook_cost(lost, on_hand, cost_ratio, *, first_day: int = NOTEBOOK_FIRST_DAY, k=NOTEBOOK_K):
    """[...] the single-SKU figures' metric per episode: notebook_daily_cost summed over days
    t >= first_day (module docstring)."""
    check_integer("first_day", first_day, 0)
    daily = notebook_daily_cost(lost, on_hand, cost_ratio, k=k)
    if first_day >= daily.shape[0]:
        raise ConfigError(f"'first_day' must be < the number of days {daily.shape[0]}, got {first_day}")
    return daily[first_day:].sum(axis=0)


def step_points(day_cost, *, step: int = 10, drop_first: int = 1):
    """[K, ...] the 200-SKU figure's points: the cost of the last day of each `step`-day decision
    step (days step-1, 2 step-1, ...), the first `drop_first` steps dropped. day_cost [T, ...]
    (e.g. the env's holding + shortage (+ overflow) cost summed over SKUs)."""
    check_integer("step", step, 1)
    check_integer("drop_first", drop_first, 0)
    cost = _days_first("day_cost", day_cost)
    last_days = np.arange(step - 1, cost.shape[0], step)[drop_first:]
    if last_days.size == 0:
        raise ConfigError(f"no point left: {cost.shape[0]} days, step {step}, drop_first {drop_first}")
    return cost[last_days]


def mean_standard_error(points):
    """(mean, standard error) over all entries of `points` (the figure pools every point of every
    episode): std with ddof 1 / sqrt(count)."""
    values = np.asarray(points, np.float64).ravel()
    if values.size < 2:
        raise ConfigError(f"'points' must hold at least 2 values, got {values.size}")
    return float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size))


__all__ = ["NOTEBOOK_FIRST_DAY", "NOTEBOOK_K", "notebook_day_terms", "PUBLISHED_MULTI_SKU", "PUBLISHED_SINGLE_SKU",
           "PUBLISHED_SINGLE_SKU_LOST_R100", "REFERENCE_REIMPLEMENTATION", "mean_standard_error",
           "notebook_cost", "notebook_daily_cost", "step_points"]
