"""The hybrid episode on an accelerator: experiments/bench_hybrid.py's measurement without Hydra.

    PYTHONPATH=. python scripts/gpu_hybrid_check.py [--out DIR] [--samples 64] [--sizes 2000 10000 50000]
        [--parts reference_position jax_position jax_expected]

1. the reference, as on the CPU: 200 and 2,000 products x 16 samples, the host loop (daily
   MILP, one sample) and the jitted JAX episode in the same run (position basis);
2. the jitted episode alone (`host_samples=0`) at `--sizes` products x `--samples` samples,
   both capacity bases (position binds every day; expected is experiments/hybrid.py's choice).

`JAX_PLATFORMS=cpu taskset -c 0,1 python scripts/gpu_hybrid_check.py --parts reference_position`
is part 1 on two pinned CPU cores of that machine (XLA and HiGHS see 2 cores): the 2-core CPU
reference on a machine no other job shares.

Each part writes DIR/<part>/bench_hybrid.json (bench_hybrid.run); the last line is JSON with the
product-days/s of every part and the device. Settings not named here are conf/bench_hybrid.yaml's,
read with PyYAML (Hydra may be absent where this runs).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # experiments/ as a package, without installing

from experiments.bench_hybrid import machine_name, run  # noqa: E402


PARTS = ("reference_position", "jax_position", "jax_expected")


def bench_defaults() -> dict:
    """conf/bench_hybrid.yaml's settings (its Hydra keys dropped)."""
    settings = yaml.safe_load((ROOT / "conf" / "bench_hybrid.yaml").read_text())
    return {k: v for k, v in settings.items() if k not in ("defaults", "hydra")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="outputs/gpu_hybrid_check")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 10000, 50000])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS),
                        help="which parts to run (reference_position alone, under JAX_PLATFORMS=cpu and "
                             "taskset -c 0,1: the 2-core CPU reference on that machine)")
    args = parser.parse_args()
    defaults = bench_defaults()
    parts = {
        "reference_position": dict(defaults),
        "jax_position": dict(defaults, sizes=args.sizes, samples=args.samples, host_samples=0),
        "jax_expected": dict(defaults, sizes=args.sizes, samples=args.samples, host_samples=0,
                             capacity_basis="expected"),
    }
    out = {"machine": machine_name()}
    for name, settings in ((name, parts[name]) for name in args.parts):
        print(f"== {name}: {settings['sizes']} products x {settings['samples']} samples, "
              f"{settings['capacity_basis']} basis", flush=True)
        summary = run(settings, run_dir=Path(args.out) / name)
        out[name] = {"samples": settings["samples"], "product_days_per_s": summary["product_days_per_s"],
                     "speedup": summary["speedup"],
                     "compile_s": {n: r["jax_compile_s"] for n, r in summary["details"].items()},
                     "binding_days_jax": {n: r["binding_days_jax"] for n, r in summary["details"].items()}}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
