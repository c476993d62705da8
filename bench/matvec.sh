#!/usr/bin/env bash
# Decode's matrix-vector products alone: linalg.matmul of an f32 weight
# A [M, K] and one column (N = 1, ssm-lower-matmul's narrow kernel), run
# through ssmc-run --bench, as GB/s of weights read per call.
#
#   bash bench/matvec.sh
#   SHAPES="3072x768 50280x768" THREADS=1 RUNS=20 bash bench/matvec.sh
#
# Default shapes (the 130M Mamba-1's): 3072x768 (in_proj, 9 MB: it stays
# in the L3 across calls), 768x1536 (out_proj), 50280x768 (the LM head,
# 154 MB) and 73728x768 (24 layers' in_proj stacked, 226 MB: streamed from
# DRAM as a decode token streams its weights). Inputs go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
OUT=${OUT:-bench-out/matvec}
SHAPES=${SHAPES:-"3072x768 768x1536 50280x768 73728x768"}
THREADS=${THREADS:-1}
RUNS=${RUNS:-20}
mkdir -p "$OUT"
echo "| M x K | MB | threads | median ms | GB/s |"
echo "| --- | --- | --- | --- | --- |"
for s in $SHAPES; do
  M=${s%x*} K=${s#*x}
  prog=$OUT/matvec-$s.mlir
  [ -f "$OUT/a-$s.npy" ] || /usr/bin/python3 -c '
import numpy as np, sys
m, k = int(sys.argv[1]), int(sys.argv[2])
r = np.random.default_rng(1)
np.save(sys.argv[3], r.standard_normal((m, k), dtype=np.float32))
np.save(sys.argv[4], r.standard_normal((k, 1), dtype=np.float32))' \
    "$M" "$K" "$OUT/a-$s.npy" "$OUT/b-$s.npy"
  cat >"$prog" <<MLIR
func.func @main(%a: tensor<${M}x${K}xf32>, %b: tensor<${K}x1xf32>) -> tensor<${M}x1xf32> {
  %z = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<${M}x1xf32>
  %c = linalg.fill ins(%z : f32) outs(%e : tensor<${M}x1xf32>) -> tensor<${M}x1xf32>
  %r = linalg.matmul ins(%a, %b : tensor<${M}x${K}xf32>, tensor<${K}x1xf32>) outs(%c : tensor<${M}x1xf32>) -> tensor<${M}x1xf32>
  return %r : tensor<${M}x1xf32>
}
MLIR
  ms=$("$BIN/ssmc-run" "$prog" --threads "$THREADS" --bench "$RUNS" \
    --input "$OUT/a-$s.npy" --input "$OUT/b-$s.npy" --output "$OUT/y.npy" |
    sed -n 's/^bench: .* median \([0-9.]*\) ms.*/\1/p')
  /usr/bin/python3 -c '
import sys
m, k, t, ms = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
mb = m * k * 4 / 1e6
print(f"| {m} x {k} | {mb:.0f} | {t} | {ms:.3f} | {mb / ms:.1f} |")' "$M" "$K" "$THREADS" "$ms"
done
