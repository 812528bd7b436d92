"""Checkpoints: policy params as flax msgpack + the configuration as JSON (no new dependency).

A checkpoint directory holds
  policy.msgpack  network weights and observation statistics (`flax.serialization.to_bytes`)
  config.json     {"agent": PPOConfig (or HDPOConfig) fields, "algorithm": "ppo" | "hdpo",
                   "env": env config, "brain": "orders" | "safety",
                   "safety": wrapper settings, "shapes": {"obs_size", "episode_length",
                   "num_actions"} of the training env, ...} - enough to rebuild the network and
                   the env, and to check that an env fits the network.
Loading rebuilds a template from the config and the env (shapes only), checks the saved shapes
against it (a ConfigError naming the observation size / episode length / action count that
differ, rather than a shape error deep inside the network) and restores the bytes into it, so
the restored pytree has exactly the trained structure.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np
from flax import serialization, traverse_util

from sc_jax.agents.ppo import PPOConfig, init_policy_params
from sc_jax.errors import ConfigError
from sc_jax.runlog import write_json

POLICY_FILE = "policy.msgpack"
CONFIG_FILE = "config.json"
_SHAPE_NAMES = {"obs_size": "observation size", "episode_length": "episode length (decisions)",
                "num_actions": "number of actions"}


def env_shapes(env) -> dict:
    """The sizes of `env` a trained network depends on: {"obs_size", "episode_length", "num_actions"}."""
    return {"obs_size": int(env.obs_size), "episode_length": int(env.episode_length),
            "num_actions": int(env.num_actions)}


def save_checkpoint(directory, policy_params, config: Mapping[str, Any], env=None) -> Path:
    """Write policy params and config (a JSON-able mapping with an "agent" entry), atomically per
    file. `env`: the training env, whose `env_shapes` are recorded under "shapes" (loading then
    names any mismatch with the env it is given)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    params = jax.device_get(policy_params)
    config = dict(config)
    if env is not None:
        config["shapes"] = env_shapes(env)
    tmp = directory / f".{POLICY_FILE}.tmp"
    tmp.write_bytes(serialization.to_bytes(params))
    tmp.replace(directory / POLICY_FILE)
    write_json(directory / CONFIG_FILE, config)
    return directory


def load_config(directory) -> dict:
    path = Path(directory) / CONFIG_FILE
    if not path.exists():
        raise ConfigError(f"no checkpoint config at {path} (expected {CONFIG_FILE} and {POLICY_FILE})")
    return json.loads(path.read_text())


def _saved_shapes(directory, raw: dict, agent_config) -> dict:
    """Recorded shapes, else what the saved arrays tell (observation statistics [D]; the critic's
    first layer [D + T] when it sees the decision index)."""
    path = Path(directory) / CONFIG_FILE
    recorded = json.loads(path.read_text()).get("shapes") if path.exists() else None
    if recorded:
        return {k: int(v) for k, v in recorded.items() if k in _SHAPE_NAMES}
    shapes = {}
    try:
        shapes["obs_size"] = int(np.shape(raw["obs_stats"]["mean"])[0])
        if getattr(agent_config, "critic_time", False):
            rows = np.shape(raw["params"]["params"]["critic"]["Dense_0"]["kernel"])[0]
            shapes["episode_length"] = int(rows) - shapes["obs_size"]
    except (KeyError, IndexError, TypeError):
        pass  # an unexpected layout: the leaf-by-leaf check below reports it
    return shapes


def _init_policy_params(agent_config):
    """The template builder of the config's algorithm (PPOConfig: PPO's; HDPOConfig: HDPO's)."""
    if isinstance(agent_config, PPOConfig):
        return init_policy_params
    from sc_jax.agents.hdpo import HDPOConfig, init_policy_params as hdpo_init

    if isinstance(agent_config, HDPOConfig):
        return hdpo_init
    raise ConfigError(f"'agent_config' must be a PPOConfig or an HDPOConfig, got {type(agent_config).__name__}")


def load_policy_params(directory, agent_config, env):
    """Restore policy params into a template built from the config (PPOConfig or HDPOConfig)
    and `env`'s shapes; a ConfigError when the checkpoint was trained on an env of other sizes or
    another network."""
    path = Path(directory) / POLICY_FILE
    if not path.exists():
        raise ConfigError(f"no checkpoint policy at {path} (expected {CONFIG_FILE} and {POLICY_FILE})")
    data = path.read_bytes()
    raw = serialization.msgpack_restore(data)
    saved, current = _saved_shapes(directory, raw, agent_config), env_shapes(env)
    differ = [f"{_SHAPE_NAMES[k]} {saved[k]} (env: {current[k]})" for k in _SHAPE_NAMES
              if k in saved and saved[k] != current[k]]
    if differ:
        raise ConfigError(f"checkpoint {directory} does not fit this env: it was trained with "
                          f"{', '.join(differ)}; rebuild the env it was trained on (same preset, periods, "
                          "observation, forecast_window, safety settings)")
    template = _init_policy_params(agent_config)(jax.random.PRNGKey(0), agent_config, env)
    want = traverse_util.flatten_dict(serialization.to_state_dict(template), sep="/")
    have = traverse_util.flatten_dict(raw, sep="/")
    for name in sorted(set(want) | set(have)):
        if name not in have or name not in want or np.shape(have[name]) != np.shape(want[name]):
            got = np.shape(have[name]) if name in have else "missing"
            expected = np.shape(want[name]) if name in want else "absent"
            raise ConfigError(f"checkpoint {directory} does not match its agent config and env: "
                              f"{name} is {got} in the checkpoint, {expected} for the config's network "
                              "(hidden, head, num_bins, state_dependent_std, context_features, critic_time)")
    return serialization.from_state_dict(template, raw)


__all__ = ["save_checkpoint", "load_config", "load_policy_params", "env_shapes", "POLICY_FILE", "CONFIG_FILE"]
