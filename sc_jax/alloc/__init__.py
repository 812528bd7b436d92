"""Shared-capacity order allocation (the MILP stage of the hybrid method).

Entry point: `allocate(problem, method="daily" | "rolling" | "greedy" | "jax", ...)`.

* ``"daily"``   exact MILP over today's integer orders (`sc_jax.alloc.milp`).
* ``"rolling"`` Bonsai-style horizon LP, first day rounded capacity-safe
                (`sc_jax.alloc.rolling`), for the fidelity comparison.
* ``"greedy"``  greedy marginal allocation of the daily model
                (`sc_jax.alloc.greedy`), exact for it; also the fallback.
* ``"jax"``     the same daily model solved exactly in JAX (`sc_jax.alloc.jax_stage`:
                jit-able, vmap-able; `daily_allocation` is the pure array function the
                jitted hybrid episode calls); float32 cut costs, objective reported with
                the reference's float64 cut cost.

Time-outs and failures of HiGHS never leak timing into a result: every method
then returns the greedy allocation of the daily model, flagged
``fallback=True`` with status "time_limit_greedy" (``timed_out=True``) or
"fallback_greedy".  Bad input raises `sc_jax.errors.ConfigError`.

NumPy/SciPy only (importing `sc_jax.alloc` imports no JAX; `sc_jax.alloc.jax_stage` is
imported on first use of method "jax"); JAX inputs are converted with np.asarray.
"""

from __future__ import annotations

from sc_jax.checks import ConfigError, check_choice, check_number, check_options, check_time_limit, show
from .greedy import CutSegments, greedy_cuts
from .milp import DAILY_OPTIONS, build_cut_segments, capacity_room, solve_daily
from .problem import AllocationProblem, AllocationResult, lead_time_demand, random_problem
from .rolling import ROLLING_OPTIONS, solve_rolling

__all__ = [
    "CONFIG_KEYS", "JAX_OPTIONS", "METHODS", "METHOD_OPTIONS", "allocate", "allocate_from_config",
    "AllocationProblem", "AllocationResult", "CutSegments",
    "build_cut_segments", "capacity_room", "greedy_cuts", "lead_time_demand", "random_problem", "solve_daily",
    "solve_rolling",
]

METHODS = ("daily", "rolling", "greedy", "jax")
# Keyword options of method "jax" (time_limit and mip_rel_gap are validated and unused: no solver
# runs, nothing depends on time).
JAX_OPTIONS = ("max_segments", "capacity_basis", "min_cut_cost_fraction")
# Keyword options `allocate` accepts per method (besides time_limit and mip_rel_gap).
METHOD_OPTIONS = {"daily": DAILY_OPTIONS, "greedy": DAILY_OPTIONS, "rolling": ROLLING_OPTIONS, "jax": JAX_OPTIONS}
# Keys of the Hydra group `alloc` besides the method options.
CONFIG_KEYS = ("method", "time_limit_s", "mip_rel_gap")


def allocate(
    problem: AllocationProblem,
    method: str = "daily",
    time_limit: float | None = 10.0,
    mip_rel_gap: float = 1e-6,
    **options,
) -> AllocationResult:
    """Integer orders per product and stage that fit the shared capacities.

    ``options`` go to the method (`METHOD_OPTIONS`): for "daily"/"greedy"
    ``max_segments``, ``capacity_basis``, ``min_cut_cost_fraction``,
    ``band_size`` (unused by greedy); for "jax" ``max_segments``, ``capacity_basis``,
    ``min_cut_cost_fraction``; for "rolling" ``horizon``,
    ``safety_penalty_weight``, ``repair_upward``, ``max_segments``,
    ``capacity_basis``, ``min_cut_cost_fraction``.  ``mip_rel_gap`` is
    validated for every method but only the daily MILP uses it.

    On a HiGHS time-out or failure every method returns the greedy allocation
    of the daily model (exact for it), flagged ``fallback=True`` with status
    "time_limit_greedy" (``timed_out=True``) or "fallback_greedy"; results
    never depend on wall-clock time (docs/alloc.md, "Time-out and failure").

    Bad input raises `sc_jax.errors.ConfigError` (a ValueError) naming the
    field and the allowed values.
    """
    if not isinstance(problem, AllocationProblem):
        raise ConfigError(f"'problem' must be an AllocationProblem, got {type(problem).__name__} {show(problem)}")
    check_choice("method", method, METHODS)
    check_time_limit(time_limit)
    check_number("mip_rel_gap", mip_rel_gap, "a number in [0, 1)", lambda x: 0 <= x < 1)
    check_options(method, options, METHOD_OPTIONS[method])
    if method == "daily":
        return solve_daily(problem, time_limit=time_limit, mip_rel_gap=mip_rel_gap, **options)
    if method == "greedy":
        return solve_daily(problem, time_limit=time_limit, mip_rel_gap=mip_rel_gap, use_milp=False, **options)
    if method == "jax":
        from .jax_stage import solve_jax  # imports JAX: only when asked for

        return solve_jax(problem, **options)
    return solve_rolling(problem, time_limit=time_limit, **options)


def allocate_from_config(problem: AllocationProblem, config) -> AllocationResult:
    """`allocate` driven by the Hydra group ``alloc`` (conf/alloc/*.yaml).

    Keys: method, time_limit_s, mip_rel_gap; every other key must be an option
    of the method (`METHOD_OPTIONS`), else a ConfigError lists the allowed
    keys.  Accepts a dict or an OmegaConf DictConfig.
    """
    if not hasattr(config, "items"):
        raise ConfigError(f"'alloc' config must be a mapping (dict or DictConfig), got {type(config).__name__}")
    settings = dict(config.items())
    method = check_choice("method", settings.pop("method", "daily"), METHODS)
    time_limit = settings.pop("time_limit_s", 10.0)
    mip_rel_gap = settings.pop("mip_rel_gap", 1e-6)
    allowed = CONFIG_KEYS + METHOD_OPTIONS[method]
    unknown = [key for key in settings if key not in allowed]
    if unknown:
        listed = ", ".join(repr(key) for key in unknown)
        raise ConfigError(f"'alloc' config keys for method {method!r} must be among {allowed}, got unknown {listed}")
    return allocate(problem, method=method, time_limit=time_limit, mip_rel_gap=mip_rel_gap, **settings)
