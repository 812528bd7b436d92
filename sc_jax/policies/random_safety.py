"""Random safety stock: order-up-to on the forecast with a safety stock drawn per decision.

At every decision each stage draws its safety stock uniformly from the integers
[low_m, high_m] (inclusive) with the decision's key, then orders like `order_up_to`. A randomised
baseline (and a source of diverse behaviour for property tests); deterministic given the key.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from sc_jax.policies.order_up_to import order_up_to


class SafetyRange(NamedTuple):
    """Inclusive integer safety-stock range per stage: low [M] <= high [M]."""

    low: jnp.ndarray
    high: jnp.ndarray


def random_safety_stock(policy_params: SafetyRange, state, params, key):
    """Policy: order-up-to with safety stock ~ UniformInt[low, high] per stage, from `key`."""
    low = jnp.asarray(policy_params.low, jnp.int32)
    high = jnp.asarray(policy_params.high, jnp.int32)
    safety = jax.random.randint(key, low.shape, low, high + 1, dtype=jnp.int32)
    return order_up_to(safety, state, params)
