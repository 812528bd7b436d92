"""Running mean / variance (Chan's parallel update), for observation and reward normalisation
inside jit. The statistics are part of the policy parameters: a checkpoint carries them and the
deterministic policy normalises with the frozen values.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import struct

CLIP = 10.0


@struct.dataclass
class RunningStats:
    mean: jnp.ndarray  # [D] (or [] for scalars)
    var: jnp.ndarray  # [D]
    count: jnp.ndarray  # [] float32

    @classmethod
    def create(cls, shape=()):
        return cls(mean=jnp.zeros(shape, jnp.float32), var=jnp.ones(shape, jnp.float32),
                   count=jnp.asarray(1e-4, jnp.float32))

    def update(self, batch) -> "RunningStats":
        """Merge a batch [N, *shape] into the statistics."""
        batch = jnp.asarray(batch, jnp.float32).reshape((-1,) + self.mean.shape)
        b_mean, b_var, b_count = batch.mean(0), batch.var(0), jnp.float32(batch.shape[0])
        delta = b_mean - self.mean
        total = self.count + b_count
        mean = self.mean + delta * b_count / total
        m2 = self.var * self.count + b_var * b_count + delta ** 2 * self.count * b_count / total
        return RunningStats(mean=mean, var=m2 / total, count=total)

    def normalize(self, x, enabled: bool = True):
        if not enabled:
            return x
        return jnp.clip((x - self.mean) / jnp.sqrt(self.var + 1e-8), -CLIP, CLIP)

    def scale(self, x, enabled: bool = True):
        """Divide by the running standard deviation (no centring): reward normalisation."""
        if not enabled:
            return x
        return x / jnp.sqrt(self.var + 1e-8)
