"""Constant order: every stage orders the same quantity q_m every period (capped by supply
capacity and supplier stock). A naive baseline and a handy random policy for property tests."""
from __future__ import annotations

import jax.numpy as jnp

from sc_jax.policies.base import cap_order


def constant_order(quantity, state, params, key=None):
    """Policy: order `quantity` [M] every period."""
    del key
    return cap_order(jnp.asarray(quantity, jnp.int32), state, params)
