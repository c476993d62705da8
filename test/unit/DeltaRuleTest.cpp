//===- DeltaRuleTest.cpp - compiled delta-rule family vs reference --------===//
//
// ssm.delta_rule and ssm.delta_rule_step through ssm-cpu-pipeline and
// ssmc::Jit against ssmc::ref::deltaRule (fla's naive recurrences in
// double): DeltaNet, Gated DeltaNet, KDA and the DPLR form of RWKV-7 at odd
// shapes (K, V not multiples of the vector width, T = 1, prime T, long T
// with slow decays), grouped heads, l2 normalisation on and off, default
// and explicit scale, h0 and the final state, packed sequences, bf16 inputs
// with f32 state; the recurrent and the chunked (WY) forms, each forced
// with chunk_size (the DPLR form chunked too: odd shapes, grouped heads,
// packed sequences, bf16, a long slow decay); DeltaNet written in the DPLR
// form agrees with itself;
// decode steps continue a prefill exactly; the gpu-emulator target (which
// runs the op's GPU kernel on the host) agrees too.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Jit.h"
#include "test/lib/DeltaRuleCases.h"
#include "test/lib/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace ssmc;
using ssmc::test::tensorType;

namespace {

using namespace ssmc::test::delta_rule;
using ssmc::test::delta_rule::expectMatches;
using ssmc::test::delta_rule::runProgram;

/// Cases run on the CPU unless they name a target.
llvm::Expected<std::vector<OwnedTensor>>
runProgram(const std::string &text, std::vector<OwnedTensor> &inputs) {
  return runProgram(text, inputs, Target::CPU);
}
void expectMatches(const DeltaConfig &c, unsigned seed,
                   const std::vector<int64_t> &offsets = {}) {
  expectMatches(c, seed, offsets, Target::CPU);
}

TEST(DeltaRuleNumerics, DeltaNetOddShapes) {
  DeltaConfig c = cfg(Form::DeltaNet, 2, 13, 3, 3, 19, 21);
  c.finalState = true;
  expectMatches(c, 1);
}

TEST(DeltaRuleNumerics, GatedDeltaNetGroupedHeadsL2Norm) {
  // Qwen3-Next's grouping: fewer query/key heads than value heads.
  DeltaConfig c = cfg(Form::Gated, 1, 17, 2, 4, 24, 35);
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 2);
}

TEST(DeltaRuleNumerics, GatedDeltaNetSingleStep) {
  DeltaConfig c = cfg(Form::Gated, 3, 1, 1, 2, 5, 3);
  c.hasH0 = true;
  c.finalState = true;
  c.scale = 0.75;
  expectMatches(c, 3);
}

TEST(DeltaRuleNumerics, KDAPerKeyDecay) {
  DeltaConfig c = cfg(Form::KDA, 2, 29, 2, 2, 33, 17);
  c.l2norm = true;
  c.finalState = true;
  expectMatches(c, 4);
}

TEST(DeltaRuleNumerics, RWKV7DPLRForm) {
  DeltaConfig c = cfg(Form::DPLR, 1, 23, 2, 2, 16, 20);
  c.scale = 1.0;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 5);
}

TEST(DeltaRuleNumerics, PackedSequencesRestartFromH0) {
  DeltaConfig c = cfg(Form::Gated, 1, 31, 1, 2, 12, 9);
  c.sequences = 3;
  c.hasH0 = true;
  c.finalState = true;
  c.l2norm = true;
  expectMatches(c, 6, {0, 7, 7, 31});
}

TEST(DeltaRuleNumerics, PackedKDAWithoutH0) {
  DeltaConfig c = cfg(Form::KDA, 1, 20, 1, 1, 7, 40);
  c.sequences = 2;
  c.finalState = true;
  expectMatches(c, 7, {0, 11, 20});
}

TEST(DeltaRuleNumerics, LongSlowDecayRecurrentForm) {
  // Slow decays keep early tokens in the state for the whole sequence.
  DeltaConfig c = cfg(Form::Gated, 1, 257, 1, 2, 32, 32);
  c.weakGate = true;
  c.l2norm = true;
  c.chunk = 0;
  c.finalState = true;
  expectMatches(c, 8);
}

