#!/usr/bin/env bash
# MIP-mixed on the 200-SKU experiment (exact semantics, 10 episodes per point) in a process pool
# (mip_mixed.workers): the rows that take 2 h per semantics on 2 CPU cores, on a many-core host.
#   bash scripts/mip_mixed_200_skus.sh OUT_DIR [WORKERS] [SECONDS]
# Ratio 100 at sigma 1..9 first, then ratio 10 at sigma 1, 5, 9 with the time left of SECONDS;
# every run's directory is packed into OUT_DIR/runs.tgz at the end (also after a time-out).
# Tiny check: NUM_SKUS=10 PERIODS=30 EPISODES=2 bash scripts/mip_mixed_200_skus.sh /tmp/x 2 300
set -u
out=${1:?output dir}; workers=${2:-16}; budget=${3:-560}
num_skus=${NUM_SKUS:-200}; periods=${PERIODS:-200}; episodes=${EPISODES:-10}
runs=$(mktemp -d); mkdir -p "$out"
export JAX_PLATFORMS=cpu PYTHONUNBUFFERED=1
start=$SECONDS
run() {  # name ratios sigma_levels seconds
  timeout "$4" python3 experiments/reproduce_hybrid.py single_sku.enabled=false semantics=[exact] \
    num_skus="$num_skus" periods="$periods" episodes="$episodes" ratios="$2" sigma_levels="$3" \
    multi_sku.methods=[mip_mixed] mip_mixed.workers="$workers" plot=false logger.progress_every_s=30 \
    hydra.run.dir="$runs/$1" 2>&1 | tee "$runs/$1.log"
}
run ratio_100 "[100]" "[1,2,3,4,5,6,7,8,9]" $((budget - 20))
left=$((budget - (SECONDS - start) - 10))
[ "$left" -gt 60 ] && run ratio_10 "[10]" "[1,5,9]" "$left"
tar czf "$out/runs.tgz" -C "$runs" .
echo "packed $(ls "$runs") into $out/runs.tgz after $((SECONDS - start)) s"
