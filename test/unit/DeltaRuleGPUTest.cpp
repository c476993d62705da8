//===- DeltaRuleGPUTest.cpp - the delta-rule GPU kernel vs reference -----===//
//
// ssm.delta_rule's recurrent GPU kernel (lib/Conversion/SSMToGPU/
// DeltaRuleToGPU.cpp) run on the gpu-emulator target (a CUDA block's
// semantics on the host: shared memory, barriers) against
// ssmc::ref::deltaRule (fla's naive recurrences in double): every form
// (DeltaNet, Gated DeltaNet, KDA, RWKV-7's DPLR) at odd K and V (partial
// value tiles, rows not a multiple of the parts per column), grouped
// heads, l2 normalisation, packed sequences (an empty one included), h0
// and the final state, bf16 inputs, the largest K (256), the decode step
// (T = 1 from a state); the chunked kernel (DeltaNet, Gated DeltaNet,
// KDA, RWKV-7) at prime T, odd K and V, grouped heads, packed sequences,
// slow decays over many chunks, bf16 and K = 256; and on the CUDA target
// where a driver is found.
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

using namespace ssmc;
using ssmc::test::tensorType;

namespace {

enum class Form { DeltaNet, Gated, KDA, DPLR };

struct DeltaConfig {
  int64_t batch = 1, seqLen = 1, keyHeads = 1, heads = 1, keyDim = 1,
          valueDim = 1;
  Form form = Form::Gated;
  bool l2norm = false, hasH0 = false, finalState = false;
  double scale = -1;      ///< < 0: the op's default
  int64_t chunk = -1;     ///< < 0: no chunk_size attribute
  int64_t sequences = 0;  ///< > 0: packed with cu_seqlens (batch 1)
  bool weakGate = false;  ///< log decays in [-0.005, 0] instead of [-0.5, 0]
  std::string elt = "f32";
};

/// `func.func @main(q, k, v, beta | a, b [, gate] [, h0] [, cu])`.
std::string program(const DeltaConfig &c) {
  const std::string acc = test::accumulatorOf(c.elt);
  const int64_t S = c.sequences ? c.sequences : c.batch;
  std::string qk = tensorType({c.batch, c.seqLen, c.keyHeads, c.keyDim}, c.elt);
  std::string vt = tensorType({c.batch, c.seqLen, c.heads, c.valueDim}, c.elt);
  std::string kt = tensorType({c.batch, c.seqLen, c.heads, c.keyDim}, c.elt);
  std::string st = tensorType({S, c.heads, c.keyDim, c.valueDim}, acc);
  std::vector<std::pair<std::string, std::string>> args = {
      {"q", qk}, {"k", qk}, {"v", vt}};
  std::string use = "%q, %k, %v";
  auto add = [&](const std::string &name, const std::string &type) {
    args.push_back({name, type});
    use += " " + name + "(%" + name + ")";
  };
  if (c.form == Form::DPLR) {
    // The log decays in the accumulator type, as makeInputs stores them.
    add("gate", tensorType({c.batch, c.seqLen, c.heads, c.keyDim}, acc));
    add("a", kt);
    add("b", kt);
  } else {
    add("beta", tensorType({c.batch, c.seqLen, c.heads}, c.elt));
    if (c.form == Form::Gated)
      add("gate", tensorType({c.batch, c.seqLen, c.heads}, acc));
    if (c.form == Form::KDA)
      add("gate", tensorType({c.batch, c.seqLen, c.heads, c.keyDim}, acc));
  }
  if (c.hasH0)
    add("h0", st);
  if (c.sequences)
    add("cu_seqlens", tensorType({c.sequences + 1}, "i64"));
  if (c.l2norm)
    use += " use_qk_l2norm";
  std::vector<std::string> attrs;
  if (c.scale >= 0)
    attrs.push_back("scale = " + std::to_string(c.scale) + " : f64");
  if (c.chunk >= 0)
    attrs.push_back("chunk_size = " + std::to_string(c.chunk) + " : i64");
  if (!attrs.empty()) {
    use += " {";
    for (size_t i = 0; i < attrs.size(); ++i)
      use += (i ? ", " : "") + attrs[i];
    use += "}";
  }
  std::string sig, types;
  for (size_t i = 0; i < args.size(); ++i) {
    sig += (i ? ", %" : "%") + args[i].first + ": " + args[i].second;
    types += (i ? ", " : "") + args[i].second;
  }
  std::string results = c.finalState ? "(" + vt + ", " + st + ")" : vt;
  std::string names = c.finalState ? "%o, %s" : "%o";
  std::string ret = c.finalState ? "%o, %s : " + vt + ", " + st : "%o : " + vt;
  return "func.func @main(" + sig + ") -> " + results + " {\n  " + names +
         " = ssm.delta_rule " + use + " : (" + types + ") -> " + results +
         "\n  return " + ret + "\n}\n";
}

/// Random inputs for `c` (stored in its element types, read back so the
/// reference sees exactly what the program reads) and the problem.
struct Inputs {
  std::vector<OwnedTensor> tensors;
  ref::DeltaRuleProblem p;
};

Inputs makeInputs(const DeltaConfig &c, unsigned seed,
                  const std::vector<int64_t> &offsets = {}) {
  Inputs in;
  std::mt19937 rng(seed);
  DType elt = *parseDType(c.elt);
  DType acc = *parseDType(test::accumulatorOf(c.elt));
  auto store = [&](DType dt, std::vector<int64_t> shape,
                   const std::vector<double> &values,
                   std::vector<double> &into) {
    OwnedTensor t(dt, shape);
    for (int64_t i = 0; i < t.numel(); ++i) {
      t.setFromDouble(i, values[i]);
      into.push_back(t.getAsDouble(i));
    }
    in.tensors.push_back(std::move(t));
  };
  auto uniform = [&](int64_t n, double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<double> x(n);
    for (double &e : x)
      e = d(rng);
    return x;
  };
  const int64_t B = c.batch, T = c.seqLen, Hk = c.keyHeads, H = c.heads,
                K = c.keyDim, V = c.valueDim;
  ref::DeltaRuleProblem &p = in.p;
  p.batch = B, p.seqLen = T, p.keyHeads = Hk, p.heads = H, p.keyDim = K;
  p.valueDim = V, p.l2norm = c.l2norm, p.scale = c.scale;
  // Keys of norm about 1 without l2norm, so the delta update stays a
  // contraction (beta ||k||^2 < 2).
  double kr = c.l2norm ? 1.0 : std::sqrt(3.0 / double(K));
  store(elt, {B, T, Hk, K}, uniform(B * T * Hk * K, -1, 1), p.q);
  store(elt, {B, T, Hk, K}, uniform(B * T * Hk * K, -kr, kr), p.k);
  store(elt, {B, T, H, V}, uniform(B * T * H * V, -1, 1), p.v);
  double glo = c.weakGate ? -0.005 : -0.5;
  if (c.form == Form::DPLR) {
    // RWKV-7's shape of the low-rank term: a = -kk, b = kk * iclr with kk
    // a unit vector, so diag(w) + a b^T stays a contraction.
    std::vector<double> a(B * T * H * K), bv(B * T * H * K);
    for (int64_t r = 0; r < B * T * H; ++r) {
      std::vector<double> kk = uniform(K, -1, 1);
      double n = 0;
      for (double e : kk)
        n += e * e;
      double iclr = uniform(1, 0, 1)[0];
      for (int64_t i = 0; i < K; ++i) {
        a[r * K + i] = -kk[i] / std::sqrt(n);
        bv[r * K + i] = kk[i] / std::sqrt(n) * iclr;
      }
    }
    store(acc, {B, T, H, K}, uniform(B * T * H * K, glo, 0), p.gate);
    p.gatePerKey = true;
    store(elt, {B, T, H, K}, a, p.a);
    store(elt, {B, T, H, K}, bv, p.b);
  } else {
    store(elt, {B, T, H}, uniform(B * T * H, 0, 1), p.beta);
    if (c.form == Form::Gated)
      store(acc, {B, T, H}, uniform(B * T * H, glo, 0), p.gate);
    if (c.form == Form::KDA) {
      store(acc, {B, T, H, K}, uniform(B * T * H * K, glo, 0), p.gate);
      p.gatePerKey = true;
    }
  }
  const int64_t S = c.sequences ? c.sequences : B;
  if (c.hasH0)
    store(acc, {S, H, K, V}, uniform(S * H * K * V, -1, 1), p.h0);
  if (c.sequences) {
    OwnedTensor cu(DType::I64, {c.sequences + 1});
    for (int64_t i = 0; i <= c.sequences; ++i)
      cu.as<int64_t>()[i] = offsets[i];
    p.cuSeqlens = offsets;
    in.tensors.push_back(std::move(cu));
  }
  return in;
}

llvm::Expected<std::vector<OwnedTensor>>
runProgram(const std::string &text, std::vector<OwnedTensor> &inputs,
           Target target = Target::GPUEmulator) {
  JitOptions options;
  options.target = target;
  auto jit = Jit::compile(text, options);
  if (!jit)
    return jit.takeError();
  std::vector<Tensor> views;
  for (OwnedTensor &t : inputs)
    views.push_back(t.view());
  return (*jit)->run("main", views);
}

/// max |got - want| and max(1, max |want|).
std::pair<double, double> maxError(const OwnedTensor &got,
                                   const std::vector<double> &want) {
  double err = 0, scale = 1;
  EXPECT_EQ(got.numel(), int64_t(want.size()));
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.getAsDouble(i);
    err = std::isnan(g) ? INFINITY : std::max(err, std::fabs(g - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  return {err, scale};
}

/// Runs `c` and checks out (and the final state) against the reference:
/// f32 within 1e-4 * max(1, max|ref|); bf16/f16 within twice the error of
/// storing the exact result in that type, and 1e-2 relative.
void expectMatches(const DeltaConfig &c, unsigned seed,
                   const std::vector<int64_t> &offsets = {},
                   Target target = Target::GPUEmulator) {
  Inputs in = makeInputs(c, seed, offsets);
  auto results = runProgram(program(c), in.tensors, target);
  ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
  ref::DeltaRuleResult want = ref::deltaRule(in.p);
  ASSERT_EQ(results->size(), 1u + c.finalState);
  auto [err, scale] = maxError((*results)[0], want.out);
  double bound = 1e-4 * scale;
  if (c.elt != "f32" && c.elt != "f64") {
    // A plain loop reading the same inputs can at best store the exact
    // result rounded to the output type.
    OwnedTensor rounded((*results)[0].dtype(), (*results)[0].shape());
    for (int64_t i = 0; i < rounded.numel(); ++i)
      rounded.setFromDouble(i, want.out[i]);
    double plain = maxError(rounded, want.out).first;
    bound = std::min(2 * plain, 1e-2 * scale);
  }
  EXPECT_LE(err, bound) << "out";
  if (c.finalState) {
    auto [serr, sscale] = maxError((*results)[1], want.finalState);
    EXPECT_LE(serr, 1e-4 * sscale) << "final_state";
  }
}

DeltaConfig cfg(Form form, int64_t B, int64_t T, int64_t Hk, int64_t H,
                int64_t K, int64_t V) {
  DeltaConfig c;
  c.form = form;
  c.batch = B, c.seqLen = T, c.keyHeads = Hk, c.heads = H;
  c.keyDim = K, c.valueDim = V;
  return c;
}

TEST(DeltaRuleGPU, DeltaNetOddShapes) {
  DeltaConfig c = cfg(Form::DeltaNet, 2, 5, 1, 2, 19, 21);
  c.finalState = true;
  expectMatches(c, 21);
}

TEST(DeltaRuleGPU, GatedGroupedHeadsL2NormH0) {
  DeltaConfig c = cfg(Form::Gated, 1, 6, 2, 4, 24, 5);
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 22);
}

TEST(DeltaRuleGPU, KDAPerKeyDecay) {
  DeltaConfig c = cfg(Form::KDA, 1, 5, 1, 2, 33, 17);
  c.l2norm = true;
  c.finalState = true;
  expectMatches(c, 23);
}

TEST(DeltaRuleGPU, RWKV7DPLRForm) {
  DeltaConfig c = cfg(Form::DPLR, 1, 6, 2, 2, 13, 20);
  c.scale = 1.0;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 24);
}

TEST(DeltaRuleGPU, PackedSequencesWithAnEmptyOne) {
  DeltaConfig c = cfg(Form::Gated, 1, 11, 1, 2, 12, 9);
  c.sequences = 3;
  c.hasH0 = true;
  c.finalState = true;
  c.l2norm = true;
  expectMatches(c, 25, {0, 4, 4, 11});
}

TEST(DeltaRuleGPU, BF16InputsWithF32State) {
  DeltaConfig c = cfg(Form::KDA, 1, 5, 1, 2, 16, 24);
  c.elt = "bf16";
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 26);
}

