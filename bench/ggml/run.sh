#!/usr/bin/env bash
# ssmc against llama.cpp's Mamba graph built from ggml, on the same random
# weights, prompt, precision and thread count, in one run: prefill and
# decode tokens/s, and the logits after the prompt compared with ssmc's f32
# logits (the check that both compute the same model).
#
#   bash bench/ggml/run.sh /path/to/ggml          # or GGML_SRC=... bash bench/ggml/run.sh
#   MODELS=mamba2-130m THREADS=2 PROMPT=128 bash bench/ggml/run.sh ~/src/ggml
#
# GGML_SRC is a ggml source checkout (github.com/ggml-org/ggml); it is
# built with its CPU backend (GGML_NATIVE: -march=native, Release: -O3)
# together with bench/ggml/mamba_graph.cpp in $GGML_BUILD (default:
# GGML_SRC/build-ssmc-peer), which must lie outside this repository.
# ssmc-generate and ssmc-testdata come from $BIN (default build/bin).
#
# Precisions are pairs ssmc:ggml (ssmc-generate --weights : mamba_graph
# --type): f32:f32, bf16:bf16, int8:q8_0 by default. ssmc's int8 has one
# scale per output row, ggml's Q8_0 one per 32 weights; ggml keeps
# projections whose rows are not a multiple of 32 (Mamba-1's dt_proj, 48
# columns at 130M) in f16, as llama-quantize does.
set -euo pipefail
cd "$(dirname "$0")/../.."
GGML_SRC=${1:-${GGML_SRC:-}}
if [ -z "$GGML_SRC" ] || [ ! -f "$GGML_SRC/include/ggml.h" ]; then
  echo "usage: bash bench/ggml/run.sh GGML_SOURCE_DIR (a ggml checkout with include/ggml.h)" >&2
  exit 2
