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
# Set (e.g. "f32 bf16 int8"): the weight-precision table below instead.
PRECISIONS=${PRECISIONS:-}
mkdir -p "$OUT"
for m in $MODELS; do
  [ -f "$OUT/$m.safetensors" ] ||
    "$BIN/ssmc-generate" --write-random "$OUT/$m.safetensors" --config "$m" >&2
done
if [ -z "$PRECISIONS" ]; then
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
exit 0
fi

# Weight precisions (--weights) in one run: prefill and decode tokens/s per
# precision with the ratio to f32, and the logits' agreement with the f32
# model over a random prompt of $ACC_PROMPT tokens (forward through the
# Python package: max |logit - f32 logit| / max |f32 logit| and the share of
# positions whose most likely token is f32's).
#
#   PRECISIONS="f32 bf16 int8" THREADS=2 PROMPTS=512 bash bench/models.sh
# (f32 is the reference, run first whether listed or not).
ACC_PROMPT=${ACC_PROMPT:-512}
PRECISIONS="f32 $(echo " $PRECISIONS " | sed 's/ f32 / /g')"
echo
echo "| model | weights | weight MB | threads | prompt P | prefill tokens/s | x f32 | decode tokens/s | x f32 | max logit error / max logit | top-1 = f32 |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for m in $MODELS; do
  for t in $THREADS; do
    for p in $PROMPTS; do
      runs=()
      for w in $PRECISIONS; do
        echo "running $m, $w weights, $t threads, prompt $p" >&2
        runs+=("$w" "$("$BIN/ssmc-generate" "$OUT/$m.safetensors" --random-prompt "$p" \
          --new-tokens $((STEPS + 1)) --threads "$t" --weights "$w" --json 2>"$OUT/$m.$w.err")")
      done
      PYTHONPATH=build/python /usr/bin/python3 - "$OUT/$m.safetensors" "$m" "$t" "$p" "$ACC_PROMPT" "${runs[@]}" <<'PY'
import json, re, sys
import numpy as np
import ssmc.models as models
path, name, t, p, n = sys.argv[1:6]
runs = sys.argv[6:]
rng = np.random.default_rng(7)
stats = [(runs[i], json.loads(runs[i + 1])) for i in range(0, len(runs), 2)]
base = dict(stats).get("f32")
ref = None
prompt = None
for w, r in stats:
    model = models.load(path, threads=int(t), weights=w)
    if prompt is None:
        prompt = [int(x) for x in rng.integers(0, model.vocab_size, int(n))]
    logits = model.forward(prompt)
    del model
    if ref is None:
        ref = logits
    err = np.abs(logits - ref).max() / np.abs(ref).max()
    top1 = (logits.argmax(-1) == ref.argmax(-1)).mean()
    err_txt = open(path.replace(".safetensors", ".%s.err" % w)).read()
    mb = int(re.search(r"weights: \S+ projections, (\d+) bytes", err_txt).group(1)) / 1e6
    ratio = lambda k: "%.2f" % (r[k] / base[k]) if base else "-"
    print("| %s | %s | %.0f | %s | %s | %.0f | %s | %.1f | %s | %.2e | %.1f%% |" % (
        name, w, mb, t, p, r["prefill_tok_per_s"], ratio("prefill_tok_per_s"),
        r["decode_tok_per_s"], ratio("decode_tok_per_s"), err, 100 * top1))
PY
    done
  done
done
