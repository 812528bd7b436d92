"""Greedy marginal allocation: the independent exact method and the fallback.

The daily model (see `sc_jax.alloc.milp`) is a separable convex resource
allocation: at each binding stage j at least ``need_j`` units must be cut from
the orders, and every product/stage has a convex piecewise-linear cut cost,
given as segments (integer width, slope) with slopes non-decreasing along the
cut.  For that problem taking the cheapest marginal units first until the need
is met is optimal (classic result for separable convex costs under one
"sum >= need" constraint), so this module checks HiGHS independently and
replaces it, always, when HiGHS times out or returns nothing usable (status
"time_limit_greedy" / "fallback_greedy", docs/alloc.md).  It is capacity-safe by
construction: it always cuts exactly ``need_j`` units, never more than a
product's order.

Vectorised: one stable lexsort by (stage, slope) and a cumulative sum; no loop
over products.  This module depends on NumPy only, so the MILP module can
import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CutSegments", "greedy_cuts", "is_optimal_cut"]


@dataclass(frozen=True)
class CutSegments:
    """Piecewise-linear convex cut costs, one row per segment (flat arrays).

    product, stage: which order the segment cuts.
    start:          cut already made before this segment starts (integer).
    width:          integer units the segment can cut (>= 1).
    slope:          cost per unit cut within the segment; non-decreasing in
                    ``start`` for a fixed product/stage (convexity).
    """

    product: np.ndarray
    stage: np.ndarray
    start: np.ndarray
    width: np.ndarray
    slope: np.ndarray
    n_products: int
    n_stages: int

    @property
    def size(self) -> int:
        return int(self.width.size)

    def cost(self, cuts: np.ndarray) -> float:
        """Cost of integer cuts [N, M] (sum of filled segment parts times slope)."""
        cut_of_segment = np.asarray(cuts)[self.product, self.stage]
        filled = np.clip(cut_of_segment - self.start, 0, self.width)
        return float(np.dot(filled, self.slope))


def greedy_cuts(segments: CutSegments, need: np.ndarray) -> np.ndarray:
    """Cheapest cuts meeting ``need`` [M] per stage; returns int64 cuts [N, M].

    Stages whose need exceeds their total cuttable units get everything cut
    (cannot happen for needs built by the daily model, whose need is at most
    the sum of the order upper bounds).
    """
    need = np.maximum(np.asarray(need, dtype=np.int64), 0)
    if segments.size == 0:
        return np.zeros((segments.n_products, segments.n_stages), dtype=np.int64)
    # Stable sort: stage first, then slope; equal slopes keep product-major,
    # segment order, so a product's segments are filled front to back.
    order = np.lexsort((segments.slope, segments.stage))
    stage = segments.stage[order]
    width = segments.width[order]
    width_before_stage = np.concatenate(([0], np.cumsum(np.bincount(stage, weights=width, minlength=segments.n_stages))))
    cumulative = np.cumsum(width) - width_before_stage[stage]  # units available up to and including this segment
    taken = np.clip(need[stage] - (cumulative - width), 0, width).astype(np.int64)
    flat_index = segments.product[order] * segments.n_stages + stage
    total = np.bincount(flat_index, weights=taken, minlength=segments.n_products * segments.n_stages)
    return np.rint(total).astype(np.int64).reshape(segments.n_products, segments.n_stages)


def is_optimal_cut(segments: CutSegments, cuts: np.ndarray, need: np.ndarray, tolerance: float = 1e-9) -> bool:
    """Optimality certificate (KKT) for cuts of the daily model; no sorting.

    For separable convex costs under one "sum >= need" row per stage, a
    feasible cut is optimal iff, per stage, no unit left uncut is cheaper than
    a unit cut (max slope cut <= min slope uncut) and nothing is cut beyond
    the need unless it is free.
    """
    need = np.maximum(np.asarray(need, dtype=np.int64), 0)
    cuts = np.asarray(cuts)
    if np.any(cuts.sum(axis=0) < need):
        return False
    if segments.size == 0:
        return True
    filled = np.clip(cuts[segments.product, segments.stage] - segments.start, 0, segments.width)
    scale = tolerance * max(1.0, float(np.abs(segments.slope).max()))
    max_cut_slope = np.full(segments.n_stages, -np.inf)
    np.maximum.at(max_cut_slope, segments.stage[filled > 0], segments.slope[filled > 0])
    min_uncut_slope = np.full(segments.n_stages, np.inf)
    np.minimum.at(min_uncut_slope, segments.stage[filled < segments.width], segments.slope[filled < segments.width])
    exchange_ok = np.all(max_cut_slope <= min_uncut_slope + scale)
    over_cut = cuts.sum(axis=0) > need
    over_cut_free = np.all(~over_cut | (max_cut_slope <= scale))
    return bool(exchange_ok and over_cut_free)
