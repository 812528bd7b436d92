""""MIP with mixed cost": the hybrid sample's baseline planner, rebuilt as a rolling-horizon MILP.

Every day, for N products (one SKU, a batch of independent SKUs, or SKUs sharing capacity), M
stages and H planned days (tau = 0 is today), on the forecast means:

Variables
---------
o[i,tau,j]  order placed by stage j on day tau, integer in [0, c_ij] (`integrality="all"`; "first":
            integer on day 0 only, the one executed; "none": the LP relaxation, day 0's orders
            rounded down when fractional: status "lp_floor", the method's rounding, not a
            fallback; no branch and bound, so no time limit is ever hit). Orders that
            would arrive after the horizon (tau + L_j >= H) are fixed to 0 (they would only empty the
            supplier at no cost). Today's order o[i,0,j] <= `first_day_supply` (what the supplier
            can really ship today, e.g. its on hand under sc_jax's exact semantics) when given.
I[i,tau,j]  stock after the day's sales, >= 0.
m[i,tau]    missed retail sales, 0 <= m <= forecast mean.
v[g,tau,j]  capacity slack (only with a shared capacity), >= 0, penalised far above any cost.
u[i,tau,j]  shortfall below a soft safety target (only with `safety_target`), >= 0, for the days
            tau >= L_j (the sample's "stock >= safety once t >= L_j": earlier stock is already
            committed by the pipeline).

Rows
----
balance   I[tau,j] = I[tau-1,j] + A[tau,j] - d[tau,j], with I[-1] = on hand, A = known arrivals of
          orders already placed (the pipeline, by arrival day) + o[tau-L_j,j] (tau >= L_j), and
          d[tau,0] = mean[tau] - m[tau] (retail), d[tau,j] = o[tau,j-1] (stage j ships the order of
          stage j-1 in full: the plan never schedules a supplier shortfall, which would only cost
          the supplier's k for nothing: ordering less is always as good).
supply    timing="before_arrivals" (sc_jax's exact env): a supplier ships from its on hand
          before the day's arrivals, o[tau,j] <= I[tau-1,j+1] (tau = 0: a bound);
          timing="after_arrivals" (the sample's model and simulator): also the units arriving that
          day (the balance's I >= 0 is then the whole limit). With H = 10 and lead times [2, 3, 4]
          the chain's units reach the customer 2 + 3 + 4 = 9 days after the top order with
          "after_arrivals" but 11 days with "before_arrivals": a 10-day plan with the latter never
          sees a top-stage order pay off (it never orders there); use H >= 12 with it.
capacity  per group g of products sharing capacity C (a multi-SKU episode), stage j, day tau:
          capacity_row="env":    sum_i (I[i,tau-1,j] + A[i,tau,j]) - v <= C_j for every tau: the
                                 env's rule (arrivals are refused iff on hand before them plus
                                 the arrivals exceed C), so a plan that holds never has a unit
                                 refused if demand meets the forecast;
          capacity_row="sample": sum_i (I[i,tau,j] + A[i,tau,j]) - v <= C_j for tau > L_j (the
                                 sample's row: stock after sales plus arrivals, after the lead time).
          capacity_margin [H, M] (optional) is taken off C_j in day tau's row: headroom for demand
          below the forecast, which leaves more stock on hand than planned when the arrivals come
          (sc_jax.mip_mixed's `capacity_margin_z` sizes it from the forecast sigma).

safety    I[i,tau,j] + u[i,tau,j] >= safety_target[i,j] for tau >= L_j, with the retailer's net
          stock I[i,tau,0] - m[i,L_0] - ... - m[i,tau] there, and the retailer's missed sales on
          the days before L_0 fixed to what its stock and known arrivals leave unserved: with I
          alone the plan would "keep" stock for a later target by missing sales on purpose, which
          the env never does; this way a withheld sale never helps a row, and misses before the
          target starts add no phantom backlog. Soft: never infeasible (the
          sample's "Safety" controller holds it hard; issue #15's fixed-safety hybrid charges
          w k per unit short). A target of 0 adds no row: it changes nothing.

Objective
---------
min sum h_ij I[i,tau,j] + k_i m[i,tau] + big * v + safety_penalty_i u[i,tau,j]
(k the retail missed-sale cost, h per stage).

Solution, execution and fallback (never dependent on wall-clock time)
---------------------------------------------------------------------
The LP relaxation is solved first (HiGHS dual simplex): when its optimum has integral orders it
is an optimal integer plan (the single-SKU model is a network flow, so it always is; with a
shared capacity it usually is); otherwise the MILP (HiGHS branch and bound, `mip_rel_gap`).
Only day 0's orders are returned. With status 0 (optimal) they are the optimal plan's. On a
time-out or any failure whatever HiGHS had is discarded and the fallback is the LP
relaxation solved without a time limit (deterministic): its day-0 orders when they are integral
("lp_integral"), else rounded down and the LP re-solved with them fixed ("lp_floor"), whose plan
gives `capacity_slack`: rounding down never adds an arriving unit (a stage receives at most what
the LP plan had it receive) and the re-solved plan reports whether the rounding forced any
capacity slack beyond the LP's own (`info["slack_added"]`: usually 0; a fraction of a unit where
a stage's order rounded down leaves that unit at its supplier and a fractional capacity margin
had the supplier's row full, tests/test_mip_mixed.py's rolling sequence); `rounded_plan=False` skips
that re-solve (the same orders; the LP plan's objective and slack are reported; 10-20% of the
time of a 200-SKU model with a safety target, measured). If even the LP fails,
no order is placed ("fallback_zero"; no arrival can then exceed anything planned).
`capacity_slack` > 0 in an optimal plan means the instance itself (stock and pipeline already
committed) cannot fit: the env will refuse arrivals whatever is ordered.

Warm start (`warm_start=LpWarmStart()`, one per rolling plan): the LP is solved with HiGHS through
highspy (the solver SciPy embeds, whose Python API keeps a basis), starting from the optimal basis of
the previous day's model, mapped variable by variable and row by row on (block, product, plan day,
stage): day tau's variables start where yesterday's day tau ended. The costs do not change from day
to day, so that basis stays dual feasible and the dual simplex repairs only what the new stock,
arrivals and forecast moved: about 1,900 iterations instead of 17,000 on a 200-SKU model with a
safety target (docs/hybrid_reproduction.md). "lp_floor"'s re-solve with day 0's orders fixed
starts from the LP's own optimum (a few iterations). The optimum value is the cold solve's; where
the LP has several optimal vertices the one reached may differ, so episodes can differ from
cold-started ones, deterministically (the basis depends only on the plan's own earlier days).

NumPy/SciPy only (no JAX); the matrix is built with vectorised index arithmetic (no Python loop
over products, days or stages; the one loop, with a safety target, runs over the retailer's first
L_0 days: the sales it cannot change, a recursion min(stock, mean) day by day).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from sc_jax.checks import ConfigError, check_bool, check_choice, check_number, check_time_limit, show

__all__ = ["CAPACITY_ROWS", "INTEGRALITY", "TIMINGS", "LpWarmStart", "MixedCostProblem", "MixedCostResult",
           "build_mixed_milp", "solve_mixed"]

TIMINGS = ("after_arrivals", "before_arrivals")
INTEGRALITY = ("all", "first", "none")
CAPACITY_ROWS = ("env", "sample")


def _array(name, value, shape, *, integer=False, minimum=0.0, what=""):
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError):
        raise ConfigError(f"'{name}' must be a numeric array{what}, got {show(value)}") from None
    if raw.dtype.kind not in "biuf":
        raise ConfigError(f"'{name}' must be a numeric array{what}, got {show(value)}")
    arr = raw.astype(np.float64)
    if shape is not None and arr.shape != shape:
        raise ConfigError(f"'{name}' must have shape {shape}{what}, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"'{name}' must be finite, got non-finite values")
    if minimum is not None and np.any(arr < minimum):
        raise ConfigError(f"'{name}' must be >= {minimum:g}, got {arr.min():g}")
    if integer and np.any(arr != np.round(arr)):
        raise ConfigError(f"'{name}' must hold integers, got non-integer values")
    return arr


@dataclass(frozen=True)
class MixedCostProblem:
    """One day's planning instance (module docstring). Shapes: N products, H days, M stages.

    on_hand [N, M] and arrivals [N, H, M] (units already ordered, by arrival day, tau = 0 is
    today) integers >= 0; forecast_mean [N, H] >= 0 (the days the plan covers, tau = 0 first);
    holding_cost [N, M], shortage_cost [N] (retail k) >= 0; supply_capacity [N, M] integers >= 0;
    lead_times [M] integers >= 1; capacity [M] > 0 or None (no shared capacity); groups [N]
    integers >= 0 or None (all products in one group): products of one group share `capacity`;
    timing "after_arrivals" | "before_arrivals" (when a supplier's arrivals can be shipped on,
    module docstring); first_day_supply [N, M] integers >= 0 or None: most units each stage's
    supplier can ship today (the top stage's entry is ignored: the plant is unlimited);
    safety_target [N, M] >= 0 or None: a soft floor on each stage's stock after sales from day L_j
    on, each unit-day short of it costing safety_penalty [N] >= 0 (required with a target);
    capacity_margin [H, M] >= 0 or None (only with `capacity`): units taken off the shared capacity
    of stage j in day tau's row (every group's).
    """

    on_hand: np.ndarray
    arrivals: np.ndarray
    forecast_mean: np.ndarray
    holding_cost: np.ndarray
    shortage_cost: np.ndarray
    supply_capacity: np.ndarray
    lead_times: np.ndarray
    capacity: np.ndarray | None = None
    groups: np.ndarray | None = None
    timing: str = "after_arrivals"
    first_day_supply: np.ndarray | None = None
    safety_target: np.ndarray | None = None
    safety_penalty: np.ndarray | None = None
    capacity_margin: np.ndarray | None = None

    def __post_init__(self):
        store = lambda name, value: object.__setattr__(self, name, value)
        on_hand = _array("on_hand", self.on_hand, None, integer=True)
        if on_hand.ndim != 2 or on_hand.shape[1] < 1:
            raise ConfigError(f"'on_hand' must have shape [products, stages], got shape {on_hand.shape}")
        N, M = on_hand.shape
        mean = _array("forecast_mean", self.forecast_mean, None)
        if mean.ndim != 2 or mean.shape[0] != N or mean.shape[1] < 1:
            raise ConfigError(f"'forecast_mean' must have shape ({N}, horizon >= 1), got shape {mean.shape}")
        H = mean.shape[1]
        store("on_hand", on_hand)
        store("forecast_mean", mean)
        store("arrivals", _array("arrivals", self.arrivals, (N, H, M), integer=True,
                                 what=" [products, horizon days, stages]"))
        store("holding_cost", _array("holding_cost", self.holding_cost, (N, M)))
        store("shortage_cost", _array("shortage_cost", self.shortage_cost, (N,)))
        store("supply_capacity", _array("supply_capacity", self.supply_capacity, (N, M), integer=True))
        lead = _array("lead_times", self.lead_times, (M,), integer=True, minimum=1)
        store("lead_times", lead.astype(np.int64))
        if self.capacity is not None:
            store("capacity", _array("capacity", self.capacity, (M,), minimum=0.0))
        if self.groups is not None:
            groups = _array("groups", self.groups, (N,), integer=True)
            store("groups", groups.astype(np.int64))
        check_choice("timing", self.timing, TIMINGS)
        if self.first_day_supply is not None:
            store("first_day_supply", _array("first_day_supply", self.first_day_supply, (N, M), integer=True))
        if (self.safety_target is None) != (self.safety_penalty is None):
            raise ConfigError("'safety_target' and 'safety_penalty' go together: give both or neither, got "
                              f"safety_target={'None' if self.safety_target is None else 'an array'}, "
                              f"safety_penalty={'None' if self.safety_penalty is None else 'an array'}")
        if self.safety_target is not None:
            store("safety_target", _array("safety_target", self.safety_target, (N, M),
                                          what=" [products, stages], units of stock"))
            store("safety_penalty", _array("safety_penalty", self.safety_penalty, (N,),
                                           what=" [products], cost per unit-day short of the target"))
        if self.capacity_margin is not None:
            if self.capacity is None:
                raise ConfigError("'capacity_margin' needs a shared 'capacity' (it is taken off that row), "
                                  "got capacity=None")
            store("capacity_margin", _array("capacity_margin", self.capacity_margin, (H, M),
                                            what=" [horizon days, stages], units"))

    @property
    def shape(self) -> tuple[int, int, int]:
        """(N products, H days, M stages)."""
        return self.on_hand.shape[0], self.forecast_mean.shape[1], self.on_hand.shape[1]


@dataclass
class MixedCostResult:
    """Day 0's orders and how they were obtained.

    orders [N, M] int64; status "optimal" | "lp_integral" | "lp_floor" | "fallback_zero";
    objective (the plan's, the safety penalty included, without the slack penalty); capacity_slack (sum of v in the plan used);
    timed_out (HiGHS stopped at time_limit); fallback (status != "optimal", except "lp_floor" under
    integrality "none", where rounding down is the method); build_s / solve_s
    wall time (build, and every solve including fallbacks); info: sizes, HiGHS messages, gap."""

    orders: np.ndarray
    status: str
    objective: float
    capacity_slack: float
    timed_out: bool
    fallback: bool
    build_s: float
    solve_s: float
    info: dict = field(default_factory=dict)


def _missed_before_retail_lead(problem: MixedCostProblem) -> np.ndarray:
    """[N, H]: the retailer's missed sales on the days before L_0 (fixed there: it sells min(stock,
    mean) from on hand and known arrivals), the forecast mean from L_0 on (the upper bound)."""
    N, H, _ = problem.shape
    missed = problem.forecast_mean.copy()
    stock = problem.on_hand[:, 0].copy()
    for tau in range(min(int(problem.lead_times[0]), H)):  # L_0 <= a few days: a loop over days only
        available = stock + problem.arrivals[:, tau, 0]
        missed[:, tau] = np.maximum(problem.forecast_mean[:, tau] - available, 0.0)
        stock = np.maximum(available - problem.forecast_mean[:, tau], 0.0)
    return missed


def build_mixed_milp(problem: MixedCostProblem, integrality: str = "all", capacity_row: str = "env"):
    """Sparse model (module docstring): dict with c, A, row_lb, row_ub, lb, ub, integrality,
    the day-0 order columns [N*M] (product-major) and the slack columns."""
    check_choice("integrality", integrality, INTEGRALITY)
    check_choice("capacity_row", capacity_row, CAPACITY_ROWS)
    N, H, M = problem.shape
    block = N * H * M
    o_base, i_base, m_base = 0, block, 2 * block
    v_base = m_base + N * H
    coupled = problem.capacity is not None
    groups = np.zeros(N, np.int64) if problem.groups is None else problem.groups
    group_ids, group_of = np.unique(groups, return_inverse=True)
    G = group_ids.size if coupled else 0
    u_base = v_base + G * H * M

    product, day, stage = (a.ravel() for a in np.meshgrid(np.arange(N), np.arange(H), np.arange(M), indexing="ij"))
    cell = (product * H + day) * M + stage
    lead = problem.lead_times[stage]
    # soft safety target: one shortfall column per cell from day L_j on (none for a zero target)
    if problem.safety_target is not None:
        targeted = (day >= lead) & (problem.safety_target[product, stage] > 0)
    else:
        targeted = np.zeros(block, bool)
    n_var = u_base + int(targeted.sum())
    retail = stage == 0
    mean = problem.forecast_mean[product, day]
    # (block, product or group, plan day, stage) of every column and row as one integer: what
    # LpWarmStart carries from one day's model to the next (each row block records its own)
    key = lambda kind, entity, t, j: ((kind * N + entity) * H + t) * M + j
    col_key = [key(0, product, day, stage), key(1, product, day, stage), key(2, product[retail], day[retail], 0)]

    # balance rows (one per cell): I[t] - I[t-1] - o[t-L] + o[t, j-1] - m[t] (retail) = rhs
    rows, cols, vals = [cell], [i_base + cell], [np.ones(block)]
    prev = day >= 1
    rows.append(cell[prev]); cols.append(i_base + cell[prev] - M); vals.append(-np.ones(prev.sum()))
    arrives = day >= lead
    rows.append(cell[arrives]); cols.append(o_base + cell[arrives] - lead[arrives] * M)
    vals.append(-np.ones(arrives.sum()))
    ships = stage >= 1
    rows.append(cell[ships]); cols.append(o_base + cell[ships] - 1); vals.append(np.ones(ships.sum()))
    rows.append(cell[retail]); cols.append(m_base + product[retail] * H + day[retail])
    vals.append(-np.ones(retail.sum()))
    rhs = (np.where(day == 0, problem.on_hand[product, stage], 0.0) + problem.arrivals[product, day, stage]
           - np.where(retail, mean, 0.0))
    blocks = [(rows, cols, vals, block, rhs, rhs, key(0, product, day, stage))]

    # before_arrivals: o[t, j] <= I[t-1, j+1] for t >= 1 (t = 0 is a bound below)
    if problem.timing == "before_arrivals" and M > 1:
        sel = (stage < M - 1) & (day >= 1)
        r = np.arange(sel.sum())
        c_sel = cell[sel]
        blocks.append(([r, r], [o_base + c_sel, i_base + c_sel - M + 1],
                       [np.ones(r.size), -np.ones(r.size)], r.size, np.full(r.size, -np.inf), np.zeros(r.size),
                       key(1, product[sel], day[sel], stage[sel])))

    if coupled:
        # the row of (group g, day t, stage j); which cells enter it depends on capacity_row
        row_of = (group_of[product] * H + day) * M + stage
        known = problem.arrivals[product, day, stage].astype(np.float64)
        rows, cols, vals = [], [], []
        if capacity_row == "env":  # on hand before the day's arrivals + the arrivals
            active = np.ones(block, bool)
            known = known + np.where(day == 0, problem.on_hand[product, stage], 0.0)
            rows.append(row_of[prev]); cols.append(i_base + cell[prev] - M); vals.append(np.ones(prev.sum()))
        else:  # the sample's: stock after sales + arrivals, only after the lead time
            active = day > lead
            rows.append(row_of[active]); cols.append(i_base + cell[active]); vals.append(np.ones(active.sum()))
        sel = arrives & active
        rows.append(row_of[sel]); cols.append(o_base + cell[sel] - lead[sel] * M); vals.append(np.ones(sel.sum()))
        n_rows = G * H * M
        rows.append(np.arange(n_rows)); cols.append(v_base + np.arange(n_rows)); vals.append(-np.ones(n_rows))
        known_sum = np.bincount(row_of[active], weights=known[active], minlength=n_rows)
        row_stage, row_day, row_group = np.arange(n_rows) % M, (np.arange(n_rows) // M) % H, np.arange(n_rows) // (H * M)
        row_active = np.zeros(n_rows, bool)
        row_active[row_of[active]] = True
        room = problem.capacity[row_stage]
        if problem.capacity_margin is not None:
            room = room - problem.capacity_margin[row_day, row_stage]
        ub = np.where(row_active, room - known_sum, np.inf)
        blocks.append((rows, cols, vals, n_rows, np.full(n_rows, -np.inf), ub, key(2, row_group, row_day, row_stage)))
        col_key.append(key(3, row_group, row_day, row_stage))  # the rows' slack columns v

    if targeted.any():  # I[cell] (- m at retail) + u >= target
        r = np.arange(targeted.sum())
        c_sel = cell[targeted]
        # at the retailer minus the missed sales from L_0 on (the row of day tau takes m[L_0..tau])
        at_retail = np.flatnonzero(retail[targeted])
        through = day[targeted][at_retail]
        first = int(problem.lead_times[0])
        count = through - first + 1  # >= 1: a targeted retail day is >= L_0
        row_m = np.repeat(at_retail, count)
        day_m = first + np.arange(row_m.size) - np.repeat(np.cumsum(count) - count, count)
        col_m = m_base + product[targeted][row_m] * H + day_m
        blocks.append(([r, r, row_m], [i_base + c_sel, u_base + r, col_m],
                       [np.ones(r.size), np.ones(r.size), -np.ones(row_m.size)], r.size,
                       problem.safety_target[product[targeted], stage[targeted]], np.full(r.size, np.inf),
                       key(3, product[targeted], day[targeted], stage[targeted])))
        col_key.append(key(4, product[targeted], day[targeted], stage[targeted]))  # the shortfall columns u

    mats, lbs, ubs = [], [], []
    for rows, cols, vals, n_rows, lo, hi, _ in blocks:
        mats.append(sparse.csr_array((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                                     shape=(n_rows, n_var)))
        lbs.append(lo)
        ubs.append(hi)
    matrix = sparse.vstack(mats, format="csr")

    cost = np.zeros(n_var)
    cost[i_base + cell] = problem.holding_cost[product, stage]
    cost[m_base:v_base] = np.repeat(problem.shortage_cost, H)
    big = 1e3 * (float(max(problem.shortage_cost.max(initial=0.0), problem.holding_cost.max(initial=0.0))) + 1.0)
    cost[v_base:u_base] = big
    if targeted.any():
        cost[u_base:] = problem.safety_penalty[product[targeted]]

    lower = np.zeros(n_var)
    upper = np.full(n_var, np.inf)
    cap = problem.supply_capacity[product, stage].astype(np.float64)
    above = np.minimum(stage + 1, M - 1)
    if problem.timing == "before_arrivals":  # today's order ships from the supplier's on hand now
        supplier = np.where(stage < M - 1, problem.on_hand[product, above], np.inf)
        cap = np.where(day == 0, np.minimum(cap, supplier), cap)
    if problem.first_day_supply is not None:
        supplier = np.where(stage < M - 1, problem.first_day_supply[product, above], np.inf)
        cap = np.where(day == 0, np.minimum(cap, supplier), cap)
    cap[day + lead >= H] = 0.0
    upper[o_base + cell] = cap
    upper[m_base:v_base] = problem.forecast_mean.ravel()
    if targeted.any():
        # before L_0 the retailer's sales are fixed by its stock and known arrivals: fix its missed
        # sales there to what the env will miss (a plan must not withhold sales to stock a target)
        missed = _missed_before_retail_lead(problem)
        upper[m_base:v_base] = missed.ravel()
        lower[m_base:v_base] = np.where(np.arange(H)[None] < problem.lead_times[0], missed, 0.0).ravel()
    integer = np.zeros(n_var)
    if integrality == "all":
        integer[o_base:o_base + block] = 1
    elif integrality == "first":
        integer[o_base + cell[day == 0]] = 1
    return {"c": cost, "A": matrix, "row_lb": np.concatenate(lbs), "row_ub": np.concatenate(ubs),
            "lb": lower, "ub": upper, "integrality": integer, "first_orders": o_base + cell[day == 0],
            "slack": np.arange(v_base, u_base), "penalty": big,
            "col_key": np.concatenate(col_key), "row_key": np.concatenate([b[-1] for b in blocks])}


def _lp(model, lower, upper, time_limit):
    """The LP relaxation: HiGHS dual simplex without presolve (about 2x faster than milp's LP path
    on these block-structured models, same optimum)."""
    eq = model["row_lb"] == model["row_ub"]
    ub_rows = ~eq & np.isfinite(model["row_ub"])
    lb_rows = ~eq & np.isfinite(model["row_lb"])
    A = model["A"]
    A_ub = sparse.vstack([A[ub_rows], -A[lb_rows]], format="csr")
    b_ub = np.concatenate([model["row_ub"][ub_rows], -model["row_lb"][lb_rows]])
    options = {"presolve": False}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    try:
        return linprog(model["c"], A_ub=A_ub, b_ub=b_ub, A_eq=A[eq], b_eq=model["row_ub"][eq],
                       bounds=np.stack([lower, upper], axis=1), method="highs-ds", options=options)
    except Exception as error:  # noqa: BLE001 - reported, then the deterministic fallback
        return error


class LpWarmStart:
    """The optimal basis of a rolling plan's last LP, handed to the next day's (module docstring,
    "Warm start"). One per plan: a coupled catalog's samples each need their own, so that an
    episode's orders never depend on another episode or on how the samples are split over workers.
    `solves` / `warm_solves` count the LPs solved and those started from a basis."""

    def __init__(self):
        self.col_key = self.row_key = self.col_status = self.row_status = None
        self.solves = self.warm_solves = 0

    def _statuses(self, old_key, old_status, new_key, default):
        """Yesterday's status of the variable (row) with the same key, `default` for new ones."""
        order = np.argsort(old_key, kind="stable")
        ordered = old_key[order]
        at = np.minimum(np.searchsorted(ordered, new_key), ordered.size - 1)
        found = ordered[at] == new_key
        status = np.full(new_key.size, default, np.int64)
        status[found] = old_status[order[at[found]]]
        return status

    def apply(self, highs, model) -> bool:
        """Start `highs` (holding `model`) from the stored basis; False when there is none."""
        import highspy

        if self.col_key is None:
            return False
        basis = highspy.HighsBasis()
        kinds = {int(kind): kind for kind in highspy.HighsBasisStatus.__members__.values()}
        lower, basic = int(highspy.HighsBasisStatus.kLower), int(highspy.HighsBasisStatus.kBasic)
        basis.col_status = [kinds[v] for v in self._statuses(self.col_key, self.col_status, model["col_key"],
                                                             lower).tolist()]
        basis.row_status = [kinds[v] for v in self._statuses(self.row_key, self.row_status, model["row_key"],
                                                             basic).tolist()]
        # "alien": the mapped basis may hold more or fewer basic variables than rows (a target
        # appeared or vanished); HiGHS completes or trims it instead of rejecting it
        basis.valid, basis.alien = True, True
        return highs.setBasis(basis) == highspy.HighsStatus.kOk

    def keep(self, highs, model):
        basis = highs.getBasis()
        self.col_key, self.row_key = model["col_key"], model["row_key"]
        self.col_status = np.array([s.value for s in basis.col_status], np.int64)
        self.row_status = np.array([s.value for s in basis.row_status], np.int64)