TEST(DeltaRuleNumerics, BF16InputsWithF32State) {
  DeltaConfig c = cfg(Form::Gated, 1, 40, 2, 4, 16, 24);
  c.elt = "bf16";
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 9);
}

// The chunked (WY) form, forced with chunk_size, at lengths that are not
// multiples of the chunk.
TEST(DeltaRuleNumerics, ChunkedGatedGroupedHeads) {
  DeltaConfig c = cfg(Form::Gated, 2, 37, 1, 2, 24, 35);
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  c.chunk = 16;
  expectMatches(c, 15);
}

TEST(DeltaRuleNumerics, ChunkedDeltaNet) {
  DeltaConfig c = cfg(Form::DeltaNet, 1, 21, 2, 2, 19, 17);
  c.finalState = true;
  c.chunk = 8;
  expectMatches(c, 16);
}

TEST(DeltaRuleNumerics, ChunkedKDA) {
  DeltaConfig c = cfg(Form::KDA, 1, 29, 2, 4, 33, 20);
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  c.chunk = 8;
  expectMatches(c, 17);
}

TEST(DeltaRuleNumerics, ChunkedPackedSequences) {
  DeltaConfig c = cfg(Form::Gated, 1, 31, 1, 2, 12, 9);
  c.sequences = 3;
  c.hasH0 = true;
  c.finalState = true;
  c.l2norm = true;
  c.chunk = 4;
  expectMatches(c, 18, {0, 7, 7, 31});
}

// The chunk's prefetches of the next chunk go a value block at a time: the
// last block also takes the keys past V (K > V), and with K < V the later
// blocks take none. C = 32 is the largest chunk; C = 3 leaves the state
// update's FMA chains unequal.
TEST(DeltaRuleNumerics, ChunkedGatedKeysWiderThanValuesChunk32) {
  DeltaConfig c = cfg(Form::Gated, 1, 71, 1, 2, 40, 23);
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  c.chunk = 32;
  expectMatches(c, 31);
}

TEST(DeltaRuleNumerics, ChunkedKDAChunk32) {
  DeltaConfig c = cfg(Form::KDA, 1, 45, 1, 1, 21, 18);
  c.l2norm = true;
  c.finalState = true;
  c.chunk = 32;
  expectMatches(c, 32);
}

TEST(DeltaRuleNumerics, ChunkedDeltaNetKeysNarrowerThanValuesChunk3) {
  DeltaConfig c = cfg(Form::DeltaNet, 2, 17, 1, 1, 5, 37);
  c.l2norm = true;
  c.finalState = true;
  c.chunk = 3;
  expectMatches(c, 33);
}

TEST(DeltaRuleNumerics, ChunkedSingleStepChunk) {
  DeltaConfig c = cfg(Form::KDA, 1, 5, 1, 1, 7, 6);
  c.finalState = true;
  c.chunk = 1;
  expectMatches(c, 19);
}

TEST(DeltaRuleNumerics, LongSlowDecayChunkedByDefault) {
  // T >= 64: the lowering picks the chunked form; slow decays carry early
  // tokens through every chunk boundary.
  DeltaConfig c = cfg(Form::Gated, 1, 257, 1, 2, 32, 32);
  c.weakGate = true;
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 8);
}

TEST(DeltaRuleNumerics, ChunkedBF16) {
  DeltaConfig c = cfg(Form::KDA, 1, 40, 2, 4, 16, 24);
  c.elt = "bf16";
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  c.chunk = 16;
  expectMatches(c, 20);
}

// RWKV-7's DPLR form chunked (fla's chunk_dplr_delta_rule: the reads
// a_j . s_{j-1} by forward substitution within the chunk).
TEST(DeltaRuleNumerics, ChunkedRWKV7OddShapesPrimeLength) {
  DeltaConfig c = cfg(Form::DPLR, 2, 37, 1, 2, 19, 21);
  c.scale = 1.0;
  c.l2norm = true;
  c.finalState = true;
  c.chunk = 16;
  expectMatches(c, 22);
}

