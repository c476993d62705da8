//===- PeerOptionsTest.cpp - the peers' decode and packing arguments ------===//
//
// The arguments mamba_ssm and causal-conv1d users pass, compiled and run
// against the double references written from the peers' formulas:
// causal_conv1d_update (ssm.causal_conv1d_step: shift register, ring buffer
// with cache_seqlens, slot pool with conv_state_indices), the packed conv
// (cu_seqlens) and a packed Mamba-1 block against running each sequence
// alone, and selective_state_update's state_batch_indices on the
// selective_scan and ssd steps.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/Reference.h"
#include "test/lib/RunProgram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

using namespace ssmc;
using test::compileOrFail;
using test::maxError;
using test::randomValues;
using test::tensorOf;

namespace {

OwnedTensor indicesOf(const std::vector<int64_t> &v, DType dt = DType::I32) {
  OwnedTensor t(dt, {int64_t(v.size())});
  for (size_t i = 0; i < v.size(); ++i) {
    if (dt == DType::I32)
      t.as<int32_t>()[i] = static_cast<int32_t>(v[i]);
    else
      t.as<int64_t>()[i] = v[i];
  }
  return t;
}

std::vector<double> valuesOf(const OwnedTensor &t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = t.getAsDouble(i);
  return v;
}

/// `v` rounded through `dt` (what a low-precision input holds).
std::vector<double> rounded(std::vector<double> v, DType dt) {
  OwnedTensor t = tensorOf({int64_t(v.size())}, v, dt);
  return valuesOf(t);
}

/// The CPU loops, and the GPU pipeline on the emulator (kernels for the
/// sequence ops and the conv step; packed convs and the step ops' slot
/// gathers on the host).
class OnEveryTarget : public ::testing::TestWithParam<Target> {};

//===----------------------------------------------------------------------===//
// ssm.causal_conv1d_step
//===----------------------------------------------------------------------===//

/// One step at odd sizes against ref::causalConv1dStep for every form:
/// shift register (S = W - 1 and S > W - 1), ring buffer, slot pool with
/// padding, f32 weights next to bf16 inputs.
struct ConvStepCase {
  int64_t B, D, W, S, P; ///< P: pool slots (0: no conv_state_indices)
  bool ring, silu;
  std::string elt;
  /// The state's and the weight's and bias' element types.
  std::string stateElt = "f32", paramElt = "f32";
  /// The slots (default: a pattern with entry 1 padding).
  std::vector<int64_t> slots = {};
  bool bias = true;
  bool dynamic = false; ///< every dimension dynamic
};

void checkConvStep(const ConvStepCase &c, unsigned seed,
                   Target target = Target::CPU) {
  SCOPED_TRACE("conv step case of seed " + std::to_string(seed));
  using std::to_string;
  std::mt19937 rng(seed);
  const int64_t P = c.P ? c.P : c.B;
  DType xt = *parseDType(c.elt);
  auto ty = [&](std::vector<int64_t> shape, const std::string &e) {
    std::string s = "tensor<";
    for (int64_t d : shape)
      s += (c.dynamic ? std::string("?") : to_string(d)) + "x";
    return s + e + ">";
  };
  std::string tx = ty({c.B, c.D}, c.elt), ts = ty({P, c.D, c.S}, c.stateElt),
              tw = ty({c.D, c.W}, c.paramElt), tb = ty({c.D}, c.paramElt),
              ti = ty({c.B}, "i32");
  std::string args = "%x: " + tx + ", %s: " + ts + ", %w: " + tw;
  std::string types = tx + ", " + ts + ", " + tw;
  std::string extra;
  if (c.bias) {
    args += ", %b: " + tb;
    types += ", " + tb;
    extra = " bias(%b)";
  }
  if (c.ring) {
    args += ", %c: " + ti;
    types += ", " + ti;
    extra += " cache_seqlens(%c)";
  }
  if (c.P) {
    args += ", %i: " + ti;
    types += ", " + ti;
    extra += " conv_state_indices(%i)";
  }
  if (c.silu)
    extra += " silu";
  std::string src = "func.func @main(" + args + ") -> (" + tx + ", " + ts +
                    ") {\n  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w" +
                    extra + " : (" + types + ") -> (" + tx + ", " + ts +
                    ")\n  return %y, %s1 : " + tx + ", " + ts + "\n}\n";
  auto jit = compileOrFail(src, target);
  ASSERT_TRUE(jit);
  DType st = *parseDType(c.stateElt), pt = *parseDType(c.paramElt);
  std::vector<double> x = rounded(randomValues(rng, c.B * c.D, -1, 1), xt);
  std::vector<double> state =
      rounded(randomValues(rng, P * c.D * c.S, -1, 1), st);
  std::vector<double> w = rounded(randomValues(rng, c.D * c.W, -1, 1), pt);
  std::vector<double> bias = rounded(randomValues(rng, c.D, -0.5, 0.5), pt);
  std::vector<int64_t> seqlens, slots = c.slots;
  for (int64_t b = 0; b < c.B; ++b) {
    seqlens.push_back((b * 7 + 3) % 11); // positions below and above S
    if (c.P && c.slots.empty())
      slots.push_back(b == 1 ? -1 : (P - 1 - b * 2 + 4 * P) % P);
  }
  auto [want, wantState] = ref::causalConv1dStep(
      c.B, c.D, c.S, c.W, x, state, w, c.bias ? bias : std::vector<double>{},
      c.ring ? seqlens : std::vector<int64_t>{}, slots, c.silu);
  OwnedTensor tX = tensorOf({c.B, c.D}, x, xt),
              tS = tensorOf({P, c.D, c.S}, state, st),
              tW = tensorOf({c.D, c.W}, w, pt), tB = tensorOf({c.D}, bias, pt);
  OwnedTensor tC = indicesOf(seqlens), tI = indicesOf(slots);
  std::vector<Tensor> views = {tX.view(), tS.view(), tW.view()};
  if (c.bias)
    views.push_back(tB.view());
  if (c.ring)
    views.push_back(tC.view());
  if (c.P)
    views.push_back(tI.view());
  auto r = jit->run("main", views);
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  double scale = 1;
  for (double v : want)
    scale = std::max(scale, std::fabs(v));
  const double tol = (c.elt == "f32" ? 1e-5 : 1e-2) * scale;
  EXPECT_LE(maxError((*r)[0], want).first, tol) << "out";
  // The new state only moves inputs (exact up to their f32 storage).
  EXPECT_LE(maxError((*r)[1], wantState).first, 1e-7) << "new state";
}

/// Every form of the step on `target`: the shift register (S = W - 1 and
/// S > W - 1) and the ring buffer, with and without bias and SiLU, slot
/// pools with padding and a slot named twice (the second entry sees the
/// first's update), W = 1 (no state) to 4, channel counts that leave a
/// partial block (131 > 128 threads), dynamic shapes, bf16 and f16 inputs
/// with f32 or low-precision weights and states.
void checkConvStepKernels(Target target) {
  checkConvStep({3, 5, 4, 3, 0, false, false, "f32"}, 1, target);
  checkConvStep({2, 7, 4, 6, 0, false, true, "f32"}, 2, target);
  checkConvStep({3, 5, 4, 5, 0, true, true, "f32"}, 3, target);
  checkConvStep({3, 6, 3, 7, 5, true, false, "f32"}, 4, target);
  checkConvStep({3, 4, 4, 3, 4, false, true, "f32"}, 5, target);
  checkConvStep({2, 9, 4, 3, 0, false, true, "bf16"}, 6, target);
  checkConvStep({2, 3, 1, 0, 0, false, false, "f32"}, 7, target);
  checkConvStep({1, 131, 2, 1, 0, false, true, "f32"}, 8, target);
  checkConvStep({2, 131, 3, 2, 3, true, true, "f32"}, 9, target);
  ConvStepCase noBias{3, 13, 2, 4, 0, true, false, "f32"};
  noBias.bias = false;
  checkConvStep(noBias, 10, target);
  ConvStepCase twice{4, 7, 4, 3, 3, false, true, "f32"};
  twice.slots = {2, 0, 2, -1};
  checkConvStep(twice, 11, target);
  ConvStepCase twiceRing{3, 5, 3, 4, 2, true, false, "f32"};
  twiceRing.slots = {1, 1, 1};
  checkConvStep(twiceRing, 12, target);
  ConvStepCase low{2, 17, 4, 3, 0, false, true, "bf16"};
  low.stateElt = "bf16";
  low.paramElt = "bf16";
  checkConvStep(low, 13, target);
  ConvStepCase lowPool{3, 9, 3, 5, 4, true, true, "bf16"};
  lowPool.stateElt = "bf16";
  checkConvStep(lowPool, 14, target);
  ConvStepCase dyn{3, 11, 4, 5, 4, true, true, "f32"};
  dyn.dynamic = true;
  checkConvStep(dyn, 16, target);
  ConvStepCase dynShift{2, 11, 3, 2, 0, false, false, "f32"};
  dynShift.dynamic = true;
  checkConvStep(dynShift, 17, target);
  ConvStepCase f16{2, 6, 4, 3, 0, false, false, "f16"};
  f16.stateElt = "f16";
  f16.paramElt = "f16";
  checkConvStep(f16, 15, target);
}

TEST_P(OnEveryTarget, ConvStepMatchesTheUpdateReference) {
  checkConvStepKernels(GetParam());
}

/// The same on the CUDA target (a GPU or the fake driver's host twins).
TEST(CausalConvStep, GPUKernelMatchesTheReference) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  checkConvStepKernels(Target::CUDA);
}

