#!/usr/bin/env bash
# Run scripts/safety_variants.py variants side by side on a many-core host: 8 CPU processes at a
# time, 2 pinned cores each (the 2-core budget of docs/ppo.md, times comparable to a 2-core machine).
#   OUT=results_dir bash scripts/run_variants_parallel.sh wave1.txt [wave2.txt ...]
# A wave file holds up to 8 lines "name|{json spec}" (spec: see scripts/safety_variants.py).
# Writes OUT/sweep_results.json (all variants so far, after every wave) and OUT/sweep_logs.txt.
set -u
export PYTHONUNBUFFERED=1 JAX_PLATFORMS=cpu
OUT=${OUT:?set OUT to a results directory}
W=$(mktemp -d)
mkdir -p "$OUT"
run_wave() {
  local slot=0
  while IFS='|' read -r name spec; do
    [ -z "$name" ] && continue
    taskset -c $((2*slot)),$((2*slot+1)) timeout 900 python3 scripts/safety_variants.py "$name" "$spec" \
      "$W/$name.json" > "$W/$name.log" 2>&1 &
    slot=$((slot+1))
  done < "$1"
  wait
}
collect() {
  python3 -c "import json,glob; json.dump([json.load(open(f)) for f in sorted(glob.glob('$W/*.json'))], open('$OUT/sweep_results.json','w'), indent=1)"
  for f in "$W"/*.log; do echo "== $f"; tail -n 30 "$f"; done > "$OUT/sweep_logs.txt"
}
SECONDS=0
for wave in "$@"; do run_wave "$wave"; echo "$wave done ${SECONDS}s"; collect; done
for f in "$W"/*.log; do tail -n 1 "$f"; done
