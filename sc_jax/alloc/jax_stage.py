"""The daily allocation model in JAX: jit-able, vmap-able, exact greedy marginal allocation.

`daily_allocation(...)` solves the model of `sc_jax.alloc.milp` (docs/alloc.md, "The daily
model") on arrays with fixed shapes, so it runs inside `jax.jit`, `jax.vmap` and `lax.scan`
(the hybrid episode of `sc_jax.hybrid_jax` calls it once a day). `allocate(problem,
method="jax")` in `sc_jax.alloc` wraps it for one `AllocationProblem`. The SciPy MILP stays the
reference and the default; tests hold the two together (tests/test_alloc_jax.py).

Same model, step by step (N products, M stages, K = max_segments):

* U = min(desired, supply capacity, supplier's on hand) (the factory above stage M-1: unlimited).
* committed_ij = on_hand + pipeline (position basis), or max(that - forecast mean over the L_j
  days before arrival, 0) (expected basis); room_j = floor(max(capacity_j - sum_i committed, 0)
  + 1e-9), overflow_j = max(sum_i committed - capacity_j, 0), need_j = max(sum_i U_ij - room_j, 0).
  These sums run in double-float arithmetic (pairs of float32, about 48 bits): room is the
  float64 reference's up to capacity - committed lying within ~1e-8 of an integer.
* Cut costs: the newsvendor cost C(y) over the protection interval L_j + 1, unit marginal
  m(q) = max(C(y0 - q) - C(y0 - q + 1), floor), floor = min_cut_cost_fraction k^2 / (k + h);
  segments between the breakpoints round(U k / n) (round half to even, exact integer arithmetic),
  n = min(K, U) per product and stage (every integer is a breakpoint when U <= K, as in the
  reference, where n = min(K, max U) gives the same segments). The first unit above the floor comes
  from the normal quantile (`ndtri`) and one check; segment costs are differences of the normal
  loss with the linear part taken exactly from the integer positions. float32, so slopes carry
  ~1e-6 relative error: the orders equal the MILP's except where two products' cut costs agree
  that closely (then the objective agrees to that precision).
* Greedy: per stage, the need-th cheapest unit's slope t* is found exactly by a search over the
  slopes (from an optional hint, e.g. yesterday's threshold, galloping, then Illinois-type
  interpolation on the count of units with slope <= t, in the float32 bit patterns of the
  slopes, slopes >= 0 so bit order = value order, with a bisection step every fourth step),
  narrowed to actual slope values until no slope lies strictly between the bracket ends (a
  while_loop: the number of steps depends on the data and the hint, the result does not).
  Every unit cheaper than t* is cut, and the units at exactly t* in greedy's stable order
  (product by product, segment by segment): the tie-breaking of
  `sc_jax.alloc.greedy.greedy_cuts`. No sort: XLA's CPU sort and cumsum cost 30-250 ns per
  element, a search step a few fused reductions.
* Stages whose need is 0 in every instance of the batch skip the cut costs and the search
  (`lax.cond`; under an outer `vmap` both branches run, which only costs time).

Integers are int32 and exact below 2**24 (positions are converted to float32 for the costs);
money is float32. `daily_allocation` takes one instance ([N, M]; vmap adds axes),
`daily_allocation_batch` a leading batch axis [B, N, M] (the hybrid episode's samples).
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erfcx, ndtri

from sc_jax.checks import ConfigError, check_choice, check_integer, check_number
from .milp import CAPACITY_BASES, build_cut_segments, capacity_room as reference_room
from .problem import AllocationProblem, AllocationResult

__all__ = ["JaxAllocation", "capacity_room", "cut_segments", "daily_allocation", "daily_allocation_batch",
           "lead_time_moments", "solve_jax"]

_MIN_STD = 1e-9  # as sc_jax.alloc.milp: a zero sigma degenerates to the deterministic cost
_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327
_MAX_SEARCH_STEPS = 200  # never reached: every fourth step halves a bracket of < 2**31 bit patterns


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
    search_steps: jnp.ndarray  # [] int32, steps of the threshold search (most over the stages)


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


def _df_sum(hi, lo, axis: int):
    """Sum over `axis` of double-float numbers: chains of _CHAIN additions per level (each level
    one fused kernel), so ~log_8(N) levels."""
    hi, lo = jnp.moveaxis(hi, axis, 0), jnp.moveaxis(lo, axis, 0)
    while hi.shape[0] > 1:
        n = hi.shape[0]
        rows = min(_CHAIN, n)
        cols = -(-n // rows)
        pad = [(0, rows * cols - n)] + [(0, 0)] * (hi.ndim - 1)
        hi = jnp.pad(hi, pad).reshape((rows, cols) + hi.shape[1:])
        lo = jnp.pad(lo, pad).reshape((rows, cols) + lo.shape[1:])
        acc = (hi[0], lo[0])
        for r in range(1, rows):
            acc = _df_add(acc, (hi[r], lo[r]))
        hi, lo = acc
    return hi[0], lo[0]


def _df_floor(hi, lo):
    """floor(hi + lo) as int32 (|lo| <= ulp(hi) / 2 after renormalisation)."""
    whole = jnp.floor(hi)
    return whole.astype(jnp.int32) + jnp.floor((hi - whole) + lo).astype(jnp.int32)


# --- the model's pieces -------------------------------------------------------------------------

def order_upper_bound(desired, on_hand, supply_capacity):
    """U [..., N, M]: the wish capped by the supply capacity and the supplier's on hand."""
    big = jnp.full(on_hand.shape[:-1] + (1,), 2**30, jnp.int32)
    supplier = jnp.concatenate([on_hand[..., 1:], big], axis=-1)
    return jnp.maximum(jnp.minimum(jnp.minimum(desired, supply_capacity), supplier), 0)


