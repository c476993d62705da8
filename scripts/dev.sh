#!/usr/bin/env bash
# Sets up ssmc on Debian 12 and runs it: installs the missing apt packages
# (LLVM/MLIR 22 and libomp from the security suite, CMake, Ninja, ccache,
# GoogleTest, Google Benchmark; the Python package's python3-dev, pybind11,
# NumPy, pytest and PyTorch; python3-matplotlib for the demo's plots;
# OpenMPI for sequence parallelism, docs/distributed.md),
# configures and builds, then runs the job.
#
#   scripts/dev.sh demo    build, then run the main job: ssmc-tasks demo (the
#                          theory tasks, small; tables, plots and a report in
#                          tasks-out/demo)
#   scripts/dev.sh test    build, then run every test (lit + gtest) via ctest
#   scripts/dev.sh build   build only
#   scripts/dev.sh bench   build, then run every benchmark (bench/run.sh;
#                          ~15 minutes; output in bench-out/)
#
# Idempotent: with everything installed and built it only re-runs the job.
# The test job first builds BUILD_DIR-asan with ASan + UBSan + LSan and runs
# the fast tests there (SSMC_SANITIZER_TESTS=0 skips that), then runs every
# test in BUILD_DIR; its output ends with ctest's summary.
# Environment: BUILD_DIR (default build), SSMC_CMAKE_ARGS (extra cmake args),
# SSMC_SANITIZER_TESTS (default 1).
set -euo pipefail

job="${1:-demo}"
case "$job" in
  demo | test | build | bench) ;;
  -h | --help)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 demo|test|build|bench" >&2
    exit 2
    ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
build_dir="${BUILD_DIR:-build}"
llvm_prefix=/usr/lib/llvm-22

packages=(cmake ninja-build ccache git python3 clang-22 llvm-22-dev llvm-22-tools
  libmlir-22-dev mlir-22-tools libomp-22-dev libgtest-dev libbenchmark-dev
  python3-dev python3-numpy python3-pybind11 pybind11-dev python3-pytest python3-torch
  libopenmpi-dev openmpi-bin)
# Sanitizer builds (the test job's second build, or SSMC_CMAKE_ARGS asking
# for one) need clang's runtime libraries.
sanitizer_tests="${SSMC_SANITIZER_TESTS:-1}"
case "${SSMC_CMAKE_ARGS:-}" in
  *SSMC_ENABLE_SANITIZERS=ON*) packages+=(libclang-rt-22-dev); sanitizer_tests=0 ;;
esac
if [ "$job" = test ] && [ "$sanitizer_tests" = 1 ]; then
  packages+=(libclang-rt-22-dev)
fi
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

# configure DIR BUILD_TYPE [cmake args...]: configures DIR once.
configure() {
  local dir="$1" type="$2"
  shift 2
  if [ ! -f "$dir/build.ninja" ]; then
    echo "== configuring $dir"
    cmake -G Ninja -S . -B "$dir" \
      -DCMAKE_BUILD_TYPE="$type" \
      -DCMAKE_C_COMPILER="$llvm_prefix/bin/clang" \
      -DCMAKE_CXX_COMPILER="$llvm_prefix/bin/clang++" \
      -DMLIR_DIR="$llvm_prefix/lib/cmake/mlir" \
      -DLLVM_EXTERNAL_LIT="$llvm_prefix/bin/lit" \
      "$@"
  fi
}

# shellcheck disable=SC2086
configure "$build_dir" Release ${SSMC_CMAKE_ARGS:-}
echo "== building $build_dir"
cmake --build "$build_dir"

# ctest runs this many tests at once (the lit suite, one of them, runs its
# own tests on every core); the tests keep their files apart (unique
# temporary names, a JIT cache folder per Python test file).
jobs="$(nproc 2>/dev/null || echo 2)"

case "$job" in
  demo)
    echo "== ssmc-tasks demo: COPY, MQAR, DP with chain-of-thought and generation cost"
    echo "   on compiled ssm models (progress on stderr; report in tasks-out/demo)"
    "$build_dir/bin/ssmc-tasks" demo --out tasks-out/demo
    ;;
  test)
    if [ "$sanitizer_tests" = 1 ]; then
      # The fast tests again under AddressSanitizer, UndefinedBehaviorSanitizer
      # and LeakSanitizer (the million-step, determinism, task-run, 130M
      # model and per-architecture weight-precision tests only repeat what
      # the main run checks, at sanitizer speed; QuantizedModelsLoad keeps
      # the bf16 and int8 loaders under the sanitizers; the fake-driver run
      # of every CUDA-target gtest and of the models (fakecuda.models, whole-
      # model compiles) repeats the plain build's, while
      # fakecuda.jit, the host-twin check and the runtime's own fake-driver
      # tests keep the CUDA host path under the sanitizers; the Gated
      # DeltaNet forward/prefill/decode/batch test compiles its model's five
      # programs, while its loader tests run the same layer code there; the
      # RWKV-7 chunked GPU kernel's emulator cases repeat the plain build's,
      # ChunkedRWKV7LargestKeySize keeps its compile path here).
      asan_dir="${build_dir}-asan"
      configure "$asan_dir" RelWithDebInfo -DSSMC_ENABLE_SANITIZERS=ON
      echo "== building $asan_dir (sanitizers)"
      cmake --build "$asan_dir"
      echo "== fast tests under ASan + UBSan + LSan"
      # allow_user_poisoning=0: LLVM's BumpPtrAllocator poisons a new slab
      # when its inline code is compiled with ASan (ours), and the
      # uninstrumented libMLIR.so then hands out and writes pieces of that
      # slab without unpoisoning them, a false use-after-poison that comes
      # and goes with where slabs end.
      ASAN_OPTIONS="allow_user_poisoning=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
      LSAN_OPTIONS="suppressions=$PWD/test/lsan.supp" \
        ctest --test-dir "$asan_dir" --output-on-failure --parallel "$jobs" \
        -E 'LongSequences|Determinism|TaskRuns|Mamba130M|QuantizedModels\.|^fakecuda\.kernels_vs_reference$|^fakecuda\.models$|GatedDeltaNetModel\.ForwardPrefill|DeltaRuleGPU\.ChunkedRWKV7(OddShapes|GroupedHeads|PackedSequences|SlowDecay|BF16)'
    fi
    echo "== all tests"
    ctest --test-dir "$build_dir" --output-on-failure --parallel "$jobs"
    ;;
  bench)
    BIN="$build_dir/bin" bash bench/run.sh
    ;;
esac
