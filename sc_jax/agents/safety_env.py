"""Brain 2 (the hybrid's brain): a wrapper env whose action is a safety stock per stage.

One macro step = `action_frequency` days (default 10) of the hybrid chain under `lax.scan`: every
day the JAX order-up-to controller (sc_jax.policies.order_up_to) orders up to the forecast over
the lead time + the chosen safety stock [M]. With the hybrid preset (p = 0, r = 0, alpha = 1) the
macro reward is minus the cost (holding + missed sales) of those days. A 200-day episode is 20
decisions. sc_jax.env is used unchanged.

Randomised scenarios (per episode, inside jit): the cost ratio (fixed, or log-uniform on
[ratio_low, ratio_high] for the ratio-conditioned brain; hybrid costs k_j = price_j / 10,
h_j = k_j / ratio, so only `holding_cost` and `cost_ratio` change) and sigma_max (uniform integer
in [sigma_low, sigma_high], forecast parameter 6). The observation is the env's "rich" one:
inventory, pipeline, forecast mean and sigma window, lead times, log10 cost ratio.

Shapes: M stages, S paths, G static candidates.
"""
from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.agents.ppo import TrainEnv
from sc_jax.env import EnvParams, observation_size, observe, reset, step_env
from sc_jax.errors import ConfigError
from sc_jax.policies import order_up_to

SIGMA_INDEX = 6  # position of sigma_max in EnvParams.forecast


def with_scenario(base: EnvParams, cost_ratio, sigma_max) -> EnvParams:
    """`base` (a hybrid preset, one SKU) with another cost ratio and sigma_max (traced scalars ok)."""
    ratio = jnp.asarray(cost_ratio, jnp.float32)
    M = base.num_stages
    return base.replace(holding_cost=base.shortage_cost[:M] / ratio, cost_ratio=ratio,
                        forecast=base.forecast.at[SIGMA_INDEX].set(jnp.asarray(sigma_max, jnp.float32)))


def macro_step(key, state, safety_stock, params: EnvParams, action_frequency: int):
    """`action_frequency` days under order-up-to(safety_stock [M]): (obs, state, reward, done, info)."""

    def day(state, k):
        orders = order_up_to(safety_stock, state, params)
        _, state, reward, _, info = step_env(k, state, orders, params)
        return state, (reward, info.holding_cost, info.shortage_cost)

    state, (reward, holding, shortage) = jax.lax.scan(day, state, jax.random.split(key, action_frequency))
    done = state.time >= params.periods
    info = {"holding_cost": holding.sum(), "shortage_cost": shortage.sum()}
    return observe(state, params), state, reward.sum(), done, info


