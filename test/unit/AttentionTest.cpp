//===- AttentionTest.cpp - compiled softmax attention vs reference --------===//
//
// ssm.attention through ssm-cpu-pipeline and ssmc::Jit against
// ssmc::ref::attention (a two-pass softmax in double): causal and not,
// sliding windows, grouped KV heads, query/key lengths that differ (decode
// against a cache), head widths with masked tails, dynamic shapes, bf16.
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

using namespace ssmc;

namespace {

struct AttentionConfig {
  int64_t batch = 1, heads = 1, kvHeads = 1, queryLen = 1, keyLen = 1,
          headDim = 1, valueDim = 1;
  bool causal = false;
  int64_t window = 0;
  /// window_left / window_right attributes (-1: absent).
  int64_t windowLeft = -1, windowRight = -1;
  double scale = -1;
  double softcap = 0;
  /// ALiBi slopes: 0 none, 1 [H], 2 [B, H].
  int alibi = 0;
  bool sinks = false;
  /// Packed sequences (batch = 1) and keys used per entry or sequence.
  std::vector<int64_t> cuQ, cuK, used;
  std::string elt = "f32";
  bool dynamic = false;
};

/// The optional operands of `c`, in operand order: (keyword, tensor type).
std::vector<std::pair<std::string, std::string>>
optionalOperands(const AttentionConfig &c) {
  using test::tensorType;
  std::string side = c.elt == "f64" ? "f64" : "f32";
  std::vector<std::pair<std::string, std::string>> ops;
  if (c.alibi == 1)
    ops.push_back({"alibi_slopes", tensorType({c.heads}, side, c.dynamic)});
  if (c.alibi == 2)
    ops.push_back({"alibi_slopes", tensorType({c.batch, c.heads}, side, c.dynamic)});
  if (c.sinks)
    ops.push_back({"sinks", tensorType({c.heads}, side, c.dynamic)});
  if (!c.cuQ.empty()) {
    ops.push_back({"cu_seqlens_q", tensorType({int64_t(c.cuQ.size())}, "i32", c.dynamic)});
    ops.push_back({"cu_seqlens_k", tensorType({int64_t(c.cuK.size())}, "i32", c.dynamic)});
  }
  if (!c.used.empty())
    ops.push_back({"seqused_k", tensorType({int64_t(c.used.size())}, "i64", c.dynamic)});
  return ops;
}

std::string program(const AttentionConfig &c) {
  using test::tensorType;
  std::string qt = tensorType({c.batch, c.heads, c.queryLen, c.headDim}, c.elt, c.dynamic);
  std::string kt = tensorType({c.batch, c.kvHeads, c.keyLen, c.headDim}, c.elt, c.dynamic);
  std::string vt = tensorType({c.batch, c.kvHeads, c.keyLen, c.valueDim}, c.elt, c.dynamic);
  std::string ot = tensorType({c.batch, c.heads, c.queryLen, c.valueDim}, c.elt, c.dynamic);
  std::vector<std::string> attrs;
  if (c.window)
    attrs.push_back("window = " + std::to_string(c.window) + " : i64");
  if (c.windowLeft >= 0)
    attrs.push_back("window_left = " + std::to_string(c.windowLeft) + " : i64");
  if (c.windowRight >= 0)
    attrs.push_back("window_right = " + std::to_string(c.windowRight) + " : i64");
  if (c.scale >= 0)
    attrs.push_back("scale = " + std::to_string(c.scale));
  if (c.softcap > 0)
    attrs.push_back("softcap = " + std::to_string(c.softcap));
  std::string attrDict;
  for (const std::string &a : attrs)
    attrDict += (attrDict.empty() ? " {" : ", ") + a;
  if (!attrDict.empty())
    attrDict += "}";
  std::string args = "%q: " + qt + ", %k: " + kt + ", %v: " + vt;
  std::string uses, types = qt + ", " + kt + ", " + vt;
  int n = 0;
  for (auto &[kw, ty] : optionalOperands(c)) {
    std::string name = "%x" + std::to_string(n++);
    args += ", " + name + ": " + ty;
    uses += " " + kw + "(" + name + ")";
    types += ", " + ty;
  }
  return "func.func @main(" + args + ") -> " + ot +
         " {\n  %o = ssm.attention %q, %k, %v" + (c.causal ? " causal" : "") +
         uses + attrDict + " : (" + types + ") -> " + ot +
         "\n  return %o : " + ot + "\n}\n";
}

void check(const AttentionConfig &c, unsigned seed, double rtol,
           Target target = Target::CPU) {
  std::mt19937 rng(seed);
  DType elt = *parseDType(c.elt);
  ref::AttentionProblem p;
  p.batch = c.batch, p.heads = c.heads, p.kvHeads = c.kvHeads;
  p.queryLen = c.queryLen, p.keyLen = c.keyLen, p.headDim = c.headDim;
  p.valueDim = c.valueDim, p.causal = c.causal, p.window = c.window;
  p.windowLeft = c.windowLeft, p.windowRight = c.windowRight;
  p.scale = c.scale, p.softcap = c.softcap;
  p.cuSeqlensQ = c.cuQ, p.cuSeqlensK = c.cuK, p.sequsedK = c.used;
  p.alibiPerBatch = c.alibi == 2;
  std::vector<OwnedTensor> inputs;
  auto random = [&](DType t, std::vector<int64_t> shape,
                    std::vector<double> &values, double lo, double hi) {
    inputs.push_back(test::randomTensor(rng, t, shape, lo, hi, values));
  };
  auto integers = [&](DType t, const std::vector<int64_t> &values) {
    OwnedTensor x(t, {int64_t(values.size())});
    for (size_t i = 0; i < values.size(); ++i)
      x.setFromDouble(i, double(values[i]));
    inputs.push_back(std::move(x));
  };
  random(elt, {c.batch, c.heads, c.queryLen, c.headDim}, p.q, -2, 2);
  random(elt, {c.batch, c.kvHeads, c.keyLen, c.headDim}, p.k, -2, 2);
  random(elt, {c.batch, c.kvHeads, c.keyLen, c.valueDim}, p.v, -2, 2);
  DType side = elt == DType::F64 ? DType::F64 : DType::F32;
  if (c.alibi == 1)
    random(side, {c.heads}, p.alibiSlopes, 0.05, 1.0);
  if (c.alibi == 2)
    random(side, {c.batch, c.heads}, p.alibiSlopes, 0.05, 1.0);
  if (c.sinks)
    random(side, {c.heads}, p.sinks, -1.5, 3.0);
  if (!c.cuQ.empty()) {
    integers(DType::I32, c.cuQ);
    integers(DType::I32, c.cuK);
  }
  if (!c.used.empty())
    integers(DType::I64, c.used);
  auto results = test::runProgram(program(c), inputs, target);
  ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
  auto [err, scale] = test::maxError((*results)[0], ref::attention(p));
  EXPECT_LE(err, rtol * scale) << program(c);
}

AttentionConfig cfg(int64_t B, int64_t H, int64_t Hkv, int64_t Lq, int64_t Lk,
                    int64_t d, int64_t dv) {
  AttentionConfig c;
  c.batch = B, c.heads = H, c.kvHeads = Hkv, c.queryLen = Lq, c.keyLen = Lk;
  c.headDim = d, c.valueDim = dv;
  return c;
}

TEST(AttentionNumerics, FullAttention) { check(cfg(2, 2, 2, 9, 9, 8, 8), 1, 1e-4); }

/// The GPU kernel's cases, on the CUDA target or the GPU emulator.
void checkGPUKernel(Target target) {
  check(cfg(2, 2, 2, 9, 9, 8, 8), 1, 1e-4, target);
  AttentionConfig c = cfg(2, 6, 2, 7, 11, 16, 16);
  c.causal = true;
  check(c, 3, 1e-4, target);
  c.window = 3;
  check(c, 4, 1e-4, target);
  AttentionConfig wide = cfg(1, 1, 1, 6, 3, 4, 4); // empty first rows
  wide.causal = true;
  check(wide, 8, 1e-4, target);
  // Several key tiles (128 rows at d = dv = 16, the last partial), two
  // blocks of queries, a sliding window that starts mid-tile; a decode-like
  // single query over 300 keys; d = dv = 256 (tiles of 24 keys).
  AttentionConfig tiles = cfg(1, 4, 2, 150, 200, 16, 16);
  tiles.causal = true;
  check(tiles, 9, 1e-4, target);
  tiles.window = 70;
  check(tiles, 10, 1e-4, target);
  check(cfg(1, 2, 2, 130, 130, 16, 8), 11, 1e-4, target);
  AttentionConfig decode = cfg(2, 2, 1, 1, 300, 32, 32);
  decode.causal = true;
  check(decode, 12, 1e-4, target);
  check(cfg(1, 1, 1, 5, 40, 256, 256), 13, 1e-4, target);
  AttentionConfig half = cfg(1, 2, 2, 70, 90, 16, 16);
  half.causal = true;
  half.elt = "bf16";
  check(half, 14, 1e-2, target);
  check(cfg(1, 1, 1, 3, 0, 4, 4), 15, 0, target); // no keys: zeros
  // Groups of T threads per query summing their partial scores by warp
  // shuffles: T = 2 at d = dv = 64, T = 4 at d = dv = 128 (causal, a
  // sliding window, two blocks of 32 queries, a partial last warp); T = 4
  // with columns past d and dv (d = 130, dv = 70).
  AttentionConfig d64 = cfg(1, 2, 1, 45, 50, 64, 64);
  d64.causal = true;
  check(d64, 16, 1e-4, target);
  AttentionConfig d128 = cfg(1, 2, 1, 40, 45, 128, 128);
  d128.causal = true;
  check(d128, 17, 1e-4, target);
  d128.window = 20;
  check(d128, 18, 1e-4, target);
  check(cfg(1, 1, 1, 37, 30, 128, 128), 19, 1e-4, target);
  check(cfg(1, 1, 1, 33, 20, 130, 70), 20, 1e-4, target);
  // Key tiles as large as the SM's residency allows (AttentionPlan): three
  // tiles, the last partial, of 48 keys at d = dv = 128, of 96 at 64 (a
  // sliding window that starts mid-tile) and of 64 at 112 (56 KB: dynamic
  // shared memory on the GPU).
  check(cfg(1, 1, 1, 37, 110, 128, 128), 21, 1e-4, target);
  AttentionConfig d64tiles = cfg(1, 2, 1, 20, 230, 64, 64);
  d64tiles.causal = true;
  d64tiles.window = 120;
  check(d64tiles, 22, 1e-4, target);
  AttentionConfig d112 = cfg(1, 2, 1, 40, 150, 112, 112);
  d112.causal = true;
  check(d112, 23, 1e-4, target);
}
TEST(AttentionNumerics, GPUKernelMatchesTheReference) {
  // Skipped without a driver and device.
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  checkGPUKernel(Target::CUDA);
}
TEST(AttentionNumerics, GPUKernelOnTheEmulatorMatchesTheReference) {
  checkGPUKernel(Target::GPUEmulator);
}
TEST(AttentionNumerics, CausalOddSizes) {
  AttentionConfig c = cfg(1, 3, 3, 13, 13, 19, 21);
  c.causal = true;
  check(c, 2, 1e-4);
}
TEST(AttentionNumerics, GroupedQueryHeads) {
  AttentionConfig c = cfg(2, 6, 2, 7, 7, 16, 16);
  c.causal = true;
  check(c, 3, 1e-4);
  AttentionConfig mqa = cfg(1, 4, 1, 5, 11, 8, 12); // multi-query, Lq < Lk
  check(mqa, 4, 1e-4);
}
TEST(AttentionNumerics, SlidingWindow) {
  for (int64_t w : {1, 3, 8, 40}) {
    AttentionConfig c = cfg(1, 2, 2, 17, 17, 8, 8);
    c.causal = true;
    c.window = w;
    check(c, 5 + w, 1e-4);
  }
}
TEST(AttentionNumerics, DecodeAgainstACache) {
  // One query at the end of 37 keys: causal sees them all, a window of 5
  // the last five; more queries than keys leave the first rows empty (0).
  AttentionConfig c = cfg(1, 2, 1, 1, 37, 16, 16);
  c.causal = true;
  check(c, 6, 1e-4);
  c.window = 5;
  check(c, 7, 1e-4);
  AttentionConfig wide = cfg(1, 1, 1, 6, 3, 4, 4);
  wide.causal = true;
  check(wide, 8, 1e-4);
}
TEST(AttentionNumerics, ExplicitScaleDynamicShapesAndF64) {
  AttentionConfig c = cfg(2, 2, 1, 10, 12, 5, 3);
  c.dynamic = true;
  c.scale = 0.3;
  c.causal = true;
  check(c, 9, 1e-4);
  AttentionConfig f64 = cfg(1, 2, 2, 8, 8, 6, 6);
  f64.elt = "f64";
  f64.causal = true;
  check(f64, 10, 1e-10);
}
TEST(AttentionNumerics, BF16) {
  AttentionConfig c = cfg(1, 2, 2, 16, 16, 32, 32);
  c.elt = "bf16";
  c.causal = true;
  check(c, 11, 1e-2);
}
TEST(AttentionNumerics, ZeroLengthKeys) { check(cfg(1, 1, 1, 3, 0, 4, 4), 12, 0); }

// flash-attention's score options, against ref::attention (written from
// flash-attention's attention_ref): two-sided windows with the
// bottom-right alignment of Lq != Lk, softcap, ALiBi, sinks, packed
// sequences and per-entry key counts, at odd shapes, on the query-block
// schedule (Lq >= 8), the one-query schedule (Lq = 1) and packed rows.
std::vector<AttentionConfig> featureCases() {
  std::vector<AttentionConfig> cases;
  auto add = [&](AttentionConfig c) { cases.push_back(c); };
  for (auto [l, r] : {std::pair<int64_t, int64_t>{3, 2}, {0, 0}, {-1, 4},
                      {5, -1}, {1, 6}}) {
    AttentionConfig c = cfg(2, 3, 1, 13, 17, 7, 5);
    c.windowLeft = l, c.windowRight = r;
    add(c);
    AttentionConfig wide = cfg(1, 2, 2, 19, 6, 5, 3); // Lq > Lk
    wide.windowLeft = l, wide.windowRight = r;
    add(wide);
    AttentionConfig one = cfg(2, 2, 1, 1, 23, 9, 9); // one query
    one.windowLeft = l, one.windowRight = r;
    add(one);
  }
  AttentionConfig causalLeft = cfg(1, 2, 2, 11, 15, 6, 6);
  causalLeft.causal = true, causalLeft.windowLeft = 4;
  add(causalLeft);
  for (bool causal : {false, true}) {
    AttentionConfig cap = cfg(1, 2, 1, 12, 14, 24, 8);
    cap.causal = causal, cap.softcap = 1.5;
    add(cap);
    AttentionConfig alibi = cfg(2, 3, 3, 10, 13, 8, 4);
    alibi.causal = causal, alibi.alibi = 1;
    add(alibi);
    alibi.alibi = 2, alibi.windowLeft = causal ? 5 : 3,
    alibi.windowRight = causal ? -1 : 2;
    add(alibi);
    AttentionConfig sink = cfg(1, 4, 2, 9, 7, 6, 10); // empty causal rows
    sink.causal = causal, sink.sinks = true;
    add(sink);
    AttentionConfig all = cfg(2, 2, 1, 1, 31, 16, 16); // a decode query
    all.causal = causal, all.softcap = 3, all.alibi = 2, all.sinks = true;
    all.windowLeft = 9;
    add(all);
    AttentionConfig used = cfg(3, 2, 1, 5, 11, 7, 6); // seqused_k
    used.causal = causal, used.used = {0, 4, 11};
    add(used);
  }
  return cases;
}

TEST(AttentionNumerics, FlashAttentionOptions) {
  unsigned seed = 100;
  for (const AttentionConfig &c : featureCases())
    check(c, seed++, 1e-4);
}

TEST(AttentionNumerics, FlashAttentionOptionsF64BF16AndDynamic) {
  AttentionConfig c = cfg(1, 2, 1, 9, 12, 6, 6);
  c.causal = true, c.softcap = 2, c.alibi = 1, c.sinks = true,
  c.windowLeft = 4;
  c.elt = "f64";
  check(c, 200, 1e-10);
  c.elt = "bf16";
  check(c, 201, 1e-2);
  c.elt = "f32";
  c.dynamic = true;
  c.windowRight = -1;
  check(c, 202, 1e-4);
}

/// Packed sequences (flash_attn_varlen_func): a sequence without queries,
/// one without keys, query and key lengths that differ per sequence.
std::vector<AttentionConfig> packedCases() {
  std::vector<AttentionConfig> cases;
  for (int variant = 0; variant < 4; ++variant) {
    AttentionConfig c = cfg(1, 3, 1, 14, 23, 5, 7);
    c.cuQ = {0, 3, 3, 10, 11, 14};
    c.cuK = {0, 5, 6, 6, 20, 23};
    c.causal = variant != 1;
    if (variant == 1)
      c.windowLeft = 2, c.windowRight = 1;
    if (variant == 2)
      c.window = 3, c.softcap = 2.5, c.sinks = true, c.alibi = 1;
    if (variant == 3)
      c.used = {4, 1, 0, 9, 2};
    cases.push_back(c);
  }
  return cases;
}

TEST(AttentionNumerics, PackedSequences) {
  unsigned seed = 300;
  for (const AttentionConfig &c : packedCases())
    check(c, seed++, 1e-4);
}

TEST(AttentionNumerics, BadPackedOffsetsNameTheirOperand) {
  // A bad cu_seqlens_q and a bad cu_seqlens_k are run-time errors that name
  // the operand at fault and the length it must end at.
  AttentionConfig c = cfg(1, 2, 2, 8, 6, 4, 4);
  c.cuQ = {0, 3, 8}, c.cuK = {0, 2, 6};
  auto jit = Jit::compile(program(c));
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  auto runWith = [&](std::vector<int32_t> cuQ,
                     std::vector<int32_t> cuK) -> std::string {
    OwnedTensor q(DType::F32, {1, 2, 8, 4}), k(DType::F32, {1, 2, 6, 4}),
        v(DType::F32, {1, 2, 6, 4}), oq(DType::I32, {3}), ok(DType::I32, {3});
    for (int i = 0; i < 3; ++i)
      oq.as<int32_t>()[i] = cuQ[i], ok.as<int32_t>()[i] = cuK[i];
    auto results =
        (*jit)->run("main", {q.view(), k.view(), v.view(), oq.view(), ok.view()});
    return results ? std::string() : llvm::toString(results.takeError());
  };
  EXPECT_EQ(runWith({0, 3, 8}, {0, 2, 6}), "");
  std::string badQ = runWith({0, 5, 3}, {0, 2, 6});
  EXPECT_NE(badQ.find("'cu_seqlens_q' must start at 0, never decrease and "
                      "end at Lq"),
            std::string::npos)
      << badQ;
  EXPECT_EQ(badQ.find("'cu_seqlens_k'"), std::string::npos) << badQ;
  std::string badK = runWith({0, 3, 8}, {0, 2, 7});
  EXPECT_NE(badK.find("'cu_seqlens_k' must start at 0, never decrease and "
                      "end at Lk (reported: its last offset)"),
            std::string::npos)
      << badK;
  EXPECT_EQ(badK.find("'cu_seqlens_q'"), std::string::npos) << badK;
}

/// The GPU kernel's options, packed sequences included.
void checkGPUOptions(Target target) {
  unsigned seed = 400;
  for (const AttentionConfig &c : featureCases())
    check(c, seed++, 1e-4, target);
  AttentionConfig d64 = cfg(1, 2, 1, 45, 50, 64, 64); // T = 2
  d64.windowLeft = 7, d64.windowRight = 3, d64.softcap = 4, d64.alibi = 2,
  d64.sinks = true;
  check(d64, seed++, 1e-4, target);
  AttentionConfig d128 = cfg(2, 2, 2, 40, 70, 128, 128); // T = 4, tiles
  d128.causal = true, d128.used = {70, 33}, d128.sinks = true;
  check(d128, seed++, 1e-4, target);
  for (const AttentionConfig &c : packedCases())
    check(c, seed++, 1e-4, target);
  // Packed at T = 2 (d = 64): blocks of 64 queries that span several
  // sequences walk the union of their keys, masked per query.
  AttentionConfig packed64 = cfg(1, 2, 1, 90, 75, 64, 64);
  packed64.cuQ = {0, 20, 21, 60, 90};
  packed64.cuK = {0, 30, 31, 31, 75};
  packed64.causal = true, packed64.windowLeft = 11, packed64.sinks = true;
  check(packed64, seed++, 1e-4, target);
}
TEST(AttentionNumerics, GPUKernelOptionsMatchTheReference) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  checkGPUOptions(Target::CUDA);
}
TEST(AttentionNumerics, GPUKernelOptionsOnTheEmulatorMatchTheReference) {
  checkGPUOptions(Target::GPUEmulator);
}

} // namespace
