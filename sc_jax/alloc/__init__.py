"""Shared-capacity order allocation (the MILP stage of the hybrid method).

Entry point: `allocate(problem, method="daily" | "rolling" | "greedy", ...)`.

* ``"daily"``   exact MILP over today's integer orders (`sc_jax.alloc.milp`).
* ``"rolling"`` Bonsai-style horizon LP, first day rounded capacity-safe
                (`sc_jax.alloc.rolling`), for the fidelity comparison.
* ``"greedy"``  greedy marginal allocation of the daily model
                (`sc_jax.alloc.greedy`), exact for it; also the fallback.

NumPy/SciPy only (no JAX import); JAX inputs are converted with np.asarray.
"""

from __future__ import annotations

from .greedy import CutSegments, greedy_cuts
from .milp import build_cut_segments, capacity_room, solve_daily
from .problem import AllocationProblem, AllocationResult, lead_time_demand, random_problem
from .rolling import solve_rolling

__all__ = [
    "METHODS", "allocate", "allocate_from_config",
    "AllocationProblem", "AllocationResult", "CutSegments",
    "build_cut_segments", "capacity_room", "greedy_cuts", "lead_time_demand", "random_problem", "solve_daily",
    "solve_rolling",
]

METHODS = ("daily", "rolling", "greedy")


def allocate(
    problem: AllocationProblem,
    method: str = "daily",
    time_limit: float | None = 10.0,
    mip_rel_gap: float = 1e-6,
    **options,
) -> AllocationResult:
    """Integer orders per product and stage that fit the shared capacities.

    ``options`` go to the method: for "daily"/"greedy" ``max_segments``,
    ``capacity_basis``, ``min_cut_cost_fraction``; for "rolling" also
    ``horizon``, ``safety_penalty_weight``, ``repair_upward``.
    """
    if not isinstance(problem, AllocationProblem):
        raise ValueError(f"problem: expected an AllocationProblem, got {type(problem).__name__}")
    if method == "daily":
        return solve_daily(problem, time_limit=time_limit, mip_rel_gap=mip_rel_gap, **options)
    if method == "greedy":
        return solve_daily(problem, time_limit=time_limit, mip_rel_gap=mip_rel_gap, use_milp=False, **options)
    if method == "rolling":
        return solve_rolling(problem, time_limit=time_limit, **options)
    raise ValueError(f"method: allowed values are {METHODS}, got {method!r}")


def allocate_from_config(problem: AllocationProblem, config) -> AllocationResult:
    """`allocate` driven by the Hydra group ``alloc`` (conf/alloc/*.yaml).

    Keys: method, time_limit_s, mip_rel_gap; every other key is passed on as
    a method option.  Accepts a dict or an OmegaConf DictConfig.
    """
    settings = dict(config.items()) if hasattr(config, "items") else dict(config)
    method = settings.pop("method", "daily")
    time_limit = settings.pop("time_limit_s", 10.0)
    mip_rel_gap = settings.pop("mip_rel_gap", 1e-6)
    return allocate(problem, method=method, time_limit=time_limit, mip_rel_gap=mip_rel_gap, **settings)
