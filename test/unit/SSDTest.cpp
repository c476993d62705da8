//===- SSDTest.cpp - compiled Mamba-2 SSD vs reference, and the duality ---===//
//
// ssm.ssd through the CPU pipeline against ssmc::ref::ssd, and, at the
// reference level, the state-space duality the op's description states:
// SSD is linear attention with q = C, k = B, v = dt x and log gate dt A.
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"

#include "Rewrite.h"

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "test/lib/Reference.h"
#include "test/lib/RunProgram.h"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>
#include <sstream>
#include <utility>

using namespace ssmc;

namespace {

struct SSDConfig {
  int64_t batch = 1, len = 1, heads = 1, headDim = 1, groups = 1, state = 1;
  bool full = false;
  /// A in [-0.02, -0.001] rather than [-4, -0.1]: the state remembers
  /// hundreds of steps (tests of the GPU kernel's scan over chunks).
  bool slowDecay = false;
  std::vector<int64_t> offsets; // cu_seqlens (batch 1)
  std::vector<int64_t> seqIdx;  // seq_idx [B, L] (i32), any batch
  std::string elt = "f32";
  bool dynamic = false;
  /// With `full`: D [H, P] (one skip weight per head channel) instead of [H].
  bool dPerChannel = false;
  /// dt_limit [lo, hi] (clamp of dt after bias and softplus).
  std::optional<std::pair<double, double>> dtLimit;
  /// Element type of dt when it differs from x's (f32 next to bf16/f16).
  std::string dtElt;
};

/// `v` as an MLIR f64 literal (inf as its bit pattern).
std::string f64Literal(double v) {
  if (std::isinf(v))
    return v > 0 ? "0x7FF0000000000000" : "0xFFF0000000000000";
  std::ostringstream os;
  os.precision(17);
  os << std::scientific << v;
  return os.str();
}

std::string program(const SSDConfig &c) {
  using test::tensorType;
  const std::string acc = test::accumulatorOf(c.elt);
  std::string xt = tensorType({c.batch, c.len, c.heads, c.headDim}, c.elt, c.dynamic);
  std::string dtt = tensorType({c.batch, c.len, c.heads},
                               c.dtElt.empty() ? c.elt : c.dtElt, c.dynamic);
  std::string ht = tensorType({c.heads}, acc, c.dynamic);
  std::string Dt = c.dPerChannel ? tensorType({c.heads, c.headDim}, acc, c.dynamic) : ht;
  std::string bt = tensorType({c.batch, c.len, c.groups, c.state}, c.elt, c.dynamic);
  const int64_t S = c.offsets.empty() ? c.batch : int64_t(c.offsets.size()) - 1;
  std::string st = tensorType({S, c.heads, c.headDim, c.state}, acc, c.dynamic);
  std::string args = "%x: " + xt + ", %dt: " + dtt + ", %A: " + ht + ", %B: " + bt + ", %C: " + bt;
  std::string types = xt + ", " + dtt + ", " + ht + ", " + bt + ", " + bt;
  std::string extra;
  if (c.full) {
    args += ", %D: " + Dt + ", %z: " + xt + ", %bias: " + ht + ", %h0: " + st;
    types += ", " + Dt + ", " + xt + ", " + ht + ", " + st;
    extra = " D(%D) z(%z) dt_bias(%bias) h0(%h0)";
  }
  if (!c.offsets.empty()) {
    std::string ct = tensorType({int64_t(c.offsets.size())}, "i32", c.dynamic);
    args += ", %cu: " + ct;
    types += ", " + ct;
    extra += " cu_seqlens(%cu)";
  }
  if (!c.seqIdx.empty()) {
    std::string it = tensorType({c.batch, c.len}, "i32", c.dynamic);
    args += ", %seq: " + it;
    types += ", " + it;
    extra += " seq_idx(%seq)";
  }
  if (c.full)
    extra += " dt_softplus";
  if (c.dtLimit)
    extra += " {dt_limit = array<f64: " + f64Literal(c.dtLimit->first) + ", " +
             f64Literal(c.dtLimit->second) + ">}";
  return "func.func @main(" + args + ") -> (" + xt + ", " + st + ") {\n" +
         "  %y, %h = ssm.ssd %x, %dt, %A, %B, %C" + extra + " : (" + types +
         ") -> (" + xt + ", " + st + ")\n  return %y, %h : " + xt + ", " + st +
         "\n}\n";
}

/// `source` after ssm-decompose (SSD rewritten as linear attention).
std::string decompose(const std::string &source) {
  std::string text = test::rewrite(source, "ssm-decompose");
  EXPECT_EQ(text.find("ssm.ssd"), std::string::npos) << text;
  return text;
}

void check(const SSDConfig &c, unsigned seed, double rtol,
           bool viaLinearAttention = false, Target target = Target::CPU) {
  std::mt19937 rng(seed);
  DType elt = *parseDType(c.elt), acc = *parseDType(test::accumulatorOf(c.elt));
  ref::SSDProblem p;
  p.batch = c.batch, p.seqLen = c.len, p.heads = c.heads, p.headDim = c.headDim;
  p.groups = c.groups, p.stateSize = c.state, p.dtSoftplus = c.full;
  p.dtLimit = c.dtLimit;
  DType dtType = c.dtElt.empty() ? elt : *parseDType(c.dtElt);
  std::vector<OwnedTensor> inputs;
  auto random = [&](DType dt, std::vector<int64_t> shape, double lo, double hi,
                    std::vector<double> &values) {
    inputs.push_back(test::randomTensor(rng, dt, shape, lo, hi, values));
  };
  random(elt, {c.batch, c.len, c.heads, c.headDim}, -1, 1, p.x);
  random(dtType, {c.batch, c.len, c.heads}, c.full ? -3 : 0.01, c.full ? 1 : 0.5, p.dt);
  random(acc, {c.heads}, c.slowDecay ? -0.02 : -4, c.slowDecay ? -0.001 : -0.1, p.A);
  random(elt, {c.batch, c.len, c.groups, c.state}, -1, 1, p.B);
  random(elt, {c.batch, c.len, c.groups, c.state}, -1, 1, p.C);
  if (c.full) {
    if (c.dPerChannel)
      random(acc, {c.heads, c.headDim}, -1, 1, p.D);
    else
      random(acc, {c.heads}, -1, 1, p.D);
    random(elt, {c.batch, c.len, c.heads, c.headDim}, -3, 3, p.z);
    random(acc, {c.heads}, -1, 0.5, p.dtBias);
    const int64_t S = c.offsets.empty() ? c.batch : int64_t(c.offsets.size()) - 1;
    random(acc, {S, c.heads, c.headDim, c.state}, -1, 1, p.h0);
  }
  if (!c.offsets.empty()) {
    OwnedTensor cu(DType::I32, {int64_t(c.offsets.size())});
    for (size_t i = 0; i < c.offsets.size(); ++i)
      cu.as<int32_t>()[i] = static_cast<int32_t>(c.offsets[i]);
    p.cuSeqlens = c.offsets;
    inputs.push_back(std::move(cu));
  }
  if (!c.seqIdx.empty()) {
    OwnedTensor seq(DType::I32, {c.batch, c.len});
    for (size_t i = 0; i < c.seqIdx.size(); ++i)
      seq.as<int32_t>()[i] = static_cast<int32_t>(c.seqIdx[i]);
    p.seqIdx = c.seqIdx;
    inputs.push_back(std::move(seq));
  }
  std::string source = program(c);
  if (viaLinearAttention)
    source = decompose(source);
  auto results = test::runProgram(source, inputs, target);
  ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
  ref::SSDResult want = ref::ssd(p);
  for (int k = 0; k < 2; ++k) {
    auto [err, scale] =
        test::maxError((*results)[k], k ? want.finalState : want.out);
    EXPECT_LE(err, rtol * scale) << (k ? "final state" : "out");
  }
}

SSDConfig cfg(int64_t B, int64_t L, int64_t H, int64_t P, int64_t G, int64_t N) {
  SSDConfig c;
  c.batch = B, c.len = L, c.heads = H, c.headDim = P, c.groups = G, c.state = N;
  return c;
}

TEST(SSDNumerics, Basic) { check(cfg(2, 13, 3, 16, 1, 8), 1, 1e-4); }

void checkGPUKernel(Target target) {
  check(cfg(2, 13, 3, 16, 1, 8), 1, 1e-4, false, target);
  SSDConfig c = cfg(2, 17, 4, 21, 2, 5);
  c.full = true;
  check(c, 2, 1e-4, false, target);
  check(cfg(1, 0, 2, 4, 1, 4), 3, 1e-4, false, target);
  // Several shared-memory tiles of T = 32 steps (the last partial) and two
  // blocks of columns (P = 130); N = 256: each column's state over 8
  // threads of 32 registers, tiles of 8 steps.
  SSDConfig tiles = cfg(1, 75, 2, 130, 1, 16);
  tiles.full = true;
  check(tiles, 4, 1e-4, false, target);
  check(cfg(1, 40, 1, 3, 1, 256), 5, 1e-4, false, target);
  // N = 37 (prime): 37 threads of one state value per column.
  check(cfg(1, 20, 2, 5, 1, 37), 6, 1e-4, false, target);
  // bf16 operands, computed in f32 (the CPU lowering's tolerance).
  SSDConfig b = cfg(1, 40, 2, 32, 1, 16);
  b.elt = "bf16";
  b.full = true;
  check(b, 7, 1e-2, false, target);
  // Mamba-2's D per head channel [H, P], dt clamped by dt_limit, and f32
  // step sizes next to bf16 activations.
  SSDConfig peer = cfg(2, 19, 3, 7, 3, 6);
  peer.full = peer.dPerChannel = true;
  peer.dtLimit = std::make_pair(0.05, 0.4);
  check(peer, 12, 1e-4, false, target);
  SSDConfig mixed = cfg(1, 21, 2, 9, 1, 8);
  mixed.elt = "bf16";
  mixed.dtElt = "f32";
  mixed.full = mixed.dPerChannel = true;
  mixed.dtLimit = std::make_pair(0.0, INFINITY);
  check(mixed, 13, 1e-2, false, target);
  // Long sequences: the grid is short of threads, so the kernel splits L
  // into chunk groups (C = 4 at N = 16 and N = 128, C = 2 at N = 37) and
  // scans the chunks' states; h0 enters chunk 0, the last chunk writes the
  // final state.
  SSDConfig chunked = cfg(1, 300, 2, 8, 1, 16);
  chunked.full = chunked.slowDecay = true;
  check(chunked, 8, 1e-4, false, target);
  SSDConfig wide = cfg(1, 200, 1, 4, 1, 128);
  wide.full = wide.slowDecay = true;
  check(wide, 9, 1e-4, false, target);
  SSDConfig prime = cfg(1, 300, 1, 2, 1, 37);
  prime.slowDecay = true;
  check(prime, 10, 1e-4, false, target);
  // Two columns, L = 1100: 16 chunk groups of 8 threads, fewer than a
  // tile's 16 steps.
  SSDConfig many = cfg(1, 1100, 1, 2, 1, 16);
  many.full = many.slowDecay = true;
  check(many, 11, 1e-4, false, target);
}
TEST(SSDNumerics, GPUKernelMatchesTheReference) {
  // One thread per (batch, head, p) on the CUDA target; skipped without a
  // driver and device.
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  checkGPUKernel(Target::CUDA);
}
TEST(SSDNumerics, GPUKernelOnTheEmulatorMatchesTheReference) {
  checkGPUKernel(Target::GPUEmulator);
}
TEST(SSDNumerics, EveryStateSizeKindOnTheEmulator) {
  // The kernel splits a column's N state values over threads: N = 1, a
  // prime below the 128 threads of a block (127), primes above it (131,
  // 199, 251: no divisor gives at most 128 slices of at most 16 values, so
  // the last slice is padded) and the largest N (256).
  for (int64_t n : {1, 127, 131, 199, 251, 256}) {
    SCOPED_TRACE("N = " + std::to_string(n));
    SSDConfig c = cfg(1, 23, 2, 3, 1, n);
    c.full = true;
    check(c, 20 + unsigned(n), 1e-4, false, Target::GPUEmulator);
  }
  // Widths no kernel takes (0, above 256) stay on the host loops.
  for (int64_t n : {0, 257}) {
    SCOPED_TRACE("N = " + std::to_string(n));
    check(cfg(1, 9, 2, 3, 1, n), 20 + unsigned(n), 1e-4, false,
          Target::GPUEmulator);
  }
  // Long enough for chunk groups: the padded values' decay products enter
  // the scan over chunks.
  SSDConfig chunked = cfg(1, 300, 1, 2, 1, 131);
  chunked.full = chunked.slowDecay = true;
  check(chunked, 30, 1e-4, false, Target::GPUEmulator);
}
TEST(SSDNumerics, AllOptionsGroupedOddSizes) {
  SSDConfig c = cfg(2, 17, 4, 21, 2, 5);
  c.full = true;
  check(c, 2, 1e-4);
}
TEST(SSDNumerics, DynamicShapes) {
  SSDConfig c = cfg(1, 9, 6, 10, 3, 16);
  c.full = true;
  c.dynamic = true;
  check(c, 3, 1e-4);
}
TEST(SSDNumerics, BF16AndF64) {
  SSDConfig b = cfg(1, 20, 2, 32, 1, 16);
  b.elt = "bf16";
  b.full = true;
  check(b, 4, 1e-2);
  SSDConfig d = cfg(1, 11, 2, 7, 2, 3);
  d.elt = "f64";
  d.full = true;
  check(d, 5, 1e-10);
}

TEST(SSDNumerics, PerChannelSkipAndDtLimit) {
  // D [H, P] (mamba_chunk_scan_combined with a D per head dimension) and
  // dt_limit clamping after bias and softplus, at odd sizes; the limits cut
  // through the range of softplus(dt + bias) so both bounds clamp.
  SSDConfig c = cfg(2, 23, 5, 11, 5, 7);
  c.full = c.dPerChannel = true;
  c.dtLimit = std::make_pair(0.1, 0.6);
  check(c, 40, 1e-4);
  // Only a lower bound (as the peer's default (0, inf)), without softplus:
  // step sizes below 0.2 are raised to it.
  SSDConfig lower = cfg(1, 17, 3, 5, 1, 4);
  lower.dtLimit = std::make_pair(0.2, INFINITY);
  check(lower, 41, 1e-4);
  // Packed sequences and dynamic shapes with both.
  SSDConfig packed = cfg(1, 19, 2, 9, 1, 4);
  packed.full = packed.dPerChannel = packed.dynamic = true;
  packed.dtLimit = std::make_pair(0.05, 0.3);
  packed.offsets = {0, 7, 19};
  check(packed, 42, 1e-4);
}

TEST(SSDNumerics, F32StepSizesWithLowPrecisionActivations) {
  // dt, A, D and dt_bias in f32 next to bf16/f16 x, B, C and z, as the
  // peers keep them; each operand is read from its own type.
  for (const char *elt : {"bf16", "f16"}) {
    SCOPED_TRACE(elt);
    SSDConfig c = cfg(2, 27, 3, 10, 3, 8);
    c.elt = elt;
    c.dtElt = "f32";
    c.full = c.dPerChannel = true;
    c.dtLimit = std::make_pair(0.0, 0.5);
    check(c, 43, 1e-2);
  }
}

TEST(SSDNumerics, PackedSequencesRestartTheState) {
  SSDConfig c = cfg(1, 19, 2, 9, 1, 4);
  c.full = true;
  c.offsets = {0, 6, 6, 19}; // lengths 6, 0 and 13
  check(c, 8, 1e-4);
  c.dynamic = true;
  c.offsets = {0, 1, 18, 19};
  check(c, 9, 1e-4);
}

/// seq_idx rows of L = 19 for B = 3: one sequence; length-1 sequences at
/// steps 0 and L-1 around a long one; five sequences, one of 12 steps
/// (three chunks of the CPU kernel) and two of length 1.
std::vector<int64_t> threeRowPacking() {
  std::vector<int64_t> rows;
  auto append = [&](std::initializer_list<std::pair<int64_t, int64_t>> runs) {
    for (auto [id, count] : runs)
      rows.insert(rows.end(), count, id);
  };
  append({{0, 19}});
  append({{0, 1}, {1, 17}, {2, 1}});
  append({{0, 3}, {1, 1}, {2, 12}, {3, 1}, {4, 2}});
  return rows;
}

TEST(SSDNumerics, SequencesPackedPerBatchRow) {
  // seq_idx [B, L] with B = 3 and a different packing per row; h0 enters
  // each row's first sequence, the final state leaves its last one.
  SSDConfig c = cfg(3, 19, 2, 9, 2, 5);
  c.full = true;
  c.seqIdx = threeRowPacking();
  check(c, 21, 1e-4);
  // The GPU target keeps seq_idx on the CPU lowering inside its pipeline.
  check(c, 22, 1e-4, false, Target::GPUEmulator);
  c.dynamic = true;
  check(c, 23, 1e-4);
}

TEST(SSDDuality, RewrittenAsLinearAttentionMatchesTheReference) {
  // ssm-decompose turns ssm.ssd into ssm.linear_attention plus layout
  // changes; the compiled result must still be SSD.
  SSDConfig c = cfg(2, 15, 4, 9, 2, 5);
  c.full = true;
  check(c, 11, 1e-4, /*viaLinearAttention=*/true);
  SSDConfig packed = cfg(1, 12, 2, 6, 1, 3);
  packed.full = true;
  packed.offsets = {0, 4, 12};
  check(packed, 12, 1e-4, true);
  // D per head channel and dt_limit pass through the rewrite.
  SSDConfig peer = cfg(1, 13, 3, 5, 1, 4);
  peer.full = peer.dPerChannel = true;
  peer.dtLimit = std::make_pair(0.1, 0.5);
  check(peer, 13, 1e-4, true);
}

TEST(SSDDuality, SSDIsLinearAttentionWithAScalarGate) {
  // q = C, k = B, v = dt x, log gate = dt A, scale 1, identity features.
  const int64_t L = 12, H = 2, P = 5, N = 4;
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(-1, 1), pos(0.05, 0.6), neg(-3, -0.2);
  ref::SSDProblem s;
  s.seqLen = L, s.heads = H, s.headDim = P, s.groups = 1, s.stateSize = N;
  for (int64_t i = 0; i < L * H * P; ++i)
    s.x.push_back(u(rng));
  for (int64_t i = 0; i < L * H; ++i)
    s.dt.push_back(pos(rng));
  for (int64_t h = 0; h < H; ++h)
    s.A.push_back(neg(rng));
  for (int64_t i = 0; i < L * N; ++i) {
    s.B.push_back(u(rng));
    s.C.push_back(u(rng));
  }
  ref::SSDResult ssd = ref::ssd(s);

  ref::LinearAttentionProblem la;
  la.heads = H, la.seqLen = L, la.keyDim = N, la.valueDim = P, la.scale = 1;
  la.q.resize(H * L * N), la.k.resize(H * L * N), la.v.resize(H * L * P);
  la.gate.resize(H * L);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t t = 0; t < L; ++t) {
      const double dt = s.dt[t * H + h];
      la.gate[h * L + t] = dt * s.A[h];
      for (int64_t n = 0; n < N; ++n) {
        la.q[(h * L + t) * N + n] = s.C[t * N + n];
        la.k[(h * L + t) * N + n] = s.B[t * N + n];
      }
      for (int64_t p = 0; p < P; ++p)
        la.v[(h * L + t) * P + p] = dt * s.x[(t * H + h) * P + p];
    }
  ref::LinearAttentionResult lin = ref::linearAttention(la);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t t = 0; t < L; ++t)
      for (int64_t p = 0; p < P; ++p)
        EXPECT_NEAR(ssd.out[(t * H + h) * P + p], lin.out[(h * L + t) * P + p], 1e-12);
  // States: SSD's [P, N] is the transpose of linear attention's [K=N, V=P].
  for (int64_t h = 0; h < H; ++h)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t n = 0; n < N; ++n)
        EXPECT_NEAR(ssd.finalState[(h * P + p) * N + n],
                    lin.finalState[(h * N + n) * P + p], 1e-12);
}

} // namespace