class _HighsLp:
    """The LP solved by highspy, with scipy's result fields (status 0 optimal, 1 time limit)."""

    def __init__(self, highs, status, x, fun, nit, message):
        self.highs, self.status, self.x, self.fun, self.nit, self.message = highs, status, x, fun, nit, message


def _highs_lp(model, time_limit, warm: LpWarmStart):
    """The LP relaxation by HiGHS's dual simplex (as `_lp`), warm-started from `warm`'s basis."""
    import highspy

    try:
        highs = highspy.Highs()
        for name, value in (("output_flag", False), ("presolve", "off"), ("solver", "simplex"),
                            ("simplex_strategy", 1), ("threads", 1)):
            highs.setOptionValue(name, value)
        highs.setOptionValue("time_limit", float("inf") if time_limit is None else float(time_limit))
        A = model["A"].tocsc()
        # the arrays in one call (numpy buffers, ~6x faster than filling a HighsLp's vectors element by
        # element); the model's infinite bounds are HiGHS's (kHighsInf is inf); every column continuous
        highs.passModel(A.shape[1], A.shape[0], A.nnz, int(highspy.MatrixFormat.kColwise),
                        int(highspy.ObjSense.kMinimize), 0.0, *(np.ascontiguousarray(model[name], np.float64)
                                                                for name in ("c", "lb", "ub", "row_lb", "row_ub")),
                        A.indptr.astype(np.int32), A.indices.astype(np.int32), np.ascontiguousarray(A.data, np.float64),
                        np.zeros(A.shape[1], np.int32))
        warm.solves += 1
        warm.warm_solves += int(warm.apply(highs, model))
        result = _highs_run(highs)
        if result.status == 0:
            warm.keep(highs, model)
        return result
    except Exception as error:  # noqa: BLE001 - reported, then the deterministic fallback
        return error


