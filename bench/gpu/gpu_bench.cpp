//===- gpu_bench.cpp - ssmc-gpu-bench: GPU kernel timings -----------------===//
//
// Ahead-of-time objects of bench/gpu/programs (compiled at build time with
// `ssmc-run --target cuda --emit=object`) linked with the mgpu runtime: the
// binary needs only libcuda.so.1, so it can be carried to a GPU machine.
// For every program it runs one warm-up call, times `--reps` whole calls on
// the host clock (the staging copies, the launches and the call's wait:
// with SSMC_CUDA_PINNED_LIMIT=0 the copies are pageable instead of pinned,
// which compares the two), then times the kernels of `--reps` calls with
// events (ssmcCudaKernelTimer: host staging copies are not counted) and
// prints a markdown table: milliseconds per call, kernel milliseconds per
// call,
// the bytes the op must read and write once, that traffic as GB/s and as a
// share of the device-to-device copy bandwidth measured in the same run
// (bytes read + written; 256 MiB copies). Attention also gets GFLOP/s.
// The Mamba-1 layer's output is checked against the double reference.
// `--only NAME[,NAME..]` times some programs (`--list` names them),
// `--copy-mib=N` sizes the copies of the bandwidth measurement.
// Exit status: 0 done, 1 a CUDA error or a wrong result, 2 bad command
// line, 77 no driver library or no device (a driver that loads but fails,
// or a GPU module that fails to load, is 1).
//
// ssmc-gpu-twin-bench is the same harness over objects built with host
// twins: over the test-only fake driver (test/fakecuda) it runs the timing
// path (events, the kernel timer, the copy bandwidth, the table) without a
// GPU; its numbers mean nothing.
//
//===----------------------------------------------------------------------===//

#include "test/lib/Reference.h"

#include "../../runtime/cuda/MgpuRuntime.h"
#include "runtime/abi/MemRef.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <functional>
#include <random>
#include <string>
#include <vector>
#include <iterator>

/// A descriptor as the entry points declare it, and a host buffer with one.
template <typename T, int R> using Desc = ssmc::abi::StridedMemRef<T, R>;
template <typename T, int R> using Buffer = ssmc::abi::MemRefBuffer<T, R>;

extern "C" {
void _mlir_ciface_bench_selective_scan_b1(Desc<float, 3> *, Desc<float, 3> *,
                                          Desc<float, 2> *, Desc<float, 3> *,
                                          Desc<float, 3> *, Desc<float, 1> *,
                                          Desc<float, 3> *, Desc<float, 1> *,
                                          Desc<float, 3> *);
void _mlir_ciface_bench_selective_scan_b8(Desc<float, 3> *, Desc<float, 3> *,
                                          Desc<float, 2> *, Desc<float, 3> *,
                                          Desc<float, 3> *, Desc<float, 1> *,
                                          Desc<float, 3> *, Desc<float, 1> *,
                                          Desc<float, 3> *);
void _mlir_ciface_bench_ssd(Desc<float, 4> *, Desc<float, 3> *, Desc<float, 1> *,
                            Desc<float, 4> *, Desc<float, 4> *, Desc<float, 1> *,
                            Desc<float, 4> *, Desc<float, 1> *, Desc<float, 4> *);
void _mlir_ciface_bench_linear_attention(Desc<float, 4> *, Desc<float, 4> *,
                                         Desc<float, 4> *, Desc<float, 3> *,
                                         Desc<float, 4> *);
void _mlir_ciface_bench_attention(Desc<float, 4> *, Desc<float, 4> *,
                                  Desc<float, 4> *, Desc<float, 4> *);
void _mlir_ciface_bench_causal_conv1d(Desc<float, 3> *, Desc<float, 2> *,
                                      Desc<float, 1> *, Desc<float, 3> *);
void _mlir_ciface_bench_call_overhead(Desc<float, 3> *, Desc<float, 2> *,
                                      Desc<float, 1> *, Desc<float, 3> *);
}

