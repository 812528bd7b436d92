"""Environment data types: frozen parameters and array-only state.

Shapes (one product, one demand sample; `vmap` adds the product and sample axes):
  M = number of ordering stages (stage 0 = retailer ... stage M-1; stage M is the plant with
  unlimited supply and no inventory), T = episode length, K = demand-table length,
  W = forecast window, H = history length = max lead time over the batch (T, W, H are static
  settings of the environment object; M is read off the arrays' shapes).

Quantities (inventory, orders, demand) are int32: integer units must stay exact (float32 loses
integers above 2**24 and accumulates rounding in long sums), int32 is the widest integer JAX uses
without enabling x64, and it vectorises as well as float32 on CPU and GPU. Money (prices, costs,
rewards) is float32.
"""
from __future__ import annotations

import jax.numpy as jnp
from flax import struct

#: Demand families. Table families are sampled by inverse CDF from `EnvParams.demand_cdf`.
DEMAND_KINDS = ("poisson", "binomial", "uniform", "geometric", "user", "forecast")
TABLE_DEMAND_KINDS = ("poisson", "binomial", "geometric")
OBSERVATION_KINDS = ("orgym", "rich")
#: How a supplier fills an order (static, `InventoryEnv.supply_semantics`): "exact" (OR-Gym,
#: sc_jax's default) ships min(order, capacity, supplier on hand before its arrivals); "sample"
#: (the hybrid sample's simulator) ships min(order, capacity) in full, the supplier sells
#: min(its on hand after its arrivals, order) and the difference is charged to it as a missed sale.
SUPPLY_SEMANTICS = ("exact", "sample")
#: When a supplier can ship the units arriving that day, per supply semantics (the sigma rule's
#: and MIP-mixed's `timing`): the next day under "exact", the same day under "sample".
SUPPLIER_TIMING = {"exact": "before_arrivals", "sample": "after_arrivals"}

#: How arrivals over a shared capacity are refused (static, `InventoryEnv.overflow_rule`;
#: sc_jax.env.dynamics): each product keeps its proportional share rounded down, then
#: "largest_remainder" gives the whole units of room left one each to the largest remainders
#: (exactly the excess is refused), "floor" does not (up to one unit more per arriving product).
OVERFLOW_RULES = ("largest_remainder", "floor")

#: Name of the vmapped product axis; the shared-capacity rule reduces over it with `lax.psum`.
#: Internal: `InventoryEnv.vmap_products` / `sc_jax.env.rollout` name the axis for callers.
PRODUCT_AXIS = "products"


