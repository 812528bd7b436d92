"""The daily allocation model in JAX: jit-able, vmap-able, exact greedy marginal allocation.

`daily_allocation(...)` solves the model of `sc_jax.alloc.milp` (docs/alloc.md, "The daily
model") on arrays with fixed shapes, so it runs inside `jax.jit`, `jax.vmap` and `lax.scan`
(the hybrid episode of `sc_jax.hybrid_jax` calls it once a day). `allocate(problem,
method="jax")` in `sc_jax.alloc` wraps it for one `AllocationProblem`. The SciPy MILP stays the
reference and the default; tests hold the two together (tests/test_alloc_jax.py).

Same model, step by step (N products, M stages, K = max_segments; arrays stage-major, [M, B, N],
segments on a leading axis [K, B, N], products minor: XLA's CPU backend vectorises along it):

* U = min(desired, supply capacity, supplier's on hand) (the factory above stage M-1: unlimited).
* committed_ij = on_hand + pipeline (position basis), or max(that - forecast mean over the L_j
  days before arrival, 0) (expected basis); room_j = floor(max(capacity_j - sum_i committed, 0)
  + 1e-9), overflow_j = max(sum_i committed - capacity_j, 0), need_j = max(sum_i U_ij - room_j, 0).
  These sums are exact in int32 when the forecast means are whole numbers (the sample's
  generator), else in double-float arithmetic (pairs of float32, about 48 bits): room is the
  float64 reference's up to capacity - committed lying within ~1e-8 of an integer.
* Cut costs: the newsvendor cost C(y) over the protection interval L_j + 1, unit marginal
  m(q) = max(C(y0 - q) - C(y0 - q + 1), floor), floor = min_cut_cost_fraction k^2 / (k + h);
  segments between the breakpoints round(U k / n) (round half to even, exact integer arithmetic),
  n = min(K, U) per product and stage (every integer is a breakpoint when U <= K, as in the
  reference, where n = min(K, max U) gives the same segments). The first unit above the floor comes
  from the normal quantile (`ndtri`) and one check; a segment's slope is its mean unit marginal:
  k times its share of missed sales - h times its share of overstock (both from the integer
  positions, so a segment of missed sales only costs exactly k) + (k + h) sigma times the
  difference of the normal loss G (a rational approximation, ~1e-6 relative in float32), then
  the running maximum over k (monotone against round-off, as the reference's). The normal loss is
  evaluated once per breakpoint (K + 1 per product); the orders equal the MILP's except where
  two products' cut costs agree to float32 precision (then the objective agrees to it).
* Greedy: per stage, the need-th cheapest unit's slope t* is found exactly by a search over the
  float32 bit patterns of the slopes (slopes >= 0: bit order = value order). Each iteration counts
  the units at 16 thresholds in one pass (per product the slopes <= a threshold are its first n
  segments, which hold breakpoint(U, n) units: a compare-and-add per segment and threshold,
  vectorised over the thresholds; a pass costs about as much for 16 thresholds as for 1): the
  two ends of the bracket, 7 spread evenly, 7 around the linear interpolation of the count (the
  first iteration: around the hint, yesterday's threshold); then it snaps the bracket to the
  nearest slopes and stops when no slope lies strictly between its ends (2-6 iterations, a
  while_loop: their number depends on the data and the hint, the result does not). Every unit
  cheaper than t* is cut, and the units at exactly t* in greedy's stable order (product by
  product, segment by segment): the tie-breaking of `sc_jax.alloc.greedy.greedy_cuts`. No sort:
  XLA's CPU sort and cumsum cost 30-250 ns per element.
* Stages whose need is 0 in every instance of the batch skip the cut costs and the search
  (`lax.cond`; under an outer `vmap` both branches run, which only costs time).

Integers are int32 and exact below 2**24 (positions are converted to float32 for the costs);
money is float32. `daily_allocation` takes one instance ([N, M]; vmap adds axes),
`daily_allocation_batch` a leading batch axis [B, N, M], `allocate_stages` the stage-major
layout of the hybrid episode ([M, B, N], forecast days [H, B, N]).
"""
from __future__ import annotations

from typing import NamedTuple

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from sc_jax.checks import ConfigError, check_choice, check_integer, check_number
from .milp import CAPACITY_BASES, build_cut_segments, capacity_room as reference_room
from .problem import AllocationProblem, AllocationResult

__all__ = ["CPU_COMPILER_OPTIONS", "JaxAllocation", "allocate_stages", "capacity_room", "cut_segments",
           "daily_allocation", "daily_allocation_batch", "jit_for_backend", "lead_time_moments", "solve_jax"]

_MIN_STD = 1e-9  # as sc_jax.alloc.milp: a zero sigma degenerates to the deterministic cost
_MAX_SEARCH_STEPS = 200  # never reached: every iteration splits the bracket evenly into >= 8 pieces


# XLA:CPU options for jitted code around the stage: YNNPACK fusions off (XLA turns the stage's
# small reductions into YNNPACK calls that run 3-10x slower than its own loops here).
CPU_COMPILER_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


@lru_cache(maxsize=None)
def _cpu_options_supported() -> bool:
    """Whether this jaxlib's XLA:CPU knows CPU_COMPILER_OPTIONS (the flag is XLA-version specific;
    an unknown option fails the compile, so other versions get the plain jit: same results)."""
    try:
        jax.jit(lambda x: x + 1, compiler_options=CPU_COMPILER_OPTIONS).lower(1.0).compile()
        return True
    except Exception:  # noqa: BLE001 - any refusal means "not supported here"
        return False


def jit_for_backend(fn, **jit_kwargs):
    """jax.jit with CPU_COMPILER_OPTIONS when the default backend is the CPU and its XLA knows them."""
    options = CPU_COMPILER_OPTIONS if jax.default_backend() == "cpu" and _cpu_options_supported() else None
    return jax.jit(fn, compiler_options=options, **jit_kwargs)


