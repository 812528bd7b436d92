"""The pure JAX multi-echelon environment (OR-Gym InvManagement dynamics)."""
from sc_jax.env.dynamics import (initial_state, inventory_position, reset,
                                 reset_with_demand, step, step_env)
from sc_jax.env.observation import observation_size, observe
from sc_jax.env.params import batch_shape, make_params, replicate
from sc_jax.env.types import PRODUCT_AXIS, DemandPath, EnvParams, EnvState, StepInfo

__all__ = ["EnvParams", "EnvState", "DemandPath", "StepInfo", "PRODUCT_AXIS", "make_params",
           "replicate", "batch_shape", "reset", "reset_with_demand", "initial_state", "step",
           "step_env", "observe", "observation_size", "inventory_position"]
