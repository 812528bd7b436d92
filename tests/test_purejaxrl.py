"""A PureJaxRL-shaped PPO written against the public API only: does a third-party agent learn?

Nothing from sc_jax's internals: `sc_jax.make`, the `LogWrapper` / `FlattenObservationWrapper`,
`env.reset`, `env.step` (auto-reset, N parallel envs with vmap), `env.observation_space(params)`
and `env.action_space(params)`. The agent (PureJaxRL's continuous PPO, shrunk): a Flax
actor-critic MLP, a Gaussian over pre-squash actions mapped into the action box by a sigmoid,
GAE, the clipped PPO loss, optax; the whole training is one jitted function, a `lax.scan` over
updates. OR-Gym v1 (lost sales): the initial policy orders about half the capacity every period
(far above the Poisson(20) demand) and must learn to order less.
"""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import linen as nn
from flax.linen.initializers import constant, orthogonal
from flax.training.train_state import TrainState

import sc_jax
from sc_jax.env.wrappers import FlattenObservationWrapper, LogWrapper

NUM_ENVS = 32
NUM_STEPS = 30  # one OR-Gym episode per update and env (auto-reset at the end)
NUM_UPDATES = 60
UPDATE_EPOCHS = 4
NUM_MINIBATCHES = 4
LR = 3e-3
GAMMA, GAE_LAMBDA, CLIP_EPS, VF_COEF, ENT_COEF, MAX_GRAD_NORM = 0.99, 0.95, 0.2, 0.5, 0.0, 0.5
REWARD_SCALE = 0.1  # per-step rewards are O(10); the critic learns returns of O(10) then
WINDOW = 10  # updates averaged at the start and the end


class ActorCritic(nn.Module):
    action_dim: int

    @nn.compact
    def __call__(self, x):
        a = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
        a = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(a))
        mean = nn.Dense(self.action_dim, kernel_init=orthogonal(0.01), bias_init=constant(0.0))(a)
        log_std = self.param("log_std", nn.initializers.zeros, (self.action_dim,))
        c = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(x))
        c = nn.tanh(nn.Dense(64, kernel_init=orthogonal(np.sqrt(2)), bias_init=constant(0.0))(c))
        value = nn.Dense(1, kernel_init=orthogonal(1.0), bias_init=constant(0.0))(c)
        return mean, log_std, jnp.squeeze(value, -1)


def gaussian_log_prob(u, mean, log_std):
    return jnp.sum(-0.5 * ((u - mean) / jnp.exp(log_std)) ** 2 - log_std - 0.5 * jnp.log(2 * jnp.pi), -1)


