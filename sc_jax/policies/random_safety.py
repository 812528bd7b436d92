"""Random safety stock: a safety stock drawn per decision, uniformly from an integer range.

`random_safety` is the decision rule of the safety-stock env (sc_jax.env.wrappers.SafetyStockEnv:
one draw per decision, held for `action_frequency` days); `random_safety_stock` is the daily
orders policy that draws every period and orders up to it (sc_jax.policies.order_up_to). Both
are deterministic given the key; a randomised baseline and a source of diverse behaviour for
property tests.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.errors import ConfigError
from sc_jax.policies.order_up_to import order_up_to


@jax.tree_util.register_pytree_node_class
class SafetyRange:
    """Inclusive integer safety-stock range per stage: low [M] <= high [M] (checked when built
    from concrete values; a pytree, so it passes through jit and vmap)."""

    def __init__(self, low, high):
        try:
            lo, hi = np.asarray(low, np.float64), np.asarray(high, np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"SafetyRange 'low' and 'high' must be integer arrays, got {low!r}, {high!r}") from None
        if lo.shape != hi.shape:
            raise ConfigError(f"SafetyRange 'low' and 'high' must have the same shape, got {lo.shape} and {hi.shape}")
        if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo == np.round(lo))
                and np.all(hi == np.round(hi))):
            raise ConfigError(f"SafetyRange 'low' and 'high' must hold integers, got {lo.tolist()}, {hi.tolist()}")
        if np.any(lo > hi):
            raise ConfigError(f"SafetyRange 'low' must be <= 'high' at every stage, got "
                              f"low={lo.astype(np.int64).tolist()} high={hi.astype(np.int64).tolist()}")
        self.low, self.high = jnp.asarray(lo, jnp.int32), jnp.asarray(hi, jnp.int32)

    def tree_flatten(self):
        return (self.low, self.high), None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)  # no check: children may be tracers
        obj.low, obj.high = children
        return obj

    def __repr__(self) -> str:
        return f"SafetyRange(low={self.low}, high={self.high})"


def random_safety(safety_range: SafetyRange, state, params, key):
    """Policy for the safety-stock env: safety stock ~ UniformInt[low, high] per stage."""
    del state, params
    low = jnp.asarray(safety_range.low, jnp.int32)
    return jax.random.randint(key, low.shape, low, jnp.asarray(safety_range.high, jnp.int32) + 1)


def random_safety_stock(safety_range: SafetyRange, state, params, key):
    """Orders policy: order-up-to with a safety stock drawn from `safety_range` every period."""
    return order_up_to(random_safety(safety_range, state, params, key), state, params)