@struct.dataclass
class EnvParams:
    """Every traced constant of one product's chain (arrays only: a batch of products is the same
    pytree with a leading axis on every field, so params vmap and sweep). Static settings
    (episode length, demand kind, observation kind, forecast window, coupling) live on the
    environment object, `sc_jax.env.InventoryEnv`.

    Per-unit rates are named `unit_*`; the money a step charges (`StepInfo.holding_cost`, ...) is
    not. The reward of period n follows OR-Gym:
    ``alpha**n * sum_m (sale_price_m S_m - unit_cost_m RR_m - unit_shortage_cost_m U_m - unit_holding_cost_m I_m)``
    with ``sale_price = [p, r_0, ..., r_{M-1}]`` (what each stage charges the stage below).
    """

    initial_inventory: jnp.ndarray  # [M] int32, on hand at the start of period 0 (the low end
    #   of the draw when initial_inventory_range > 1)
    initial_inventory_range: jnp.ndarray  # [M] int32 >= 1: each episode's on hand at period 0 is
    #   uniform on initial_inventory + {0, ..., range - 1}, drawn from the episode key
    #   (DemandPath.initial_on_hand); 1 (the default) = always initial_inventory, also after a
    #   params.replace(initial_inventory=...)
    retail_price: jnp.ndarray  # [] float32, p
    unit_cost: jnp.ndarray  # [M+1] float32, r
    unit_shortage_cost: jnp.ndarray  # [M+1] float32, k (per unit backlogged or lost, per period)
    unit_holding_cost: jnp.ndarray  # [M] float32, h (per unit on hand per period; stage M holds nothing)
    supply_capacity: jnp.ndarray  # [M] int32, c: caps the accepted order of stage m
    lead_time: jnp.ndarray  # [M] int32, L >= 0, L <= env.history_length
    backlog: jnp.ndarray  # [] bool, True = v0 (unfilled demand is backlogged), False = v1 (lost sales)
    discount: jnp.ndarray  # [] float32, alpha in (0, 1]
    log_discount: jnp.ndarray  # [] float32, log(alpha) from float64: alpha**n = exp(n log alpha)
    charge_capacity_shortfall: jnp.ndarray  # [] bool, OR-Gym charges orders above c as unfilled
    cost_ratio: jnp.ndarray  # [] float32, missed-sale / holding cost (observed by agents)
    # demand
    demand_cdf: jnp.ndarray  # [K] float32, CDF table for table families (last entry 1.0)
    demand_offset: jnp.ndarray  # [] int32, smallest value of the table support
    demand_low: jnp.ndarray  # [] int32, uniform: low (inclusive)
    demand_high: jnp.ndarray  # [] int32, uniform: high (exclusive, as SciPy randint)
    demand_mean: jnp.ndarray  # [] float32, stationary mean (forecast shown to agents)
    demand_std: jnp.ndarray  # [] float32, stationary standard deviation
    user_demand: jnp.ndarray  # [S, T] int32, user paths (reset draws one row); [1, T] zeros otherwise
    forecast: jnp.ndarray  # [8] float32: offset, amp1, ph1, amp2, ph2, randvar, sigma_max, start_days
    # shared capacity across products (used only when env.couple_products)
    shared_capacity: jnp.ndarray  # [M] float32, total on hand allowed per stage over all products
    unit_overflow_cost: jnp.ndarray  # [M] float32, charged per refused arriving unit

    @property
    def num_stages(self) -> int:
        """M, the number of stages that hold inventory and place orders."""
        return self.initial_inventory.shape[-1]


@struct.dataclass
class DemandPath:
    """One episode of demand, drawn at reset (so every policy sees the same path from the same
    key: common random numbers by construction). Forecasts extend W periods past the end. The
    episode's initial on hand is drawn with it (it is part of the episode's scenario)."""

    actual: jnp.ndarray  # [T] int32
    forecast_mean: jnp.ndarray  # [T+W] float32
    forecast_std: jnp.ndarray  # [T+W] float32
    # [M] on hand at period 0, drawn with the demand from the same key (EnvParams
    # initial_inventory_range); None (a path built by hand) = params.initial_inventory
    initial_on_hand: jnp.ndarray | None = None


