"""Input and result containers for the shared-capacity order allocation.

`AllocationProblem` holds one day's decision of the hybrid method: for every
product ``i`` and inventory stage ``j`` (0 = retailer, ..., M-1 = top DC; the
factory above stage M-1 has unlimited raw material) the order-up-to
controller's *desired order*, the current state and the costs.  The products
share one inventory capacity per stage.  `AllocationResult` is what every
method (`"daily"`, `"rolling"`, `"greedy"`) returns.

Shapes (N products, M stages, H forecast days, L_max = max lead time):

===================  ===========  ==================================================
field                shape        meaning
===================  ===========  ==================================================
desired_orders       [N, M]       controller's order per product/stage, integer >= 0
on_hand              [N, M]       stock on hand now, integer >= 0
pipeline             [N, M]       units ordered by stage j and still in transit
                                  (all of it lands within the lead time L_j)
holding_cost         [N, M]       h_ij >= 0, per unit and day
shortage_cost        [N, M]       k_ij >= 0, per unit of missed demand
supply_capacity      [N, M]       c_ij, most units one order may carry, int >= 0
forecast_mean        [N, H]       mean end-customer demand per day, >= 0
forecast_std         [N, H]       standard deviation per day, >= 0
lead_times           [M]          L_j >= 1 days, with max(L) + 1 <= H
capacity             [M]          shared capacity of stage j over all products, >= 0
pipeline_by_day      [N, M, Lmax] optional: in-transit units by arrival day
                                  (index 0 = arrives today); only the rolling
                                  variant uses the schedule, its sum must equal
                                  ``pipeline``
===================  ===========  ==================================================

Demand over a window is taken as the sum of the daily forecasts, with
independent days (variance adds).  Every stage of the serial chain is
protected against end-customer demand (echelon view), over its protection
interval of L_j + 1 days (lead time plus the one-day review period of the
order-up-to controller); `lead_time_demand` computes these moments.

Inputs may be NumPy or JAX arrays, or nested lists; they are converted with
``np.asarray`` and validated once; bad input raises `sc_jax.errors.ConfigError`
(a ValueError) as ``'<field>' must be <allowed values>, got <what was given>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sc_jax.checks import ConfigError, check_integer, check_number, show

__all__ = ["AllocationProblem", "AllocationResult", "lead_time_demand", "random_problem"]

_PRODUCT_STAGE_INT_FIELDS = ("desired_orders", "on_hand", "pipeline", "supply_capacity")
_PRODUCT_STAGE_COST_FIELDS = ("holding_cost", "shortage_cost")


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _as_float_array(name: str, value) -> np.ndarray:
    """``value`` as a finite float64 array; numeric dtypes only (no strings, no None)."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as error:  # ragged nested lists
        raise ConfigError(f"'{name}' must be a numeric array, got {type(value).__name__} ({error})") from None
    if raw.dtype.kind not in "biuf":
        raise ConfigError(f"'{name}' must be a numeric array, got {show(value)} (dtype {raw.dtype})")
    array = raw.astype(np.float64)
    bad = ~np.isfinite(array)
    if np.any(bad):
        index = _first_index(bad)
        raise ConfigError(
            f"'{name}' must be finite (no NaN or inf), got {int(bad.sum())} non-finite value(s),"
            f" first {array[index]} at index {index}"
        )
    return array


def _check_shape(name: str, array: np.ndarray, expected: tuple[int, ...], meaning: str) -> None:
    if array.shape != expected:
        raise ConfigError(f"'{name}' must have shape {expected} {meaning}, got shape {array.shape}")


def _check_nonnegative(name: str, array: np.ndarray, allowed: str = "numbers >= 0") -> None:
    negative = array < 0
    if np.any(negative):
        index = _first_index(negative)
        raise ConfigError(f"'{name}' must be {allowed}, got {array[index]:g} at index {index}")


def _check_integer_valued(name: str, array: np.ndarray) -> np.ndarray:
    rounded = np.rint(array)
    fractional = rounded != array
    if np.any(fractional):
        index = _first_index(fractional)
        raise ConfigError(f"'{name}' must be integers >= 0, got non-integer {array[index]:g} at index {index}")
    return rounded.astype(np.int64)


