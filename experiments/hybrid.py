"""The hybrid method on a catalog of products sharing capacity: `python experiments/hybrid.py`.

Methods (conf/hybrid.yaml `methods`), all on the same demand samples (common random numbers):
  brain+alloc        the safety-stock brain every action_frequency days + the capacity stage (alloc)
  brain_only         the brain, no capacity stage: the environment refuses arrivals over capacity
  static+alloc       the best static safety stock per cost ratio across the sigma levels (grid search
                     on training paths) + the capacity stage
  fixed_safety_alloc the brain's controller with the best constant safety stock per cost ratio AND
                     sigma level (the same search, per level: it knows sigma, static+alloc does not) +
                     the capacity stage: the ablation that tells whether the brain adds anything (#15)
  sigma_rule_alloc   the forecast-sigma rule (sc_jax.policies.sigma_rule: order up to the forecast over
                     each stage's cover window + z sqrt(sum sigma^2) over it), its orders cut by the
                     capacity stage; z per cost ratio and sigma level, tuned by the CRN search on
                     training episodes (`tuning.sigma_rule`, never the evaluation seed); it orders daily
                     (as the controller's safety stock sigma_rule.safety_equivalent, decided every day)
  zero_safety+alloc  safety stock 0 + the capacity stage (order up to the forecast only)
  random+alloc       safety stock uniform in the brain's range + the capacity stage
  capacity_brain_alloc the capacity-aware brain (sc_jax.agents.capacity_brain): one network for all
                     products, z per stage for the sigma rule from its product's features and the
                     stages' shared utilisation, trained here by ES in the coupled episode of this
                     run's catalogs with the JAX capacity stage in the loop (`capacity_brain`, training
                     demand from its train_seed) + the capacity stage
Tuned parameters are recorded in results.json (`static`, `fixed_safety`, `sigma_rule`, `capacity_brain`).
The brain is loaded from `brain.checkpoint` (a safety brain of experiments/train.py) or trained
here with the `agent` group (default: the ratio-conditioned brain). `alloc=jax` runs every
episode as one jitted scan with the JAX capacity stage (sc_jax.hybrid_jax: the same model, the same
costs), all episodes of a sigma level and method in one call. Writes results.json (cost per
method and sigma level: totals, per cost ratio, holding / missed sales / refused, allocation time
and status counts, paired differences against the first method with 95% CIs over episodes),
hybrid_costs.png and, when trained here, checkpoint/ into the run dir.
"""
from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import hydra
import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.agents.brains import build_env, load_brain, require_order_up_to
from sc_jax.agents.checkpoint import save_checkpoint
from sc_jax.agents.ppo import PPOConfig, make_policy, make_train
from sc_jax.checks import check_choice, check_integer, reject_unknown_keys, check_number_list
from sc_jax.config import register_configs, to_dict
from sc_jax.env import make
from sc_jax.env.catalog import STATIONARY_PROFILES, make_catalog, stationary_profile
from sc_jax.env.demand import load_demand_csv
from sc_jax.env.types import OVERFLOW_RULES, SUPPLIER_TIMING
from sc_jax.env.wrappers import SafetyStockEnv, fixed_safety_stock
from sc_jax.errors import ConfigError
from sc_jax.evaluate import demand_paths
from sc_jax.hybrid import (StaticByRatio, make_day_functions, make_hybrid_functions, run_hybrid, run_hybrid_batch,
                           static_by_ratio)
from sc_jax.policies import SafetyRange, random_safety
from sc_jax.policies.order_up_to import supplier_includes_arrivals
from sc_jax.policies.sigma_rule import FORMS, sigma_rule_safety_policy
from sc_jax.runlog import hydra_run_dir, logger_from_cfg, write_json, stop_cleanly_on_interrupt
from sc_jax.sweep import resume_or_none
from sc_jax.stats import mean_ci, paired_difference
from sc_jax.tuning import tune_sigma_rule, tune_sigma_rule_on_paths, tune_static_safety

