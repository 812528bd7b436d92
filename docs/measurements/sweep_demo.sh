#!/usr/bin/env bash
# The #12 sweep demo (docs/sweeps.md "Measured"): 4 demand profiles x 3 cost ratios = 12 jobs of
# experiments/train.py on a tiny budget, with the basic and the joblib launcher; one interrupted and
# resumed; the same grid as 4 jobs with the ratios in-process (grid.cost_ratio); one aggregate.
# The in-process grid runs with the cache warm from the earlier runs (its program differs: no hit).
# Run from the repository root: bash docs/measurements/sweep_demo.sh [out dir]
set -u
OUT=${1:-/tmp/sweep_demo}
rm -rf "$OUT"; mkdir -p "$OUT"
PY=${PYTHON:-python}
# progress lines off: JAX never stores programs with host callbacks in its persistent cache
TINY="agent.ppo.total_timesteps=30000 eval.num_paths=200 plot=false logger.progress_every_s=0"
GRID="demand=poisson,binomial,uniform,geometric env.cost_ratio=10,100,1000"
stamp() { date +%s.%N; }
took() { $PY -c "print(f'{$2 - $1:.1f}')"; }

t0=$(stamp); $PY experiments/train.py -m $GRID $TINY hydra.sweep.dir=$OUT/basic > $OUT/basic.log 2>&1; t1=$(stamp)
echo "basic launcher, 12 jobs: $(took $t0 $t1) s"
t0=$(stamp); $PY experiments/train.py -m $GRID $TINY hydra/launcher=joblib hydra.launcher.n_jobs=2 \
  hydra.sweep.dir=$OUT/joblib > $OUT/joblib.log 2>&1; t1=$(stamp)
echo "joblib launcher (n_jobs=2), 12 jobs: $(took $t0 $t1) s"

# JAX's persistent compilation cache: jobs differing only in traced values (the ratio) share a program
export JAX_COMPILATION_CACHE_DIR=$OUT/jax_cache
t0=$(stamp); $PY experiments/train.py -m $GRID $TINY hydra.sweep.dir=$OUT/cached > $OUT/cached.log 2>&1; t1=$(stamp)
echo "basic launcher + JAX_COMPILATION_CACHE_DIR (empty at start), 12 jobs: $(took $t0 $t1) s"

# interrupted: SIGINT once 5 jobs have finished, then the same command again (cache warm)
t0=$(stamp)
$PY experiments/train.py -m $GRID $TINY hydra.sweep.dir=$OUT/resume > $OUT/resume1.log 2>&1 &
pid=$!
while [ "$(find $OUT/resume -name results.json 2>/dev/null | wc -l)" -lt 5 ]; do sleep 1; done
kill -INT $pid; wait $pid; rc=$?; t1=$(stamp)
echo "interrupted after $(find $OUT/resume -name results.json | wc -l) finished jobs: exit $rc after $(took $t0 $t1) s"
t0=$(stamp); $PY experiments/train.py -m $GRID $TINY hydra.sweep.dir=$OUT/resume > $OUT/resume2.log 2>&1; t1=$(stamp)
echo "restart: $(grep -c 'skipped:' $OUT/resume2.log) jobs skipped, $(grep -c '\[train\] done:' $OUT/resume2.log) trained, $(took $t0 $t1) s"

# the ratios in-process: 4 jobs, each one compile for its 3 ratios
t0=$(stamp); $PY experiments/train.py -m demand=poisson,binomial,uniform,geometric 'grid.cost_ratio=[10,100,1000]' \
  $TINY hydra.sweep.dir=$OUT/inprocess > $OUT/inprocess.log 2>&1; t1=$(stamp)
echo "in-process grid (4 jobs x 3 ratios): $(took $t0 $t1) s"

$PY experiments/aggregate.py $OUT/basic --x env.cost_ratio
$PY experiments/aggregate.py $OUT/inprocess --x grid.cost_ratio
$PY - "$OUT" <<'PY'
import csv, sys
from pathlib import Path
out = Path(sys.argv[1])
def table(d, ratio_key):
    rows = list(csv.DictReader(open(d / "aggregate.csv")))
    return {(r["demand"], float(r[ratio_key])): float(r["eval.mean_reward"]) for r in rows}
import subprocess
subprocess.run([sys.executable, "experiments/aggregate.py", str(out / "joblib"), "--x", "env.cost_ratio"],
               check=True, capture_output=True)
subprocess.run([sys.executable, "experiments/aggregate.py", str(out / "resume"), "--x", "env.cost_ratio"],
               check=True, capture_output=True)
for name in ("cached",):
    subprocess.run([sys.executable, "experiments/aggregate.py", str(out / name), "--x", "env.cost_ratio"],
                   check=True, capture_output=True)
basic, joblib, resume, cached = (table(out / n, "env.cost_ratio") for n in ("basic", "joblib", "resume", "cached"))
inproc = table(out / "inprocess", "grid.cost_ratio")
print("jobs:", len(basic), "| joblib == basic:", joblib == basic, "| resumed == basic:", resume == basic, "| cached == basic:", cached == basic,
      "| in-process == basic:", inproc == basic)
if inproc != basic:
    print("max |in-process - basic|:", max(abs(inproc[k] - basic[k]) for k in basic))
PY
