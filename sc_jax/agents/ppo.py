"""PPO inside one jitted function (PureJaxRL style): `make_train(config, env, params) -> train(key)`.

`train(key)` runs the whole training (rollouts, GAE, epochs, minibatches) as nested `lax.scan`s, so
`jax.vmap(train)(keys)` trains several seeds at once and a GPU sweep is just a bigger batch.

`env` is the environment object (sc_jax.env.InventoryEnv, or a wrapper such as
sc_jax.env.wrappers.SafetyStockEnv); PPO uses its gymnax methods (`reset`, `step_env`, `get_obs`,
`action_space`) and three more: `sample_params(key, params)` (the episode's scenario),
`episode_length` and `step_index(state)` (the decision index the critic sees).

Episodes here have a fixed length (30 OR-Gym periods, or 20 safety-stock decisions of the hybrid
wrapper), so one update = one synchronous episode in each of `num_envs` environments: every env is
reset at the start of the update with a fresh key (and, for a randomised scenario, freshly sampled
EnvParams: cost ratio, sigma), and the last step is terminal (no bootstrap past the horizon).

Choices, from the probe (docs/ppo.md):
- gamma = 1: OR-Gym rewards already carry alpha**n; discounting again loses ~15 reward.
- observation normalisation: running mean/var (statistics live in the policy params and are saved
  with a checkpoint), initialised from one warm-up episode of the initial policy;
- reward normalisation: rewards are divided by the running std of the returns-to-go, which puts
  OR-Gym (returns ~500) and the hybrid costs (returns ~1..100, varying 100x with the cost ratio)
  on the same scale for the critic;
- `critic_time`: the critic also sees a one-hot of the decision index. The actor keeps its
  observation (OR-Gym's 33 numbers stay 33 numbers), but the value of a finite-horizon state
  depends on the time left, and a critic that knows it stabilises the OR-Gym-observation runs.

Shapes: T = decisions per episode, N = num_envs, M = stages, D = observation size.
"""
from __future__ import annotations

import dataclasses
import math
from functools import partial
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training.train_state import TrainState

from sc_jax.agents import networks
from sc_jax.agents.normalize import RunningStats
from sc_jax.env.params import batch_shape
from sc_jax.checks import check_bool, check_choice, check_integer, check_number, is_integer, reject_unknown_keys
from sc_jax.errors import ConfigError


def _fail(name: str, allowed: str, value):
    raise ConfigError(f"'agent.ppo.{name}' must be {allowed}, got {value!r}")


def _check_int(name: str, value, minimum: int) -> None:
    check_integer(f"agent.ppo.{name}", value, minimum)


def _check_real(name: str, value, allowed: str, ok) -> None:
    """A finite real number (not a bool) for which `ok` holds."""
    check_number(f"agent.ppo.{name}", value, allowed, lambda x: math.isfinite(x) and ok(x))


