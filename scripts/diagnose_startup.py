"""Where the σ-rule and MIP-mixed differ in time: the single SKU's cost per window of days.

    python scripts/diagnose_startup.py RUN_DIR --semantics exact --points 10:1 10:2 [--episodes 100]

For each point (ratio:sigma) the tuned σ-rule (its z read from a reproduce_hybrid run's
results.json, `params.<semantics>.z`) and MIP-mixed (the run's defaults) on the same evaluation
episodes as reproduce_hybrid (`split(PRNGKey(seed), episodes)`), the env cost and the sample's
notebook cost summed over days 0-20 (the start-up: stock 5..9 per stage, an empty pipeline) and
20-end (the notebook metric's days), averaged over the episodes. docs/hybrid_reproduction.md
("The start-up to the planner") used it to show that where the two metrics want different
policies the σ-rule loses in the start-up and wins afterwards, which `mip_then_brain` exploits.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from sc_jax.env import make
from sc_jax.env.params import replicate
from sc_jax.env.types import SUPPLIER_TIMING
from sc_jax.hybrid_reproduction import make_daily_runner, method_params, single_keys
from sc_jax.mip_mixed import run_mip_mixed
from sc_jax.sample_metrics import NOTEBOOK_FIRST_DAY, notebook_daily_cost


def windows(env_day, notebook_day, split: int = NOTEBOOK_FIRST_DAY) -> dict:
    """{metric: [before split, from split on]} of per-day costs [T, S] summed over the days of
    each window, mean over episodes."""
    out = {}
    for name, day in (("env_cost", env_day), ("notebook_cost", notebook_day)):
        day = np.asarray(day, np.float64)
        out[name] = [float(day[:split].sum(0).mean()), float(day[split:].sum(0).mean())]
    return out


def diagnose(semantics: str, ratio: float, sigma: int, z, episodes: int = 100, seed: int = 0,
             periods: int = 200) -> dict:
    """{"sigma_rule": windows, "mip_mixed": windows} at one point (see the module docstring)."""
    env, params = make("hybrid_sample", cost_ratio=ratio, sigma_max=sigma, semantics=semantics, periods=periods)
    keys = jax.random.split(jax.random.PRNGKey(seed), episodes)
    reset_keys, act_keys = single_keys(keys)
    run = make_daily_runner(env, None, timing=SUPPLIER_TIMING[semantics])
    out = jax.device_get(run(method_params("sigma_rule", 3, z=jnp.asarray(z, jnp.float32)), replicate(params, 1),
                             reset_keys, act_keys))
    rule = windows(out.day_cost[:, :, 0], out.notebook_day[:, :, 0])
    mip = run_mip_mixed(env, params, keys[None])
    d = mip.daily
    return {"sigma_rule": rule, "mip_mixed": windows(mip.day_cost[:, 0], notebook_daily_cost(d["lost"][:, 0],
                                                                                             d["on_hand"][:, 0], ratio))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a reproduce_hybrid run dir (results.json with the sigma_rule row)")
    parser.add_argument("--semantics", default="exact", choices=sorted(SUPPLIER_TIMING))
    parser.add_argument("--points", nargs="+", required=True, help="ratio:sigma, e.g. 10:1")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--periods", type=int, default=200)
    args = parser.parse_args(argv)
    points = []
    for point in args.points:
        try:
            ratio, sigma = point.split(":")
            points.append((float(ratio), int(sigma)))
        except ValueError:
            raise SystemExit(f"--points: each point must be ratio:sigma, e.g. 10:1, got {point!r}") from None
    path = args.run / "results.json"
    if not path.is_file():
        raise SystemExit(f"no results.json in {args.run} (a finished reproduce_hybrid run dir is needed)")
    results = json.loads(path.read_text())
    print(f"| point | env days 0-{NOTEBOOK_FIRST_DAY}: σ-rule / MIP | env days {NOTEBOOK_FIRST_DAY}-end | "
          f"notebook days {NOTEBOOK_FIRST_DAY}-end |")
    print("|---|---|---|---|")
    for ratio, sigma in points:
        try:
            z = results["single_sku"][f"{ratio:g}"][str(sigma)]["sigma_rule"]["params"][args.semantics]["z"]
        except KeyError as missing:
            raise SystemExit(f"{args.run}/results.json has no sigma_rule z for {args.semantics} ratio {ratio} "
                             f"sigma {sigma} ({missing})") from None
        got = diagnose(args.semantics, ratio, sigma, z, args.episodes, periods=args.periods)
        r, m = got["sigma_rule"], got["mip_mixed"]
        print(f"| {args.semantics} ratio {ratio:g} σ {sigma} (z {z}) | {r['env_cost'][0]:.2f} / "
              f"{m['env_cost'][0]:.2f} | {r['env_cost'][1]:.2f} / {m['env_cost'][1]:.2f} | "
              f"{r['notebook_cost'][1]:.2f} / {m['notebook_cost'][1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
