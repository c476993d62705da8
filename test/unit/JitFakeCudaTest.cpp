//===- JitFakeCudaTest.cpp - the JIT's CUDA host path over the fake driver ===//
//
// Runs only where libcuda.so.1 is the test-only fake driver (test/fakecuda):
// ctest's `fakecuda.jit` runs these cases with LD_LIBRARY_PATH pointing at
// it; elsewhere they skip. Failures are injected through the fake's
// ssmcFakeCudaSetFailures. Numbers are checked against ssmc::ref.
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/FakeCudaTest.h"
#include "test/lib/Reference.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using namespace ssmc;
using test::setFailures;

namespace {

/// A counter of the fake driver (ssmcFakeCuda<name>), or of its calls of a
/// driver function.
int64_t fakeCount(const char *name) {
  auto *f = test::fakeCudaFunction<int64_t()>(name);
  return f ? f() : -1;
}

int64_t fakeCalls(const char *fn) {
  auto *f = test::fakeCudaFunction<int64_t(const char *)>("CallCount");
  return f ? f(fn) : -1;
}

class JitOverFakeCuda : public test::FakeCudaTest {};

/// A small selective scan, its inputs and the double reference.
struct Scan {
  test::SelectiveScanConfig config;
  ref::SelectiveScanProblem problem;
  std::vector<OwnedTensor> inputs;

  explicit Scan(int64_t channels) {
    config.batch = 2;
    config.channels = channels;
    config.seqLen = 9;
    config.stateSize = 4;
    problem.batch = 2;
    problem.channels = channels;
    problem.seqLen = 9;
    problem.stateSize = 4;
    auto add = [&](std::vector<int64_t> shape, std::vector<double> &values,
                   double lo, double hi, int seed) {
      OwnedTensor t(DType::F32, shape);
      int64_t n = 1;
      for (int64_t d : shape)
        n *= d;
      values.resize(n);
      for (int64_t i = 0; i < n; ++i) {
        double x = lo + (hi - lo) * (0.5 + 0.5 * std::sin(1.7 * i + seed));
        t.as<float>()[i] = static_cast<float>(x);
        values[i] = static_cast<float>(x);
      }
      inputs.push_back(std::move(t));
    };
    add({2, channels, 9}, problem.u, -1, 1, 1);
    add({2, channels, 9}, problem.delta, 0.01, 0.5, 2);
    add({channels, 4}, problem.A, -2, -0.1, 3);
    add({2, 4, 9}, problem.B, -1, 1, 4);
    add({2, 4, 9}, problem.C, -1, 1, 5);
  }

  std::vector<Tensor> views() {
    std::vector<Tensor> v;
    for (OwnedTensor &t : inputs)
      v.push_back(t.view());
    return v;
  }
};

JitOptions cudaOptions() {
  JitOptions o;
  o.target = Target::CUDA;
  return o;
}

// The first program's GPU module fails to load: its compilation fails with
// the driver's message and JIT log. A second program compiled afterwards in
// the same process is unaffected: it runs and matches the reference (or,
// while the pipeline registers no host twins, its run fails for that reason
// and no other: never with the first program's load error, never silently).
TEST_F(JitOverFakeCuda, AFailedModuleLoadFailsItsCompileOnly) {
  Scan first(3), second(5);
  setFailures("cuModuleLoadDataEx:1");
  auto broken = Jit::compile(test::selectiveScanProgram(first.config),
                             cudaOptions());
  ASSERT_FALSE(static_cast<bool>(broken));
  std::string why = llvm::toString(broken.takeError());
  EXPECT_NE(why.find("loading the GPU module"), std::string::npos) << why;
  EXPECT_NE(why.find("CUDA error 218"), std::string::npos) << why;
  EXPECT_NE(why.find("JIT error log: ptxas fatal   : (fake JIT) failure "
                     "injected"),
            std::string::npos)
      << why;

  auto jit = Jit::compile(test::selectiveScanProgram(second.config),
                          cudaOptions());
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  auto results = (*jit)->run("main", second.views());
  if (!results) {
    std::string run = llvm::toString(results.takeError());
    EXPECT_EQ(run.find("failure injected"), std::string::npos)
        << "the first program's load error charged to the second: " << run;
    EXPECT_NE(run.find("cuLaunchKernel failed with CUDA error 500"),
              std::string::npos)
        << run;
    return;
  }
  ref::SelectiveScanResult want = ref::selectiveScan(second.problem);
  ASSERT_EQ(results->size(), 1u);
  const float *y = (*results)[0].as<float>();
  double scale = 1;
  for (double v : want.out)
    scale = std::max(scale, std::fabs(v));
  for (size_t i = 0; i < want.out.size(); ++i)
    ASSERT_NEAR(y[i], want.out[i], 1e-4 * scale) << "element " << i;
}

/// Deterministic values in [lo, hi].
std::vector<float> values(int64_t n, double lo, double hi, int seed) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i)
    v[i] = static_cast<float>(lo + (hi - lo) *
                                       (0.5 + 0.5 * std::sin(1.3 * i + seed)));
  return v;
}

