"""Turn composed Hydra/OmegaConf configs into library objects, with clear errors."""
from __future__ import annotations

from typing import Any, Mapping

from sc_jax.env.demand import load_demand_csv
from sc_jax.env.presets import PRESETS, get_preset
from sc_jax.env.types import EnvParams
from sc_jax.errors import ConfigError


def to_dict(cfg) -> dict:
    """Plain dict from an OmegaConf node (resolved) or a mapping."""
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(cfg):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - hydra is a dependency
        pass
    return dict(cfg)


def env_params_from_cfg(env_cfg: Mapping[str, Any], demand_cfg: Mapping[str, Any] | None = None,
                        **overrides) -> EnvParams:
    """EnvParams from the `env` group (a preset plus make_params overrides) and the `demand`
    group ({kind, params, csv}); keyword overrides win."""
    env = to_dict(env_cfg)
    preset = env.pop("preset", None)
    if preset not in PRESETS:
        raise ConfigError(f"env.preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if demand_cfg is not None:
        demand = to_dict(demand_cfg)
        kind = demand.pop("kind", None)
        params = demand.pop("params", None) or {}
        csv = demand.pop("csv", None)
        if demand:
            raise ConfigError(f"unknown demand config key(s) {sorted(demand)}; allowed: kind, params, csv")
        env["demand"] = kind
        if kind == "user":
            if not csv:
                raise ConfigError("demand.csv must name a CSV file when demand.kind is 'user'")
            env["user_demand"] = load_demand_csv(csv)
        else:
            env["demand_params"] = params
    env.update(overrides)
    return get_preset(preset, **env)