/// Decoding token by token continues a prefill exactly: causal_conv1d over
/// the first T0 tokens gives the final state, then the steps take the rest;
/// every output equals the whole-sequence reference. `ring`: the state is a
/// ring buffer of S entries filled from the prefill's last W - 1 inputs at
/// their positions, with cache_seqlens = tokens so far.
void checkDecode(bool ring, unsigned seed, Target target = Target::CPU) {
  const int64_t B = 2, D = 5, L = 13, W = 4, T0 = 6, S = ring ? 7 : W - 1;
  std::mt19937 rng(seed);
  std::vector<double> x = randomValues(rng, B * D * L, -1, 1);
  std::vector<double> w = randomValues(rng, D * W, -1, 1);
  std::vector<double> bias = randomValues(rng, D, -0.5, 0.5);
  auto [want, fin] = ref::causalConv1d(B, D, L, W, x, w, bias, {}, true);
  auto prefill = compileOrFail(R"mlir(
func.func @main(%x: tensor<2x5x6xf32>, %w: tensor<5x4xf32>, %b: tensor<5xf32>)
    -> (tensor<2x5x6xf32>, tensor<2x5x3xf32>) {
  %y, %s = ssm.causal_conv1d %x, %w bias(%b) silu
      : (tensor<2x5x6xf32>, tensor<5x4xf32>, tensor<5xf32>) -> (tensor<2x5x6xf32>, tensor<2x5x3xf32>)
  return %y, %s : tensor<2x5x6xf32>, tensor<2x5x3xf32>
}
)mlir", target);
  std::string st = ring ? "tensor<2x5x7xf32>" : "tensor<2x5x3xf32>";
  std::string step =
      "func.func @main(%x: tensor<2x5xf32>, %s: " + st +
      ", %w: tensor<5x4xf32>, %b: tensor<5xf32>" +
      (ring ? ", %c: tensor<2xi64>" : "") + ") -> (tensor<2x5xf32>, " + st +
      ") {\n  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w bias(%b)" +
      (ring ? " cache_seqlens(%c)" : "") +
      " silu : (tensor<2x5xf32>, " + st + ", tensor<5x4xf32>, tensor<5xf32>" +
      (ring ? ", tensor<2xi64>" : "") + ") -> (tensor<2x5xf32>, " + st +
      ")\n  return %y, %s1 : tensor<2x5xf32>, " + st + "\n}\n";
  auto decode = compileOrFail(step, target);
  ASSERT_TRUE(prefill && decode);
  std::vector<double> head;
  for (int64_t r = 0; r < B * D; ++r)
    head.insert(head.end(), x.begin() + r * L, x.begin() + r * L + T0);
  OwnedTensor tX = tensorOf({B, D, T0}, head), tW = tensorOf({D, W}, w),
              tB = tensorOf({D}, bias);
  auto pre = prefill->run("main", {tX.view(), tW.view(), tB.view()});
  ASSERT_TRUE(static_cast<bool>(pre)) << llvm::toString(pre.takeError());
  double err = 0;
  for (int64_t r = 0; r < B * D; ++r)
    for (int64_t t = 0; t < T0; ++t)
      err = std::max(err, std::fabs((*pre)[0].getAsDouble(r * T0 + t) -
                                    want[r * L + t]));
  // The decode state: the prefill's last W - 1 inputs, placed at positions
  // T0 - (W - 1) .. T0 - 1 of the ring.
  std::vector<double> prefState = valuesOf((*pre)[1]);
  std::vector<double> state(B * D * S, 0.0);
  for (int64_t r = 0; r < B * D; ++r)
    for (int64_t j = 0; j < W - 1; ++j)
      state[r * S + (ring ? (T0 - (W - 1) + j) % S : j)] =
          prefState[r * (W - 1) + j];
  OwnedTensor tS = tensorOf({B, D, S}, state);
  for (int64_t t = T0; t < L; ++t) {
    std::vector<double> xt(B * D);
    for (int64_t r = 0; r < B * D; ++r)
      xt[r] = x[r * L + t];
    OwnedTensor tx = tensorOf({B, D}, xt);
    OwnedTensor tc = indicesOf({t, t}, DType::I64);
    std::vector<Tensor> views = {tx.view(), tS.view(), tW.view(), tB.view()};
    if (ring)
      views.push_back(tc.view());
    auto r = decode->run("main", views);
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    for (int64_t i = 0; i < B * D; ++i)
      err = std::max(err, std::fabs((*r)[0].getAsDouble(i) - want[i * L + t]));
    tS = std::move((*r)[1]);
  }
  EXPECT_LE(err, 1e-5);
  if (!ring)
    EXPECT_LE(maxError(tS, fin).first, 1e-7);
}