std::vector<double> widened(const std::vector<float> &v) {
  return std::vector<double>(v.begin(), v.end());
}

// A Mamba-style pair, causal_conv1d feeding selective_scan, on the CUDA
// target: every run's staged copies go through pinned staging blocks
// asynchronously (no pageable copy, no race or misuse of pinned memory),
// the host waits once per run (both kernels' copies and launches are one
// run of GPU ops), later runs allocate no pinned memory, and each run's
// result equals the double reference (the scan reads the conv's result
// from the staging block of its pending copy back).
TEST_F(JitOverFakeCuda, ChainedKernelsStageThroughReusedPinnedMemory) {
  const int64_t B = 2, D = 6, L = 11, N = 4, W = 4;
  const char *program = R"(
func.func @main(%x: tensor<2x6x11xf32>, %w: tensor<6x4xf32>,
                %dt: tensor<2x6x11xf32>, %A: tensor<6x4xf32>,
                %B: tensor<2x4x11xf32>, %C: tensor<2x4x11xf32>)
    -> tensor<2x6x11xf32> {
  %u = ssm.causal_conv1d %x, %w
      : (tensor<2x6x11xf32>, tensor<6x4xf32>) -> tensor<2x6x11xf32>
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<2x6x11xf32>, tensor<2x6x11xf32>, tensor<6x4xf32>,
         tensor<2x4x11xf32>, tensor<2x4x11xf32>) -> tensor<2x6x11xf32>
  return %y : tensor<2x6x11xf32>
}
)";
  std::vector<float> x = values(B * D * L, -1, 1, 1),
                     w = values(D * W, -0.5, 0.5, 2),
                     dt = values(B * D * L, 0.01, 0.5, 3),
                     A = values(D * N, -2, -0.1, 4),
                     Bm = values(B * N * L, -1, 1, 5),
                     Cm = values(B * N * L, -1, 1, 6);
  ref::SelectiveScanProblem p;
  p.batch = B;
  p.channels = D;
  p.seqLen = L;
  p.stateSize = N;
  p.u = ref::causalConv1d(B, D, L, W, widened(x), widened(w), {}, {},
                          /*applySilu=*/false)
            .first;
  p.delta = widened(dt);
  p.A = widened(A);
  p.B = widened(Bm);
  p.C = widened(Cm);
  std::vector<double> want = ref::selectiveScan(p).out;
  double scale = 1;
  for (double v : want)
    scale = std::max(scale, std::fabs(v));

  auto jit = Jit::compile(program, cudaOptions());
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  auto view = [](std::vector<float> &v, std::vector<int64_t> shape) {
    Tensor t;
    t.data = v.data();
    t.shape = std::move(shape);
    return t;
  };
  std::vector<Tensor> inputs = {view(x, {B, D, L}),  view(w, {D, W}),
                                view(dt, {B, D, L}), view(A, {D, N}),
                                view(Bm, {B, N, L}), view(Cm, {B, N, L})};
  int64_t races = fakeCount("RaceCount"), misuses = fakeCount("MisuseCount");
  for (int run = 0; run < 3; ++run) {
    setFailures(""); // clears the call counts
    int64_t pageable = fakeCount("PageableCopies");
    int64_t syncs = fakeCount("SyncCount");
    auto results = (*jit)->run("main", inputs);
    ASSERT_TRUE(static_cast<bool>(results))
        << llvm::toString(results.takeError());
    ASSERT_EQ(results->size(), 1u);
    const float *y = (*results)[0].as<float>();
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(y[i], want[i], 1e-4 * scale)
          << "run " << run << ", element " << i;
    EXPECT_EQ(fakeCount("PageableCopies"), pageable) << "run " << run;
    EXPECT_GE(fakeCalls("cuMemcpyHtoDAsync_v2"), 6) << "run " << run;
    EXPECT_GE(fakeCalls("cuMemcpyDtoHAsync_v2"), 1) << "run " << run;
    EXPECT_EQ(fakeCount("SyncCount") - syncs, 1) << "run " << run;
    EXPECT_EQ(fakeCalls("cuStreamSynchronize"), 1) << "run " << run;
    if (run > 0)
      EXPECT_EQ(fakeCalls("cuMemAllocHost_v2"), 0)
          << "run " << run << " allocated pinned memory";
  }
  EXPECT_EQ(fakeCount("RaceCount"), races);
  EXPECT_EQ(fakeCount("MisuseCount"), misuses);
}

