"""Checkpoints: policy params as flax msgpack + the configuration as JSON (no new dependency).

A checkpoint directory holds
  policy.msgpack  network weights and observation statistics (`flax.serialization.to_bytes`)
  config.json     {"agent": PPOConfig fields, "env": env config, "brain": "orders" | "safety",
                   "safety": wrapper settings, ...} - enough to rebuild the network and the env.
Loading rebuilds a template from the config (shapes only) and restores the bytes into it, so
the restored pytree has exactly the trained structure.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import jax
from flax import serialization

from sc_jax.agents.ppo import PPOConfig, TrainEnv, init_policy_params
from sc_jax.errors import ConfigError

POLICY_FILE = "policy.msgpack"
CONFIG_FILE = "config.json"


def save_checkpoint(directory, policy_params, config: Mapping[str, Any]) -> Path:
    """Write policy params and config (a JSON-able mapping with an "agent" entry)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    params = jax.device_get(policy_params)
    (directory / POLICY_FILE).write_bytes(serialization.to_bytes(params))
    from sc_jax.logging import write_json

    write_json(directory / CONFIG_FILE, dict(config))
    return directory


def load_config(directory) -> dict:
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"no checkpoint config at {path} (expected {CONFIG_FILE} and {POLICY_FILE})")
    return json.loads(path.read_text())


def load_policy_params(directory, agent_config: PPOConfig, env: TrainEnv):
    """Restore policy params into a template built from the config and env shapes."""
    template = init_policy_params(jax.random.PRNGKey(0), agent_config, env)
    data = (Path(directory) / POLICY_FILE).read_bytes()
    return serialization.from_bytes(template, data)