def _stage_window(lead_times, horizon: int, shift: int):
    """[..., H, M] float32 one-hot of day L_j - shift per stage (selects a prefix sum)."""
    days = jnp.arange(horizon)
    return (days[:, None] == (lead_times[..., None, :] - shift)).astype(jnp.float32)


def lead_time_moments(forecast_mean, forecast_std, lead_times):
    """Mean and std [..., N, M] of demand over each stage's protection interval L_j + 1 days
    (forecast [..., N, H], lead_times [..., M])."""
    days = jnp.arange(forecast_mean.shape[-1])
    in_window = (days[:, None] <= lead_times[..., None, :]).astype(jnp.float32)  # [..., H, M]
    dot = lambda x: jnp.einsum("...nh,...hm->...nm", x, in_window, precision=jax.lax.Precision.HIGHEST)
    return dot(forecast_mean), jnp.sqrt(dot(forecast_std * forecast_std))


def capacity_room(on_hand, pipeline, forecast_mean, lead_times, capacity, capacity_basis,
                  forecast_mean_lo=None, capacity_lo=None):
    """(room [..., M] int32, overflow [..., M] float32) as `sc_jax.alloc.milp.capacity_room`,
    summed over products (axis -2): in int32 (position basis, exact), or in double-float
    arithmetic (expected basis; optional low parts: float64 inputs split as hi + lo float32)."""
    capacity = jnp.asarray(capacity, jnp.float32)
    cap_lo = jnp.zeros_like(capacity) if capacity_lo is None else jnp.asarray(capacity_lo, jnp.float32)
    committed = on_hand + pipeline  # int32
    if capacity_basis == "position":
        total = jnp.sum(committed, axis=-2).astype(jnp.float32)  # exact: integers below 2**24
        free = _df_add(_two_sum(capacity, -total), (cap_lo, jnp.zeros_like(cap_lo)))
    else:
        mean_lo = jnp.zeros_like(forecast_mean) if forecast_mean_lo is None else forecast_mean_lo
        # prefix sums of the forecast over days in double-float, then day L_j - 1 per stage
        # (a one-hot product: every other term is an exact 0)
        prefix, prefixes = (jnp.zeros_like(forecast_mean[..., 0]), jnp.zeros_like(forecast_mean[..., 0])), []
        for d in range(forecast_mean.shape[-1]):
            prefix = _df_add(prefix, (forecast_mean[..., d], mean_lo[..., d]))
            prefixes.append(prefix)
        pick = _stage_window(lead_times, forecast_mean.shape[-1], 1)  # [..., H, M]
        select = lambda part: jnp.einsum("...nh,...hm->...nm", jnp.stack(part, axis=-1), pick,
                                         precision=jax.lax.Precision.HIGHEST)
        out_hi, out_lo = select([p[0] for p in prefixes]), select([p[1] for p in prefixes])
        hi, lo = _df_add((committed.astype(jnp.float32), jnp.zeros_like(out_hi)), (-out_hi, -out_lo))
        negative = (hi < 0) | ((hi == 0) & (lo < 0))
        hi, lo = jnp.where(negative, 0.0, hi), jnp.where(negative, 0.0, lo)
        total = _df_sum(hi, lo, axis=hi.ndim - 2)
        free = _df_add((capacity, cap_lo), (-total[0], -total[1]))
    negative = (free[0] < 0) | ((free[0] == 0) & (free[1] < 0))
    shifted = _df_add(free, (jnp.full_like(capacity, 1e-9), jnp.zeros_like(capacity)))
    room = jnp.where(negative, 0, _df_floor(*shifted))
    overflow = jnp.where(negative, -(free[0] + free[1]), 0.0)
    return room, overflow