@dataclass(frozen=True)
class PPOConfig:
    """Hyperparameters (the agent's Hydra group holds the same keys)."""

    num_envs: int = 256
    total_timesteps: int = 2_000_000  # decisions (OR-Gym: periods; hybrid: safety-stock choices)
    update_epochs: int = 4
    num_minibatches: int = 4
    lr: float = 1e-3
    anneal_lr: bool = True
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"
    head: str = "gaussian"  # gaussian (c * sigmoid squash, rounded) | categorical (num_bins levels)
    num_bins: int = 21
    init_log_std: float = 0.0
    state_dependent_std: bool = False  # gaussian head: log-std an output of the actor (networks.py)
    context_features: int = 0  # last k observation entries fed to every actor layer (networks.MLP)
    normalize_obs: bool = True
    normalize_reward: bool = True
    reward_scale: float = 1.0
    critic_time: bool = True
    progress_every_s: float = 0.0  # > 0: throttled progress lines from inside jit

    def __post_init__(self):
        """Every field checked; messages "'agent.ppo.<field>' must be <allowed>, got <value>"."""
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, Sequence) or not self.hidden \
                or not all(is_integer(h) and h >= 1 for h in self.hidden):
            _fail("hidden", "a non-empty list of integers >= 1", self.hidden)
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        for name in ("num_envs", "update_epochs", "num_minibatches"):
            _check_int(name, getattr(self, name), 1)
        _check_int("context_features", self.context_features, 0)
        _check_int("num_bins", self.num_bins, 2)
        if not is_integer(self.total_timesteps):
            _fail("total_timesteps", "an integer", self.total_timesteps)  # the minimum: make_train
        if self.num_envs % self.num_minibatches:
            _fail("num_envs", f"divisible by 'agent.ppo.num_minibatches' ({self.num_minibatches})", self.num_envs)
        _check_real("lr", self.lr, "a finite number > 0", lambda x: x > 0)
        _check_real("gamma", self.gamma, "a number in (0, 1]", lambda x: 0 < x <= 1)
        _check_real("gae_lambda", self.gae_lambda, "a number in [0, 1]", lambda x: 0 <= x <= 1)
        _check_real("clip_eps", self.clip_eps, "a finite number > 0", lambda x: x > 0)
        _check_real("max_grad_norm", self.max_grad_norm, "a finite number > 0", lambda x: x > 0)
        _check_real("reward_scale", self.reward_scale, "a finite number > 0", lambda x: x > 0)
        for name in ("ent_coef", "vf_coef", "progress_every_s"):
            _check_real(name, getattr(self, name), "a finite number >= 0", lambda x: x >= 0)
        _check_real("init_log_std", self.init_log_std, "a finite number", lambda x: True)
        for name in ("anneal_lr", "state_dependent_std", "normalize_obs", "normalize_reward", "critic_time"):
            check_bool(f"agent.ppo.{name}", getattr(self, name), "true or false")
        check_choice("agent.ppo.head", self.head, tuple(networks.HEADS))
        check_choice("agent.ppo.activation", self.activation, tuple(sorted(networks.ACTIVATIONS)))

    @classmethod
    def from_dict(cls, d) -> "PPOConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        reject_unknown_keys(d, names, "agent")
        return cls(**dict(d))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d


class Transition(NamedTuple):
    actor_obs: jnp.ndarray  # [T, N, D] normalised
    critic_obs: jnp.ndarray  # [T, N, D (+T)]
    raw_action: jnp.ndarray  # [T, N, M]
    log_prob: jnp.ndarray  # [T, N]
    value: jnp.ndarray  # [T, N]
    reward: jnp.ndarray  # [T, N] raw env reward
    done: jnp.ndarray  # [T, N]


def make_network(config: PPOConfig, num_actions: int) -> networks.ActorCritic:
    return networks.ActorCritic(num_stages=num_actions, hidden=config.hidden,
                                activation=config.activation, head=config.head,
                                num_bins=config.num_bins, init_log_std=config.init_log_std,
                                state_dependent_std=config.state_dependent_std,
                                context_features=config.context_features)


def critic_input(actor_obs, time_index, config: PPOConfig, episode_length: int):
    if not config.critic_time:
        return actor_obs
    return jnp.concatenate([actor_obs, jax.nn.one_hot(time_index, episode_length)], axis=-1)


def init_policy_params(key, config: PPOConfig, env) -> dict:
    """{"params": network weights, "obs_stats": RunningStats [D]} for `env`'s shapes."""
    network = make_network(config, env.num_actions)
    actor = jnp.zeros((env.obs_size,), jnp.float32)
    critic = critic_input(actor, jnp.zeros((), jnp.int32), config, env.episode_length)
    return {"params": network.init(key, actor, critic),
            "obs_stats": RunningStats.create((env.obs_size,))}


def make_policy(config: PPOConfig, env, deterministic: bool = True):
    """act(policy_params, state, params, key) -> integer action [M] in env.action_space(params)
    (one env; `key` unused when deterministic)."""
    network = make_network(config, env.num_actions)

    def act(policy_params, state, params, key):
        obs = policy_params["obs_stats"].normalize(env.get_obs(state, params), config.normalize_obs)
        critic = critic_input(obs, env.step_index(state), config, env.episode_length)
        dist, _ = network.apply(policy_params["params"], obs, critic)
        raw = (networks.deterministic_raw(dist, config.head) if deterministic
               else networks.sample_raw(key, dist, config.head))
        space = env.action_space(params)
        return networks.to_action(raw, space.low, space.high, config.head, config.num_bins)

    return act


def action_bounds(env, params) -> tuple[tuple, tuple]:
    """(low, high) of env.action_space(params) as Python tuples [M] (params must be concrete)."""
    space = env.action_space(params)
    try:
        low, high = (np.broadcast_to(np.asarray(b), space.shape) for b in (space.low, space.high))
    except jax.errors.TracerArrayConversionError:
        raise ConfigError("make_train needs concrete params (call it outside jit; the action bounds "
                          "become constants of the training function)") from None
    return tuple(x.item() for x in low), tuple(x.item() for x in high)


