"""The pure JAX multi-echelon environment (OR-Gym InvManagement dynamics), gymnax style:

    env, params = sc_jax.make("orgym_v0")      # presets; or make_env(**OR-Gym keywords)
    obs, state = env.reset(key, params)
    obs, state, reward, done, info = env.step(key, state, action, params)
"""
from sc_jax.env.environment import InventoryEnv
from sc_jax.env.params import ORGYM_DEFAULTS, batch_shape, make_env, replicate
from sc_jax.env.presets import PRESETS, make
from sc_jax.env.keys import check_key, episode_keys
from sc_jax.env.rollout import Transition, rollout, sample_paths
from sc_jax.env.spaces import Box
from sc_jax.env.types import DemandPath, EnvParams, EnvState, StepInfo

__all__ = ["InventoryEnv", "EnvParams", "EnvState", "DemandPath", "StepInfo", "Box", "make",
           "make_env", "PRESETS", "ORGYM_DEFAULTS", "replicate", "batch_shape", "rollout",
           "episode_keys", "check_key", "sample_paths", "Transition"]
