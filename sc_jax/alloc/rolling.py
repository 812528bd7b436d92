"""Bonsai-style rolling-horizon variant: horizon LP, first day rounded capacity-safe.

This is the "faithful" planning model of the sample, kept behind the same
interface as the daily model so the hybrid experiments can compare fidelity.
It plans H days (default: the forecast horizon) for all products and stages
with forecast-mean demand, solves only the LP relaxation (the MILP is
impractical, see docs/alloc.md), executes the first day and re-plans the next
day.

Indices: product i, day t = 0..H-1, stage j = 0..M-1 (0 = retailer).

Variables (all continuous, >= 0)
--------------------------------
o_itj  order placed by stage j on day t, <= supply_capacity_ij; day 0 also
       <= the order upper bound U_ij (desired order clipped by supply and
       supplier stock, as in the daily model); orders that would arrive after
       the horizon (t + L_j >= H) are fixed to 0, otherwise the LP would buy
       stock it never pays holding cost for.
I_itj  end-of-day stock.
z_itj  safety shortfall below the controller's safety stock.
s_it   missed sales at the retailer, <= forecast mean.
v_tj   capacity overflow (only non-zero when the pipeline alone overflows;
       penalised far above any other cost so it never replaces a cut).

Constraints
-----------
balance   I_itj = I_i,t-1,j + o_i,t-L_j,j + arrivals_itj - o_i,t,j-1 [j >= 1]
                  - (mean_it - s_it) [j = 0]
          (I_i,-1,j = on_hand; arrivals from ``pipeline_by_day``, or the whole
          pipeline on day 0 when no schedule is given; stage j ships stage
          j-1's orders the day they are placed, so I >= 0 is the supplier
          stock limit).
safety    I_itj + z_itj >= safety_ij, with safety_ij = max(on_hand + pipeline
          + desired - mean lead-time demand, 0), the safety stock the RL brain
          gave the controller.
capacity  sum_i I_itj - v_tj <= capacity_j   for every day and stage.

Objective
---------
min sum h_ij I_itj + k_i0 s_it + p_ij z_itj + big * v_tj, with the safety
penalty p = w h + (1 - w) k between h and k (w = ``safety_penalty_weight``).

Execution
---------
First-day orders are rounded down (never above the LP), then made
capacity-safe against the daily model's guarantee (sum_i on_hand + pipeline +
x <= capacity_j): any excess is cut with the daily model's cut costs
(greedy, exact).  With ``repair_upward`` the leftover room is filled, one unit
per product at most, up to ceil(LP order), largest fractional part first.
The reported objective is the daily model's cut cost of the executed orders,
so both variants are measured with the same yardstick; the LP objective is in
``info["lp_objective"]``.

Fallbacks
---------
The LP point is used only when HiGHS reports it optimal (status 0).  On a
time-out (status 1) or any failure (an exception, another status, no point)
the rolling plan is dropped and the *daily* model solved by greedy (exact for
the daily model, deterministic) is returned instead, with the same
``max_segments``, ``capacity_basis`` and ``min_cut_cost_fraction``:
``status="time_limit_greedy"`` with ``timed_out=True`` on a time-out,
``status="fallback_greedy"`` with ``timed_out=False`` otherwise, and
``fallback=True`` in both cases; ``method`` stays "rolling".  So the result
never depends on wall-clock time: it is either the rounded LP optimum or
exactly ``allocate(problem, "greedy", ...)``'s orders.
"""

from __future__ import annotations

import time

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from sc_jax.checks import ConfigError, check_bool, check_choice, check_integer, check_number, check_time_limit, show
from .greedy import greedy_cuts
from .milp import CAPACITY_BASES, build_cut_segments, capacity_room, solve_daily
from .problem import AllocationProblem, AllocationResult, lead_time_demand

__all__ = ["ROLLING_OPTIONS", "build_rolling_lp", "check_rolling_options", "solve_rolling"]

