"""The environment object: static settings + gymnax-style pure methods over traced params.

    env, params = sc_jax.make("orgym_v1")               # or sc_jax.env.make_env(**OR-Gym keywords)
    obs, state = env.reset(key, params)
    obs, state, reward, done, info = env.step(key, state, action, params)   # auto-reset
    obs, state, reward, done, info = env.step_env(key, state, action, params)  # no reset

`InventoryEnv` is a frozen, hashable dataclass (so it can close over jitted code or be a static
argument) holding what fixes shapes and code paths: number of stages, periods, history length,
demand kind, observation kind, forecast window and whether products share capacity. Everything
else is in `EnvParams`, an array pytree: a batch of products is params with a leading axis, and a
sweep vmaps over params. Shapes: one product, one demand sample; `vmap` adds both axes (use
`env.vmap_products` for the product axis when products share capacity).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import jax
import jax.numpy as jnp

from sc_jax.env import demand as demand_lib
from sc_jax.env import dynamics, observation
from sc_jax.env.keys import check_key
from sc_jax.env.spaces import Box
from sc_jax.checks import check_bool, check_choice, check_integer
from sc_jax.env.types import (DEMAND_KINDS, OBSERVATION_KINDS, OVERFLOW_RULES, PRODUCT_AXIS, SUPPLY_SEMANTICS,
                              DemandPath, EnvParams, EnvState)
from sc_jax.errors import ConfigError


@dataclass(frozen=True)
class InventoryEnv:
    """A serial inventory chain (OR-Gym InvManagement dynamics); see the module docstring."""

    num_stages: int  # M: stages holding inventory (0 = retailer); stage M is the unlimited plant
    periods: int = 30  # T: episode length
    history_length: int = 10  # H >= max lead time: request history and pipeline slots
    demand_kind: str = "poisson"  # one of sc_jax.env.types.DEMAND_KINDS
    observation_kind: str = "orgym"  # "orgym" | "rich" (sc_jax.env.observation)
    forecast_window: int = 0  # W: forecast periods in the rich observation / after the episode
    couple_products: bool = False  # products share `params.shared_capacity` (vmap_products)
    relaxed: bool = False  # float quantities, straight-through floor: differentiable (agents.hdpo)
    # "exact" (OR-Gym) | "sample" (the hybrid sample's simulator: orders arrive in full, a
    # supplier's shortfall is only charged to it); sc_jax.env.types.SUPPLY_SEMANTICS, dynamics
    supply_semantics: str = "exact"
    # arrivals over the shared capacity: "largest_remainder" refuses exactly the excess, "floor"
    # up to one unit more per arriving product (sc_jax.env.types.OVERFLOW_RULES, dynamics)
    overflow_rule: str = "largest_remainder"
    name: str = "inventory"  # the preset's name, for labels
    default_params: EnvParams | None = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        """The static settings are checked once here, so `env.replace(...)` and a hand-built env
        fail with the field's name rather than silently (e.g. an unknown observation kind)."""
        check_integer("num_stages", self.num_stages, 1)
        check_integer("periods", self.periods, 1)
        check_integer("history_length", self.history_length, 0)
        check_integer("forecast_window", self.forecast_window, 0)
        check_choice("demand_kind", self.demand_kind, DEMAND_KINDS)
        check_choice("observation_kind", self.observation_kind, OBSERVATION_KINDS)
        check_bool("couple_products", self.couple_products)
        check_bool("relaxed", self.relaxed)
        check_choice("supply_semantics", self.supply_semantics, SUPPLY_SEMANTICS)
        check_choice("overflow_rule", self.overflow_rule, OVERFLOW_RULES)
        if not isinstance(self.name, str):
            raise ConfigError(f"'name' must be a string (a label), got {self.name!r}")

    # --- gymnax interface ---------------------------------------------------------------------

    def reset(self, key, params: EnvParams | None = None):
        """(obs, state) at period 0; the episode's demand path is drawn from `key`."""
        return dynamics.reset(self, check_key(key), self._params(params))

    def reset_with_demand(self, params: EnvParams | None, demand: DemandPath):
        """(obs, state) at period 0 for a given DemandPath (replays, user paths, the oracle)."""
        return dynamics.reset_with_demand(self, self._params(params), demand)

    def step(self, key, state: EnvState, action, params: EnvParams | None = None):
        """One period; a finished episode restarts from a new path drawn from `key` (gymnax)."""
        return dynamics.step(self, key, state, action, self._params(params))

    def step_env(self, key, state: EnvState, action, params: EnvParams | None = None):
        """One period without automatic reset: (obs, state, reward, done, info)."""
        return dynamics.step_env(self, key, state, action, self._params(params))

    def get_obs(self, state: EnvState, params: EnvParams | None = None) -> jnp.ndarray:
        """The observation vector [obs_size] of `state` (sc_jax.env.observation)."""
        return observation.observe(self, state, self._params(params))

    def is_terminal(self, state: EnvState, params: EnvParams | None = None) -> jnp.ndarray:
        return state.time >= self.periods

    def observation_space(self, params: EnvParams | None = None) -> Box:
        return Box(-jnp.inf, jnp.inf, (self.obs_size,), jnp.float32)

    def action_space(self, params: EnvParams | None = None) -> Box:
        """Orders per stage in [0, supply capacity] (the env also accepts any real numbers:
        floored, negatives order 0, as OR-Gym)."""
        params = self._params(params)
        return Box(jnp.zeros_like(params.supply_capacity), params.supply_capacity,
                   (self.num_stages,), jnp.int32)

    @property
    def num_actions(self) -> int:
        return self.num_stages

    @property
    def obs_size(self) -> int:
        return observation.observation_size(self)

    # --- what agents and rollouts use beyond gymnax ---------------------------------------------

    @property
    def episode_length(self) -> int:
        """Decisions per episode (a macro-step wrapper makes fewer, longer steps)."""
        return self.periods

    def step_index(self, state: EnvState) -> jnp.ndarray:
        """Index of the next decision in [0, episode_length)."""
        return jnp.minimum(state.time, self.periods - 1)

    def sample_params(self, key, params: EnvParams | None = None) -> EnvParams:
        """Params of one training episode: `params` itself (a wrapper may randomise them)."""
        del key
        return self._params(params)

    def sample_demand(self, key, params: EnvParams | None = None) -> DemandPath:
        """One episode's demand path (what `reset` draws from the same key)."""
        return demand_lib.sample_demand(self, key, self._params(params))

    def stationary_path(self, actual, params: EnvParams | None = None) -> DemandPath:
        """A given integer path [T] with the family's stationary mean/std as its forecast."""
        return demand_lib.stationary_path(self, actual, self._params(params))

    def vmap_products(self, fn: Callable, in_axes=0, out_axes=0) -> Callable:
        """`jax.vmap` over a product axis, named so that products sharing capacity see each
        other inside the step (the shared-capacity rule sums over this axis)."""
        return jax.vmap(fn, in_axes=in_axes, out_axes=out_axes,
                        axis_name=PRODUCT_AXIS if self.couple_products else None)

    @property
    def unwrapped(self) -> "InventoryEnv":
        return self

    def replace(self, **changes) -> "InventoryEnv":
        """A copy with other static settings (e.g. `periods`); checks nothing beyond types."""
        return dataclasses.replace(self, **changes)

    def _params(self, params):
        if params is None:
            if self.default_params is None:
                raise ConfigError("this env has no default_params: pass params (env, params = sc_jax.make(...))")
            return self.default_params
        return params


__all__ = ["InventoryEnv"]
