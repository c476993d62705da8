#!/usr/bin/env bash
# Batched generation throughput of the 130M models (random weights with the
# real names and shapes) at batch sizes B, as a markdown table with the
# ratio to B = 1 of the same run.
#
#   bash bench/batch.sh                        # every model, B = 1 4 16
#   MODELS="mamba-130m" BATCHES="1 4" THREADS=2 bash bench/batch.sh
#
# Each row is one `ssmc-generate --prompts FILE --new-tokens STEPS+1 --json`
# run: B prompts of about P tokens (lengths P-16 .. P+16, different per
# prompt) in one packed prefill, then STEPS batched decode steps. Tokens/s
# count every sequence's tokens. Weights are written once to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
OUT=${OUT:-bench-out/models}
MODELS=${MODELS:-"mamba-130m mamba2-130m transformer-130m"}
BATCHES=${BATCHES:-"1 4 16"}
THREADS=${THREADS:-2}
P=${P:-64}
STEPS=${STEPS:-32}
mkdir -p "$OUT"
for m in $MODELS; do
  [ -f "$OUT/$m.safetensors" ] ||
    "$BIN/ssmc-generate" --write-random "$OUT/$m.safetensors" --config "$m" >&2
done
echo "| model | threads | B | prompt tokens | prefill tokens/s (x B=1) | decode tokens/s (x B=1) | compile s (both programs) |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for m in $MODELS; do
  base=""
  for b in $BATCHES; do
    prompts="$OUT/prompts-$b.txt"
    /usr/bin/python3 -c '
import sys
b, p = int(sys.argv[1]), int(sys.argv[2])
for i in range(b):
    n = p - 16 + (i * 7) % 33
    print(",".join(str((i * 7919 + j * 104729) % 50000) for j in range(n)))
' "$b" "$P" > "$prompts"
    echo "running $m, B = $b" >&2
    row=$("$BIN/ssmc-generate" "$OUT/$m.safetensors" --prompts "$prompts" \
      --new-tokens $((STEPS + 1)) --threads "$THREADS" --json)
    if [ -z "$base" ]; then base="$row"; fi
    /usr/bin/python3 -c '
import json, sys
r, b0 = json.loads(sys.argv[1]), json.loads(sys.argv[2])
name, t = sys.argv[3:5]
print("| %s | %s | %d | %d | %.0f (%.2fx) | %.1f (%.2fx) | %.2f |" % (
    name, t, r["batch"], r["prompt_tokens"],
    r["prefill_tok_per_s"], r["prefill_tok_per_s"] / b0["prefill_tok_per_s"],
    r["decode_tok_per_s"], r["decode_tok_per_s"] / b0["decode_tok_per_s"],
    r["compile_s"]))
' "$row" "$base" "$m" "$THREADS"
  done
done
