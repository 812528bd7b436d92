"""Load OR-Gym 0.5.0's own InvManagement env from an unpacked wheel, for parity fixtures and the
speed reference in experiments/bench_env.py. OR-Gym is not a dependency and none of its code is
in this repository: pass the folder where `or_gym-0.5.0-py3-none-any.whl` was unpacked
(`pip download --no-deps or-gym==0.5.0 && unzip or_gym-0.5.0-py3-none-any.whl -d DIR`).

OR-Gym pins gym<=0.19, which does not install on Python 3.11; its env needs only `gym.Env` and
`gym.spaces.Box`, so a stand-in module is registered, and NumPy 2's removed alias `np.Inf`.
"""
from __future__ import annotations

import sys
import types

import numpy as np


def load_reference_env_class(orgym_dir: str):
    """OR-Gym's `InvManagementMasterEnv` class, imported from `orgym_dir`."""
    if not hasattr(np, "Inf"):
        np.Inf = np.inf
    if "gym" not in sys.modules:
        gym = types.ModuleType("gym")
        spaces = types.ModuleType("gym.spaces")
        spaces.Box = type("Box", (), {"__init__": lambda self, *a, **k: None})
        gym.spaces, gym.Env = spaces, type("Env", (), {})
        sys.modules["gym"], sys.modules["gym.spaces"] = gym, spaces
    if orgym_dir not in sys.path:
        sys.path.insert(0, orgym_dir)
    from or_gym.envs.supply_chain.inventory_management import InvManagementMasterEnv

    return InvManagementMasterEnv
