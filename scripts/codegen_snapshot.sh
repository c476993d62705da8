#!/usr/bin/env bash
# Writes the code ssmc generates for the benchmark and example programs into
# OUT, one file per (program, target, stage), so two builds can be compared
# with `diff -r`: a refactoring of the compiler must leave them unchanged.
#   scripts/codegen_snapshot.sh BIN_DIR OUT_DIR
set -uo pipefail
bin="${1:?usage: codegen_snapshot.sh BIN_DIR OUT_DIR}"
out="${2:?usage: codegen_snapshot.sh BIN_DIR OUT_DIR}"
root="${SSMC_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
mkdir -p "$out"
programs=("$root"/bench/gpu/programs/*.mlir "$root"/test/gpu/programs/*.mlir
  "$root"/examples/*.mlir "$root"/examples/lm/*.mlir "$root"/examples/dp/*.mlir "$root"/test/Integration/CPU/*.mlir "$root"/test/Integration/GPU/*.mlir)
for p in "${programs[@]}"; do
  [ -f "$p" ] || continue
  rel="${p#"$root"/}"
  name="$(echo "${rel%.mlir}" | tr / _)"
  for target in cpu cuda gpu-emulator; do
    for stage in llvm ptx; do
      if [ "$stage" = ptx ] && [ "$target" != cuda ]; then continue; fi
      "$bin/ssmc-run" "$p" --target "$target" --emit="$stage" \
        >"$out/$name.$target.$stage" 2>&1 || echo "exit $?" >>"$out/$name.$target.$stage"
    done
  done
done
ls "$out" | wc -l
