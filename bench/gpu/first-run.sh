#!/usr/bin/env bash
# The first run on a GPU machine, in order, within a time budget (default
# 14 minutes): what the card is, whether every GPU module loads, whether
# every program matches its double reference (each in its own process: a
# device fault poisons the CUDA context for the rest of a process), what
# compute-sanitizer's memcheck, racecheck and synccheck say (if installed),
# and the timings of ssmc-gpu-bench with PyTorch's baselines (if torch is
# installed), then ssmc-gpu-bench again with pageable host copies
# (SSMC_CUDA_PINNED_LIMIT=0) against pinned staging's call times. Each step's output goes to $OUT/<step>.txt; the summary and
# the tables are appended to bench/RESULTS.md with the card's name.
#
# No MLIR or LLVM is needed there: carry the binaries built here
# (build/bin/ssmc-gpu-check and build/bin/ssmc-gpu-bench; they need only
# libcuda.so.1) and this repository's bench/ directory, then
#   bash bench/gpu/first-run.sh [BIN]        # BIN defaults to build/bin
# Environment: OUT (default bench-out/first-run), RESULTS (default
# bench/RESULTS.md), BUDGET_S (default 840), SANITIZER (compute-sanitizer's
# path, default from PATH or /usr/local/cuda/bin), CHECK and BENCH (the two
# binaries, default BIN/ssmc-gpu-check and BIN/ssmc-gpu-bench), BENCH_ARGS
# (ssmc-gpu-bench's options, e.g. --only attention --reps=20), ALLOW_FAKE=1
# to run over the test-only fake driver: a dry run of this script, whose
# binaries default to BIN/ssmc-gpu-twin-check and BIN/ssmc-gpu-twin-bench
# (the fake driver runs host twins, it loads no fatbin; nothing it times
# means anything; test/Tools/first_run_dry.test runs it).
# Exit status: 0 every check passed, 1 something failed, 2 a missing binary.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${1:-build/bin}
OUT=${OUT:-bench-out/first-run}
RESULTS=${RESULTS:-bench/RESULTS.md}
BUDGET_S=${BUDGET_S:-840}
# The dry run's binaries hold host twins: the fake driver loads no fatbin.
twin=""
[ "${ALLOW_FAKE:-0}" = 1 ] && twin="-twin"
CHECK=${CHECK:-$BIN/ssmc-gpu$twin-check}
BENCH=${BENCH:-$BIN/ssmc-gpu$twin-bench}
read -r -a BENCH_ARGS <<< "${BENCH_ARGS:-}"
mkdir -p "$OUT"

for b in "$CHECK" "$BENCH"; do
  if [ ! -x "$b" ]; then
    echo "first-run: $b is missing (build it with ninja -C build $(basename "$b") and copy it)" >&2
    exit 2
  fi
done

START=$SECONDS
SUMMARY=()   # "| step | status | detail |" rows
FAILED=0

# Seconds left of the budget, at most $1.
left() {
  local rest=$((BUDGET_S - (SECONDS - START)))
  [ "$rest" -lt 0 ] && rest=0
  [ "$rest" -gt "$1" ] && rest=$1
  echo "$rest"
}

# step NAME STATUS DETAIL: one summary row; FAIL counts.
step() {
  SUMMARY+=("| $1 | $2 | $3 |")
  echo "first-run: $1: $2${3:+ ($3)}"
  [ "$2" = FAIL ] && FAILED=1
  return 0
}

# run LOG LIMIT CMD...: runs CMD with a timeout, output to $OUT/LOG.txt and
# the terminal; its exit status (124 on timeout).
run() {
  local log="$OUT/$1.txt" limit=$2
  shift 2
  if [ "$limit" -le 0 ]; then
    echo "(not run: the time budget is spent)" > "$log"
    return 124
  fi
  timeout --kill-after=10 "$limit" "$@" > "$log" 2>&1
  local rc=$?
  cat "$log"
  return $rc
}

# 1. The card, its driver and compute capability.
CARD="unknown card"
if command -v nvidia-smi > /dev/null; then
  run card 30 nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader
  if [ $? -eq 0 ]; then
    CARD=$(head -1 "$OUT/card.txt")
    step card PASS "$CARD"
  else
    step card FAIL "nvidia-smi failed: $(head -1 "$OUT/card.txt")"
  fi
else
  step card SKIP "no nvidia-smi"
fi

# 2. Every GPU module loads (the driver JIT-compiles each PTX module).
run load "$(left 120)" "$CHECK" --load-only
rc=$?
DEVICE=$(sed -n 's/^device 0: //p' "$OUT/load.txt" | head -1)
if [ "$rc" -eq 77 ]; then
  step load FAIL "no driver or no device: $(head -1 "$OUT/load.txt")"
  echo "first-run: stopping: no usable GPU" >&2
  exit 1
fi
if [ "$DEVICE" = "ssmc fake CUDA device" ] && [ "${ALLOW_FAKE:-0}" != 1 ]; then
  echo "first-run: libcuda.so.1 is the test-only fake driver (LD_LIBRARY_PATH?); set ALLOW_FAKE=1 for a dry run" >&2
  exit 1