def _highs_run(highs, fixed=None):
    """Run (after fixing columns `fixed` = (indices, values), warm from the current basis)."""
    import highspy

    if fixed is not None:
        index, value = fixed
        highs.setOptionValue("time_limit", float("inf"))
        highs.changeColsBounds(index.size, index.astype(np.int32), value, value)
    highs.run()
    state = highs.getModelStatus()
    status = {highspy.HighsModelStatus.kOptimal: 0, highspy.HighsModelStatus.kTimeLimit: 1}.get(state, 2)
    x = np.array(highs.getSolution().col_value) if status == 0 else None
    info = highs.getInfo()
    return _HighsLp(highs, status, x, info.objective_function_value, info.simplex_iteration_count,
                    highs.modelStatusToString(state))


def _mip(model, time_limit, mip_rel_gap):
    options = {"presolve": True, "mip_rel_gap": mip_rel_gap}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    try:
        return milp(model["c"], integrality=model["integrality"], bounds=Bounds(model["lb"], model["ub"]),
                    constraints=LinearConstraint(model["A"], model["row_lb"], model["row_ub"]), options=options)
    except Exception as error:  # noqa: BLE001 - reported, then the deterministic fallback
        return error


def _solved(sol) -> bool:
    return not isinstance(sol, Exception) and sol.status == 0 and sol.x is not None


