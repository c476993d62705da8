//===- LinearAttentionTest.cpp - compiled linear attention vs reference ---===//
//
// ssm.linear_attention through ssm-cpu-pipeline and ssmc::Jit against
// ssmc::ref::linearAttention: every gate kind, feature map, normalisation,
// default and explicit scale, initial/final state, packed sequences,
// dynamic shapes, value widths that leave a masked tail, bf16 inputs; the
// normaliser's eps (flash-linear-attention's o / (q . z + eps)), its state
// in and out (a split run resumed equals the whole run), and right-to-left
// recurrences.
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/Reference.h"
#include "test/lib/RunProgram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <tuple>

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
    inputs.push_back(test::randomTensor(rng, dt, shape, lo, hi, values));
  };
  ref::LinearAttentionProblem p;
  p.batch = c.batch, p.heads = c.heads, p.seqLen = c.seqLen;
  p.keyDim = c.keyDim, p.valueDim = c.valueDim, p.scale = c.scale;
  p.normalize = c.normalize;
  p.reverse = c.reverse;
  if (c.eps >= 0)
    p.eps = c.eps;
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
  if (c.hasZ0)
    random(acc, {S, c.heads, c.keyDim}, 0.1, 2, p.z0);
  if (c.sequences) {
    OwnedTensor cu(DType::I64, {c.sequences + 1});
    for (int64_t i = 0; i <= c.sequences; ++i)
      cu.as<int64_t>()[i] = offsets[i];
    p.cuSeqlens = offsets;
    inputs.push_back(std::move(cu));
  }
  auto results =
      test::runProgram(test::linearAttentionProgram(c), inputs, target);
  if (!results) {
    run.error = llvm::toString(results.takeError());
    return run;
  }
  run.results = std::move(*results);
  run.reference = ref::linearAttention(p);
  return run;
}

/// `got` within rtol * max(1, max |want|) of `want`.
void expectWithin(const OwnedTensor &got, const std::vector<double> &want,
                  double rtol, const char *what) {
  auto [err, scale] = test::maxError(got, want);
  EXPECT_LE(err, rtol * scale) << what;
}

void expectMatches(const LARun &r, const LinearAttentionConfig &c, double rtol) {
  ASSERT_TRUE(r.error.empty()) << r.error;
  ASSERT_EQ(r.results.size(), 1u + c.finalState + c.finalZ);
  expectWithin(r.results[0], r.reference.out, rtol, "out");
  if (c.finalState)
    expectWithin(r.results[1], r.reference.finalState, rtol, "final state");
  if (c.finalZ)
    expectWithin(r.results[1 + c.finalState], r.reference.finalZ, rtol,
                 "final z");
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
        with(cfg(2, 1, 11, 9, 6), [](auto &c) { c.featureMap = "elu_plus_one"; c.gate = 2; c.hasH0 = c.finalState = true; }),
        // The normaliser's state in and out, eps, right-to-left steps.
        with(cfg(2, 3, 13, 5, 7), [](auto &c) { c.normalize = true; c.gate = 1; c.hasH0 = c.finalState = c.hasZ0 = c.finalZ = true; }),
        with(cfg(1, 2, 11, 6, 9), [](auto &c) { c.featureMap = "elu_plus_one"; c.normalize = true; c.gate = 2; c.finalZ = true; c.eps = 0.25; }),
        with(cfg(2, 2, 13, 5, 7), [](auto &c) { c.reverse = true; c.gate = 1; c.hasH0 = c.finalState = true; }),
        with(cfg(1, 3, 10, 7, 5), [](auto &c) { c.reverse = true; c.gate = 2; c.finalState = true; c.dynamic = true; }),
        with(cfg(2, 1, 9, 3, 6), [](auto &c) { c.reverse = true; c.featureMap = "relu"; c.normalize = true; c.gate = 2; c.hasH0 = c.finalState = c.hasZ0 = c.finalZ = true; }));

