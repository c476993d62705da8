#!/usr/bin/env bash
# On a GPU machine: ssmc-gpu-bench (kernel timings and the copy bandwidth)
# and PyTorch's baselines, in one run, on the same device.
#   bash bench/gpu/run.sh [build/bin]      # writes bench-out/gpu.txt
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/bin}
OUT=${OUT:-bench-out}
mkdir -p "$OUT"
{
  nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv 2>/dev/null
  echo "== ssmc-gpu-bench"
  "$BIN/ssmc-gpu-bench"
  echo "== bench/gpu/torch_baseline.py"
  python3 -u bench/gpu/torch_baseline.py
} 2>&1 | tee "$OUT/gpu.txt"