TEST(DeltaRuleGPU, LargestKeySizeSingleStep) {
  // K = 256: the state tile and the step's vectors at the shared-memory
  // budget's largest K; one step (a decode step's shape).
  DeltaConfig c = cfg(Form::Gated, 1, 1, 1, 1, 256, 3);
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 27);
}

TEST(DeltaRuleGPU, DecodeStepContinuesFromTheState) {
  // ssm.delta_rule_step (Gated DeltaNet, l2norm, grouped heads) becomes
  // ssm.delta_rule with T = 1 and h0 = state (ssm-decompose-steps) and
  // runs on the kernel: out and new_state against the reference's single
  // step from that state.
  const int64_t B = 2, Hk = 1, H = 2, K = 9, V = 5;
  DeltaConfig c = cfg(Form::Gated, B, 1, Hk, H, K, V);
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  Inputs in = makeInputs(c, 30);
  // makeInputs' tensors: q, k, v, beta, gate, h0 in fla's sequence layout
  // with T = 1: the step's shapes hold the same values in the same order.
  std::vector<std::vector<int64_t>> shapes = {
      {B, Hk, K}, {B, Hk, K}, {B, H, V}, {B, H}, {B, H}, {B, H, K, V}};
  std::vector<OwnedTensor> args;
  for (int i : {0, 1, 2, 5, 3, 4}) {
    OwnedTensor t(in.tensors[i].dtype(), shapes[i]);
    std::memcpy(t.data(), in.tensors[i].data(),
                in.tensors[i].numel() * 4);
    args.push_back(std::move(t));
  }
  std::string qk = tensorType({B, Hk, K}, "f32"), vt = tensorType({B, H, V}, "f32");
  std::string bh = tensorType({B, H}, "f32"), st = tensorType({B, H, K, V}, "f32");
  std::string text =
      "func.func @main(%q: " + qk + ", %k: " + qk + ", %v: " + vt + ", %s: " +
      st + ", %beta: " + bh + ", %g: " + bh + ") -> (" + vt + ", " + st +
      ") {\n  %o, %s1 = ssm.delta_rule_step %q, %k, %v, %s beta(%beta) "
      "gate(%g) use_qk_l2norm : (" + qk + ", " + qk + ", " + vt + ", " + st +
      ", " + bh + ", " + bh + ") -> (" + vt + ", " + st + ")\n  return %o, "
      "%s1 : " + vt + ", " + st + "\n}\n";
  auto results = runProgram(text, args);
  ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
  ref::DeltaRuleResult want = ref::deltaRule(in.p);
  auto [err, scale] = maxError((*results)[0], want.out);
  EXPECT_LE(err, 1e-4 * scale) << "out";
  auto [serr, sscale] = maxError((*results)[1], want.finalState);
  EXPECT_LE(serr, 1e-4 * sscale) << "new_state";
}

