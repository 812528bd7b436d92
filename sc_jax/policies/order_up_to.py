"""Order-up-to on forecast + safety stock: the hybrid sample's controller, single SKU, in JAX.

Stage m orders so that its projected on hand when the order arrives covers the forecast demand
from now to the arrival period plus its safety stock:
    order_m = ceil(sum_{tau=t}^{t+L_m} forecast_mean[tau] + safety_m) - (on hand + in transit - owed)
clipped to [0, supply capacity] and to the supplier's on hand. Upper stages face the orders of the
stage below, which track the same forecast, so the retail forecast serves every stage. Without
shared capacity this is what the sample's per-day safety-stock LP reduces to; the MILP stage
(sc_jax.alloc) starts from these orders as the products' wishes.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from sc_jax.policies.base import cap_order


def forecast_window(series, time, length: int):
    """series[time : time + length], the last value repeated past the end ([length])."""
    padded = jnp.concatenate([series, jnp.repeat(series[-1:], length)])
    return jax.lax.dynamic_slice(padded, (time,), (length,))


def forecast_over_lead_time(state, params):
    """[M] forecast mean summed over periods t .. t + L_m (the window until the order lands)."""
    H = len(state.requests)  # the env's history length (static), read off the state
    window = forecast_window(state.demand.forecast_mean, state.time, H + 1)
    lags = jnp.arange(H + 1)[:, None]
    return jnp.sum(jnp.where(lags <= params.lead_time[None, :], window[:, None], 0.0), axis=0)


def desired_orders(safety_stock, state, params):
    """Uncapped wished orders [M] (>= 0, whole units) for safety stock [M], in the state's
    quantity dtype: int32 for the exact env; float32 for the relaxed one (sc_jax.agents.hdpo),
    where the ceil is straight-through (value ceil(target), gradient 1), so the pathwise
    gradient of the cost reaches the safety stock. The values are the same in both."""
    position = state.on_hand + state.in_transit - state.backlog_units[:-1]
    target = forecast_over_lead_time(state, params) + jnp.asarray(safety_stock, jnp.float32)
    if jnp.issubdtype(position.dtype, jnp.floating):
        # ceil(x) - x is exact in float32 (as the env's straight-through floor), so the value is ceil(x)
        return jnp.maximum(target + jax.lax.stop_gradient(jnp.ceil(target) - target) - position, 0)
    return jnp.maximum(jnp.ceil(target).astype(jnp.int32) - position, 0)


def supplier_includes_arrivals(policy) -> bool:
    """Whether a safety-stock policy's controller caps an order by the supplier's on hand plus
    today's arrivals (the sample's "after_arrivals" timing: the sigma rule's own cap there, so a
    brain turning z into safety stock, sc_jax.agents.capacity_brain, trains and deploys the same
    orders) instead of its on hand alone: the policy's `supplier_includes_arrivals` attribute."""
    return bool(getattr(policy, "supplier_includes_arrivals", False))


def order_up_to_after_arrivals(safety_stock, state, params, key=None):
    """`order_up_to` with the supplier's cap counting today's arrivals too (exact env state)."""
    del key
    return cap_order(desired_orders(safety_stock, state, params), state, params, with_arrivals=True)


def controller(policy):
    """The order-up-to controller a safety-stock policy deploys: order_up_to, or
    order_up_to_after_arrivals for a policy with `supplier_includes_arrivals`."""
    return order_up_to_after_arrivals if supplier_includes_arrivals(policy) else order_up_to


def order_up_to(safety_stock, state, params, key=None):
    """Policy: order up to forecast over the lead time + `safety_stock` [M], capped (int32
    orders for an exact state, float32 with a straight-through ceil for a relaxed one)."""
    del key
    return cap_order(desired_orders(safety_stock, state, params), state, params)
