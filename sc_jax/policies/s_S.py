"""(s, S) per stage on the echelon inventory position.

Stage m reviews its echelon inventory position IP_m (cumsum over stages 0..m of on hand +
in transit - backlog owed, the base-stock state); if IP_m <= s_m it orders S_m - IP_m, otherwise
nothing. Orders are capped by supply capacity and the supplier's on hand like every policy.
With s = S - 1 this is the echelon base-stock policy with levels S.
Validate parameters with `sc_jax.policies.validation.validate_s_S` before jitting.
"""
from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp

from sc_jax.env.dynamics import inventory_position
from sc_jax.policies.base import cap_order


class SSParams(NamedTuple):
    """Echelon reorder points s [M] and order-up-to levels S [M] (s <= S)."""

    reorder_point: jnp.ndarray
    order_up_to: jnp.ndarray


def s_S(policy_params: SSParams, state, params, key=None):
    """Policy: order up to S_m when the echelon position is at or below s_m."""
    del key
    position = inventory_position(state)
    s = jnp.asarray(policy_params.reorder_point, jnp.float32)
    S = jnp.ceil(jnp.asarray(policy_params.order_up_to, jnp.float32)).astype(jnp.int32)
    order = jnp.where(position.astype(jnp.float32) <= s, S - position, 0)
    return cap_order(order, state, params)
