"""HDPO: hindsight differentiable policy optimisation, pathwise policy gradients through the step.

Alvo, Russo & Kanoria (2023), "Neural inventory control in networks via hindsight differentiable
policy optimization": sample a batch of demand paths, roll the deterministic policy network
through the simulator and follow the gradient of the mean episode cost through the dynamics
themselves. Here the simulator is the one step of `sc_jax.env.dynamics` in its relaxed form
(`env.relaxed`: float quantities, straight-through floor, subgradients of min / max / clip), run
by the one rollout (`sc_jax.env.rollout`), so the training objective of a batch is exactly the
episode reward the exact env gives on the same paths; only its derivative is a relaxation.
Evaluation uses the exact (integer) env.

    env, params = sc_jax.make("orgym_v1", observation="rich")
    config = HDPOConfig()                     # 64 paths x 4,000 updates: ~1 min on 2 CPU cores
    policy_params, metrics = jax.jit(make_train(config, env, params))(jax.random.PRNGKey(0))
    act = make_policy(config, env)            # act(policy_params, state, params, key) -> orders [M]

`make_train(config, env, params) -> train(key)` is one pure function (lax.scan over updates;
each update draws `batch_size` episode keys, rolls the policy through the relaxed env, takes
jax.grad of the mean episode cost and an optax step), so `jax.jit(jax.vmap(train))(keys)` trains
several seeds at once. `env` is an InventoryEnv (the orders brain) or a wrapper over one
(sc_jax.env.wrappers.SafetyStockEnv: the safety-stock brain; its order-up-to controller keeps
the relaxed state's float dtype with a straight-through ceil, so the gradient reaches the safety
stock: `check_differentiable`, docs/hdpo.md); the relaxed twin is the same wrapper stack over
`env.replace(relaxed=True)` (`relax`). Results and what was tried: docs/hdpo.md.

The policy is PPO's actor (sc_jax.agents.networks.MLP: width/depth/activation, context features)
with a deterministic head: action = low + (high - low) * sigmoid(z) in env.action_space (PPO's
Gaussian squash without the noise). It reads the env's observation (OR-Gym's 33 numbers or the
rich one), normalised with statistics measured on warm-up episodes of the initial policy and
frozen (they are part of `policy_params`, saved in a checkpoint like PPO's). The gradient flows
through the observation too: a change of today's order moves tomorrow's state and so tomorrow's
order (`truncation` > 0 cuts that path every `truncation` decisions).

Shapes: B = batch_size paths per update, T = env.episode_length decisions, M actions, D obs.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from functools import partial
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from sc_jax.agents import networks
from sc_jax.agents.normalize import RunningStats
from sc_jax.agents.ppo import action_bounds
from sc_jax.checks import check_bool, check_choice, check_integer, check_number, is_integer, reject_unknown_keys
from sc_jax.env.environment import InventoryEnv
from sc_jax.env.params import batch_shape
from sc_jax.env.rollout import rollout
from sc_jax.env.wrappers import Wrapper
from sc_jax.errors import ConfigError

LR_SCHEDULES = ("constant", "linear", "cosine")


def _fail(name: str, allowed: str, value):
    raise ConfigError(f"'agent.hdpo.{name}' must be {allowed}, got {value!r}")


def _check_real(name: str, value, allowed: str, ok) -> None:
    check_number(f"agent.hdpo.{name}", value, allowed, lambda x: math.isfinite(x) and ok(x))


@dataclass(frozen=True)
class HDPOConfig:
    """Hyperparameters (the agent group's `hdpo` entry holds the same keys)."""

    batch_size: int = 64  # demand paths (episodes) per gradient step
    num_updates: int = 4000  # gradient steps
    lr: float = 1e-2
    lr_schedule: str = "cosine"  # constant | linear | cosine (decay to lr * final_lr_fraction)
    final_lr_fraction: float = 0.0
    warmup_updates: int = 0  # linear warm-up of the learning rate from 0
    max_grad_norm: float = 0.0  # > 0: clip the global gradient norm; 0: no clipping
    hidden: Sequence[int] = (64, 64)
    activation: str = "silu"
    context_features: int = 0  # last k observation entries fed to every layer (networks.MLP)
    init_action_fraction: float = 0.2  # initial action = low + fraction * (high - low)
    normalize_obs: bool = True  # statistics of warm-up episodes of the initial policy, frozen
    obs_std_floor: float = 1.0  # normalised obs = (obs - mean) / max(std, floor) (units)
    warmup_batches: int = 1  # warm-up batches (of batch_size episodes) for those statistics
    truncation: int = 0  # > 0: stop the gradient through the state every `truncation` decisions
    cost_scale: float = 1.0  # loss = mean episode cost / cost_scale (matters only with clipping)
    progress_every_s: float = 0.0  # > 0: throttled progress lines from inside jit

    def __post_init__(self):
        """Every field checked; messages "'agent.hdpo.<field>' must be <allowed>, got <value>"."""
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, Sequence) or not self.hidden \
                or not all(is_integer(h) and h >= 1 for h in self.hidden):
            _fail("hidden", "a non-empty list of integers >= 1", self.hidden)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name, minimum in (("batch_size", 1), ("num_updates", 1), ("warmup_updates", 0),
                              ("context_features", 0), ("warmup_batches", 1), ("truncation", 0)):
            check_integer(f"agent.hdpo.{name}", getattr(self, name), minimum)
        _check_real("lr", self.lr, "a finite number > 0", lambda x: x > 0)
        _check_real("final_lr_fraction", self.final_lr_fraction, "a number in [0, 1]", lambda x: 0 <= x <= 1)
        _check_real("max_grad_norm", self.max_grad_norm, "a finite number >= 0 (0: no clipping)", lambda x: x >= 0)
        _check_real("init_action_fraction", self.init_action_fraction, "a number in (0, 1)", lambda x: 0 < x < 1)
        _check_real("obs_std_floor", self.obs_std_floor, "a finite number > 0", lambda x: x > 0)
        _check_real("cost_scale", self.cost_scale, "a finite number > 0", lambda x: x > 0)
        _check_real("progress_every_s", self.progress_every_s, "a finite number >= 0", lambda x: x >= 0)
        check_bool("agent.hdpo.normalize_obs", self.normalize_obs, "true or false")
        check_choice("agent.hdpo.lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("agent.hdpo.activation", self.activation, tuple(sorted(networks.ACTIVATIONS)))

    @classmethod
    def from_dict(cls, d) -> "HDPOConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        reject_unknown_keys(d, names, "agent.hdpo")
        return cls(**dict(d))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


# ------------------------------------------------------------------------------ the relaxed env

def relax(env):
    """The differentiable twin of `env`: the same wrapper stack over `InventoryEnv.replace(
    relaxed=True)` (sc_jax.env.dynamics, "Relaxed step")."""
    if isinstance(env, InventoryEnv):
        return env.replace(relaxed=True)
    if isinstance(env, Wrapper):
        return dataclasses.replace(env, env=relax(env.env))
    raise ConfigError(f"HDPO needs an InventoryEnv or a wrapper over one, got {type(env).__name__}")


@dataclass(frozen=True)
class TruncateGradient(Wrapper):
    """Stops the gradient through the state after every `every` decisions (truncated
    backpropagation through time); forward values are untouched."""

    every: int = 1

    def __post_init__(self):
        check_integer("every", self.every, 1)

    def step_env(self, key, state, action, params=None):
        obs, state, reward, done, info = self.env.step_env(key, state, action, params)
        cut = self.env.step_index(state) % self.every == 0  # the decision about to be taken
        state = jax.tree.map(lambda x: jnp.where(cut, jax.lax.stop_gradient(x), x), state)
        return obs, state, reward, done, info


# ------------------------------------------------------------------------------------ the policy

class Policy(nn.Module):
    """PPO's actor MLP with a deterministic head: the pre-squash action z [.., M]."""

    num_actions: int
    hidden: Sequence[int] = (64, 64)
    activation: str = "silu"
    context_features: int = 0
    init_action_fraction: float = 0.2

    @nn.compact
    def __call__(self, obs):
        h = networks.MLP(self.hidden, self.activation, self.context_features, name="actor")(obs)
        bias = float(np.log(self.init_action_fraction / (1.0 - self.init_action_fraction)))
        return nn.Dense(self.num_actions, kernel_init=nn.initializers.orthogonal(0.01),
                        bias_init=nn.initializers.constant(bias), name="head")(h)


def make_network(config: HDPOConfig, num_actions: int) -> Policy:
    return Policy(num_actions=num_actions, hidden=config.hidden, activation=config.activation,
                  context_features=config.context_features, init_action_fraction=config.init_action_fraction)


def init_policy_params(key, config: HDPOConfig, env) -> dict:
    """{"params": network weights, "obs_stats": RunningStats [D]} for `env`'s shapes."""
    network = make_network(config, env.num_actions)
    return {"params": network.init(key, jnp.zeros((env.obs_size,), jnp.float32)),
            "obs_stats": RunningStats.create((env.obs_size,))}


def normalize(obs_stats: RunningStats, obs, config: HDPOConfig):
    """(obs - mean) / max(std, obs_std_floor), not clipped: a clip would cut the gradient, and
    the floor keeps a feature that hardly varied in the warm-up episodes (e.g. an upstream
    backlog) from being blown up when it varies later. The statistics are constants."""
    if not config.normalize_obs:
        return obs
    stats = jax.lax.stop_gradient(obs_stats)
    return (obs - stats.mean) / jnp.maximum(jnp.sqrt(stats.var), config.obs_std_floor)


@functools.lru_cache(maxsize=64)
def make_policy(config: HDPOConfig, env, deterministic: bool = True, *, relaxed: bool = False):
    """act(policy_params, state, params, key) -> action [M] (one env; `key` unused).

    Cached: equal (config, env) give the same function, so jitted evaluations that take the policy
    as a static argument (sc_jax.evaluate.scenario_costs, the hybrid reproduction's episode) compile
    once for a brain trained here and the same brain loaded back (sc_jax.agents.brains.load_brain).

    Exact env (default): integer actions in env.action_space(params), the floor of the
    continuous action (what the env itself would take of it). `relaxed`: the same values as
    float32 with a straight-through floor (gradient of the continuous action), for the relaxed
    env. `deterministic` is accepted for PPO's signature; the HDPO policy is deterministic."""
    del deterministic
    network = make_network(config, env.num_actions)

    def act(policy_params, state, params, key):
        del key
        obs = normalize(policy_params["obs_stats"], env.get_obs(state, params), config)
        z = network.apply(policy_params["params"], obs)
        space = env.action_space(params)
        low, high = (jnp.asarray(b, jnp.float32) for b in (space.low, space.high))
        value = low + (high - low) * jax.nn.sigmoid(z)
        if relaxed:  # straight-through floor: the exact policy's action, the identity's gradient
            return value + jax.lax.stop_gradient(jnp.floor(value) - value)
        return jnp.clip(jnp.floor(value), low, high).astype(jnp.int32)

    return act


# ---------------------------------------------------------------------------------- training

def check_env(config: HDPOConfig, env, params) -> None:
    """What HDPO needs of `env` and `params`: one product, uncoupled, a context no longer than
    the observation."""
    if batch_shape(params) != ():
        raise ConfigError("HDPO trains on one product: params must have no leading product axis, got "
                          f"batch shape {batch_shape(params)} (take one product: jax.tree.map(lambda x: x[i], params))")
    if getattr(env, "couple_products", False):
        raise ConfigError("HDPO trains on one product: the env must not couple products (couple_products=False)")
    if config.context_features > env.obs_size:
        _fail("context_features", f"an integer in [0, observation size {env.obs_size}]", config.context_features)


def check_differentiable(relaxed_env, params) -> None:
    """A ConfigError when a wrapper's daily controller would cut the pathwise gradient: the
    safety-stock brain's order-up-to controller (sc_jax.policies.order_up_to) must return float
    orders for a relaxed (float) state (it does: a straight-through ceil); a controller that casts
    them to int32 makes the gradient of the episode cost with respect to the safety stock zero,
    and HDPO would train nothing. A guard (shapes only, no compile)."""
    from sc_jax.env.wrappers import SafetyStockEnv
    from sc_jax.policies.order_up_to import order_up_to

    env = relaxed_env
    while isinstance(env, Wrapper) and not isinstance(env, SafetyStockEnv):
        env = env.env
    if not isinstance(env, SafetyStockEnv):
        return
    state = jax.eval_shape(lambda: env.unwrapped.reset(jax.random.PRNGKey(0), params)[1])
    orders = jax.eval_shape(lambda s: order_up_to(jnp.zeros((env.num_actions,), jnp.float32), s, params), state)
    if not jnp.issubdtype(orders.dtype, jnp.floating):
        raise ConfigError("HDPO cannot train this safety-stock brain: sc_jax.policies.order_up_to returns "
                          f"{orders.dtype} orders for a relaxed (float) state, so the gradient with respect to "
                          "the safety stock is zero; the controller must keep the state's float dtype "
                          "(a straight-through ceil: docs/hdpo.md, 'Safety-stock brain')")


def _learning_rate(config: HDPOConfig):
    decay_steps = max(config.num_updates - config.warmup_updates, 1)
    end = config.lr * config.final_lr_fraction
    if config.lr_schedule == "constant":
        decay = optax.constant_schedule(config.lr)
    elif config.lr_schedule == "linear":
        decay = optax.linear_schedule(config.lr, end, decay_steps)
    else:
        decay = optax.cosine_decay_schedule(config.lr, decay_steps, alpha=config.final_lr_fraction)
    if config.warmup_updates == 0:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, config.lr, config.warmup_updates), decay],
                                [config.warmup_updates])


