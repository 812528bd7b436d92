"""Policies: pure functions act(policy_params, state, params, key) -> action [M]."""
from sc_jax.env.dynamics import inventory_position
from sc_jax.policies.base import PolicyFn, cap_order
from sc_jax.policies.base_stock import base_stock
from sc_jax.policies.constant import constant_order
from sc_jax.policies.order_up_to import desired_orders, order_up_to
from sc_jax.policies.random_safety import SafetyRange, random_safety, random_safety_stock
from sc_jax.policies.s_S import SSParams, s_S
from sc_jax.policies.validation import (validate_constant, validate_levels, validate_s_S,
                                        validate_safety_range, validate_safety_stock)

__all__ = ["PolicyFn", "cap_order", "inventory_position", "base_stock", "order_up_to", "desired_orders",
           "constant_order", "s_S", "SSParams", "random_safety", "random_safety_stock", "SafetyRange",
           "validate_levels", "validate_s_S", "validate_constant", "validate_safety_range",
           "validate_safety_stock"]
