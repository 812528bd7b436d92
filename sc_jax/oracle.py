"""Perfect-information bound: the best orders for a known demand path, as an LP/MILP (HiGHS).

For one product and one demand path D [T] the OR-Gym dynamics are linear in the orders, so the
best achievable discounted reward is the optimum of (variables per period t and stage m):

  R[t,m]  accepted order of stage m        0 <= R[t,m] <= c_m  (integer when `integer=True`)
  I[t,m]  on hand after shipping           >= 0
  S0[t]   retail sales                     >= 0
  U[t]    retail unfilled demand           >= 0  (v0: backlog carried; v1: lost this period)

  stage 0      I[t,0] = I[t-1,0] + R[t-L_0, 0] - S0[t]
  stage m>=1   I[t,m] = I[t-1,m] + R[t-L_m, m] - R[t,m-1]
  supplier     R[t,m-1] <= I[t-1,m]     (the supplier ships from stock before its arrivals;
                                         the plant, stage M, is unlimited)
  retail       v0: U[t] = U[t-1] + D[t] - S0[t]      v1: U[t] = D[t] - S0[t]
  (I[-1] = I0, U[-1] = 0, R[t<0] = 0: the environment's initial state)

  maximise  sum_t alpha**t (p S0[t] - r_M R[t,M-1] - k_0 U[t] - sum_m h_m I[t,m])

The objective is OR-Gym's reward: revenue p S0 + sum_m r_m R[t,m] minus purchases
sum_m r_m R[t,m] + r_M R[t,M-1]; the interior transfer prices cancel. Unfilled replenishment
U[t, m>=1] is zero: with perfect information the oracle requests exactly what it can get
(requested = accepted), so OR-Gym never charges k_m for m >= 1. Selling less than possible is
never better (a unit sold now earns p and saves holding and backlog cost), so the optimal S0 is
what the environment's min(on hand, demand) sells, and replaying the orders R through
`env.step_env` gives back exactly the optimum (tests/test_oracle.py).

Default: integer orders (MILP, `integer=True`), so the orders are feasible actions and the bound
is the best any integer policy can do on that path; `integer=False` solves the LP relaxation
(a bound at least as high; on OR-Gym's defaults the two agree to within solver tolerance).
The constraint matrix depends only on the parameters, so it is built once (vectorised NumPy +
scipy.sparse) and each path only changes the right-hand side; the paths are solved in a loop
outside jit. Shared capacity across products (`couple_products`) is not modelled: a ConfigError.

The hybrid sample's supply semantics (`env.supply_semantics="sample"`, sc_jax.env.dynamics): an
accepted order arrives in full after its lead time whatever the supplier holds; the supplier sells
X[t,m-1] = min(its on hand after this period's arrivals, R[t,m-1]) and the shortfall
R[t,m-1] - X[t,m-1] is unfilled at the supplier, charged its k_m (never owed). The model then has
the variables X[t,m-1] (integer with the orders) and, for m >= 1,

  stage m      I[t,m] = I[t-1,m] + R[t-L_m, m] - X[t,m-1]
  supplier     X[t,m-1] <= I[t-1,m] + R[t-L_m, m],   X[t,m-1] <= R[t,m-1]
  objective    - k_m (R[t,m-1] - X[t,m-1])

Selling less than the rule's min never pays (a unit sold now saves k_m now, more than the
discounted k_m it could save later, and its holding), so the optimum is what the environment does,
and replaying R gives it back (tests/test_oracle.py, both semantics).

Initial stock: the model's I0 is `params.initial_inventory`; an episode whose on hand is drawn
with its demand (`EnvParams.initial_inventory_range`, e.g. the `hybrid_sample` preset's 5..9)
carries it in `DemandPath.initial_on_hand`: pass the DemandPath (batched, as
`sc_jax.env.rollout.sample_paths` returns it) as `paths`, or `initial_on_hand` [S, M] / [P, S, M],
and each path is solved from its own initial stock (only the right-hand side changes).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from sc_jax.checks import check_bool, check_time_limit
from sc_jax.env.params import batch_shape
from sc_jax.env.types import EnvParams
from sc_jax.errors import ConfigError


class OracleSolution(NamedTuple):
    reward: float  # optimal discounted episode reward (the bound)
    orders: np.ndarray  # [T, M] accepted = requested orders (integers when integer=True)
    on_hand: np.ndarray  # [T, M] on hand after shipping
    sales: np.ndarray  # [T] retail sales
    unfilled: np.ndarray  # [T] retail unfilled (v0 backlog, v1 lost)
    supplier_unfilled: np.ndarray  # [T, M-1] stage m's unfilled share of stage m-1's order (sample
    #                                 semantics; 0 under the exact semantics, where R never exceeds it)


class _Model(NamedTuple):
    T: int
    M: int
    c: np.ndarray
    A_eq: sp.csr_matrix
    b_eq_fixed: np.ndarray  # rhs without demand
    A_ub: sp.csr_matrix
    b_ub: np.ndarray
    objective: np.ndarray  # to MINIMISE (negated reward)
    lower: np.ndarray
    upper: np.ndarray
    retail_rows: np.ndarray  # rows of A_eq whose rhs is D[t]
    backlog: bool
    sample: bool  # the sample's supply semantics: X[t, m-1] after U (module docstring)


def _single_product_numpy(env, params: EnvParams) -> dict:
    if batch_shape(params) != ():
        raise ConfigError(f"the oracle takes one product's EnvParams (no leading axis), got batch "
                          f"shape {batch_shape(params)}; use oracle_rewards for batches")
    if env.couple_products:
        raise ConfigError("the oracle does not model shared capacity across products (couple_products)")
    semantics = getattr(env, "supply_semantics", "exact")
    if semantics not in ("exact", "sample"):
        raise ConfigError(f"'supply_semantics' must be one of ('exact', 'sample') for the oracle, got {semantics!r}")
    f = lambda x: np.asarray(x, np.float64)
    return dict(T=env.periods, M=params.num_stages, I0=f(params.initial_inventory), p=float(params.retail_price),
                r=f(params.unit_cost), k=f(params.unit_shortage_cost), h=f(params.unit_holding_cost),
                c=f(params.supply_capacity), L=np.asarray(params.lead_time, np.int64),
                backlog=bool(params.backlog), log_alpha=float(np.float64(params.log_discount)),
                alpha=float(params.discount), sample=semantics == "sample")


def build_model(env, params: EnvParams) -> _Model:
    """The sparse LP of one product's dynamics (see module docstring), demand left out of the rhs."""
    d = _single_product_numpy(env, params)
    T, M = d["T"], d["M"]
    nR = nI = T * M
    iR = lambda t, m: t * M + m
    iI = lambda t, m: nR + t * M + m
    iS = lambda t: nR + nI + t
    iU = lambda t: nR + nI + T + t
    sample = d["sample"]
    iX = lambda t, m: nR + nI + 2 * T + t * (M - 1) + m  # supplier m+1's sales to stage m (sample)
    n = nR + nI + 2 * T + (T * (M - 1) if sample else 0)
    t_grid, m_grid = np.meshgrid(np.arange(T), np.arange(M), indexing="ij")  # [T, M]
    t_flat, m_flat = t_grid.ravel(), m_grid.ravel()

    # inventory balance rows (one per t, m): I[t,m] - I[t-1,m] - R[t-L_m,m] + out[t,m] = I0 (t=0)
    rows, cols, vals = [], [], []
    bal = t_flat * M + m_flat
    rows += [bal]; cols += [iI(t_flat, m_flat)]; vals += [np.ones(T * M)]
    prev = t_flat > 0
    rows += [bal[prev]]; cols += [iI(t_flat[prev] - 1, m_flat[prev])]; vals += [-np.ones(prev.sum())]
    src = t_flat - d["L"][m_flat]
    arr = src >= 0
    rows += [bal[arr]]; cols += [iR(src[arr], m_flat[arr])]; vals += [-np.ones(arr.sum())]
    stage0 = m_flat == 0
    rows += [bal[stage0]]; cols += [iS(t_flat[stage0])]; vals += [np.ones(T)]
    up = m_flat >= 1
    shipped = iX if sample else iR  # what stage m ships to stage m-1: its sales X, or the order R
    rows += [bal[up]]; cols += [shipped(t_flat[up], m_flat[up] - 1)]; vals += [np.ones(up.sum())]
    b_eq = np.zeros(T * M + T)
    b_eq[:M] = d["I0"]
    # retail rows: U[t] (- U[t-1] in v0) + S0[t] = D[t]
    ret = T * M + np.arange(T)
    rows += [ret, ret]; cols += [iU(np.arange(T)), iS(np.arange(T))]; vals += [np.ones(T), np.ones(T)]
    if d["backlog"]:
        rows += [ret[1:]]; cols += [iU(np.arange(T - 1))]; vals += [-np.ones(T - 1)]
    A_eq = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(T * M + T, n))

    # supplier stock: R[t,m-1] - I[t-1,m] <= 0 (t >= 1), R[0,m-1] <= I0[m]; sample semantics:
    # X[t,m-1] - I[t-1,m] - R[t-L_m,m] <= 0 (its arrivals count) and X[t,m-1] - R[t,m-1] <= 0
    ub_rows, ub_cols, ub_vals = [], [], []
    sup = np.arange(T * (M - 1))
    ts, ms = np.meshgrid(np.arange(T), np.arange(1, M), indexing="ij")
    ts, ms = ts.ravel(), ms.ravel()
    ub_rows += [sup]; ub_cols += [shipped(ts, ms - 1)]; ub_vals += [np.ones(sup.size)]
    later = ts > 0
    ub_rows += [sup[later]]; ub_cols += [iI(ts[later] - 1, ms[later])]; ub_vals += [-np.ones(later.sum())]
    b_ub = np.where(ts == 0, d["I0"][ms] if M > 1 else 0.0, 0.0)
    if sample:
        landed = ts - d["L"][ms] >= 0
        ub_rows += [sup[landed]]; ub_cols += [iR(ts[landed] - d["L"][ms[landed]], ms[landed])]
        ub_vals += [-np.ones(landed.sum())]
        below_order = sup.size + sup
        ub_rows += [below_order, below_order]; ub_cols += [iX(ts, ms - 1), iR(ts, ms - 1)]
        ub_vals += [np.ones(sup.size), -np.ones(sup.size)]
        b_ub = np.concatenate([b_ub, np.zeros(sup.size)])
    A_ub = sp.csr_matrix((np.concatenate(ub_vals) if ub_vals else np.zeros(0),
                          (np.concatenate(ub_rows) if ub_rows else np.zeros(0, int),
                           np.concatenate(ub_cols) if ub_cols else np.zeros(0, int))),
                         shape=(b_ub.size, n))

    disc = np.exp(np.arange(T) * d["log_alpha"])  # the env's alpha**n = exp(n log alpha)
    reward = np.zeros(n)
    reward[iS(np.arange(T))] = d["p"] * disc
    reward[iR(np.arange(T), M - 1)] -= d["r"][M] * disc
    reward[iU(np.arange(T))] = -d["k"][0] * disc
    reward[iI(t_flat, m_flat)] = -d["h"][m_flat] * disc[t_flat]
    if sample:  # - k_m (R[t,m-1] - X[t,m-1]): the supplier's unfilled share
        reward[iR(ts, ms - 1)] -= d["k"][ms] * disc[ts]
        reward[iX(ts, ms - 1)] += d["k"][ms] * disc[ts]
    lower = np.zeros(n)
    upper = np.full(n, np.inf)
    upper[iR(t_flat, m_flat)] = d["c"][m_flat]
    return _Model(T, M, d["c"], A_eq, b_eq, A_ub, b_ub, -reward, lower, upper, ret, d["backlog"], sample)