@dataclass(frozen=True)
class AllocationProblem:
    """One day's shared-capacity allocation instance (see the module docstring)."""

    desired_orders: np.ndarray
    on_hand: np.ndarray
    pipeline: np.ndarray
    holding_cost: np.ndarray
    shortage_cost: np.ndarray
    supply_capacity: np.ndarray
    forecast_mean: np.ndarray
    forecast_std: np.ndarray
    lead_times: np.ndarray
    capacity: np.ndarray
    pipeline_by_day: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Frozen dataclass: normalise fields through object.__setattr__ once, so
        # every method downstream can trust dtypes and shapes.
        def store(name: str, value) -> None:
            object.__setattr__(self, name, value)

        desired = _as_float_array("desired_orders", self.desired_orders)
        if desired.ndim != 2:
            raise ConfigError(f"'desired_orders' must be a 2-D array [products, stages], got shape {desired.shape}")
        n_products, n_stages = desired.shape
        if n_stages < 1:
            raise ConfigError(
                f"'desired_orders' must have at least one stage [products, stages >= 1], got shape {desired.shape}"
            )
        product_stage = (n_products, n_stages)
        like_desired = "[products, stages] like desired_orders"

        for name in _PRODUCT_STAGE_INT_FIELDS:
            array = _as_float_array(name, getattr(self, name))
            _check_shape(name, array, product_stage, like_desired)
            _check_nonnegative(name, array, "integers >= 0")
            store(name, _check_integer_valued(name, array))

        for name in _PRODUCT_STAGE_COST_FIELDS:
            array = _as_float_array(name, getattr(self, name))
            _check_shape(name, array, product_stage, like_desired)
            _check_nonnegative(name, array)
            store(name, array)

        lead_times = _as_float_array("lead_times", self.lead_times)
        _check_shape("lead_times", lead_times, (n_stages,), "[stages]")
        if lead_times.min() < 1 or not np.array_equal(np.rint(lead_times), lead_times):
            shown = [int(x) if x == int(x) else x for x in lead_times.tolist()]
            raise ConfigError(f"'lead_times' must be integers >= 1, got {shown}")
        lead_times = lead_times.astype(np.int64)
        store("lead_times", lead_times)

        capacity = _as_float_array("capacity", self.capacity)
        _check_shape("capacity", capacity, (n_stages,), "[stages], one shared capacity per stage")
        _check_nonnegative("capacity", capacity)
        store("capacity", capacity)

        mean = _as_float_array("forecast_mean", self.forecast_mean)
        if mean.ndim != 2 or mean.shape[0] != n_products:
            raise ConfigError(
                f"'forecast_mean' must have shape ({n_products}, horizon) [products, days], got shape {mean.shape}"
            )
        horizon = mean.shape[1]
        needed = int(lead_times.max()) + 1
        if horizon < needed:
            raise ConfigError(
                f"'forecast_mean' must cover a horizon of at least max(lead_times) + 1 = {needed} days"
                f" (the longest protection interval), got {horizon}"
            )
        _check_nonnegative("forecast_mean", mean)
        store("forecast_mean", mean)
        std = _as_float_array("forecast_std", self.forecast_std)
        _check_shape("forecast_std", std, mean.shape, "[products, days] like forecast_mean")
        _check_nonnegative("forecast_std", std)
        store("forecast_std", std)

        if self.pipeline_by_day is not None:
            schedule = _as_float_array("pipeline_by_day", self.pipeline_by_day)
            _check_shape(
                "pipeline_by_day", schedule, (n_products, n_stages, int(lead_times.max())),
                "[products, stages, max lead time]",
            )
            _check_nonnegative("pipeline_by_day", schedule, "integers >= 0")
            schedule = _check_integer_valued("pipeline_by_day", schedule)
            mismatch = schedule.sum(axis=2) != self.pipeline
            if np.any(mismatch):
                index = _first_index(mismatch)
                raise ConfigError(
                    "'pipeline_by_day' must sum over arrival days to 'pipeline',"
                    f" got {int(schedule[index].sum())} != {int(self.pipeline[index])} at [product, stage] {index}"
                )
            store("pipeline_by_day", schedule)

    @property
    def n_products(self) -> int:
        return self.desired_orders.shape[0]

    @property
    def n_stages(self) -> int:
        return self.desired_orders.shape[1]

    def order_upper_bound(self) -> np.ndarray:
        """Largest admissible order per product/stage, int64 [N, M].

        The controller's wish, clipped by the per-order supply capacity and by
        the supplier's stock (stage j ships from stage j+1's on hand; the factory
        above the last stage is unlimited).  Allocation may only cut below it.
        """
        supplier_stock = np.empty_like(self.on_hand)
        supplier_stock[:, :-1] = self.on_hand[:, 1:]
        supplier_stock[:, -1] = np.iinfo(np.int64).max
        return np.minimum(np.minimum(self.desired_orders, self.supply_capacity), supplier_stock)


def lead_time_demand(problem: AllocationProblem) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std [N, M] of demand over each stage's protection interval L_j + 1."""
    days = np.arange(problem.forecast_mean.shape[1])
    in_window = (days[None, :] <= problem.lead_times[:, None]).astype(np.float64)  # [M, H]
    mean = problem.forecast_mean @ in_window.T
    std = np.sqrt(problem.forecast_std**2 @ in_window.T)
    return mean, std


