//===- StepTest.cpp - token-by-token decoding equals the sequence ops -----===//
//
// Each decode-step op, called once per token with its state (or KV cache)
// carried from call to call, must reproduce the whole-sequence double
// reference at every step: selective_scan_step vs ref::selectiveScan,
// linear_attention_step vs ref::linearAttention, attention_step vs causal
// (windowed) ref::attention. Each runs on the CPU target and on the CUDA
// target (skipped without a driver; ctest's fakecuda.kernels_vs_reference
// runs it over the test driver's host twins).
//
//===----------------------------------------------------------------------===//

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/Reference.h"
#include "test/lib/RunProgram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <utility>

using namespace ssmc;
using test::compileOrFail;
using test::randomValues;
using test::tensorOf;

namespace {

/// The decode steps on one target.
class DecodeSteps : public ::testing::TestWithParam<Target> {
protected:
  void SetUp() override {
    if (GetParam() == Target::CUDA)
      if (llvm::Error e = cuda::available())
        GTEST_SKIP() << llvm::toString(std::move(e));
  }
};

TEST_P(DecodeSteps, SelectiveScanStepReproducesTheSequence) {
  const int64_t B = 2, Dm = 20, N = 16, L = 9;
  std::mt19937 rng(1);
  ref::SelectiveScanProblem p;
  p.batch = B, p.channels = Dm, p.seqLen = L, p.stateSize = N;
  p.deltaSoftplus = true;
  p.u = randomValues(rng, B * Dm * L, -1, 1);
  p.delta = randomValues(rng, B * Dm * L, -3, 1);
  p.A = randomValues(rng, Dm * N, -4, -0.1);
  p.B = randomValues(rng, B * N * L, -1, 1);
  p.C = randomValues(rng, B * N * L, -1, 1);
  p.D = randomValues(rng, Dm, -1, 1);
  p.z = randomValues(rng, B * Dm * L, -2, 2);
  ref::SelectiveScanResult want = ref::selectiveScan(p);

  auto jit = compileOrFail(R"mlir(
func.func @step(%u: tensor<2x20xf32>, %dt: tensor<2x20xf32>, %A: tensor<20x16xf32>,
                %B: tensor<2x16xf32>, %C: tensor<2x16xf32>, %h: tensor<2x20x16xf32>,
                %D: tensor<20xf32>, %z: tensor<2x20xf32>) -> (tensor<2x20xf32>, tensor<2x20x16xf32>) {
  %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %C, %h D(%D) z(%z) delta_softplus
      : (tensor<2x20xf32>, tensor<2x20xf32>, tensor<20x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>,
         tensor<2x20x16xf32>, tensor<20xf32>, tensor<2x20xf32>) -> (tensor<2x20xf32>, tensor<2x20x16xf32>)
  return %y, %h1 : tensor<2x20xf32>, tensor<2x20x16xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor A = tensorOf({Dm, N}, p.A), D = tensorOf({Dm}, p.D);
  OwnedTensor state(DType::F32, {B, Dm, N});
  double err = 0;
  for (int64_t t = 0; t < L; ++t) {
    auto column = [&](const std::vector<double> &x, int64_t rows, int64_t len) {
      std::vector<double> c(rows);
      for (int64_t r = 0; r < rows; ++r)
        c[r] = x[r * len + t];
      return c;
    };
    OwnedTensor u = tensorOf({B, Dm}, column(p.u, B * Dm, L));
    OwnedTensor dt = tensorOf({B, Dm}, column(p.delta, B * Dm, L));
    OwnedTensor bt = tensorOf({B, N}, column(p.B, B * N, L));
    OwnedTensor ct = tensorOf({B, N}, column(p.C, B * N, L));
    OwnedTensor zt = tensorOf({B, Dm}, column(p.z, B * Dm, L));
    auto r = jit->run("step", {u.view(), dt.view(), A.view(), bt.view(),
                               ct.view(), state.view(), D.view(), zt.view()});
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    for (int64_t i = 0; i < B * Dm; ++i)
      err = std::max(err, std::fabs((*r)[0].getAsDouble(i) - want.out[i * L + t]));
    state = std::move((*r)[1]);
  }
  EXPECT_LE(err, 1e-4);
  for (int64_t i = 0; i < B * Dm * N; ++i)
    ASSERT_NEAR(state.getAsDouble(i), want.finalState[i], 1e-4);
}

TEST_P(DecodeSteps, SSDStepReproducesTheSequence) {
  const int64_t B = 1, L = 7, H = 4, P = 18, G = 2, N = 6;
  std::mt19937 rng(9);
  ref::SSDProblem p;
  p.batch = B, p.seqLen = L, p.heads = H, p.headDim = P, p.groups = G;
  p.stateSize = N, p.dtSoftplus = true;
  p.x = randomValues(rng, B * L * H * P, -1, 1);
  p.dt = randomValues(rng, B * L * H, -3, 1);
  p.A = randomValues(rng, H, -4, -0.1);
  p.B = randomValues(rng, B * L * G * N, -1, 1);
  p.C = randomValues(rng, B * L * G * N, -1, 1);
  p.D = randomValues(rng, H, -1, 1);
  p.z = randomValues(rng, B * L * H * P, -2, 2);
  ref::SSDResult want = ref::ssd(p);
  auto jit = compileOrFail(R"mlir(
func.func @step(%x: tensor<1x4x18xf32>, %dt: tensor<1x4xf32>, %A: tensor<4xf32>, %B: tensor<1x2x6xf32>,
                %C: tensor<1x2x6xf32>, %h: tensor<1x4x18x6xf32>, %D: tensor<4xf32>, %z: tensor<1x4x18xf32>)
    -> (tensor<1x4x18xf32>, tensor<1x4x18x6xf32>) {
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %C, %h D(%D) z(%z) dt_softplus
      : (tensor<1x4x18xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1x2x6xf32>, tensor<1x2x6xf32>,
         tensor<1x4x18x6xf32>, tensor<4xf32>, tensor<1x4x18xf32>) -> (tensor<1x4x18xf32>, tensor<1x4x18x6xf32>)
  return %y, %h1 : tensor<1x4x18xf32>, tensor<1x4x18x6xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor A = tensorOf({H}, p.A), D = tensorOf({H}, p.D);
  OwnedTensor state(DType::F32, {B, H, P, N});
  double err = 0;
  for (int64_t t = 0; t < L; ++t) {
    auto slice = [&](const std::vector<double> &v, int64_t width) {
      return std::vector<double>(v.begin() + t * width, v.begin() + (t + 1) * width);
    };
    OwnedTensor x = tensorOf({B, H, P}, slice(p.x, H * P));
    OwnedTensor dt = tensorOf({B, H}, slice(p.dt, H));
    OwnedTensor bt = tensorOf({B, G, N}, slice(p.B, G * N));
    OwnedTensor ct = tensorOf({B, G, N}, slice(p.C, G * N));
    OwnedTensor zt = tensorOf({B, H, P}, slice(p.z, H * P));
    auto r = jit->run("step", {x.view(), dt.view(), A.view(), bt.view(), ct.view(),
                               state.view(), D.view(), zt.view()});
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    for (int64_t i = 0; i < H * P; ++i)
      err = std::max(err, std::fabs((*r)[0].getAsDouble(i) - want.out[t * H * P + i]));
    state = std::move((*r)[1]);
  }
  EXPECT_LE(err, 1e-4);
  for (int64_t i = 0; i < H * P * N; ++i)
    ASSERT_NEAR(state.getAsDouble(i), want.finalState[i], 1e-4);
}

TEST_P(DecodeSteps, SSDStepWithPeerOptionsReproducesTheSequence) {
  // Mamba-2 decoding as the peers run it: bf16 x, B, C and z next to f32
  // dt, A, D and dt_bias; D per head channel [H, P]; dt clamped to dt_limit
  // after bias and softplus. Tolerance: bf16 outputs (1e-2 relative).
  const int64_t B = 2, L = 6, H = 3, P = 5, G = 3, N = 7;
  std::mt19937 rng(19);
  ref::SSDProblem p;
  p.batch = B, p.seqLen = L, p.heads = H, p.headDim = P, p.groups = G;
  p.stateSize = N, p.dtSoftplus = true;
  p.dtLimit = std::make_pair(0.1, 0.7);
  // Low-precision inputs: the reference reads the rounded values.
  auto rounded = [](std::vector<double> v) {
    OwnedTensor t = tensorOf({int64_t(v.size())}, v, DType::BF16);
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = t.getAsDouble(i);
    return v;
  };
  // Sequence layouts [B, L, ...]; the steps read time slices of them.
  p.x = rounded(randomValues(rng, B * L * H * P, -1, 1));
  p.dt = randomValues(rng, B * L * H, -3, 1);
  p.A = randomValues(rng, H, -4, -0.1);
  p.B = rounded(randomValues(rng, B * L * G * N, -1, 1));
  p.C = rounded(randomValues(rng, B * L * G * N, -1, 1));
  p.D = randomValues(rng, H * P, -1, 1);
  p.z = rounded(randomValues(rng, B * L * H * P, -2, 2));
  p.dtBias = randomValues(rng, H, -1, 0.5);
  ref::SSDResult want = ref::ssd(p);
  auto jit = compileOrFail(R"mlir(
func.func @step(%x: tensor<2x3x5xbf16>, %dt: tensor<2x3xf32>, %A: tensor<3xf32>, %B: tensor<2x3x7xbf16>,
                %C: tensor<2x3x7xbf16>, %h: tensor<2x3x5x7xf32>, %D: tensor<3x5xf32>, %z: tensor<2x3x5xbf16>,
                %bias: tensor<3xf32>) -> (tensor<2x3x5xbf16>, tensor<2x3x5x7xf32>) {
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %C, %h D(%D) z(%z) dt_bias(%bias) dt_softplus
      {dt_limit = array<f64: 0.1, 0.7>}
      : (tensor<2x3x5xbf16>, tensor<2x3xf32>, tensor<3xf32>, tensor<2x3x7xbf16>, tensor<2x3x7xbf16>,
         tensor<2x3x5x7xf32>, tensor<3x5xf32>, tensor<2x3x5xbf16>, tensor<3xf32>)
      -> (tensor<2x3x5xbf16>, tensor<2x3x5x7xf32>)
  return %y, %h1 : tensor<2x3x5xbf16>, tensor<2x3x5x7xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor A = tensorOf({H}, p.A), D = tensorOf({H, P}, p.D);
  OwnedTensor bias = tensorOf({H}, p.dtBias);
  OwnedTensor state(DType::F32, {B, H, P, N});
  double err = 0, scale = 1;
  for (int64_t t = 0; t < L; ++t) {
    // Rows of width `w` at step t of every batch entry.
    auto slice = [&](const std::vector<double> &v, int64_t w) {
      std::vector<double> r;
      for (int64_t b = 0; b < B; ++b)
        r.insert(r.end(), v.begin() + (b * L + t) * w, v.begin() + (b * L + t + 1) * w);
      return r;
    };
    OwnedTensor x = tensorOf({B, H, P}, slice(p.x, H * P), DType::BF16);
    OwnedTensor dt = tensorOf({B, H}, slice(p.dt, H));
    OwnedTensor bt = tensorOf({B, G, N}, slice(p.B, G * N), DType::BF16);
    OwnedTensor ct = tensorOf({B, G, N}, slice(p.C, G * N), DType::BF16);
    OwnedTensor zt = tensorOf({B, H, P}, slice(p.z, H * P), DType::BF16);
    auto r = jit->run("step", {x.view(), dt.view(), A.view(), bt.view(), ct.view(),
                               state.view(), D.view(), zt.view(), bias.view()});
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    std::vector<double> w = slice(want.out, H * P);
    for (int64_t i = 0; i < B * H * P; ++i) {
      err = std::max(err, std::fabs((*r)[0].getAsDouble(i) - w[i]));
      scale = std::max(scale, std::fabs(w[i]));
    }
    state = std::move((*r)[1]);
  }
  EXPECT_LE(err, 1e-2 * scale);
  for (int64_t i = 0; i < B * H * P * N; ++i)
    ASSERT_NEAR(state.getAsDouble(i), want.finalState[i], 1e-4);
}

TEST_P(DecodeSteps, LinearAttentionStepReproducesTheSequence) {
  const int64_t B = 1, H = 2, L = 11, K = 8, V = 20;
  std::mt19937 rng(2);
  ref::LinearAttentionProblem p;
  p.batch = B, p.heads = H, p.seqLen = L, p.keyDim = K, p.valueDim = V;
  p.gatePerKey = true;
  p.featureMap = ref::LinearAttentionProblem::FeatureMap::EluPlusOne;
  p.q = randomValues(rng, B * H * L * K, -1, 1);
  p.k = randomValues(rng, B * H * L * K, -1, 1);
  p.v = randomValues(rng, B * H * L * V, -1, 1);
  p.gate = randomValues(rng, B * H * L * K, -0.5, 0);
  ref::LinearAttentionResult want = ref::linearAttention(p);
  auto jit = compileOrFail(R"mlir(
func.func @step(%q: tensor<1x2x8xf32>, %k: tensor<1x2x8xf32>, %v: tensor<1x2x20xf32>,
                %s: tensor<1x2x8x20xf32>, %g: tensor<1x2x8xf32>) -> (tensor<1x2x20xf32>, tensor<1x2x8x20xf32>) {
  %o, %s1 = ssm.linear_attention_step %q, %k, %v, %s gate(%g) {feature_map = #ssm.feature_map<elu_plus_one>}
      : (tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x20xf32>, tensor<1x2x8x20xf32>, tensor<1x2x8xf32>)
      -> (tensor<1x2x20xf32>, tensor<1x2x8x20xf32>)
  return %o, %s1 : tensor<1x2x20xf32>, tensor<1x2x8x20xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor state(DType::F32, {B, H, K, V});
  double err = 0;
  for (int64_t t = 0; t < L; ++t) {
    auto rows = [&](const std::vector<double> &x, int64_t width) {
      std::vector<double> r;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < width; ++i)
          r.push_back(x[(h * L + t) * width + i]);
      return r;
    };
    OwnedTensor q = tensorOf({B, H, K}, rows(p.q, K)), k = tensorOf({B, H, K}, rows(p.k, K));
    OwnedTensor v = tensorOf({B, H, V}, rows(p.v, V)), g = tensorOf({B, H, K}, rows(p.gate, K));
    auto r = jit->run("step", {q.view(), k.view(), v.view(), state.view(), g.view()});
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    std::vector<double> o = rows(want.out, V);
    for (int64_t i = 0; i < H * V; ++i)
      err = std::max(err, std::fabs((*r)[0].getAsDouble(i) - o[i]));
    state = std::move((*r)[1]);
  }
  EXPECT_LE(err, 1e-4);
  for (int64_t i = 0; i < H * K * V; ++i)
    ASSERT_NEAR(state.getAsDouble(i), want.finalState[i], 1e-4);
}

TEST_P(DecodeSteps, NormalizedLinearAttentionStepCarriesTheNormaliser) {
  // relu features, a per-step gate, K = 5 and V = 7 (masked lanes), h0 and
  // z0: the step's (state, z) carried from call to call must give the
  // sequence op's normalised outputs, eps = 1e-10 included, at every step.
  const int64_t B = 2, H = 3, L = 9, K = 5, V = 7;
  std::mt19937 rng(3);
  ref::LinearAttentionProblem p;
  p.batch = B, p.heads = H, p.seqLen = L, p.keyDim = K, p.valueDim = V;
  p.featureMap = ref::LinearAttentionProblem::FeatureMap::Relu;
  p.normalize = true;
  p.q = randomValues(rng, B * H * L * K, -0.2, 1);
  p.k = randomValues(rng, B * H * L * K, -0.2, 1);
  p.v = randomValues(rng, B * H * L * V, -1, 1);
  p.gate = randomValues(rng, B * H * L, -0.5, 0);
  p.h0 = randomValues(rng, B * H * K * V, -1, 1);
  p.z0 = randomValues(rng, B * H * K, 0.1, 1);
  ref::LinearAttentionResult want = ref::linearAttention(p);
  auto jit = compileOrFail(R"mlir(
func.func @step(%q: tensor<2x3x5xf32>, %k: tensor<2x3x5xf32>, %v: tensor<2x3x7xf32>,
                %s: tensor<2x3x5x7xf32>, %g: tensor<2x3xf32>, %z: tensor<2x3x5xf32>)
    -> (tensor<2x3x7xf32>, tensor<2x3x5x7xf32>, tensor<2x3x5xf32>) {
  %o, %s1, %z1 = ssm.linear_attention_step %q, %k, %v, %s gate(%g) z(%z) normalize
      {feature_map = #ssm.feature_map<relu>}
      : (tensor<2x3x5xf32>, tensor<2x3x5xf32>, tensor<2x3x7xf32>, tensor<2x3x5x7xf32>,
         tensor<2x3xf32>, tensor<2x3x5xf32>)
      -> (tensor<2x3x7xf32>, tensor<2x3x5x7xf32>, tensor<2x3x5xf32>)
  return %o, %s1, %z1 : tensor<2x3x7xf32>, tensor<2x3x5x7xf32>, tensor<2x3x5xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor state = tensorOf({B, H, K, V}, p.h0);
  OwnedTensor z = tensorOf({B, H, K}, p.z0);
  double err = 0, scale = 1;
  for (int64_t t = 0; t < L; ++t) {
    // Step t of every (batch, head): rows of width `w` of a [B, H, L, w]
    // (or [B, H, L] when w = 1) array.
    auto rows = [&](const std::vector<double> &x, int64_t w) {
      std::vector<double> r;
      for (int64_t bh = 0; bh < B * H; ++bh)
        for (int64_t i = 0; i < w; ++i)
          r.push_back(x[(bh * L + t) * w + i]);
      return r;
    };
    OwnedTensor q = tensorOf({B, H, K}, rows(p.q, K)), k = tensorOf({B, H, K}, rows(p.k, K));
    OwnedTensor v = tensorOf({B, H, V}, rows(p.v, V)), g = tensorOf({B, H}, rows(p.gate, 1));
    auto r = jit->run("step", {q.view(), k.view(), v.view(), state.view(), g.view(), z.view()});
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    std::vector<double> o = rows(want.out, V);
    for (int64_t i = 0; i < B * H * V; ++i) {
      err = std::max(err, std::fabs((*r)[0].getAsDouble(i) - o[i]));
      scale = std::max(scale, std::fabs(o[i]));
    }
    state = std::move((*r)[1]);
    z = std::move((*r)[2]);
  }
  EXPECT_LE(err, 1e-4 * scale);
  for (int64_t i = 0; i < B * H * K * V; ++i)
    ASSERT_NEAR(state.getAsDouble(i), want.finalState[i], 1e-4);
  for (int64_t i = 0; i < B * H * K; ++i)
    ASSERT_NEAR(z.getAsDouble(i), want.finalZ[i], 1e-4 * std::max(1.0, std::fabs(want.finalZ[i])));
}

TEST_P(DecodeSteps, AttentionStepWithACacheReproducesCausalAttention) {
  const int64_t H = 4, Hkv = 2, L = 10, C = 16, d = 8;
  for (int64_t window : {0, 3}) {
    std::mt19937 rng(3 + window);
    ref::AttentionProblem p;
    p.heads = H, p.kvHeads = Hkv, p.queryLen = L, p.keyLen = L;
    p.headDim = d, p.valueDim = d, p.causal = true, p.window = window;
    p.q = randomValues(rng, H * L * d, -2, 2);
    p.k = randomValues(rng, Hkv * L * d, -2, 2);
    p.v = randomValues(rng, Hkv * L * d, -2, 2);
    std::vector<double> want = ref::attention(p);
    std::string attrs = window ? " {window = " + std::to_string(window) + " : i64}" : "";
    auto jit = compileOrFail(R"mlir(
func.func @step(%q: tensor<1x4x8xf32>, %k: tensor<1x2x8xf32>, %v: tensor<1x2x8xf32>,
                %kc: tensor<1x2x16x8xf32>, %vc: tensor<1x2x16x8xf32>, %pos: index)
    -> (tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>) {
  %o, %k1, %v1 = ssm.attention_step %q, %k, %v, %kc, %vc, %pos)mlir" + attrs + R"mlir(
      : (tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x16x8xf32>,
         tensor<1x2x16x8xf32>, index) -> (tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>)
  return %o, %k1, %v1 : tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>
}
)mlir", GetParam());
    ASSERT_TRUE(jit);
    OwnedTensor kc(DType::F32, {1, Hkv, C, d}), vc(DType::F32, {1, Hkv, C, d});
    double err = 0;
    for (int64_t t = 0; t < L; ++t) {
      auto rows = [&](const std::vector<double> &x, int64_t heads) {
        std::vector<double> r;
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t i = 0; i < d; ++i)
            r.push_back(x[(h * L + t) * d + i]);
        return r;
      };
      OwnedTensor q = tensorOf({1, H, d}, rows(p.q, H));
      OwnedTensor k = tensorOf({1, Hkv, d}, rows(p.k, Hkv));
      OwnedTensor v = tensorOf({1, Hkv, d}, rows(p.v, Hkv));
      OwnedTensor pos(DType::I64, {});
      pos.as<int64_t>()[0] = t;
      auto r = jit->run("step", {q.view(), k.view(), v.view(), kc.view(), vc.view(), pos.view()});
      ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
      std::vector<double> o = rows(want, H);
      for (int64_t i = 0; i < H * d; ++i)
        err = std::max(err, std::fabs((*r)[0].getAsDouble(i) - o[i]));
      // The new caches are written into the caller's buffers: the compiled
      // step allocates nothing the size of a cache. (On the CUDA target the
      // staging of the cache's strided views takes host copies.)
      if (GetParam() == Target::CPU)
        EXPECT_LT(jit->lastCallPeakHeapBytes(), size_t(Hkv * C * d * 4));
      kc = std::move((*r)[1]);
      vc = std::move((*r)[2]);
    }
    EXPECT_LE(err, 1e-4) << "window " << window;
    // A full cache is a run-time error, not a write past its end.
    OwnedTensor q(DType::F32, {1, H, d}), k(DType::F32, {1, Hkv, d});
    OwnedTensor pos(DType::I64, {});
    pos.as<int64_t>()[0] = C;
    auto full = jit->run("step", {q.view(), k.view(), k.view(), kc.view(), vc.view(), pos.view()});
    ASSERT_FALSE(full);
    EXPECT_NE(llvm::toString(full.takeError())
                  .find("'position' must be below the cache capacity C "
                        "(reported: position, C) (got 16, expected 16)"),
              std::string::npos);
  }
}

TEST_P(DecodeSteps, RingCacheIsASlidingWindow) {
  // A ring cache of C = 3 slots, run for 10 tokens, must equal causal
  // attention with window 3 at every step (memory stays 3 slots).
  const int64_t H = 2, L = 10, C = 3, d = 4;
  std::mt19937 rng(41);
  ref::AttentionProblem p;
  p.heads = H, p.kvHeads = H, p.queryLen = L, p.keyLen = L;
  p.headDim = d, p.valueDim = d, p.causal = true, p.window = C;
  p.q = randomValues(rng, H * L * d, -2, 2);
  p.k = randomValues(rng, H * L * d, -2, 2);
  p.v = randomValues(rng, H * L * d, -2, 2);
  std::vector<double> want = ref::attention(p);
  auto jit = compileOrFail(R"mlir(
func.func @step(%q: tensor<1x2x4xf32>, %k: tensor<1x2x4xf32>, %v: tensor<1x2x4xf32>,
                %kc: tensor<1x2x3x4xf32>, %vc: tensor<1x2x3x4xf32>, %pos: index)
    -> (tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) {
  %o, %k1, %v1 = ssm.attention_step %q, %k, %v, %kc, %vc, %pos {ring}
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x3x4xf32>,
         tensor<1x2x3x4xf32>, index) -> (tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o, %k1, %v1 : tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor kc(DType::F32, {1, H, C, d}), vc(DType::F32, {1, H, C, d});
  double err = 0;
  for (int64_t t = 0; t < L; ++t) {
    auto rows = [&](const std::vector<double> &x) {
      std::vector<double> r;
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < d; ++i)
          r.push_back(x[(h * L + t) * d + i]);
      return r;
    };
    OwnedTensor q = tensorOf({1, H, d}, rows(p.q));
    OwnedTensor k = tensorOf({1, H, d}, rows(p.k));
    OwnedTensor v = tensorOf({1, H, d}, rows(p.v));
    OwnedTensor pos(DType::I64, {});
    pos.as<int64_t>()[0] = t;
    auto r = jit->run("step", {q.view(), k.view(), v.view(), kc.view(), vc.view(), pos.view()});
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    std::vector<double> o = rows(want);
    for (int64_t i = 0; i < H * d; ++i)
      err = std::max(err, std::fabs((*r)[0].getAsDouble(i) - o[i]));
    kc = std::move((*r)[1]);
    vc = std::move((*r)[2]);
  }
  EXPECT_LE(err, 1e-4);
}

/// Continuous batching: a position per batch entry (flash_attn_with_kvcache's
/// cache_seqlens), entries with different prefixes already cached, with a
/// window, softcap, ALiBi slopes [B, H] and sinks; and a ring cache with a
/// position per entry. Each entry's outputs are rows of causal attention
/// over its own sequence.
void checkPositionPerEntry(Target target) {
  const int64_t B = 3, H = 4, Hkv = 2, d = 8, N = 6;
  const std::vector<int64_t> prefix = {0, 5, 2};
  for (bool ring : {false, true}) {
    const int64_t C = ring ? 3 : 16;
    std::mt19937 rng(ring ? 61 : 60);
    std::vector<ref::AttentionProblem> seqs(B);
    std::vector<std::vector<double>> want(B);
    std::vector<double> slopes = randomValues(rng, B * H, 0.1, 0.9);
    std::vector<double> sinks = randomValues(rng, H, -1, 2);
    for (int64_t b = 0; b < B; ++b) {
      ref::AttentionProblem &p = seqs[b];
      const int64_t L = prefix[b] + N;
      p.heads = H, p.kvHeads = Hkv, p.queryLen = L, p.keyLen = L;
      p.headDim = d, p.valueDim = d, p.causal = true;
      p.window = ring ? C : 4;
      p.softcap = 2.0;
      p.sinks = sinks;
      if (!ring)
        p.alibiSlopes.assign(slopes.begin() + b * H, slopes.begin() + (b + 1) * H);
      p.q = randomValues(rng, H * L * d, -2, 2);
      p.k = randomValues(rng, Hkv * L * d, -2, 2);
      p.v = randomValues(rng, Hkv * L * d, -2, 2);
      want[b] = ref::attention(p);
    }
    std::string cache = "tensor<3x2x" + std::to_string(C) + "x8xf32>";
    std::string extra = ring ? "" : " alibi_slopes(%al)";
    std::string extraArg = ring ? "" : ", %al: tensor<3x4xf32>";
    std::string extraTy = ring ? "" : ", tensor<3x4xf32>";
    std::string attrs = ring ? "{ring, softcap = 2.0}" : "{window = 4 : i64, softcap = 2.0}";
    auto jit = compileOrFail(R"mlir(
func.func @step(%q: tensor<3x4x8xf32>, %k: tensor<3x2x8xf32>, %v: tensor<3x2x8xf32>,
                %kc: )mlir" + cache + ", %vc: " + cache + R"mlir(, %pos: tensor<3xi32>)mlir" +
                                 extraArg + R"mlir(, %sk: tensor<4xf32>)
    -> (tensor<3x4x8xf32>, )mlir" + cache + ", " + cache + R"mlir() {
  %o, %k1, %v1 = ssm.attention_step %q, %k, %v, %kc, %vc positions(%pos))mlir" + extra +
                                 " sinks(%sk) " + attrs + R"mlir(
      : (tensor<3x4x8xf32>, tensor<3x2x8xf32>, tensor<3x2x8xf32>, )mlir" + cache + ", " + cache +
                                 ", tensor<3xi32>" + extraTy + R"mlir(, tensor<4xf32>)
      -> (tensor<3x4x8xf32>, )mlir" + cache + ", " + cache + R"mlir()
  return %o, %k1, %v1 : tensor<3x4x8xf32>, )mlir" + cache + ", " + cache + R"mlir(
}
)mlir", target);
    ASSERT_TRUE(jit);
    OwnedTensor kc(DType::F32, {B, Hkv, C, d}), vc(DType::F32, {B, Hkv, C, d});
    // The cached prefixes (a ring holds the last C of them at slot s mod C).
    for (int64_t b = 0; b < B; ++b)
      for (int64_t s = 0; s < prefix[b]; ++s)
        for (int64_t hk = 0; hk < Hkv; ++hk)
          for (int64_t e = 0; e < d; ++e) {
            int64_t at = ((b * Hkv + hk) * C + s % C) * d + e;
            int64_t from = (hk * (prefix[b] + N) + s) * d + e;
            kc.setFromDouble(at, seqs[b].k[from]);
            vc.setFromDouble(at, seqs[b].v[from]);
          }
    OwnedTensor al = tensorOf({B, H}, slopes), sk = tensorOf({H}, sinks);
    double err = 0;
    for (int64_t t = 0; t < N; ++t) {
      OwnedTensor q(DType::F32, {B, H, d}), k(DType::F32, {B, Hkv, d}),
          v(DType::F32, {B, Hkv, d}), pos(DType::I32, {B});
      for (int64_t b = 0; b < B; ++b) {
        const int64_t L = prefix[b] + N, row = prefix[b] + t;
        pos.as<int32_t>()[b] = static_cast<int32_t>(row);
        for (int64_t h = 0; h < H; ++h)
          for (int64_t e = 0; e < d; ++e)
            q.setFromDouble((b * H + h) * d + e, seqs[b].q[(h * L + row) * d + e]);
        for (int64_t h = 0; h < Hkv; ++h)
          for (int64_t e = 0; e < d; ++e) {
            k.setFromDouble((b * Hkv + h) * d + e, seqs[b].k[(h * L + row) * d + e]);
            v.setFromDouble((b * Hkv + h) * d + e, seqs[b].v[(h * L + row) * d + e]);
          }
      }
      std::vector<Tensor> args = {q.view(), k.view(), v.view(), kc.view(), vc.view(), pos.view()};
      if (!ring)
        args.push_back(al.view());
      args.push_back(sk.view());
      auto r = jit->run("step", args);
      ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
      for (int64_t b = 0; b < B; ++b) {
        const int64_t L = prefix[b] + N, row = prefix[b] + t;
        for (int64_t h = 0; h < H; ++h)
          for (int64_t e = 0; e < d; ++e)
            err = std::max(err, std::fabs((*r)[0].getAsDouble((b * H + h) * d + e) -
                                          want[b][(h * L + row) * d + e]));
      }
      kc = std::move((*r)[1]);
      vc = std::move((*r)[2]);
    }
    EXPECT_LE(err, 1e-4) << (ring ? "ring" : "window");
    if (ring)
      continue;
    // A position past the cache is a run-time error naming 'positions'.
    OwnedTensor q(DType::F32, {B, H, d}), k(DType::F32, {B, Hkv, d}),
        pos(DType::I32, {B});
    pos.as<int32_t>()[1] = static_cast<int32_t>(C);
    auto full = jit->run("step", {q.view(), k.view(), k.view(), kc.view(),
                                  vc.view(), pos.view(), al.view(), sk.view()});
    ASSERT_FALSE(full);
    EXPECT_NE(llvm::toString(full.takeError()).find("'positions'"),
              std::string::npos);
  }
}
TEST_P(DecodeSteps, AttentionStepWithAPositionPerEntry) {
  checkPositionPerEntry(GetParam());
}
TEST(DecodeStepsOnTheEmulator, AttentionStepWithAPositionPerEntry) {
  checkPositionPerEntry(Target::GPUEmulator);
}

INSTANTIATE_TEST_SUITE_P(
    Targets, DecodeSteps, ::testing::Values(Target::CPU, Target::CUDA),
    [](const ::testing::TestParamInfo<Target> &info) {
      return std::string(info.param == Target::CUDA ? "CUDA" : "CPU");
    });

} // namespace
