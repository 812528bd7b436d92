"""Daily allocation model: today's integer orders against the shared capacity.

The hybrid method's executed decision is today's order per product i and
stage j.  The order-up-to controller has already computed the desired order;
this model only *cuts* orders where a stage's shared capacity would otherwise
be exceeded, choosing the cuts of least expected cost.

Notation (N products, M stages)
-------------------------------
U_ij      order upper bound = min(desired_ij, supply_capacity_ij,
          on_hand_{i,j+1}) (the supplier's stock; the factory above stage M-1
          is unlimited).  Supply limits are hard, so an order above them is
          clipped before anything else.
B_j       stock already committed to stage j: sum_i (on_hand_ij + pipeline_ij)
          [- expected outflow, only with capacity_basis="expected", below].
room_j    = max(floor(capacity_j - B_j), 0)  units today's orders may bring in.
overflow_j= max(B_j - capacity_j, 0)  reported, never hidden: such a stage gets
          room 0, so all its orders are cut to 0.
need_j    = max(sum_i U_ij - room_j, 0)  units that must be cut at stage j.

"What the orders bring in": today's order of stage j lands after L_j days;
by then all of the pipeline has landed too, and stock only leaves a stage
(sales, shipments downstream).  So with the default ``capacity_basis=
"position"`` the stage's physical stock up to the order's arrival is at most
on_hand + pipeline + orders (the inventory position), and
``sum_i (on_hand_ij + pipeline_ij + x_ij) <= capacity_j`` guarantees the
capacity is never exceeded whatever the demand.  ``capacity_basis="expected"``
subtracts the forecast mean demand over the lead time (clipped so stock never
goes negative): less conservative, but only an expectation, not a guarantee.
``capacity_basis="projected"`` (`projected_stock`) projects each product's
stock day by day to the order's arrival with the exact env's timing: the
retailer sells the forecast demand out of stock plus arrivals, an upper stage
ships it out of its stock *before* the day's arrivals (what the stage below
can take).  An upper stage's outflow is then at most what it held, so a chain
whose capacity cannot carry the demand does not admit orders against outflow
that never comes (the expected basis does, and the env refuses the arrivals).
It needs ``pipeline_by_day``; an expectation too, and the closest to what the
env does.

Variables
---------
s_ijk  integer in [0, w_ijk]: units cut on segment k of product i, stage j.
       The order is x_ij = U_ij - sum_k s_ijk (so 0 <= x_ij <= U_ij holds by
       the bounds, and x can never exceed the controller's wish).

Constraints (one row per binding stage j, coefficients 0/1)
-------------------------------------------------------------
sum_i sum_k s_ijk >= need_j     <=>  sum_i (on_hand + pipeline + x)_ij <= capacity_j

Objective
---------
min sum_ijk slope_ijk * s_ijk, the expected cost of the cuts.  The cut cost of
product i at stage j is a convex piecewise-linear function of the cut u:

  C_ij(y) = k_ij E[(D - y)^+] + h_ij E[(y - D)^+]          (newsvendor cost)
          = (k + h) sigma G((y - mu)/sigma) + h (y - mu),  G = normal loss
  with D ~ Normal(mu_ij, sigma_ij) the demand over the protection interval
  L_j + 1 (`lead_time_demand`), y0 = on_hand + pipeline + U (position after
  the full order);
  m_ij(q)  = max(C_ij(y0 - q) - C_ij(y0 - q + 1), floor_ij)   q-th unit cut:
             expected missed sales k * dLoss minus holding saved h * (1 - dLoss)
  floor_ij = min_cut_cost_fraction * k^2 / (k + h)
  cost_ij(u) = sum_{q <= u} m_ij(q).

m(q) is non-decreasing in q (C is convex), so cost_ij is convex.  The floor
keeps every cut strictly costly when k > 0: the controller (RL safety stock)
may knowingly hold more than the single-stage newsvendor optimum, and we do not
second-guess it unless capacity forces a cut.  Both terms grow as h falls for a
fixed k, so a ratio-1000 product (h = k/1000) is more expensive to cut than a
ratio-10 one in the same state.

Segments: breakpoints b_k = round(k U / K) (half to even, exact integer
arithmetic), k = 0..K (K = max_segments); the
model's cost is the piecewise-linear interpolation of cost_ij through them,
exact on every integer when U_ij <= K (and when max_segments=None).  The
constraint matrix is one 0/1 row per stage over disjoint columns (an interval
matrix), so it is totally unimodular and the LP relaxation is already integral;
milp is still called with integrality so integrality is guaranteed.

Short-cuts and fallbacks
------------------------
* Stages with need_j = 0 are not modelled: their orders are U exactly (so
  "capacity not binding => orders = desired orders" holds exactly).
* HiGHS's answer is used only when it reports optimal (status 0) and its
  rounded point meets every row (and, with the band reduction, passes
  `is_optimal_cut`).  Otherwise `greedy_cuts` on the same segments is
  returned, always, whatever HiGHS had found:

  - time-out (status 1), with or without an incumbent:
    ``status="time_limit_greedy"``, ``timed_out=True``, ``fallback=True``;
  - any other failure (an exception, another status, no point, a rounded
    point that violates a row, a rejected band solution):
    ``status="fallback_greedy"``, ``timed_out=False``, ``fallback=True``.

  Greedy is exact for this model, so nothing is lost but HiGHS's
  certificate, and the orders and objective equal ``method="greedy"``'s: an
  incumbent kept at the time limit could be far from optimal (median +72 %
  measured) and would make the result depend on wall-clock time.

The whole build is vectorised (NumPy + scipy.sparse); no Python loop over
products.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.special import ndtr

from sc_jax.checks import ConfigError, check_choice, check_integer, check_number, check_time_limit, show
from .greedy import CutSegments, greedy_cuts, is_optimal_cut
from .problem import AllocationProblem, AllocationResult, lead_time_demand

__all__ = [
    "CAPACITY_BASES", "DAILY_OPTIONS", "build_cut_segments", "capacity_room", "check_daily_options", "newsvendor_cost",
    "projected_stock", "solve_daily", "threshold_band",
]

CAPACITY_BASES = ("position", "expected", "projected")
# Keyword options of solve_daily that `allocate` passes through for "daily" and "greedy".
DAILY_OPTIONS = ("max_segments", "capacity_basis", "min_cut_cost_fraction", "band_size")
_MIN_STD = 1e-9  # a zero sigma degenerates to the deterministic newsvendor cost


def projected_stock(problem: AllocationProblem) -> np.ndarray:
    """[N, M] int64: each product's stock at stage j on day L_j (when an order placed today
    lands), before that day's arrivals, projected in whole units (forecasts rounded half to even)
    with the env's exact timing: the retailer sells min(stock + arrivals, demand); stage j >= 1
    ships min(stock before arrivals, demand, supply capacity of stage j - 1). The JAX stage's
    `projected_stock` computes the same integers."""
    if problem.pipeline_by_day is None:
        raise ConfigError("capacity_basis 'projected' needs 'pipeline_by_day' (in-transit units by arrival day, "
                          "[products, stages, max lead time]), got None")
    schedule = problem.pipeline_by_day.astype(np.int64)  # [N, M, D]
    demand = np.rint(problem.forecast_mean).astype(np.int64)  # [N, H]
    below = np.concatenate([np.full_like(problem.supply_capacity[:, :1], 2**30), problem.supply_capacity[:, :-1]],
                           axis=1).astype(np.int64)
    stock = problem.on_hand.astype(np.int64).copy()
    for d in range(schedule.shape[2]):
        arriving, wanted = schedule[:, :, d], demand[:, d:d + 1]
        shipped = np.minimum(np.minimum(stock, wanted), below)
        shipped[:, 0] = np.minimum(stock[:, 0] + arriving[:, 0], wanted[:, 0])
        stock = np.where(d < problem.lead_times[None, :], stock + arriving - shipped, stock)
    return stock


def capacity_room(problem: AllocationProblem, capacity_basis: str = "position") -> tuple[np.ndarray, np.ndarray]:
    """Room [M] (int64) left for today's orders and overflow [M] (float) per stage."""
    check_choice("capacity_basis", capacity_basis, CAPACITY_BASES)
    committed = (problem.on_hand + problem.pipeline).astype(np.float64)
    if capacity_basis == "projected":
        committed = projected_stock(problem).astype(np.float64)
    elif capacity_basis == "expected":
        days = np.arange(problem.forecast_mean.shape[1])
        before_arrival = (days[None, :] < problem.lead_times[:, None]).astype(np.float64)  # [M, H]
        outflow = problem.forecast_mean @ before_arrival.T
        committed = np.maximum(committed - outflow, 0.0)
    committed_per_stage = committed.sum(axis=0)
    overflow = np.maximum(committed_per_stage - problem.capacity, 0.0)
    # A tiny epsilon protects against floating round-off in capacity - committed.
    room = np.floor(np.maximum(problem.capacity - committed_per_stage, 0.0) + 1e-9).astype(np.int64)
    return room, overflow