namespace {

std::mt19937 rng(11);

template <int R>
Buffer<float, R> random(const int64_t (&shape)[R], float lo, float hi) {
  Buffer<float, R> b(shape);
  std::uniform_real_distribution<float> d(lo, hi);
  for (float &x : b.data)
    x = d(rng);
  return b;
}

int failures = 0;
double copyGBs = 0;

bool cudaOk(const char *what) {
  char err[1024];
  if (ssmcCudaTakeError(err, sizeof err)) {
    std::printf("| %s | CUDA error: %s |\n", what, err);
    ++failures;
    return false;
  }
  return true;
}

/// Times `call` (one warm-up, then `reps` calls on the host clock and
/// `reps` with kernel timing) and prints a row.
void row(const char *op, const char *shape, double bytes, double flops,
         int reps, const std::function<void()> &call) {
  std::fprintf(stderr, "%s %s ...\n", op, shape);
  call();
  if (!cudaOk(op))
    return;
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < reps; ++r)
    call();
  double callMs = std::chrono::duration<double, std::milli>(
                      std::chrono::steady_clock::now() - start)
                      .count() /
                  reps;
  if (!cudaOk(op))
    return;
  ssmcCudaKernelTimer(1);
  for (int r = 0; r < reps; ++r)
    call();
  int64_t launches = 0;
  double ms = ssmcCudaKernelTime(&launches) / reps;
  ssmcCudaKernelTimer(0);
  if (!cudaOk(op))
    return;
  double gbs = bytes / (ms * 1e-3) / 1e9;
  std::printf("| %s | %s | %.3f | %.3f | %lld | %.1f | %.1f | %.0f%% |", op,
              shape, callMs, ms,
              static_cast<long long>(launches / reps), bytes / 1e6, gbs,
              100 * gbs / copyGBs);
  if (flops > 0)
    std::printf(" %.0f GFLOP/s |\n", flops / (ms * 1e-3) / 1e9);
  else
    std::printf(" |\n");
}

bool allFinite(const std::vector<float> &v) {
  for (float x : v)
    if (!std::isfinite(x))
      return false;
  return true;
}

/// Bytes per f32 element.
constexpr double f4 = 4.0;

/// Mamba-1 layer, checked against the double reference.
void benchMamba1Layer(int reps) {
  const int64_t Dm = 1536, L = 2048, N = 16;
  auto u = random({1, Dm, L}, -1, 1), dt = random({1, Dm, L}, -3, 1),
       z = random({1, Dm, L}, -2, 2);
  auto A = random({Dm, N}, -4, -0.1f);
  auto B = random({1, N, L}, -1, 1), C = random({1, N, L}, -1, 1);
  auto D = random({Dm}, -1, 1), bias = random({Dm}, -1, 0.5f);
  Buffer<float, 3> y({1, Dm, L});
  double bytes = f4 * (4 * Dm * L + 2 * N * L);
  row("selective_scan", "(1, 1536, 2048, N 16)", bytes, 0, reps, [&] {
    _mlir_ciface_bench_selective_scan_b1(&u, &dt, &A, &B, &C, &D, &z, &bias, &y);
  });
  ssmc::ref::SelectiveScanProblem p;
  p.batch = 1, p.channels = Dm, p.seqLen = L, p.stateSize = N;
  p.deltaSoftplus = true;
  p.u.assign(u.data.begin(), u.data.end());
  p.delta.assign(dt.data.begin(), dt.data.end());
  p.A.assign(A.data.begin(), A.data.end());
  p.B.assign(B.data.begin(), B.data.end());
  p.C.assign(C.data.begin(), C.data.end());
  p.D.assign(D.data.begin(), D.data.end());
  p.z.assign(z.data.begin(), z.data.end());
  p.deltaBias.assign(bias.data.begin(), bias.data.end());
  std::vector<double> want = ssmc::ref::selectiveScan(p).out;
  double worst = 0, scale = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    worst = std::isfinite(y.data[i])
                ? std::max(worst, std::fabs(y.data[i] - want[i]))
                : INFINITY;
    scale = std::max(scale, std::fabs(want[i]));
  }
  if (!(worst <= 1e-4 * scale)) {
    std::printf("| selective_scan | WRONG: max error %.3g > %.3g |\n", worst,
                1e-4 * scale);
    ++failures;
  }
}

/// Batch 8: enough channels that the kernel does not chunk over L.
void benchSelectiveScanBatch8(int reps) {
  const int64_t Bn = 8, Dm = 1536, L = 2048, N = 16;
  auto u = random({Bn, Dm, L}, -1, 1), dt = random({Bn, Dm, L}, -3, 1),
       z = random({Bn, Dm, L}, -2, 2);
  auto A = random({Dm, N}, -4, -0.1f);
  auto B = random({Bn, N, L}, -1, 1), C = random({Bn, N, L}, -1, 1);
  auto D = random({Dm}, -1, 1), bias = random({Dm}, -1, 0.5f);
  Buffer<float, 3> y({Bn, Dm, L});
  double bytes = f4 * Bn * (4 * Dm * L + 2 * N * L);
  row("selective_scan", "(8, 1536, 2048, N 16)", bytes, 0, reps, [&] {
    _mlir_ciface_bench_selective_scan_b8(&u, &dt, &A, &B, &C, &D, &z, &bias, &y);
  });
  if (!allFinite(y.data))
    ++failures, std::printf("| selective_scan b8 | non-finite output |\n");
}

