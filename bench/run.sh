#!/usr/bin/env bash
# Every benchmark of bench/RESULTS.md, one after the other, on this machine:
# the machine's limits, selective_scan against its baselines, the other ops
# and decode steps, the 130M models, and PyTorch's CPU references when
# python3-torch is installed. Output goes to the terminal and to
# $OUT/<suite>.txt (default bench-out/). Takes about 15 minutes on 2 cores.
#
#   bash bench/run.sh                  # everything
#   SUITES="roofline ops" bash bench/run.sh
#
# Usually run through `bash scripts/dev.sh bench`, which builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
OUT=${OUT:-bench-out}
SUITES=${SUITES:-"roofline selective-scan ops models torch"}
mkdir -p "$OUT"
for suite in $SUITES; do
  echo "== $suite (output in $OUT/$suite.txt)"
  case "$suite" in
    roofline) "$BIN/ssmc-bench-roofline" --benchmark_min_time=0.5 ;;
    selective-scan) "$BIN/ssmc-bench-selective-scan" --benchmark_min_time=1 ;;
    ops) "$BIN/ssmc-bench-ops" --benchmark_min_time=0.3 ;;
    models) BIN="$BIN" OUT="$OUT/models" bash bench/models.sh ;;
    torch)
      if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        /usr/bin/python3 -u bench/torch_baseline.py
      else
        echo "python3-torch is not installed (apt-get install python3-torch): skipped"
      fi
      ;;
    *)
      echo "unknown suite '$suite' (roofline selective-scan ops models torch)" >&2
      exit 2
      ;;
  esac 2>&1 | tee "$OUT/$suite.txt"
done