register_configs()
METHODS = ("brain+alloc", "brain_only", "static+alloc", "zero_safety+alloc", "random+alloc", "fixed_safety_alloc",
           "sigma_rule_alloc", "capacity_brain_alloc")
KEYS = ("agent", "alloc", "logger", "catalog", "sigma_levels", "episodes", "seed", "brain", "static",
        "tuning", "capacity_brain", "methods", "plot", "resume")
SIGMA_RULE_KEYS = ("z_values", "steps", "train_paths", "train_seed", "form")


class PerSigma(dict):
    """A method's policy params per sigma level (sigma -> params), unlike a brain's params pytree."""


class ZByRatio(NamedTuple):
    """The sigma rule's z per cost ratio: log10 ratios [R], z [R, M]; a product uses the row of the
    ratio nearest (in log) to its own (as sc_jax.hybrid.StaticByRatio)."""

    log10_ratios: jnp.ndarray
    z: jnp.ndarray


@lru_cache(maxsize=None)
def sigma_rule_by_ratio(form: str, timing: str):
    """Policy of the hybrid loop (act(ZByRatio, state, params, key) -> safety stock [M]): the
    controller's safety stock for which it orders what the sigma rule orders today with the z row
    of the product's cost ratio (sigma_rule.safety_equivalent); run it with action_frequency 1."""
    rule = sigma_rule_safety_policy(form, timing)

    def act(table: ZByRatio, state, params, key):
        row = jnp.argmin(jnp.abs(table.log10_ratios - jnp.log10(params.cost_ratio)))
        return rule(jnp.asarray(table.z, jnp.float32)[row], state, params, key)

    act.supplier_includes_arrivals = supplier_includes_arrivals(rule)  # the rule's supplier cap
    act.__name__ = act.__qualname__ = f"sigma_rule_by_ratio_{form}_{timing}"
    return act




def sigma_rule_settings(full: dict) -> dict:
    """tuning.sigma_rule checked (ConfigError naming the field and the allowed values)."""
    tuning = dict(full.get("tuning") or {})
    reject_unknown_keys(tuning, ("sigma_rule",), "tuning")
    sr = dict(tuning.get("sigma_rule") or {})
    reject_unknown_keys(sr, SIGMA_RULE_KEYS, "tuning.sigma_rule")
    missing = [k for k in SIGMA_RULE_KEYS if k not in sr]
    if missing:
        raise ConfigError(f"'tuning.sigma_rule' must set {list(SIGMA_RULE_KEYS)}, missing {missing}")
    return {"z_values": check_number_list("tuning.sigma_rule.z_values", sr["z_values"], "finite numbers (negative allowed)",
                                     lambda a: True),
            "steps": check_number_list("tuning.sigma_rule.steps", sr["steps"], "numbers > 0", lambda a: np.all(a > 0),
                                  empty=True),
            "train_paths": check_integer("tuning.sigma_rule.train_paths", sr["train_paths"], 1),
            "train_seed": check_integer("tuning.sigma_rule.train_seed", sr["train_seed"], 0),
            "form": check_choice("tuning.sigma_rule.form", sr["form"], FORMS)}


