//===- DeterminismTest.cpp - bit-identical results across runs and threads -===//
//
// For every op family with a parallel lowering: the same inputs and thread
// count give the same bits on every call, and 1 and 2 threads give the same
// bits too (the lowerings never split a reduction across threads, so no
// reassociation depends on the thread count).
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include "ssmc/Jit.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

using namespace ssmc;

namespace {

std::vector<OwnedTensor> randomInputs(const FunctionInfo &fn, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> d(-1, 1);
  std::vector<OwnedTensor> in;
  for (const ArgInfo &a : fn.inputs) {
    OwnedTensor t(a.dtype, a.shape);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.setFromDouble(i, a.dtype == DType::I64 ? std::floor(4 * (d(rng) + 1))
                                               : d(rng));
    in.push_back(std::move(t));
  }
  return in;
}

/// Runs `source`'s @main with 1 and 2 threads (twice with 2) and requires
/// identical bytes in every result.
void expectDeterministic(const std::string &source) {
  std::vector<std::vector<OwnedTensor>> runs;
  std::vector<OwnedTensor> inputs;
  for (unsigned threads : {1u, 2u, 2u}) {
    JitOptions o;
    o.threads = threads;
    auto jit = Jit::compile(source, o);
    ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
    auto fn = (*jit)->function("main");
    ASSERT_TRUE(static_cast<bool>(fn)) << llvm::toString(fn.takeError());
    if (inputs.empty())
      inputs = randomInputs(**fn, 7);
    std::vector<Tensor> views;
    for (OwnedTensor &t : inputs)
      views.push_back(t.view());
    auto r = (*jit)->run("main", views);
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    runs.push_back(std::move(*r));
  }
  for (size_t k = 1; k < runs.size(); ++k) {
    ASSERT_EQ(runs[k].size(), runs[0].size());
    for (size_t i = 0; i < runs[0].size(); ++i) {
      ASSERT_EQ(runs[k][i].sizeInBytes(), runs[0][i].sizeInBytes());
      EXPECT_EQ(std::memcmp(runs[k][i].data(), runs[0][i].data(),
                            runs[0][i].sizeInBytes()),
                0)
          << "result #" << i << " of run " << k << " differs";
    }
  }
}

TEST(Determinism, LinearAttention) {
  test::LinearAttentionConfig c;
  c.batch = 2, c.heads = 3, c.seqLen = 257, c.keyDim = 16, c.valueDim = 24;
  c.gate = 2, c.finalState = true;
  expectDeterministic(test::linearAttentionProgram(c));
}

TEST(Determinism, SSD) {
  expectDeterministic(R"mlir(
func.func @main(%x: tensor<2x129x4x8xf32>, %dt: tensor<2x129x4xf32>, %A: tensor<4xf32>,
                %B: tensor<2x129x1x16xf32>, %C: tensor<2x129x1x16xf32>)
    -> (tensor<2x129x4x8xf32>, tensor<2x4x8x16xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %C dt_softplus
      : (tensor<2x129x4x8xf32>, tensor<2x129x4xf32>, tensor<4xf32>,
         tensor<2x129x1x16xf32>, tensor<2x129x1x16xf32>)
      -> (tensor<2x129x4x8xf32>, tensor<2x4x8x16xf32>)
  return %y, %h : tensor<2x129x4x8xf32>, tensor<2x4x8x16xf32>
}
)mlir");
}

TEST(Determinism, CausalWindowedAttention) {
  expectDeterministic(R"mlir(
func.func @main(%q: tensor<2x4x200x32xf32>, %k: tensor<2x2x200x32xf32>,
                %v: tensor<2x2x200x16xf32>) -> tensor<2x4x200x16xf32> {
  %o = ssm.attention %q, %k, %v causal {window = 37 : i64}
      : (tensor<2x4x200x32xf32>, tensor<2x2x200x32xf32>, tensor<2x2x200x16xf32>)
      -> tensor<2x4x200x16xf32>
  return %o : tensor<2x4x200x16xf32>
}
)mlir");
}

TEST(Determinism, DPWavefrontsInParallel) {
  // 1100 x 1000 cells: wavefronts of up to 1000 cells run in parallel.
  expectDeterministic(R"mlir(
func.func @main(%x: tensor<1100xf32>, %y: tensor<1000xf32>) -> tensor<1000xf32> {
  %c1100 = arith.constant 1100 : index
  %c1000 = arith.constant 1000 : index
  %zero = arith.constant 0.0 : f32
  %row = ssm.dp [%c1100, %c1000] inputs(%x, %y : tensor<1100xf32>, tensor<1000xf32>)
      {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>],
       input_dims = array<i64: 0, 1>, output = #ssm.dp_output<last_row>} : tensor<1000xf32>
    cell {
    ^bb0(%i: index, %j: index, %u: f32, %l: f32, %d: f32, %xi: f32, %yj: f32):
      %p = arith.mulf %xi, %yj : f32
      %s = arith.addf %d, %p : f32
      %m = arith.maximumf %u, %l : f32
      %r = arith.maximumf %m, %s : f32
      ssm.yield %r : f32
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %zero : f32
    }
  return %row : tensor<1000xf32>
}
)mlir");
}

} // namespace
