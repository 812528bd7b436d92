"""PPO brains for the inventory env (docs/ppo.md).

    env, params = sc_jax.make("orgym_v1", observation="rich")
    config = PPOConfig(num_envs=64, total_timesteps=1_000_000)
    train = make_train(config, env, params)
    policy_params, metrics = jax.jit(train)(jax.random.PRNGKey(0))
    act = make_policy(config, env)            # act(policy_params, state, params, key) -> action

Modules: `ppo` (PPOConfig, make_train, make_policy), `hdpo` (the same brains trained by pathwise
gradients through the relaxed step: docs/hdpo.md), `networks`, `normalize`, `orders`
(train_orders_agent), `checkpoint` (save / load), `brains` (a brain's env from config, held-out
evaluation against baselines and the bound, load_brain for PPO and HDPO checkpoints).
"""
from sc_jax.agents.brains import (BRAINS, build_env, evaluate_brain, evaluate_orders, evaluate_safety,
                                  evaluation_env, load_brain, safety_bound)
from sc_jax.agents.checkpoint import env_shapes, load_config, load_policy_params, save_checkpoint
from sc_jax.agents.orders import train_orders_agent
from sc_jax.agents.ppo import PPOConfig, init_policy_params, make_policy, make_train

__all__ = ["PPOConfig", "make_train", "make_policy", "init_policy_params", "train_orders_agent",
           "save_checkpoint", "load_config", "load_policy_params", "env_shapes", "BRAINS", "build_env",
           "evaluation_env", "evaluate_brain", "evaluate_orders", "evaluate_safety", "safety_bound",
           "load_brain"]
