"""The one step function: OR-Gym InvManagement-v0/v1 dynamics, pure and jittable (gymnax style).

One period n of one product (shapes without batch axes; `vmap` adds products and samples):
 1. requested = max(floor(action), 0) (+ the supplier's unfilled backlog of my orders, v0)
 2. accepted  = min(requested, supply_capacity, supplier on hand before arrivals); plant: infinite
 3. arrivals  = accepted order placed lead_time periods ago (this period's when lead_time = 0)
    [shared capacity, when `couple_products`: arrivals beyond the stage's total capacity over all
     products are refused in proportion (`env.overflow_rule`) and charged `overflow_cost` each]
 4. demand    = new demand (+ retail backlog, v0)
 5. sales     = min(on hand, demand) at the retailer; stage m+1 ships accepted[m]
 6. on hand  -= shipped; unfilled = [demand, requested] - sales: backlogged (v0) or lost (v1)
 7. reward    = alpha**n * sum(p S - r RR - k U - h I) (OR-Gym's formula, see EnvParams)

Static settings (episode length, history length, coupling) come from the environment object
`env` (sc_jax.env.InventoryEnv), traced values from `params`. The public entry points are the
object's methods (`env.reset`, `env.step`, `env.step_env`); the functions here take `env` first.

The step is written stage by stage over Python tuples (M and the lead-time history are static and
small): each per-stage quantity is a scalar, so under `vmap` it is one contiguous [products]
vector. See EnvState for why.

Deliberate deviations from OR-Gym (its defects, documented in README "OR-Gym parity"):
 - demand is drawn per episode at reset from an explicit key (OR-Gym seeds NumPy globally);
 - geometric demand and uniform demand with low > 0 are accepted (OR-Gym's check rejects them);
 - values are never cast to the type of their default (OR-Gym's env_config quirk).
OR-Gym charges an order above the supplier's capacity as unfilled at the supplier (v1: lost);
that is kept for parity and switchable with `charge_capacity_shortfall`.

Supply semantics (`env.supply_semantics`, static; a branch of this one step, not a second step):
 - "exact" (default, OR-Gym): steps 2-6 above.
 - "sample" (the hybrid sample's simulator, docs/hybrid_reproduction.md): accepted = min(requested,
   supply_capacity) ships in full and arrives after its lead time whatever the supplier holds;
   the supplier sells min(its on hand after this period's arrivals, accepted), and the difference
   is unfilled at the supplier (charged its k; lost, never owed). Units are then created: the
   conservation law does not hold by design. The sample's other departures are params, not flags:
   no charge for orders above capacity (charge_capacity_shortfall=False), no plant k or h (the
   plant's k only ever applies to that charge; it holds nothing), lost sales, no revenue. Its rule
   "orders arriving at or after the last day are dropped" changes no cost within an episode (such
   orders never arrive before it ends), so it is not modelled.

Relaxed step (`env.relaxed`, for pathwise gradients: sc_jax.agents.hdpo): the same code with
float32 quantities instead of int32, and every rounding down (the action's floor, the shared
capacity's cut) a straight-through floor: the forward value is the floor, the gradient that of
the identity. min / max / clip give their subgradients. The relaxed step therefore computes exactly
what the exact step computes, for any action (tests/test_hdpo.py on the OR-Gym fixtures), and
only its derivatives differ from zero. Evaluation uses the exact (integer) env.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

import numpy as np

from sc_jax.env.demand import sample_demand
from sc_jax.env.observation import observe
from sc_jax.env.types import PRODUCT_AXIS, DemandPath, EnvParams, EnvState, StepInfo
from sc_jax.errors import ConfigError

_BIG = 2**30  # "infinite" stock of the plant; also caps absurd float actions


def quantity_dtype(env):
    """dtype of the state's quantities: int32, or float32 in the relaxed (differentiable) step."""
    return jnp.float32 if getattr(env, "relaxed", False) else jnp.int32


def _round_down(x, dtype):
    """floor(x) as `dtype`; float (relaxed): a straight-through floor (value floor(x), gradient 1).
    floor(x) - x is exact in float32, so the forward value is exactly floor(x)."""
    if jnp.issubdtype(dtype, jnp.floating):
        return x + jax.lax.stop_gradient(jnp.floor(x) - x)
    return jnp.floor(x).astype(dtype)


def initial_state(env, params: EnvParams, demand: DemandPath) -> EnvState:
    """The state at period 0 for a given demand path."""
    M, H = params.num_stages, env.history_length
    qty = quantity_dtype(env)
    zero = jnp.zeros((), qty)
    return EnvState(
        # the episode's drawn initial on hand (DemandPath.initial_on_hand); a hand-built path: params'
        stock=tuple(jnp.asarray((params.initial_inventory if demand.initial_on_hand is None
                                 else demand.initial_on_hand)[m], qty) for m in range(M)),
        due=tuple((zero,) * M for _ in range(H + 1)),
        requests=tuple((zero,) * M for _ in range(H)),
        owed=(zero,) * (M + 1),
        time=jnp.zeros((), jnp.int32),
        demand=demand,
    )


