#!/usr/bin/env bash
# Sets up ssmc on Debian 12 and runs it: installs the missing apt packages
# (LLVM/MLIR 22 and libomp from the security suite, CMake, Ninja, ccache,
# GoogleTest, Google Benchmark; python3-matplotlib for the demo's plots),
# configures and builds, then runs the job.
#
#   scripts/dev.sh demo    build, then run the main job: ssmc-tasks demo (the
#                          theory tasks, small; tables, plots and a report in
#                          tasks-out/demo)
#   scripts/dev.sh test    build, then run every test (lit + gtest) via ctest
#   scripts/dev.sh build   build only
#
# Idempotent: with everything installed and built it only re-runs the job.
# Environment: BUILD_DIR (default build), SSMC_CMAKE_ARGS (extra cmake args).
set -euo pipefail

job="${1:-demo}"
case "$job" in
  demo | test | build) ;;
  -h | --help)
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 demo|test|build" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build}"
llvm_prefix=/usr/lib/llvm-22

packages=(cmake ninja-build ccache git python3 clang-22 llvm-22-dev llvm-22-tools
  libmlir-22-dev mlir-22-tools libomp-22-dev libgtest-dev libbenchmark-dev)
# Sanitizer builds need clang's runtime libraries.
case "${SSMC_CMAKE_ARGS:-}" in
  *SSMC_ENABLE_SANITIZERS=ON*) packages+=(libclang-rt-22-dev) ;;
esac
# The demo's plots.
if [ "$job" = demo ]; then packages+=(python3-matplotlib); fi
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "== installing: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo=sudo; fi
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [ ! -f "$build_dir/build.ninja" ]; then
  echo "== configuring $build_dir"
  # shellcheck disable=SC2086
  cmake -G Ninja -S . -B "$build_dir" \
    -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER="$llvm_prefix/bin/clang" \
    -DCMAKE_CXX_COMPILER="$llvm_prefix/bin/clang++" \
    -DMLIR_DIR="$llvm_prefix/lib/cmake/mlir" \
    -DLLVM_EXTERNAL_LIT="$llvm_prefix/bin/lit" \
    ${SSMC_CMAKE_ARGS:-}
fi

echo "== building $build_dir"
cmake --build "$build_dir"

case "$job" in
  demo)
    echo "== ssmc-tasks demo: COPY, MQAR, DP with chain-of-thought and generation cost"
    echo "   on compiled ssm models (progress on stderr; report in tasks-out/demo)"
    "$build_dir/bin/ssmc-tasks" demo --out tasks-out/demo
    ;;
  test)
    ctest --test-dir "$build_dir" --output-on-failure
    ;;
esac
