//===- check.cpp - ssm GPU kernels against the double references ----------===//
//
// ssmc-gpu-check links ahead-of-time objects of test/gpu/programs (compiled
// at build time with `ssmc-run --target cuda --emit=object`) with the mgpu
// runtime, so it needs nothing but libcuda.so.1 at run time: no LLVM, no
// MLIR. It runs every program on device 0 and compares each result with
// the double-precision reference of test/lib/Reference.h or
// apps/tasks/DPSolvers.h.
//   ssmc-gpu-check [--only NAME]... [--list] [--load-only]
// --only runs the named programs alone (a device fault poisons the CUDA
// context for the rest of the process: bench/gpu/first-run.sh runs each
// program in its own process); --list prints the names; --load-only stops
// after loading every GPU module (the driver JIT-compiles the PTX).
// Exit status: 0 all match; 1 a mismatch, a CUDA error, a GPU module that
// failed to load, or a driver that loads but fails; 2 a bad command line;
// 77 no driver library or no device (ctest reports a skip). Built with
// SSMC_AOT_CPU (ssmc-aot-cpu-check) it runs CPU-target objects of the same
// programs instead.
//
//===----------------------------------------------------------------------===//

#include "apps/tasks/DPSolvers.h"
#include "test/lib/Reference.h"

#include "runtime/abi/MemRef.h"
#include "runtime/abi/ShapeError.h"

#ifndef SSMC_AOT_CPU
#include "runtime/cuda/MgpuRuntime.h"
#else
extern "C" int ssmcCudaTakeError(char *buffer, int size);
#endif

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

/// A descriptor as the entry points declare it, and a host buffer with one.
template <typename T, int R> using Desc = ssmc::abi::StridedMemRef<T, R>;
template <typename T, int R> using Buffer = ssmc::abi::MemRefBuffer<T, R>;

std::mt19937 rng(7);

template <int R> Buffer<float, R> random(const int64_t (&shape)[R], double lo,
                                         double hi, std::vector<double> &values) {
  Buffer<float, R> b(shape);
  std::uniform_real_distribution<double> d(lo, hi);
  for (float &x : b.data) {
    x = static_cast<float>(d(rng));
    values.push_back(x);
  }
  return b;
}

int failures = 0;
bool runFailed = false; ///< the current program's run raised an error