def _brain(full: dict, run_dir: Path, base_env, base, logger):
    """(act, policy_params, action_frequency, info) from a checkpoint or a training run here."""
    checkpoint = full["brain"].get("checkpoint")
    if checkpoint:
        kind, act, policy_params, env, _, _ = load_brain(Path(checkpoint))
        if kind != "safety":
            raise ConfigError(f"'brain.checkpoint' must hold a safety-stock brain, got a {kind!r} brain")
        require_order_up_to(env, f"'brain.checkpoint' {checkpoint}")
        return act, policy_params, env.action_frequency, {"checkpoint": str(checkpoint)}
    agent = full["agent"]
    if agent.get("brain") != "safety":
        raise ConfigError(f"agent must be a safety-stock brain (agent=ppo_safety_conditioned), got {agent.get('brain')!r}")
    ppo = PPOConfig.from_dict(agent["ppo"])
    env = require_order_up_to(build_env("safety", base_env, base, agent["safety"]), "agent.safety")
    logger.info(f"[hybrid] training the brain: {ppo.total_timesteps} decisions x {ppo.num_envs} envs")
    t0 = time.perf_counter()
    seed = check_integer("brain.seed", full["brain"]["seed"], 0)
    policy_params, _ = jax.block_until_ready(jax.jit(make_train(ppo, env, base))(jax.random.PRNGKey(seed)))
    seconds = time.perf_counter() - t0
    save_checkpoint(run_dir / "checkpoint", policy_params,
                    {"brain": "safety", "agent": ppo.to_dict(), "env": {"preset": "hybrid", "periods": base_env.periods},
                     "demand": _demand_record(full["catalog"]), "safety": agent["safety"], "seed": seed}, env=env)
    return (make_policy(ppo, env), policy_params, int(agent["safety"].get("action_frequency", 10)),
            {"trained_here": True, "train_incl_compile_s": seconds})


def _demand_record(cat: dict) -> dict:
    """The brain checkpoint's `demand` group for the catalog's profile (a representative product)."""
    kind = cat.get("demand", "forecast")
    if kind in STATIONARY_PROFILES:
        params = stationary_profile(kind, float(np.mean(cat.get("mu_range", (10.0, 30.0)))))
        return {"kind": kind, "params": {k: float(v) for k, v in params.items()}}
    if kind == "user":
        return {"kind": "user", "csv": cat.get("demand_csv")}
    return {"kind": "forecast"}


def _tune_sigma_rule(cfg: dict, timing: str, ratios, sigma_levels, periods, demand_kind, profile, log_ratios,
                     alloc_method, logger):
    """(recorded z, the sigma_rule_alloc policy entry): z [M] per cost ratio and sigma level, tuned
    on the representative product's training episodes (keys split(PRNGKey(train_seed),
    train_paths): never the evaluation seed) with the CRN search of sc_jax.tuning (forecast demand:
    tune_sigma_rule at every sigma level; stationary profiles, one level: tune_sigma_rule_on_paths
    on training paths drawn from the same keys), the env's own cost as objective. z is scale-free
    (sigma carries the product's demand scale), so the representative product's z serves all."""
    z = np.zeros((len(sigma_levels), len(ratios), 3))
    record = {"form": cfg["form"], "timing": timing, "train_paths": cfg["train_paths"],
              "train_seed": cfg["train_seed"], "z_values": cfg["z_values"], "steps": cfg["steps"], "z": {},
              "train_cost": {}}
    for i, r in enumerate(ratios):
        env_r, one = make("hybrid", cost_ratio=r, periods=periods, demand=demand_kind, **profile)
        t0 = time.perf_counter()
        if demand_kind == "forecast":
            found = tune_sigma_rule(env_r, one, sigma_levels, num_paths=cfg["train_paths"], seed=cfg["train_seed"],
                                    form=cfg["form"], timing=timing, objective="env_cost",
                                    z_values=tuple(cfg["z_values"]), steps=tuple(cfg["steps"]))
            z[:, i] = np.asarray(found["best_per_sigma"])
            costs = found["train_cost_per_sigma"]
        else:
            paths = demand_paths(env_r, one, jax.random.PRNGKey(cfg["train_seed"]), cfg["train_paths"])[0]
            found = tune_sigma_rule_on_paths(env_r, one, paths, form=cfg["form"], timing=timing,
                                             z_values=cfg["z_values"], steps=cfg["steps"])
            z[:, i] = np.asarray(found["z"])
            costs = [-found["train_reward"]]
        record["z"][f"ratio_{r:g}"] = {f"sigma_{g}": z[j, i].tolist() for j, g in enumerate(sigma_levels)}
        record["train_cost"][f"ratio_{r:g}"] = {f"sigma_{g}": float(c) for g, c in zip(sigma_levels, costs)}
        logger.info(f"[hybrid] sigma rule z for ratio {r:g}: {z[:, i].round(3).tolist()} per sigma "
                    f"({time.perf_counter() - t0:.1f}s)")
    tables = PerSigma({g: ZByRatio(log_ratios, jnp.asarray(z[j], jnp.float32)) for j, g in enumerate(sigma_levels)})
    return record, (sigma_rule_by_ratio(cfg["form"], timing), tables, alloc_method)