// The chunked kernel (DeltaNet, Gated DeltaNet, KDA at a static T >= 64,
// a dynamic T, or chunk_size): chunks of at most 16 steps with the UT
// transform per chunk, a partial last chunk at prime T.
TEST(DeltaRuleGPU, ChunkedDeltaNetOddShapesPrimeLength) {
  DeltaConfig c = cfg(Form::DeltaNet, 2, 67, 1, 1, 19, 21);
  c.finalState = true;
  expectMatches(c, 41);
}

TEST(DeltaRuleGPU, ChunkedGatedGroupedHeadsL2NormH0) {
  DeltaConfig c = cfg(Form::Gated, 1, 37, 2, 4, 24, 5);
  c.chunk = 16;
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 42);
}

TEST(DeltaRuleGPU, ChunkedKDAPerKeyDecay) {
  DeltaConfig c = cfg(Form::KDA, 1, 23, 1, 2, 33, 17);
  c.chunk = 16;
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 43);
}

TEST(DeltaRuleGPU, ChunkedKDASlowDecayAcrossChunks) {
  // Log decays in [-0.005, 0]: the state carries over all 13 chunks.
  DeltaConfig c = cfg(Form::KDA, 1, 199, 1, 1, 7, 9);
  c.weakGate = true;
  c.l2norm = true;
  c.finalState = true;
  expectMatches(c, 44);
}

