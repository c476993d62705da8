#!/usr/bin/env bash
# Regenerates docs/dialect/ssm-ops.md, the ssm op reference, from the ODS
# (SSMOps.td) with mlir-tblgen; test/Scripts/dialect_docs.test fails while
# the committed copy differs from what the ODS generates.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
llvm="${LLVM_PREFIX:-/usr/lib/llvm-22}"
td="$root/dialects/ssm/include/ssmc/Dialect/SSM"
mkdir -p "$root/docs/dialect"
"$llvm/bin/mlir-tblgen" -gen-op-doc -I "$td" -I "$llvm/include" "$td/SSMOps.td" \
  >"$root/docs/dialect/ssm-ops.md"
echo "wrote docs/dialect/ssm-ops.md"
