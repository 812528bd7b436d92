"""The one step function: OR-Gym InvManagement-v0/v1 dynamics, pure and jittable (gymnax style).

One period n of one product (shapes without batch axes; `vmap` adds products and samples):
 1. requested = max(floor(action), 0) (+ the supplier's unfilled backlog of my orders, v0)
 2. accepted  = min(requested, supply_capacity, supplier on hand before arrivals); plant: infinite
 3. arrivals  = accepted order placed lead_time periods ago (this period's when lead_time = 0)
    [shared capacity, when `couple_products`: arrivals beyond the stage's total capacity over all
     products are refused, proportionally and rounded down, and charged `overflow_cost` each]
 4. demand    = new demand (+ retail backlog, v0)
 5. sales     = min(on hand, demand) at the retailer; stage m+1 ships accepted[m]
 6. on hand  -= shipped; unfilled = [demand, requested] - sales: backlogged (v0) or lost (v1)
 7. reward    = alpha**n * sum(p S - r RR - k U - h I) (OR-Gym's formula, see EnvParams)

Deliberate deviations from OR-Gym (its defects, documented in README "OR-Gym parity"):
 - demand is drawn per episode at reset from an explicit key (OR-Gym seeds NumPy globally);
 - geometric demand and uniform demand with low > 0 are accepted (OR-Gym's check rejects them);
 - values are never cast to the type of their default (OR-Gym's env_config quirk).
OR-Gym charges an order above the supplier's capacity as unfilled at the supplier (v1: lost);
that is kept for parity and switchable with `charge_capacity_shortfall`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from sc_jax.env.demand import sample_demand
from sc_jax.env.observation import observe
from sc_jax.env.types import PRODUCT_AXIS, DemandPath, EnvParams, EnvState, StepInfo

_BIG = jnp.int32(2**30)  # "infinite" stock of the plant; also caps absurd float actions


def initial_state(params: EnvParams, demand: DemandPath) -> EnvState:
    """The state at period 0 for a given demand path."""
    M, H = params.num_stages, params.history_length
    return EnvState(
        on_hand=jnp.asarray(params.initial_inventory, jnp.int32),
        order_history=jnp.zeros((H + 1, M), jnp.int32),
        request_history=jnp.zeros((H, M), jnp.int32),
        backlog=jnp.zeros((M + 1,), jnp.int32),
        time=jnp.zeros((), jnp.int32),
        demand=demand,
    )


def reset_with_demand(params: EnvParams, demand: DemandPath):
    """(obs, state) at period 0 for a given path (user demand, replays, the oracle)."""
    state = initial_state(params, demand)
    return observe(state, params), state


def reset(key, params: EnvParams):
    """(obs, state) at period 0; the episode's demand path is drawn from `key`."""
    return reset_with_demand(params, sample_demand(key, params))


def in_transit(order_history, lead_time):
    """Units ordered but not yet arrived, per stage: accepted orders placed < lead_time ago."""
    lags = jnp.arange(order_history.shape[0])[:, None]
    return jnp.sum(jnp.where(lags < lead_time[None, :], order_history, 0), axis=0)


def inventory_position(state: EnvState, params: EnvParams):
    """Echelon inventory position per stage (OR-Gym's base-stock state):
    cumsum(on hand + in transit - backlog owed by the stage)."""
    local = state.on_hand + in_transit(state.order_history, params.lead_time) - state.backlog[:-1]
    return jnp.cumsum(local)


def _refuse_over_shared_capacity(on_hand, arrivals, params: EnvParams):
    """Shared capacity per stage over all products (vmapped axis PRODUCT_AXIS).

    Rule: stock already on hand stays; if the arrivals of all products would take a stage's total
    above `shared_capacity`, every product keeps floor(arrivals * room / total arrivals) of its
    arrivals and the rest is refused (lost to the chain, charged `overflow_cost` per unit).
    The 1e-6 margin keeps the float32 fraction from ever rounding above the room."""
    total_on_hand = jax.lax.psum(on_hand, PRODUCT_AXIS)
    total_arrivals = jax.lax.psum(arrivals, PRODUCT_AXIS)
    room = jnp.maximum(params.shared_capacity - total_on_hand.astype(jnp.float32), 0.0)
    fits = total_arrivals.astype(jnp.float32) <= room
    fraction = room / jnp.maximum(total_arrivals, 1).astype(jnp.float32) * (1.0 - 1e-6)
    kept = jnp.where(fits, arrivals, jnp.floor(arrivals * fraction).astype(jnp.int32))
    return kept, arrivals - kept


