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

#include "ssmc/Cuda.h"
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

/// Cases run on the gpu-emulator target unless they name a target.
llvm::Expected<std::vector<OwnedTensor>>
runProgram(const std::string &text, std::vector<OwnedTensor> &inputs) {
  return runProgram(text, inputs, Target::GPUEmulator);
}
void expectMatches(const DeltaConfig &c, unsigned seed,
                   const std::vector<int64_t> &offsets = {}) {
  expectMatches(c, seed, offsets, Target::GPUEmulator);
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