def check_env(config: PPOConfig, env, params) -> None:
    """What PPO needs of `env` and `params`: one product, uncoupled, enough decisions for one
    update, a context no longer than the observation."""
    if batch_shape(params) != ():
        raise ConfigError("PPO trains on one product: params must have no leading product axis, got "
                          f"batch shape {batch_shape(params)} (take one product: jax.tree.map(lambda x: x[i], params))")
    if getattr(env, "couple_products", False):
        raise ConfigError("PPO trains on one product: the env must not couple products (couple_products=False)")
    if config.context_features > env.obs_size:
        _fail("context_features", f"an integer in [0, observation size {env.obs_size}]", config.context_features)
    minimum = config.num_envs * env.episode_length
    if config.total_timesteps < minimum:
        _fail("total_timesteps", f"an integer >= num_envs x episode length = {config.num_envs} x "
              f"{env.episode_length} = {minimum} (one update)", config.total_timesteps)


def gae(values, rewards, dones, gamma: float, lam: float):
    """Advantages and value targets [T, N]; the step after a done (and after T) is worth 0."""

    def backward(carry, x):
        advantage, next_value = carry
        value, reward, done = x
        not_done = 1.0 - done
        delta = reward + gamma * next_value * not_done - value
        advantage = delta + gamma * lam * not_done * advantage
        return (advantage, value), advantage

    zeros = jnp.zeros_like(values[0])
    _, advantages = jax.lax.scan(backward, (zeros, zeros), (values, rewards, dones), reverse=True)
    return advantages, advantages + values