def _normal_loss_abs(z):
    """G(|z|) = phi(|z|) - |z| Q(|z|) (normal loss of the absolute value; erfcx form: accurate in
    the tail). G(z) = G(|z|) + max(-z, 0)."""
    a = jnp.abs(z)
    return jnp.exp(-0.5 * a * a) * (_INV_SQRT_2PI - a * (0.5 * erfcx(a * _SQRT_HALF)))


def _breakpoints(upper, max_segments: int):
    """[..., K+1] int32: round(U k / n), n = min(K, U), half to even, exact; U past k = n.
    U <= K gives every integer (k, then U); U > K divides by the static K."""
    K = max_segments
    k = jnp.arange(K + 1, dtype=jnp.int32)
    U = upper[..., None]
    q1, r1 = U // K, U % K
    t = r1 * k  # < K**2: no overflow
    qq, rr = t // K, t % K
    base = q1 * k + qq
    up = (2 * rr > K) | ((2 * rr == K) & (base % 2 == 1))
    return jnp.where(U > K, base + up.astype(jnp.int32), jnp.minimum(k, U))


def cut_segments(upper, position, mean, std, holding, shortage, max_segments: int, min_cut_cost_fraction):
    """Breakpoints [..., K+1] (int32) and slopes [..., K] (float32) of the convex cut cost of each
    product/stage (inputs [...]: any shape, broadcast together; module docstring). The slopes are
    non-decreasing in k up to float32 round-off (not enforced: the search counts units below a
    price, whatever their order within a product, and a cummax cost a third of this function)."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    holding, shortage, mean = f32(holding), f32(shortage), f32(mean)
    std = jnp.maximum(f32(std), _MIN_STD)
    kh = shortage + holding
    safe_kh = jnp.where(kh > 0, kh, 1.0)
    floor = f32(min_cut_cost_fraction) * shortage * shortage / safe_kh
    y0 = position + upper  # position after the full order (int32)
    breaks = _breakpoints(upper, max_segments)  # cuts at the breakpoints [..., K+1]

    # first unit whose marginal reaches the floor: q* in {q_c, q_c + 1}, q_c from the quantile
    tau = (holding + floor) / safe_kh
    y_tau = mean + std * -ndtri(jnp.clip(tau, 0.0, 1.0))  # Q((y_tau - mean) / std) = tau
    q_c = jnp.clip(jnp.floor(y0.astype(jnp.float32) - y_tau) + 1.0, 1.0, (upper + 1).astype(jnp.float32))
    q_c = q_c.astype(jnp.int32)

    ex = lambda x: x[..., None]

    def terms(cut, m, s):
        """C's terms at cut units: (G(|z|), max(mu - y, 0)) at y = y0 - cut."""
        gap = m - ((y0 if cut.ndim == y0.ndim else ex(y0)) - cut).astype(jnp.float32)  # integers: exact
        return _normal_loss_abs(gap / s), jnp.maximum(gap, 0.0)

    def cost_between(g_a, l_a, g_b, l_b, width, kh_, s_, h_):
        """C(y0 - b) - C(y0 - a) for cuts a <= b (width = b - a): the unit marginals' sum
        without the floor; the linear part from the integer positions."""
        linear = jnp.where(l_a > 0, width, l_b)
        return kh_ * (s_ * (g_b - g_a) + linear) - h_ * width

    g, lin = terms(breaks, ex(mean), ex(std))
    g_before, l_before = terms(q_c - 1, mean, std)
    g_at, l_at = terms(q_c, mean, std)
    K = max_segments
    m_c = cost_between(g_before, l_before, g_at, l_at, 1.0, kh, std, holding)
    above = (m_c >= floor) & (kh > 0)
    q_star = jnp.where(kh > 0, jnp.where(above, q_c, q_c + 1), upper + 1)
    g_star, l_star = jnp.where(above, g_before, g_at), jnp.where(above, l_before, l_at)

    a, b = breaks[..., :-1], breaks[..., 1:]
    width = b - a
    last_floored = ex(q_star - 1)  # units 1 .. q*-1 cost the floor
    n_floor = jnp.clip(last_floored - a, 0, width)
    start = jnp.maximum(a, last_floored)  # the costly part: cuts start .. b
    from_star = last_floored > a
    g_start = jnp.where(from_star, ex(g_star), g[..., :K])
    l_start = jnp.where(from_star, ex(l_star), lin[..., :K])
    costly = cost_between(g_start, l_start, g[..., 1:K + 1], lin[..., 1:K + 1], (b - start).astype(jnp.float32),
                          ex(kh), ex(std), ex(holding))
    costly = jnp.where(b > start, costly, 0.0)
    slope = (ex(floor) * n_floor.astype(jnp.float32) + costly) / jnp.maximum(width, 1).astype(jnp.float32)
    slope = jnp.where(ex(kh) > 0, jnp.maximum(slope, ex(floor)), 0.0)
    return breaks, slope