@dataclass
class AllocationResult:
    """Outcome of one allocation.

    orders:    int64 [N, M], integer orders to place today.
    status:    "optimal" (HiGHS or greedy solved the daily model),
               "not_binding" (no stage binds, orders = upper bound),
               "rounded_lp" (rolling variant, LP solved),
               "time_limit_greedy" (HiGHS hit its time limit; whatever it had
               is discarded and the greedy allocation of the daily model is
               returned: timed_out=True, fallback=True),
               "fallback_greedy" (HiGHS failed or returned an unusable point;
               greedy allocation returned: timed_out=False, fallback=True).
               Both fallbacks return exactly what ``method="greedy"`` returns
               with the same options, so a result never depends on timing.
    objective: expected cost of the cuts, evaluated with the daily model's cut
               cost for every method so that methods are comparable.
    mip_gap:   HiGHS relative MIP gap (0.0 when solved without HiGHS).
    timed_out: HiGHS stopped at ``time_limit``.
    fallback:  the greedy allocation replaced HiGHS's answer.
    overflow:  [M] units by which on hand + pipeline alone already exceed the
               shared capacity (orders at that stage are then 0).
    info:      method-specific extras (sizes, LP objective, ...).
    """

    orders: np.ndarray
    status: str
    objective: float
    mip_gap: float
    build_s: float
    solve_s: float
    timed_out: bool
    fallback: bool
    overflow: np.ndarray
    method: str = "daily"
    info: dict = field(default_factory=dict)


def random_problem(
    rng: np.random.Generator | int,
    n_products: int,
    tightness: float = 0.9,
    lead_times=(2, 3, 4),
    supply_capacity=(100, 90, 80),
    horizon: int = 10,
    cost_ratios=(10, 100, 1000),
    max_daily_mean: float = 20.0,
) -> AllocationProblem:
    """Random instance shaped like the hybrid experiments (tests and benchmarks).

    Desired orders come from an order-up-to rule (lead-time demand plus a
    random safety stock minus the inventory position).  ``tightness`` sets
    capacity_j = sum_i (on_hand + pipeline)_ij + tightness * sum_i desired_ij:
    the fraction of the desired orders that fits, so values below 1 make every
    stage bind and values of 1 or more make none bind.  The pipeline is spread
    evenly over each stage's lead time in ``pipeline_by_day``.
    """
    check_integer("n_products", n_products, 1)
    check_number("tightness", tightness, "a number >= 0", lambda x: 0 <= x < np.inf)
    check_integer("horizon", horizon, 1)
    check_number("max_daily_mean", max_daily_mean, "a number >= 1", lambda x: 1 <= x < np.inf)
    lead_array = np.asarray(lead_times)
    if (lead_array.ndim != 1 or lead_array.size == 0 or lead_array.dtype.kind not in "iu"
            or lead_array.min() < 1):
        raise ConfigError(f"'lead_times' must be a non-empty list of integers >= 1, got {show(lead_times)}")
    ratios = np.asarray(cost_ratios)
    if ratios.ndim != 1 or ratios.size == 0 or ratios.dtype.kind not in "iuf" or not np.all(ratios > 0):
        raise ConfigError(f"'cost_ratios' must be a non-empty list of numbers > 0, got {show(cost_ratios)}")
    rng = np.random.default_rng(rng)
    lead_times = lead_array.astype(np.int64)
    n_stages = lead_times.size
    daily_mean = rng.uniform(1.0, max_daily_mean, size=n_products)
    forecast_mean = np.repeat(daily_mean[:, None], horizon, axis=1)
    forecast_std = 0.3 * forecast_mean
    window = (lead_times + 1)[None, :]
    lead_mean = daily_mean[:, None] * window
    lead_std = 0.3 * daily_mean[:, None] * np.sqrt(window)
    safety = rng.uniform(0.0, 2.0, size=(n_products, n_stages)) * lead_std
    on_hand = rng.integers(0, np.ceil(2 * daily_mean[:, None] * window).astype(np.int64) + 1, size=(n_products, n_stages))
    pipeline = rng.integers(0, np.ceil(daily_mean[:, None] * lead_times[None, :]).astype(np.int64) + 1,
                            size=(n_products, n_stages))
    desired = np.maximum(np.rint(lead_mean + safety) - on_hand - pipeline, 0).astype(np.int64)
    shortage = rng.uniform(1.0, 10.0, size=(n_products, 1)) * np.ones((1, n_stages))
    ratio = rng.choice(np.asarray(cost_ratios, dtype=np.float64), size=(n_products, 1))
    capacity = (on_hand + pipeline).sum(axis=0) + tightness * desired.sum(axis=0)
    # In-transit units spread evenly over the lead time (remainder lands first).
    max_lead = int(lead_times.max())
    days = np.arange(max_lead)
    per_day = pipeline // lead_times[None, :]
    schedule = np.where(days[None, None, :] < lead_times[None, :, None], per_day[:, :, None], 0)
    schedule[:, :, 0] += pipeline - schedule.sum(axis=2)
    return AllocationProblem(
        desired_orders=desired, on_hand=on_hand, pipeline=pipeline,
        holding_cost=shortage / ratio, shortage_cost=shortage,
        supply_capacity=np.broadcast_to(np.asarray(supply_capacity, dtype=np.int64), (n_products, n_stages)),
        forecast_mean=forecast_mean, forecast_std=forecast_std,
        lead_times=lead_times, capacity=np.floor(capacity), pipeline_by_day=schedule,
    )