TEST(CausalConvStep, DecodeContinuesAPrefill) { checkDecode(false, 11); }
TEST(CausalConvStep, RingBufferDecodeContinuesAPrefill) { checkDecode(true, 12); }
TEST_P(OnEveryTarget, ConvDecodeContinuesAPrefill) {
  checkDecode(false, 13, GetParam());
  checkDecode(true, 14, GetParam());
}

void checkSlotOutsideThePool(Target target) {
  auto jit = compileOrFail(R"mlir(
func.func @main(%x: tensor<2x3xf32>, %s: tensor<4x3x3xf32>, %w: tensor<3x4xf32>, %i: tensor<2xi32>)
    -> (tensor<2x3xf32>, tensor<4x3x3xf32>) {
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w conv_state_indices(%i)
      : (tensor<2x3xf32>, tensor<4x3x3xf32>, tensor<3x4xf32>, tensor<2xi32>) -> (tensor<2x3xf32>, tensor<4x3x3xf32>)
  return %y, %s1 : tensor<2x3xf32>, tensor<4x3x3xf32>
}
)mlir", target);
  ASSERT_TRUE(jit);
  OwnedTensor x(DType::F32, {2, 3}), s(DType::F32, {4, 3, 3}), w(DType::F32, {3, 4});
  OwnedTensor i = indicesOf({1, 4});
  auto r = jit->run("main", {x.view(), s.view(), w.view(), i.view()});
  ASSERT_FALSE(static_cast<bool>(r));
  EXPECT_NE(llvm::toString(r.takeError()).find("conv_state_indices"),
            std::string::npos);
}