def _initial_stock(value, M: int) -> np.ndarray:
    arr = np.asarray(value, np.float64)
    if arr.shape != (M,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ConfigError(f"'initial_on_hand' must be {M} finite numbers >= 0 (one per stage), got {value!r}")
    return arr


def solve_path(model: _Model, demand, *, integer: bool = True, initial_on_hand=None) -> OracleSolution:
    """Best orders for one known demand path [T] (integers >= 0); `model` from build_model.
    `initial_on_hand` [M]: this episode's on hand at period 0 (default: the model's, i.e.
    params.initial_inventory)."""
    T, M = model.T, model.M
    demand = np.asarray(demand, np.float64)
    if demand.shape != (T,):
        raise ConfigError(f"demand path must have shape [periods]=({T},), got {demand.shape}")
    b_eq = model.b_eq_fixed.copy()
    b_ub = model.b_ub
    if initial_on_hand is not None:
        initial = _initial_stock(initial_on_hand, M)
        b_eq[:M] = initial  # the balance rows of period 0
        if M > 1:  # the supplier rows of period 0 (the first M - 1 rows): R[0,m-1] <= I0[m]
            b_ub = b_ub.copy()
            b_ub[: M - 1] = initial[1:]
    b_eq[model.retail_rows] = demand
    n = model.objective.size
    integrality = np.zeros(n)
    if integer:
        integrality[: T * M] = 1  # orders integer => on hand, sales and unfilled integer too
        integrality[2 * T * M + 2 * T:] = 1  # the suppliers' sales (sample semantics)
    constraints = [LinearConstraint(model.A_eq, b_eq, b_eq)]
    if model.A_ub.shape[0]:
        constraints.append(LinearConstraint(model.A_ub, -np.inf, b_ub))
    res = milp(model.objective, integrality=integrality, bounds=Bounds(model.lower, model.upper),
               constraints=constraints, options={"mip_rel_gap": 1e-9})
    if res.x is None:
        raise RuntimeError(f"oracle LP failed: {res.message}")
    x = res.x
    orders = x[: T * M].reshape(T, M)
    if integer:
        orders = np.round(orders)
    base = 2 * T * M + 2 * T
    shortfall = (orders[:, :-1] - x[base:].reshape(T, M - 1) if model.sample
                 else np.zeros((T, M - 1)))
    return OracleSolution(reward=float(-res.fun), orders=orders,
                          on_hand=x[T * M: 2 * T * M].reshape(T, M), sales=x[2 * T * M: 2 * T * M + T],
                          unfilled=x[2 * T * M + T: base], supplier_unfilled=shortfall)


def _paths_and_stock(paths, initial_on_hand):
    """(integer paths, initial stock or None) from paths or a batched DemandPath."""
    if hasattr(paths, "actual"):  # a DemandPath (batched): its drawn initial stock unless given
        if initial_on_hand is None:
            initial_on_hand = paths.initial_on_hand
        paths = paths.actual
    paths = np.asarray(paths)
    if initial_on_hand is not None:
        initial_on_hand = np.asarray(initial_on_hand)
        if initial_on_hand.shape[:-1] != paths.shape[:-1]:
            raise ConfigError(f"'initial_on_hand' must be [..., M] with the paths' leading axes {paths.shape[:-1]}, "
                              f"got shape {initial_on_hand.shape}")
    return paths, initial_on_hand


def oracle_rewards(env, params: EnvParams, paths, *, integer: bool = True, initial_on_hand=None) -> np.ndarray:
    """Bound per path: paths [S, T] -> [S], or for a product batch paths [P, S, T] -> [P, S].
    `paths` may be a batched DemandPath (its `initial_on_hand`, when drawn, is each episode's
    initial stock); `initial_on_hand` [S, M] / [P, S, M] sets it explicitly (module docstring)."""
    paths, initial = _paths_and_stock(paths, initial_on_hand)
    shape = batch_shape(params)
    if shape == ():
        if paths.ndim == 3 and paths.shape[0] == 1:
            paths = paths[0]
            initial = None if initial is None else initial[0]
        model = build_model(env, params)
        return np.array([solve_path(model, path, integer=integer,
                                    initial_on_hand=None if initial is None else initial[s]).reward
                         for s, path in enumerate(paths)])
    if len(shape) != 1 or paths.ndim != 3 or paths.shape[0] != shape[0]:
        raise ConfigError(f"paths must be [S, T] for one product or [P, S, T] for P={shape} products, "
                          f"got {paths.shape}")
    import jax

    out = []
    for p in range(shape[0]):
        single = jax.tree.map(lambda x: x[p], params)
        out.append(oracle_rewards(env, single, paths[p], integer=integer,
                                  initial_on_hand=None if initial is None else initial[p]))
    return np.stack(out)


# --- products sharing capacity: one LP per demand sample over the whole catalog ---------------------

class _CoupledModel(NamedTuple):
    blocks: list  # one _Model per product
    offsets: np.ndarray  # [N] first variable of each product's block
    A_eq: sp.csr_matrix
    A_ub: sp.csr_matrix  # the products' supplier rows, then the shared-capacity rows
    b_ub_fixed: np.ndarray
    objective: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


def build_coupled_model(env, params: EnvParams) -> _CoupledModel:
    """The LP of a catalog of N products sharing capacity (`env.couple_products`, params [N]):
    each product's model (`build_model`) as a diagonal block, plus per stage m and day t >= 1 the
    env's shared-capacity rule written as a constraint,
        sum_i (I[t-1,m,i] + R[t-L_m,m,i]) <= shared_capacity_m
    (stock before the day's arrivals plus the arrivals). The env refuses what does not fit and
    charges it; with the demand known, an order that would be refused is never better than not
    placing it (it only takes the supplier's stock and adds the charge), so this is the best any
    policy can do on the paths."""
    import jax

    if not env.couple_products:
        raise ConfigError("build_coupled_model needs products sharing capacity (env.couple_products); "
                          "use build_model / oracle_rewards for independent products")
    shape = batch_shape(params)
    if len(shape) != 1:
        raise ConfigError(f"params must have one product axis [N] for a coupled catalog, got batch shape {shape}")
    single_env = env.replace(couple_products=False)
    blocks = [build_model(single_env, jax.tree.map(lambda x: x[i], params)) for i in range(shape[0])]
    T, M = blocks[0].T, blocks[0].M
    sizes = np.array([b.objective.size for b in blocks])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    capacity = np.asarray(params.shared_capacity, np.float64)[0][:M]
    lead = np.asarray(params.lead_time, np.int64)  # [N, M]
    rows, cols = [], []
    t_grid, m_grid = np.meshgrid(np.arange(1, T), np.arange(M), indexing="ij")
    t_flat, m_flat = t_grid.ravel(), m_grid.ravel()
    row = np.arange(t_flat.size)
    for i, base in enumerate(offsets):
        rows.append(row); cols.append(base + T * M + (t_flat - 1) * M + m_flat)  # I[t-1, m, i]
        src = t_flat - lead[i][m_flat]
        landed = src >= 0
        rows.append(row[landed]); cols.append(base + src[landed] * M + m_flat[landed])  # R[t-L_m, m, i]
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    n = int(sizes.sum())
    shared = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(row.size, n))
    A_ub = sp.vstack([sp.block_diag([b.A_ub for b in blocks]), shared]).tocsr()
    b_ub = np.concatenate([b.b_ub for b in blocks] + [capacity[m_flat]])
    return _CoupledModel(blocks, offsets, sp.block_diag([b.A_eq for b in blocks]).tocsr(), A_ub, b_ub,
                         np.concatenate([b.objective for b in blocks]), np.concatenate([b.lower for b in blocks]),
                         np.concatenate([b.upper for b in blocks]))


