"""Reproduce OR-Gym's InvManagement baseline table (v0 backlog, v1 lost sales) with sc_jax.

Rows per variant, all evaluated on the same held-out Poisson paths (keys never used for
tuning) and compared with the perfect-information bound on those paths:
  base_stock       our search: coarse echelon grid + integer neighbourhood search (training paths)
  base_stock_grid  the best point of the full coarse grid alone (the search must be >= it)
  dfo              OR-Gym's DFO: Powell on the mean training reward + integer neighbourhood
  dfo_powell       the Powell point alone (before the neighbourhood search)
  s_S              (s, S) per stage searched around the base-stock levels (levels = [s..., S...])
  sigma_rule       the forecast-sigma rule (sc_jax.policies.sigma_rule): each stage orders up to the
                   mean demand over its cover window + z_j sqrt(sum sigma^2) over it, sigma = the
                   demand family's (Poisson(20): sqrt(20) per day); z [M] tuned on the training paths
                   (grid per stage + moves, sc_jax.tuning.tune_sigma_rule_on_paths; `sigma_rule`)
  oracle           the perfect-information LP/MILP bound (sc_jax.oracle)
  ppo, ppo_orgym_obs  sc_jax.agents PPO (rich / OR-Gym observation): trained here when
                   ppo.enabled, or loaded from ppo.checkpoints.{v0,v1} (lists of checkpoint dirs)
  hdpo, hdpo_orgym_obs  sc_jax.agents.hdpo (pathwise gradients through the relaxed step, rich /
                   OR-Gym observation): trained here when hdpo.enabled (the default; docs/hdpo.md)
Writes results.json ({variant: {method: {mean, ci95, gap_to_bound, ...}}}), details.json,
results.md and results.png into the run directory and prints the Markdown table.

    python experiments/reproduce_orgym.py                       # defaults (a few minutes, 2 CPUs)
    python experiments/reproduce_orgym.py eval.paths=200 ppo.agent.total_timesteps=200000
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import hydra
import jax
import numpy as np

from sc_jax.agents.orders import train_orders_agent
from sc_jax.checks import check_bool, check_choice, check_integer, reject_unknown_keys, check_number_list
from sc_jax.config import env_from_cfg, register_configs, to_dict
from sc_jax.errors import ConfigError
from sc_jax.env.types import SUPPLIER_TIMING
from sc_jax.evaluate import demand_paths, evaluate, summarise
from sc_jax.runlog import (hydra_run_dir, logger_from_cfg, stop_cleanly_on_interrupt, write_json,
                           write_text_atomic)
from sc_jax.sweep import resume_or_none
from sc_jax.stats import mean_ci
from sc_jax.oracle import oracle_rewards
from sc_jax.policies import SSParams, base_stock, s_S, validate_levels, validate_s_S
from sc_jax.policies.sigma_rule import FORMS, sigma_rule_policy, validate_sigma_rule
from sc_jax.tuning import dfo_base_stock, tune_base_stock, tune_s_S, tune_sigma_rule_on_paths

#: OR-Gym's published table (mean episode reward, std); the oracle over 10 paths only.
PUBLISHED = {
    "v0": {"ppo": (438.8, 30.6), "dfo": (360.9, 39.9), "base_stock_mip": (388.0, 30.8), "oracle": (546.8, 30.3)},
    "v1": {"ppo": (409.8, 17.9), "dfo": (364.3, 33.8), "base_stock_mip": (378.5, 26.1), "oracle": (542.7, 29.9)},
}
#: which published row each of our methods sits beside
PUBLISHED_ROW = {"base_stock": "base_stock_mip", "base_stock_grid": "base_stock_mip", "dfo": "dfo",
                 "dfo_powell": "dfo",
                 "oracle": "oracle", "ppo": "ppo", "ppo_orgym_obs": "ppo"}
VARIANT_BACKLOG = {"v0": True, "v1": False}
register_configs()
VARIANT_ENV = {"v0": "orgym_v0", "v1": "orgym_v1"}  # the preset of each variant
KEYS = ("env", "demand", "logger", "seed", "variants", "eval", "search", "dfo", "s_S", "sigma_rule", "oracle", "ppo",
        "hdpo", "plot", "resume")
SIGMA_RULE_KEYS = ("enabled", "form", "z_values", "steps")




def sigma_rule_settings(cfg) -> dict:
    """The `sigma_rule` group checked (ConfigError naming the field and the allowed values)."""
    sr = dict(to_dict(cfg.get("sigma_rule")) or {})
    reject_unknown_keys(sr, SIGMA_RULE_KEYS, "sigma_rule")
    missing = [k for k in SIGMA_RULE_KEYS if k not in sr]
    if missing:
        raise ConfigError(f"'sigma_rule' must set {list(SIGMA_RULE_KEYS)}, missing {missing}")
    return {"enabled": check_bool("sigma_rule.enabled", sr["enabled"], "true or false"),
            "form": check_choice("sigma_rule.form", sr["form"], FORMS),
            "z_values": check_number_list("sigma_rule.z_values", sr["z_values"], "finite numbers (negative allowed)",
                                     lambda a: True),
            "steps": check_number_list("sigma_rule.steps", sr["steps"], "numbers > 0", lambda a: np.all(a > 0), empty=True)}


def _row(rewards, oracle, extra=None) -> dict:
    """Statistics of per-path rewards [S] and the paired gap to the bound on the first len(oracle)."""
    mean, ci = mean_ci(rewards)
    gap_mean, gap_ci = mean_ci(oracle - rewards[: len(oracle)])
    row = {"mean": float(mean), "ci95": float(ci), "std": float(np.std(rewards, ddof=1)),
           "gap_to_bound": float(gap_mean), "gap_ci95": float(gap_ci),
           "gap_pct": float(100 * gap_mean / np.mean(oracle)), "paths": int(len(rewards))}
    row.update(extra or {})
    return row


def _ppo_rows(cfg, variant: str, variant_env_fn, test_paths, oracle, log) -> dict:
    """PPO rows: evaluate checkpoints named in ppo.checkpoints[variant] (orders brains saved by
    experiments/train.py), else train when ppo.enabled and sc_jax.agents provides
    train_orders_agent (rows ppo: rich observation, ppo_orgym_obs: OR-Gym's observation)."""
    checkpoints = list((to_dict(cfg.ppo.get("checkpoints") or {}) or {}).get(variant, []) or [])
    rows = {}
    if checkpoints:
        try:
            from sc_jax.agents.brains import load_brain
        except ImportError as err:
            log.info(f"[reproduce_orgym] PPO checkpoints skipped: sc_jax.agents.brains unavailable ({err})")
            return {}
        for path in checkpoints:
            brain, act, policy_params, env, params, _ = load_brain(path)
            if brain != "orders":
                raise ConfigError(f"ppo.checkpoints.{variant}: {path} is a {brain!r} brain; need 'orders'")
            if bool(params.backlog) != VARIANT_BACKLOG[variant]:
                raise ConfigError(f"ppo.checkpoints.{variant}: {path} was trained with backlog="
                                  f"{bool(params.backlog)}, but {variant} has backlog={VARIANT_BACKLOG[variant]}")
            name = "ppo" if env.observation_kind == "rich" else "ppo_orgym_obs"
            result = evaluate(env, act, policy_params, params, demand=test_paths)
            rows[name] = _row(np.asarray(result.reward[0], np.float64), oracle,
                              {"checkpoint": str(path), "observation": env.observation_kind})
        return rows
    if not cfg.ppo.enabled:
        return {}
    for name, observation in (("ppo", "rich"), ("ppo_orgym_obs", "orgym")):
        env, params = variant_env_fn(observation=observation)
        start = time.perf_counter()
        # the critic sees the period only where the observation lacks it (docs/ppo.md)
        agent_cfg = {"critic_time": observation == "orgym", **to_dict(cfg.ppo.agent)}
        act, policy_params = train_orders_agent(env, params, agent_cfg, seed=int(cfg.ppo.seed))
        result = evaluate(env, act, policy_params, params, demand=test_paths)
        rows[name] = _row(np.asarray(result.reward[0], np.float64), oracle,
                          {"train_seconds": time.perf_counter() - start, "observation": observation})
        log.info(f"[{variant}] {name}: trained in {rows[name]['train_seconds']:.1f}s -> {rows[name]['mean']:.1f}")
    return rows


def _hdpo_rows(cfg, variant: str, variant_env_fn, test_paths, oracle, log) -> dict:
    """HDPO rows when hdpo.enabled (hdpo: rich observation, hdpo_orgym_obs: OR-Gym's), trained here
    with HDPOConfig's defaults + hdpo.agent overrides, evaluated with the exact env."""
    hdpo_cfg = cfg.get("hdpo")
    if not hdpo_cfg or not hdpo_cfg.enabled:
        return {}
    from sc_jax.agents.hdpo import HDPOConfig, make_policy, make_train

    config = HDPOConfig.from_dict(to_dict(hdpo_cfg.get("agent") or {}))
    rows = {}
    for name, observation in (("hdpo", "rich"), ("hdpo_orgym_obs", "orgym")):
        env, params = variant_env_fn(observation=observation)
        start = time.perf_counter()
        policy_params, _ = jax.block_until_ready(
            jax.jit(make_train(config, env, params))(jax.random.PRNGKey(int(hdpo_cfg.seed))))
        seconds = time.perf_counter() - start
        result = evaluate(env, make_policy(config, env), policy_params, params, demand=test_paths)
        rows[name] = _row(np.asarray(result.reward[0], np.float64), oracle,
                          {"train_seconds": seconds, "observation": observation})
        log.info(f"[{variant}] {name}: trained in {seconds:.1f}s -> {rows[name]['mean']:.1f}")
    return rows


def run_variant(cfg, variant: str, log) -> tuple[dict, dict]:
    if variant not in VARIANT_BACKLOG:
        raise ConfigError(f"variants must be among {sorted(VARIANT_BACKLOG)}, got {variant!r}")
    env_cfg = {**to_dict(cfg.env), "preset": VARIANT_ENV[variant]}
    make = lambda **kw: env_from_cfg(env_cfg, cfg.demand, **kw)
    env, params = make()
    seed = int(cfg.seed)
    if int(cfg.oracle.paths) > int(cfg.eval.paths):
        raise ConfigError(f"'oracle.paths' must be <= eval.paths ({cfg.eval.paths}), got {cfg.oracle.paths}")
    train = demand_paths(env, params, jax.random.PRNGKey(seed), int(cfg.search.train_paths))[0]
    test = demand_paths(env, params, jax.random.PRNGKey(seed + 1), int(cfg.eval.paths))[0]
    timings, details = {}, {}

    t0 = time.perf_counter()
    grid = np.arange(0, float(cfg.search.grid_max) + 1e-9, float(cfg.search.grid_step))
    search = tune_base_stock(env, params, train, local_values=[grid] * params.num_stages,
                             steps=tuple(cfg.search.local_steps), chunk=int(cfg.search.chunk))
    timings["base_stock_search_s"] = time.perf_counter() - t0
    details["base_stock"] = search
    log.info(f"[{variant}] base-stock search: grid {search['grid_size']} candidates -> "
             f"{search['grid_levels']} ({search['grid_train_reward']:.1f}), refined {search['levels']} "
             f"({search['train_reward']:.1f}) in {timings['base_stock_search_s']:.1f}s")
    levels = {"base_stock": search["levels"], "base_stock_grid": search["grid_levels"]}
    if cfg.dfo.enabled:
        t0 = time.perf_counter()
        x0 = None if cfg.dfo.x0 is None else [float(v) for v in cfg.dfo.x0]
        dfo = dfo_base_stock(env, params, train, x0=x0, maxfev=int(cfg.dfo.maxfev),
                             steps=tuple(cfg.dfo.local_steps))
        timings["dfo_s"] = time.perf_counter() - t0
        details["dfo"] = dfo
        levels["dfo"] = dfo["levels"]
        levels["dfo_powell"] = np.ceil(dfo["powell_levels"])  # Powell alone (the policy ceils levels)
        log.info(f"[{variant}] DFO: Powell {dfo['powell_levels'].round(1)} ({dfo['powell_train_reward']:.1f}, "
                 f"{dfo['powell_evaluations']} evals) -> {dfo['levels']} ({dfo['train_reward']:.1f})")

    policies = {name: (base_stock, validate_levels(lv, params)) for name, lv in levels.items()}
    extras = {name: {"levels": np.asarray(lv).tolist()} for name, lv in levels.items()}
    if cfg.s_S.enabled:
        t0 = time.perf_counter()
        ss = tune_s_S(env, params, train, search["levels"], gaps=tuple(cfg.s_S.gaps), steps=tuple(cfg.s_S.local_steps))
        timings["s_S_search_s"] = time.perf_counter() - t0
        details["s_S"] = ss
        extras["s_S"] = {"levels": np.concatenate([ss["reorder_point"], ss["order_up_to"]]).tolist()}
        policies["s_S"] = (s_S, SSParams(*validate_s_S(ss["reorder_point"], ss["order_up_to"], params)))
        log.info(f"[{variant}] (s, S): s {ss['reorder_point']} S {ss['order_up_to']} ({ss['train_reward']:.1f})")

    sr = sigma_rule_settings(cfg)
    if sr["enabled"]:  # on the training paths only (the held-out `test` paths are never seen here)
        t0 = time.perf_counter()
        timing = SUPPLIER_TIMING[env.supply_semantics]
        found = tune_sigma_rule_on_paths(env, params, train, form=sr["form"], timing=timing, z_values=sr["z_values"],
                                         steps=sr["steps"])
        timings["sigma_rule_search_s"] = time.perf_counter() - t0
        details["sigma_rule"] = found
        sigma = float(np.asarray(params.demand_std))  # the family's: Poisson sqrt(mean)
        policies["sigma_rule"] = (sigma_rule_policy(sr["form"], True, timing),
                                  validate_sigma_rule(found["z"], params.num_stages, [sigma]))
        extras["sigma_rule"] = {"z": found["z"], "form": sr["form"], "sigma_per_day": sigma,
                                "mean_per_day": float(np.asarray(params.demand_mean))}
        log.info(f"[{variant}] sigma rule (sigma {sigma:.3f}/day): grid z {found['grid_z']} "
                 f"({found['grid_train_reward']:.1f}) -> z {found['z']} ({found['train_reward']:.1f}) "
                 f"in {timings['sigma_rule_search_s']:.1f}s")

    t0 = time.perf_counter()
    n_oracle = int(cfg.oracle.paths)
    oracle = oracle_rewards(env, params, test[:n_oracle], integer=bool(cfg.oracle.integer))
    timings["oracle_s"] = time.perf_counter() - t0
    log.info(f"[{variant}] oracle on {n_oracle} paths: {oracle.mean():.1f} in {timings['oracle_s']:.1f}s")

    rows = {}
    t0 = time.perf_counter()
    for name, (act, policy_params) in policies.items():
        result = evaluate(env, act, policy_params, params, demand=test)
        s = summarise(result)["aggregate"]
        rows[name] = _row(np.asarray(result.reward[0], np.float64), oracle,
                          {**extras[name], "fill_rate": float(s["fill_rate"]["mean"]),
                           "mean_on_hand": np.asarray(s["mean_on_hand"]["mean"]).tolist()})
    timings["evaluate_s"] = time.perf_counter() - t0
    rows["oracle"] = _row(oracle, oracle, {"integer": bool(cfg.oracle.integer)})
    rows.update(_ppo_rows(cfg, variant, make, test, oracle, log))
    rows.update(_hdpo_rows(cfg, variant, make, test, oracle, log))
    for name, row in rows.items():
        ref = PUBLISHED[variant].get(PUBLISHED_ROW.get(name, ""), None)
        if ref is not None:
            row["orgym_published"] = {"mean": ref[0], "std": ref[1]}
    details["timings"] = timings
    return rows, details


def markdown_table(results: dict) -> str:
    lines = []
    for variant, rows in results.items():
        lines += [f"### {variant} ({'backlog' if VARIANT_BACKLOG[variant] else 'lost sales'})", "",
                  "| method | mean reward | 95% CI | std | gap to bound | gap % | OR-Gym published (std) |",
                  "|---|---:|---:|---:|---:|---:|---:|"]
        for name, row in rows.items():
            pub = row.get("orgym_published")
            pub_s = f"{pub['mean']:.1f} ({pub['std']:.1f})" if pub else "-"
            lines.append(f"| {name} | {row['mean']:.1f} | ±{row['ci95']:.1f} | {row['std']:.1f} | "
                         f"{row['gap_to_bound']:.1f} ± {row['gap_ci95']:.1f} | {row['gap_pct']:.1f} | {pub_s} |")
        lines.append("")
    return "\n".join(lines)


def run(cfg, run_dir=None) -> dict:
    run_dir = Path(run_dir) if run_dir is not None else hydra_run_dir()
    reject_unknown_keys(to_dict(cfg), KEYS, "reproduce_orgym")
    stored = resume_or_none(to_dict(cfg), run_dir, "results.json", "[reproduce_orgym]")  # finished: untouched
    if stored is not None:
        return stored
    check_integer("seed", cfg.seed, 0)
    for name in ("eval.paths", "search.train_paths", "oracle.paths"):
        group, key = name.split(".")
        check_integer(name, cfg[group][key], 0 if group == "oracle" else 1)
    sigma_rule_settings(cfg)  # before any work
    log = logger_from_cfg(run_dir, cfg.logger, to_dict(cfg))
    results, details = {}, {"machine": f"{platform.platform()} / {jax.devices()[0].platform}",
                            "published": PUBLISHED}
    start = time.perf_counter()
    try:
        for variant in cfg.variants:
            rows, info = run_variant(cfg, str(variant), log)
            results[str(variant)] = rows
            details[str(variant)] = info
            log.log({f"{variant}/{m}/mean": r["mean"] for m, r in rows.items()})
        details["total_seconds"] = time.perf_counter() - start
        write_json(run_dir / "details.json", details)
        table = markdown_table(results)
        write_text_atomic(run_dir / "results.md", table)
        if cfg.plot:
            from sc_jax.plots import bar_chart_ci

            published = {v: {m: PUBLISHED[v][PUBLISHED_ROW[m]][0] for m in rows if m in PUBLISHED_ROW
                             and PUBLISHED_ROW[m] in PUBLISHED[v]} for v, rows in results.items()}
            bar_chart_ci(results, run_dir / "results.png", published=published,
                         title="OR-Gym InvManagement: sc_jax vs published (bars: ours, 95% CI)")
        write_json(run_dir / "results.json", results)  # last: its presence marks the job finished (resume)
        print(table)
        log.info(f"[reproduce_orgym] done in {details['total_seconds']:.1f}s -> {run_dir}")
    finally:
        log.finish()
    return results


@hydra.main(config_path="../conf", config_name="reproduce_orgym", version_base=None)
def main(cfg) -> None:
    stop_cleanly_on_interrupt("[reproduce_orgym]")
    run(cfg)


if __name__ == "__main__":
    main()