def _bits(x):
    return jax.lax.bitcast_convert_type(x, jnp.int32)


def _threshold(slope, width, need, hint):
    """Per instance b, the smallest slope t with sum(width[slope <= t]) >= need
    (slope, width [B, N, K] float32, slopes >= 0, +inf where width 0; need [B] with
    0 < need <= total width, else anything); returns (t [B], steps). `hint` [B]: a guess of t
    (e.g. yesterday's; negative or non-finite: none); it changes the steps, never the result.

    Bracket lo < t* <= hi with count(lo) < need <= count(hi), hi always a slope and `above` the
    smallest slope > lo; each step tests a point in [above, hi), then moves hi down to the largest
    slope <= it or lo up to it (`above` = the smallest slope beyond); done when above == hi.
    Points: the hint, then galloping away from it (2**14, 2**18, 2**22, ... bit patterns: about
    0.2 %, 3 %, 50 % of the value, then powers of two) until
    both ends have moved; then Illinois-type interpolation of the count over the bit patterns,
    the midpoint every fourth step."""
    # reductions over segments, then products (XLA's CPU backend is ~2x faster so than over both)
    total_of = lambda x: jnp.sum(jnp.sum(x, axis=2), axis=1)
    max_of = lambda x: jnp.max(jnp.max(x, axis=2), axis=1)
    min_of = lambda x: jnp.min(jnp.min(x, axis=2), axis=1)
    need = need.astype(jnp.float32)
    total = total_of(width)
    finite = width > 0
    hi = max_of(jnp.where(finite, slope, -1.0))
    above = min_of(slope)
    zero = jnp.zeros_like(total)
    one = jnp.ones_like(total)
    active = (need > 0) & (need <= total) & (above < hi)
    hinted = jnp.isfinite(hint) & (hint >= 0)
    hint_bits = _bits(jnp.where(hinted, hint, 0.0))
    no = jnp.zeros(hi.shape, bool)

    def cond(carry):
        return jnp.any(carry[-1]) & (carry[0] < _MAX_SEARCH_STEPS)

    def body(carry):
        step, hi, above, count_lo, count_hi, weight_lo, weight_hi, last, gallop, lo_set, hi_set, active = carry
        low_bits, high_bits = _bits(above), _bits(hi)
        span = (high_bits - low_bits).astype(jnp.float32)
        r_lo, r_hi = (need - count_lo) * weight_lo, (count_hi - need) * weight_hi
        guess = low_bits + jnp.floor(span * r_lo / jnp.maximum(r_lo + r_hi, 1e-30)).astype(jnp.int32)
        middle = low_bits + (high_bits - low_bits) // 2
        interpolate = jnp.where(step % 4 == 3, middle, guess)
        galloping = hinted & ~(lo_set & hi_set)
        distance = jnp.where(lo_set | hi_set, jnp.left_shift(1, jnp.minimum(14 + 4 * gallop, 30)), 0)
        from_hint = hint_bits + jnp.where(hi_set, -distance, distance)
        probe_bits = jnp.clip(jnp.where(galloping, from_hint, interpolate), low_bits, high_bits - 1)
        probe = jax.lax.bitcast_convert_type(probe_bits, jnp.float32)
        below = slope <= probe[:, None, None]
        count = total_of(jnp.where(below, width, 0.0))
        largest_below = max_of(jnp.where(below & finite, slope, -1.0))
        smallest_above = min_of(jnp.where(below, jnp.inf, slope))
        enough = count >= need
        keep = lambda new, old: jnp.where(active, new, old)
        hi_moves = active & enough
        lo_moves = active & ~enough
        # Illinois: a side that keeps its place twice has its residual halved
        weight_lo = jnp.where(hi_moves & (last == 1), weight_lo * 0.5, jnp.where(lo_moves, one, weight_lo))
        weight_hi = jnp.where(lo_moves & (last == -1), weight_hi * 0.5, jnp.where(hi_moves, one, weight_hi))
        last = jnp.where(hi_moves, 1, jnp.where(lo_moves, -1, last))
        gallop = gallop + (active & galloping & (lo_set | hi_set)).astype(jnp.int32)
        lo_set, hi_set = lo_set | lo_moves, hi_set | hi_moves
        hi = keep(jnp.where(enough, largest_below, hi), hi)
        count_hi = keep(jnp.where(enough, count, count_hi), count_hi)
        above = keep(jnp.where(enough, above, smallest_above), above)
        count_lo = keep(jnp.where(enough, count_lo, count), count_lo)
        return (step + 1, hi, above, count_lo, count_hi, weight_lo, weight_hi, last, gallop, lo_set, hi_set,
                active & (above < hi))

    init = (jnp.zeros((), jnp.int32), hi, above, zero, total, one, one, jnp.zeros(hi.shape, jnp.int32),
            jnp.zeros(hi.shape, jnp.int32), no, no, active)
    out = jax.lax.while_loop(cond, body, init)
    return out[1], out[0]


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