TEST(DeltaRuleGPU, ChunkedPackedSequencesWithAnEmptyOne) {
  DeltaConfig c = cfg(Form::Gated, 1, 41, 1, 2, 12, 9);
  c.chunk = 8;
  c.sequences = 3;
  c.hasH0 = true;
  c.finalState = true;
  c.l2norm = true;
  expectMatches(c, 45, {0, 17, 17, 41});
}

TEST(DeltaRuleGPU, ChunkedBF16InputsWithF32State) {
  DeltaConfig c = cfg(Form::KDA, 1, 64, 1, 2, 16, 24);
  c.elt = "bf16";
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 46);
}

TEST(DeltaRuleGPU, ChunkedLargestKeySize) {
  // K = 256 with a per-key gate: chunks of 8 (16 rows of q, k and the
  // decays would not fit the shared-memory budget beside the state tile).
  DeltaConfig c = cfg(Form::KDA, 1, 19, 1, 1, 256, 3);
  c.chunk = 64;
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 47);
}

TEST(DeltaRuleGPU, RWKV7BF16InputsWithF32State) {
  // bf16 q, k, v, a, b; f32 log decays and state (the recurrent kernel).
  DeltaConfig c = cfg(Form::DPLR, 1, 6, 1, 2, 16, 24);
  c.elt = "bf16";
  c.scale = 1.0;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 48);
}