def capacity_brain_settings(full: dict):
    """(train_seed, CapacityBrainConfig) from `capacity_brain` (ConfigError naming the field)."""
    from sc_jax.agents.capacity_brain import CapacityBrainConfig

    cfg = full.get("capacity_brain")
    if not hasattr(cfg, "items"):
        raise ConfigError(f"'capacity_brain' must be a mapping of the brain's settings, got {cfg!r}")
    settings = dict(cfg)
    train_seed = check_integer("capacity_brain.train_seed", settings.pop("train_seed", None), 0)
    return train_seed, CapacityBrainConfig.from_dict(settings)


def _capacity_brain(settings, catalogs, alloc_options: dict, run_dir: Path, logger, z_base=None):
    """(act, policy_params, action_frequency, info) of method capacity_brain_alloc: the capacity-aware
    brain (sc_jax.agents.capacity_brain) trained here by ES in the coupled episode of this run's
    catalogs (every sigma level, the JAX capacity stage with the run's capacity basis), on
    training demand from `capacity_brain.train_seed` (never the evaluation seed); its params are
    saved under run_dir/capacity_brain."""
    from sc_jax.agents.capacity_brain import make_policy, make_train
    from sc_jax.alloc.jax_stage import jit_for_backend
    from sc_jax.hybrid import jax_alloc_settings
    from sc_jax.hybrid_jax import stack_params

    train_seed, config = settings
    stage = jax_alloc_settings({k: v for k, v in alloc_options.items() if k != "time_limit"})
    env = catalogs[0][0]
    logger.info(f"[hybrid] training the capacity brain: {config.iterations} ES iterations x {config.population} "
                f"candidates x {len(catalogs)} catalogs x {config.train_samples} samples")
    t0 = time.perf_counter()
    train = jit_for_backend(make_train(config, env, stack_params([p for _, p in catalogs]),
                                       capacity_basis=stage["capacity_basis"], max_segments=stage["max_segments"],
                                       min_cut_cost_fraction=stage["min_cut_cost_fraction"], z_base=z_base))
    policy_params, metrics = jax.block_until_ready(train(jax.random.PRNGKey(train_seed)))
    seconds = time.perf_counter() - t0
    curve = np.asarray(metrics["cost"], np.float64)
    base = None if z_base is None else {"log10_ratios": np.asarray(z_base.log10_ratios).tolist(),
                                        "sigmas": np.asarray(z_base.sigmas).tolist(), "z": np.asarray(z_base.z).tolist()}
    save_checkpoint(run_dir / "capacity_brain", policy_params["params"],
                    {"brain": "capacity", "agent": config.to_dict(), "train_seed": train_seed,
                     "capacity_basis": stage["capacity_basis"], "z_base": base})
    logger.info(f"[hybrid] capacity brain trained in {seconds:.1f}s: candidates' mean cost per product "
                f"{curve[0]:.2f} -> {curve[-1]:.2f}")
    return (make_policy(config, env.periods), policy_params, config.action_frequency,
            {"config": config.to_dict(), "train_seed": train_seed, "train_incl_compile_s": seconds,
             "train_cost_first": float(curve[0]), "train_cost_last": float(curve[-1]),
             "capacity_basis": stage["capacity_basis"]})


def _alloc_settings(alloc_cfg: dict):
    settings = dict(alloc_cfg)
    method = settings.pop("method", "daily")
    settings["time_limit"] = settings.pop("time_limit_s", 10.0)
    return method, settings


