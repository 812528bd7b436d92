"""The capacity-aware safety brain: trained inside the coupled multi-product hybrid episode.

The sample trains its brain on one SKU alone and lets the capacity model cut its orders
afterwards, so the brain never learns what the cut costs. Here one network, its parameters shared
by every product, is trained in the whole catalog's episode (`sc_jax.hybrid_jax.make_episode`:
all products, the shared capacity binding, the JAX capacity stage every day, the coupled env
step), and it sees, besides its product's features, the stages' utilisation of the shared
capacity (`sc_jax.hybrid.stage_utilisation`).

Action: a safety factor z per stage for the forecast-sigma rule (sc_jax.policies.sigma_rule,
`safety_equivalent`: the order-up-to controller's safety stock for which it orders what the rule
orders), squashed into [z_low, z_high]. z is scale-free (sigma carries the product's demand
scale), so one network serves every product; the output layer starts at zero weights and
z = z_init everywhere, i.e. the untrained brain is the sigma rule with a constant z. With
`residual`, z = a tuned sigma rule's z for the product's cost ratio and sigma level (`ZTable`,
fixed) + the network's correction in (-delta_max, delta_max), which starts at 0: the untrained
brain is then the tuned rule itself, and training can only move away from it where that pays on
the training demand. With `cover_max` > 0 a second head adds, per stage, days of the cover
window's mean daily demand in (-cover_max, cover_max) to the rule's target (starting at 0): a stock
that scales with demand but not with sigma, which z cannot express where the forecast sigma is
near 0 (docs/hybrid_reproduction.md: the constant safety stock tuned in the catalog wins there).

Trainer: evolution strategies (antithetic Gaussian perturbations of the flattened parameters,
centred-rank fitness, Adam; Salimans et al. 2017). The capacity stage's threshold search and
integer cuts give no useful gradient, and the coupled episode is one cheap jitted call, so ES
optimises the exact objective: the catalog's mean cost per product and episode with the capacity
stage in the loop. Each iteration draws fresh training demand (keys from the training key,
never an evaluation key); the candidates of an iteration share it (common random numbers). The
whole run is one jitted function (`lax.scan` over iterations); candidates and scenarios run in
`lax.map` (sequential), which keeps the episode's per-stage `lax.cond` a real branch (under vmap
it would become a select computing the stage every day); `population_batch` > 1 vmaps that many
candidates at a time instead (a GPU's choice: more work, in parallel).

    train = make_train(config, env, stack_params([catalog_sigma_2, catalog_sigma_6]))
    policy_params, metrics = jax.jit(train)(jax.random.PRNGKey(0))
    act = make_policy(config, env.periods)   # policy of sc_jax.hybrid's loops (observes utilisation)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree

from sc_jax.agents.networks import ACTIVATIONS, MLP
from sc_jax.checks import check_bool, check_choice, check_integer, check_number, is_integer, reject_unknown_keys
from sc_jax.errors import ConfigError
from sc_jax.policies.order_up_to import forecast_window
from sc_jax.env.wrappers import SIGMA_INDEX
from sc_jax.policies.sigma_rule import FORMS, TIMINGS, safety_equivalent

NUM_STAGES = 3
FEATURE_WINDOW = 10  # days of forecast the features average over


@dataclass(frozen=True)
class CapacityBrainConfig:
    """Hyperparameters (conf/hybrid.yaml's `capacity_brain` group holds the same keys)."""

    hidden: Sequence[int] = (32, 32)
    activation: str = "tanh"
    population: int = 16  # candidates per iteration, even (antithetic pairs)
    noise_std: float = 0.05  # perturbation std in parameter space
    learning_rate: float = 0.03  # Adam on the ES gradient
    iterations: int = 60
    train_samples: int = 4  # demand samples per candidate and scenario in an iteration
    z_low: float = -2.0  # z range of the output (safety factor per stage)
    z_high: float = 4.0
    z_init: float = 1.0  # z of the untrained brain (every product, every stage)
    form: str = "installation"  # the sigma rule's position (sc_jax.policies.sigma_rule.FORMS)
    timing: str = "before_arrivals"  # its supplier timing (TIMINGS): the env's exact semantics
    action_frequency: int = 1  # days between decisions (1: daily, as the sigma rule)
    observe_utilisation: bool = True  # false: the utilisation features are zeros (the ablation)
    residual: bool = False  # true: z = a tuned sigma-rule table's z (ZTable) + the network's correction
    delta_max: float = 2.0  # residual: the correction's range (-delta_max, delta_max) per stage
    cover_max: float = 0.0  # > 0: a second action per stage, days of mean demand in (-cover_max, cover_max) on
    #   top of the rule's target (sc_jax.policies.sigma_rule.targets' cover_days); 0: z only
    population_batch: int = 1  # candidates evaluated together (vmap; 1: one after the other, best on CPU)
    progress_every_s: float = 0.0  # > 0: throttled progress lines from inside jit

    def __post_init__(self):
        """Every field checked; messages "'capacity_brain.<field>' must be <allowed>, got <value>"."""
        name = lambda field: f"capacity_brain.{field}"
        if isinstance(self.hidden, (str, bytes)) or not isinstance(self.hidden, Sequence) or not self.hidden \
                or not all(is_integer(h) and h >= 1 for h in self.hidden):
            raise ConfigError(f"'{name('hidden')}' must be a non-empty list of integers >= 1, got {self.hidden!r}")
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        check_choice(name("activation"), self.activation, tuple(sorted(ACTIVATIONS)))
        check_integer(name("population"), self.population, 2)
        if self.population % 2:
            raise ConfigError(f"'{name('population')}' must be an even integer >= 2 (antithetic pairs), "
                              f"got {self.population!r}")
        for field in ("iterations", "train_samples", "action_frequency", "population_batch"):
            check_integer(name(field), getattr(self, field), 1)
        finite = lambda x: math.isfinite(x)
        check_number(name("noise_std"), self.noise_std, "a finite number > 0", lambda x: finite(x) and x > 0)
        check_number(name("learning_rate"), self.learning_rate, "a finite number > 0", lambda x: finite(x) and x > 0)
        check_number(name("progress_every_s"), self.progress_every_s, "a finite number >= 0",
                     lambda x: finite(x) and x >= 0)
        for field in ("z_low", "z_high", "z_init"):
            check_number(name(field), getattr(self, field), "a finite number", finite)
        if not self.z_low < self.z_init < self.z_high:
            raise ConfigError(f"'{name('z_init')}' must lie strictly between z_low and z_high, got z_low "
                              f"{self.z_low!r}, z_init {self.z_init!r}, z_high {self.z_high!r}")
        check_choice(name("form"), self.form, FORMS)
        check_choice(name("timing"), self.timing, TIMINGS)
        check_bool(name("observe_utilisation"), self.observe_utilisation, "true or false")
        check_bool(name("residual"), self.residual, "true or false")
        check_number(name("delta_max"), self.delta_max, "a finite number > 0", lambda x: finite(x) and x > 0)
        check_number(name("cover_max"), self.cover_max, "a finite number >= 0", lambda x: finite(x) and x >= 0)

    @classmethod
    def from_dict(cls, d) -> "CapacityBrainConfig":
        reject_unknown_keys(d, {f.name for f in dataclasses.fields(cls)}, "capacity_brain")
        return cls(**dict(d))

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "hidden": list(self.hidden)}