def _plan_cost(model, x):
    slack = float(x[model["slack"]].sum()) if model["slack"].size else 0.0
    # einsum, not `@`: OpenBLAS threads a 1-D dot of this size, and on cores busy with the other
    # MIP workers each call waited 2-8 ms for its threads (einsum: ~10 us; measured on the 2-vCPU VM)
    return float(np.einsum("i,i->", model["c"], x)) - model["penalty"] * slack, slack


def solve_mixed(problem: MixedCostProblem, *, time_limit: float | None = 10.0, mip_rel_gap: float = 1e-6,
                integrality: str = "all", capacity_row: str = "env",
                warm_start: LpWarmStart | None = None, rounded_plan: bool = True) -> MixedCostResult:
    """Day 0's integer orders [N, M] of the rolling mixed-cost model (module docstring).
    warm_start: the plan's LpWarmStart (the LP by highspy from yesterday's basis, which it then
    holds), or None (SciPy's HiGHS, cold). rounded_plan: where day 0's LP orders are rounded down
    ("lp_floor"), re-solve the plan with them fixed to report its objective and capacity slack; False:
    report the LP's (`info["slack_added"]` nan). Diagnostics only: the orders are the same either way."""
    if not isinstance(problem, MixedCostProblem):
        raise ConfigError(f"'problem' must be a MixedCostProblem, got {type(problem).__name__}")
    if warm_start is not None and not isinstance(warm_start, LpWarmStart):
        raise ConfigError(f"'warm_start' must be an LpWarmStart or None, got {type(warm_start).__name__}")
    check_time_limit(time_limit)
    check_number("mip_rel_gap", mip_rel_gap, "a number in [0, 1)", lambda x: 0 <= x < 1)
    check_bool("rounded_plan", rounded_plan)
    t0 = time.perf_counter()
    model = build_mixed_milp(problem, integrality, capacity_row)
    build_s = time.perf_counter() - t0
    N, H, M = problem.shape
    first = model["first_orders"]
    info = {"n_variables": int(model["c"].size), "n_rows": int(model["A"].shape[0]),
            "n_integer": int(model["integrality"].sum())}
    t1 = time.perf_counter()
    integer = model["integrality"] > 0
    # the LP first: an integral LP optimum is an optimal integer plan (the single-SKU model is a
    # network flow: always integral); otherwise the MILP (HiGHS branch and bound)
    if warm_start is None:
        lp = _lp(model, model["lb"], model["ub"], time_limit)
    else:
        lp = _highs_lp(model, time_limit, warm_start)
        info["lp_iterations"] = getattr(lp, "nit", None)
    x = None
    # "none": no integer variable; the executed orders (day 0's) must still be whole units
    whole = integer if integrality != "none" else np.isin(np.arange(model["c"].size), first)
    if _solved(lp) and np.all(np.abs(lp.x[whole] - np.rint(lp.x[whole])) <= 1e-6):
        x, status, info["solved_by"] = lp.x, "optimal", "lp_integral"
    elif integer.any():
        sol = _mip(model, time_limit, mip_rel_gap)
        info["highs_status"] = None if isinstance(sol, Exception) else int(sol.status)
        info["highs_message"] = (f"milp raised {type(sol).__name__}: {sol}" if isinstance(sol, Exception)
                                 else getattr(sol, "message", ""))
        if _solved(sol):
            x, status, info["solved_by"] = sol.x, "optimal", "milp"
            info["mip_gap"] = float(getattr(sol, "mip_gap", 0.0) or 0.0)
    timed_out = info.get("highs_status") == 1 or (not isinstance(lp, Exception) and lp.status == 1)
    fallback = x is None
    if x is not None:
        orders = np.rint(x[first]).astype(np.int64).reshape(N, M)
    else:
        # integrality "none" (the LP is the model, rounded down), or the deterministic fallback:
        # the LP relaxation without a time limit
        if not _solved(lp):
            lp = _lp(model, model["lb"], model["ub"], None)
        if not _solved(lp):
            orders, status = np.zeros((N, M), np.int64), "fallback_zero"
        else:
            x = lp.x
            lp_orders = x[first]
            info["lp_objective"], info["lp_slack"] = _plan_cost(model, x)
            if np.all(np.abs(lp_orders - np.rint(lp_orders)) <= 1e-6):
                orders, status = np.rint(lp_orders).astype(np.int64).reshape(N, M), "lp_integral"
            else:
                floored = np.floor(lp_orders + 1e-6)
                orders, status = floored.astype(np.int64).reshape(N, M), "lp_floor"
                if rounded_plan:
                    lower, upper = model["lb"].copy(), model["ub"].copy()
                    lower[first] = upper[first] = floored
                    if isinstance(lp, _HighsLp):  # from the LP's own optimum: a few iterations
                        fixed = _highs_run(lp.highs, (first, floored))
                    else:
                        fixed = _lp(model, lower, upper, None)
                    x = fixed.x if _solved(fixed) else None
        if integrality == "none" and status != "fallback_zero":  # the LP rounded down is the method itself
            info["solved_by"], fallback = "lp", False
            status = "optimal" if status == "lp_integral" else status
    objective, slack = _plan_cost(model, x) if x is not None else (float("nan"), float("nan"))
    if status == "lp_floor":
        info["slack_added"] = (slack - info["lp_slack"]) if x is not None and rounded_plan else float("nan")
    if x is not None:
        info["integral_plan"] = bool(np.all(np.abs(x[integer] - np.rint(x[integer])) <= 1e-6))
    return MixedCostResult(orders=orders, status=status, objective=objective, capacity_slack=slack,
                           timed_out=bool(timed_out), fallback=fallback, build_s=build_s,
                           solve_s=time.perf_counter() - t1, info=info)