def reset_with_demand(env, params: EnvParams, demand: DemandPath):
    """(obs, state) at period 0 for a given path (user demand, replays, the oracle)."""
    state = initial_state(env, params, demand)
    return observe(env, state, params), state


def reset(env, key, params: EnvParams):
    """(obs, state) at period 0; the episode's demand path is drawn from `key`."""
    return reset_with_demand(env, params, sample_demand(env, key, params))


def inventory_position(state: EnvState):
    """Echelon inventory position per stage [M] (OR-Gym's base-stock state):
    cumsum over stages of (on hand + in transit - backlog owed by the stage)."""
    total, position = 0, []
    for m in range(len(state.stock)):
        total = total + state.stock[m] + sum(row[m] for row in state.due) - state.owed[m]
        position.append(total)
    return jnp.stack(position)


def _refuse_over_shared_capacity(on_hand, arrivals, params: EnvParams, rule: str = "largest_remainder"):
    """Shared capacity per stage over all products (vmapped axis PRODUCT_AXIS): (kept, refused).

    Stock already on hand stays; if the arrivals of all products would take a stage's total above
    `shared_capacity`, each product keeps floor(arrivals * room / total arrivals) of its arrivals
    (the 1e-6 margin keeps the float32 fraction from ever rounding above the room), then
    - "largest_remainder" (default): the whole units of room still free go one each to the
      products with the largest fractional remainders (ties, and remainders closer than
      2**-(30 - b) for up to 2**b products, to the lower product index), so exactly the excess
      over the room is refused (its ceiling when the room is fractional), and every product
      keeps its share rounded down or up;
    - "floor": nothing more: up to one unit more per arriving product is refused (e.g. 199 units
      for an excess of 3 at 200 SKUs; the rule of every measurement before 2026-11-29).
    The refused units are lost to the chain and charged `overflow_cost` each. The default costs
    1.1-1.4x "floor"'s coupled episode where nothing overflows and 2.7-7.5x where every day does
    (scripts/bench_overflow_rule.py, 200 / 2,000 products x 16 samples, 2-vCPU VM)."""
    try:
        total_on_hand = jax.lax.psum(on_hand, PRODUCT_AXIS)
    except NameError:  # vmapped without the product axis name: say how to batch a coupled env
        raise ConfigError("products sharing capacity (shared_capacity) must be batched with "
                          "env.vmap_products(fn) (or sc_jax.env.rollout), not a plain jax.vmap: the "
                          "shared-capacity rule sums over the product axis") from None
    total_arrivals = jax.lax.psum(arrivals, PRODUCT_AXIS)
    room = jnp.maximum(params.shared_capacity - total_on_hand.astype(jnp.float32), 0.0)
    fits = total_arrivals.astype(jnp.float32) <= room
    fraction = room / jnp.maximum(total_arrivals, 1).astype(jnp.float32) * (1.0 - 1e-6)
    share = arrivals * fraction
    kept = jnp.where(fits, arrivals, _round_down(share, arrivals.dtype))
    if rule == "largest_remainder":
        # no tangent enters the search (a while_loop, which reverse mode cannot transpose): the extra
        # units are constants to the relaxed step's gradients, as every rounding is
        kept = kept + _remainder_units(*jax.lax.stop_gradient((arrivals, kept, share, room, fits)))
    return kept, arrivals - kept


_DIGIT_BITS = 4  # the remainder search fixes this many bits of the threshold key per pass