# Keyword options of solve_rolling that `allocate` passes through for "rolling".
ROLLING_OPTIONS = (
    "horizon", "safety_penalty_weight", "repair_upward", "max_segments", "capacity_basis", "min_cut_cost_fraction",
)


def _check_horizon(problem: AllocationProblem, horizon) -> None:
    """None (the forecast horizon) or an integer from max(lead_times) + 1 to the forecast days."""
    check_integer("horizon", horizon, int(problem.lead_times.max()) + 1, allow_none=True,
                  maximum=int(problem.forecast_mean.shape[1]))


def check_rolling_options(
    problem: AllocationProblem, time_limit=60.0, horizon=None, safety_penalty_weight=0.5, repair_upward=True,
    max_segments=16, capacity_basis="position", min_cut_cost_fraction=1e-3,
) -> None:
    """ConfigError for any bad argument of `solve_rolling` (run before any work)."""
    check_time_limit(time_limit)
    _check_horizon(problem, horizon)
    check_number("safety_penalty_weight", safety_penalty_weight, "a number in [0, 1]", lambda x: 0 <= x <= 1)
    check_bool("repair_upward", repair_upward)
    check_integer("max_segments", max_segments, 1, allow_none=True)
    check_choice("capacity_basis", capacity_basis, CAPACITY_BASES)
    check_number("min_cut_cost_fraction", min_cut_cost_fraction, "a finite number >= 0", lambda x: 0 <= x < np.inf)