class JaxAllocation(NamedTuple):
    """What `daily_allocation` returns (one instance; `daily_allocation_batch` adds a leading
    batch axis to every field)."""

    orders: jnp.ndarray  # [N, M] int32, orders to place today (U where a stage does not bind)
    cuts: jnp.ndarray  # [N, M] int32, U - orders
    upper: jnp.ndarray  # [N, M] int32, U: the wish capped by supply capacity and supplier stock
    need: jnp.ndarray  # [M] int32, units that had to be cut per stage (0: not binding)
    room: jnp.ndarray  # [M] int32
    overflow: jnp.ndarray  # [M] float32, committed stock above capacity (orders there are 0)
    objective: jnp.ndarray  # [] float32, the cut cost of the model (float32 slopes)
    threshold: jnp.ndarray  # [M] float32, the slope of the last unit cut per stage (-1: none)
    search_steps: jnp.ndarray  # [] int32, iterations of the threshold searches (summed over the stages;
    #   the slowest instance of a batch decides a stage's)


def _materialized(witness, fn, *args):
    """fn(*args) computed into buffers of its own. XLA fuses elementwise producers into their
    consumers, duplicating them where a consumer reads one twice (slices k and k + 1) or
    broadcasts it (a per-product value into a per-segment loop); the CPU backend drops
    `optimization_barrier` before fusion, so a conditional is the boundary, on a predicate XLA
    cannot fold: `witness` (any float array) equals itself (false only for NaN)."""
    first = jnp.ravel(witness)[0]
    zeros = lambda *a: jax.tree.map(jnp.zeros_like, fn(*a))
    return jax.lax.cond(first == first, fn, zeros, *args)


# --- double-float arithmetic (float32 pairs, hi + lo) -------------------------------------------

def _two_sum(a, b):
    """Knuth's error-free sum: s + e == a + b exactly (round to nearest, no reassociation)."""
    s = a + b
    v = s - a
    e = (a - (s - v)) + (b - v)
    return s, e


def _df_add(x, y):
    """(hi, lo) + (hi, lo), renormalised."""
    s, e = _two_sum(x[0], y[0])
    e = e + (x[1] + y[1])
    return _two_sum(s, e)


_CHAIN = 8  # rows added in one fused chain per level of the product sum


