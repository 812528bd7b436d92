"""The forecast-sigma order-up-to rule (issue #15's `sigma_rule` baseline), pure JAX.

Each stage orders up to the forecast over its cover window plus z_j sqrt(sum sigma^2) over it,
from the forecast mean and sigma the episode carries (the information the sample hands its brain):

    installation form: stage j's window is the days s_j .. e_j, e_j = L_0 + ... + L_j + d j and
        s_j = L_0 + ... + L_{j-1} + d max(j - 1, 0), with d = 0 for timing "after_arrivals" (a
        supplier ships units the day they arrive: the sample's simulator) and d = 1 for
        "before_arrivals" (sc_jax's exact env: the day after; an upstream stage then holds one
        more day of stock): the demand its order and pipeline will serve;
        position = its own on hand + in transit - backlog;
    echelon form: stage j's window is the days 0 .. e_j;
        position = echelon inventory position (stages 0..j, sc_jax.policies.inventory_position);

    order_j = max(ceil(sum_window mean + z_j sqrt(sum_window sigma^2)) - position_j, 0), capped to
    the supply capacity and (cap_supplier, default) to what the supplier can ship today: its on
    hand ("before_arrivals") or its on hand + today's arrivals ("after_arrivals"). Uncapped, an
    order beyond it is short at the supplier (charged its k; under the sample's semantics the
    units still arrive).

z may be negative (stock below the forecast: the right move at low cost ratios). The stage-0
window (both forms) is `order_up_to`'s, so with sigma = 0 (or z = 0) stage 0 orders exactly what
`order_up_to(0, ...)` orders (with timing "before_arrivals" and the cap, its stage-0 order is
`order_up_to`'s). Signature act(z [M], state, params, key, cover_days=None) for one product (vmap
adds products and samples; sc_jax.env.rollout, sc_jax.evaluate run it; `cover_days`: `targets`). `sigma_rule_policy(form, cap_supplier,
timing)` returns the (cached, so jit caches hit) act function of a variant.
"""
from __future__ import annotations

from functools import lru_cache

import jax.numpy as jnp
import numpy as np

from sc_jax.checks import check_bool, check_choice
from sc_jax.env.dynamics import inventory_position
from sc_jax.errors import ConfigError
from sc_jax.policies.base import cap_order
from sc_jax.policies.order_up_to import forecast_over_lead_time, forecast_window

FORMS = ("installation", "echelon")
TIMINGS = ("after_arrivals", "before_arrivals")


def cover_windows(lead_time, window_length: int, form: str = "installation", timing: str = "after_arrivals"):
    """[window_length, M] 0/1 masks: day d (0 = today) is in stage j's cover window."""
    lead = jnp.asarray(lead_time, jnp.int32)
    delta = 1 if timing == "before_arrivals" else 0  # a supplier ships arrivals the next day
    stage = jnp.arange(lead.shape[-1])
    end = jnp.cumsum(lead) + delta * stage  # sum_{i <= j} L_i (+ j)
    shift = end - lead - delta * jnp.minimum(stage, 1)  # s_j = sum_{i < j} L_i (+ j - 1)
    start = shift if form == "installation" else jnp.zeros_like(lead)
    d = jnp.arange(window_length)[:, None]
    return ((d >= start[None]) & (d <= end[None])).astype(jnp.float32)


def targets(z, state, params, form: str = "installation", timing: str = "after_arrivals", cover_days=None):
    """[M] order-up-to targets: ceil(forecast over the cover window + z sqrt(sum sigma^2)), plus
    `cover_days` [M] (optional) days of the window's mean daily forecast: a stock that scales with
    demand, not with sigma (the capacity brain's second action; None: nothing added)."""
    M = len(state.stock)
    length = M * (max(len(state.requests), 1) + 1) + 1  # >= sum(L + 1) + 1 (history length >= max L)
    mask = cover_windows(params.lead_time, length, form, timing)
    mean = forecast_window(state.demand.forecast_mean, state.time, length)
    std = forecast_window(state.demand.forecast_std, state.time, length)
    target = mean @ mask + jnp.asarray(z, jnp.float32) * jnp.sqrt((std * std) @ mask)
    if cover_days is not None:  # every window holds >= 1 day
        target = target + jnp.asarray(cover_days, jnp.float32) * (mean @ mask) / jnp.sum(mask, axis=0)
    return jnp.ceil(target)


def _act(z, state, params, form: str, cap_supplier: bool, timing: str, cover_days=None):
    if form == "echelon":
        position = inventory_position(state)
    else:
        position = state.on_hand + state.in_transit - state.backlog_units[:-1]
    order = jnp.maximum(targets(z, state, params, form, timing, cover_days).astype(jnp.int32) - position, 0)
    if cap_supplier:  # "after_arrivals": the supplier also ships what arrives today
        return cap_order(order, state, params, with_arrivals=timing == "after_arrivals").astype(jnp.int32)
    return jnp.minimum(order, params.supply_capacity).astype(jnp.int32)