def _stage_cuts(upper, position, mean, std, holding, shortage, need, hint, min_cut_cost_fraction, max_segments):
    """Greedy cuts [B, N] (int32) of one stage, the model's cut cost [B], the threshold slope [B]
    and the search steps; inputs [B, N] (need, hint [B], min_cut_cost_fraction [B] or scalar)."""
    fraction = jnp.asarray(min_cut_cost_fraction, jnp.float32)
    fraction = fraction[:, None] if fraction.ndim == 1 else fraction
    breaks, slope = cut_segments(upper, position, mean, std, holding, shortage, max_segments, fraction)
    width = (breaks[..., 1:] - breaks[..., :-1]).astype(jnp.float32)
    slope = jnp.where(width > 0, jnp.where(slope > 0, slope, 0.0), jnp.inf)  # +0.0: bit order = order
    threshold, steps = _threshold(slope, width, need, hint)
    t = threshold[:, None, None]
    cheaper = jnp.sum(jnp.where(slope < t, width, 0.0), axis=2).astype(jnp.int32)  # [B, N]
    tied = jnp.sum(jnp.where(slope == t, width, 0.0), axis=2).astype(jnp.int32)
    cuts = cheaper + _tied_prefix(tied, need - jnp.sum(cheaper, axis=1))
    cuts = jnp.where((need > 0)[:, None], cuts, 0)
    filled = jnp.clip(cuts[..., None] - breaks[..., :-1], 0, breaks[..., 1:] - breaks[..., :-1])
    objective = jnp.sum(jnp.where(filled > 0, filled.astype(jnp.float32) * slope, 0.0), axis=(1, 2))
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