def _df_sum(hi, lo):
    """Sum over the last axis of double-float numbers: chains of _CHAIN additions per level,
    ~log_8(N) levels, each level computed into a buffer of its own (fused into the next level
    it would be recomputed _CHAIN times over)."""
    def level(hi, lo):
        n = hi.shape[-1]
        rows = min(_CHAIN, n)
        cols = -(-n // rows)
        pad = [(0, 0)] * (hi.ndim - 1) + [(0, rows * cols - n)]
        hi = jnp.pad(hi, pad).reshape(hi.shape[:-1] + (rows, cols))
        lo = jnp.pad(lo, pad).reshape(lo.shape[:-1] + (rows, cols))
        acc = (hi[..., 0, :], lo[..., 0, :])
        for r in range(1, rows):
            acc = _df_add(acc, (hi[..., r, :], lo[..., r, :]))
        return acc

    hi, lo = _materialized(hi, lambda *x: x, hi, lo)
    while hi.shape[-1] > 1:
        hi, lo = _materialized(hi, level, hi, lo)
    return hi[..., 0], lo[..., 0]


def _df_floor(hi, lo):
    """floor(hi + lo) as int32 (|lo| <= ulp(hi) / 2 after renormalisation)."""
    whole = jnp.floor(hi)
    return whole.astype(jnp.int32) + jnp.floor((hi - whole) + lo).astype(jnp.int32)


# --- the model's pieces (stage-major layout: [M, B, N], days [H, B, N], segments [K, ...]) ------

def order_upper_bound(desired, on_hand, supply_capacity):
    """U [M, ...]: the wish capped by the supply capacity and the supplier's on hand (stage m + 1;
    the factory above the last stage: unlimited). Stage-major: stages on axis 0."""
    supplier = jnp.concatenate([on_hand[1:], jnp.full((1,) + on_hand.shape[1:], 2**30, jnp.int32)], axis=0)
    return jnp.maximum(jnp.minimum(jnp.minimum(desired, supply_capacity), supplier), 0)


def _sum_days(values, lead_times, last_day: int):
    """sum_{d <= L + last_day} values[d] per stage: values [H, ...] (days leading), lead_times
    [M, ...] (broadcast against values[0]) -> [M, ...]; explicit adds (exact for integer-valued
    float32 forecasts, as the sample's generator draws them)."""
    total = None
    for d in range(values.shape[0]):
        term = jnp.where(d <= lead_times + last_day, values[d][None], 0.0)
        total = term if total is None else total + term
    return total


def lead_time_moments(mean_days, std_days, lead_times):
    """Mean and std [M, ...] of demand over each stage's protection interval L_j + 1 days
    (forecast days [H, ...], lead_times [M, ...] broadcast against a day)."""
    return _sum_days(mean_days, lead_times, 0), jnp.sqrt(_sum_days(std_days * std_days, lead_times, 0))


def _df_negative(x):
    return (x[0] < 0) | ((x[0] == 0) & (x[1] < 0))


def _round_half_even(hi, lo=None):
    """round(hi + lo) half to even, exactly, as int32 (a double-float pair: lo the float32 part of
    a float64 value below hi's precision, |lo| <= ulp(hi) / 2; |hi| < 2**23). hi - round(hi) is
    exact, and lo only decides where hi lies exactly half-way (the float64 value is then just
    above or below the half), so the result is float64's np.rint of the value hi + lo stands for."""
    hi = jnp.asarray(hi, jnp.float32)
    whole = jnp.round(hi)  # half to even
    rounded = whole.astype(jnp.int32)
    if lo is None:
        return rounded
    lo = jnp.asarray(lo, jnp.float32)
    excess = hi - whole  # exact, in [-0.5, 0.5]
    return rounded + ((excess == 0.5) & (lo > 0)).astype(jnp.int32) - ((excess == -0.5) & (lo < 0)).astype(jnp.int32)


def projected_stock(on_hand, pipeline_by_day, mean_days, lead_times, supply_capacity, mean_days_lo=None):
    """[M, B, N] int32: each product's stock at stage j on the day an order placed today lands
    (day L_j), before that day's arrivals, projected day by day in whole units with the exact
    env's timing (`sc_jax.alloc.milp.projected_stock` is the NumPy reference): on_hand [M, B, N],
    pipeline_by_day [D, M, B, N] (day 0 = arrives today, D >= max lead time), mean_days [H, B, N]
    (H >= D; rounded half to even: demand comes in whole units; with `mean_days_lo`, the low
    float32 parts of float64 forecasts, exactly as the float64 reference rounds them), lead_times
    [M, B], supply_capacity [M, B, N]. The retailer sells min(stock + arrivals, demand); stage j >= 1
    ships what the stage below orders, taken as the demand forecast, at most its supply capacity
    and its own stock before the day's arrivals (the env's step 2), which is why an upper stage's
    stock does not drain when its inflow is short: the outflow the `expected` basis assumes
    does not come."""
    M = on_hand.shape[0]
    demand = _round_half_even(mean_days, mean_days_lo)
    below = jnp.concatenate([jnp.full_like(supply_capacity[:1], 2**30), supply_capacity[:-1]], axis=0)
    retail = (jnp.arange(M) == 0)[:, None, None]
    lead = lead_times[..., None]
    stock = on_hand
    for d in range(pipeline_by_day.shape[0]):
        arriving = pipeline_by_day[d]
        shipped = jnp.where(retail, jnp.minimum(stock + arriving, demand[d][None]),
                            jnp.minimum(jnp.minimum(stock, demand[d][None]), below))
        stock = jnp.where(d < lead, stock + arriving - shipped, stock)
    return stock


def capacity_room(on_hand, pipeline, mean_days, lead_times, capacity, capacity_basis,
                  mean_days_lo=None, capacity_lo=None, pipeline_by_day=None, supply_capacity=None):
    """(room [M, B] int32, overflow [M, B] float32) as `sc_jax.alloc.milp.capacity_room`, summed
    over products (the last axis): on_hand, pipeline [M, B, N]; mean_days [H, B, N]; lead_times,
    capacity [M, B]. In int32 (position and projected bases, exact), or in double-float arithmetic
    (expected basis; optional low parts: float64 inputs split as hi + lo float32; the projected
    basis rounds the forecasts from both parts). The projected basis also needs pipeline_by_day
    [D, M, B, N] and supply_capacity [M, B, N] (`projected_stock`)."""
    capacity = jnp.asarray(capacity, jnp.float32)
    cap_lo = jnp.zeros_like(capacity) if capacity_lo is None else jnp.asarray(capacity_lo, jnp.float32)
    committed = on_hand + pipeline  # int32
    if capacity_basis == "projected":
        if pipeline_by_day is None or supply_capacity is None:
            raise ConfigError("capacity_basis 'projected' needs 'pipeline_by_day' (in-transit units by arrival "
                              "day) and 'supply_capacity'")
        committed = projected_stock(on_hand, jnp.asarray(pipeline_by_day, jnp.int32), mean_days, lead_times,
                                    jnp.broadcast_to(jnp.asarray(supply_capacity, jnp.int32), on_hand.shape),
                                    mean_days_lo)
    if capacity_basis in ("position", "projected"):
        total = jnp.sum(committed, axis=-1).astype(jnp.float32)  # exact: integers below 2**24
        free = _df_add(_two_sum(capacity, -total), (cap_lo, jnp.zeros_like(cap_lo)))
    else:
        mean_lo = jnp.zeros_like(mean_days) if mean_days_lo is None else mean_days_lo
        lead = lead_times[..., None]  # [M, B, 1]

        def in_double_float(mean_days, mean_lo):
            # prefix sums of the forecast over days in double-float, then day L_j - 1 per stage
            # (a select: every other term is an exact 0)
            zero = jnp.zeros_like(mean_days[0])
            prefix, out_hi, out_lo = (zero, zero), None, None
            for d in range(mean_days.shape[0]):
                prefix = _df_add(prefix, (mean_days[d], mean_lo[d]))
                pick = d == lead - 1
                hi_d, lo_d = jnp.where(pick, prefix[0][None], 0.0), jnp.where(pick, prefix[1][None], 0.0)
                out_hi = hi_d if out_hi is None else out_hi + hi_d
                out_lo = lo_d if out_lo is None else out_lo + lo_d
            hi, lo = _df_add((committed.astype(jnp.float32), jnp.zeros_like(out_hi)), (-out_hi, -out_lo))
            negative = _df_negative((hi, lo))
            hi, lo = jnp.where(negative, 0.0, hi), jnp.where(negative, 0.0, lo)
            return _df_sum(hi, lo)

        def in_integers(mean_days, mean_lo):
            # whole-number forecasts (the sample's generator draws them): the same sums, exact
            # in int32, in one pass
            before = _sum_days(mean_days, lead, -1).astype(jnp.int32)  # days 0 .. L_j - 1
            total = jnp.sum(jnp.maximum(committed - before, 0), axis=-1)
            hi = total.astype(jnp.float32)
            return hi, (total - hi.astype(jnp.int32)).astype(jnp.float32)

        whole = (jnp.all(mean_days == jnp.floor(mean_days)) & jnp.all(jnp.abs(mean_days) < 2.0**20)
                 & jnp.all(mean_lo == 0))
        total = jax.lax.cond(whole, in_integers, in_double_float, mean_days, mean_lo)
        free = _df_add((capacity, cap_lo), (-total[0], -total[1]))
    negative = _df_negative(free)
    shifted = _df_add(free, (jnp.full_like(capacity, 1e-9), jnp.zeros_like(capacity)))
    room = jnp.where(negative, 0, _df_floor(*shifted))
    overflow = jnp.where(negative, -(free[0] + free[1]), 0.0)
    return room, overflow


# G(a) / phi(a) = 1 - a Q(a) / phi(a) (a >= 0) as P(a) / Q(a), degrees 5 / 7, every coefficient
# positive (so Horner's rule in float32 is well conditioned): a least-squares rational fit of the
# relative error (Loeb/Lawson iterations) on [0, 13.5] against float64 scipy.special.erfcx,
# max relative error 8e-11; P already divided by sqrt(2 pi). Beyond 13.5 phi underflows float32.
_LOSS_P = tuple(np.float32(c / np.sqrt(2 * np.pi)) for c in (
    1.0000000000469433, 0.7920411296302137, 0.3238032657074807, 0.07878709749000584,
    0.011327566470450856, 0.0007868427183760351))
_LOSS_Q = tuple(np.float32(c) for c in (
    1.0, 2.045355272152184, 1.887275851008715, 1.0254390558025768, 0.3576495123186778,
    0.08115476310506073, 0.011327342375246185, 0.000786845888570975))
_LOSS_FIT_MAX = 13.5


def _normal_loss_abs(z):
    """G(|z|) = phi(|z|) - |z| Q(|z|), the normal loss of the absolute value, as
    exp(-z^2 / 2) P(|z|) / Q(|z|) (one exp and one division: ~4x faster than the erfcx form
    and accurate to ~1e-6 relative in float32, the rounding of exp). G(z) = G(|z|) + max(-z, 0)."""
    a = jnp.abs(z)
    r = jnp.minimum(a, _LOSS_FIT_MAX)  # the ratio stays finite; exp(-a^2 / 2) is 0 out there
    num, den = _LOSS_P[-1], _LOSS_Q[-1]
    for c in _LOSS_P[-2::-1]:
        num = num * r + c
    for c in _LOSS_Q[-2::-1]:
        den = den * r + c
    return jnp.exp(-0.5 * a * a) * (num / den)


def _breakpoint(upper, k, max_segments: int):
    """round(U k / n), n = min(K, U) (int32, broadcasting): half to even, exact; U <= K gives
    every integer (k, then U); U > K divides by the static K."""
    K = max_segments
    div = lambda x: jax.lax.div(x, jnp.int32(K))  # x >= 0: truncation = floor, no sign fix-ups
    rem = lambda x: jax.lax.rem(x, jnp.int32(K))
    upper, k = jnp.broadcast_arrays(jnp.asarray(upper, jnp.int32), jnp.asarray(k, jnp.int32))
    q1, r1 = div(upper), rem(upper)
    t = r1 * k  # < K**2: no overflow
    qq, rr = div(t), rem(t)
    base = q1 * k + qq
    up = (2 * rr > K) | ((2 * rr == K) & (base % 2 == 1))
    return jnp.where(upper > K, base + up.astype(jnp.int32), jnp.minimum(k, upper))


def _breakpoints(upper, max_segments: int, axis: int = -1):
    """The breakpoints k = 0..K of every U on a new axis `axis` (int32; last by default)."""
    U = jnp.expand_dims(upper, axis)
    shape = [1] * U.ndim
    shape[axis] = max_segments + 1
    return _breakpoint(U, jnp.arange(max_segments + 1, dtype=jnp.int32).reshape(shape), max_segments)


def _cut_segments(upper, position, mean, std, holding, shortage, max_segments: int, min_cut_cost_fraction):
    """`cut_segments`, and an upper bound [...] of each product's finite slopes."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    holding, shortage, mean = f32(holding), f32(shortage), f32(mean)
    std = jnp.maximum(f32(std), _MIN_STD)
    kh = shortage + holding
    safe_kh = jnp.where(kh > 0, kh, 1.0)
    floor = f32(min_cut_cost_fraction) * shortage * shortage / safe_kh
    y0 = position + upper  # position after the full order (int32)
    breaks = _breakpoints(upper, max_segments, axis=0)  # cuts at the breakpoints [K+1, ...]

    # first unit whose marginal reaches the floor: q* in {q_c, q_c + 1}, q_c from the quantile
    tau = (holding + floor) / safe_kh
    y_tau = mean + std * -ndtri(jnp.clip(tau, 0.0, 1.0))  # Q((y_tau - mean) / std) = tau
    q_c = jnp.clip(jnp.floor(y0.astype(jnp.float32) - y_tau) + 1.0, 1.0, (upper + 1).astype(jnp.float32))
    q_c = q_c.astype(jnp.int32)

    def terms(cut):
        """C's terms at cut units: (G(|z|), max(mu - y, 0)) at y = y0 - cut."""
        gap = mean - (y0 - cut).astype(jnp.float32)  # integers: exact
        return _normal_loss_abs(gap / std), jnp.maximum(gap, 0.0)

    def unit_cost(g_a, l_a, g_b, l_b, width):
        """(C(y0 - b) - C(y0 - a)) / (b - a) for cuts a < b (width = b - a, float): the mean unit
        marginal without the floor, as k (missed-sale share) - h (overstock share) + the normal
        loss term; the shares from the integer positions, so that a segment of missed sales only
        costs exactly k (not (k + h) - h: float32 near-ties that are exact ties in float64)."""
        missed = jnp.where(l_a > 0, width, l_b) / width
        return kh * std * ((g_b - g_a) / width) + shortage * missed - holding * (1.0 - missed)

    # the normal loss at every breakpoint, computed once (materialized: XLA would otherwise fuse
    # it into each of its consumers and evaluate it twice)
    g, lin = _materialized(mean, terms, breaks)  # [K+1, ...]
    g_before, l_before = terms(q_c - 1)
    g_at, l_at = terms(q_c)
    m_c = unit_cost(g_before, l_before, g_at, l_at, 1.0)
    above = (m_c >= floor) & (kh > 0)
    q_star = jnp.where(kh > 0, jnp.where(above, q_c, q_c + 1), upper + 1)
    g_star, l_star = jnp.where(above, g_before, g_at), jnp.where(above, l_before, l_at)
    # per-product values, computed once (fused into the [K, ...] loop below they would be
    # recomputed for every segment)
    q_star, g_star, l_star, floor = _materialized(mean, lambda *x: x, q_star, g_star, l_star, floor)

    def raw_slopes(g, lin, breaks, q_star, g_star, l_star, floor):
        a, b = breaks[:-1], breaks[1:]
        width = b - a
        last_floored = q_star - 1  # units 1 .. q*-1 cost the floor
        n_floor = jnp.clip(last_floored - a, 0, width)
        start = jnp.maximum(a, last_floored)  # the costly part: cuts start .. b
        from_star = last_floored > a
        g_start = jnp.where(from_star, g_star, g[:-1])
        l_start = jnp.where(from_star, l_star, lin[:-1])
        costly_width = (b - start).astype(jnp.float32)
        costly = unit_cost(g_start, l_start, g[1:], lin[1:], jnp.maximum(costly_width, 1.0))
        # mean over the segment of the floored units (n_floor) and the costly ones
        mixed = (floor * n_floor.astype(jnp.float32) + costly_width * costly) / jnp.maximum(width, 1).astype(jnp.float32)
        slope = jnp.where(b > start, jnp.where(n_floor > 0, mixed, costly), floor)
        slope = jnp.where(kh > 0, jnp.maximum(slope, floor), 0.0)
        return jnp.where(slope > 0, slope, 0.0)  # +0.0: bit order = value order

    # all segments' slopes in one buffer, then their running maximum over k (non-decreasing
    # against float32 round-off, as the reference's cumulative maximum; unrolled: lax.cummax is
    # a reduce-window on CPU) and +inf for the empty segments (the trailing ones of U < K)
    slope = _materialized(mean, raw_slopes, g, lin, breaks, q_star, g_star, l_star, floor)
    width = breaks[1:] - breaks[:-1]
    running, masked = slope[0], [jnp.where(width[0] > 0, slope[0], jnp.inf)]
    for k in range(1, slope.shape[0]):
        running = jnp.maximum(running, slope[k])
        masked.append(jnp.where(width[k] > 0, running, jnp.inf))
    # running >= every finite slope of the product (a start for the threshold search)
    return breaks, jnp.stack(masked), running


def cut_segments(upper, position, mean, std, holding, shortage, max_segments: int, min_cut_cost_fraction):
    """Breakpoints [K+1, ...] (int32) and slopes [K, ...] (float32, non-decreasing in k) of the
    convex cut cost of each product/stage (inputs [...]: any shape, broadcast together; segments
    on a new leading axis; module docstring). Slopes of empty segments (U < K) are +inf."""
    return _cut_segments(upper, position, mean, std, holding, shortage, max_segments, min_cut_cost_fraction)[:2]


def _bits(x):
    return jax.lax.bitcast_convert_type(x, jnp.int32)


_PROBES = 16  # thresholds counted per pass over the segments (a pass costs about as much for 1 as for 16)
# probes: the two ends of the bracket (so that a threshold at either end ends the search), then
# 7 spread evenly and 7 around the linear interpolation of the count (fractions of the bracket),
# or in the first iteration with a hint 14 around it (float32 bit patterns: 2**8 is 3e-5
# relative, 2**14 0.2 %, 2**20 12 %, 2**23 a factor of 2)
_UNIFORM = jnp.arange(1, 8, dtype=jnp.float32) / 8.0
_AROUND = jnp.array([-2.0**-3, -2.0**-6, -2.0**-10, 0.0, 2.0**-10, 2.0**-6, 2.0**-3], jnp.float32)
_FROM_HINT = jnp.array([-(1 << 20), -(1 << 17), -(1 << 14), -(1 << 12), -(1 << 10), -(1 << 8), 0,
                        1 << 8, 1 << 10, 1 << 12, 1 << 14, 1 << 17, 1 << 20, 1 << 23], jnp.int32)


def _counts_at(slope, upper, probes):
    """Units with slope <= each probe: slope [K, B, N] (non-decreasing in k), upper [B, N],
    probes [B, P] -> [B, P] int32. Per product the slopes <= a probe are the first n segments,
    which hold breakpoint(U, n) units; probes minor: one vectorised loop over [B, N, P], the
    segments unrolled."""
    n = None
    for k in range(slope.shape[0]):
        below = (slope[k][:, :, None] <= probes[:, None, :]).astype(jnp.int32)
        n = below if n is None else n + below
    return jnp.sum(_breakpoint(upper[:, :, None], n, slope.shape[0]), axis=1)


def _snap(slope, lo, hi):
    """(largest slope <= hi, smallest slope > lo) per instance [B] (slope [K, B, N])."""
    below, beyond = None, None
    for k in range(slope.shape[0]):
        s = slope[k]
        b = jnp.where(s <= hi[:, None], s, -1.0)
        e = jnp.where(s > lo[:, None], s, jnp.inf)
        below = b if below is None else jnp.maximum(below, b)
        beyond = e if beyond is None else jnp.minimum(beyond, e)
    return jnp.max(below, axis=1), jnp.min(beyond, axis=1)


def _threshold(slope, upper, need, hint, top=None):
    """Per instance b, the smallest slope t such that the units of the segments with slope <= t
    reach need (slope [K, B, N] float32, non-decreasing in k, >= 0, +inf for empty segments: the
    segments between the breakpoints of upper [B, N]; need [B] with 0 < need <= sum U, else
    anything); returns (t [B], iterations). `hint` [B]: a guess of t (e.g. yesterday's;
    negative or non-finite: none) and `top` [B, N]: a bound of each product's slopes (optional);
    they change the iterations, never the result.

    Bracket lo < t* <= hi with count(lo) < need <= count(hi), in the float32 bit patterns
    (slopes >= 0: bit order = value order). Each iteration counts the units at _PROBES points
    of the bracket in one pass (its two ends, 7 spread evenly, 7 around the linear interpolation
    of the count; in the first iteration 14 around the hint), keeps the two probes around t*,
    then snaps: hi down to the largest slope <= it, `above` = the smallest slope > lo; done when
    above == hi (no slope strictly between lo and hi)."""
    total = jnp.sum(upper, axis=1)  # the segments of a product hold U units
    # hi starts at a bound of the slopes (count = total >= need; `top` [B, N], per product, or
    # the largest finite float); the first snap brings it down to a slope
    hi = (jnp.full(total.shape, np.finfo(np.float32).max, jnp.float32) if top is None
          else jnp.max(jnp.where(top < jnp.inf, top, -1.0), axis=1))
    above = jnp.min(slope[0], axis=1)  # the smallest slope (non-decreasing in k)
    active = (need > 0) & (need <= total) & (above < hi)
    hinted = jnp.isfinite(hint) & (hint >= 0)
    hint_bits = _bits(jnp.where(hinted, hint, 0.0))
    need_f = need.astype(jnp.float32)

    def cond(carry):
        return jnp.any(carry[-1]) & (carry[0] < _MAX_SEARCH_STEPS)

    def body(carry):
        step, lo_bits, hi, above, count_lo, count_hi, active = carry
        low, high = _bits(above), _bits(hi)  # probes in [low, high - 1], integer bit patterns
        span = high - low  # >= 1, < 2**31
        span_f = span.astype(jnp.float32)
        offset = lambda x: jnp.floor(x).astype(jnp.int32)  # |x| <= span: no overflow
        fraction = (need_f - count_lo) / jnp.maximum(count_hi - count_lo, 1.0)
        guess = low + offset(span_f * jnp.clip(fraction, 0.0, 1.0))
        around = guess[:, None] + jnp.clip(offset(span_f[:, None] * _AROUND), (low - guess)[:, None],
                                           (high - 1 - guess)[:, None])
        spread = jnp.concatenate([low[:, None] + offset(span_f[:, None] * _UNIFORM), around], axis=1)
        from_hint = hint_bits[:, None] + _FROM_HINT  # |hint bits| < 2**31 - 2**23: no overflow
        inner = jnp.where((hinted & (step == 0))[:, None], from_hint, spread)
        points = jnp.concatenate([low[:, None], (high - 1)[:, None], inner], axis=1)
        probe_bits = jnp.clip(points, low[:, None], (high - 1)[:, None])
        probes = jax.lax.bitcast_convert_type(probe_bits, jnp.float32)
        counts = _counts_at(slope, upper, probes).astype(jnp.float32)
        enough = counts >= need_f[:, None]
        new_hi = jnp.min(jnp.where(enough, probes, hi[:, None]), axis=1)
        new_count_hi = jnp.min(jnp.where(enough, counts, count_hi[:, None]), axis=1)
        new_lo = jnp.max(jnp.where(enough, -1, probe_bits), axis=1)
        new_count_lo = jnp.max(jnp.where(enough, -1.0, counts), axis=1)
        moved_lo = new_lo >= 0
        lo_bits_next = jnp.where(moved_lo, new_lo, lo_bits)
        count_lo_next = jnp.where(moved_lo, new_count_lo, count_lo)
        lo_value = jnp.where(lo_bits_next >= 0, jax.lax.bitcast_convert_type(lo_bits_next, jnp.float32), -1.0)
        snapped_hi, snapped_above = _snap(slope, lo_value, new_hi)
        keep = lambda new, old: jnp.where(active, new, old)
        hi, above = keep(snapped_hi, hi), keep(snapped_above, above)
        return (step + 1, keep(lo_bits_next, lo_bits), hi, above, keep(count_lo_next, count_lo),
                keep(new_count_hi, count_hi), active & (above < hi))

    init = (jnp.zeros((), jnp.int32), jnp.full(hi.shape, -1, jnp.int32), hi, above, jnp.zeros_like(hi),
            total.astype(jnp.float32), active)
    out = jax.lax.while_loop(cond, body, init)
    return out[2], out[0]


def _tied_prefix(tied, remainder):
    """Cuts [B, N] of the tied units: `remainder` [B] units over products in product order
    (greedy's stable order), `tied` [B, N] units per product at the threshold slope. Usually a
    single product holds the tie (no search); otherwise a bisection over the product index."""
    n = tied.shape[1]
    index = jnp.arange(n, dtype=jnp.int32)[None, :]
    remainder = jnp.maximum(remainder, 0)
    holders = jnp.sum(tied > 0, axis=1)
    needs_search = (holders > 1) & (remainder > 0) & (remainder < jnp.sum(tied, axis=1))

    def prefix(last):  # units held by products 0 .. last (last [B])
        return jnp.sum(jnp.where(index <= last[:, None], tied, 0), axis=1)

    def cond(carry):  # smallest product index p with prefix(p) >= remainder
        low, high = carry
        return jnp.any(needs_search & (low < high))

    def body(carry):
        low, high = carry
        mid = (low + high) // 2
        ok = prefix(mid) >= remainder
        searching = needs_search & (low < high)
        return jnp.where(searching & ~ok, mid + 1, low), jnp.where(searching & ok, mid, high)

    low, _ = jax.lax.while_loop(cond, body, (jnp.zeros_like(remainder), jnp.full_like(remainder, n - 1)))
    before = prefix(low - 1)
    searched = jnp.where(index < low[:, None], tied, jnp.where(index == low[:, None], (remainder - before)[:, None], 0))
    single = jnp.minimum(tied, remainder[:, None])  # one holder (or all of the tie is cut)
    return jnp.where(needs_search[:, None], searched, single)


def _stage_cuts(upper, position, mean, std, holding, shortage, need, hint, fraction, max_segments):
    """Greedy cuts [B, N] (int32) of one stage, the model's cut cost [B], the threshold slope [B]
    and the search steps; inputs [B, N] (need, hint, fraction [B])."""
    breaks, slope, top = _cut_segments(upper, position, mean, std, holding, shortage, max_segments,
                                       fraction[:, None])
    width = breaks[1:] - breaks[:-1]  # [K, B, N]
    threshold, steps = _threshold(slope, upper, need, hint, top)
    t = threshold[:, None]
    cheaper, tied, cost = None, None, None
    for k in range(slope.shape[0]):  # one fused pass: units below / at the threshold, their cost
        s, w = slope[k], width[k]
        c = jnp.where(s < t, w, 0)
        e = jnp.where(s == t, w, 0)
        v = jnp.where(s < t, w.astype(jnp.float32) * s, 0.0)
        cheaper = c if cheaper is None else cheaper + c
        tied = e if tied is None else tied + e
        cost = v if cost is None else cost + v
    from_tie = _tied_prefix(tied, need - jnp.sum(cheaper, axis=1))
    cuts = jnp.where((need > 0)[:, None], cheaper + from_tie, 0)
    objective = jnp.where(need > 0, jnp.sum(cost, axis=1) + jnp.sum(from_tie, axis=1).astype(jnp.float32) * threshold,
                          0.0)
    return cuts, objective, jnp.where(need > 0, threshold, -1.0), steps


def _check_static(max_segments, capacity_basis):
    check_integer("max_segments", max_segments, 1)
    check_choice("capacity_basis", capacity_basis, CAPACITY_BASES)


def _check_fraction(value):
    """A concrete min_cut_cost_fraction (scalar or per instance) must be finite and >= 0."""
    if isinstance(value, jax.core.Tracer):
        return
    values = np.asarray(value, np.float64).reshape(-1)
    bad = values[~(np.isfinite(values) & (values >= 0))]
    if bad.size:
        check_number("min_cut_cost_fraction", float(bad[0]), "a finite number >= 0", lambda x: False)


def allocate_stages(desired, on_hand, pipeline, holding_cost, shortage_cost, supply_capacity, mean_days,
                    std_days, lead_times, capacity, *, max_segments: int = 16, capacity_basis: str = "position",
                    min_cut_cost_fraction=1e-3, mean_days_lo=None, capacity_lo=None,
                    threshold_hint=None, pipeline_by_day=None) -> JaxAllocation:
    """The daily model on B instances in the stage-major layout the hybrid episode keeps:
    desired, on_hand, pipeline, holding_cost, shortage_cost, supply_capacity [M, B, N] (anything
    broadcasting to it); forecast days mean_days, std_days [H, B, N] (H >= max lead time + 1);
    lead_times, capacity, threshold_hint [M, B]; min_cut_cost_fraction scalar or [B];
    pipeline_by_day [D, M, B, N] (the projected basis only: in-transit units by arrival day). Returns a
    JaxAllocation with per-product fields [M, B, N], per-stage fields [M, B], objective and
    search_steps [B]. A stage is solved only if it binds in some instance (`lax.cond`)."""
    _check_static(max_segments, capacity_basis)
    _check_fraction(min_cut_cost_fraction)
    i32 = lambda x: jnp.asarray(x, jnp.int32)
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    desired, on_hand, pipeline = i32(desired), i32(on_hand), i32(pipeline)
    mean_days, std_days, lead_times = f32(mean_days), f32(std_days), i32(lead_times)
    M, B, N = desired.shape
    upper = order_upper_bound(desired, on_hand, jnp.broadcast_to(i32(supply_capacity), (M, B, N)))
    room, overflow = capacity_room(on_hand, pipeline, mean_days, lead_times, capacity, capacity_basis,
                                   mean_days_lo, capacity_lo, pipeline_by_day, supply_capacity)
    need = jnp.maximum(jnp.sum(upper, axis=-1) - room, 0)  # [M, B]
    hint = jnp.full((M, B), -1.0, jnp.float32) if threshold_hint is None else f32(threshold_hint)
    fraction = jnp.broadcast_to(f32(min_cut_cost_fraction), (B,))
    full = lambda x: jnp.broadcast_to(f32(x), (M, B, N))
    operands = (upper, on_hand + pipeline, jnp.broadcast_to(lead_times, (M, B)), full(holding_cost),
                full(shortage_cost), need, hint)

    def solve(upper, position, lead, holding, shortage, need, hint):
        # demand over the protection interval, for the stage being solved only
        mean, std = lead_time_moments(mean_days, std_days, lead[None, :, None])
        return _stage_cuts(upper, position, mean[0], std[0], holding, shortage, need, hint, fraction, max_segments)

    def one_stage(ops):  # one compiled body for every stage (lax.map), skipped where nothing binds
        skip = lambda *ops: (jnp.zeros((B, N), jnp.int32), jnp.zeros((B,), jnp.float32),
                             jnp.full((B,), -1.0, jnp.float32), jnp.zeros((), jnp.int32))
        return jax.lax.cond(jnp.any(ops[5] > 0), solve, skip, *ops)

    def no_stage(ops):  # the whole map skipped on a day on which no stage binds anywhere
        return (jnp.zeros((M, B, N), jnp.int32), jnp.zeros((M, B), jnp.float32), jnp.full((M, B), -1.0, jnp.float32),
                jnp.zeros((M,), jnp.int32))

    cuts, objective, threshold, steps = jax.lax.cond(jnp.any(need > 0), lambda ops: jax.lax.map(one_stage, ops),
                                                     no_stage, operands)
    return JaxAllocation(orders=upper - cuts, cuts=cuts, upper=upper, need=need, room=room, overflow=overflow,
                         objective=objective.sum(0), threshold=threshold,
                         search_steps=jnp.broadcast_to(steps.sum(), (B,)))


def daily_allocation_batch(desired, on_hand, pipeline, holding_cost, shortage_cost, supply_capacity,
                           forecast_mean, forecast_std, lead_times, capacity, *, max_segments: int = 16,
                           capacity_basis: str = "position", min_cut_cost_fraction=1e-3,
                           forecast_mean_lo=None, capacity_lo=None, threshold_hint=None,
                           pipeline_by_day=None) -> JaxAllocation:
    """`daily_allocation` over a leading batch axis B of independent instances: [B, N, M],
    pipeline_by_day [B, N, M, D] (the projected basis only),
    forecasts [B, N, H], lead_times and capacity [B, M], min_cut_cost_fraction scalar or [B],
    threshold_hint [B, M] (e.g. yesterday's `threshold`: fewer search steps, same result).
    A stage is solved only if it binds in some instance of the batch (`lax.cond`).
    (`allocate_stages` is the same in the stage-major layout, without the transposes.)"""
    _check_static(max_segments, capacity_basis)
    if jnp.ndim(desired) != 3:
        raise ConfigError(f"'desired_orders' must be a 3-D array [batch, products, stages], got shape "
                          f"{jnp.shape(desired)}")
    stage_major = lambda x: jnp.moveaxis(jnp.asarray(x), -1, 0)  # [B, N, M] -> [M, B, N]
    day_major = lambda x: None if x is None else jnp.moveaxis(jnp.asarray(x, jnp.float32), -1, 0)
    by_stage = lambda x: None if x is None else jnp.moveaxis(jnp.asarray(x), -1, 0)  # [B, M] -> [M, B]
    out = allocate_stages(stage_major(desired), stage_major(on_hand), stage_major(pipeline),
                          stage_major(holding_cost), stage_major(shortage_cost), stage_major(supply_capacity),
                          day_major(forecast_mean), day_major(forecast_std), by_stage(lead_times),
                          by_stage(capacity), max_segments=max_segments, capacity_basis=capacity_basis,
                          min_cut_cost_fraction=min_cut_cost_fraction, mean_days_lo=day_major(forecast_mean_lo),
                          capacity_lo=by_stage(capacity_lo), threshold_hint=by_stage(threshold_hint),
                          pipeline_by_day=None if pipeline_by_day is None else
                          jnp.transpose(jnp.asarray(pipeline_by_day), (3, 2, 0, 1)))
    back = lambda x: jnp.moveaxis(x, 0, -1)
    return out._replace(orders=back(out.orders), cuts=back(out.cuts), upper=back(out.upper), need=back(out.need),
                        room=back(out.room), overflow=back(out.overflow), threshold=back(out.threshold))


def daily_allocation(desired, on_hand, pipeline, holding_cost, shortage_cost, supply_capacity,
                     forecast_mean, forecast_std, lead_times, capacity, *, max_segments: int = 16,
                     capacity_basis: str = "position", min_cut_cost_fraction=1e-3,
                     forecast_mean_lo=None, capacity_lo=None, threshold_hint=None,
                     pipeline_by_day=None) -> JaxAllocation:
    """The daily allocation model (`sc_jax.alloc.milp`), exactly, on arrays; pure and jit-able.

    desired, on_hand, pipeline, supply_capacity [N, M] integers >= 0; holding_cost,
    shortage_cost [N, M]; forecast_mean, forecast_std [N, H] with H >= max(lead_times) + 1;
    lead_times [M] (integers >= 1); capacity [M]. `max_segments` (int >= 1) and `capacity_basis`
    ("position" | "expected" | "projected") are static; `min_cut_cost_fraction` may be traced.
    `pipeline_by_day` [N, M, D]: in-transit units by arrival day (the projected basis needs it).
    `forecast_mean_lo`, `capacity_lo`: optional float32 low parts of float64 inputs
    (x = hi + lo), used by the room computation only. `threshold_hint` [M]: a guess of each
    stage's threshold slope (yesterday's `threshold`): fewer search steps, same result. No validation of traced values (the
    reference's `AllocationProblem` does that on the host); bad static options raise ConfigError.
    Many instances: `jax.vmap` it, or `daily_allocation_batch` (skips stages that bind nowhere).
    """
    expand = lambda x: None if x is None else jnp.asarray(x)[None]
    if jnp.ndim(desired) != 2:
        raise ConfigError(f"'desired_orders' must be a 2-D array [products, stages], got shape {jnp.shape(desired)}")
    out = daily_allocation_batch(*(expand(x) for x in (desired, on_hand, pipeline, holding_cost, shortage_cost,
                                                       supply_capacity, forecast_mean, forecast_std, lead_times,
                                                       capacity)),
                                 max_segments=max_segments, capacity_basis=capacity_basis,
                                 min_cut_cost_fraction=min_cut_cost_fraction,
                                 forecast_mean_lo=expand(forecast_mean_lo), capacity_lo=expand(capacity_lo),
                                 threshold_hint=expand(threshold_hint), pipeline_by_day=expand(pipeline_by_day))
    return jax.tree.map(lambda x: x[0], out)


# --- one AllocationProblem: allocate(problem, method="jax") --------------------------------------

_jitted_allocation = None


def _jitted(*args, **kwargs):
    global _jitted_allocation
    if _jitted_allocation is None:  # built on first use: the backend is known by then
        _jitted_allocation = jit_for_backend(daily_allocation, static_argnames=("max_segments", "capacity_basis"))
    return _jitted_allocation(*args, **kwargs)
_EXACT_INT = 2**24  # integers stay exact in float32 positions below this


def _split64(values) -> tuple[np.ndarray, np.ndarray]:
    """float64 -> (hi, lo) float32 with hi + lo = the value to ~48 bits."""
    values = np.asarray(values, np.float64)
    hi = values.astype(np.float32)
    return hi, (values - hi.astype(np.float64)).astype(np.float32)


def solve_jax(problem: AllocationProblem, max_segments: int | None = 16, capacity_basis: str = "position",
              min_cut_cost_fraction: float = 1e-3) -> AllocationResult:
    """`daily_allocation` on one problem, jitted (compiled once per shape and static option);
    the objective is the reference's float64 cut cost of the JAX orders (`build_cut_segments`,
    the yardstick every method reports). ``max_segments=None``: every integer is a breakpoint
    (K = the largest order bound of this problem, a new compilation per K)."""
    import time

    start = time.perf_counter()
    check_integer("max_segments", max_segments, 1, allow_none=True)
    check_choice("capacity_basis", capacity_basis, CAPACITY_BASES)
    check_number("min_cut_cost_fraction", min_cut_cost_fraction, "a finite number >= 0", lambda x: 0 <= x < np.inf)
    overflow = reference_room(problem, capacity_basis)[1]  # also: the projected basis's schedule is there
    upper = problem.order_upper_bound()
    for name in ("desired_orders", "on_hand", "pipeline", "supply_capacity"):
        value = getattr(problem, name)
        if value.size and value.max() >= _EXACT_INT:
            raise ConfigError(f"'{name}' must be integers < 2**24 for method 'jax' (float32 positions), "
                              f"got {int(value.max())}")
    committed = (problem.on_hand + problem.pipeline + upper).sum(axis=0)
    if committed.max(initial=0) >= _EXACT_INT:
        raise ConfigError("'on_hand' + 'pipeline' + orders summed over products must be < 2**24 per stage for "
                          f"method 'jax' (float32 positions), got {int(committed.max())}")
    segments_k = int(max(upper.max(initial=0), 1)) if max_segments is None else int(max_segments)
    mean_hi, mean_lo = _split64(problem.forecast_mean)
    cap_hi, cap_lo = _split64(problem.capacity)
    build_s = time.perf_counter() - start
    solve_start = time.perf_counter()
    out = _jitted(problem.desired_orders.astype(np.int32), problem.on_hand.astype(np.int32),
                             problem.pipeline.astype(np.int32), problem.holding_cost.astype(np.float32),
                             problem.shortage_cost.astype(np.float32), problem.supply_capacity.astype(np.int32),
                             mean_hi, problem.forecast_std.astype(np.float32), problem.lead_times.astype(np.int32),
                             cap_hi, max_segments=segments_k, capacity_basis=capacity_basis,
                             min_cut_cost_fraction=np.float32(min_cut_cost_fraction),
                             forecast_mean_lo=mean_lo, capacity_lo=cap_lo,
                             pipeline_by_day=None if capacity_basis != "projected" else
                             problem.pipeline_by_day.astype(np.int32))
    out = jax.device_get(out)
    solve_s = time.perf_counter() - solve_start
    need = np.asarray(out.need, np.int64)
    cuts = np.asarray(out.cuts, np.int64)
    binding = np.flatnonzero(need > 0)
    info = {"binding_stages": binding.tolist(), "need": need.tolist(),
            "clipped_by_supply": int((upper < problem.desired_orders).sum()),
            "jax_objective": float(out.objective), "search_steps": int(out.search_steps)}
    if binding.size == 0:
        objective, status = 0.0, "not_binding"
    else:
        segments = build_cut_segments(problem, upper, binding, max_segments, min_cut_cost_fraction)
        info["n_segments"] = segments.size
        objective, status = segments.cost(cuts), "optimal"
    return AllocationResult(orders=upper - cuts, status=status, objective=objective, mip_gap=0.0,
                            build_s=build_s, solve_s=solve_s, timed_out=False, fallback=False,
                            overflow=overflow, method="jax", info=info)
