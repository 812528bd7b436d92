"""Turn composed Hydra/OmegaConf configs into library objects, with clear errors."""
from __future__ import annotations

from typing import Any, Mapping

from sc_jax.env.demand import load_demand_csv
from sc_jax.env.environment import InventoryEnv
from sc_jax.env.presets import PRESETS, make
from sc_jax.env.types import EnvParams
from sc_jax.checks import reject_unknown_keys
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


def env_from_cfg(env_cfg: Mapping[str, Any], demand_cfg: Mapping[str, Any] | None = None,
                 **overrides) -> tuple[InventoryEnv, EnvParams]:
    """(env, params) from the `env` group (a preset name plus make_env overrides) and the
    `demand` group ({kind, params, csv}); keyword overrides win."""
    env = to_dict(env_cfg)
    preset = env.pop("preset", None)
    if preset not in PRESETS:
        raise ConfigError(f"env.preset must be one of {sorted(PRESETS)}, got {preset!r}")
    if demand_cfg is not None:
        demand = to_dict(demand_cfg)
        reject_unknown_keys(demand, ("kind", "params", "csv"), "demand config")
        kind = demand.pop("kind", None)
        params = demand.pop("params", None) or {}
        csv = demand.pop("csv", None)
        env["demand"] = kind
        if csv and kind != "user":
            raise ConfigError(f"'demand.csv' is only read when demand.kind is 'user', got kind {kind!r} with csv {csv!r}")
        if kind == "user":
            if not csv or csv == "???":
                raise ConfigError("demand.csv must name a CSV file when demand.kind is 'user' "
                                  "(e.g. demand=user demand.csv=paths.csv), got none")
            env["user_demand"] = load_demand_csv(csv)
        else:
            env["demand_params"] = params
    env.update(overrides)
    if preset in ("orgym_v0", "orgym_v1") and env.get("cost_ratio") is not None:
        # the group always carries OR-Gym's h; with a cost ratio, h comes from k / ratio instead
        # (a changed h next to a cost ratio is a conflict the preset reports)
        from sc_jax.env.params import ORGYM_DEFAULTS

        if "h" in env and list(env["h"]) == list(ORGYM_DEFAULTS["h"]):
            del env["h"]
    try:
        return make(preset, **env)
    except TypeError as err:  # an unknown keyword (e.g. +env.foo=1)
        raise ConfigError(f"unknown env config key in {sorted(env)}: {err}; allowed: the make_env keywords "
                          "(periods, I0, p, r, k, h, c, L, alpha, observation, forecast_window, ...)") from None


def _keyword_defaults(fn, names) -> dict:
    """The default values of `fn`'s keyword arguments `names` (as plain lists/scalars)."""
    import inspect

    params = inspect.signature(fn).parameters
    return {n: list(params[n].default) if isinstance(params[n].default, tuple) else params[n].default
            for n in names}


def register_configs() -> None:
    """Register the structured defaults Hydra composes from (idempotent), so each default value
    lives once, in Python, and conf/ lists only what differs:
    - `ppo/defaults`: every PPOConfig field (conf/agent/*.yaml inherit it);
    - `hdpo/defaults`: every HDPOConfig field (conf/agent/hdpo_*.yaml inherit it);
    - `env/orgym_defaults`: OR-Gym's chain (sc_jax.env.params.ORGYM_DEFAULTS) and make_env's
      observation defaults (conf/env/orgym_v0.yaml inherits it, orgym_v1.yaml inherits v0);
    - `env/hybrid_defaults`: the hybrid preset's keyword defaults (conf/env/hybrid.yaml).
    A misspelt override of any of these keys then fails at composition."""
    from hydra.core.config_store import ConfigStore

    from sc_jax.agents.hdpo import HDPOConfig
    from sc_jax.agents.ppo import PPOConfig
    from sc_jax.env.params import ORGYM_DEFAULTS, make_env
    from sc_jax.env.presets import hybrid

    store = ConfigStore.instance()
    store.store(group="ppo", name="defaults", node=PPOConfig().to_dict())
    store.store(group="hdpo", name="defaults", node=HDPOConfig().to_dict())
    chain = {k: list(v) if isinstance(v, tuple) else v for k, v in ORGYM_DEFAULTS.items() if k != "backlog"}
    store.store(group="env", name="orgym_defaults",
                node={**chain, **_keyword_defaults(make_env, ("observation", "forecast_window")),
                      "cost_ratio": None})  # None: OR-Gym's h; a number: h = k / cost_ratio
    store.store(group="env", name="hybrid_defaults",
                node=_keyword_defaults(hybrid, ("cost_ratio", "sku_index", "periods", "forecast_window",
                                                "observation")))