def daily_allocation_batch(desired, on_hand, pipeline, holding_cost, shortage_cost, supply_capacity,
                           forecast_mean, forecast_std, lead_times, capacity, *, max_segments: int = 16,
                           capacity_basis: str = "position", min_cut_cost_fraction=1e-3,
                           forecast_mean_lo=None, capacity_lo=None, threshold_hint=None) -> JaxAllocation:
    """`daily_allocation` over a leading batch axis B of independent instances: [B, N, M],
    forecasts [B, N, H], lead_times and capacity [B, M], min_cut_cost_fraction scalar or [B],
    threshold_hint [B, M] (e.g. yesterday's `threshold`: fewer search steps, same result).
    A stage is solved only if it binds in some instance of the batch (`lax.cond`)."""
    _check_static(max_segments, capacity_basis)
    _check_fraction(min_cut_cost_fraction)
    i32 = lambda x: jnp.asarray(x, jnp.int32)
    f32 = lambda x: jnp.asarray(x, jnp.float32)
    desired, on_hand, pipeline, supply_capacity = i32(desired), i32(on_hand), i32(pipeline), i32(supply_capacity)
    forecast_mean, forecast_std, lead_times = f32(forecast_mean), f32(forecast_std), i32(lead_times)
    holding_cost, shortage_cost = f32(holding_cost), f32(shortage_cost)
    if desired.ndim != 3:
        raise ConfigError(f"'desired_orders' must be a 3-D array [batch, products, stages], got shape {desired.shape}")
    upper = order_upper_bound(desired, on_hand, supply_capacity)
    room, overflow = capacity_room(on_hand, pipeline, forecast_mean, lead_times, capacity, capacity_basis,
                                   forecast_mean_lo, capacity_lo)
    need = jnp.maximum(jnp.sum(upper, axis=1) - room, 0)  # [B, M]
    mean, std = lead_time_moments(forecast_mean, forecast_std, lead_times)
    B, N, M = upper.shape
    hint = jnp.full((B, M), -1.0, jnp.float32) if threshold_hint is None else jnp.asarray(threshold_hint, jnp.float32)
    fraction = jnp.broadcast_to(jnp.asarray(min_cut_cost_fraction, jnp.float32), (B,))
    by_stage = lambda x: jnp.moveaxis(x, -1, 0)  # [B, ..., M] -> [M, B, ...]
    operands = tuple(by_stage(x) for x in (upper, on_hand + pipeline, mean, std, holding_cost, shortage_cost,
                                           need, hint))

    def one_stage(ops):  # one compiled body for every stage (lax.map), skipped where nothing binds
        solve = lambda *ops: _stage_cuts(*ops, fraction, max_segments)
        skip = lambda *ops: (jnp.zeros((B, N), jnp.int32), jnp.zeros((B,), jnp.float32),
                             jnp.full((B,), -1.0, jnp.float32), jnp.zeros((), jnp.int32))
        return jax.lax.cond(jnp.any(ops[6] > 0), solve, skip, *ops)

    cuts, objective, threshold, steps = jax.lax.map(one_stage, operands)
    cuts = jnp.moveaxis(cuts, 0, -1)
    return JaxAllocation(orders=upper - cuts, cuts=cuts, upper=upper, need=need, room=room, overflow=overflow,
                         objective=objective.sum(0), threshold=jnp.moveaxis(threshold, 0, -1),
                         search_steps=jnp.broadcast_to(steps.max(), (B,)))


def daily_allocation(desired, on_hand, pipeline, holding_cost, shortage_cost, supply_capacity,
                     forecast_mean, forecast_std, lead_times, capacity, *, max_segments: int = 16,
                     capacity_basis: str = "position", min_cut_cost_fraction=1e-3,
                     forecast_mean_lo=None, capacity_lo=None, threshold_hint=None) -> JaxAllocation:
    """The daily allocation model (`sc_jax.alloc.milp`), exactly, on arrays; pure and jit-able.

    desired, on_hand, pipeline, supply_capacity [N, M] integers >= 0; holding_cost,
    shortage_cost [N, M]; forecast_mean, forecast_std [N, H] with H >= max(lead_times) + 1;
    lead_times [M] (integers >= 1); capacity [M]. `max_segments` (int >= 1) and `capacity_basis`
    ("position" | "expected") are static; `min_cut_cost_fraction` may be traced.
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
                                 threshold_hint=expand(threshold_hint))
    return jax.tree.map(lambda x: x[0], out)


# --- one AllocationProblem: allocate(problem, method="jax") --------------------------------------

_jitted_allocation = jax.jit(daily_allocation, static_argnames=("max_segments", "capacity_basis"))
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
    out = _jitted_allocation(problem.desired_orders.astype(np.int32), problem.on_hand.astype(np.int32),
                             problem.pipeline.astype(np.int32), problem.holding_cost.astype(np.float32),
                             problem.shortage_cost.astype(np.float32), problem.supply_capacity.astype(np.int32),
                             mean_hi, problem.forecast_std.astype(np.float32), problem.lead_times.astype(np.int32),
                             cap_hi, max_segments=segments_k, capacity_basis=capacity_basis,
                             min_cut_cost_fraction=np.float32(min_cut_cost_fraction),
                             forecast_mean_lo=mean_lo, capacity_lo=cap_lo)
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
                            overflow=reference_room(problem, capacity_basis)[1], method="jax", info=info)
