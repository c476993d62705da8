//===- CausalConvTest.cpp - compiled causal conv vs reference -------------===//

#include "ProgramBuilder.h"

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/Reference.h"
#include "test/lib/RunProgram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace ssmc;

namespace {

void check(int64_t B, int64_t D, int64_t L, int64_t W, bool full, bool silu,
           const std::string &elt, double rtol, unsigned seed,
           Target target = Target::CPU) {
  using test::tensorType;
  std::mt19937 rng(seed);
  DType dt = *parseDType(elt);
  std::vector<OwnedTensor> inputs;
  std::vector<double> x, w, bias, init;
  auto random = [&](std::vector<int64_t> shape, std::vector<double> &values) {
    inputs.push_back(test::randomTensor(rng, dt, shape, -1, 1, values));
  };
  random({B, D, L}, x);
  random({D, W}, w);
  std::string xt = tensorType({B, D, L}, elt), wt = tensorType({D, W}, elt);
  std::string bt = tensorType({D}, elt), st = tensorType({B, D, W - 1}, elt);
  std::string args = "%x: " + xt + ", %w: " + wt, types = xt + ", " + wt, extra;
  if (full) {
    random({D}, bias);
    random({B, D, W - 1}, init);
    args += ", %b: " + bt + ", %s: " + st;
    types += ", " + bt + ", " + st;
    extra = " bias(%b) initial_state(%s)";
  }
  if (silu)
    extra += " silu";
  std::string src = "func.func @main(" + args + ") -> (" + xt + ", " + st +
                    ") {\n  %y, %f = ssm.causal_conv1d %x, %w" + extra + " : (" +
                    types + ") -> (" + xt + ", " + st + ")\n  return %y, %f : " +
                    xt + ", " + st + "\n}\n";
  auto results = test::runProgram(src, inputs, target);
  ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
  auto [out, fin] = ref::causalConv1d(B, D, L, W, x, w, bias, init, silu);
  for (int k = 0; k < 2; ++k) {
    double err = test::maxError((*results)[k], k ? fin : out).first;
    EXPECT_LE(err, rtol * 4) << (k ? "final state" : "out");
  }
}

TEST(CausalConvNumerics, PlainAndSilu) {
  check(2, 5, 11, 4, false, false, "f32", 1e-5, 1);
  check(1, 3, 9, 4, false, true, "f32", 1e-5, 2);
}
TEST(CausalConvNumerics, BiasInitialStateAndFinalState) {
  check(2, 7, 13, 4, true, true, "f32", 1e-5, 3);
  check(1, 2, 2, 4, true, false, "f32", 1e-5, 4); // L < W - 1: state from h0
  check(1, 3, 5, 1, true, true, "f32", 1e-5, 5);  // W = 1: empty state
}
void checkGPUKernel(Target target) {
  check(2, 5, 11, 4, false, false, "f32", 1e-5, 1, target);
  check(2, 7, 13, 4, true, true, "f32", 1e-5, 3, target);
  check(1, 2, 2, 4, true, false, "f32", 1e-5, 4, target);
  check(1, 3, 0, 4, true, false, "f32", 1e-5, 6, target); // L = 0
}
TEST(CausalConvNumerics, GPUKernelMatchesTheReference) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  checkGPUKernel(Target::CUDA);
}
TEST(CausalConvNumerics, GPUKernelOnTheEmulatorMatchesTheReference) {
  checkGPUKernel(Target::GPUEmulator);
}

TEST(CausalConvNumerics, BF16AndF64) {
  check(1, 4, 16, 4, true, true, "bf16", 1e-2, 6);
  check(1, 4, 16, 3, true, true, "f64", 1e-12, 7);
}

} // namespace