fi
GGML_SRC=$(cd "$GGML_SRC" && pwd)
GGML_BUILD=${GGML_BUILD:-$GGML_SRC/build-ssmc-peer}
mkdir -p "$GGML_BUILD"
GGML_BUILD=$(cd "$GGML_BUILD" && pwd)
case "$GGML_BUILD/" in
"$PWD"/*) echo "GGML_BUILD ($GGML_BUILD) must be outside the repository" >&2; exit 2 ;;
esac
# A build directory remembers the sources it was configured from; cmake
# refuses another checkout's bench/ggml with a message about its cache.
if [ -f "$GGML_BUILD/CMakeCache.txt" ]; then
  configured=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$GGML_BUILD/CMakeCache.txt")
  if [ -n "$configured" ] && [ "$configured" != "$PWD/bench/ggml" ]; then
    echo "GGML_BUILD ($GGML_BUILD) was configured from $configured:" \
      "run this script from that checkout, or give another GGML_BUILD" >&2
    exit 2
  fi
fi
BIN=${BIN:-build/bin}
OUT=${OUT:-bench-out/models}
MODELS=${MODELS:-"mamba-130m mamba2-130m"}
PROMPT=${PROMPT:-512}
STEPS=${STEPS:-64}
THREADS=${THREADS:-"1 2"}
PRECISIONS=${PRECISIONS:-"f32:f32 bf16:bf16 int8:q8_0"}
# |peer f32 logits - ssmc f32 logits| / max |ssmc f32 logit| above this
# fails the check (both f32; they differ in summation order only).
F32_TOL=${F32_TOL:-1e-3}

echo "building ggml ($GGML_SRC, $(git -C "$GGML_SRC" rev-parse --short HEAD 2>/dev/null || echo 'not a git checkout')) in $GGML_BUILD" >&2
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S bench/ggml -B "$GGML_BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DGGML_SRC="$GGML_SRC" -DGGML_NATIVE=ON >"$GGML_BUILD/configure.log" 2>&1 ||
  { cat "$GGML_BUILD/configure.log" >&2; exit 1; }
cmake --build "$GGML_BUILD" --target mamba_graph -j "${JOBS:-2}" >"$GGML_BUILD/build.log" 2>&1 ||
  { tail -40 "$GGML_BUILD/build.log" >&2; exit 1; }
PEER=$GGML_BUILD/mamba_graph

mkdir -p "$OUT"
for m in $MODELS; do
  [ -f "$OUT/$m.safetensors" ] ||
    "$BIN/ssmc-generate" --write-random "$OUT/$m.safetensors" --config "$m" >&2
done

rows=$OUT/ggml-rows.jsonl
: >"$rows"
for m in $MODELS; do
  cfg=$OUT/$m.config.json
  read -r vocab groups eps < <(/usr/bin/python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c["vocab_size"], c.get("n_groups", 1), c.get("layer_norm_epsilon", 1e-5))' "$cfg")
  prompt=$(/usr/bin/python3 -c '
import random, sys
r = random.Random(7)
print(",".join(str(r.randrange(int(sys.argv[2]))) for _ in range(int(sys.argv[1]))))' "$PROMPT" "$vocab")
  for t in $THREADS; do
    for pair in $PRECISIONS; do
      w=${pair%%:*} g=${pair##*:}
      echo "running $m, $t threads, prompt $PROMPT: ssmc --weights $w, ggml $g" >&2
      "$BIN/ssmc-generate" "$OUT/$m.safetensors" --prompt "$prompt" \
        --new-tokens $((STEPS + 1)) --threads "$t" --weights "$w" --json \
        --logits "$OUT/$m.ssmc.$w.npy" 2>"$OUT/$m.ssmc.$w.err" >"$OUT/$m.ssmc.json" ||
        { cat "$OUT/$m.ssmc.$w.err" >&2; exit 1; }
      "$PEER" "$OUT/$m.safetensors" --type "$g" --threads "$t" --prompt "$prompt" \
        --new-tokens $((STEPS + 1)) --n-groups "$groups" --eps "$eps" \
        --logits-out "$OUT/$m.ggml.$g.logits" >"$OUT/$m.ggml.json" 2>"$OUT/$m.ggml.$g.err" ||
        { cat "$OUT/$m.ggml.$g.err" >&2; exit 1; }
      /usr/bin/python3 - "$m" "$t" "$w" "$g" "$OUT" >>"$rows" <<'PY'
import json, sys
import numpy as np
m, t, w, g, out = sys.argv[1:6]
s = json.load(open(f"{out}/{m}.ssmc.json"))
p = json.load(open(f"{out}/{m}.ggml.json"))
def load(path):
    # ssmc-generate --logits writes .npy; the ggml graph raw f32.
    return np.load(path) if path.endswith(".npy") else np.fromfile(path, dtype=np.float32)
ref = load(f"{out}/{m}.ssmc.f32.npy")
def err(path):
    v = load(path)
    assert v.shape == ref.shape, (path, v.shape, ref.shape)
    return float(np.abs(v - ref).max() / np.abs(ref).max()), int(v.argmax() == ref.argmax())
se, st = err(f"{out}/{m}.ssmc.{w}.npy")
pe, pt = err(f"{out}/{m}.ggml.{g}.logits")
ggml_tokens = p["tokens"]
ssmc_tokens = s["tokens"]
same = 0
for a, b in zip(ssmc_tokens, ggml_tokens):
    if int(a) != int(b):
        break
    same += 1
print(json.dumps(dict(model=m, threads=int(t), ssmc=w, ggml=g, prompt=s["prompt_tokens"],
    ssmc_prefill=s["prefill_tok_per_s"], ggml_prefill=p["prefill_tok_per_s"],
    ssmc_decode=s["decode_tok_per_s"], ggml_decode=p["decode_tok_per_s"],
    ssmc_err=se, ggml_err=pe, ssmc_top1=st, ggml_top1=pt, same_tokens=same,
    steps=len(ggml_tokens))))
PY
    done
  done
done

/usr/bin/python3 - "$rows" "$F32_TOL" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
tol = float(sys.argv[2])
ok = True
print("Check: logits after the prompt against ssmc's f32 logits (max |diff| / max |logit|), greedy tokens equal to ssmc's")
for r in rows:
    if r["threads"] != rows[0]["threads"]:
        continue
    bad = r["ggml"] == "f32" and r["ggml_err"] > tol
    ok &= not bad
    print("  %-12s ssmc %-4s %.2e top-1 %s | ggml %-4s %.2e top-1 %s | first %d of %d greedy tokens equal%s" % (
        r["model"], r["ssmc"], r["ssmc_err"], "same" if r["ssmc_top1"] else "DIFFERS",
        r["ggml"], r["ggml_err"], "same" if r["ggml_top1"] else "DIFFERS",
        r["same_tokens"], r["steps"], "  FAILED (f32 must agree within %g)" % tol if bad else ""))
print()
print("| model | threads | prompt P | ssmc weights | ggml type | ssmc prefill tok/s | ggml prefill tok/s | ssmc / ggml | ssmc decode tok/s | ggml decode tok/s | ssmc / ggml |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for r in rows:
    print("| %s | %d | %d | %s | %s | %.0f | %.0f | %.2fx | %.1f | %.1f | %.2fx |" % (
        r["model"], r["threads"], r["prompt"], r["ssmc"], r["ggml"],
        r["ssmc_prefill"], r["ggml_prefill"], r["ssmc_prefill"] / r["ggml_prefill"],
        r["ssmc_decode"], r["ggml_decode"], r["ssmc_decode"] / r["ggml_decode"]))
sys.exit(0 if ok else 1)
PY
