"""Policies: pure functions act(policy_params, state, env_params, key) -> action [M]."""
from sc_jax.policies.base import PolicyFn, cap_order
from sc_jax.policies.base_stock import base_stock
from sc_jax.policies.order_up_to import desired_orders, order_up_to

__all__ = ["PolicyFn", "cap_order", "base_stock", "order_up_to", "desired_orders"]