def build_rolling_lp(problem: AllocationProblem, horizon: int | None = None, safety_penalty_weight: float = 0.5):
    """Sparse horizon LP (module docstring); returns (c, A, row_lb, row_ub, lb, ub, first_order_index)."""
    _check_horizon(problem, horizon)
    check_number("safety_penalty_weight", safety_penalty_weight, "a number in [0, 1]", lambda x: 0 <= x <= 1)
    n_products, n_stages = problem.n_products, problem.n_stages
    horizon = problem.forecast_mean.shape[1] if horizon is None else int(horizon)
    N, H, M = n_products, horizon, n_stages
    block = N * H * M
    order_base, stock_base, shortfall_base = 0, block, 2 * block
    missed_base = 3 * block
    overflow_base = missed_base + N * H
    n_variables = overflow_base + H * M

    product, day, stage = (a.ravel() for a in np.meshgrid(np.arange(N), np.arange(H), np.arange(M), indexing="ij"))
    cell = (product * H + day) * M + stage  # also the balance row of (i, t, j)
    lead = problem.lead_times[stage]
    mean_daily = problem.forecast_mean[:, :H]

    # Balance rows: coefficients as (row, column, value) triplets, masked where absent.
    rows, cols, vals = [cell], [stock_base + cell], [np.ones(block)]
    has_previous = day >= 1
    rows.append(cell[has_previous]); cols.append(stock_base + cell[has_previous] - M); vals.append(-np.ones(has_previous.sum()))
    arrives = day >= lead
    rows.append(cell[arrives]); cols.append(order_base + cell[arrives] - lead[arrives] * M); vals.append(-np.ones(arrives.sum()))
    ships = stage >= 1
    rows.append(cell[ships]); cols.append(order_base + cell[ships] - 1); vals.append(np.ones(ships.sum()))
    retail = stage == 0
    rows.append(cell[retail]); cols.append(missed_base + product[retail] * H + day[retail]); vals.append(-np.ones(retail.sum()))
    balance = sparse.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(block, n_variables))

    arrivals = np.zeros((N, M, H))
    if problem.pipeline_by_day is None:
        arrivals[:, :, 0] = problem.pipeline
    else:
        schedule = problem.pipeline_by_day[:, :, : min(H, problem.pipeline_by_day.shape[2])]
        arrivals[:, :, : schedule.shape[2]] = schedule
    balance_rhs = (
        np.where(day == 0, problem.on_hand[product, stage], 0.0)
        + arrivals[product, stage, day]
        - np.where(retail, mean_daily[product, day], 0.0)
    )

    mean_lead, _ = lead_time_demand(problem)
    safety = np.maximum(problem.on_hand + problem.pipeline + problem.desired_orders - mean_lead, 0.0)
    safety_rows = sparse.csr_array(
        (np.ones(2 * block), (np.tile(cell, 2), np.concatenate((stock_base + cell, shortfall_base + cell)))),
        shape=(block, n_variables),
    )
    capacity_rows = sparse.csr_array(
        (
            np.concatenate((np.ones(block), -np.ones(H * M))),
            (np.concatenate((day * M + stage, np.arange(H * M))), np.concatenate((stock_base + cell, overflow_base + np.arange(H * M)))),
        ),
        shape=(H * M, n_variables),
    )
    matrix = sparse.vstack((balance, safety_rows, capacity_rows), format="csr")
    row_lb = np.concatenate((balance_rhs, safety[product, stage], np.full(H * M, -np.inf)))
    row_ub = np.concatenate((balance_rhs, np.full(block, np.inf), np.tile(problem.capacity, H)))

    holding = problem.holding_cost[product, stage]
    shortage = problem.shortage_cost[product, stage]
    cost = np.zeros(n_variables)
    cost[stock_base + cell] = holding
    cost[shortfall_base + cell] = safety_penalty_weight * holding + (1.0 - safety_penalty_weight) * shortage
    cost[missed_base : missed_base + N * H] = np.repeat(problem.shortage_cost[:, 0], H)
    cost[overflow_base:] = 1e3 * (float(problem.shortage_cost.max(initial=0.0)) + 1.0)

    lower = np.zeros(n_variables)
    upper = np.full(n_variables, np.inf)
    order_cap = problem.supply_capacity[product, stage].astype(np.float64)
    first_day = day == 0
    order_cap[first_day] = np.minimum(order_cap[first_day], problem.order_upper_bound()[product[first_day], stage[first_day]])
    order_cap[day + lead >= H] = 0.0  # arrives after the horizon
    upper[order_base + cell] = order_cap
    upper[missed_base : missed_base + N * H] = mean_daily.ravel()
    first_order_index = order_base + cell[first_day]  # ordered (i, j) row-major
    return cost, matrix, row_lb, row_ub, lower, upper, first_order_index


def _repair_upward(orders, lp_orders, upper, room):
    """Fill leftover room with ceil(LP) units, largest fractional part first (vectorised)."""
    n_products, n_stages = orders.shape
    target = np.minimum(np.ceil(lp_orders - 1e-6).astype(np.int64), upper)
    extra = np.maximum(target - orders, 0).ravel()
    left = np.maximum(room - orders.sum(axis=0), 0)
    stage = np.tile(np.arange(n_stages), n_products)
    fraction = (lp_orders - np.floor(lp_orders)).ravel()
    order = np.lexsort((-fraction, stage))
    stage_sorted = stage[order]
    extra_sorted = extra[order]
    before_stage = np.concatenate(([0], np.cumsum(np.bincount(stage_sorted, weights=extra_sorted, minlength=n_stages))))
    cumulative = np.cumsum(extra_sorted) - before_stage[stage_sorted]
    granted_sorted = np.clip(left[stage_sorted] - (cumulative - extra_sorted), 0, extra_sorted).astype(np.int64)
    granted = np.empty_like(granted_sorted)
    granted[order] = granted_sorted
    return orders + granted.reshape(n_products, n_stages)


