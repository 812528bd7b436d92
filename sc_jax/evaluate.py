"""Evaluate any policy over products x demand paths in one jitted, vmapped call.

    result = evaluate(env, act, policy_params, params, key, num_samples=1000)
    summary = summarise(result)              # per product and aggregate, with 95% CIs
    diff = compare(result_a, result_b)       # paired differences (common random numbers)

Common random numbers: the demand path of (product p, sample s) is drawn from the key
`demand_keys(key, P, S)[p, s]` and nothing else, so evaluating two policies with the same `key`
(and the same number of products/samples) puts them on exactly the same demand paths, and
`compare` reports paired differences, whose intervals are much tighter than the difference of
two independent means. Policy randomness (e.g. `random_safety_stock`) uses separate keys
folded from the same per-episode key, so it never perturbs the demand.

Given paths (held-out sets, the oracle's paths): `evaluate(..., demand=paths)` with integer
`paths` [S, T] (shared by all products) or [P, S, T] replays those paths via
`env.reset_with_demand`; forecasts are then the family's stationary mean (`env.stationary_path`).

Every episode runs through `sc_jax.env.rollout` (the one rollout); `scenario_costs` evaluates a
policy of any env (e.g. the safety-stock wrapper) under a batch of scenarios on the same keys.

Shapes of `EvalResult` fields: [P, S] (products, samples) for scalars, [P, S, M] per stage and
[P, S, M+1] per stage including the retail demand. Money is discounted (alpha**n, as the reward)
so revenue - purchase - shortage - holding - overflow == reward.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from sc_jax.env.params import batch_shape, replicate
from sc_jax.env.keys import check_key
from sc_jax.env.rollout import rollout, sample_paths
from sc_jax.env.types import EnvParams
from sc_jax.errors import ConfigError
from sc_jax.sharding import shard_batch
from sc_jax.stats import mean_ci, paired_difference

#: EvalResult fields summarised by `summarise` (the rest are per-stage vectors, also summarised)
MONEY_FIELDS = ("reward", "revenue", "purchase_cost", "shortage_cost", "holding_cost", "overflow_cost")


@struct.dataclass
class EvalResult:
    """Per-episode metrics, leading axes [P products, S samples]."""

    reward: jnp.ndarray  # [P, S] discounted episode reward (cost = -reward)
    revenue: jnp.ndarray  # [P, S] discounted
    purchase_cost: jnp.ndarray  # [P, S] discounted
    shortage_cost: jnp.ndarray  # [P, S] discounted (backlogged: charged every period it waits)
    holding_cost: jnp.ndarray  # [P, S] discounted
    overflow_cost: jnp.ndarray  # [P, S] discounted (shared capacity only)
    fill_rate: jnp.ndarray  # [P, S] demand served in its own period / total demand
    demand: jnp.ndarray  # [P, S] total demand of the episode
    mean_on_hand: jnp.ndarray  # [P, S, M] mean on hand after shipping, per stage
    unfilled_units: jnp.ndarray  # [P, S, M+1] sum over periods of unfilled (v0: unit-periods waiting)
    lost_units: jnp.ndarray  # [P, S, M+1] units lost (v1)
    final_backlog: jnp.ndarray  # [P, S, M+1] backlog left at the end (v0)
    capacity_utilisation: jnp.ndarray  # [P, S, M] mean accepted order / supply capacity
    shared_utilisation: jnp.ndarray  # [P, S, M] mean shared-capacity use (0 when uncoupled)
    invalid_actions: jnp.ndarray  # [P, S] periods whose action held NaN or +-inf

    @property
    def cost(self):
        return -self.reward


def demand_keys(key, num_products: int, num_samples: int):
    """Per-episode keys [P, S] (raw uint32 keys [P, S, 2]): episode (p, s) uses key [p, s]."""
    return jax.random.split(key, num_products * num_samples).reshape(
        (num_products, num_samples) + jax.random.split(key, 1).shape[1:])


def demand_paths(env, params: EnvParams, key, num_samples: int) -> np.ndarray:
    """The integer demand paths [P, S, T] that `evaluate(env, ..., params, key, num_samples)`
    uses (for the oracle and for held-out sets)."""
    params = _with_product_axis(params)
    P = batch_shape(params)[0]
    return np.asarray(_demand_paths(env, shard_batch(demand_keys(key, P, num_samples), axis=1), params))


@partial(jax.jit, static_argnames=("env",))
def _demand_paths(env, keys, params):
    return jax.vmap(lambda k, p: sample_paths(env, p, k).actual)(keys, params)


def _with_product_axis(params: EnvParams) -> EnvParams:
    shape = batch_shape(params)
    if len(shape) == 0:
        return replicate(params, 1)
    if len(shape) != 1:
        raise ConfigError(f"params must have at most one leading product axis, got batch shape {shape}")
    return params


def _collect(tr):
    info, df = tr.info, tr.info.discount_factor
    waiting = tr.state.backlog_units[0]  # served first (FIFO), so new demand is served after it
    return dict(revenue=df * info.revenue, purchase_cost=df * info.purchase_cost,
                shortage_cost=df * info.shortage_cost, holding_cost=df * info.holding_cost,
                overflow_cost=df * info.overflow_cost,
                served_now=jnp.maximum(info.sales[0] - waiting, 0), demand=info.demand,
                on_hand=info.on_hand, unfilled=info.unfilled, lost=info.lost, accepted=info.accepted,
                shared=info.shared_utilisation, invalid=info.invalid_action)


@partial(jax.jit, static_argnames=("env", "act", "policy_batched", "given_paths"))
def _evaluate(env, act, policy_params, params, keys, paths, *, policy_batched: bool, given_paths: bool):
    """keys [P, S, 2]; paths [P, S, T] (ignored unless given_paths). Returns dict of [P, S, ...]."""
    f32 = lambda x: x.astype(jnp.float32)

    def one_sample(keys, paths):  # products [P] inside (they may share capacity)
        demand = jax.vmap(env.stationary_path)(paths, params) if given_paths else None
        reward, out, final = rollout(env, act, policy_params, params, keys, demand=demand,
                                     collect=_collect, policy_batched=policy_batched)
        total_demand = out["demand"].sum(0)
        metrics = {k: out[k].sum(0) for k in MONEY_FIELDS if k != "reward"}
        capacity = jnp.maximum(params.supply_capacity, 1)
        metrics.update(
            reward=reward,
            # served <= demand; the minimum only removes float32 division round-off (GPU: 1 + 1e-7)
            fill_rate=jnp.where(total_demand > 0,
                                jnp.minimum(out["served_now"].sum(0) / jnp.maximum(total_demand, 1), 1.0), 1.0),
            demand=f32(total_demand),
            mean_on_hand=f32(out["on_hand"]).mean(0),
            unfilled_units=f32(out["unfilled"].sum(0)), lost_units=f32(out["lost"].sum(0)),
            final_backlog=f32(final.backlog_units),
            capacity_utilisation=(f32(out["accepted"]) / capacity).mean(0),
            shared_utilisation=out["shared"].mean(0), invalid_actions=out["invalid"].sum(0))
        return metrics

    return jax.vmap(one_sample, in_axes=(1, 1), out_axes=1)(keys, paths)


def evaluate(env, act: Callable, policy_params: Any, params: EnvParams | None = None, key=None, *,
             num_samples: int | None = None, demand=None, policy_batched: bool = False) -> EvalResult:
    """Evaluate `act` on P products x S demand paths; returns EvalResult with [P, S, ...] fields.

    env: the InventoryEnv (static settings); params: one product (treated as P = 1) or a batch
      with one leading product axis (default: env.default_params).
    act: policy `act(policy_params, state, params, key) -> action [M]`.
    policy_params: shared by all products, or with a leading product axis [P, ...] on every leaf
      when `policy_batched`.
    key + num_samples: draw S = num_samples paths per product (common random numbers, see module).
    demand: integer paths [S, T] (every product) or [P, S, T] instead of drawing; `key` then only
      seeds policy randomness (default PRNGKey(0)).
    """
    params = _with_product_axis(env._params(params))
    P, T = batch_shape(params)[0], env.periods
    if demand is not None:
        paths = np.asarray(demand)
        if paths.ndim == 2:
            paths = np.broadcast_to(paths, (P,) + paths.shape)
        if paths.ndim != 3 or paths.shape[0] != P or paths.shape[2] != T:
            raise ConfigError(f"'demand' must have shape [S, {T}] or [{P}, S, {T}] (products, samples, "
                              f"periods), got {np.shape(demand)}")
        if not np.all(np.isfinite(paths)) or np.any(paths < 0) or np.any(paths != np.round(paths)):
            raise ConfigError("'demand' paths must be non-negative integers")
        S = paths.shape[1]
        if num_samples is not None and num_samples != S:
            raise ConfigError(f"'num_samples' ({num_samples}) disagrees with the {S} given demand paths")
        key = jax.random.PRNGKey(0) if key is None else key
        paths = jnp.asarray(paths, jnp.int32)
    else:
        if key is None or num_samples is None:
            raise ConfigError("evaluate needs `key` and `num_samples` (or given `demand` paths)")
        if not isinstance(num_samples, (int, np.integer)) or int(num_samples) < 1:
            raise ConfigError(f"'num_samples' must be an integer >= 1, got {num_samples!r}")
        S = int(num_samples)
        paths = jnp.zeros((P, S, T), jnp.int32)
    key = check_key(key)
    if policy_batched:
        leading = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(policy_params)}
        if leading != {P}:
            raise ConfigError(f"policy_batched=True needs a leading product axis of length {P} on every "
                              f"policy parameter, got leading sizes {sorted(map(str, leading))}")
    keys, paths = shard_batch((demand_keys(key, P, S), paths), axis=1)  # samples over local devices
    out = _evaluate(env, act, policy_params, params, keys, paths, policy_batched=policy_batched,
                    given_paths=demand is not None)
    return EvalResult(**out)


@partial(jax.jit, static_argnames=("env", "policy"))
def _scenario_costs(env, policy, policy_params, params, keys):
    return jax.vmap(lambda p: -rollout(env, policy, policy_params, p, keys)[0])(params)


def scenario_costs(env, policy: Callable, policy_params, params_by_scenario: EnvParams, keys) -> np.ndarray:
    """Episode costs (-reward) [L, S] of `policy` in L scenarios (params with a leading axis [L],
    e.g. sc_jax.env.wrappers.params_by_sigma) on the same episode keys [S] (common random
    numbers across scenarios and policies). Works for any env, wrappers included."""
    return np.asarray(_scenario_costs(env, policy, policy_params, params_by_scenario, shard_batch(keys)))


# ---------------------------------------------------------------------------- statistics (host)

def summarise(result: EvalResult) -> dict:
    """Per product ([P] / [P, M] lists) and aggregate statistics of an EvalResult.

    Aggregate = mean over products; its CI treats samples as the independent unit (products of
    one sample may share capacity), i.e. the t-interval of the per-sample product means."""
    out = {"num_products": int(result.reward.shape[0]), "num_samples": int(result.reward.shape[1])}
    per_product, aggregate = {}, {}
    for name in EvalResult.__dataclass_fields__:
        values = np.asarray(getattr(result, name), np.float64)  # [P, S, ...]
        mean, ci = mean_ci(values, axis=1)
        per_product[name] = {"mean": mean, "ci95": ci}
        agg_mean, agg_ci = mean_ci(values.mean(axis=0), axis=0)
        aggregate[name] = {"mean": agg_mean, "ci95": agg_ci}
    std = np.asarray(result.reward, np.float64).std(axis=1, ddof=1) if result.reward.shape[1] > 1 else None
    per_product["reward"]["std"] = std
    aggregate["cost"] = {"mean": -aggregate["reward"]["mean"], "ci95": aggregate["reward"]["ci95"]}
    out["per_product"], out["aggregate"] = per_product, aggregate
    return out


def compare(result_a: EvalResult, result_b: EvalResult) -> dict:
    """Paired differences a - b (reward, fill rate, each cost) with 95% CIs, per product and for
    the mean over products. Both results must come from the same demand paths (same key and
    sizes, or the same given paths): the shared demand cancels in the difference."""
    if not np.array_equal(np.asarray(result_a.demand), np.asarray(result_b.demand)):
        raise ConfigError("compare needs results on the same demand paths (same key, num_samples and "
                          "products, or the same given paths): their total demands differ")
    out = {}
    for name in MONEY_FIELDS + ("fill_rate",):
        a, b = np.asarray(getattr(result_a, name)), np.asarray(getattr(result_b, name))
        per_product = paired_difference(a, b, axis=1)
        aggregate = paired_difference(a.mean(axis=0), b.mean(axis=0))
        out[name] = {"per_product": {"mean": per_product["mean"], "ci95": per_product["ci95"]},
                     "aggregate": {"mean": aggregate["mean"], "ci95": aggregate["ci95"]},
                     "win_fraction": float(np.mean(a - b > 0))}
    return out


__all__ = ["EvalResult", "evaluate", "scenario_costs", "demand_keys", "demand_paths", "summarise",
           "compare"]