class ZTable(NamedTuple):
    """A tuned sigma rule's z per cost ratio and sigma level (the residual brain's base): log10
    ratios [R], sigma levels [L], z [R, L, M]; a product reads the row of the nearest ratio (in
    log) and the column of the nearest level to its forecast sigma_max."""

    log10_ratios: jnp.ndarray
    sigmas: jnp.ndarray
    z: jnp.ndarray

    def lookup(self, params) -> jnp.ndarray:
        row = jnp.argmin(jnp.abs(self.log10_ratios - jnp.log10(params.cost_ratio)))
        col = jnp.argmin(jnp.abs(self.sigmas - params.forecast[SIGMA_INDEX]))
        return jnp.asarray(self.z, jnp.float32)[row, col]


def z_table(ratios, sigmas, z) -> ZTable:
    """ZTable from cost ratios [R], sigma levels [L] and z [R, L, M] (checked)."""
    z = np.asarray(z, np.float64)
    if z.shape != (len(ratios), len(sigmas), NUM_STAGES) or not np.all(np.isfinite(z)):
        raise ConfigError(f"'z_base' must be finite z of shape ({len(ratios)}, {len(sigmas)}, {NUM_STAGES}) "
                          f"(ratios x sigma levels x stages), got shape {z.shape}")
    return ZTable(jnp.log10(jnp.asarray(ratios, jnp.float32)), jnp.asarray(sigmas, jnp.float32),
                  jnp.asarray(z, jnp.float32))


