"""Evaluate any policy over products x demand paths in one jitted, vmapped call.

    result = evaluate(act, policy_params, env_params, key, num_samples=1000)
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
`reset_with_demand`; forecasts are then the family's stationary mean (`stationary_path`).

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
from scipy import stats

from sc_jax.env.demand import sample_demand, stationary_path
from sc_jax.env.dynamics import reset_with_demand, step_env
from sc_jax.env.params import batch_shape, replicate
from sc_jax.env.types import PRODUCT_AXIS, EnvParams
from sc_jax.errors import ConfigError

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

    @property
    def cost(self):
        return -self.reward


def demand_keys(key, num_products: int, num_samples: int):
    """Per-episode keys [P, S] (raw uint32 keys [P, S, 2]): episode (p, s) uses key [p, s]."""
    return jax.random.split(key, num_products * num_samples).reshape(
        (num_products, num_samples) + jax.random.split(key, 1).shape[1:])


def _split_episode_key(key):
    """(demand key, policy key) of one episode: the policy key never touches the demand."""
    return key, jax.random.fold_in(key, 0x5EED)


def demand_paths(key, env_params: EnvParams, num_samples: int) -> np.ndarray:
    """The integer demand paths [P, S, T] that `evaluate(..., key, num_samples)` uses
    (for the oracle and for held-out sets)."""
    env_params = _with_product_axis(env_params)
    P = batch_shape(env_params)[0]
    return np.asarray(_demand_paths(demand_keys(key, P, num_samples), env_params))


@jax.jit
def _demand_paths(keys, env_params):
    sample = lambda k, p: sample_demand(_split_episode_key(k)[0], p).actual
    return jax.vmap(jax.vmap(sample, in_axes=(0, None)), in_axes=(0, 0))(keys, env_params)


def _with_product_axis(env_params: EnvParams) -> EnvParams:
    shape = batch_shape(env_params)
    if len(shape) == 0:
        return replicate(env_params, 1)
    if len(shape) != 1:
        raise ConfigError(f"env_params must have at most one leading product axis, got batch shape {shape}")
    return env_params


def episode_metrics(act: Callable, policy_params, env_params: EnvParams, demand, policy_key) -> dict:
    """Roll one episode of one product for a given DemandPath; metrics without leading axes."""
    _, state = reset_with_demand(env_params, demand)
    keys = jax.random.split(policy_key, env_params.periods)

    def one_period(state, key):
        action = act(policy_params, state, env_params, key)
        waiting = state.backlog[0]  # served first (FIFO), so new demand is served after it
        _, state, reward, _, info = step_env(None, state, action, env_params)
        df = info.discount_factor
        out = dict(reward=reward, revenue=df * info.revenue, purchase_cost=df * info.purchase_cost,
                   shortage_cost=df * info.shortage_cost, holding_cost=df * info.holding_cost,
                   overflow_cost=df * info.overflow_cost,
                   served_now=jnp.maximum(info.sales[0] - waiting, 0), demand=info.demand,
                   on_hand=info.on_hand, unfilled=info.unfilled, lost=info.lost,
                   utilisation=info.accepted / jnp.maximum(env_params.supply_capacity, 1),
                   shared=info.shared_utilisation)
        return state, out

    state, out = jax.lax.scan(one_period, state, keys)
    total_demand = jnp.sum(out["demand"])
    metrics = {k: jnp.sum(out[k]) for k in MONEY_FIELDS}
    metrics.update(
        fill_rate=jnp.where(total_demand > 0, jnp.sum(out["served_now"]) / jnp.maximum(total_demand, 1), 1.0),
        demand=total_demand.astype(jnp.float32),
        mean_on_hand=jnp.mean(out["on_hand"].astype(jnp.float32), axis=0),
        unfilled_units=jnp.sum(out["unfilled"], axis=0).astype(jnp.float32),
        lost_units=jnp.sum(out["lost"], axis=0).astype(jnp.float32),
        final_backlog=state.backlog.astype(jnp.float32),
        capacity_utilisation=jnp.mean(out["utilisation"].astype(jnp.float32), axis=0),
        shared_utilisation=jnp.mean(out["shared"], axis=0))
    return metrics


@partial(jax.jit, static_argnames=("act", "policy_batched", "given_paths"))
def _evaluate(act, policy_params, env_params, keys, paths, *, policy_batched: bool, given_paths: bool):
    """keys [P, S, 2]; paths [P, S, T] (ignored unless given_paths). Returns dict of [P, S, ...]."""

    def one(pp, ep, key, path):
        demand_key, policy_key = _split_episode_key(key)
        demand = stationary_path(path, ep) if given_paths else sample_demand(demand_key, ep)
        return episode_metrics(act, pp, ep, demand, policy_key)

    # products inside (axis_name: the shared-capacity rule sums over products), samples outside
    over_products = jax.vmap(one, in_axes=(0 if policy_batched else None, 0, 0, 0),
                             axis_name=PRODUCT_AXIS)
    over_samples = jax.vmap(over_products, in_axes=(None, None, 1, 1), out_axes=1)
    return over_samples(policy_params, env_params, keys, paths)


def evaluate(act: Callable, policy_params: Any, env_params: EnvParams, key=None, *,
             num_samples: int | None = None, demand=None, policy_batched: bool = False) -> EvalResult:
    """Evaluate `act` on P products x S demand paths; returns EvalResult with [P, S, ...] fields.

    act: policy `act(policy_params, state, env_params, key) -> action [M]`.
    policy_params: shared by all products, or with a leading product axis [P, ...] on every leaf
      when `policy_batched`.
    env_params: one product (treated as P = 1) or a batch with one leading product axis.
    key + num_samples: draw S = num_samples paths per product (common random numbers, see module).
    demand: integer paths [S, T] (every product) or [P, S, T] instead of drawing; `key` then only
      seeds policy randomness (default PRNGKey(0)).
    """
    env_params = _with_product_axis(env_params)
    P, T = batch_shape(env_params)[0], env_params.periods
    if demand is not None:
        paths = np.asarray(demand)
        if paths.ndim == 2:
            paths = np.broadcast_to(paths, (P,) + paths.shape)
        if paths.ndim != 3 or paths.shape[0] != P or paths.shape[2] != T:
            raise ConfigError(f"demand must have shape [S, {T}] or [{P}, S, {T}] (products, samples, "
                              f"periods), got {np.shape(demand)}")
        if not np.all(np.isfinite(paths)) or np.any(paths < 0) or np.any(paths != np.round(paths)):
            raise ConfigError("demand paths must be non-negative integers")
        S = paths.shape[1]
        if num_samples is not None and num_samples != S:
            raise ConfigError(f"num_samples={num_samples} disagrees with the {S} given demand paths")
        key = jax.random.PRNGKey(0) if key is None else key
        paths = jnp.asarray(paths, jnp.int32)
    else:
        if key is None or num_samples is None:
            raise ConfigError("evaluate needs `key` and `num_samples` (or given `demand` paths)")
        if int(num_samples) < 1:
            raise ConfigError(f"num_samples must be >= 1, got {num_samples}")
        S = int(num_samples)
        paths = jnp.zeros((P, S, T), jnp.int32)
    if policy_batched:
        leading = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(policy_params)}
        if leading != {P}:
            raise ConfigError(f"policy_batched=True needs a leading product axis of length {P} on every "
                              f"policy parameter, got leading sizes {sorted(map(str, leading))}")
    keys = demand_keys(key, P, S)
    out = _evaluate(act, policy_params, env_params, keys, paths, policy_batched=policy_batched,
                    given_paths=demand is not None)
    return EvalResult(**out)


# ---------------------------------------------------------------------------- statistics (host)

def mean_ci(values, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """(mean, half-width of the 95% t-interval) along `axis`."""
    values = np.asarray(values, np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.full_like(mean, np.nan)
    sem = values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, stats.t.ppf(0.975, n - 1) * sem


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


def paired_difference(a, b) -> dict:
    """Paired difference a - b of per-episode values [P, S] on the same paths."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ConfigError(f"paired comparison needs the same [products, samples] shape, got {a.shape} "
                          f"and {b.shape} (evaluate both with the same key and num_samples)")
    diff = a - b
    mean, ci = mean_ci(diff, axis=1)
    agg_mean, agg_ci = mean_ci(diff.mean(axis=0), axis=0)
    return {"per_product": {"mean": mean, "ci95": ci}, "aggregate": {"mean": float(agg_mean), "ci95": float(agg_ci)},
            "win_fraction": float(np.mean(diff > 0))}


def compare(result_a: EvalResult, result_b: EvalResult) -> dict:
    """Paired differences a - b (reward, fill rate, each cost) with 95% CIs. Both results must
    come from the same demand paths (same key and sizes, or the same given paths): the shared
    demand cancels in the difference (common random numbers)."""
    if not np.array_equal(np.asarray(result_a.demand), np.asarray(result_b.demand)):
        raise ConfigError("compare needs results on the same demand paths (same key, num_samples and "
                          "products, or the same given paths): their total demands differ")
    return {name: paired_difference(getattr(result_a, name), getattr(result_b, name))
            for name in MONEY_FIELDS + ("fill_rate",)}


__all__ = ["EvalResult", "evaluate", "episode_metrics", "demand_keys", "demand_paths", "summarise",
           "compare", "paired_difference", "mean_ci"]