@lru_cache(maxsize=None)
def sigma_rule_policy(form: str = "installation", cap_supplier: bool = True, timing: str = "after_arrivals"):
    """The act function (z, state, params, key) -> orders [M] of one variant (module docstring)."""
    check_choice("form", form, FORMS)
    check_bool("cap_supplier", cap_supplier)
    check_choice("timing", timing, TIMINGS)

    def act(z, state, params, key=None, cover_days=None):
        del key
        return _act(z, state, params, form, bool(cap_supplier), timing, cover_days)

    act.__name__ = act.__qualname__ = (f"sigma_rule_{form}_{timing}{'' if cap_supplier else '_uncapped'}")
    return act


sigma_rule = sigma_rule_policy("installation", True, "after_arrivals")  # the sample's timing
sigma_rule_echelon = sigma_rule_policy("echelon", True, "after_arrivals")


def validate_sigma_rule(z, num_stages: int, forecast_std=None) -> jnp.ndarray:
    """z [..., M] as float32 (finite, negative allowed); `forecast_std` (optional, any shape) must
    be finite and >= 0. Bad values raise ConfigError naming the field."""
    try:
        arr = np.asarray(z, np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"'z' must be numbers, one per stage (M={num_stages}), got {z!r}") from None
    if arr.ndim == 0 or arr.shape[-1] != num_stages:
        raise ConfigError(f"'z' must have shape [..., {num_stages}] (one safety factor per stage), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"'z' must be finite (negative allowed), got {z!r}")
    if forecast_std is not None:
        std = np.asarray(forecast_std, np.float64)
        if not np.all(np.isfinite(std)) or np.any(std < 0):
            raise ConfigError("'forecast_std' (sigma) must be finite and >= 0, got non-finite or negative values")
    return jnp.asarray(arr, jnp.float32)


# --- the rule as a safety stock of the order-up-to controller (safety-stock loops, sc_jax.hybrid) ---

def safety_equivalent(z, state, params, form: str = "installation", timing: str = "before_arrivals", cover_days=None):
    """[M] int32 safety stock s for which the order-up-to controller
    (sc_jax.policies.order_up_to: ceil(forecast over t..t+L_j + s_j) - own position) wishes exactly
    the rule's uncapped order max(target_j - position_j, 0) (position in `form`):
    s_j = target_j - position_j + own position_j - ceil(forecast over t..t+L_j). An integer, so
    ceil(forecast + s) = ceil(forecast) + s exactly. It changes every day (the rule's window, sigma
    and position move): a safety-stock loop must decide it daily (action_frequency 1). The caps
    are the controller's: supply capacity and the supplier's on hand, plus today's arrivals for a
    policy marked `supplier_includes_arrivals` (sigma_rule_safety_policy with "after_arrivals"
    and the capacity brain with that timing are: sc_jax.policies.order_up_to.controller), so the
    loop orders exactly what the rule orders under either timing. `cover_days`: as `targets`."""
    own = state.on_hand + state.in_transit - state.backlog_units[:-1]
    position = inventory_position(state) if form == "echelon" else own
    target = targets(z, state, params, form, timing, cover_days).astype(jnp.int32)
    lead_forecast = jnp.ceil(forecast_over_lead_time(state, params)).astype(jnp.int32)
    return (target - position + own - lead_forecast).astype(jnp.int32)


@lru_cache(maxsize=None)
def sigma_rule_safety_policy(form: str = "installation", timing: str = "before_arrivals"):
    """act(z [M], state, params, key) -> the safety stock [M] int32 of `safety_equivalent`: the
    rule in a loop that turns safety stocks into orders with the order-up-to controller and
    decides every day (sc_jax.hybrid.run_hybrid / run_hybrid_batch with action_frequency=1; the
    capacity stage then cuts the rule's orders). Cached per variant (jit caches hit)."""
    check_choice("form", form, FORMS)
    check_choice("timing", timing, TIMINGS)

    def act(z, state, params, key=None):
        del key
        return safety_equivalent(z, state, params, form, timing)

    # with "after_arrivals" the rule's supplier cap counts today's arrivals: the loops' controller too
    act.supplier_includes_arrivals = timing == "after_arrivals"
    act.__name__ = act.__qualname__ = f"sigma_rule_safety_{form}_{timing}"
    return act


__all__ = ["FORMS", "TIMINGS", "cover_windows", "safety_equivalent", "sigma_rule", "sigma_rule_echelon",
           "sigma_rule_policy", "sigma_rule_safety_policy", "targets", "validate_sigma_rule"]