/// The GPU kernel's host checks report it as the CPU loops do (and launch
/// no thread).
TEST_P(OnEveryTarget, ConvStepSlotOutsideThePoolIsAnError) {
  checkSlotOutsideThePool(GetParam());
}

//===----------------------------------------------------------------------===//
// Packed sequences through the conv and a Mamba-1 block
//===----------------------------------------------------------------------===//

TEST(PackedConv, EqualsEachSequenceAlone) {
  // cu_seqlens {0, 4, 4, 11, 12}: lengths 4, 0, 7 and 1 (shorter than
  // W - 1), with per-sequence initial and final states; f32 weights next to
  // f32 inputs (bf16 below).
  const int64_t D = 5, L = 12, W = 4;
  const std::vector<int64_t> cu = {0, 4, 4, 11, 12};
  const int64_t S = int64_t(cu.size()) - 1;
  std::mt19937 rng(21);
  for (const char *elt : {"f32", "bf16"}) {
    SCOPED_TRACE(elt);
    DType xt = *parseDType(elt);
    std::vector<double> x = rounded(randomValues(rng, D * L, -1, 1), xt);
    std::vector<double> init = rounded(randomValues(rng, S * D * (W - 1), -1, 1), xt);
    std::vector<double> w = randomValues(rng, D * W, -1, 1);
    std::vector<double> bias = randomValues(rng, D, -0.5, 0.5);
    std::string e = elt;
    std::string src = R"mlir(
func.func @main(%x: tensor<1x5x12xE>, %w: tensor<5x4xf32>, %b: tensor<5xf32>, %h: tensor<4x5x3xE>, %cu: tensor<5xi32>)
    -> (tensor<1x5x12xE>, tensor<4x5x3xE>) {
  %y, %s = ssm.causal_conv1d %x, %w bias(%b) initial_state(%h) cu_seqlens(%cu) silu
      : (tensor<1x5x12xE>, tensor<5x4xf32>, tensor<5xf32>, tensor<4x5x3xE>, tensor<5xi32>) -> (tensor<1x5x12xE>, tensor<4x5x3xE>)
  return %y, %s : tensor<1x5x12xE>, tensor<4x5x3xE>
}
)mlir";
    for (size_t at; (at = src.find("xE>")) != std::string::npos;)
      src.replace(at, 3, "x" + e + ">");
    auto jit = compileOrFail(src);
    ASSERT_TRUE(jit);
    OwnedTensor tX = tensorOf({1, D, L}, x, xt), tW = tensorOf({D, W}, w),
                tB = tensorOf({D}, bias), tH = tensorOf({S, D, W - 1}, init, xt);
    OwnedTensor tCu = indicesOf(cu);
    auto r = jit->run("main", {tX.view(), tW.view(), tB.view(), tH.view(), tCu.view()});
    ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
    std::vector<double> got = valuesOf((*r)[0]), gotFin = valuesOf((*r)[1]);
    const double tol = e == "f32" ? 1e-5 : 1e-2;
    for (int64_t s = 0; s < S; ++s) {
      const int64_t len = cu[s + 1] - cu[s];
      std::vector<double> xs;
      for (int64_t d = 0; d < D; ++d)
        for (int64_t t = cu[s]; t < cu[s + 1]; ++t)
          xs.push_back(x[d * L + t]);
      std::vector<double> hs(init.begin() + s * D * (W - 1),
                             init.begin() + (s + 1) * D * (W - 1));
      auto [out, fin] = ref::causalConv1d(1, D, len, W, xs, w, bias, hs, true);
      for (int64_t d = 0; d < D; ++d) {
        for (int64_t t = 0; t < len; ++t)
          EXPECT_NEAR(got[d * L + cu[s] + t], out[d * len + t],
                      tol * std::max(1.0, std::fabs(out[d * len + t])))
              << "sequence " << s << " channel " << d << " step " << t;
        for (int64_t j = 0; j < W - 1; ++j)
          EXPECT_NEAR(gotFin[(s * D + d) * (W - 1) + j], fin[d * (W - 1) + j], tol);
      }
    }
  }
}