std::string shapeName(const ::testing::TestParamInfo<LinearAttentionConfig> &info) {
      const LinearAttentionConfig &c = info.param;
      return "B" + std::to_string(c.batch) + "_H" + std::to_string(c.heads) +
             "_L" + std::to_string(c.seqLen) + "_K" + std::to_string(c.keyDim) +
             "_V" + std::to_string(c.valueDim) + "_g" + std::to_string(c.gate) +
             "_" + c.featureMap + (c.normalize ? "_norm" : "") +
             (c.hasZ0 ? "_z0" : "") + (c.finalZ ? "_fz" : "") +
             (c.reverse ? "_rev" : "") + (c.dynamic ? "_dyn" : "");
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

TEST(LinearAttentionNumerics, PackedSequencesRunRightToLeftWithinThemselves) {
  LinearAttentionConfig c = cfg(1, 2, 20, 5, 6);
  c.sequences = 3;
  c.reverse = true;
  c.gate = 2;
  c.hasH0 = c.finalState = true;
  // Lengths 7, 0 and 13: each sequence from its last step to its first.
  expectMatches(runLinearAttention(c, 11, {0, 7, 7, 20}), c, 1e-4);
  c.featureMap = "elu_plus_one";
  c.normalize = c.hasZ0 = c.finalZ = true;
  c.gate = 1;
  c.dynamic = true;
  expectMatches(runLinearAttention(c, 12, {0, 1, 10, 20}), c, 1e-4);
}

OwnedTensor f32Tensor(std::vector<int64_t> shape, const std::vector<double> &v) {
  OwnedTensor t(DType::F32, shape);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.setFromDouble(i, v[i]);
  return t;
}

class LinearAttentionTargets : public ::testing::TestWithParam<Target> {};

TEST_P(LinearAttentionTargets, QueryWithNoSharedFeatureReadsOutZero) {
  // relu features, K = 2: at step 0 phi(q) = (1, 0) and phi(k) = (0, 1),
  // so q . z = 0 and the read-out is 0 / (0 + eps) = 0, as
  // flash-linear-attention's o / (q . z + 1e-10) gives (0 / 0 = NaN
  // without eps). Later steps share features and read out o / (q . z).
  const std::string src = R"mlir(
func.func @main(%q: tensor<1x1x3x2xf32>, %k: tensor<1x1x3x2xf32>, %v: tensor<1x1x3x3xf32>)
    -> tensor<1x1x3x3xf32> {
  %o = ssm.linear_attention %q, %k, %v normalize {feature_map = #ssm.feature_map<relu>, scale = 1.0 : f64}
      : (tensor<1x1x3x2xf32>, tensor<1x1x3x2xf32>, tensor<1x1x3x3xf32>) -> tensor<1x1x3x3xf32>
  return %o : tensor<1x1x3x3xf32>
}
)mlir";
  ref::LinearAttentionProblem p;
  p.seqLen = 3, p.keyDim = 2, p.valueDim = 3, p.scale = 1;
  p.featureMap = ref::LinearAttentionProblem::FeatureMap::Relu;
  p.normalize = true;
  p.q = {1, -1, 0.5, 0.5, -0.3, 2};
  p.k = {-1, 1, 1, 0.2, 0.4, -2};
  p.v = {1, 2, 3, -1, 0.5, 4, 2, -2, 1};
  std::vector<OwnedTensor> in;
  in.push_back(f32Tensor({1, 1, 3, 2}, p.q));
  in.push_back(f32Tensor({1, 1, 3, 2}, p.k));
  in.push_back(f32Tensor({1, 1, 3, 3}, p.v));
  auto r = test::runProgram(src, in, GetParam());
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  std::vector<double> want = ref::linearAttention(p).out;
  for (int64_t j = 0; j < 3; ++j)
    EXPECT_EQ((*r)[0].getAsDouble(j), 0.0) << "value " << j << " of step 0";
  for (int64_t i = 3; i < 9; ++i)
    EXPECT_NEAR((*r)[0].getAsDouble(i), want[i], 1e-5 * std::max(1.0, std::fabs(want[i])));
}

/// The whole run against the run split at step L1 and resumed from
/// (final_state, final_z): left part first, or with `reverse` the right
/// part first. B 2, H 2, L 13, K 5, V 7, elu + 1, per-step gate, h0, z0.
std::string splitProgram(bool reverse) {
  std::string rev = reverse ? " reverse" : "";
  auto la = [&](const std::string &res, const std::string &l, const std::string &args,
                const std::string &h0, const std::string &z0) {
    std::string L = l;
    return "  " + res + " = ssm.linear_attention " + args + " h0(" + h0 + ") z0(" + z0 +
           ") normalize" + rev + " {feature_map = #ssm.feature_map<elu_plus_one>} : "
           "(tensor<2x2x" + L + "x5xf32>, tensor<2x2x" + L + "x5xf32>, tensor<2x2x" + L +
           "x7xf32>, tensor<2x2x" + L + "xf32>, tensor<2x2x5x7xf32>, tensor<2x2x5xf32>) -> "
           "(tensor<2x2x" + L + "x7xf32>, tensor<2x2x5x7xf32>, tensor<2x2x5xf32>)\n";
  };
  auto slice = [](const std::string &res, const std::string &x, int64_t w,
                  int64_t from, int64_t len) {
    std::string full = w ? "tensor<2x2x13x" + std::to_string(w) + "xf32>" : "tensor<2x2x13xf32>";
    std::string part = w ? "tensor<2x2x" + std::to_string(len) + "x" + std::to_string(w) + "xf32>"
                         : "tensor<2x2x" + std::to_string(len) + "xf32>";
    std::string offs = "[0, 0, " + std::to_string(from) + (w ? ", 0]" : "]");
    std::string sizes = "[2, 2, " + std::to_string(len) + (w ? ", " + std::to_string(w) + "]" : "]");
    std::string strides = w ? "[1, 1, 1, 1]" : "[1, 1, 1]";
    return "  " + res + " = tensor.extract_slice " + x + offs + " " + sizes + " " + strides +
           " : " + full + " to " + part + "\n";
  };
  std::string s =
      "func.func @main(%q: tensor<2x2x13x5xf32>, %k: tensor<2x2x13x5xf32>, "
      "%v: tensor<2x2x13x7xf32>, %g: tensor<2x2x13xf32>, %h0: tensor<2x2x5x7xf32>, "
      "%z0: tensor<2x2x5xf32>) -> (tensor<2x2x13x7xf32>, tensor<2x2x5x7xf32>, "
      "tensor<2x2x5xf32>, tensor<2x2x6x7xf32>, tensor<2x2x7x7xf32>, "
      "tensor<2x2x5x7xf32>, tensor<2x2x5xf32>) {\n";
  s += la("%o, %s, %z", "13", "%q, %k, %v gate(%g)", "%h0", "%z0");
  // Steps [0, 6) and [6, 13).
  for (auto [suffix, from, len] : {std::tuple{"a", 0, 6}, std::tuple{"b", 6, 7}}) {
    std::string x = suffix;
    s += slice("%q" + x, "%q", 5, from, len) + slice("%k" + x, "%k", 5, from, len) +
         slice("%v" + x, "%v", 7, from, len) + slice("%g" + x, "%g", 0, from, len);
  }
  // The part that runs first starts from (h0, z0), the other resumes.
  std::string first = reverse ? "b" : "a", second = reverse ? "a" : "b";
  std::string l1 = reverse ? "7" : "6", l2 = reverse ? "6" : "7";
  s += la("%o1, %s1, %z1", l1, "%q" + first + ", %k" + first + ", %v" + first + " gate(%g" + first + ")", "%h0", "%z0");
  s += la("%o2, %s2, %z2", l2, "%q" + second + ", %k" + second + ", %v" + second + " gate(%g" + second + ")", "%s1", "%z1");
  // Results: the whole run, then steps [0, 6) and [6, 13) of the split run
  // and its final states.
  std::string oa = reverse ? "%o2" : "%o1", ob = reverse ? "%o1" : "%o2";
  s += "  return %o, %s, %z, " + oa + ", " + ob + ", %s2, %z2 : tensor<2x2x13x7xf32>, "
       "tensor<2x2x5x7xf32>, tensor<2x2x5xf32>, tensor<2x2x6x7xf32>, tensor<2x2x7x7xf32>, "
       "tensor<2x2x5x7xf32>, tensor<2x2x5xf32>\n}\n";
  return s;
}

void expectSplitRunResumes(bool reverse, Target target) {
  std::mt19937 rng(reverse ? 31 : 30);
  auto random = [&](size_t n, double lo, double hi) {
    return test::randomValues(rng, n, lo, hi);
  };
  ref::LinearAttentionProblem p;
  p.batch = 2, p.heads = 2, p.seqLen = 13, p.keyDim = 5, p.valueDim = 7;
  p.featureMap = ref::LinearAttentionProblem::FeatureMap::EluPlusOne;
  p.normalize = true;
  p.reverse = reverse;
  p.q = random(2 * 2 * 13 * 5, -1, 1);
  p.k = random(2 * 2 * 13 * 5, -1, 1);
  p.v = random(2 * 2 * 13 * 7, -1, 1);
  p.gate = random(2 * 2 * 13, -0.5, 0);
  p.h0 = random(2 * 2 * 5 * 7, -1, 1);
  p.z0 = random(2 * 2 * 5, 0.1, 2);
  std::vector<OwnedTensor> in;
  in.push_back(f32Tensor({2, 2, 13, 5}, p.q));
  in.push_back(f32Tensor({2, 2, 13, 5}, p.k));
  in.push_back(f32Tensor({2, 2, 13, 7}, p.v));
  in.push_back(f32Tensor({2, 2, 13}, p.gate));
  in.push_back(f32Tensor({2, 2, 5, 7}, p.h0));
  in.push_back(f32Tensor({2, 2, 5}, p.z0));
  auto r = test::runProgram(splitProgram(reverse), in, target);
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  ref::LinearAttentionResult want = ref::linearAttention(p);
  // The whole run against the reference.
  expectWithin((*r)[0], want.out, 1e-4, "out");
  expectWithin((*r)[1], want.finalState, 1e-4, "final state");
  expectWithin((*r)[2], want.finalZ, 1e-4, "final z");
  // The split run against the whole run.
  std::vector<double> whole, part;
  for (int64_t i = 0; i < (*r)[0].numel(); ++i)
    whole.push_back((*r)[0].getAsDouble(i));
  const OwnedTensor &oa = (*r)[3], &ob = (*r)[4];
  for (int64_t bh = 0; bh < 4; ++bh)
    for (int64_t t = 0; t < 13; ++t)
      for (int64_t j = 0; j < 7; ++j)
        part.push_back(t < 6 ? oa.getAsDouble((bh * 6 + t) * 7 + j)
                             : ob.getAsDouble((bh * 7 + t - 6) * 7 + j));
  double err = 0, big = 1;
  for (size_t i = 0; i < whole.size(); ++i) {
    err = std::isnan(part[i]) ? INFINITY : std::max(err, std::fabs(part[i] - whole[i]));
    big = std::max(big, std::fabs(whole[i]));
  }
  EXPECT_LE(err, 1e-4 * big);
  for (auto [split, full] : {std::pair{5, 1}, std::pair{6, 2}})
    for (int64_t i = 0; i < (*r)[full].numel(); ++i)
      EXPECT_NEAR((*r)[split].getAsDouble(i), (*r)[full].getAsDouble(i),
                  1e-4 * std::max(1.0, std::fabs((*r)[full].getAsDouble(i))));
}

TEST_P(LinearAttentionTargets, SplitRunResumedFromBothStatesEqualsTheWholeRun) {
  expectSplitRunResumes(/*reverse=*/false, GetParam());
}

TEST_P(LinearAttentionTargets, ReverseSplitRunResumedEqualsTheWholeRun) {
  expectSplitRunResumes(/*reverse=*/true, GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Targets, LinearAttentionTargets,
    ::testing::Values(Target::CPU, Target::GPUEmulator),
    [](const ::testing::TestParamInfo<Target> &info) {
      return std::string(info.param == Target::CPU ? "CPU" : "GPUEmulator");
    });

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