/// Mamba-2 layer.
void benchMamba2Layer(int reps) {
  const int64_t L = 2048, H = 24, P = 64, N = 128;
  auto x = random({1, L, H, P}, -1, 1), z = random({1, L, H, P}, -2, 2);
  auto dt = random({1, L, H}, -3, 1);
  auto A = random({H}, -4, -0.1f), D = random({H}, -1, 1),
       bias = random({H}, -1, 0.5f);
  auto B = random({1, L, 1, N}, -1, 1), C = random({1, L, 1, N}, -1, 1);
  Buffer<float, 4> y({1, L, H, P});
  double bytes = f4 * (3 * L * H * P + L * H + 2 * L * N);
  row("ssd", "(1, 2048, H 24, P 64, N 128)", bytes, 0, reps, [&] {
    _mlir_ciface_bench_ssd(&x, &dt, &A, &B, &C, &D, &z, &bias, &y);
  });
  if (!allFinite(y.data))
    ++failures, std::printf("| ssd | non-finite output |\n");
}

/// Gated linear attention.
void benchLinearAttention(int reps) {
  const int64_t Bn = 4, H = 32, L = 2048, K = 64, V = 128;
  auto q = random({Bn, H, L, K}, -1, 1), k = random({Bn, H, L, K}, -1, 1);
  auto v = random({Bn, H, L, V}, -1, 1);
  auto g = random({Bn, H, L}, -0.2f, 0);
  Buffer<float, 4> o({Bn, H, L, V});
  double bytes = f4 * Bn * H * L * (2 * K + 2 * V + 1);
  double flops = 4.0 * Bn * H * L * K * V; // update + read-out, FMA = 2
  row("linear_attention", "(4, 32, 2048, K 64, V 128)", bytes, flops, reps,
      [&] { _mlir_ciface_bench_linear_attention(&q, &k, &v, &g, &o); });
  if (!allFinite(o.data))
    ++failures, std::printf("| linear_attention | non-finite output |\n");
}

/// Causal softmax attention.
void benchAttention(int reps) {
  const int64_t H = 16, L = 4096, d = 64;
  auto q = random({1, H, L, d}, -1, 1), k = random({1, H, L, d}, -1, 1),
       v = random({1, H, L, d}, -1, 1);
  Buffer<float, 4> o({1, H, L, d});
  double bytes = f4 * 4 * H * L * d;
  double flops = 2.0 * H * L * L * d; // QK^T and PV over half the pairs
  row("attention causal", "(1, 16, 4096, d 64)", bytes, flops, reps,
      [&] { _mlir_ciface_bench_attention(&q, &k, &v, &o); });
  if (!allFinite(o.data))
    ++failures, std::printf("| attention | non-finite output |\n");
}

/// Short convolution.
void benchCausalConv1d(int reps) {
  const int64_t Dm = 1536, L = 2048;
  auto x = random({1, Dm, L}, -1, 1);
  auto w = random({Dm, 4}, -1, 1);
  auto b = random({Dm}, -1, 1);
  Buffer<float, 3> y({1, Dm, L});
  row("causal_conv1d", "(1, 1536, 2048, W 4)", f4 * 2 * Dm * L, 0, reps,
      [&] { _mlir_ciface_bench_causal_conv1d(&x, &w, &b, &y); });
  if (!allFinite(y.data))
    ++failures, std::printf("| causal_conv1d | non-finite output |\n");
}

/// A call with little work: what a call costs beyond its kernels' work.
void benchCallOverhead(int reps) {
  const int64_t Dm = 64, L = 256, W = 4;
  auto x = random({1, Dm, L}, -1, 1);
  auto w = random({Dm, W}, -1, 1);
  auto b = random({Dm}, -1, 1);
  Buffer<float, 3> y({1, Dm, L});
  row("call overhead (causal_conv1d)", "(1, 64, 256, W 4)", f4 * 2 * Dm * L, 0,
      reps, [&] { _mlir_ciface_bench_call_overhead(&x, &w, &b, &y); });
  std::vector<double> want =
      ssmc::ref::causalConv1d(
          1, Dm, L, W, std::vector<double>(x.data.begin(), x.data.end()),
          std::vector<double>(w.data.begin(), w.data.end()),
          std::vector<double>(b.data.begin(), b.data.end()), {},
          /*applySilu=*/true)
          .first;
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i)
    worst = std::isfinite(y.data[i])
                ? std::max(worst, std::fabs(y.data[i] - want[i]))
                : INFINITY;
  if (!(worst <= 1e-5)) {
    std::printf("| call overhead | WRONG: max error %.3g > 1e-05 |\n", worst);
    ++failures;
  }
}

