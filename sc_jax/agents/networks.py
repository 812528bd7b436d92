"""Flax actor-critic networks with integer-valued action heads.

Actions are integers per stage in a box [low_m, high_m] (order quantities: [0, c_m]; safety stock:
the configured range). Two heads:

- "gaussian": a Gaussian over an unbounded pre-action z [M] (mean from the MLP; log-std a free
  parameter per stage, or, with `state_dependent_std`, a second linear output of the actor), squashed to the box by ``low + (high - low) * sigmoid(z)`` and rounded to integers.
  PPO's probability ratio is taken on z, so the squash needs no Jacobian term (it is a fixed map
  applied after the sample, part of the environment as far as the gradient is concerned).
  Deterministic action: squash(mean).
- "categorical": one categorical per stage over `num_bins` evenly spaced integer levels of the box.
  Deterministic action: the most probable bin.

Actor and critic are separate MLPs (no shared trunk), orthogonal init, as PureJaxRL.
Shapes: observation [..., obs], raw action (z or bin index) [..., M], value [...].
"""
from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

HEADS = ("gaussian", "categorical")
ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu, "gelu": nn.gelu, "silu": nn.silu}


def _dense(features: int, scale: float) -> nn.Dense:
    return nn.Dense(features, kernel_init=nn.initializers.orthogonal(scale),
                    bias_init=nn.initializers.zeros)


class MLP(nn.Module):
    """context_features k > 0: the last k input entries (a scenario's context, e.g. the log cost
    ratio) are also concatenated to every hidden layer's input, so deep layers see the scenario
    directly rather than through features the first layer happened to keep."""

    hidden: Sequence[int]
    activation: str = "tanh"
    context_features: int = 0

    @nn.compact
    def __call__(self, x):
        act = ACTIVATIONS[self.activation]
        context = x[..., x.shape[-1] - self.context_features:] if self.context_features else None
        for i, width in enumerate(self.hidden):
            if context is not None and i > 0:
                x = jnp.concatenate([x, context], axis=-1)
            x = act(_dense(width, float(np.sqrt(2)))(x))
        return x


class ActorCritic(nn.Module):
    """Returns (distribution parameters, value). Gaussian: (mean [.., M], log_std [M], or [.., M]
    when state-dependent); categorical: (logits [.., M, bins], None).

    state_dependent_std: the exploration noise is an output of the actor. With one network over
    many scenarios (the ratio-conditioned safety brain) a single learned std is a compromise, and
    PPO's mean adapts to the noise it is trained under, so a wrong std biases the deterministic
    action. Clipped to [-5, 2]."""

    num_stages: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"
    head: str = "gaussian"
    num_bins: int = 21
    init_log_std: float = 0.0
    state_dependent_std: bool = False
    context_features: int = 0

    @nn.compact
    def __call__(self, actor_obs, critic_obs):
        h = MLP(self.hidden, self.activation, self.context_features, name="actor")(actor_obs)
        if self.head == "gaussian":
            mean = _dense(self.num_stages, 0.01)(h)
            if self.state_dependent_std:
                log_std = nn.Dense(self.num_stages, kernel_init=nn.initializers.orthogonal(0.01),
                                   bias_init=nn.initializers.constant(self.init_log_std), name="log_std")(h)
                log_std = jnp.clip(log_std, -5.0, 2.0)
            else:
                log_std = self.param("log_std", nn.initializers.constant(self.init_log_std),
                                     (self.num_stages,))
            dist = (mean, log_std)
        else:
            logits = _dense(self.num_stages * self.num_bins, 0.01)(h)
            dist = (logits.reshape(logits.shape[:-1] + (self.num_stages, self.num_bins)), None)
        v = MLP(self.hidden, self.activation, name="critic")(critic_obs)
        value = _dense(1, 1.0)(v)[..., 0]
        return dist, value


# --- distributions over the raw action (z or bin index) -------------------------------------

def sample_raw(key, dist, head: str):
    """Sample a raw action [.., M] (float z, or int32 bin index)."""
    if head == "gaussian":
        mean, log_std = dist
        return mean + jnp.exp(log_std) * jax.random.normal(key, mean.shape)
    logits, _ = dist
    return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)


def deterministic_raw(dist, head: str):
    if head == "gaussian":
        return dist[0]
    return jnp.argmax(dist[0], axis=-1).astype(jnp.int32)


def log_prob(dist, raw, head: str):
    """Joint log-probability over the stages [..]."""
    if head == "gaussian":
        mean, log_std = dist
        z = (raw - mean) * jnp.exp(-log_std)
        return jnp.sum(-0.5 * z ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
    logp = jax.nn.log_softmax(dist[0], axis=-1)
    return jnp.sum(jnp.take_along_axis(logp, raw[..., None], axis=-1)[..., 0], axis=-1)


def entropy(dist, head: str):
    """Joint entropy over the stages [..] (Gaussian: of z)."""
    if head == "gaussian":
        mean, log_std = dist
        per = 0.5 + 0.5 * jnp.log(2 * jnp.pi) + log_std
        return jnp.sum(jnp.broadcast_to(per, mean.shape), axis=-1)
    logp = jax.nn.log_softmax(dist[0], axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=(-1, -2))


def to_action(raw, low, high, head: str, num_bins: int):
    """Integer action [.., M] in [low, high] from a raw action."""
    low = jnp.asarray(low, jnp.float32)
    high = jnp.asarray(high, jnp.float32)
    if head == "gaussian":
        value = low + (high - low) * jax.nn.sigmoid(raw)
    else:
        value = low + (high - low) * raw.astype(jnp.float32) / max(num_bins - 1, 1)
    return jnp.round(value).astype(jnp.int32)