TEST(DeltaRuleNumerics, ChunkedRWKV7GroupedHeadsH0) {
  DeltaConfig c = cfg(Form::DPLR, 1, 23, 2, 4, 16, 5);
  c.hasH0 = true;
  c.finalState = true;
  c.chunk = 8;
  expectMatches(c, 23);
}

TEST(DeltaRuleNumerics, ChunkedRWKV7PackedSequences) {
  DeltaConfig c = cfg(Form::DPLR, 1, 31, 1, 2, 12, 9);
  c.sequences = 3;
  c.hasH0 = true;
  c.finalState = true;
  c.chunk = 4;
  expectMatches(c, 24, {0, 9, 9, 31});
}

TEST(DeltaRuleNumerics, LongSlowDecayRWKV7ChunkedByDefault) {
  // T >= 64: the DPLR form is chunked too; slow decays carry early tokens
  // through all 17 chunk boundaries.
  DeltaConfig c = cfg(Form::DPLR, 1, 257, 1, 1, 32, 32);
  c.weakGate = true;
  c.scale = 1.0;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 25);
}

TEST(DeltaRuleNumerics, ChunkedRWKV7BF16) {
  DeltaConfig c = cfg(Form::DPLR, 1, 40, 1, 2, 16, 24);
  c.elt = "bf16";
  c.hasH0 = true;
  c.finalState = true;
  c.chunk = 16;
  expectMatches(c, 26);
}

TEST(DeltaRuleNumerics, DynamicShapesBothForms) {
  for (int64_t chunk : {-1, 0}) {
    DeltaConfig c = cfg(Form::KDA, 2, 70, 1, 2, 12, 18);
    c.dynamic = true;
    c.l2norm = true;
    c.hasH0 = true;
    c.finalState = true;
    c.chunk = chunk;
    SCOPED_TRACE(chunk);
    expectMatches(c, 21);
  }
}

TEST(DeltaRuleNumerics, DynamicShapeMismatchIsAnError) {
  // beta with 3 heads where v has 2: caught at run time, nothing read.
  DeltaConfig c = cfg(Form::DeltaNet, 1, 5, 1, 2, 4, 4);
  c.dynamic = true;
  Inputs in = makeInputs(c, 22);
  in.tensors[3] = OwnedTensor(DType::F32, {1, 5, 3});
  auto results = runProgram(program(c), in.tensors);
  ASSERT_FALSE(static_cast<bool>(results));
  std::string msg = llvm::toString(results.takeError());
  EXPECT_NE(msg.find("'beta'"), std::string::npos) << msg;
}

TEST(DeltaRuleNumerics, F64BothForms) {
  for (int64_t chunk : {0, 8}) {
    DeltaConfig c = cfg(Form::Gated, 1, 19, 1, 1, 6, 5);
    c.elt = "f64";
    c.hasH0 = true;
    c.finalState = true;
    c.chunk = chunk;
    SCOPED_TRACE(chunk);
    Inputs in = makeInputs(c, 23);
    auto results = runProgram(program(c), in.tensors);
    ASSERT_TRUE(static_cast<bool>(results))
        << llvm::toString(results.takeError());
    ref::DeltaRuleResult want = ref::deltaRule(in.p);
    auto [err, scale] = maxError((*results)[0], want.out);
    EXPECT_LE(err, 1e-10 * scale);
    auto [serr, sscale] = maxError((*results)[1], want.finalState);
    EXPECT_LE(serr, 1e-10 * sscale);
  }
}

TEST(DeltaRuleNumerics, F16KDA) {
  DeltaConfig c = cfg(Form::KDA, 1, 12, 1, 2, 8, 8);
  c.elt = "f16";
  c.l2norm = true;
  expectMatches(c, 10);
}