class ZNetwork(nn.Module):
    """features -> (z [M] in (z_low, z_high), or with `residual` a correction in (-delta_max,
    delta_max); cover days [M] in (-cover_max, cover_max), 0 when cover_max is 0); zero output
    weights: z = z_init (correction 0) and cover 0 at initialisation."""

    hidden: Sequence[int]
    activation: str
    z_low: float
    z_high: float
    z_init: float
    residual: bool = False
    delta_max: float = 2.0
    cover_max: float = 0.0

    @nn.compact
    def __call__(self, x):
        hidden = MLP(self.hidden, self.activation)(x)
        if self.residual:
            z = self.delta_max * jnp.tanh(nn.Dense(NUM_STAGES, kernel_init=nn.initializers.zeros)(hidden))
        else:
            fraction = (self.z_init - self.z_low) / (self.z_high - self.z_low)
            bias = float(np.log(fraction / (1.0 - fraction)))
            logits = nn.Dense(NUM_STAGES, kernel_init=nn.initializers.zeros,
                              bias_init=nn.initializers.constant(bias))(hidden)
            z = self.z_low + (self.z_high - self.z_low) * jax.nn.sigmoid(logits)
        if self.cover_max == 0:  # no second head: the z-only brain's parameters (its checkpoints load)
            return z, jnp.zeros_like(z)
        return z, self.cover_max * jnp.tanh(nn.Dense(NUM_STAGES, kernel_init=nn.initializers.zeros)(hidden))


def network(config: CapacityBrainConfig) -> ZNetwork:
    return ZNetwork(config.hidden, config.activation, config.z_low, config.z_high, config.z_init, config.residual,
                    config.delta_max, config.cover_max)


def features(state, params, utilisation, periods: int) -> jnp.ndarray:
    """[3 + 2M + 1] float32 of one product: log10 cost ratio - 2; the forecast's coefficient of
    variation and log scale over the next FEATURE_WINDOW days; each stage's own position (on hand
    + in transit - owed) over the forecast until its order lands, minus 1; the stages' shared
    utilisation; the day of the episode / periods."""
    mean = forecast_window(state.demand.forecast_mean, state.time, FEATURE_WINDOW).mean()
    std = forecast_window(state.demand.forecast_std, state.time, FEATURE_WINDOW).mean()
    position = state.on_hand + state.in_transit - state.backlog_units[:-1]
    cover = mean * (params.lead_time.astype(jnp.float32) + 1.0) + 1.0
    return jnp.concatenate([
        jnp.stack([jnp.log10(params.cost_ratio) - 2.0, std / jnp.maximum(mean, 1.0), jnp.log1p(mean) / 3.0]),
        jnp.clip(position / cover - 1.0, -3.0, 3.0), jnp.clip(utilisation, 0.0, 3.0),
        jnp.asarray(state.time, jnp.float32)[None] / periods,
    ]).astype(jnp.float32)


