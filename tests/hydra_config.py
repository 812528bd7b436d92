"""Compose a config of conf/ the way an entry point's @hydra.main would (for entry-point tests)."""
from pathlib import Path

from hydra import compose, initialize_config_dir

from sc_jax.config import register_configs

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
register_configs()  # the structured defaults (ppo/defaults) every entry point registers too


def compose_config(name: str, overrides=()):
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
        return compose(config_name=name, overrides=list(overrides))
