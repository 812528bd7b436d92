"""Spread a batch axis over every local device (`jax.sharding`), so jitted rollouts, evaluations
and seed-vmapped training use all GPUs of a machine (or `--xla_force_host_platform_device_count`
CPU devices) without code changes.

The computations sharded here are independent per batch entry (demand samples, seeds), so XLA's
sharding propagation splits them with no communication and the numbers are those of one device
(tests/test_sharding.py checks this on 8 fake CPU devices). A batch whose length is not a multiple
of the device count stays on one device (padding would change nothing but cost memory), and one
device means no change at all.

    keys = shard_batch(keys, axis=1)   # keys [P, S, 2]: samples over devices
"""
from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

AXIS = "batch"


def local_mesh() -> Mesh:
    """A 1-D mesh over this process's devices, axis name "batch"."""
    return Mesh(np.asarray(jax.local_devices()), (AXIS,))


def batch_sharding(ndim: int, axis: int = 0) -> NamedSharding:
    """NamedSharding of an array of rank `ndim` split along `axis` over the local devices."""
    spec = [None] * ndim
    spec[axis] = AXIS
    return NamedSharding(local_mesh(), PartitionSpec(*spec))


def shardable(size: int, devices: int | None = None) -> bool:
    """Whether a batch of `size` splits evenly over the local devices (and there are several)."""
    devices = jax.local_device_count() if devices is None else devices
    return devices > 1 and size % devices == 0


def shard_batch(tree, axis: int = 0):
    """Every array leaf of `tree` split along `axis` over the local devices, when that axis
    divides evenly; unchanged otherwise (one device, or an uneven batch)."""
    leaves = jax.tree.leaves(tree)
    if not leaves or jax.local_device_count() == 1:
        return tree
    sizes = {np.shape(x)[axis] for x in leaves if np.ndim(x) > axis}
    if len(sizes) != 1 or not shardable(sizes.pop()):
        return tree
    return jax.tree.map(lambda x: jax.device_put(x, batch_sharding(np.ndim(x), axis))
                        if np.ndim(x) > axis else x, tree)


def describe() -> str:
    """The local devices in words, for logs and results ("8 x cpu", "1 x NVIDIA H100 ...")."""
    devices = jax.local_devices()
    kinds = sorted({getattr(d, "device_kind", d.platform) for d in devices})
    return f"{len(devices)} x {', '.join(kinds)}"


__all__ = ["local_mesh", "batch_sharding", "shardable", "shard_batch", "describe"]