TEST_P(OnEveryTarget, PackedMambaBlockEqualsEachSequenceAlone) {
  // A packed Mamba-1 block: conv (bias, SiLU) -> selective_scan with
  // softplus, D and z, both on the same cu_seqlens; compared with the
  // references run on each sequence alone. Lengths 5, 1, 9 (odd sizes).
  const int64_t Dm = 6, N = 4, L = 15, W = 4;
  const std::vector<int64_t> cu = {0, 5, 6, 15};
  const int64_t S = int64_t(cu.size()) - 1;
  std::mt19937 rng(31);
  std::vector<double> x = randomValues(rng, Dm * L, -1, 1);
  std::vector<double> w = randomValues(rng, Dm * W, -1, 1);
  std::vector<double> cb = randomValues(rng, Dm, -0.5, 0.5);
  std::vector<double> delta = randomValues(rng, Dm * L, -3, 1);
  std::vector<double> A = randomValues(rng, Dm * N, -4, -0.1);
  std::vector<double> Bm = randomValues(rng, N * L, -1, 1);
  std::vector<double> Cm = randomValues(rng, N * L, -1, 1);
  std::vector<double> Dv = randomValues(rng, Dm, -1, 1);
  std::vector<double> z = randomValues(rng, Dm * L, -2, 2);
  auto jit = compileOrFail(R"mlir(
func.func @main(%x: tensor<1x6x15xf32>, %w: tensor<6x4xf32>, %cb: tensor<6xf32>, %dt: tensor<1x6x15xf32>,
                %A: tensor<6x4xf32>, %B: tensor<1x4x15xf32>, %C: tensor<1x4x15xf32>, %D: tensor<6xf32>,
                %z: tensor<1x6x15xf32>, %cu: tensor<4xi64>) -> (tensor<1x6x15xf32>, tensor<3x6x4xf32>) {
  %u = ssm.causal_conv1d %x, %w bias(%cb) cu_seqlens(%cu) silu
      : (tensor<1x6x15xf32>, tensor<6x4xf32>, tensor<6xf32>, tensor<4xi64>) -> tensor<1x6x15xf32>
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) cu_seqlens(%cu) delta_softplus
      : (tensor<1x6x15xf32>, tensor<1x6x15xf32>, tensor<6x4xf32>, tensor<1x4x15xf32>, tensor<1x4x15xf32>,
         tensor<6xf32>, tensor<1x6x15xf32>, tensor<4xi64>) -> (tensor<1x6x15xf32>, tensor<3x6x4xf32>)
  return %y, %h : tensor<1x6x15xf32>, tensor<3x6x4xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor tX = tensorOf({1, Dm, L}, x), tW = tensorOf({Dm, W}, w),
              tCb = tensorOf({Dm}, cb), tDt = tensorOf({1, Dm, L}, delta),
              tA = tensorOf({Dm, N}, A), tB = tensorOf({1, N, L}, Bm),
              tC = tensorOf({1, N, L}, Cm), tD = tensorOf({Dm}, Dv),
              tZ = tensorOf({1, Dm, L}, z), tCu = indicesOf(cu, DType::I64);
  auto r = jit->run("main", {tX.view(), tW.view(), tCb.view(), tDt.view(), tA.view(),
                             tB.view(), tC.view(), tD.view(), tZ.view(), tCu.view()});
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  std::vector<double> got = valuesOf((*r)[0]), gotH = valuesOf((*r)[1]);
  double err = 0, scale = 1;
  for (int64_t s = 0; s < S; ++s) {
    const int64_t len = cu[s + 1] - cu[s];
    auto cut = [&](const std::vector<double> &v, int64_t rows) {
      std::vector<double> o;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t t = cu[s]; t < cu[s + 1]; ++t)
          o.push_back(v[r * L + t]);
      return o;
    };
    auto [u, fin] = ref::causalConv1d(1, Dm, len, W, cut(x, Dm), w, cb, {}, true);
    ref::SelectiveScanProblem p;
    p.channels = Dm, p.seqLen = len, p.stateSize = N, p.deltaSoftplus = true;
    p.u = u, p.delta = cut(delta, Dm), p.A = A, p.B = cut(Bm, N), p.C = cut(Cm, N);
    p.D = Dv, p.z = cut(z, Dm);
    ref::SelectiveScanResult want = ref::selectiveScan(p);
    for (int64_t d = 0; d < Dm; ++d) {
      for (int64_t t = 0; t < len; ++t) {
        err = std::max(err, std::fabs(got[d * L + cu[s] + t] - want.out[d * len + t]));
        scale = std::max(scale, std::fabs(want.out[d * len + t]));
      }
      for (int64_t n = 0; n < N; ++n)
        err = std::max(err, std::fabs(gotH[(s * Dm + d) * N + n] -
                                      want.finalState[d * N + n]));
    }
  }
  EXPECT_LE(err, 1e-4 * scale);
}

