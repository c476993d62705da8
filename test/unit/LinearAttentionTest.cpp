//===- LinearAttentionTest.cpp - compiled linear attention vs reference ---===//
//
// ssm.linear_attention through ssm-cpu-pipeline and ssmc::Jit against
// ssmc::ref::linearAttention: every gate kind, feature map, normalisation,
// default and explicit scale, initial/final state, packed sequences,
// dynamic shapes, value widths that leave a masked tail, bf16 inputs.
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace ssmc;
using ssmc::test::LinearAttentionConfig;

namespace {

struct LARun {
  std::vector<OwnedTensor> results;
  ref::LinearAttentionResult reference;
  std::string error;
};

LARun runLinearAttention(const LinearAttentionConfig &c, unsigned seed,
                       const std::vector<int64_t> &offsets = {},
                       Target target = Target::CPU) {
  LARun run;
  std::mt19937 rng(seed);
  DType elt = *parseDType(c.elt);
  DType acc = *parseDType(test::accumulatorOf(c.elt));
  std::vector<OwnedTensor> inputs;
  auto random = [&](DType dt, std::vector<int64_t> shape, double lo, double hi,
                    std::vector<double> &values) {
    OwnedTensor t(dt, shape);
    std::uniform_real_distribution<double> d(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) {
      t.setFromDouble(i, d(rng));
      values.push_back(t.getAsDouble(i));
    }
    inputs.push_back(std::move(t));
  };
  ref::LinearAttentionProblem p;
  p.batch = c.batch, p.heads = c.heads, p.seqLen = c.seqLen;
  p.keyDim = c.keyDim, p.valueDim = c.valueDim, p.scale = c.scale;
  p.normalize = c.normalize;
  p.featureMap = c.featureMap == "relu"
                     ? ref::LinearAttentionProblem::FeatureMap::Relu
                 : c.featureMap == "elu_plus_one"
                     ? ref::LinearAttentionProblem::FeatureMap::EluPlusOne
                     : ref::LinearAttentionProblem::FeatureMap::Identity;
  // Normalised attention needs positive features to keep z.q away from 0.
  double lo = c.normalize ? 0.1 : -1;
  random(elt, {c.batch, c.heads, c.seqLen, c.keyDim}, lo, 1, p.q);
  random(elt, {c.batch, c.heads, c.seqLen, c.keyDim}, lo, 1, p.k);
  random(elt, {c.batch, c.heads, c.seqLen, c.valueDim}, -1, 1, p.v);
  if (c.gate == 1)
    random(acc, {c.batch, c.heads, c.seqLen}, c.weakGate ? -0.005 : -0.5, 0, p.gate);
  if (c.gate == 2) {
    random(acc, {c.batch, c.heads, c.seqLen, c.keyDim}, c.weakGate ? -0.005 : -0.5, 0, p.gate);
    p.gatePerKey = true;
  }
  const int64_t S = c.sequences ? c.sequences : c.batch;
  if (c.hasH0)
    random(acc, {S, c.heads, c.keyDim, c.valueDim}, -1, 1, p.h0);
  if (c.sequences) {
    OwnedTensor cu(DType::I64, {c.sequences + 1});
    for (int64_t i = 0; i <= c.sequences; ++i)
      cu.as<int64_t>()[i] = offsets[i];
    p.cuSeqlens = offsets;
    inputs.push_back(std::move(cu));
  }
  JitOptions options;
  options.target = target;
  auto jit = Jit::compile(test::linearAttentionProgram(c), options);
  if (!jit) {
    run.error = llvm::toString(jit.takeError());
    return run;
  }
  std::vector<Tensor> views;
  for (OwnedTensor &t : inputs)
    views.push_back(t.view());
  auto results = (*jit)->run("main", views);
  if (!results) {
    run.error = llvm::toString(results.takeError());
    return run;
  }
  run.results = std::move(*results);
  run.reference = ref::linearAttention(p);
  return run;
}

double maxError(const OwnedTensor &got, const std::vector<double> &want,
                double *scale) {
  double err = 0;
  *scale = 1;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.getAsDouble(i);
    err = std::isnan(g) ? INFINITY : std::max(err, std::fabs(g - want[i]));
    *scale = std::max(*scale, std::fabs(want[i]));
  }
  return err;
}

void expectMatches(const LARun &r, const LinearAttentionConfig &c, double rtol) {
  ASSERT_TRUE(r.error.empty()) << r.error;
  double scale;
  EXPECT_LE(maxError(r.results[0], r.reference.out, &scale), rtol * scale);
  if (c.finalState) {
    ASSERT_EQ(r.results.size(), 2u);
    EXPECT_LE(maxError(r.results[1], r.reference.finalState, &scale),
              rtol * scale);
  }
}