/// The programs in the order they run, by the names `--only` takes.
struct Program {
  const char *name;
  void (*bench)(int reps);
};
constexpr Program kPrograms[] = {
    {"call_overhead", benchCallOverhead},
    {"selective_scan", benchMamba1Layer},
    {"selective_scan_b8", benchSelectiveScanBatch8},
    {"ssd", benchMamba2Layer},
    {"linear_attention", benchLinearAttention},
    {"attention", benchAttention},
    {"causal_conv1d", benchCausalConv1d},
};

int usage() {
  std::fprintf(stderr,
               "usage: ssmc-gpu-bench [--reps=N] [--only NAME[,NAME..]] "
               "[--copy-mib=N] [--list]\n"
               "  --reps=N      timed calls per program (N >= 1, default 5)\n"
               "  --only NAMES  time only these programs (--list names them)\n"
               "  --copy-mib=N  the bandwidth measurement's copies, in MiB "
               "(default 256)\n"
               "  --list        print the programs' names and exit\n");
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  int reps = 5;
  size_t copyMiB = 256;
  std::vector<bool> selected(std::size(kPrograms), true);
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    if (!std::strncmp(arg, "--reps=", 7) && std::atoi(arg + 7) > 0) {
      reps = std::atoi(arg + 7);
    } else if (!std::strncmp(arg, "--copy-mib=", 11) && std::atoi(arg + 11) > 0) {
      copyMiB = static_cast<size_t>(std::atoi(arg + 11));
    } else if (!std::strcmp(arg, "--list")) {
      for (const Program &p : kPrograms)
        std::printf("%s\n", p.name);
      return 0;
    } else if (!std::strcmp(arg, "--only") && i + 1 < argc) {
      std::fill(selected.begin(), selected.end(), false);
      std::string names = argv[++i];
      for (size_t start = 0; start <= names.size();) {
        size_t end = std::min(names.find(',', start), names.size());
        std::string name = names.substr(start, end - start);
        size_t k = 0;
        while (k < std::size(kPrograms) && name != kPrograms[k].name)
          ++k;
        if (k == std::size(kPrograms)) {
          std::fprintf(stderr, "no program '%s' (--list names them)\n",
                       name.c_str());
          return 2;
        }
        selected[k] = true;
        start = end + 1;
      }
    } else {
      return usage();
    }
  }
  if (const char *why = ssmcCudaLoadError(); why && *why) {
    // Only a missing driver or device is a skip; a broken driver fails.
    int state = ssmcCudaDriverState();
    bool skip = state == SSMC_CUDA_NO_DRIVER || state == SSMC_CUDA_NO_DEVICE;
    std::printf("%s: %s\n", skip ? "SKIP" : "FAIL", why);
    return skip ? 77 : 1;
  }
  char loadError[8192];
  if (ssmcCudaTakeLoadError(loadError, sizeof loadError)) {
    std::printf("FAIL GPU module load: %s\n", loadError);
    return 1;
  }
  char name[256] = {0};
  ssmcCudaDeviceName(name, sizeof name);
  copyGBs = ssmcCudaCopyBandwidth(copyMiB << 20, 20);
  if (!cudaOk("device-to-device copy") || copyGBs <= 0)
    return 1;
  std::printf("device 0: %s\n", name);
  std::printf("device-to-device copy: %.1f GB/s (bytes read + written, %zu MiB "
              "copies)\n\n",
              copyGBs, copyMiB);
  const char *limit = std::getenv("SSMC_CUDA_PINNED_LIMIT");
  std::printf("host copies: %s\n\n",
              limit && std::strtoull(limit, nullptr, 10) == 0
                  ? "pageable (SSMC_CUDA_PINNED_LIMIT=0)"
                  : "pinned staging");
  std::printf("| op | shape | call ms | kernel ms | launches | MB moved | "
              "GB/s | of copy | |\n|---|---|---|---|---|---|---|---|---|\n");
  for (size_t k = 0; k < std::size(kPrograms); ++k)
    if (selected[k])
      kPrograms[k].bench(reps);
  std::printf("\n%s\n", failures ? "FAILED" : "done");
  return failures ? 1 : 0;
}