@lru_cache(maxsize=None)
def make_action(config: CapacityBrainConfig, periods: int):
    """action(policy_params, state, params, utilisation [M]) -> (z [M], cover_days [M]) float32 of
    one product: the sigma rule's safety factors and the days of mean demand on top of its targets
    (zeros unless config.cover_max > 0), for a loop that runs the rule itself (`sigma_rule_policy`'s
    act(z, ..., cover_days=...)); cached per (config, periods). A residual brain's policy_params
    may carry a "gate" ZTable (0 or 1 per ratio and sigma level): its correction then counts only
    where the gate is 1 (elsewhere z is the base table's)."""
    net = network(config)

    def action(policy_params, state, params, utilisation):
        if not config.observe_utilisation:  # the ablation: same network, blind to the shared capacity
            utilisation = jnp.zeros_like(utilisation)
        z, cover = net.apply({"params": policy_params["params"]}, features(state, params, utilisation, periods))
        if not config.residual:
            return z, cover
        if "gate" in policy_params:  # a 0/1 ZTable: the correction kept only where it was validated
            gate = policy_params["gate"].lookup(params)
            z, cover = z * gate, cover * gate
        return policy_params["z_base"].lookup(params) + z, cover

    return action


@lru_cache(maxsize=None)
def make_policy(config: CapacityBrainConfig, periods: int):
    """act(policy_params, state, params, key, utilisation [M]) -> safety stock [M] int32 of one
    product, for sc_jax.hybrid's loops (`observes_utilisation`); cached per (config, periods), so
    jit caches hit across calls."""
    action_of = make_action(config, periods)

    def act(policy_params, state, params, key, utilisation):
        del key
        z, cover = action_of(policy_params, state, params, utilisation)
        return safety_equivalent(z, state, params, config.form, config.timing, cover)  # cover 0: adds exactly 0

    act.observes_utilisation = True
    # the sigma rule's supplier cap: with "after_arrivals" it counts today's arrivals (train = deploy)
    act.supplier_includes_arrivals = config.timing == "after_arrivals"
    act.__name__ = act.__qualname__ = "capacity_brain"
    return act


def _check_z_base(config: CapacityBrainConfig, z_base) -> None:
    if config.residual != (z_base is not None):
        raise ConfigError("a residual capacity brain needs 'z_base' (a ZTable of the tuned sigma rule), and "
                          f"only a residual one takes it: residual={config.residual}, z_base "
                          f"{'given' if z_base is not None else 'missing'}")


def init_params(config: CapacityBrainConfig, key, z_base: ZTable | None = None) -> dict:
    """{"params": the network's} (+ "z_base": the table, which training leaves as it is, for a
    residual brain: it needs one)."""
    _check_z_base(config, z_base)
    variables = network(config).init(key, jnp.zeros((3 + 2 * NUM_STAGES + 1,), jnp.float32))
    return {"params": variables["params"], **({"z_base": z_base} if config.residual else {})}


def centred_ranks(values) -> jnp.ndarray:
    """Ranks of `values` scaled to [-0.5, 0.5] (lowest -0.5): scale-free fitness for ES."""
    n = values.shape[0]
    return jnp.argsort(jnp.argsort(values)).astype(jnp.float32) / max(n - 1, 1) - 0.5


def episode_objective(stats, objective: str):
    """[..., N] of EpisodeStats: "env_cost" (the env's cost) or "notebook_cost" (the sample's metric)."""
    return stats.cost if objective == "env_cost" else stats.notebook_cost