LinearAttentionConfig cfg(int64_t B, int64_t H, int64_t L, int64_t K,
                          int64_t V) {
  LinearAttentionConfig c;
  c.batch = B, c.heads = H, c.seqLen = L, c.keyDim = K, c.valueDim = V;
  return c;
}

class LinearAttentionShapes
    : public ::testing::TestWithParam<LinearAttentionConfig> {};

TEST_P(LinearAttentionShapes, MatchesDoubleReference) {
  expectMatches(runLinearAttention(GetParam(), 21), GetParam(), 1e-4);
}

LinearAttentionConfig with(LinearAttentionConfig c,
                           const std::function<void(LinearAttentionConfig &)> &f) {
  f(c);
  return c;
}

/// The same shapes on the CUDA target; skipped without a driver.
class LinearAttentionShapesOnGPU : public LinearAttentionShapes {};

TEST_P(LinearAttentionShapesOnGPU, MatchesDoubleReference) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  expectMatches(runLinearAttention(GetParam(), 21, {}, Target::CUDA),
                GetParam(), 1e-4);
}

/// The same kernels on the GPU emulator.
class LinearAttentionShapesOnGPUEmulator : public LinearAttentionShapes {};

TEST_P(LinearAttentionShapesOnGPUEmulator, MatchesDoubleReference) {
  expectMatches(runLinearAttention(GetParam(), 21, {}, Target::GPUEmulator),
                GetParam(), 1e-4);
}

const auto kShapes = ::testing::Values(
        cfg(1, 1, 1, 1, 1),
        cfg(2, 3, 17, 8, 16),  // default scale K^-1/2
        cfg(1, 2, 13, 5, 19),  // V with a masked tail, odd K
        with(cfg(2, 2, 11, 6, 20), [](auto &c) { c.gate = 1; c.hasH0 = c.finalState = true; }),
        with(cfg(1, 2, 9, 7, 33), [](auto &c) { c.gate = 2; c.finalState = true; c.scale = 1.0; }),
        with(cfg(1, 1, 12, 4, 8), [](auto &c) { c.featureMap = "elu_plus_one"; c.normalize = true; }),
        with(cfg(2, 1, 10, 4, 8), [](auto &c) { c.featureMap = "relu"; c.gate = 1; }),
        with(cfg(1, 2, 10, 4, 18), [](auto &c) { c.featureMap = "elu_plus_one"; c.normalize = true; c.gate = 2; }),
        with(cfg(1, 1, 9, 3, 5), [](auto &c) { c.normalize = true; c.gate = 1; c.hasH0 = true; }),
        with(cfg(1, 2, 15, 6, 10), [](auto &c) { c.dynamic = true; c.gate = 2; c.finalState = true; }),
        with(cfg(1, 2, 0, 4, 4), [](auto &c) { c.finalState = true; c.hasH0 = true; }),
        // elu + 1 without normalisation, K not a multiple of the lanes: the
        // chunked kernel's masked key lanes (phi(0) = 1) must not count.
        with(cfg(1, 2, 13, 5, 7), [](auto &c) { c.featureMap = "elu_plus_one"; c.gate = 1; }),
        with(cfg(2, 1, 11, 9, 6), [](auto &c) { c.featureMap = "elu_plus_one"; c.gate = 2; c.hasH0 = c.finalState = true; }));

std::string shapeName(const ::testing::TestParamInfo<LinearAttentionConfig> &info) {
      const LinearAttentionConfig &c = info.param;
      return "B" + std::to_string(c.batch) + "_H" + std::to_string(c.heads) +
             "_L" + std::to_string(c.seqLen) + "_K" + std::to_string(c.keyDim) +
             "_V" + std::to_string(c.valueDim) + "_g" + std::to_string(c.gate) +
             "_" + c.featureMap + (c.normalize ? "_norm" : "") +
             (c.dynamic ? "_dyn" : "");
}

INSTANTIATE_TEST_SUITE_P(Shapes, LinearAttentionShapes, kShapes, shapeName);
INSTANTIATE_TEST_SUITE_P(Shapes, LinearAttentionShapesOnGPU, kShapes, shapeName);
INSTANTIATE_TEST_SUITE_P(Shapes, LinearAttentionShapesOnGPUEmulator, kShapes,
                         shapeName);

