#!/usr/bin/env bash
# Strong scaling of sequence parallelism (docs/distributed.md), 1 -> 2 ranks
# of one thread each at L = 65536, for selective_scan, ssd, linear
# attention and delta_rule (Gated DeltaNet): the plain program on one process, the sharded program on one
# process (its two scans), and the sharded program under
# `mpirun -np 2` with the all-gather, chain and exscan combines, and with
# the all-gather and --shard-rescan (ssd and linear attention rescan their
# slice instead of correcting their outputs: the form before the correction;
# selective_scan and delta_rule are the same either way); the gathered
# results are checked against the one-process run, and the bytes each rank
# sent per call are printed.
#
#   bench/mpi/shard_bench.sh [BUILD_DIR] [L] [RUNS] [OPS]
#
# OPS: a regular expression of the ops to run (default: all).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
L=${2:-65536}
runs=${3:-5}
ops=${4:-.}
bin=$build/bin
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mpirun=(mpirun --oversubscribe --bind-to none)
[ "$(id -u)" = 0 ] && mpirun+=(--allow-run-as-root)

median() { sed -n 's/^bench: .*median \([0-9.]*\) ms.*/\1/p'; }

run_case() { # name program inputs...
  local name=$1 prog=$2; shift 2
  [[ $name =~ $ops ]] || return 0
  local ins=() outs1=() i
  for i in "$@"; do ins+=(--input "$i"); done
  local base=("$bin/ssmc-run" "$prog" --threads 1 "${ins[@]}" --bench "$runs")
  local t1 t1s t2 t2c t2e t2r bytes
  t1=$("${base[@]}" --output "$out/$name.y1.npy" --output "$out/$name.h1.npy" | median)
  t1s=$("${base[@]}" --shard-seq --output "$out/$name.y.npy" --output "$out/$name.h.npy" | median)
  local r2
  r2=$("${mpirun[@]}" -np 2 "${base[@]}" --shard-seq --output "$out/$name.y2.npy" --output "$out/$name.h2.npy")
  t2=$(echo "$r2" | median)
  bytes=$(echo "$r2" | sed -n 's/.*rank 0 sent \([0-9]*\) bytes.*/\1/p')
  t2r=$("${mpirun[@]}" -np 2 "${base[@]}" --shard-seq --shard-rescan --output "$out/$name.y2r.npy" --output "$out/$name.h2r.npy" | median)
  t2c=$(SSMC_MPI_COMBINE=chain "${mpirun[@]}" -np 2 "${base[@]}" --shard-seq | median)
  t2e=$(SSMC_MPI_COMBINE=exscan "${mpirun[@]}" -np 2 "${base[@]}" --shard-seq | median)
  "$bin/ssmc-testdata" compare "$out/$name.y2.npy" "$out/$name.y1.npy" --rtol 1e-4 >/dev/null
  "$bin/ssmc-testdata" compare "$out/$name.h2.npy" "$out/$name.h1.npy" --rtol 1e-4 >/dev/null
  "$bin/ssmc-testdata" compare "$out/$name.y2r.npy" "$out/$name.y1.npy" --rtol 1e-4 >/dev/null
  "$bin/ssmc-testdata" compare "$out/$name.h2r.npy" "$out/$name.h1.npy" --rtol 1e-4 >/dev/null
  printf '| %s | %s | %s | %s | %s | %s | %s | %.2fx | %.2fx | %s |\n' "$name" "$t1" "$t1s" "$t2r" "$t2" "$t2c" "$t2e" \
    "$(echo "$t1 / $t2r" | bc -l)" "$(echo "$t1 / $t2" | bc -l)" "$bytes"
}

echo "L = $L, median of $runs runs, ms, one thread per rank ($(nproc) cores); $(uptime)"
echo
echo "| op | 1 process | 1 rank, sharded | 2 ranks, rescan | 2 ranks, all-gather | 2 ranks, chain | 2 ranks, exscan | speed-up (rescan) | speed-up (all-gather) | bytes sent by rank 0 per call (all-gather) |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
want() { [[ $1 =~ $ops ]]; }
if want selective_scan; then
  "$bin/ssmc-testdata" selective-scan --out "$out/ss" --channels 64 --state 16 --len "$L" --full --seed 1
  run_case selective_scan "$here/selective_scan.mlir" "$out"/ss/{u,dt,A,B,C,D,z,bias,h0}.npy
fi
if want ssd; then
  "$bin/ssmc-testdata" ssd --out "$out/ssd" --len "$L" --heads 4 --head-dim 32 --state 32 --full --seed 2
  run_case ssd "$here/ssd.mlir" "$out"/ssd/{x,dt,A,B,C,D,z,bias,h0}.npy
fi
if want linear_attention; then
  "$bin/ssmc-testdata" linear-attention --out "$out/la" --heads 4 --len "$L" --head-dim 32 --value-dim 32 --gate scalar --seed 3
  run_case linear_attention "$here/linear_attention.mlir" "$out"/la/{q,k,v,gate}.npy
fi
if want delta_rule; then
  "$bin/ssmc-testdata" delta-rule --out "$out/dr" --heads 4 --len "$L" --head-dim 32 --value-dim 32 --form gated --l2norm --h0 --seed 4
  run_case delta_rule "$here/delta_rule.mlir" "$out"/dr/{q,k,v,beta,gate,h0}.npy
fi
