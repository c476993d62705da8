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
  double scale = -1;
  std::string elt = "f32";
  bool dynamic = false;
};

std::string program(const AttentionConfig &c) {
  using test::tensorType;
  std::string qt = tensorType({c.batch, c.heads, c.queryLen, c.headDim}, c.elt, c.dynamic);
  std::string kt = tensorType({c.batch, c.kvHeads, c.keyLen, c.headDim}, c.elt, c.dynamic);
  std::string vt = tensorType({c.batch, c.kvHeads, c.keyLen, c.valueDim}, c.elt, c.dynamic);
  std::string ot = tensorType({c.batch, c.heads, c.queryLen, c.valueDim}, c.elt, c.dynamic);
  std::string attrs;
  if (c.window)
    attrs += "window = " + std::to_string(c.window) + " : i64";
  if (c.scale >= 0)
    attrs += std::string(attrs.empty() ? "" : ", ") + "scale = " + std::to_string(c.scale);
  return "func.func @main(%q: " + qt + ", %k: " + kt + ", %v: " + vt + ") -> " +
         ot + " {\n  %o = ssm.attention %q, %k, %v" +
         (c.causal ? " causal" : "") + (attrs.empty() ? "" : " {" + attrs + "}") +
         " : (" + qt + ", " + kt + ", " + vt + ") -> " + ot +
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
  p.scale = c.scale;
  std::vector<OwnedTensor> inputs;
  auto random = [&](std::vector<int64_t> shape, std::vector<double> &values) {
    OwnedTensor t(elt, shape);
    std::uniform_real_distribution<double> d(-2, 2);
    for (int64_t i = 0; i < t.numel(); ++i) {
      t.setFromDouble(i, d(rng));
      values.push_back(t.getAsDouble(i));
    }
    inputs.push_back(std::move(t));
  };
  random({c.batch, c.heads, c.queryLen, c.headDim}, p.q);
  random({c.batch, c.kvHeads, c.keyLen, c.headDim}, p.k);
  random({c.batch, c.kvHeads, c.keyLen, c.valueDim}, p.v);
  JitOptions options;
  options.target = target;
  auto jit = Jit::compile(program(c), options);
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  auto results = (*jit)->run("main", {inputs[0].view(), inputs[1].view(), inputs[2].view()});
  ASSERT_TRUE(static_cast<bool>(results)) << llvm::toString(results.takeError());
  std::vector<double> want = ref::attention(p);
  double err = 0, scale = 1;
  const OwnedTensor &got = (*results)[0];
  ASSERT_EQ(got.numel(), static_cast<int64_t>(want.size()));
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = got.getAsDouble(i);
    err = std::isnan(g) ? INFINITY : std::max(err, std::fabs(g - want[i]));
    scale = std::max(scale, std::fabs(want[i]));
  }
  EXPECT_LE(err, rtol * scale);
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
  // Several key tiles (64 rows at d = dv = 16, the last partial), two
  // blocks of queries, a sliding window that starts mid-tile; a decode-like
  // single query over 300 keys; d = dv = 256 (tiles of 16 keys).
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

} // namespace