def coupled_oracle_rewards(env, params: EnvParams, paths, *, initial_on_hand=None, integer: bool = False,
                           time_limit: float | None = None) -> np.ndarray:
    """Perfect-information bound of a catalog sharing capacity, per demand sample: paths
    [N, S, T] (or a batched DemandPath [N, S], whose drawn initial stock each episode starts
    from; `initial_on_hand` [N, S, M] sets it) -> rewards [S], the best total discounted reward of
    all N products together (`build_coupled_model`). Default: the LP relaxation (integer=False),
    an upper bound on the reward of every policy, integer or not (the MILP is too large for
    hundreds of products); its cost (-reward, where p = r = 0) is then a lower bound on every
    policy's cost on the same paths. One HiGHS solve per sample, outside jit. A solve that stops
    at `time_limit` seconds (None: no limit) without an optimum raises: a bound is only a bound
    when it is optimal."""
    integer = check_bool("integer", integer)
    time_limit = check_time_limit(time_limit)
    model = build_coupled_model(env, params)
    paths, initial = _paths_and_stock(paths, initial_on_hand)
    N = len(model.blocks)
    T, M = model.blocks[0].T, model.blocks[0].M
    if paths.ndim != 3 or paths.shape[0] != N or paths.shape[2] < T:
        raise ConfigError(f"paths must be [N, S, T] with N={N} products and T >= {T} periods, got {paths.shape}")
    integrality = np.zeros(model.objective.size)
    if integer:
        for block, base in zip(model.blocks, model.offsets):
            integrality[base: base + T * M] = 1
            integrality[base + 2 * T * M + 2 * T: base + block.objective.size] = 1
    options = {"mip_rel_gap": 1e-9}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    out = []
    for s in range(paths.shape[1]):
        b_eq, b_ub = [], model.b_ub_fixed.copy()
        ub_at = 0
        for i, block in enumerate(model.blocks):
            rhs = block.b_eq_fixed.copy()
            rhs[block.retail_rows] = paths[i, s, :T]
            if initial is not None:
                stock = _initial_stock(initial[i, s], M)
                rhs[:M] = stock
                b_ub[ub_at: ub_at + M - 1] = stock[1:]  # R[0, m-1] <= I0[m]
            b_eq.append(rhs)
            ub_at += block.A_ub.shape[0]
        b_eq = np.concatenate(b_eq)
        res = milp(model.objective, integrality=integrality, bounds=Bounds(model.lower, model.upper),
                   constraints=[LinearConstraint(model.A_eq, b_eq, b_eq), LinearConstraint(model.A_ub, -np.inf, b_ub)],
                   options=options)
        if res.status != 0 or res.x is None:
            raise RuntimeError(f"coupled oracle LP not solved to optimality (sample {s}): {res.message}")
        out.append(-res.fun)
    return np.asarray(out)


__all__ = ["OracleSolution", "build_coupled_model", "build_model", "coupled_oracle_rewards", "oracle_rewards",
           "solve_path"]