/// A fake-driver function taking a kernel name (ssmcFakeCuda<name>).
int64_t fakeKernel(const char *name, const char *kernel) {
  auto *f = test::fakeCudaFunction<int64_t(const char *)>(name);
  return f ? f(kernel) : -2;
}

void setSharedOptIn(int bytes) {
  auto *set = test::fakeCudaFunction<void(int)>("SetSharedOptIn");
  ASSERT_NE(set, nullptr);
  set(bytes);
}

// Attention at d = dv = 112 stages key tiles of 64 rows of K and V: 57344
// bytes of dynamic shared memory, over the 48 KB a launch gets without the
// kernel's opt-in. The runtime opts the kernel in (the fake refuses the
// launch otherwise) and the twin runs with the launch's size, over three
// tiles with a ragged last one, against the double reference. On a card
// that allows only 48 KB the run fails, saying why.
TEST_F(JitOverFakeCuda, AttentionKeyTilesInDynamicSharedMemory) {
  const int64_t H = 2, Lq = 40, Lk = 150, d = 112;
  const char *program = R"(
func.func @attn112(%q: tensor<1x2x40x112xf32>, %k: tensor<1x2x150x112xf32>,
                   %v: tensor<1x2x150x112xf32>) -> tensor<1x2x40x112xf32> {
  %o = ssm.attention %q, %k, %v causal
      : (tensor<1x2x40x112xf32>, tensor<1x2x150x112xf32>,
         tensor<1x2x150x112xf32>) -> tensor<1x2x40x112xf32>
  return %o : tensor<1x2x40x112xf32>
}
)";
  std::vector<float> q = values(H * Lq * d, -2, 2, 1),
                     k = values(H * Lk * d, -2, 2, 2),
                     v = values(H * Lk * d, -2, 2, 3);
  ref::AttentionProblem p;
  p.heads = p.kvHeads = H;
  p.queryLen = Lq;
  p.keyLen = Lk;
  p.headDim = p.valueDim = d;
  p.causal = true;
  p.q = widened(q);
  p.k = widened(k);
  p.v = widened(v);
  std::vector<double> want = ref::attention(p);
  double scale = 1;
  for (double x : want)
    scale = std::max(scale, std::fabs(x));
  auto view = [](std::vector<float> &x, std::vector<int64_t> shape) {
    Tensor t;
    t.data = x.data();
    t.shape = std::move(shape);
    return t;
  };
  std::vector<Tensor> inputs = {view(q, {1, H, Lq, d}), view(k, {1, H, Lk, d}),
                                view(v, {1, H, Lk, d})};

  auto jit = Jit::compile(program, cudaOptions());
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  setSharedOptIn(48 * 1024);
  auto refused = (*jit)->run("attn112", inputs);
  setSharedOptIn(227 * 1024);
  ASSERT_FALSE(static_cast<bool>(refused));
  std::string why = llvm::toString(refused.takeError());
  EXPECT_NE(why.find("needs 57344 bytes of dynamic shared memory per block; "
                     "this card allows 49152"),
            std::string::npos)
      << why;

  auto results = (*jit)->run("attn112", inputs);
  ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
  ASSERT_EQ(results->size(), 1u);
  const float *o = (*results)[0].as<float>();
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(o[i], want[i], 1e-4 * scale) << "element " << i;
  EXPECT_EQ(fakeKernel("KernelLaunchShared", "attn112_kernel"), 57344);
  EXPECT_EQ(fakeKernel("KernelSharedLimit", "attn112_kernel"), 57344);
}

// A failed compile takes its load error with it: nothing is left pending
// for the next program or run on this thread.
TEST_F(JitOverFakeCuda, LoadErrorsAreNotLeftForLaterPrograms) {
  Scan scan(2);
  setFailures("cuModuleLoadDataEx:1");
  auto broken = Jit::compile(test::selectiveScanProgram(scan.config),
                             cudaOptions());
  ASSERT_FALSE(static_cast<bool>(broken));
  llvm::consumeError(broken.takeError());
  EXPECT_EQ(cuda::takeLoadError(), std::nullopt);
  EXPECT_EQ(cuda::takeError(), std::nullopt);
}

} // namespace