def make_train(config: CapacityBrainConfig, env, params_by_scenario, *, capacity_basis: str = "expected",
               max_segments: int = 16, min_cut_cost_fraction: float = 1e-3, allocation: str = "jax",
               cost_weights=None, z_base: ZTable | None = None, objective: str = "env_cost"):
    """train(key) -> (policy_params, metrics {"cost": [iterations] mean cost of the candidates}) in
    the coupled episode of the catalogs `params_by_scenario` (EnvParams stacked on a leading
    scenario axis [C, N, ...], `sc_jax.hybrid_jax.stack_params`: sigma levels, say; products share
    the capacity of their scenario). `allocation` "none": no capacity stage (products that do not
    share capacity, e.g. one SKU per product slot at different cost ratios and sigma levels: the
    scenarios of a single-SKU experiment in one episode). `cost_weights` [N] (optional): each
    product's cost is weighted before the mean (e.g. 1 / a reference cost, so that cheap scenarios
    count as much as dear ones). `z_base`: the residual brain's table (config.residual), kept
    fixed; ES moves the network only. `objective`: "env_cost" (the env's cost, all days) or
    "notebook_cost" (the hybrid sample's notebook metric, `EpisodeStats.notebook_cost`). Pure: jit it."""
    from sc_jax.hybrid_jax import make_episode

    if env.num_stages != NUM_STAGES:
        raise ConfigError(f"the capacity brain needs a {NUM_STAGES}-stage chain, got {env.num_stages} stages")
    check_choice("objective", objective, ("env_cost", "notebook_cost"))
    policy = make_policy(config, env.periods)
    episodes = make_episode(env, policy, allocation=allocation, action_frequency=config.action_frequency,
                            max_segments=max_segments, capacity_basis=capacity_basis)
    weights = 1.0
    if cost_weights is not None:
        N = params_by_scenario.initial_inventory.shape[1]
        array = np.asarray(cost_weights, np.float64)
        if array.shape != (N,) or not np.all(np.isfinite(array)) or np.any(array <= 0):
            raise ConfigError(f"'cost_weights' must be {N} finite numbers > 0 (one per product), got shape "
                              f"{array.shape}")
        weights = jnp.asarray(array, jnp.float32)
    tx = optax.adam(config.learning_rate)
    pairs, sigma = config.population // 2, config.noise_std
    report = None
    if config.progress_every_s > 0:
        from sc_jax.runlog import progress_callback

        report = progress_callback(config.progress_every_s, prefix="[train capacity brain]")

    def cost(policy_params, keys):
        """Mean cost per product and episode over the scenarios (one after the other)."""
        per_scenario = jax.lax.map(
            lambda p: (episode_objective(episodes(policy_params, p, keys, min_cut_cost_fraction), objective)
                       * weights).mean(),
            params_by_scenario)
        return per_scenario.mean()

    _check_z_base(config, z_base)
    fixed = {"z_base": z_base} if config.residual else {}

    def train(key):
        k_init, k_run = jax.random.split(key)
        flat, unravel_params = ravel_pytree(init_params(config, k_init, z_base)["params"])
        unravel = lambda v: {"params": unravel_params(v), **fixed}

        def iteration(carry, i):
            flat, opt_state = carry
            k_noise, k_paths = jax.random.split(jax.random.fold_in(k_run, i))
            noise = jax.random.normal(k_noise, (pairs, flat.shape[0]))
            candidates = jnp.concatenate([flat + sigma * noise, flat - sigma * noise])
            keys = jax.random.split(k_paths, config.train_samples)
            costs = jax.lax.map(lambda c: cost(unravel(c), keys), candidates,
                                batch_size=config.population_batch if config.population_batch > 1 else None)
            ranks = centred_ranks(costs)
            gradient = (ranks[:pairs] - ranks[pairs:]) @ noise / (pairs * sigma)  # of the ranked cost
            updates, opt_state = tx.update(gradient, opt_state, flat)
            flat = optax.apply_updates(flat, updates)
            if report is not None:
                jax.debug.callback(report, i + 1, config.iterations, cost=costs.mean())
            return (flat, opt_state), costs.mean()

        (flat, _), costs = jax.lax.scan(iteration, (flat, tx.init(flat)),
                                        jnp.arange(config.iterations, dtype=jnp.int32))
        return unravel(flat), {"cost": costs}

    return train


__all__ = ["CapacityBrainConfig", "FEATURE_WINDOW", "ZNetwork", "ZTable", "episode_objective", "z_table", "centred_ranks", "features", "init_params",
           "make_action", "make_policy", "make_train", "network"]