def run(cfg, run_dir=None) -> dict:
    run_dir = Path(run_dir) if run_dir is not None else hydra_run_dir()
    full = to_dict(cfg)
    reject_unknown_keys(full, KEYS, "hybrid")
    stored = resume_or_none(full, run_dir, "results.json", "[hybrid]")  # a finished job: untouched
    if stored is not None:
        return stored
    episodes = check_integer("episodes", full["episodes"], 1)
    demand_seed = check_integer("seed", full["seed"], 0)
    logger = logger_from_cfg(run_dir, full.get("logger"), full)
    methods = list(full["methods"])
    unknown = sorted(set(methods) - set(METHODS))
    if unknown or not methods:
        raise ConfigError(f"methods must be a non-empty list from {list(METHODS)}, got {methods}")
    cat = full["catalog"]
    N = check_integer("catalog.num_products", cat["num_products"], 1)
    periods = check_integer("catalog.periods", cat["periods"], 1)
    ratios = [float(r) for r in cat["ratios"]]
    capacity = np.asarray(cat["capacity_per_product"], np.float64)
    overflow_rule = check_choice("catalog.overflow_rule", cat.get("overflow_rule", "largest_remainder"), OVERFLOW_RULES)
    if capacity.shape != (3,) or not np.all(np.isfinite(capacity)) or np.any(capacity <= 0):
        raise ConfigError(f"catalog.capacity_per_product must be 3 positive numbers (one per stage), got {cat['capacity_per_product']}")
    sigma_levels = [check_integer("sigma_levels[]", s, 1) for s in full["sigma_levels"]]
    demand_kind = check_choice("catalog.demand", cat.get("demand", "forecast"),
                               ("forecast", *STATIONARY_PROFILES, "user"))
    demand_extra = {}
    if demand_kind == "user":
        if not cat.get("demand_csv"):
            raise ConfigError("catalog.demand 'user' needs catalog.demand_csv (a CSV of paths, one per row)")
        demand_extra["user_demand"] = load_demand_csv(cat["demand_csv"])
    if demand_kind != "forecast":  # sigma_max is the forecast generator's: one level for other profiles
        sigma_levels = sigma_levels[:1]
    mu_range = np.asarray(cat.get("mu_range", (10.0, 30.0)), np.float64)
    if mu_range.shape != (2,) or not np.all(np.isfinite(mu_range)) or not 0 < mu_range[0] <= mu_range[1]:
        raise ConfigError(f"catalog.mu_range must be two numbers 0 < low <= high (mean demand per product), "
                          f"got {cat.get('mu_range')}")
    mean_demand = float(np.mean(mu_range))
    sigma_cfg = sigma_rule_settings(full)
    capacity_cfg = capacity_brain_settings(full) if "capacity_brain_alloc" in methods else None
    safety_cfg = full["agent"]["safety"]
    low, high = int(safety_cfg.get("safety_low", 0)), int(safety_cfg.get("safety_high", 10))
    alloc_method, alloc_options = _alloc_settings(full["alloc"])
    profile = ({"demand_params": stationary_profile(demand_kind, mean_demand)}
               if demand_kind in STATIONARY_PROFILES else demand_extra)  # a representative product
    base_env, base = make("hybrid", periods=periods, demand=demand_kind, **profile)
    t_start = time.perf_counter()

    policies = {}  # method -> (policy, policy_params, allocation)
    info = {}
    if any(m.startswith("brain") for m in methods):
        act, policy_params, frequency, info["brain"] = _brain(full, run_dir, base_env, base, logger)
        policies["brain+alloc"] = (act, policy_params, alloc_method)
        policies["brain_only"] = (act, policy_params, "none")
    else:
        frequency = int(safety_cfg.get("action_frequency", 10))
    log_ratios = jnp.log10(jnp.asarray(ratios))
    if {"static+alloc", "fixed_safety_alloc"} & set(methods):
        stocks, per_sigma = [], []  # [R, M]; [R, levels, M]
        safety_env = SafetyStockEnv(base_env, action_frequency=frequency, safety_low=low, safety_high=high)
        for r in ratios:
            one = make("hybrid", cost_ratio=r, periods=periods, demand=demand_kind, **profile)[1]
            found = tune_static_safety(safety_env, one, r, sigma_levels,
                                       num_paths=check_integer("static.grid_paths", full["static"]["grid_paths"], 1))
            stocks.append(found["best"])
            per_sigma.append(found["best_per_sigma"])
            logger.info(f"[hybrid] static safety stock for ratio {r:g}: {found['best']}, per sigma "
                        f"{found['best_per_sigma']} ({found['search_s']:.1f}s)")
        if "static+alloc" in methods:
            info["static"] = {f"ratio_{r:g}": s for r, s in zip(ratios, stocks)}
            policies["static+alloc"] = (static_by_ratio, StaticByRatio(log_ratios, jnp.asarray(stocks)), alloc_method)
        if "fixed_safety_alloc" in methods:  # the same search: its per-sigma optimum (training paths, seed 0)
            info["fixed_safety"] = {f"ratio_{r:g}": {f"sigma_{g}": per_sigma[i][j] for j, g in enumerate(sigma_levels)}
                                    for i, r in enumerate(ratios)}
            policies["fixed_safety_alloc"] = (static_by_ratio, PerSigma({
                g: StaticByRatio(log_ratios, jnp.asarray([per_sigma[i][j] for i in range(len(ratios))]))
                for j, g in enumerate(sigma_levels)}), alloc_method)
    residual = capacity_cfg is not None and capacity_cfg[1].residual  # its base: the tuned rule's z
    if "sigma_rule_alloc" in methods or residual:
        timing = SUPPLIER_TIMING[getattr(base_env, "supply_semantics", "exact")]
        info["sigma_rule"], policies["sigma_rule_alloc"] = _tune_sigma_rule(
            sigma_cfg, timing, ratios, sigma_levels, periods, demand_kind, profile, log_ratios, alloc_method, logger)
    policies["zero_safety+alloc"] = (fixed_safety_stock, jnp.zeros(3, jnp.int32), alloc_method)
    policies["random+alloc"] = (random_safety, SafetyRange(np.full(3, low), np.full(3, high)), alloc_method)
    every_day = {"sigma_rule_alloc"}  # decided daily (the rule's safety changes every day)

    def catalog(sigma):
        return make_catalog(jax.random.PRNGKey(check_integer("catalog.seed", cat["seed"], 0)), N, ratios=ratios,
                            sigma_max=sigma, shared_capacity=N * capacity, periods=periods,
                            demand=demand_kind, mu_range=tuple(cat.get("mu_range", (10.0, 30.0))),
                            overflow_rule=overflow_rule, **demand_extra)

    if "capacity_brain_alloc" in methods:
        z_base = None
        if residual:  # the base: sigma_rule_alloc's tuned z per ratio and sigma level
            from sc_jax.agents.capacity_brain import z_table

            tables = policies["sigma_rule_alloc"][1]
            z_base = z_table(ratios, sigma_levels, np.stack([np.asarray(tables[g].z) for g in sigma_levels], axis=1))
        act, policy_params, every, info["capacity_brain"] = _capacity_brain(
            capacity_cfg, [catalog(g) for g in sigma_levels], alloc_options, run_dir, logger, z_base)
        policies["capacity_brain_alloc"] = (act, policy_params, alloc_method)
        if every == 1:
            every_day.add("capacity_brain_alloc")

    day_functions = make_day_functions(*catalog(sigma_levels[0]))
    functions = {}
    keys = jax.random.split(jax.random.PRNGKey(demand_seed), episodes)
    table = {m: {} for m in methods}
    product_ratio = None
    for sigma in sigma_levels:
        env, params = catalog(sigma)
        product_ratio = np.asarray(params.cost_ratio)
        for method in methods:
            policy, policy_params, allocation = policies[method]
            if isinstance(policy_params, PerSigma):  # tuned per sigma level
                policy_params = policy_params[sigma]
            every = 1 if method in every_day else frequency
            if alloc_method == "jax":  # the whole episode jitted: all episodes of this sigma level in one call
                episodes_run = run_hybrid_batch(env, params, policy, policy_params, keys,
                                                allocation="none" if allocation == "none" else "jax",
                                                action_frequency=every, alloc_options=alloc_options)
            else:
                if policy not in functions:
                    functions[policy] = make_hybrid_functions(env, params, policy, day_functions)
                episodes_run = [run_hybrid(env, params, policy, policy_params, k, allocation=allocation,
                                           action_frequency=every, alloc_options=alloc_options,
                                           functions=functions[policy])
                                for k in keys]
            totals = np.array([e.total_cost for e in episodes_run])
            statuses: dict = {}
            for e in episodes_run:
                for s, n in e.statuses.items():
                    statuses[s] = statuses.get(s, 0) + n
            table[method][sigma] = {
                "total_cost_mean": float(totals.mean()), "total_cost_ci95": float(mean_ci(totals)[1]),
                "total_cost_per_episode": totals.tolist(),
                "cost_per_ratio": {f"ratio_{r:g}": float(np.mean([e.cost[product_ratio == r].sum() for e in episodes_run]))
                                   for r in ratios},
                "holding": float(np.mean([e.holding_cost.sum() for e in episodes_run])),
                "missed_sales": float(np.mean([e.shortage_cost.sum() for e in episodes_run])),
                "refused_cost": float(np.mean([e.overflow_cost.sum() for e in episodes_run])),
                "refused_units": float(np.mean([e.refused_units.sum() for e in episodes_run])),
                "peak_utilisation": np.max([e.peak_utilisation for e in episodes_run], axis=0).tolist(),
                "alloc_s_per_day": float(np.mean([e.alloc_s for e in episodes_run]) / periods),
                "fallback_days": int(sum(e.fallback_days for e in episodes_run)), "statuses": statuses,
                "episode_wall_s": float(np.mean([e.wall_s for e in episodes_run])),
            }
            logger.log({f"hybrid/{method}/sigma_{sigma}/total_cost": float(totals.mean())})
            logger.info(f"[hybrid] sigma {sigma:2d} {method:18s} cost {totals.mean():10.2f} "
                        f"(refused {table[method][sigma]['refused_units']:.0f} units, "
                        f"alloc {table[method][sigma]['alloc_s_per_day'] * 1e3:.1f} ms/day)")
    reference = methods[0]
    paired = {m: {s: paired_difference(table[m][s]["total_cost_per_episode"],
                                       table[reference][s]["total_cost_per_episode"])
                  for s in sigma_levels} for m in methods[1:]}
    results = {"methods": methods, "demand": demand_kind, "sigma_levels": sigma_levels, "num_products": N, "periods": periods,
               "episodes": episodes, "capacity": (N * capacity).tolist(),
               "products_per_ratio": {f"ratio_{r:g}": int(np.sum(product_ratio == r)) for r in ratios},
               "alloc": {"method": alloc_method, **alloc_options}, "action_frequency": frequency,
               "daily_decisions": [m for m in methods if m in every_day],
               "table": table, f"paired_minus_{reference}": paired, **info,
               "wall_s": time.perf_counter() - t_start}
    if full.get("plot", True):
        from sc_jax.plots import cost_vs_sigma

        cost_vs_sigma({m: [table[m][s]["total_cost_mean"] for s in sigma_levels] for m in methods},
                      sigma_levels, run_dir / "hybrid_costs.png",
                      title=f"{N} products, shared capacity {np.round(N * capacity).astype(int).tolist()}")
    write_json(run_dir / "results.json", results)  # last: its presence marks the job finished (resume)
    logger.finish()
    return results


@hydra.main(config_path="../conf", config_name="hybrid", version_base=None)
def main(cfg):
    stop_cleanly_on_interrupt("[hybrid]")
    run(cfg)


if __name__ == "__main__":
    main()
