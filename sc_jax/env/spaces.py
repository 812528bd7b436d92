"""Observation and action spaces, shaped like gymnax's `spaces.Box` (same attribute names and
methods, jittable), so gymnax/PureJaxRL-style code reads them without sc_jax-specific calls."""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


class Box:
    """An array space with elementwise bounds `low <= x <= high` (bounds broadcast to `shape`).

    `sample(key)`: uniform in the box (integers: uniform over the integers, `high` inclusive;
    an infinite bound samples a standard normal on that side instead). `contains(x)`: a
    jittable bool."""

    def __init__(self, low, high, shape: tuple, dtype: Any = jnp.float32):
        self.low = low
        self.high = high
        self.shape = tuple(int(s) for s in shape)
        self.dtype = dtype

    def __repr__(self) -> str:
        bound = lambda b: np.asarray(b).tolist() if np.size(b) <= 8 else f"array{np.shape(b)}"
        return (f"Box(low={bound(self.low)}, high={bound(self.high)}, shape={self.shape}, "
                f"dtype={np.dtype(self.dtype).name})")

    def sample(self, key) -> jnp.ndarray:
        low = jnp.broadcast_to(jnp.asarray(self.low, jnp.float32), self.shape)
        high = jnp.broadcast_to(jnp.asarray(self.high, jnp.float32), self.shape)
        if jnp.issubdtype(self.dtype, jnp.integer):
            return jax.random.randint(key, self.shape, low.astype(jnp.int32),
                                      high.astype(jnp.int32) + 1).astype(self.dtype)
        finite = jnp.isfinite(low) & jnp.isfinite(high)
        uniform = jax.random.uniform(key, self.shape, minval=jnp.where(finite, low, 0.0),
                                     maxval=jnp.where(finite, high, 1.0))
        normal = jax.random.normal(key, self.shape)
        unbounded = jnp.where(jnp.isfinite(low), low + jnp.abs(normal),
                              jnp.where(jnp.isfinite(high), high - jnp.abs(normal), normal))
        return jnp.where(finite, uniform, unbounded).astype(self.dtype)

    def contains(self, x) -> jnp.ndarray:
        x = jnp.asarray(x)
        return jnp.logical_and(jnp.all(x >= self.low), jnp.all(x <= self.high))


__all__ = ["Box"]