TEST(DeltaRuleNumerics, RunsOnTheGPUEmulatorTargetOnTheHost) {
  // The recurrent GPU kernel (T = 9) on the emulator, through the host
  // runner this test file uses.
  DeltaConfig c = cfg(Form::Gated, 1, 9, 1, 2, 8, 12);
  c.finalState = true;
  expectMatches(c, 11, {}, Target::GPUEmulator);
}

/// DeltaNet is the DPLR form with w = 1, a = -beta k, b = k and the value
/// beta v (S_t = S + (-beta k)(k^T S) + k (beta v)^T): the two forms of one
/// problem agree.
TEST(DeltaRuleNumerics, DeltaNetEqualsItsDPLRForm) {
  DeltaConfig c = cfg(Form::DeltaNet, 1, 15, 2, 2, 11, 13);
  c.hasH0 = true;
  c.finalState = true;
  Inputs delta = makeInputs(c, 12);
  auto want = runProgram(program(c), delta.tensors);
  ASSERT_TRUE(static_cast<bool>(want)) << llvm::toString(want.takeError());

  // The same problem written in the DPLR form (no gate: w = 1).
  const ref::DeltaRuleProblem &p = delta.p;
  const int64_t T = c.seqLen, H = c.heads, K = c.keyDim, V = c.valueDim;
  std::vector<OwnedTensor> dplr;
  auto tensor = [&](std::vector<int64_t> shape, auto value) {
    OwnedTensor t(DType::F32, shape);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.setFromDouble(i, value(i));
    dplr.push_back(std::move(t));
  };
  tensor({1, T, c.keyHeads, K}, [&](int64_t i) { return p.q[i]; });
  tensor({1, T, c.keyHeads, K}, [&](int64_t i) { return p.k[i]; });
  tensor({1, T, H, V}, [&](int64_t i) { return p.beta[i / V] * p.v[i]; });
  auto keyOf = [&](int64_t i) { // element i of a [1, T, H, K] tensor
    int64_t t = i / (H * K), h = (i / K) % H, d = i % K;
    return p.k[(t * c.keyHeads + h / (H / c.keyHeads)) * K + d];
  };
  tensor({1, T, H, K}, [&](int64_t i) { return -p.beta[i / K] * keyOf(i); });
  tensor({1, T, H, K}, keyOf);
  tensor({1, H, K, V}, [&](int64_t i) { return p.h0[i]; });
  std::string qk = tensorType({1, T, c.keyHeads, K}, "f32");
  std::string vt = tensorType({1, T, H, V}, "f32");
  std::string kt = tensorType({1, T, H, K}, "f32");
  std::string st = tensorType({1, H, K, V}, "f32");
  std::string text =
      "func.func @main(%q: " + qk + ", %k: " + qk + ", %v: " + vt +
      ", %a: " + kt + ", %b: " + kt + ", %h0: " + st + ") -> (" + vt + ", " +
      st + ") {\n  %o, %s = ssm.delta_rule %q, %k, %v a(%a) b(%b) h0(%h0) : (" +
      qk + ", " + qk + ", " + vt + ", " + kt + ", " + kt + ", " + st +
      ") -> (" + vt + ", " + st + ")\n  return %o, %s : " + vt + ", " + st +
      "\n}\n";
  auto got = runProgram(text, dplr);
  ASSERT_TRUE(static_cast<bool>(got)) << llvm::toString(got.takeError());
  ref::DeltaRuleResult exact = ref::deltaRule(p);
  for (int r = 0; r < 2; ++r) {
    std::vector<double> w((*want)[r].numel());
    for (int64_t i = 0; i < (*want)[r].numel(); ++i)
      w[i] = (*want)[r].getAsDouble(i);
    auto [err, scale] = maxError((*got)[r], w);
    EXPECT_LE(err, 1e-4 * scale) << "result " << r;
    auto [rerr, rscale] =
        maxError((*got)[r], r ? exact.finalState : exact.out);
    EXPECT_LE(rerr, 1e-4 * rscale) << "result " << r << " vs reference";
  }
}