/// Max error against `want` within 1e-4 * max(1, max |want|), plus any CUDA
/// or shape error the call raised.
template <typename T>
void expect(const char *what, const std::vector<T> &got,
            const std::vector<double> &want, double rtol = 1e-4) {
  char err[1024];
  int64_t shape[3];
  if (ssmcCudaTakeError(err, sizeof err)) {
    std::printf("FAIL %s: CUDA error: %s\n", what, err);
    ++failures;
    runFailed = true;
    return;
  }
  if (runFailed) {
    std::printf("FAIL %s: not compared (the run failed)\n", what);
    ++failures;
    return;
  }
  if (ssmcTakeShapeError(shape)) {
    std::printf("FAIL %s: run-time shape check %lld failed\n", what,
                static_cast<long long>(shape[0]));
    ++failures;
    return;
  }
  double worst = 0, scale = 1;
  for (size_t i = 0; i < want.size(); ++i) {
    double g = static_cast<double>(got[i]);
    worst = std::isnan(g) ? INFINITY : std::max(worst, std::fabs(g - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  bool ok = worst <= rtol * scale;
  std::printf("%s %s: max error %.3g (tolerance %.3g)\n", ok ? "PASS" : "FAIL",
              what, worst, rtol * scale);
  failures += !ok;
}

} // namespace

extern "C" {
void _mlir_ciface_gpu_selective_scan(Desc<float, 3> *, Desc<float, 3> *,
                                     Desc<float, 2> *, Desc<float, 3> *,
                                     Desc<float, 3> *, Desc<float, 1> *,
                                     Desc<float, 3> *, Desc<float, 1> *,
                                     Desc<float, 3> *, Desc<float, 3> *,
                                     Desc<float, 3> *);
void _mlir_ciface_gpu_ssd(Desc<float, 4> *, Desc<float, 3> *, Desc<float, 1> *,
                          Desc<float, 4> *, Desc<float, 4> *, Desc<float, 1> *,
                          Desc<float, 4> *, Desc<float, 1> *, Desc<float, 4> *,
                          Desc<float, 4> *, Desc<float, 4> *);
void _mlir_ciface_gpu_linear_attention(Desc<float, 4> *, Desc<float, 4> *,
                                       Desc<float, 4> *, Desc<float, 4> *,
                                       Desc<float, 4> *, Desc<float, 4> *,
                                       Desc<float, 4> *);
void _mlir_ciface_gpu_attention(Desc<float, 4> *, Desc<float, 4> *,
                                Desc<float, 4> *, Desc<float, 4> *);
void _mlir_ciface_gpu_causal_conv1d(Desc<float, 3> *, Desc<float, 2> *,
                                    Desc<float, 1> *, Desc<float, 3> *,
                                    Desc<float, 3> *, Desc<float, 3> *);
void _mlir_ciface_gpu_edit_distance(Desc<int64_t, 1> *, Desc<int64_t, 1> *,
                                    Desc<int64_t, 2> *);
}

#ifdef SSMC_AOT_CPU
// The same programs compiled for the CPU target: checks the ahead-of-time
// path itself (calling convention, memrefCopy, no LLVM/MLIR) where no GPU is.
int ssmcCudaTakeError(char *, int) { return 0; }
#endif

namespace {

/// selective_scan (2, 37, L = 300, N = 16), every option: 8 chunks per channel
void checkSelectiveScan() {
  ssmc::ref::SelectiveScanProblem p;
  p.batch = 2, p.channels = 37, p.seqLen = 300, p.stateSize = 16;
  p.deltaSoftplus = true;
  auto u = random({2, 37, 300}, -1, 1, p.u);
  auto dt = random({2, 37, 300}, -3, 1, p.delta);
  auto A = random({37, 16}, -4, -0.1, p.A);
  auto B = random({2, 16, 300}, -1, 1, p.B);
  auto C = random({2, 16, 300}, -1, 1, p.C);
  auto D = random({37}, -1, 1, p.D);
  auto z = random({2, 37, 300}, -2, 2, p.z);
  auto bias = random({37}, -1, 0.5, p.deltaBias);
  auto h0 = random({2, 37, 16}, -1, 1, p.h0);
  Buffer<float, 3> y({2, 37, 300}), h({2, 37, 16});
  _mlir_ciface_gpu_selective_scan(&u, &dt, &A, &B, &C, &D, &z, &bias, &h0, &y, &h);
  auto want = ssmc::ref::selectiveScan(p);
  expect("selective_scan out", y.data, want.out);
  expect("selective_scan final state", h.data, want.finalState);
}

/// ssd (2, L = 1100, H = 4, P = 21, G = 2, N = 5), every option: 8 chunk groups
/// of 5 tiles, slow decays so that the state crosses chunks
void checkSSD() {
  ssmc::ref::SSDProblem p;
  p.batch = 2, p.seqLen = 1100, p.heads = 4, p.headDim = 21, p.groups = 2;
  p.stateSize = 5, p.dtSoftplus = true;
  auto x = random({2, 1100, 4, 21}, -1, 1, p.x);
  auto dt = random({2, 1100, 4}, -3, 1, p.dt);
  auto A = random({4}, -0.02, -0.001, p.A);
  auto B = random({2, 1100, 2, 5}, -1, 1, p.B);
  auto C = random({2, 1100, 2, 5}, -1, 1, p.C);
  auto D = random({4}, -1, 1, p.D);
  auto z = random({2, 1100, 4, 21}, -3, 3, p.z);
  auto bias = random({4}, -1, 0.5, p.dtBias);
  auto h0 = random({2, 4, 21, 5}, -1, 1, p.h0);
  Buffer<float, 4> y({2, 1100, 4, 21}), h({2, 4, 21, 5});
  _mlir_ciface_gpu_ssd(&x, &dt, &A, &B, &C, &D, &z, &bias, &h0, &y, &h);
  auto want = ssmc::ref::ssd(p);
  expect("ssd out", y.data, want.out);
  expect("ssd final state", h.data, want.finalState);
}

/// linear attention (2, 3, L = 1100, K = 8, V = 16), per-key gates (weak: the
/// state crosses the 8 chunk groups), h0, scale
void checkLinearAttention() {
  ssmc::ref::LinearAttentionProblem p;
  p.batch = 2, p.heads = 3, p.seqLen = 1100, p.keyDim = 8, p.valueDim = 16;
  p.scale = 0.5, p.gatePerKey = true;
  auto q = random({2, 3, 1100, 8}, -1, 1, p.q);
  auto k = random({2, 3, 1100, 8}, -1, 1, p.k);
  auto v = random({2, 3, 1100, 16}, -1, 1, p.v);
  auto g = random({2, 3, 1100, 8}, -0.005, 0, p.gate);
  auto h0 = random({2, 3, 8, 16}, -1, 1, p.h0);
  Buffer<float, 4> o({2, 3, 1100, 16}), s({2, 3, 8, 16});
  _mlir_ciface_gpu_linear_attention(&q, &k, &v, &g, &h0, &o, &s);
  auto want = ssmc::ref::linearAttention(p);
  expect("linear_attention out", o.data, want.out);
  expect("linear_attention final state", s.data, want.finalState);
}

/// causal windowed attention, GQA 6 -> 2 heads, Lq = 150 < Lk = 200 (two query
/// blocks, four key tiles)
void checkAttention() {
  ssmc::ref::AttentionProblem p;
  p.batch = 2, p.heads = 6, p.kvHeads = 2, p.queryLen = 150, p.keyLen = 200;
  p.headDim = 16, p.valueDim = 16, p.causal = true, p.window = 4;
  auto q = random({2, 6, 150, 16}, -2, 2, p.q);
  auto k = random({2, 2, 200, 16}, -2, 2, p.k);
  auto v = random({2, 2, 200, 16}, -2, 2, p.v);
  Buffer<float, 4> o({2, 6, 150, 16});
  _mlir_ciface_gpu_attention(&q, &k, &v, &o);
  expect("attention out", o.data, ssmc::ref::attention(p));
}

/// causal_conv1d (2, 7, 13, W = 4), bias, initial state, SiLU
void checkCausalConv1d() {
  std::vector<double> x, w, b, s;
  auto xb = random({2, 7, 13}, -1, 1, x);
  auto wb = random({7, 4}, -1, 1, w);
  auto bb = random({7}, -1, 1, b);
  auto sb = random({2, 7, 3}, -1, 1, s);
  Buffer<float, 3> y({2, 7, 13}), f({2, 7, 3});
  _mlir_ciface_gpu_causal_conv1d(&xb, &wb, &bb, &sb, &y, &f);
  auto [out, fin] = ssmc::ref::causalConv1d(2, 7, 13, 4, x, w, b, s, true);
  expect("causal_conv1d out", y.data, out);
  expect("causal_conv1d final state", f.data, fin);
}

/// ssm.dp: edit distance table 300 x 280 (wavefronts over 256 threads)
void checkEditDistance() {
  Buffer<int64_t, 1> x({300}), y({280});
  std::uniform_int_distribution<int64_t> letter(0, 3);
  for (auto &c : x.data)
    c = letter(rng);
  for (auto &c : y.data)
    c = letter(rng);
  Buffer<int64_t, 2> t({300, 280});
  _mlir_ciface_gpu_edit_distance(&x, &y, &t);
  std::vector<int64_t> want = ssmc::ref::editDistanceTable(x.data, y.data);
  expect("dp edit distance table", t.data,
         std::vector<double>(want.begin(), want.end()), 0);
}

struct Program {
  const char *name; ///< as in test/gpu/programs/NAME.mlir
  void (*check)();
};
const Program kPrograms[] = {
    {"selective_scan", checkSelectiveScan},
    {"ssd", checkSSD},
    {"linear_attention", checkLinearAttention},
    {"attention", checkAttention},
    {"causal_conv1d", checkCausalConv1d},
    {"dp_edit_distance", checkEditDistance},
};

} // namespace

int main(int argc, char **argv) {
  std::vector<const Program *> selected;
  bool loadOnly = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--load-only") {
      loadOnly = true;
      continue;
    }
    if (arg == "--list") {
      for (const Program &p : kPrograms)
        std::printf("%s\n", p.name);
      return 0;
    }
    std::string name;
    if (arg == "--only" && i + 1 < argc)
      name = argv[++i];
    else if (arg.rfind("--only=", 0) == 0)
      name = arg.substr(7);
    else {
      std::fprintf(stderr,
                   "usage: %s [--only NAME]... [--list] [--load-only]\n",
                   argv[0]);
      return 2;
    }
    const Program *found = nullptr;
    for (const Program &p : kPrograms)
      if (name == p.name)
        found = &p;
    if (!found) {
      std::fprintf(stderr, "%s: no program '%s' (--list names them)\n",
                   argv[0], name.c_str());
      return 2;
    }
    selected.push_back(found);
  }
  if (selected.empty())
    for (const Program &p : kPrograms)
      selected.push_back(&p);

#ifndef SSMC_AOT_CPU
  // Only a missing driver or device is a skip: a driver that loads and
  // fails is a failure of this check.
  if (const char *why = ssmcCudaLoadError(); why && *why) {
    int state = ssmcCudaDriverState();
    bool skip = state == SSMC_CUDA_NO_DRIVER || state == SSMC_CUDA_NO_DEVICE;
    std::printf("%s: %s\n", skip ? "SKIP" : "FAIL", why);
    return skip ? 77 : 1;
  }
  char name[256] = {0};
  ssmcCudaDeviceName(name, sizeof name);
  std::printf("device 0: %s\n", name);
  // The modules loaded in global constructors, before main.
  char loadError[8192];
  while (ssmcCudaTakeLoadError(loadError, sizeof loadError)) {
    std::printf("FAIL GPU module load: %s\n", loadError);
    ++failures;
  }
  if (loadOnly) {
    std::printf("%s\n", failures ? "FAILED" : "ALL GPU MODULES LOADED");
    return failures ? 1 : 0;
  }
#else
  std::printf("CPU target, ahead-of-time objects\n");
  if (loadOnly)
    return 0;
#endif

  for (const Program *p : selected) {
    rng.seed(7); // the same inputs whichever programs run before
    runFailed = false;
    p->check();
  }
  std::printf("%s\n", failures ? "FAILED" : "ALL PASSED");
  return failures ? 1 : 0;
}