def newsvendor_cost(position, mean, std, holding, shortage):
    """C(y) = k E[(D-y)^+] + h E[(y-D)^+] for D ~ Normal(mean, std); broadcasts."""
    std = np.maximum(std, _MIN_STD)
    z = (position - mean) / std
    normal_loss = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) - z * ndtr(-z)
    return (shortage + holding) * std * normal_loss + holding * (position - mean)


def build_cut_segments(
    problem: AllocationProblem,
    upper: np.ndarray,
    stages: np.ndarray,
    max_segments: int | None = 16,
    min_cut_cost_fraction: float = 1e-3,
) -> CutSegments:
    """Convex piecewise-linear cut costs for the product/stage pairs of ``stages``."""
    check_integer("max_segments", max_segments, 1, allow_none=True)
    check_number("min_cut_cost_fraction", min_cut_cost_fraction, "a finite number >= 0", lambda x: 0 <= x < np.inf)
    n_products, n_stages = upper.shape
    stages = np.asarray(stages, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    if stages.size == 0 or upper[:, stages].max(initial=0) == 0:
        return CutSegments(empty, empty, empty, empty, np.zeros(0), n_products, n_stages)

    mean, std = lead_time_demand(problem)
    pair_product, pair_stage_local = np.nonzero(upper[:, stages] > 0)
    pair_stage = stages[pair_stage_local]
    bound = upper[pair_product, pair_stage]  # [P]
    holding = problem.holding_cost[pair_product, pair_stage]
    shortage = problem.shortage_cost[pair_product, pair_stage]
    full_position = (problem.on_hand + problem.pipeline)[pair_product, pair_stage] + bound

    # Cost of every integer cut 0..max bound: [P, Umax+1]; cuts beyond a pair's
    # bound are computed but never referenced.
    max_bound = int(bound.max())
    cut_units = np.arange(max_bound + 1, dtype=np.float64)
    cost_curve = newsvendor_cost(
        full_position[:, None] - cut_units[None, :],
        mean[pair_product, pair_stage][:, None],
        std[pair_product, pair_stage][:, None],
        holding[:, None],
        shortage[:, None],
    )
    denominator = np.where(shortage + holding > 0, shortage + holding, 1.0)
    floor = min_cut_cost_fraction * shortage * shortage / denominator
    marginal = np.maximum(np.diff(cost_curve, axis=1), floor[:, None])
    # Enforce monotone marginals against float round-off so greedy and the
    # convexity argument hold exactly.
    marginal = np.maximum.accumulate(marginal, axis=1)
    cumulative_cost = np.concatenate((np.zeros((bound.size, 1)), np.cumsum(marginal, axis=1)), axis=1)

    n_breaks = max_bound if max_segments is None else min(int(max_segments), max_bound)
    breakpoints = round_half_even_ratio(bound[:, None] * np.arange(n_breaks + 1)[None, :], n_breaks)  # [P, K+1]
    widths = np.diff(breakpoints, axis=1)
    costs_at_breaks = np.take_along_axis(cumulative_cost, breakpoints, axis=1)
    keep = widths > 0
    pair_of_segment = np.broadcast_to(np.arange(bound.size)[:, None], widths.shape)[keep]
    width = widths[keep]
    slope = np.diff(costs_at_breaks, axis=1)[keep] / width
    return CutSegments(
        product=pair_product[pair_of_segment],
        stage=pair_stage[pair_of_segment],
        start=breakpoints[:, :-1][keep],
        width=width,
        slope=slope,
        n_products=n_products,
        n_stages=n_stages,
    )


def round_half_even_ratio(numerator: np.ndarray, denominator: int) -> np.ndarray:
    """round(numerator / denominator), half to even, in exact integer arithmetic (the segment
    breakpoints; float64 ``rint(U * (k / K))`` misrounds some exact halves when K is not a power
    of two, e.g. U = 45, k = 7, K = 10)."""
    numerator = np.asarray(numerator, dtype=np.int64)
    quotient, remainder = np.divmod(numerator, denominator)
    up = (2 * remainder > denominator) | ((2 * remainder == denominator) & (quotient % 2 == 1))
    return quotient + up


def _cuts_from_segment_values(segments: CutSegments, values: np.ndarray) -> np.ndarray:
    filled = np.clip(np.rint(values), 0, segments.width)
    flat_index = segments.product * segments.n_stages + segments.stage
    total = np.bincount(flat_index, weights=filled, minlength=segments.n_products * segments.n_stages)
    return np.rint(total).astype(np.int64).reshape(segments.n_products, segments.n_stages)


def threshold_band(segments: CutSegments, need: np.ndarray, band_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact reduction: which segments HiGHS must decide, and a fixed value for the rest.

    Per stage, sort segments by slope (stable, like greedy) and find the
    position where the cumulative width first reaches need_j.  Segments more
    than ``band_size`` positions before it are fixed fully cut, those more than
    ``band_size`` after it are fixed uncut.  An optimal solution of the full
    model cuts every unit cheaper than the threshold and none dearer, so the
    reduced model has the same optimum; `is_optimal_cut` re-checks it after
    the solve.  Returns (free mask, fixed values) per segment.
    """
    check_integer("band_size", band_size, 1)
    order = np.lexsort((segments.slope, segments.stage))
    stage = segments.stage[order]
    width = segments.width[order]
    width_per_stage = np.bincount(stage, weights=width, minlength=segments.n_stages)
    width_before_stage = np.concatenate(([0.0], np.cumsum(width_per_stage)))
    cumulative = np.cumsum(width) - width_before_stage[stage]
    first_of_stage = np.searchsorted(stage, stage, side="left")
    rank_in_stage = np.arange(stage.size) - first_of_stage
    # Position (rank) of the threshold segment in each stage: first whose
    # cumulative width reaches the need.
    reached = cumulative >= np.asarray(need)[stage]
    threshold_rank = np.full(segments.n_stages, np.iinfo(np.int64).max)
    np.minimum.at(threshold_rank, stage[reached], rank_in_stage[reached])
    distance = rank_in_stage - threshold_rank[stage]
    free_sorted = np.abs(distance) <= band_size
    fixed_sorted = np.where(distance < -band_size, width, 0)
    free = np.empty_like(free_sorted)
    free[order] = free_sorted
    fixed = np.empty_like(fixed_sorted)
    fixed[order] = fixed_sorted
    return free, fixed


def _solve_segments_milp(segments, need, free, fixed, time_limit, mip_rel_gap):
    """HiGHS on the free segments; returns (segment values or None, OptimizeResult or message).

    Values are None unless HiGHS reports optimal (status 0) with a point; no
    model left after the fixing gives (fixed values, None).
    """
    free_index = np.flatnonzero(free)
    stages_free = segments.stage[free_index]
    fixed_cut = np.bincount(segments.stage, weights=fixed, minlength=segments.n_stages)
    residual_need = np.maximum(np.asarray(need, dtype=np.float64) - fixed_cut, 0.0)
    rows = np.flatnonzero(residual_need > 0)
    values = fixed.astype(np.float64)
    if rows.size == 0 or free_index.size == 0:
        return values, None
    row_of_stage = np.full(segments.n_stages, -1, dtype=np.int64)
    row_of_stage[rows] = np.arange(rows.size)
    in_row = row_of_stage[stages_free] >= 0
    columns = free_index[in_row]
    # One 0/1 row per stage that still needs cuts, over that stage's free columns.
    coupling = sparse.csr_array(
        (np.ones(columns.size), (row_of_stage[segments.stage[columns]], np.arange(columns.size))),
        shape=(rows.size, columns.size),
    )
    options = {"mip_rel_gap": float(mip_rel_gap), "presolve": False}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    try:
        solution = milp(
            segments.slope[columns],
            integrality=np.ones(columns.size),
            bounds=Bounds(np.zeros(columns.size), segments.width[columns].astype(np.float64)),
            constraints=LinearConstraint(coupling, lb=residual_need[rows], ub=np.inf),
            options=options,
        )
    except Exception as error:  # noqa: BLE001 - any HiGHS failure falls back, and is reported
        return None, f"milp raised {type(error).__name__}: {error}"
    if solution.status != 0 or solution.x is None:
        return None, solution
    values[columns] = solution.x
    return values, solution


def check_daily_options(
    time_limit=10.0, mip_rel_gap=1e-6, max_segments=16, capacity_basis="position", min_cut_cost_fraction=1e-3,
    band_size=500,
) -> None:
    """ConfigError for any bad argument of `solve_daily` (run before any work)."""
    check_time_limit(time_limit)
    check_number("mip_rel_gap", mip_rel_gap, "a number in [0, 1)", lambda x: 0 <= x < 1)
    check_integer("max_segments", max_segments, 1, allow_none=True)
    check_choice("capacity_basis", capacity_basis, CAPACITY_BASES)
    check_number("min_cut_cost_fraction", min_cut_cost_fraction, "a finite number >= 0", lambda x: 0 <= x < np.inf)
    check_integer("band_size", band_size, 1, allow_none=True)


def solve_daily(
    problem: AllocationProblem,
    time_limit: float | None = 10.0,
    mip_rel_gap: float = 1e-6,
    max_segments: int | None = 16,
    capacity_basis: str = "position",
    min_cut_cost_fraction: float = 1e-3,
    band_size: int | None = 500,
    use_milp: bool = True,
) -> AllocationResult:
    """Solve the daily model (module docstring); ``use_milp=False`` runs greedy only.

    ``band_size``: keep only the segments within this many slope ranks of each
    stage's threshold free for HiGHS (`threshold_band`, an exact reduction);
    None hands HiGHS the full model.  Unused by greedy (validated all the same).

    When HiGHS times out (status ``"time_limit_greedy"``, ``timed_out=True``)
    or fails (``"fallback_greedy"``), the greedy allocation is returned with
    ``fallback=True``: orders and objective are exactly those of
    ``use_milp=False``, whatever HiGHS had found, so the result never depends
    on wall-clock time.  Bad arguments raise `sc_jax.errors.ConfigError`.
    """
    if not isinstance(problem, AllocationProblem):
        raise ConfigError(f"'problem' must be an AllocationProblem, got {type(problem).__name__} {show(problem)}")
    check_daily_options(time_limit, mip_rel_gap, max_segments, capacity_basis, min_cut_cost_fraction, band_size)
    if not isinstance(use_milp, (bool, np.bool_)):
        raise ConfigError(f"'use_milp' must be True or False, got {show(use_milp)}")

    build_start = time.perf_counter()
    upper = problem.order_upper_bound()
    room, overflow = capacity_room(problem, capacity_basis)
    need = np.maximum(upper.sum(axis=0) - room, 0)
    binding_stages = np.flatnonzero(need > 0)
    info = {
        "binding_stages": binding_stages.tolist(),
        "need": need.tolist(),
        "clipped_by_supply": int((upper < problem.desired_orders).sum()),
    }
    if binding_stages.size == 0:
        return AllocationResult(
            orders=upper, status="not_binding", objective=0.0, mip_gap=0.0,
            build_s=time.perf_counter() - build_start, solve_s=0.0, timed_out=False,
            fallback=False, overflow=overflow, method="daily", info=info,
        )

    segments = build_cut_segments(problem, upper, binding_stages, max_segments, min_cut_cost_fraction)
    info["n_segments"] = segments.size
    if not use_milp:
        build_s = time.perf_counter() - build_start
        solve_start = time.perf_counter()
        cuts = greedy_cuts(segments, need)
        return AllocationResult(
            orders=upper - cuts, status="optimal", objective=segments.cost(cuts), mip_gap=0.0,
            build_s=build_s, solve_s=time.perf_counter() - solve_start, timed_out=False,
            fallback=False, overflow=overflow, method="greedy", info=info,
        )

    if band_size is None or segments.size <= 2 * int(band_size) * binding_stages.size:
        free, fixed = np.ones(segments.size, dtype=bool), np.zeros(segments.size, dtype=np.int64)
    else:
        free, fixed = threshold_band(segments, need, int(band_size))
    info["n_variables"] = int(free.sum())
    build_s = time.perf_counter() - build_start

    solve_start = time.perf_counter()
    values, solution = _solve_segments_milp(segments, need, free, fixed, time_limit, mip_rel_gap)
    highs_status = None if solution is None or isinstance(solution, str) else getattr(solution, "status", None)
    timed_out = highs_status == 1
    info["highs_status"] = highs_status
    info["highs_message"] = solution if isinstance(solution, str) else getattr(solution, "message", "no model")
    cuts = None
    if values is not None:
        cuts = _cuts_from_segment_values(segments, values)
        if np.any(cuts.sum(axis=0) < need):  # a rounded point must still fit the capacity
            cuts = None
    if cuts is not None and not np.all(free) and not is_optimal_cut(segments, cuts, need):
        # Only reachable if the band reduction were wrong; keep the guarantee.
        cuts, info["band_rejected"] = None, True
    if cuts is None:
        # Time-out or failure: greedy, always (exact, and independent of timing).
        cuts = greedy_cuts(segments, need)
        status, fallback, mip_gap = ("time_limit_greedy" if timed_out else "fallback_greedy"), True, 0.0
    else:
        status, fallback = "optimal", False
        mip_gap = float(getattr(solution, "mip_gap", 0.0) or 0.0) if solution is not None else 0.0
    solve_s = time.perf_counter() - solve_start
    return AllocationResult(
        orders=upper - cuts, status=status, objective=segments.cost(cuts), mip_gap=mip_gap,
        build_s=build_s, solve_s=solve_s, timed_out=timed_out, fallback=fallback,
        overflow=overflow, method="daily", info=info,
    )