/// Prefill T tokens, then decode n more with ssm.delta_rule_step from the
/// final state: each step's output equals the whole sequence's output at
/// that step, and the last state its final state.
TEST(DeltaRuleNumerics, DecodeStepsContinueAPrefill) {
  const int64_t prefill = 6, steps = 3;
  DeltaConfig whole = cfg(Form::Gated, 2, prefill + steps, 1, 2, 9, 10);
  whole.l2norm = true;
  whole.finalState = true;
  Inputs in = makeInputs(whole, 13);
  ref::DeltaRuleResult want = ref::deltaRule(in.p);
  const ref::DeltaRuleProblem &p = in.p;
  const int64_t B = whole.batch, T = whole.seqLen, H = whole.heads,
                K = whole.keyDim, V = whole.valueDim;

  // The prefill: the first `prefill` steps of the same inputs.
  DeltaConfig pre = whole;
  pre.seqLen = prefill;
  std::vector<OwnedTensor> preIn;
  auto slice = [&](const std::vector<double> &x, std::vector<int64_t> shape,
                   int64_t perStep, int64_t t0, int64_t t1, DType dt) {
    OwnedTensor out(dt, [&] {
      std::vector<int64_t> s = shape;
      s[1] = t1 - t0;
      return s;
    }());
    int64_t n = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t i = 0; i < perStep; ++i)
          out.setFromDouble(n++, x[(b * T + t) * perStep + i]);
    return out;
  };
  auto sliceAll = [&](int64_t t0, int64_t t1) {
    std::vector<OwnedTensor> v;
    v.push_back(slice(p.q, {B, T, 1, K}, K, t0, t1, DType::F32));
    v.push_back(slice(p.k, {B, T, 1, K}, K, t0, t1, DType::F32));
    v.push_back(slice(p.v, {B, T, H, V}, H * V, t0, t1, DType::F32));
    v.push_back(slice(p.beta, {B, T, H}, H, t0, t1, DType::F32));
    v.push_back(slice(p.gate, {B, T, H}, H, t0, t1, DType::F32));
    return v;
  };
  preIn = sliceAll(0, prefill);
  auto preOut = runProgram(program(pre), preIn);
  ASSERT_TRUE(static_cast<bool>(preOut)) << llvm::toString(preOut.takeError());

  std::string q = tensorType({B, 1, K}, "f32"), v = tensorType({B, H, V}, "f32"),
              bt = tensorType({B, H}, "f32"),
              st = tensorType({B, H, K, V}, "f32");
  std::string stepText =
      "func.func @main(%q: " + q + ", %k: " + q + ", %v: " + v + ", %beta: " +
      bt + ", %g: " + bt + ", %s: " + st + ") -> (" + v + ", " + st +
      ") {\n  %o, %s1 = ssm.delta_rule_step %q, %k, %v, %s beta(%beta) "
      "gate(%g) use_qk_l2norm : (" +
      q + ", " + q + ", " + v + ", " + st + ", " + bt + ", " + bt + ") -> (" +
      v + ", " + st + ")\n  return %o, %s1 : " + v + ", " + st + "\n}\n";
  JitOptions options;
  auto jit = Jit::compile(stepText, options);
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  OwnedTensor state = std::move((*preOut)[1]);
  for (int64_t t = prefill; t < T; ++t) {
    std::vector<OwnedTensor> in1 = sliceAll(t, t + 1);
    std::vector<Tensor> views;
    for (OwnedTensor &x : in1) {
      // Drop the unit step dimension: [B, 1, ...] -> [B, ...].
      std::vector<int64_t> s = x.shape();
      s.erase(s.begin() + 1);
      OwnedTensor y(x.dtype(), s);
      std::memcpy(y.data(), x.data(), x.sizeInBytes());
      x = std::move(y);
      views.push_back(x.view());
    }
    views.push_back(state.view());
    auto outs = (*jit)->run("main", views);
    ASSERT_TRUE(static_cast<bool>(outs)) << llvm::toString(outs.takeError());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < H * V; ++i)
        EXPECT_NEAR((*outs)[0].getAsDouble(b * H * V + i),
                    want.out[(b * T + t) * H * V + i], 1e-4)
            << "step " << t;
    state = std::move((*outs)[1]);
  }
  auto [err, scale] = maxError(state, want.finalState);
  EXPECT_LE(err, 1e-4 * scale);
}