def _observations(env, states, params, params_batched: bool):
    """Observations [T, B, D] of rollout-collected states [T, B]."""
    per_batch = jax.vmap(env.get_obs, in_axes=(0, 0 if params_batched else None))
    return jax.vmap(per_batch, in_axes=(0, None))(states, params)


def make_train(config: HDPOConfig, env, params: Any = None):
    """train(key, env_params=None) -> (policy_params, metrics {name: [num_updates]}); jit- and
    vmap-able (experiments/train.py: jax.vmap(train, (0, None))(seed keys, params)).

    env: an InventoryEnv or a wrapper (one decision = one `env.step_env`), trained through its
    relaxed twin (`relax`); params: the base EnvParams of one product (default
    env.default_params); each episode runs under `env.sample_params(key, params)`.
    metrics: episode_return (the batch's mean episode reward, exact: the relaxed forward pass
    is the exact env's), grad_norm, lr, timesteps (decisions so far)."""
    base = env.default_params if params is None else params
    if base is None:
        raise ConfigError("make_train needs params: make_train(config, env, params) with "
                          "env, params = sc_jax.make(...)")
    check_env(config, env, base)
    action_bounds(env, base)  # params must be concrete (a ConfigError when called under jit)
    relaxed = relax(env)
    check_differentiable(relaxed, base)
    train_env = TruncateGradient(relaxed, config.truncation) if config.truncation else relaxed
    B, T = config.batch_size, env.episode_length
    act = make_policy(config, relaxed, relaxed=True)
    tx = optax.adam(_learning_rate(config))
    if config.max_grad_norm > 0:
        tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), tx)
    schedule = _learning_rate(config)
    randomised = _randomises_params(env)
    report = None
    if config.progress_every_s > 0:
        from sc_jax.runlog import progress_callback

        report = progress_callback(config.progress_every_s, prefix="[train hdpo]")

    def episode_params(key, base):
        """The batch's EnvParams: shared `base`, or one sampled scenario per episode [B]."""
        if not randomised:
            return base
        return jax.vmap(env.sample_params, in_axes=(0, None))(jax.random.split(key, B), base)

    def loss_fn(weights, obs_stats, key, base):
        k_params, k_paths = jax.random.split(key)
        policy_params = {"params": weights, "obs_stats": obs_stats}
        rewards, _, _ = rollout(train_env, act, policy_params, episode_params(k_params, base),
                                jax.random.split(k_paths, B))
        return jnp.mean(-rewards) / config.cost_scale, jnp.mean(rewards)

    def warmup_stats(weights, key, base):
        """Observation statistics of `warmup_batches` batches of the initial policy."""
        stats = RunningStats.create((env.obs_size,))
        if not config.normalize_obs:
            return stats
        policy_params = {"params": weights, "obs_stats": stats}
        for k in jax.random.split(key, config.warmup_batches):
            k_params, k_paths = jax.random.split(k)
            ep = episode_params(k_params, base)
            _, states, _ = rollout(relaxed, act, policy_params, ep, jax.random.split(k_paths, B),
                                   collect=lambda tr: tr.state)
            stats = stats.update(_observations(relaxed, states, ep, randomised))
        return stats

    def update(carry, update_index, base):
        weights, opt_state, obs_stats, key = carry
        key, k = jax.random.split(key)
        (_, episode_return), grads = jax.value_and_grad(loss_fn, has_aux=True)(weights, obs_stats, k, base)
        updates, opt_state = tx.update(grads, opt_state, weights)
        weights = optax.apply_updates(weights, updates)
        metrics = {"episode_return": episode_return, "grad_norm": optax.global_norm(grads),
                   "lr": schedule(update_index)}
        if report is not None:
            jax.debug.callback(report, update_index + 1, config.num_updates, episode_return=episode_return)
        return (weights, opt_state, obs_stats, key), metrics

    def train(key, env_params=None):
        """`env_params`: the base params of this run (default: make_train's), traced, so a batch of
        scenarios vmaps through one compilation; shapes and action bounds must match."""
        env_base = base if env_params is None else env_params
        k_init, k_warm, k_train = jax.random.split(key, 3)
        weights = init_policy_params(k_init, config, env)["params"]
        obs_stats = warmup_stats(weights, k_warm, env_base)
        carry = (weights, tx.init(weights), obs_stats, k_train)
        (weights, _, obs_stats, _), metrics = jax.lax.scan(partial(update, base=env_base), carry,
                                                           jnp.arange(config.num_updates))
        metrics["timesteps"] = (jnp.arange(config.num_updates) + 1) * (B * T)
        return {"params": weights, "obs_stats": obs_stats}, metrics

    train.num_updates = config.num_updates
    return train


def _randomises_params(env) -> bool:
    """Whether `env.sample_params` draws a scenario per episode (the safety-stock wrapper)."""
    from sc_jax.env.wrappers import SafetyStockEnv

    while isinstance(env, Wrapper):
        if isinstance(env, SafetyStockEnv):
            return True
        env = env.env
    return False


__all__ = ["HDPOConfig", "LR_SCHEDULES", "relax", "TruncateGradient", "Policy", "make_network",
           "init_policy_params", "normalize", "make_policy", "check_env", "check_differentiable", "make_train"]