/// Longer sequences for the GPU kernel's shared-memory tiles: several tiles
/// with a partial last one (T = 32 at K = 16, 8 at K = 256 with per-key
/// gates), two blocks of value columns (V = 130).
const auto kTileShapes = ::testing::Values(
        with(cfg(1, 2, 75, 16, 130), [](auto &c) { c.gate = 1; c.hasH0 = c.finalState = true; }),
        with(cfg(1, 1, 21, 256, 3), [](auto &c) { c.gate = 2; c.finalState = true; }),
        with(cfg(2, 1, 40, 12, 9), [](auto &c) { c.featureMap = "elu_plus_one"; c.normalize = true; c.gate = 2; c.dynamic = true; }),
        // Long enough that the kernel splits L into chunk groups and scans
        // their states (per-key decays with the normaliser; a per-step gate
        // at K = 64 over 4 threads a column).
        with(cfg(1, 2, 400, 16, 20), [](auto &c) { c.featureMap = "elu_plus_one"; c.normalize = true; c.gate = 2; c.weakGate = true; c.hasH0 = c.finalState = true; }),
        with(cfg(1, 1, 300, 64, 8), [](auto &c) { c.gate = 1; c.weakGate = true; c.hasH0 = c.finalState = true; }),
        with(cfg(1, 1, 260, 8, 4), [](auto &c) { c.finalState = true; }),
        // One column, L = 1100: 16 chunk groups of 8 threads staging
        // per-step gates for tiles of more steps than that.
        with(cfg(1, 1, 1100, 4, 1), [](auto &c) { c.gate = 1; c.weakGate = true; c.finalState = true; }));
INSTANTIATE_TEST_SUITE_P(TileShapes, LinearAttentionShapesOnGPU, kTileShapes,
                         shapeName);
INSTANTIATE_TEST_SUITE_P(TileShapes, LinearAttentionShapesOnGPUEmulator,
                         kTileShapes, shapeName);

TEST(LinearAttentionNumerics, EveryKeySizeKindOnTheEmulator) {
  // K = 1, a prime below the 128 threads of a block (127), primes above it
  // (131, 199, 251: the last slice of a column's state is padded) and the
  // largest K (256), with per-key gates, the normaliser and h0.
  for (int64_t k : {1, 127, 131, 199, 251, 256}) {
    SCOPED_TRACE("K = " + std::to_string(k));
    LinearAttentionConfig c = cfg(1, 2, 19, k, 3);
    c.gate = 2;
    c.hasH0 = c.finalState = true;
    expectMatches(runLinearAttention(c, 40 + unsigned(k), {}, Target::GPUEmulator), c, 1e-4);
    LinearAttentionConfig n = cfg(1, 1, 17, k, 2);
    n.featureMap = "elu_plus_one";
    n.normalize = true;
    n.gate = 1;
    expectMatches(runLinearAttention(n, 50 + unsigned(k), {}, Target::GPUEmulator), n, 1e-4);
  }
  // K = 131 over chunk groups (a long sequence, one column).
  LinearAttentionConfig c = cfg(1, 1, 300, 131, 1);
  c.gate = 2;
  c.weakGate = true;
  c.hasH0 = c.finalState = true;
  expectMatches(runLinearAttention(c, 60, {}, Target::GPUEmulator), c, 1e-4);
}

TEST(LinearAttentionNumerics, PackedSequencesRestartTheState) {
  LinearAttentionConfig c = cfg(1, 2, 20, 4, 6);
  c.sequences = 3;
  c.gate = 1;
  c.hasH0 = c.finalState = true;
  // Lengths 7, 0 (an empty sequence) and 13.
  expectMatches(runLinearAttention(c, 5, {0, 7, 7, 20}), c, 1e-4);
  c.dynamic = true;
  expectMatches(runLinearAttention(c, 6, {0, 1, 19, 20}), c, 1e-4);
  // Key gates, elu + 1 and normalisation across chunk boundaries (chunks of
  // 4 steps, then single steps) in every sequence.
  c.dynamic = false;
  c.gate = 2;
  c.featureMap = "elu_plus_one";
  c.normalize = true;
  expectMatches(runLinearAttention(c, 7, {0, 9, 10, 20}), c, 1e-4);
}

TEST(LinearAttentionNumerics, BadPackedOffsetsAreRunTimeErrors) {
  LinearAttentionConfig c = cfg(1, 1, 8, 2, 2);
  c.sequences = 2;
  for (std::vector<int64_t> bad : {std::vector<int64_t>{0, 5, 3},
                                   std::vector<int64_t>{0, 3, 9},
                                   std::vector<int64_t>{1, 3, 8}}) {
    LARun r = runLinearAttention(c, 1, bad);
    EXPECT_NE(r.error.find("'cu_seqlens' must start at 0, never decrease and "
                           "end at L"),
              std::string::npos)
        << r.error;
  }
}

TEST(LinearAttentionNumerics, BF16InputsWithF32State) {
  LinearAttentionConfig c = cfg(1, 2, 24, 8, 16);
  c.elt = "bf16";
  c.gate = 1;
  expectMatches(runLinearAttention(c, 9), c, 1e-2);
}

TEST(LinearAttentionNumerics, F64ToF64Precision) {
  LinearAttentionConfig c = cfg(1, 2, 14, 5, 7);
  c.elt = "f64";
  c.gate = 2;
  c.featureMap = "elu_plus_one";
  c.finalState = true;
  expectMatches(runLinearAttention(c, 10), c, 1e-10);
}

} // namespace