def make_safety_env(base: EnvParams, *, action_frequency: int = 10, safety_low: int = 0,
                    safety_high: int = 10, ratio_low: float | None = None,
                    ratio_high: float | None = None, sigma_low: int = 1, sigma_high: int = 10,
                    reward_ratio_power: float = 0.0) -> TrainEnv:
    """TrainEnv of safety-stock decisions. ratio_low/high None: keep `base`'s cost ratio.

    reward_ratio_power: the training reward is multiplied by (cost_ratio / 100) ** power. Costs
    fall ~10x from ratio 10 to 1000, so in a ratio-conditioned batch the low-ratio episodes would
    dominate the (batch-normalised) advantages; a positive constant per episode changes no
    episode's optimal policy, and power ~0.5 evens the scales. Evaluation always reports raw costs."""
    if base.initial_inventory.ndim != 1:
        raise ConfigError("the safety-stock brain trains on one SKU: env params must have no product axis")
    if base.demand_kind != "forecast" or base.observation_kind != "rich":
        raise ConfigError("the safety-stock brain needs the hybrid preset (demand 'forecast', "
                          f"observation 'rich'), got demand {base.demand_kind!r}, observation {base.observation_kind!r}")
    if action_frequency < 1 or base.periods % action_frequency:
        raise ConfigError(f"action_frequency ({action_frequency}) must divide periods ({base.periods})")
    if not 0 <= safety_low < safety_high:
        raise ConfigError(f"safety range must satisfy 0 <= safety_low < safety_high, got [{safety_low}, {safety_high}]")
    if not 1 <= sigma_low <= sigma_high:
        raise ConfigError(f"sigma range must satisfy 1 <= sigma_low <= sigma_high, got [{sigma_low}, {sigma_high}]")
    randomise_ratio = ratio_low is not None and ratio_high is not None
    if randomise_ratio and not 0 < ratio_low <= ratio_high:
        raise ConfigError(f"ratio range must satisfy 0 < ratio_low <= ratio_high, got [{ratio_low}, {ratio_high}]")
    M = base.num_stages

    def sample_params(key):
        k_ratio, k_sigma = jax.random.split(key)
        if randomise_ratio:
            ratio = jnp.exp(jax.random.uniform(k_ratio, (), minval=np.log(ratio_low), maxval=np.log(ratio_high)))
        else:
            ratio = base.cost_ratio
        sigma = jax.random.randint(k_sigma, (), sigma_low, sigma_high + 1).astype(jnp.float32)
        return with_scenario(base, ratio, sigma)

    def step(key, state, action, params):
        obs, state, reward, done, info = macro_step(key, state, action, params, action_frequency)
        if reward_ratio_power:
            reward = reward * (params.cost_ratio / 100.0) ** reward_ratio_power
        return obs, state, reward, done, info

    return TrainEnv(
        reset=reset, step=step,
        observe=observe, sample_params=sample_params,
        time_index=lambda state: jnp.minimum(state.time // action_frequency, base.periods // action_frequency - 1),
        episode_length=base.periods // action_frequency, obs_size=observation_size(base),
        action_low=(safety_low,) * M, action_high=(safety_high,) * M)


def episode_costs(decide, policy_params, params: EnvParams, keys, action_frequency: int = 10):
    """Episode cost (holding + missed sales = -reward on the hybrid preset) per key [S].

    `decide(policy_params, state, params, key) -> safety stock [M]` is called every
    `action_frequency` days (a brain's act_fn, or `static_decide` for a fixed safety stock)."""
    decisions = params.periods // action_frequency

    def episode(key):
        k_reset, k_run = jax.random.split(key)
        _, state = reset(k_reset, params)

        def one(state, k):
            k_act, k_env = jax.random.split(k)
            safety = decide(policy_params, state, params, k_act)
            _, state, reward, _, _ = macro_step(k_env, state, safety, params, action_frequency)
            return state, reward

        _, rewards = jax.lax.scan(one, state, jax.random.split(k_run, decisions))
        return -rewards.sum()

    return jax.vmap(episode)(keys)


def static_decide(safety_stock, state, params, key):
    """A fixed safety stock [M] (the baseline)."""
    del state, params, key
    return jnp.asarray(safety_stock, jnp.int32)


def static_grid(num_stages: int, low: int, high: int, step: int = 1) -> np.ndarray:
    """Integer safety stocks in [low, high]^M on a lattice of `step` (high always included): [G, M]."""
    levels = sorted(set(range(low, high + 1, step)) | {high})
    return np.array(list(itertools.product(levels, repeat=num_stages)), np.int32)


def neighbourhood(center, low: int, high: int, radius: int = 2) -> np.ndarray:
    """Integer safety stocks within `radius` of `center` [M] per stage, clipped to the range: [G, M]."""
    offsets = np.array(list(itertools.product(range(-radius, radius + 1), repeat=len(center))))
    return np.unique(np.clip(np.asarray(center)[None] + offsets, low, high), axis=0).astype(np.int32)


def best_static(params_by_sigma: EnvParams, keys, grid, action_frequency: int = 10, chunk: int = 64):
    """Grid search of a static safety stock on (training) paths.

    `params_by_sigma`: params with a leading sigma axis [L]; keys [S]. Returns (best [M], mean cost
    per candidate and sigma [G, L]); best minimises the mean over sigma levels and paths."""
    grid = jnp.asarray(grid)

    def candidate_costs(safety):
        per_sigma = jax.vmap(lambda p: episode_costs(static_decide, safety, p, keys, action_frequency).mean())
        return per_sigma(params_by_sigma)

    costs = jax.lax.map(candidate_costs, grid, batch_size=chunk)
    best = grid[jnp.argmin(costs.mean(axis=1))]
    return best, costs