/// A decode step over a state pool: entry b updates slot idx[b]; a
/// negative index is padding (zero output, no slot written).
TEST(DeltaRuleNumerics, DecodeStepStatePool) {
  const int64_t B = 2, P = 3, H = 1, K = 4, V = 5;
  std::mt19937 rng(14);
  std::uniform_real_distribution<double> d(-0.5, 0.5);
  auto fill = [&](std::vector<int64_t> shape) {
    OwnedTensor t(DType::F32, shape);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.setFromDouble(i, d(rng));
    return t;
  };
  std::vector<OwnedTensor> in;
  in.push_back(fill({B, H, K}));
  in.push_back(fill({B, H, K}));
  in.push_back(fill({B, H, V}));
  in.push_back(fill({P, H, K, V}));
  OwnedTensor beta(DType::F32, {B, H});
  beta.setFromDouble(0, 0.7), beta.setFromDouble(1, 0.3);
  in.push_back(std::move(beta));
  OwnedTensor idx(DType::I32, {B});
  idx.as<int32_t>()[0] = 2, idx.as<int32_t>()[1] = -1;
  in.push_back(std::move(idx));
  std::string q = tensorType({B, H, K}, "f32"), v = tensorType({B, H, V}, "f32"),
              pt = tensorType({P, H, K, V}, "f32"),
              bt = tensorType({B, H}, "f32"), it = tensorType({B}, "i32");
  std::string text =
      "func.func @main(%q: " + q + ", %k: " + q + ", %v: " + v + ", %s: " + pt +
      ", %beta: " + bt + ", %idx: " + it + ") -> (" + v + ", " + pt +
      ") {\n  %o, %s1 = ssm.delta_rule_step %q, %k, %v, %s beta(%beta) "
      "state_batch_indices(%idx) : (" +
      q + ", " + q + ", " + v + ", " + pt + ", " + bt + ", " + it + ") -> (" +
      v + ", " + pt + ")\n  return %o, %s1 : " + v + ", " + pt + "\n}\n";
  auto outs = runProgram(text, in);
  ASSERT_TRUE(static_cast<bool>(outs)) << llvm::toString(outs.takeError());
  // Entry 0 against the reference step from slot 2.
  ref::DeltaRuleProblem p;
  p.heads = H, p.keyHeads = H, p.keyDim = K, p.valueDim = V;
  for (int64_t i = 0; i < K; ++i) {
    p.q.push_back(in[0].getAsDouble(i));
    p.k.push_back(in[1].getAsDouble(i));
  }
  for (int64_t i = 0; i < V; ++i)
    p.v.push_back(in[2].getAsDouble(i));
  for (int64_t i = 0; i < K * V; ++i)
    p.h0.push_back(in[3].getAsDouble(2 * K * V + i));
  p.beta = {in[4].getAsDouble(0)};
  ref::DeltaRuleResult want = ref::deltaRule(p);
  for (int64_t i = 0; i < V; ++i) {
    EXPECT_NEAR((*outs)[0].getAsDouble(i), want.out[i], 1e-5);
    EXPECT_EQ((*outs)[0].getAsDouble(V + i), 0.0) << "padding entry";
  }
  for (int64_t i = 0; i < K * V; ++i) {
    EXPECT_NEAR((*outs)[1].getAsDouble(2 * K * V + i), want.finalState[i], 1e-5);
    EXPECT_EQ((*outs)[1].getAsDouble(i), in[3].getAsDouble(i)) << "slot 0";
    EXPECT_EQ((*outs)[1].getAsDouble(K * V + i), in[3].getAsDouble(K * V + i))
        << "slot 1";
  }
}

} // namespace