def make_train():
    env, env_params = sc_jax.make("orgym_v1")
    env = LogWrapper(FlattenObservationWrapper(env))
    obs_dim = env.observation_space(env_params).shape[0]
    space = env.action_space(env_params)
    low, high = jnp.asarray(space.low, jnp.float32), jnp.asarray(space.high, jnp.float32)
    obs_scale = jnp.max(high)  # on hand and orders are of the order of the capacities
    network = ActorCritic(space.shape[0])
    vstep = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def squash(u):
        """Pre-squash sample -> an order in the action box [low, high]."""
        return low + (high - low) * jax.nn.sigmoid(u)

    def train(key):
        key, k_init, k_reset = jax.random.split(key, 3)
        net_params = network.init(k_init, jnp.zeros((obs_dim,)))
        tx = optax.chain(optax.clip_by_global_norm(MAX_GRAD_NORM), optax.adam(LR, eps=1e-5))
        train_state = TrainState.create(apply_fn=network.apply, params=net_params, tx=tx)
        obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, NUM_ENVS), env_params)

        def update(runner, _):
            def env_step(runner, _):
                train_state, env_state, obs, key = runner
                key, k_act, k_step = jax.random.split(key, 3)
                mean, log_std, value = network.apply(train_state.params, obs / obs_scale)
                u = mean + jnp.exp(log_std) * jax.random.normal(k_act, mean.shape)
                log_prob = gaussian_log_prob(u, mean, log_std)
                next_obs, env_state, reward, done, info = vstep(
                    jax.random.split(k_step, NUM_ENVS), env_state, squash(u), env_params)
                transition = (done, u, value, reward * REWARD_SCALE, log_prob, obs,
                              info["returned_episode_returns"], info["returned_episode"])
                return (train_state, env_state, next_obs, key), transition

            runner, traj = jax.lax.scan(env_step, runner, None, NUM_STEPS)
            train_state, env_state, last_obs, key = runner
            done, u, value, reward, log_prob, obs, returns, finished = traj
            last_value = network.apply(train_state.params, last_obs / obs_scale)[2]

            def gae_step(carry, t):
                gae, next_value = carry
                done, value, reward = t
                delta = reward + GAMMA * next_value * (1 - done) - value
                gae = delta + GAMMA * GAE_LAMBDA * (1 - done) * gae
                return (gae, value), gae

            _, advantages = jax.lax.scan(gae_step, (jnp.zeros_like(last_value), last_value),
                                         (done, value, reward), reverse=True)
            targets = advantages + value

            def epoch(carry, _):
                train_state, key = carry
                key, k_perm = jax.random.split(key)
                batch = jax.tree.map(lambda x: x.reshape((NUM_STEPS * NUM_ENVS,) + x.shape[2:]),
                                     (obs, u, log_prob, value, advantages, targets))
                perm = jax.random.permutation(k_perm, NUM_STEPS * NUM_ENVS)
                minibatches = jax.tree.map(
                    lambda x: x[perm].reshape((NUM_MINIBATCHES, -1) + x.shape[1:]), batch)

                def minibatch(train_state, mb):
                    obs, u, old_log_prob, old_value, adv, targets = mb

                    def loss_fn(params):
                        mean, log_std, value = network.apply(params, obs / obs_scale)
                        log_prob = gaussian_log_prob(u, mean, log_std)
                        value_clipped = old_value + jnp.clip(value - old_value, -CLIP_EPS, CLIP_EPS)
                        value_loss = 0.5 * jnp.maximum((value - targets) ** 2,
                                                       (value_clipped - targets) ** 2).mean()
                        ratio = jnp.exp(log_prob - old_log_prob)
                        a = (adv - adv.mean()) / (adv.std() + 1e-8)
                        actor_loss = -jnp.minimum(ratio * a, jnp.clip(ratio, 1 - CLIP_EPS, 1 + CLIP_EPS) * a).mean()
                        entropy = jnp.sum(log_std + 0.5 * jnp.log(2 * jnp.pi * jnp.e))
                        return actor_loss + VF_COEF * value_loss - ENT_COEF * entropy

                    grads = jax.grad(loss_fn)(train_state.params)
                    return train_state.apply_gradients(grads=grads), None

                train_state, _ = jax.lax.scan(minibatch, train_state, minibatches)
                return (train_state, key), None

            (train_state, key), _ = jax.lax.scan(epoch, (train_state, key), None, UPDATE_EPOCHS)
            # the mean return of the episodes that finished in this update
            episode_return = jnp.sum(returns * finished) / jnp.maximum(jnp.sum(finished), 1)
            return (train_state, env_state, last_obs, key), episode_return

        runner = (train_state, env_state, obs, key)
        runner, episode_returns = jax.lax.scan(update, runner, None, NUM_UPDATES)
        return episode_returns

    def random_policy(key):
        """Mean return of NUM_ENVS episodes of uniform random actions in the action space."""
        k_reset, k_act, k_step = jax.random.split(key, 3)
        _, env_state = jax.vmap(env.reset, in_axes=(0, None))(jax.random.split(k_reset, NUM_ENVS), env_params)

        def env_step(env_state, keys):
            actions = jax.vmap(space.sample)(jax.random.split(keys[0], NUM_ENVS))
            _, env_state, _, _, info = vstep(jax.random.split(keys[1], NUM_ENVS), env_state, actions, env_params)
            return env_state, info["returned_episode_returns"]

        keys = jax.random.split(k_step, 2 * NUM_STEPS).reshape(NUM_STEPS, 2, -1)
        _, returns = jax.lax.scan(env_step, env_state, keys)
        return returns[-1].mean()

    return jax.jit(train), jax.jit(random_policy)


@pytest.fixture(scope="module")
def trained():
    train, random_policy = make_train()
    returns = np.asarray(train(jax.random.PRNGKey(42)))
    return returns, float(random_policy(jax.random.PRNGKey(7)))


def test_ppo_learns_on_orgym_v1(trained):
    returns, random_return = trained
    assert returns.shape == (NUM_UPDATES,) and np.all(np.isfinite(returns))
    first, last = returns[:WINDOW].mean(), returns[-WINDOW:].mean()
    print(f"random {random_return:.1f}  first {first:.1f}  last {last:.1f}")
    assert last > first + 150.0  # seeds 0..5: first ~125-160, last ~365-400
    assert last > random_return + 200.0  # uniform random orders: about -20..10
