"""Wrappers around an `InventoryEnv` (gymnax / PureJaxRL style): each is a frozen dataclass that
holds the wrapped `env` and forwards everything it does not change.

- `SafetyStockEnv`: the hybrid method's brain interface. One step = `action_frequency` days
  (default 10) under the JAX order-up-to controller with the chosen safety stock [M]; reward =
  the sum of the days' rewards (on the hybrid preset: minus holding and missed-sale cost).
  `sample_params` draws a training scenario (cost ratio, sigma_max).
- `ScaleRewardByCostRatio`: training-only reward scale (cost_ratio / 100) ** power, so episodes of
  very different cost ratios weigh alike in one batch; evaluation uses the unscaled env.
- `FlattenObservationWrapper`: the observation pytree as one float32 vector.
- `LogWrapper`: episode returns and lengths in `info` (PureJaxRL's LogWrapper): the state
  becomes a `LogEnvState` around the wrapped state.

Shapes as in the wrapped env (one product, one sample; vmap adds the batch axes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from sc_jax.checks import check_choice, check_number
from sc_jax.env import dynamics
from sc_jax.env.spaces import Box
from sc_jax.env.types import SUPPLIER_TIMING, EnvParams
from sc_jax.errors import ConfigError

SIGMA_INDEX = 6  # position of sigma_max in EnvParams.forecast
CONTROLLERS = ("order_up_to", "sigma_rule")  # SafetyStockEnv's daily controllers


@dataclass(frozen=True)
class Wrapper:
    """Forwards every attribute it does not define to the wrapped env."""

    env: Any

    def __getattr__(self, name):
        if name == "env":  # not yet set (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.env, name)

    @property
    def unwrapped(self):
        return self.env.unwrapped


# --- the safety-stock decision env (the hybrid brain) --------------------------------------------

def with_scenario(params: EnvParams, cost_ratio, sigma_max) -> EnvParams:
    """Hybrid-chain params at another cost ratio (h = k / ratio) and forecast sigma_max (traced
    scalars fine)."""
    ratio = jnp.asarray(cost_ratio, jnp.float32)
    M = params.num_stages
    return params.replace(unit_holding_cost=params.unit_shortage_cost[..., :M] / ratio[..., None],
                          cost_ratio=ratio,
                          forecast=params.forecast.at[..., SIGMA_INDEX].set(jnp.asarray(sigma_max, jnp.float32)))


def check_sigma_levels(sigma_levels, name: str = "sigma_levels") -> list:
    """Forecast sigma_max levels as a list of ints, each >= 1 (the generator's sigma_max)."""
    try:
        levels = np.asarray(sigma_levels, np.float64)
    except (TypeError, ValueError):
        levels = np.zeros(0)
    if (levels.ndim != 1 or levels.size == 0 or not np.all(np.isfinite(levels)) or np.any(levels < 1)
            or np.any(levels != np.round(levels))):
        raise ConfigError(f"'{name}' must be a non-empty list of integers >= 1, got {sigma_levels!r}")
    return [int(x) for x in levels]


def sigma_levels_for(env, sigma_levels) -> list:
    """The sigma_max levels to evaluate `env` at: `sigma_levels` (checked) for forecast demand;
    [1], one level, for every other demand kind (a stationary profile or user paths: sigma_max
    is the forecast generator's and does not change their demand)."""
    levels = check_sigma_levels(sigma_levels)
    return levels if env.unwrapped.demand_kind == "forecast" else [1]


def params_by_sigma(params: EnvParams, cost_ratio, sigma_levels) -> EnvParams:
    """One product's params at `cost_ratio` with a leading sigma_max axis [L] (levels: integers
    >= 1, as the forecast generator's sigma_max; traced levels are not checked)."""
    if not isinstance(sigma_levels, jax.core.Tracer):
        check_sigma_levels(sigma_levels)
    return jax.vmap(lambda s: with_scenario(params, cost_ratio, s))(jnp.asarray(sigma_levels, jnp.float32))


def fixed_safety_stock(safety_stock, state, params, key):
    """Policy for SafetyStockEnv: the same safety stock [M] at every decision (the baseline)."""
    del state, params, key
    return jnp.asarray(safety_stock, jnp.int32)


@dataclass(frozen=True)
class SafetyStockEnv(Wrapper):
    """A safety decision per stage every `action_frequency` days; a daily controller orders in
    between. Actions: integers in [safety_low, safety_high] per stage, read by `controller`:

    - "order_up_to" (default): units of safety stock on top of the forecast over the lead time
      (sc_jax.policies.order_up_to; safety_low >= 0);
    - "sigma_rule": a safety factor z = action x `z_step` per stage for the forecast-sigma rule
      (sc_jax.policies.sigma_rule, installation form, capped at what the supplier can ship, its
      timing the env's: "after_arrivals" under the sample's supply semantics, "before_arrivals"
      under the exact ones): scale-free (z means the same at every sigma) and negative actions
      allowed (stock below the forecast, the right move at low cost ratios).

    Training scenarios (`sample_params`): the cost ratio (kept, or log-uniform on
    [ratio_low, ratio_high]) and sigma_max (uniform integer in [sigma_low, sigma_high])."""

    action_frequency: int = 10
    safety_low: int = 0
    safety_high: int = 10
    ratio_low: float | None = None
    ratio_high: float | None = None
    sigma_low: int = 1
    sigma_high: int = 10
    controller: str = "order_up_to"
    z_step: float = 0.1

    def __post_init__(self):
        check_choice("controller", self.controller, CONTROLLERS)
        check_number("z_step", self.z_step, "a finite number > 0", lambda x: math.isfinite(x) and x > 0)
        env, f = self.env, self.action_frequency
        if env.observation_kind != "rich":  # the brain reads the forecast window; any demand kind
            raise ConfigError("the safety-stock env needs observation 'rich' (the forecast window the brain "
                              f"reads), got observation {env.observation_kind!r}")
        if not isinstance(f, (int, np.integer)) or isinstance(f, bool) or f < 1 or env.periods % f:
            raise ConfigError(f"'action_frequency' must be an integer >= 1 dividing periods ({env.periods}), got {f!r}")
        if not (isinstance(self.safety_low, (int, np.integer)) and isinstance(self.safety_high, (int, np.integer))
                and self.safety_low < self.safety_high and (self.safety_low >= 0 or self.controller == "sigma_rule")):
            floor = "" if self.controller == "sigma_rule" else "0 <= "
            raise ConfigError(f"safety range must be integers with {floor}safety_low < safety_high (controller "
                              f"{self.controller!r}), got [{self.safety_low!r}, {self.safety_high!r}]")
        if not (isinstance(self.sigma_low, (int, np.integer)) and isinstance(self.sigma_high, (int, np.integer))
                and 1 <= self.sigma_low <= self.sigma_high):
            raise ConfigError("sigma range must be integers with 1 <= sigma_low <= sigma_high, got "
                              f"[{self.sigma_low!r}, {self.sigma_high!r}]")
        if (self.ratio_low is None) != (self.ratio_high is None):
            raise ConfigError("'ratio_low' and 'ratio_high' must both be numbers (ratio-conditioned brain) or both "
                              f"null (the env's own ratio), got [{self.ratio_low!r}, {self.ratio_high!r}]")
        if self.randomises_ratio and not (np.isfinite(self.ratio_low) and np.isfinite(self.ratio_high)
                                          and 0 < self.ratio_low <= self.ratio_high):
            raise ConfigError("ratio range must satisfy 0 < ratio_low <= ratio_high, got "
                              f"[{self.ratio_low!r}, {self.ratio_high!r}]")

    @property
    def randomises_ratio(self) -> bool:
        return self.ratio_low is not None and self.ratio_high is not None

    @property
    def episode_length(self) -> int:
        return self.env.periods // self.action_frequency

    def step_index(self, state) -> jnp.ndarray:
        return jnp.minimum(state.time // self.action_frequency, self.episode_length - 1)

    def action_space(self, params=None) -> Box:
        M = self.env.num_stages
        return Box(jnp.full((M,), self.safety_low, jnp.int32), jnp.full((M,), self.safety_high, jnp.int32),
                   (M,), jnp.int32)

    @property
    def sigma_rule_timing(self) -> str:
        """The sigma rule's supplier timing for this env's supply semantics."""
        return SUPPLIER_TIMING[self.env.unwrapped.supply_semantics]

    def daily_controller(self):
        """controller(action [M], state, params) -> orders [M] of one day."""
        if self.controller == "sigma_rule":
            from sc_jax.policies.sigma_rule import sigma_rule_policy

            rule = sigma_rule_policy("installation", True, self.sigma_rule_timing)
            z_step = float(self.z_step)
            return lambda action, state, params: rule(jnp.asarray(action, jnp.float32) * z_step, state, params)
        from sc_jax.policies.order_up_to import order_up_to

        return order_up_to

    def step_env(self, key, state, action, params=None):
        """`action_frequency` days under the controller with `action` [M]: (obs, state, reward,
        done, info {holding_cost, shortage_cost} summed over the days)."""
        params = self.env._params(params)
        controller = self.daily_controller()

        def day(state, k):
            orders = controller(action, state, params)
            _, state, reward, _, info = self.env.step_env(k, state, orders, params)
            return state, (reward, info.holding_cost, info.shortage_cost)

        keys = jax.random.split(jax.random.PRNGKey(0) if key is None else key, self.action_frequency)
        state, (reward, holding, shortage) = jax.lax.scan(day, state, keys)
        info = {"holding_cost": holding.sum(), "shortage_cost": shortage.sum()}
        return self.env.get_obs(state, params), state, reward.sum(), self.env.is_terminal(state, params), info

    def step(self, key, state, action, params=None):
        """A macro step with automatic reset (the base env's auto-reset over this step_env)."""
        return dynamics.step(self, key, state, action, params)

    def sample_params(self, key, params=None) -> EnvParams:
        params = self.env._params(params)
        k_ratio, k_sigma = jax.random.split(key)
        if self.randomises_ratio:
            ratio = jnp.exp(jax.random.uniform(k_ratio, (), minval=np.log(self.ratio_low),
                                               maxval=np.log(self.ratio_high)))
        else:
            ratio = params.cost_ratio
        sigma = jax.random.randint(k_sigma, (), self.sigma_low, self.sigma_high + 1).astype(jnp.float32)
        return with_scenario(params, ratio, sigma)


@dataclass(frozen=True)
class ScaleRewardByCostRatio(Wrapper):
    """Reward x (cost_ratio / 100) ** power (training only). Costs fall ~10x from ratio 10 to
    1000, so in a ratio-conditioned batch the low-ratio episodes would dominate the
    batch-normalised advantages; a positive constant per episode changes no episode's optimal
    policy, and power ~0.5 evens the scales."""

    power: float = 0.5

    def __post_init__(self):
        check_number("power", self.power, "a finite number", math.isfinite)

    def _scale(self, out, params):
        obs, state, reward, done, info = out
        params = self.env._params(params)
        return obs, state, reward * (params.cost_ratio / 100.0) ** self.power, done, info

    def step_env(self, key, state, action, params=None):
        return self._scale(self.env.step_env(key, state, action, params), params)

    def step(self, key, state, action, params=None):
        return self._scale(self.env.step(key, state, action, params), params)


# --- generic wrappers -------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlattenObservationWrapper(Wrapper):
    """Observations as one float32 vector (the leaves of the observation pytree, raveled and
    concatenated); a no-op on the base env's vector, useful over wrappers with structured obs."""

    @staticmethod
    def _flatten(obs):
        return jnp.concatenate([jnp.ravel(x).astype(jnp.float32) for x in jax.tree.leaves(obs)])

    def reset(self, key, params=None):
        obs, state = self.env.reset(key, params)
        return self._flatten(obs), state

    def reset_with_demand(self, params, demand):
        obs, state = self.env.reset_with_demand(params, demand)
        return self._flatten(obs), state

    def step(self, key, state, action, params=None):
        obs, state, reward, done, info = self.env.step(key, state, action, params)
        return self._flatten(obs), state, reward, done, info

    def step_env(self, key, state, action, params=None):
        obs, state, reward, done, info = self.env.step_env(key, state, action, params)
        return self._flatten(obs), state, reward, done, info

    def get_obs(self, state, params=None):
        return self._flatten(self.env.get_obs(state, params))

    def observation_space(self, params=None) -> Box:
        shape = jax.eval_shape(lambda: self.get_obs(*_template(self.env, params))).shape
        return Box(-jnp.inf, jnp.inf, shape, jnp.float32)


def _template(env, params):
    """(state, params) of a reset with key 0, for shape inference."""
    params = env._params(params)
    return env.reset(jax.random.PRNGKey(0), params)[1], params


@struct.dataclass
class LogEnvState:
    env_state: Any
    episode_returns: jnp.ndarray
    episode_lengths: jnp.ndarray
    returned_episode_returns: jnp.ndarray
    returned_episode_lengths: jnp.ndarray
    timestep: jnp.ndarray


@dataclass(frozen=True)
class LogWrapper(Wrapper):
    """Episode statistics in `info` (PureJaxRL): `returned_episode_returns`,
    `returned_episode_lengths` (of the last finished episode), `returned_episode` (this step ended
    one), `timestep`; the wrapped env's info is under `info["env"]`. The state is a
    `LogEnvState` around the wrapped env's state (policies that read the state see it at
    `.env_state`)."""

    @staticmethod
    def _fresh(out):
        obs, env_state = out
        zero_f, zero_i = jnp.zeros((), jnp.float32), jnp.zeros((), jnp.int32)
        return obs, LogEnvState(env_state, zero_f, zero_i, zero_f, zero_i, zero_i)

    def reset(self, key, params=None):
        return self._fresh(self.env.reset(key, params))

    def reset_with_demand(self, params, demand):
        return self._fresh(self.env.reset_with_demand(params, demand))

    def get_obs(self, state: LogEnvState, params=None):
        return self.env.get_obs(state.env_state, params)

    def step_index(self, state: LogEnvState):
        return self.env.step_index(state.env_state)

    def is_terminal(self, state: LogEnvState, params=None):
        return self.env.is_terminal(state.env_state, params)

    def step(self, key, state: LogEnvState, action, params=None):
        return self._log(state, self.env.step(key, state.env_state, action, params))

    def step_env(self, key, state: LogEnvState, action, params=None):
        """Without automatic reset (fixed-length rollouts); statistics as in `step`."""
        return self._log(state, self.env.step_env(key, state.env_state, action, params))

    def _log(self, state: LogEnvState, out):
        obs, env_state, reward, done, info = out
        returns = state.episode_returns + reward
        lengths = state.episode_lengths + 1
        state = LogEnvState(
            env_state=env_state,
            episode_returns=returns * (1 - done),
            episode_lengths=lengths * (1 - done),
            returned_episode_returns=jnp.where(done, returns, state.returned_episode_returns),
            returned_episode_lengths=jnp.where(done, lengths, state.returned_episode_lengths),
            timestep=state.timestep + 1)
        info = {"env": info, "returned_episode_returns": state.returned_episode_returns,
                "returned_episode_lengths": state.returned_episode_lengths,
                "returned_episode": done, "timestep": state.timestep}
        return obs, state, reward, done, info


__all__ = ["Wrapper", "SafetyStockEnv", "ScaleRewardByCostRatio", "FlattenObservationWrapper",
           "LogWrapper", "LogEnvState", "with_scenario", "params_by_sigma", "check_sigma_levels",
           "fixed_safety_stock"]
