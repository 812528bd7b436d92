"""PRNG keys: validation (a clear error for an int or a batch where one key is expected) and the
split of an episode key into its demand and policy halves (common random numbers)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.errors import ConfigError

_POLICY_SALT = 0x5EED


def check_key(key, name: str = "key"):
    """One JAX PRNG key (raw uint32 [2] or a typed key; tracers of that shape pass), else a
    ConfigError naming `name`."""
    if isinstance(key, (int, np.integer, float)) or not hasattr(key, "shape") or not hasattr(key, "dtype"):
        raise ConfigError(f"'{name}' must be a JAX PRNG key (jax.random.PRNGKey(seed) or jax.random.key(seed)), "
                          f"got {type(key).__name__} {key!r}")
    if not (jnp.issubdtype(key.dtype, jax.dtypes.prng_key) or (key.dtype == jnp.uint32 and key.shape == (2,))):
        raise ConfigError(f"'{name}' must be one JAX PRNG key (uint32 [2] or a typed key), got dtype "
                          f"{key.dtype} shape {key.shape}")
    return key


def check_key_batch(keys, name: str = "keys"):
    """A batch of N JAX PRNG keys (raw uint32 [N, 2] or typed [N]), else a ConfigError."""
    if not hasattr(keys, "shape") or not hasattr(keys, "dtype"):
        raise ConfigError(f"'{name}' must be a batch of JAX PRNG keys (jax.random.split(key, N)), got "
                          f"{type(keys).__name__} {keys!r}")
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if not ((typed and keys.ndim == 1) or (keys.dtype == jnp.uint32 and keys.ndim == 2 and keys.shape[1] == 2)):
        raise ConfigError(f"'{name}' must be a batch of JAX PRNG keys (uint32 [N, 2] from jax.random.split(key, N), "
                          f"or typed [N]), got dtype {keys.dtype} shape {keys.shape}")
    return keys


def episode_keys(keys):
    """(demand keys, policy keys) [N] from episode keys [N]: the demand key is the episode key
    itself and the policy key is folded from it, so policy randomness never touches demand."""
    return keys, jax.vmap(lambda k: jax.random.fold_in(k, _POLICY_SALT))(keys)


__all__ = ["check_key", "check_key_batch", "episode_keys"]