def solve_rolling(
    problem: AllocationProblem,
    time_limit: float | None = 60.0,
    horizon: int | None = None,
    safety_penalty_weight: float = 0.5,
    repair_upward: bool = True,
    max_segments: int | None = 16,
    capacity_basis: str = "position",
    min_cut_cost_fraction: float = 1e-3,
) -> AllocationResult:
    """Rolling-horizon LP variant (module docstring), same result type as the daily model.

    On a HiGHS time-out or failure it returns the daily model's greedy
    allocation, flagged ``fallback=True`` (and ``timed_out=True``,
    ``status="time_limit_greedy"`` for a time-out; ``status="fallback_greedy"``
    otherwise).  Bad arguments raise `sc_jax.errors.ConfigError`.
    """
    if not isinstance(problem, AllocationProblem):
        raise ConfigError(f"'problem' must be an AllocationProblem, got {type(problem).__name__} {show(problem)}")
    check_rolling_options(problem, time_limit, horizon, safety_penalty_weight, repair_upward, max_segments,
                          capacity_basis, min_cut_cost_fraction)
    build_start = time.perf_counter()
    cost, matrix, row_lb, row_ub, lower, upper, first_order_index = build_rolling_lp(
        problem, horizon, safety_penalty_weight
    )
    order_bound = problem.order_upper_bound()
    room, overflow = capacity_room(problem, capacity_basis)
    build_s = time.perf_counter() - build_start
    info = {"n_variables": int(cost.size), "n_rows": int(matrix.shape[0])}

    solve_start = time.perf_counter()
    options = {"presolve": True}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    try:
        solution = milp(cost, integrality=np.zeros(cost.size), bounds=Bounds(lower, upper),
                        constraints=LinearConstraint(matrix, row_lb, row_ub), options=options)
        info["highs_message"] = solution.message
    except Exception as error:  # noqa: BLE001 - reported and replaced by the greedy allocation
        solution = None
        info["highs_message"] = f"milp raised {type(error).__name__}: {error}"
    info["highs_status"] = getattr(solution, "status", None)
    timed_out = info["highs_status"] == 1
    if solution is None or solution.status != 0 or solution.x is None:
        # Time-out or failure: the daily model by greedy, always (deterministic).
        fallback = solve_daily(problem, time_limit=time_limit, max_segments=max_segments, capacity_basis=capacity_basis,
                               min_cut_cost_fraction=min_cut_cost_fraction, use_milp=False)
        info.update(fallback.info)
        return AllocationResult(
            orders=fallback.orders, status="time_limit_greedy" if timed_out else "fallback_greedy",
            objective=fallback.objective, mip_gap=0.0, build_s=build_s, solve_s=time.perf_counter() - solve_start,
            timed_out=timed_out, fallback=True, overflow=overflow, method="rolling", info=info,
        )
    info["lp_objective"] = float(solution.fun)
    lp_orders = np.clip(solution.x[first_order_index].reshape(problem.n_products, problem.n_stages), 0.0, order_bound)
    orders = np.minimum(np.floor(lp_orders + 1e-6).astype(np.int64), order_bound)

    # Capacity-safe: cut any excess over the daily model's room with its cut costs.
    excess = np.maximum(orders.sum(axis=0) - room, 0)
    if np.any(excess > 0):
        segments = build_cut_segments(problem, orders, np.flatnonzero(excess > 0), max_segments, min_cut_cost_fraction)
        orders = orders - greedy_cuts(segments, excess)
    info["capacity_cut_units"] = excess.tolist()
    if repair_upward:
        orders = _repair_upward(orders, lp_orders, order_bound, room)

    # Same yardstick as the daily model: cut cost of U - orders at every stage.
    evaluation = build_cut_segments(problem, order_bound, np.arange(problem.n_stages), max_segments, min_cut_cost_fraction)
    objective = evaluation.cost(order_bound - orders)
    return AllocationResult(
        orders=orders, status="rounded_lp", objective=objective, mip_gap=0.0,
        build_s=build_s, solve_s=time.perf_counter() - solve_start, timed_out=False, fallback=False,
        overflow=overflow, method="rolling", info=info,
    )
