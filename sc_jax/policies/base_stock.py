"""Echelon base-stock (order up to z per stage): OR-Gym's `base_stock_action`, working.

levels z [M] are echelon levels: stage m orders z_m - IP_m, where IP_m is the echelon inventory
position cumsum(on hand + in transit - backlog owed) up to stage m, clipped to [0, capacity] and to
the supplier's on hand (what OR-Gym's helper intended; its own copy crashes).
"""
from __future__ import annotations

import jax.numpy as jnp

from sc_jax.env.dynamics import inventory_position
from sc_jax.policies.base import cap_order


def base_stock(levels, state, params, key=None):
    """Order up to echelon levels `levels` [M]."""
    del key
    order = jnp.ceil(jnp.asarray(levels, jnp.float32)).astype(jnp.int32) - inventory_position(state)
    return cap_order(order, state, params)