def make_train(config: PPOConfig, env, params: Any = None):
    """train(key) -> (policy_params, metrics {name: [num_updates]}); jit- and vmap-able.

    env: an InventoryEnv or a wrapper (one decision = one `env.step_env`); params: the base
    EnvParams of one product (default env.default_params); each episode runs under
    `env.sample_params(key, params)`. Checks the config against the env (ConfigError)."""
    base = env.default_params if params is None else params  # (`params` below: network weights)
    if base is None:
        raise ConfigError("make_train needs params: make_train(config, env, params) with "
                          "env, params = sc_jax.make(...)")
    check_env(config, env, base)
    T, N, M = env.episode_length, config.num_envs, env.num_actions
    num_updates = max(config.total_timesteps // (T * N), 1)
    minibatch = T * N // config.num_minibatches
    network = make_network(config, M)
    low, high = (np.asarray(b) for b in action_bounds(env, base))
    report = None
    if config.progress_every_s > 0:
        from sc_jax.runlog import progress_callback

        report = progress_callback(config.progress_every_s)

    def lr_schedule(count):
        frac = 1.0 - (count // (config.num_minibatches * config.update_epochs)) / num_updates
        return config.lr * frac

    tx = optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                     optax.adam(lr_schedule if config.anneal_lr else config.lr, eps=1e-5))

    def rollout(params, obs_stats, key, base):
        """One synchronous episode in N envs: (Transition [T, N], raw observations [T, N, D])."""
        k_params, k_reset, k_steps = jax.random.split(key, 3)
        env_params = jax.vmap(env.sample_params, in_axes=(0, None))(jax.random.split(k_params, N), base)
        obs, state = jax.vmap(env.reset)(jax.random.split(k_reset, N), env_params)

        def one_step(carry, key):
            obs, state = carry
            k_act, k_env = jax.random.split(key)
            actor = obs_stats.normalize(obs, config.normalize_obs)
            critic = critic_input(actor, jax.vmap(env.step_index)(state), config, T)
            dist, value = network.apply(params, actor, critic)
            raw = networks.sample_raw(k_act, dist, config.head)
            logp = networks.log_prob(dist, raw, config.head)
            action = networks.to_action(raw, low, high, config.head, config.num_bins)
            obs2, state2, reward, done, _ = jax.vmap(env.step_env)(jax.random.split(k_env, N), state,
                                                               action, env_params)
            tr = Transition(actor, critic, raw, logp, value, reward.astype(jnp.float32),
                            done.astype(jnp.float32))
            return (obs2, state2), (tr, obs)

        _, (traj, raw_obs) = jax.lax.scan(one_step, (obs, state), jax.random.split(k_steps, T))
        return traj, raw_obs

    def loss_fn(params, batch, advantages, targets):
        dist, value = network.apply(params, batch.actor_obs, batch.critic_obs)
        logp = networks.log_prob(dist, batch.raw_action, config.head)
        ratio = jnp.exp(logp - batch.log_prob)
        adv = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
        actor_loss = -jnp.mean(jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - config.clip_eps,
                                                                   1 + config.clip_eps) * adv))
        v_clipped = batch.value + jnp.clip(value - batch.value, -config.clip_eps, config.clip_eps)
        value_loss = 0.5 * jnp.mean(jnp.maximum((value - targets) ** 2, (v_clipped - targets) ** 2))
        ent = jnp.mean(networks.entropy(dist, config.head))
        total = actor_loss + config.vf_coef * value_loss - config.ent_coef * ent
        approx_kl = jnp.mean((ratio - 1) - jnp.log(ratio))
        return total, (actor_loss, value_loss, ent, approx_kl)

    def update(carry, update_index, base):
        train_state, obs_stats, ret_stats, key = carry
        key, k_roll, k_perm = jax.random.split(key, 3)
        traj, raw_obs = rollout(train_state.params, obs_stats, k_roll, base)

        # returns-to-go (gamma) of the raw rewards: their running std scales the rewards
        def rtg_step(next_return, x):
            reward, done = x
            g = reward + config.gamma * next_return * (1.0 - done)
            return g, g

        _, returns_to_go = jax.lax.scan(rtg_step, jnp.zeros((N,)), (traj.reward, traj.done), reverse=True)
        ret_stats = ret_stats.update(returns_to_go)
        rewards = ret_stats.scale(traj.reward, config.normalize_reward) * config.reward_scale
        advantages, targets = gae(traj.value, rewards, traj.done, config.gamma, config.gae_lambda)

        def epoch(state_and_key, _):
            train_state, key = state_and_key
            key, k = jax.random.split(key)
            perm = jax.random.permutation(k, T * N)
            flat = jax.tree.map(lambda x: x.reshape((T * N,) + x.shape[2:]), (traj, advantages, targets))
            shuffled = jax.tree.map(lambda x: x[perm].reshape((config.num_minibatches, minibatch) + x.shape[1:]), flat)

            def minibatch_step(train_state, mb):
                batch, adv, tgt = mb
                grads, aux = jax.grad(loss_fn, has_aux=True)(train_state.params, batch, adv, tgt)
                return train_state.apply_gradients(grads=grads), aux

            train_state, aux = jax.lax.scan(minibatch_step, train_state, shuffled)
            return (train_state, key), aux

        (train_state, _), aux = jax.lax.scan(epoch, (train_state, k_perm), None, config.update_epochs)
        obs_stats = obs_stats.update(raw_obs) if config.normalize_obs else obs_stats
        actor_loss, value_loss, ent, kl = (jnp.mean(a) for a in aux)
        metrics = {
            "episode_return": jnp.mean(jnp.sum(traj.reward, axis=0)),
            "actor_loss": actor_loss, "value_loss": value_loss, "entropy": ent, "approx_kl": kl,
        }
        if report is not None:
            jax.debug.callback(report, update_index + 1, num_updates,
                               episode_return=metrics["episode_return"])
        return (train_state, obs_stats, ret_stats, key), metrics

    def train(key, env_params=None):
        """`env_params`: the base params of this run (default: make_train's), traced, so a batch of
        scenarios (cost ratio, sigma) vmaps through one compilation; shapes and action bounds
        must match make_train's params."""
        env_base = base if env_params is None else env_params
        k_init, k_warm, k_train = jax.random.split(key, 3)
        init = init_policy_params(k_init, config, env)
        train_state = TrainState.create(apply_fn=network.apply, params=init["params"], tx=tx)
        obs_stats = init["obs_stats"]
        if config.normalize_obs:  # warm-up episode of the initial policy: starting statistics
            _, raw_obs = rollout(train_state.params, obs_stats, k_warm, env_base)
            obs_stats = RunningStats.create((env.obs_size,)).update(raw_obs)
        carry = (train_state, obs_stats, RunningStats.create(()), k_train)
        (train_state, obs_stats, _, _), metrics = jax.lax.scan(partial(update, base=env_base), carry,
                                                               jnp.arange(num_updates))
        metrics["timesteps"] = (jnp.arange(num_updates) + 1) * (T * N)
        return {"params": train_state.params, "obs_stats": obs_stats}, metrics

    train.num_updates = num_updates
    return train


__all__ = ["PPOConfig", "Transition", "make_network", "critic_input", "init_policy_params", "make_policy",
           "action_bounds", "check_env", "gae", "make_train"]