@struct.dataclass
class EnvState:
    """One product's state. Per-stage quantities are stored as tuples of int32 scalars (structure
    of arrays): under `vmap` each becomes one contiguous [products] vector, which XLA vectorises
    about 2x better on CPU than [products, M] arrays with a tiny minor axis (bench_env on 2 pinned
    cores, 10,000 products: 8.0-10.1 vs 16-19 M product-steps/s; README "Throughput"). The array views below (`on_hand`, `in_transit`,
    `arrival_schedule`, `request_history`, `backlog_units`) are what policies and agents read;
    `replace` accepts `on_hand`, `arrival_schedule`, `request_history` and `backlog_units` too.

    Static sizes can be read off a state: M = len(stock), H = len(requests) (the history length),
    T = demand.actual.shape[-1] (periods), W = forecast_mean length - T.

    In-transit units are kept by the period they arrive in (not the period they were ordered in):
    the step then adds each order once at its lead time, and in-transit totals are plain sums."""

    stock: tuple  # M x int32[]: on hand after shipping (= start of next period, before arrivals)
    due: tuple  # (H+1) x M x int32[]: accepted orders in transit, entry l = arriving in l periods
    requests: tuple  # H x M x int32[]: requested max(action, 0), oldest first (OR-Gym obs)
    owed: tuple  # (M+1) x int32[]: unfilled retail demand, then unfilled orders of stages 0..M-1
    time: jnp.ndarray  # [] int32, period index n
    demand: DemandPath

    @property
    def on_hand(self) -> jnp.ndarray:
        """[M] int32."""
        return jnp.stack(self.stock, axis=-1)

    @property
    def arrival_schedule(self) -> jnp.ndarray:
        """[H+1, M] int32 between steps: row l = units in transit that arrive l + 1 periods
        ahead (row 0 at the next step's arrival phase); row H is empty between steps (a step
        books an order of lead time L into row L, delivers row 0, then shifts every row down)."""
        return jnp.stack([jnp.stack(row, axis=-1) for row in self.due], axis=-2)

    @property
    def in_transit(self) -> jnp.ndarray:
        """[M] int32, units ordered and not yet arrived, per stage."""
        return jnp.stack([sum(row[m] for row in self.due) for m in range(len(self.stock))], axis=-1)

    @property
    def request_history(self) -> jnp.ndarray:
        """[H, M] int32, oldest first."""
        M = len(self.stock)
        if not self.requests:
            return jnp.zeros(self.time.shape + (0, M), jnp.int32)
        return jnp.stack([jnp.stack(row, axis=-1) for row in self.requests], axis=-2)

    @property
    def backlog_units(self) -> jnp.ndarray:
        """[M+1] int32: retail backlog, then the unfilled orders of stages 0..M-1 (v0; the flag
        that turns backlogging on is `EnvParams.backlog`)."""
        return jnp.stack(self.owed, axis=-1)


def _split(array, axis_sizes):
    """Array [..., a, b] -> nested tuples of [...] scalars (inverse of the stacked views)."""
    array = jnp.asarray(array, jnp.int32)
    if len(axis_sizes) == 1:
        return tuple(array[..., m] for m in range(axis_sizes[0]))
    return tuple(_split(array[..., l, :], axis_sizes[1:]) for l in range(axis_sizes[0]))


_VIEWS = {"on_hand": "stock", "arrival_schedule": "due", "request_history": "requests",
          "backlog_units": "owed"}
_struct_replace = EnvState.replace


def _replace(self, **changes):
    """`dataclasses.replace` that also takes the array views (on_hand=[M] etc.)."""
    for view, field in _VIEWS.items():
        if view in changes:
            value = jnp.asarray(changes.pop(view), jnp.int32)
            vector = view in ("on_hand", "backlog_units")  # else [rows, M]
            changes[field] = _split(value, value.shape[-1:] if vector else value.shape[-2:])
    return _struct_replace(self, **changes)


EnvState.replace = _replace


@struct.dataclass
class StepInfo:
    """Per-step metrics (one product). Money is undiscounted; `discount_factor` = alpha**n."""

    demand: jnp.ndarray  # [] int32, this period's new demand
    sales: jnp.ndarray  # [M+1] int32, retail sales then accepted orders shipped by stages 1..M
    requested: jnp.ndarray  # [M] int32, order requested incl. backlogged replenishment
    accepted: jnp.ndarray  # [M] int32
    arrivals: jnp.ndarray  # [M] int32, accepted into stock (after the shared-capacity rule)
    unfilled: jnp.ndarray  # [M+1] int32
    backlogged: jnp.ndarray  # [M+1] int32
    lost: jnp.ndarray  # [M+1] int32
    on_hand: jnp.ndarray  # [M] int32
    in_transit: jnp.ndarray  # [M] int32
    overflow: jnp.ndarray  # [M] int32, arriving units refused by the shared capacity
    shared_utilisation: jnp.ndarray  # [M] float32, total on hand / shared capacity (0 if uncoupled)
    revenue: jnp.ndarray  # [] float32, money this step (undiscounted), as are the costs below
    purchase_cost: jnp.ndarray
    shortage_cost: jnp.ndarray
    holding_cost: jnp.ndarray
    overflow_cost: jnp.ndarray
    discount_factor: jnp.ndarray
    invalid_action: jnp.ndarray  # [] bool: the action held NaN or +-inf (NaN ordered 0, inf capped)