// RWKV-7's DPLR form on the chunked kernel (fla's chunk_dplr_delta_rule:
// the reads a_i . s_{i-1} of each chunk by forward substitution).
TEST(DeltaRuleGPU, ChunkedRWKV7OddShapesPrimeLength) {
  DeltaConfig c = cfg(Form::DPLR, 2, 67, 1, 1, 19, 21);
  c.scale = 1.0;
  c.finalState = true;
  expectMatches(c, 51);
}

TEST(DeltaRuleGPU, ChunkedRWKV7GroupedHeadsL2NormH0) {
  DeltaConfig c = cfg(Form::DPLR, 1, 37, 2, 4, 24, 5);
  c.chunk = 16;
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 52);
}

TEST(DeltaRuleGPU, ChunkedRWKV7PackedSequencesWithAnEmptyOne) {
  DeltaConfig c = cfg(Form::DPLR, 1, 41, 1, 2, 12, 9);
  c.chunk = 8;
  c.scale = 1.0;
  c.sequences = 3;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 53, {0, 17, 17, 41});
}

TEST(DeltaRuleGPU, ChunkedRWKV7SlowDecayAcrossChunks) {
  // Log decays in [-0.005, 0]: the state carries over all 13 chunks.
  DeltaConfig c = cfg(Form::DPLR, 1, 199, 1, 1, 7, 9);
  c.weakGate = true;
  c.scale = 1.0;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 54);
}

TEST(DeltaRuleGPU, ChunkedRWKV7BF16InputsWithF32State) {
  DeltaConfig c = cfg(Form::DPLR, 1, 64, 1, 2, 16, 24);
  c.elt = "bf16";
  c.scale = 1.0;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 55);
}

TEST(DeltaRuleGPU, ChunkedRWKV7LargestKeySize) {
  // K = 256, V = 3: tiles of 4 columns and chunks of 8 (q, k, a, b and
  // the per-key decays of 16 steps would not fit beside the state tile).
  DeltaConfig c = cfg(Form::DPLR, 1, 11, 1, 1, 256, 3);
  c.chunk = 64;
  c.scale = 1.0;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 56);
}

TEST(DeltaRuleGPU, GPUKernelMatchesTheReference) {
  // The CUDA target (a driver and a device, or ctest's
  // fakecuda.kernels_vs_reference over the test driver's host twins):
  // gated with l2norm and both states, the DPLR form, and KDA and the
  // DPLR form on the chunked kernel.
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  DeltaConfig c = cfg(Form::Gated, 1, 5, 1, 2, 12, 9);
  c.l2norm = true;
  c.hasH0 = true;
  c.finalState = true;
  expectMatches(c, 28, {}, Target::CUDA);
  DeltaConfig d = cfg(Form::DPLR, 1, 4, 1, 1, 7, 5);
  d.scale = 1.0;
  d.finalState = true;
  expectMatches(d, 29, {}, Target::CUDA);
  // The chunked kernel (chunks of 4, a partial last one).
  DeltaConfig k = cfg(Form::KDA, 1, 9, 1, 2, 6, 5);
  k.chunk = 4;
  k.l2norm = true;
  k.hasH0 = true;
  k.finalState = true;
  expectMatches(k, 31, {}, Target::CUDA);
  // The DPLR form on the chunked kernel.
  DeltaConfig r = cfg(Form::DPLR, 1, 9, 1, 2, 6, 5);
  r.chunk = 4;
  r.scale = 1.0;
  r.hasH0 = true;
  r.finalState = true;
  expectMatches(r, 32, {}, Target::CUDA);
}

} // namespace