def _remainder_units(arrivals, kept, share, room, fits):
    """[M] 0 / 1 per product: one more unit for the R products with the largest remainders
    share - kept (ties to the lower product index), R = the whole units of room the rounded-down
    shares leave free, per stage (the inputs carry no tangents: the caller stops their gradients).
    Each eligible product has a unique integer key below 2**30 (its remainder to 30 - b bits, at
    most 23, above its index's b bits); the R-th largest key is found
    digit by digit from the top, one pass counting the keys above 15 thresholds (a psum over
    products) per 4 bits. All of it runs inside a while_loop of at most one iteration, entered only
    when a stage of a batched sample overflows, so a step without overflow costs only that test."""
    products = jax.lax.psum(1, PRODUCT_AXIS)  # static: the axis size
    index_bits = max(1, (products - 1).bit_length())
    remainder_bits = min(23, 30 - index_bits)  # float32 remainders carry 24 bits; keys stay below 2**30
    key_bits = remainder_bits + index_bits

    def extra_units(carry):
        # everything below reads the carry's flag, so XLA cannot hoist it out of the loop (and run it every step)
        first = ~carry[1]
        eligible = (~fits) & (kept < arrivals) & first
        remainder = share - jnp.floor(share)
        levels = jnp.clip(jnp.floor(remainder * (1 << remainder_bits)), 0, (1 << remainder_bits) - 1)
        rank_index = products - 1 - jax.lax.axis_index(PRODUCT_AXIS)
        key = jnp.where(eligible, (levels.astype(jnp.int32) << index_bits) | rank_index, -1)  # [M]
        kept_total, eligible_total = jax.lax.psum((jnp.where(first, kept, 0).astype(jnp.int32),
                                                   eligible.astype(jnp.int32)), PRODUCT_AXIS)
        wanted = jnp.clip(jnp.where(fits, 0, jnp.floor(room).astype(jnp.int32) - kept_total), 0, eligible_total)
        threshold = jnp.zeros_like(wanted)  # invariant: count(key >= threshold) >= wanted
        for shift in range(-(-key_bits // _DIGIT_BITS) * _DIGIT_BITS - _DIGIT_BITS, -1, -_DIGIT_BITS):
            digits = jnp.arange(1, 1 << min(_DIGIT_BITS, key_bits - shift), dtype=jnp.int32)  # the top pass: fewer
            candidates = threshold[:, None] + (digits << shift)[None, :]  # [M, J] < 2**30: int32 never wraps
            counts = jax.lax.psum((key[:, None] >= candidates).astype(jnp.int32), PRODUCT_AXIS)
            threshold = threshold + (jnp.sum(counts >= wanted[:, None], axis=1) << shift)  # the largest digit kept
        return ((wanted > 0) & (key >= threshold)).astype(arrivals.dtype), jnp.ones((), bool)

    overflowing = jnp.any(~fits)
    extra, _ = jax.lax.while_loop(lambda carry: overflowing & ~carry[1], extra_units,
                                  (jnp.zeros_like(arrivals), jnp.zeros((), bool)))
    return extra


def check_action(action, num_stages: int):
    """`action` as an array [M]; a wrong shape is a ConfigError at trace time, and a concrete
    (not traced) action holding NaN or +-inf is one too. Inside jit such values cannot raise:
    NaN orders 0, +-inf is clipped to [0, 2**30], and `info.invalid_action` says so."""
    action = jnp.asarray(action)
    if action.shape != (num_stages,):
        raise ConfigError(f"'action' must have shape ({num_stages},) (one order per stage, M={num_stages}) "
                          f"for one product, got shape {action.shape}; vmap the step for products/samples")
    if not (jnp.issubdtype(action.dtype, jnp.integer) or jnp.issubdtype(action.dtype, jnp.floating)
            or action.dtype == jnp.bool_):
        raise ConfigError(f"'action' must be numeric (order quantities), got dtype {action.dtype}")
    if not isinstance(action, jax.core.Tracer) and jnp.issubdtype(action.dtype, jnp.floating):
        values = np.asarray(action)
        if not np.all(np.isfinite(values)):
            raise ConfigError(f"'action' must be finite order quantities, got {values.tolist()}")
    return action


def step_env(env, key, state: EnvState, action, params: EnvParams):
    """One period without automatic reset: (obs, state, reward, done, info).

    `action` [M]: order quantities, any real numbers (floored, negatives mean 0, as OR-Gym).
    `key` is unused (demand was drawn at reset); it is kept for the gymnax signature."""
    del key
    M = params.num_stages
    n = state.time
    qty = quantity_dtype(env)  # int32; float32 when env.relaxed
    sample = getattr(env, "supply_semantics", "exact") == "sample"  # static: the sample's simulator
    action = check_action(action, M)
    invalid = jnp.zeros((), bool)
    if jnp.issubdtype(action.dtype, jnp.floating):
        invalid = jnp.any(~jnp.isfinite(action))
        action = _round_down(jnp.clip(jnp.nan_to_num(action, nan=0.0), 0.0, float(_BIG)), qty)
    request = [jnp.maximum(action[m], 0).astype(qty) for m in range(M)]

    requested, accepted = [], []
    for m in range(M):
        requested.append(request[m] + jnp.where(params.backlog, state.owed[m + 1], 0))
        # "sample": the order ships in full whatever the supplier holds (its shortfall is charged below)
        supplier_stock = state.stock[m + 1] if m + 1 < M and not sample else _BIG
        accepted.append(jnp.minimum(jnp.minimum(requested[m], params.supply_capacity[m]), supplier_stock))

    # book each accepted order at its arrival lag, then what is due now (lag 0) arrives
    due = tuple(tuple(jnp.where(params.lead_time[m] == lag, row[m] + accepted[m], row[m]) for m in range(M))
                for lag, row in enumerate(state.due))
    arrivals = jnp.stack(due[0])
    due = due[1:] + ((jnp.zeros((), qty),) * M,)
    stock_before = jnp.stack(state.stock)
    if env.couple_products:
        arrivals, overflow = _refuse_over_shared_capacity(stock_before, arrivals, params,
                                                          getattr(env, "overflow_rule", "largest_remainder"))
    else:
        overflow = jnp.zeros_like(arrivals)
    stock = [state.stock[m] + arrivals[m] for m in range(M)]

    new_demand = state.demand.actual[n]
    demand = new_demand + jnp.where(params.backlog, state.owed[0], 0)
    sales = [jnp.minimum(stock[0], demand)] + accepted  # what each stage sells (M+1)
    if sample:  # a supplier sells what it holds after its own arrivals; the order shipped in full
        sales = sales[:1] + [jnp.minimum(stock[m + 1], accepted[m]) for m in range(M - 1)] + accepted[-1:]
    stock = tuple(stock[m] - sales[m] for m in range(M))

    shortfall_base = [jnp.where(params.charge_capacity_shortfall, requested[m],
                                jnp.minimum(requested[m], params.supply_capacity[m])) for m in range(M)]
    # what stage m+1 failed to sell of stage m's order (exact: sales[m+1] = accepted[m])
    unfilled = tuple([demand - sales[0]] + [shortfall_base[m] - sales[m + 1] for m in range(M)])
    owed = tuple(jnp.where(params.backlog, u, 0) for u in unfilled)
    if sample:  # units delivered anyway are charged to the supplier but never owed
        owed = owed[:1] + tuple(jnp.where(params.backlog, shortfall_base[m] - accepted[m], 0) for m in range(M))

    f32 = lambda x: jnp.asarray(x, jnp.float32)
    # stage m+1 sells stage m's accepted order at r_m (OR-Gym's transfer price), which stage m pays;
    # the plant also pays r_M on what it ships
    transfers = sum(params.unit_cost[m] * f32(accepted[m]) for m in range(M))
    revenue = params.retail_price * f32(sales[0]) + transfers
    purchase = transfers + params.unit_cost[M] * f32(accepted[-1])
    shortage = sum(params.unit_shortage_cost[m] * f32(unfilled[m]) for m in range(M + 1))
    holding = sum(params.unit_holding_cost[m] * f32(stock[m]) for m in range(M))
    overflow_charge = jnp.sum(params.unit_overflow_cost * f32(overflow))
    # exp(n log alpha) with log alpha rounded once from float64: float32 alpha**n drifts ~1e-6
    discount_factor = jnp.exp(f32(n) * params.log_discount)
    reward = discount_factor * (revenue - purchase - shortage - holding - overflow_charge)

    # the last H requests, oldest first (H = env.history_length may be 0: all lead times 0)
    requests = (state.requests[1:] + (tuple(request),)) if state.requests else ()
    new_state = EnvState(stock=stock, due=due, requests=requests,
                         owed=owed, time=n + 1, demand=state.demand)
    stacked = lambda xs: jnp.stack(list(xs))
    if env.couple_products:
        utilisation = f32(jax.lax.psum(stacked(stock), PRODUCT_AXIS)) / params.shared_capacity
    else:
        utilisation = jnp.zeros((M,), jnp.float32)
    info = StepInfo(demand=new_demand, sales=stacked(sales), requested=stacked(requested),
                    accepted=stacked(accepted), arrivals=arrivals, unfilled=stacked(unfilled),
                    backlogged=stacked(owed), lost=stacked(u - o for u, o in zip(unfilled, owed)),
                    on_hand=stacked(stock), in_transit=new_state.in_transit,
                    overflow=overflow, shared_utilisation=utilisation, revenue=revenue,
                    purchase_cost=purchase, shortage_cost=shortage, holding_cost=holding,
                    overflow_cost=overflow_charge, discount_factor=discount_factor,
                    invalid_action=invalid)
    done = new_state.time >= env.periods
    return observe(env, new_state, params), new_state, reward, done, info


def step(env, key, state: EnvState, action, params: EnvParams):
    """gymnax-style step with automatic reset: a finished episode restarts from a new path drawn
    from `key`. Fixed-length rollouts (evaluation, one-episode PPO batches) use `step_env`."""
    key_reset, key_step = jax.random.split(key)
    obs_step, state_step, reward, done, info = env.step_env(key_step, state, action, params)
    obs_reset, state_reset = env.reset(key_reset, params)
    state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), state_reset, state_step)
    obs = jax.lax.select(done, obs_reset, obs_step)
    return obs, state, reward, done, info