def step_env(key, state: EnvState, action, params: EnvParams):
    """One period without automatic reset: (obs, state, reward, done, info).

    `action` [M]: order quantities, any real numbers (floored, negatives mean 0, as OR-Gym).
    `key` is unused (demand was drawn at reset); it is kept for the gymnax signature."""
    del key
    M = params.num_stages
    n = state.time
    action = jnp.asarray(action)
    if jnp.issubdtype(action.dtype, jnp.floating):
        action = jnp.floor(jnp.clip(action, 0.0, 2.0**30))
    request = jnp.maximum(action, 0).astype(jnp.int32)

    owed = jnp.where(params.backlog, state.backlog[1:], 0)
    requested = request + owed
    supplier_stock = jnp.concatenate([state.on_hand[1:], _BIG[None]])
    accepted = jnp.minimum(jnp.minimum(requested, params.supply_capacity), supplier_stock)

    order_history = jnp.concatenate([accepted[None], state.order_history[:-1]], axis=0)
    lags = jnp.arange(order_history.shape[0])[:, None]
    # a masked sum, not a gather: gathers vectorise poorly under vmap on CPU
    arrivals = jnp.sum(jnp.where(lags == params.lead_time[None, :], order_history, 0), axis=0)
    if params.couple_products:
        arrivals, overflow = _refuse_over_shared_capacity(state.on_hand, arrivals, params)
    else:
        overflow = jnp.zeros_like(arrivals)
    on_hand = state.on_hand + arrivals

    new_demand = state.demand.actual[n]
    demand = new_demand + jnp.where(params.backlog, state.backlog[0], 0)
    retail_sales = jnp.minimum(on_hand[0], demand)
    sales = jnp.concatenate([retail_sales[None], accepted])  # [M+1]: what each stage sells
    on_hand = on_hand - sales[:-1]

    shortfall_base = jnp.where(params.charge_capacity_shortfall, requested,
                               jnp.minimum(requested, params.supply_capacity))
    unfilled = jnp.concatenate([demand[None], shortfall_base]) - sales
    backlogged = jnp.where(params.backlog, unfilled, 0)
    lost = jnp.where(params.backlog, 0, unfilled)

    sale_price = jnp.concatenate([params.retail_price[None], params.unit_cost[:-1]])
    paid = jnp.concatenate([accepted, accepted[-1:]])  # the plant pays r_M on what it ships
    f32 = lambda x: x.astype(jnp.float32)
    revenue = jnp.sum(sale_price * f32(sales))
    purchase = jnp.sum(params.unit_cost * f32(paid))
    shortage = jnp.sum(params.shortage_cost * f32(unfilled))
    holding = jnp.sum(params.holding_cost * f32(on_hand))
    overflow_charge = jnp.sum(params.overflow_cost * f32(overflow))
    # exp(n log alpha) with log alpha rounded once from float64: float32 alpha**n drifts ~1e-6
    discount_factor = jnp.exp(f32(n) * params.log_discount)
    reward = discount_factor * (revenue - purchase - shortage - holding - overflow_charge)

    request_history = jnp.concatenate([state.request_history[1:], request[None]], axis=0)
    new_state = EnvState(on_hand=on_hand, order_history=order_history,
                         request_history=request_history, backlog=backlogged,
                         time=n + 1, demand=state.demand)
    if params.couple_products:
        utilisation = f32(jax.lax.psum(on_hand, PRODUCT_AXIS)) / params.shared_capacity
    else:
        utilisation = jnp.zeros((M,), jnp.float32)
    info = StepInfo(demand=new_demand, sales=sales, requested=requested, accepted=accepted,
                    arrivals=arrivals, unfilled=unfilled, backlogged=backlogged, lost=lost,
                    on_hand=on_hand, in_transit=in_transit(order_history, params.lead_time),
                    overflow=overflow, shared_utilisation=utilisation, revenue=revenue,
                    purchase_cost=purchase, shortage_cost=shortage, holding_cost=holding,
                    overflow_cost=overflow_charge, discount_factor=discount_factor)
    done = new_state.time >= params.periods
    return observe(new_state, params), new_state, reward, done, info


def step(key, state: EnvState, action, params: EnvParams):
    """gymnax-style step with automatic reset: a finished episode restarts from a new path drawn
    from `key`. Fixed-length rollouts (evaluation, one-episode PPO batches) use `step_env`."""
    key_reset, key_step = jax.random.split(key)
    obs_step, state_step, reward, done, info = step_env(key_step, state, action, params)
    obs_reset, state_reset = reset(key_reset, params)
    state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), state_reset, state_step)
    obs = jax.lax.select(done, obs_reset, obs_step)
    return obs, state, reward, done, info