fi
[ "$CARD" = "unknown card" ] && [ -n "$DEVICE" ] && CARD=$DEVICE
if [ "$rc" -eq 0 ]; then
  step load PASS "every GPU module of ssmc-gpu-check loaded"
else
  step load FAIL "exit $rc: $(grep -m1 '^FAIL' "$OUT/load.txt")"
fi

# 3. Each program against its double reference, one process each.
PROGRAMS=$("$CHECK" --list)
for p in $PROGRAMS; do
  run "check-$p" "$(left 120)" "$CHECK" --only "$p"
  rc=$?
  case $rc in
    0) step "check $p" PASS "$(grep -c '^PASS' "$OUT/check-$p.txt") results match" ;;
    124|137) step "check $p" FAIL "timed out" ;;
    *) step "check $p" FAIL "exit $rc: $(grep -m1 '^FAIL' "$OUT/check-$p.txt")" ;;
  esac
done

# 4. compute-sanitizer: memcheck (out-of-bounds and misaligned accesses,
# leaks), racecheck (shared-memory hazards), synccheck (barrier misuse),
# one process per program and tool; new runs start only while the budget
# leaves 5 minutes for the timings.
SANITIZER=${SANITIZER:-$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)}
if [ -x "$SANITIZER" ]; then
  for tool in memcheck racecheck synccheck; do
    extra=()
    [ "$tool" = memcheck ] && extra=(--leak-check full)
    # memcheck sees a use after free only without the runtime's cache of
    # freed device blocks.
    cache=()
    [ "$tool" = memcheck ] && cache=(env SSMC_CUDA_NO_CACHE=1)
    errors=0 skipped=0 ran=0 detail=""
    for p in $PROGRAMS; do
      limit=$(left 150)
      if [ $((limit)) -le 0 ] || [ $((BUDGET_S - (SECONDS - START))) -lt 300 ]; then
        skipped=$((skipped + 1))
        continue
      fi
      run "sanitizer-$tool-$p" "$limit" "${cache[@]}" "$SANITIZER" --tool "$tool" \
        "${extra[@]}" --error-exitcode 99 "$CHECK" --only "$p"
      rc=$?
      ran=$((ran + 1))
      if [ "$rc" -eq 99 ]; then
        errors=$((errors + 1))
        detail+="$p (sanitizer errors) "
      elif [ "$rc" -ne 0 ]; then
        errors=$((errors + 1))
        detail+="$p (exit $rc under the sanitizer) "
      fi
    done
    if [ "$errors" -gt 0 ]; then
      step "$tool" FAIL "${detail}see $OUT/sanitizer-$tool-*.txt"
    elif [ "$ran" -eq 0 ]; then
      step "$tool" SKIP "no time left"
    else
      note=""
      [ "$skipped" -gt 0 ] && note=", $skipped not run (time)"
      step "$tool" PASS "$ran programs clean$note"
    fi
  done
else
  step compute-sanitizer SKIP "not installed"
fi

# 5. Timings: ssmc-gpu-bench (with the device-to-device copy bandwidth) and
# PyTorch's baselines on the same device.
run bench "$(left 300)" "$BENCH" "${BENCH_ARGS[@]}"
rc=$?
if [ "$rc" -eq 0 ]; then
  step ssmc-gpu-bench PASS "$(sed -n 's/^device-to-device copy: //p' "$OUT/bench.txt")"
else
  step ssmc-gpu-bench FAIL "exit $rc"
fi
if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2> /dev/null; then
  run torch "$(left 240)" python3 -u bench/gpu/torch_baseline.py
  rc=$?
  if [ "$rc" -eq 0 ]; then step torch-baseline PASS ""; else step torch-baseline FAIL "exit $rc"; fi
else
  echo "(PyTorch with CUDA is not installed)" > "$OUT/torch.txt"
  step torch-baseline SKIP "no PyTorch with CUDA"
fi

# The same timings with pageable host copies (SSMC_CUDA_PINNED_LIMIT=0):
# the call times against pinned staging's above.
run bench-pageable "$(left 200)" env SSMC_CUDA_PINNED_LIMIT=0 "$BENCH" "${BENCH_ARGS[@]}"
rc=$?
if [ "$rc" -eq 0 ]; then step ssmc-gpu-bench-pageable PASS ""; else step ssmc-gpu-bench-pageable FAIL "exit $rc"; fi

# 6. The record, appended to bench/RESULTS.md.
{
  echo
  echo "### First run on $CARD ($(date -u +%Y-%m-%d), bench/gpu/first-run.sh)"
  echo
  echo "| step | status | detail |"
  echo "|---|---|---|"
  printf '%s\n' "${SUMMARY[@]}"
  echo
  echo "ssmc-gpu-bench:"
  echo
  grep -E '^(device|host|\|)' "$OUT/bench.txt" || echo "(no table: see the run's output)"
  echo
  echo "ssmc-gpu-bench with pageable host copies:"
  echo
  grep -E '^(host|\|)' "$OUT/bench-pageable.txt" || echo "(no table: see the run's output)"
  echo
  echo "PyTorch baselines:"
  echo
  grep -E '^\|' "$OUT/torch.txt" || head -3 "$OUT/torch.txt"
} >> "$RESULTS"
echo "first-run: $((SECONDS - START)) s; results appended to $RESULTS; logs in $OUT"
exit $FAILED