//===----------------------------------------------------------------------===//
// state_batch_indices on the selective_scan and ssd steps
//===----------------------------------------------------------------------===//

TEST_P(OnEveryTarget, SelectiveScanStepUpdatesItsSlots) {
  // A pool of 5 states, batch of 3 using slots {3, -1 (padding), 0}; f32
  // delta next to bf16 u, B, C and z (selective_state_update's dtypes).
  const int64_t Bt = 3, Dm = 7, N = 5, P = 5;
  const std::vector<int64_t> slots = {3, -1, 0};
  std::mt19937 rng(41);
  std::vector<double> u = rounded(randomValues(rng, Bt * Dm, -1, 1), DType::BF16);
  std::vector<double> dt = randomValues(rng, Bt * Dm, -3, 1);
  std::vector<double> A = randomValues(rng, Dm * N, -4, -0.1);
  std::vector<double> Bv = rounded(randomValues(rng, Bt * N, -1, 1), DType::BF16);
  std::vector<double> Cv = rounded(randomValues(rng, Bt * N, -1, 1), DType::BF16);
  std::vector<double> Dv = randomValues(rng, Dm, -1, 1);
  std::vector<double> z = rounded(randomValues(rng, Bt * Dm, -2, 2), DType::BF16);
  std::vector<double> pool = randomValues(rng, P * Dm * N, -1, 1);
  auto jit = compileOrFail(R"mlir(
func.func @main(%u: tensor<3x7xbf16>, %dt: tensor<3x7xf32>, %A: tensor<7x5xf32>, %B: tensor<3x5xbf16>,
                %C: tensor<3x5xbf16>, %h: tensor<5x7x5xf32>, %D: tensor<7xf32>, %z: tensor<3x7xbf16>,
                %i: tensor<3xi32>) -> (tensor<3x7xbf16>, tensor<5x7x5xf32>) {
  %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %C, %h D(%D) z(%z) state_batch_indices(%i) delta_softplus
      : (tensor<3x7xbf16>, tensor<3x7xf32>, tensor<7x5xf32>, tensor<3x5xbf16>, tensor<3x5xbf16>,
         tensor<5x7x5xf32>, tensor<7xf32>, tensor<3x7xbf16>, tensor<3xi32>) -> (tensor<3x7xbf16>, tensor<5x7x5xf32>)
  return %y, %h1 : tensor<3x7xbf16>, tensor<5x7x5xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor tU = tensorOf({Bt, Dm}, u, DType::BF16), tDt = tensorOf({Bt, Dm}, dt),
              tA = tensorOf({Dm, N}, A), tB = tensorOf({Bt, N}, Bv, DType::BF16),
              tC = tensorOf({Bt, N}, Cv, DType::BF16), tH = tensorOf({P, Dm, N}, pool),
              tD = tensorOf({Dm}, Dv), tZ = tensorOf({Bt, Dm}, z, DType::BF16),
              tI = indicesOf(slots);
  auto r = jit->run("main", {tU.view(), tDt.view(), tA.view(), tB.view(), tC.view(),
                             tH.view(), tD.view(), tZ.view(), tI.view()});
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  std::vector<double> out = valuesOf((*r)[0]), newPool = valuesOf((*r)[1]);
  std::vector<double> wantPool = pool;
  for (int64_t b = 0; b < Bt; ++b) {
    SCOPED_TRACE("batch entry " + std::to_string(b));
    if (slots[b] < 0) {
      for (int64_t d = 0; d < Dm; ++d)
        EXPECT_EQ(out[b * Dm + d], 0.0);
      continue;
    }
    // Entry b alone: one step from its slot's state (L = 1, h0 = slot).
    ref::SelectiveScanProblem p;
    p.channels = Dm, p.seqLen = 1, p.stateSize = N, p.deltaSoftplus = true;
    p.u.assign(u.begin() + b * Dm, u.begin() + (b + 1) * Dm);
    p.delta.assign(dt.begin() + b * Dm, dt.begin() + (b + 1) * Dm);
    p.A = A, p.D = Dv;
    p.B.assign(Bv.begin() + b * N, Bv.begin() + (b + 1) * N);
    p.C.assign(Cv.begin() + b * N, Cv.begin() + (b + 1) * N);
    p.z.assign(z.begin() + b * Dm, z.begin() + (b + 1) * Dm);
    p.h0.assign(pool.begin() + slots[b] * Dm * N, pool.begin() + (slots[b] + 1) * Dm * N);
    ref::SelectiveScanResult want = ref::selectiveScan(p);
    for (int64_t d = 0; d < Dm; ++d)
      EXPECT_NEAR(out[b * Dm + d], want.out[d], 1e-2 * std::max(1.0, std::fabs(want.out[d])));
    std::copy(want.finalState.begin(), want.finalState.end(),
              wantPool.begin() + slots[b] * Dm * N);
  }
  // Slots 1, 2 and 4 are untouched (exactly the values passed in); 0 and 3
  // hold the new states.
  EXPECT_LE(maxError((*r)[1], wantPool).first, 1e-5);
  std::vector<double> passed = valuesOf(tH);
  for (int64_t slot : {1, 2, 4})
    for (int64_t i = 0; i < Dm * N; ++i)
      ASSERT_EQ(newPool[slot * Dm * N + i], passed[slot * Dm * N + i]);
}

TEST_P(OnEveryTarget, SSDStepUpdatesItsSlots) {
  // Mamba-2 decode into a pool of 4 states: batch of 3 using slots {2, 0, 3}
  // (i64), D per head channel, dt_limit.
  const int64_t Bt = 3, H = 2, P = 3, G = 1, N = 4, Ps = 4;
  const std::vector<int64_t> slots = {2, 0, 3};
  std::mt19937 rng(43);
  std::vector<double> x = randomValues(rng, Bt * H * P, -1, 1);
  std::vector<double> dt = randomValues(rng, Bt * H, -3, 1);
  std::vector<double> A = randomValues(rng, H, -4, -0.1);
  std::vector<double> Bv = randomValues(rng, Bt * G * N, -1, 1);
  std::vector<double> Cv = randomValues(rng, Bt * G * N, -1, 1);
  std::vector<double> Dv = randomValues(rng, H * P, -1, 1);
  std::vector<double> pool = randomValues(rng, Ps * H * P * N, -1, 1);
  auto jit = compileOrFail(R"mlir(
func.func @main(%x: tensor<3x2x3xf32>, %dt: tensor<3x2xf32>, %A: tensor<2xf32>, %B: tensor<3x1x4xf32>,
                %C: tensor<3x1x4xf32>, %h: tensor<4x2x3x4xf32>, %D: tensor<2x3xf32>, %i: tensor<3xi64>)
    -> (tensor<3x2x3xf32>, tensor<4x2x3x4xf32>) {
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %C, %h D(%D) state_batch_indices(%i) dt_softplus
      {dt_limit = array<f64: 0.05, 0.6>}
      : (tensor<3x2x3xf32>, tensor<3x2xf32>, tensor<2xf32>, tensor<3x1x4xf32>, tensor<3x1x4xf32>,
         tensor<4x2x3x4xf32>, tensor<2x3xf32>, tensor<3xi64>) -> (tensor<3x2x3xf32>, tensor<4x2x3x4xf32>)
  return %y, %h1 : tensor<3x2x3xf32>, tensor<4x2x3x4xf32>
}
)mlir", GetParam());
  ASSERT_TRUE(jit);
  OwnedTensor tX = tensorOf({Bt, H, P}, x), tDt = tensorOf({Bt, H}, dt),
              tA = tensorOf({H}, A), tB = tensorOf({Bt, G, N}, Bv),
              tC = tensorOf({Bt, G, N}, Cv), tH = tensorOf({Ps, H, P, N}, pool),
              tD = tensorOf({H, P}, Dv), tI = indicesOf(slots, DType::I64);
  auto r = jit->run("main", {tX.view(), tDt.view(), tA.view(), tB.view(), tC.view(),
                             tH.view(), tD.view(), tI.view()});
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  std::vector<double> out = valuesOf((*r)[0]), newPool = valuesOf((*r)[1]);
  std::vector<double> wantPool = pool;
  const int64_t st = H * P * N;
  for (int64_t b = 0; b < Bt; ++b) {
    ref::SSDProblem p;
    p.seqLen = 1, p.heads = H, p.headDim = P, p.groups = G, p.stateSize = N;
    p.dtSoftplus = true;
    p.dtLimit = std::make_pair(0.05, 0.6);
    p.x.assign(x.begin() + b * H * P, x.begin() + (b + 1) * H * P);
    p.dt.assign(dt.begin() + b * H, dt.begin() + (b + 1) * H);
    p.A = A, p.D = Dv;
    p.B.assign(Bv.begin() + b * N, Bv.begin() + (b + 1) * N);
    p.C.assign(Cv.begin() + b * N, Cv.begin() + (b + 1) * N);
    p.h0.assign(pool.begin() + slots[b] * st, pool.begin() + (slots[b] + 1) * st);
    ref::SSDResult want = ref::ssd(p);
    for (int64_t i = 0; i < H * P; ++i)
      EXPECT_NEAR(out[b * H * P + i], want.out[i], 1e-5);
    std::copy(want.finalState.begin(), want.finalState.end(),
              wantPool.begin() + slots[b] * st);
  }
  EXPECT_LE(maxError((*r)[1], wantPool).first, 1e-5);
}

TEST(StateBatchIndices, SlotOutsideThePoolIsAnError) {
  auto jit = compileOrFail(R"mlir(
func.func @main(%x: tensor<2x1x2xf32>, %dt: tensor<2x1xf32>, %A: tensor<1xf32>, %B: tensor<2x1x2xf32>,
                %h: tensor<3x1x2x2xf32>, %i: tensor<2xi32>) -> (tensor<2x1x2xf32>, tensor<3x1x2x2xf32>) {
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h state_batch_indices(%i)
      : (tensor<2x1x2xf32>, tensor<2x1xf32>, tensor<1xf32>, tensor<2x1x2xf32>, tensor<2x1x2xf32>,
         tensor<3x1x2x2xf32>, tensor<2xi32>) -> (tensor<2x1x2xf32>, tensor<3x1x2x2xf32>)
  return %y, %h1 : tensor<2x1x2xf32>, tensor<3x1x2x2xf32>
}
)mlir");
  ASSERT_TRUE(jit);
  OwnedTensor x(DType::F32, {2, 1, 2}), dt(DType::F32, {2, 1}), A(DType::F32, {1}),
      B(DType::F32, {2, 1, 2}), h(DType::F32, {3, 1, 2, 2});
  OwnedTensor i = indicesOf({0, 3});
  auto r = jit->run("main", {x.view(), dt.view(), A.view(), B.view(), h.view(), i.view()});
  ASSERT_FALSE(static_cast<bool>(r));
  std::string message = llvm::toString(r.takeError());
  EXPECT_NE(message.find("state_batch_indices"), std::string::npos) << message;
}

INSTANTIATE_TEST_SUITE_P(Targets, OnEveryTarget,
                         ::testing::Values(Target::CPU, Target::GPUEmulator),
                         [](const ::testing::TestParamInfo<Target> &info) {
                           return info.param == Target::CPU ? std::string("CPU")
                                                            : std::string("GPUEmulator");
                         });

} // namespace
