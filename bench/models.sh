#!/usr/bin/env bash
# Prefill and decode speed of the 130M models (random weights with the real
# names and shapes) on this machine, as a markdown table.
#
#   bash bench/models.sh                 # every model, 1 and 2 threads
#   MODELS="mamba-130m" PROMPTS="128" THREADS="2" bash bench/models.sh
#
# Weights are written once to $OUT (default bench-out/models, ~500 MB each).
# Each row is one ssmc-generate run: a random prompt of P tokens (prefill),
# then 64 greedy decode steps from position P.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
OUT=${OUT:-bench-out/models}
MODELS=${MODELS:-"mamba-130m mamba2-130m transformer-130m"}
PROMPTS=${PROMPTS:-"128 512 1536"}
THREADS=${THREADS:-"1 2"}
STEPS=${STEPS:-64}
mkdir -p "$OUT"
for m in $MODELS; do
  [ -f "$OUT/$m.safetensors" ] ||
    "$BIN/ssmc-generate" --write-random "$OUT/$m.safetensors" --config "$m" >&2
done
echo "| model | threads | prompt P | prefill tokens/s | decode tokens/s at P | compile s | decoding state |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for m in $MODELS; do
  for t in $THREADS; do
    for p in $PROMPTS; do
      echo "running $m, $t threads, prompt $p" >&2
      "$BIN/ssmc-generate" "$OUT/$m.safetensors" --random-prompt "$p" \
        --new-tokens $((STEPS + 1)) --threads "$t" --json |
        /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
name, t, p = sys.argv[1:4]
state = r["state_bytes"]
unit = "%.1f MB" % (state / 1e6) if state >= 1e6 else "%d KB" % (state // 1000)
print("| %s | %s | %s | %.0f | %.1f | %.2f | %s |" % (name, t, p,
      r["prefill_tok_per_s"], r["decode_tok_per_s"], r["compile_s"], unit))
' "$m" "$t" "$p"
    done
  done
done
