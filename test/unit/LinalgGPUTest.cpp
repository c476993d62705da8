//===- LinalgGPUTest.cpp - the models' linalg ops as GPU kernels ----------===//
//
// The ops a language model runs between its projections, as
// convert-ssm-to-gpu's linalg kernels (LinalgToGPU.cpp) on the GPU
// emulator, against plain double loops: rmsnorm (a reduction over the
// channels of [C, L] and a parallel normalisation) in decode (one point
// reducing 768 values: a block reduction), at C = 1, odd C, C past the
// block, and L past the point count where the kernel switches to 32 points
// per block, static and dynamic; a grouped norm (reduction over the middle
// dimension), a max reduction, the embedding gather (tensor.extract of the
// table at clamped token ids), transposes, and elementwise ops on tensors
// (SwiGLU, a residual add, rounding to bf16). Every op must have become a
// kernel: the emulated program holds one omp.parallel region per launch.
// The same cases run on the CUDA target where a driver (or the fake one,
// ctest fakecuda.kernels_vs_reference) is.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>

using namespace ssmc;

namespace {

struct Program {
  std::string text;
  std::vector<OwnedTensor> inputs;
  int64_t launches;
};

/// Compiles `p` for `target` (the GPU emulator or CUDA), checks its launch
/// count and returns its results.
std::vector<OwnedTensor> runOn(Program &p, Target target) {
  SCOPED_TRACE(p.text);
  JitOptions options;
  options.target = target;
  std::string loops;
  options.dumpIR = [&](Stage s, llvm::StringRef ir) {
    if (s == Stage::Loops)
      loops = ir.str();
  };
  auto jit = Jit::compile(p.text, options);
  EXPECT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  if (!jit)
    return {};
  // An emulated launch is an omp.parallel region, a CUDA one a launch_func.
  const char *launch =
      target == Target::CUDA ? "gpu.launch_func" : "omp.parallel";
  int64_t regions = 0;
  for (size_t at = loops.find(launch); at != std::string::npos;
       at = loops.find(launch, at + 1))
    ++regions;
  EXPECT_EQ(regions, p.launches);
  std::vector<Tensor> views;
  for (OwnedTensor &t : p.inputs)
    views.push_back(t.view());
  auto out = (*jit)->run("main", views);
  EXPECT_TRUE(bool(out)) << llvm::toString(out.takeError());
  if (!out)
    return {};
  return std::move(*out);
}

OwnedTensor randomF32(std::vector<int64_t> shape, unsigned seed) {
  OwnedTensor t(DType::F32, shape);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.as<float>()[i] = dist(rng);
  return t;
}

double worstError(const OwnedTensor &got, const std::vector<double> &ref) {
  EXPECT_EQ(got.numel(), int64_t(ref.size()));
  double worst = 0;
  for (int64_t i = 0; i < got.numel() && i < int64_t(ref.size()); ++i) {
    double e = std::fabs(got.getAsDouble(i) - ref[i]) /
               std::max(1.0, std::fabs(ref[i]));
    // An element a kernel never wrote holds NaN (the emulator's poison),
    // which std::max would skip.
    if (!(e <= worst))
      worst = std::isnan(e) ? HUGE_VAL : e;
  }
  return worst;
}

std::string dim(int64_t v, bool dyn) { return dyn ? "?" : std::to_string(v); }

/// y[c, l] = x[c, l] * rsqrt(mean_c x^2 + eps) * w[c], as apps/lm emits it.
void checkRMSNorm(int64_t C, int64_t L, bool dynamic, Target target) {
  std::string sc = dim(C, dynamic), sl = dim(L, dynamic);
  std::string xt = "tensor<" + sc + "x" + sl + "xf32>",
              st = "tensor<" + sl + "xf32>", wt = "tensor<" + sc + "xf32>";
  std::string dims =
      dynamic ? "  %c0 = arith.constant 0 : index\n"
                "  %c1 = arith.constant 1 : index\n"
                "  %dc = tensor.dim %x, %c0 : " + xt + "\n"
                "  %dl = tensor.dim %x, %c1 : " + xt + "\n"
              : "";
  char inverse[32];
  std::snprintf(inverse, sizeof inverse, "%.9e", 1.0 / double(C));
  std::string text =
      "func.func @main(%x: " + xt + ", %w: " + wt + ") -> " + xt + " {\n" +
      dims + "  %zero = arith.constant 0.0 : f32\n"
      "  %inv = arith.constant " + inverse + " : f32\n"
      "  %eps = arith.constant 1.0e-5 : f32\n"
      "  %one = arith.constant 1.0 : f32\n"
      "  %e0 = tensor.empty(" + (dynamic ? "%dl" : "") + ") : " + st + "\n"
      "  %acc = linalg.fill ins(%zero : f32) outs(%e0 : " + st + ") -> " + st +
      "\n  %sq = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, "
      "l)>, affine_map<(c, l) -> (l)>], iterator_types = [\"reduction\", "
      "\"parallel\"]} ins(%x : " + xt + ") outs(%acc : " + st + ") {\n"
      "  ^bb0(%a: f32, %s: f32):\n"
      "    %m = arith.mulf %a, %a : f32\n"
      "    %n = arith.addf %s, %m : f32\n"
      "    linalg.yield %n : f32\n"
      "  } -> " + st + "\n"
      "  %e1 = tensor.empty(" + (dynamic ? "%dc, %dl" : "") + ") : " + xt + "\n"
      "  %y = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, l)>, "
      "affine_map<(c, l) -> (l)>, affine_map<(c, l) -> (c)>, affine_map<(c, "
      "l) -> (c, l)>], iterator_types = [\"parallel\", \"parallel\"]} ins(%x, "
      "%sq, %w : " + xt + ", " + st + ", " + wt + ") outs(%e1 : " + xt + ") {\n"
      "  ^bb0(%a: f32, %s: f32, %g: f32, %o: f32):\n"
      "    %mean = arith.mulf %s, %inv : f32\n"
      "    %v = arith.addf %mean, %eps : f32\n"
      "    %r = math.sqrt %v : f32\n"
      "    %ir = arith.divf %one, %r : f32\n"
      "    %t = arith.mulf %a, %ir : f32\n"
      "    %u = arith.mulf %t, %g : f32\n"
      "    linalg.yield %u : f32\n"
      "  } -> " + xt + "\n"
      "  return %y : " + xt + "\n}\n";
  Program p{text, {}, 2};
  p.inputs.push_back(randomF32({C, L}, unsigned(C * 31 + L)));
  p.inputs.push_back(randomF32({C}, unsigned(C + 7)));
  std::vector<OwnedTensor> out = runOn(p, target);
  ASSERT_EQ(out.size(), 1u);
  const float *x = p.inputs[0].as<float>(), *w = p.inputs[1].as<float>();
  std::vector<double> ref(C * L);
  for (int64_t l = 0; l < L; ++l) {
    double s = 0;
    for (int64_t c = 0; c < C; ++c)
      s += double(x[c * L + l]) * x[c * L + l];
    double ir = 1 / std::sqrt(s / C + 1e-5);
    for (int64_t c = 0; c < C; ++c)
      ref[c * L + l] = x[c * L + l] * ir * w[c];
  }
  EXPECT_LT(worstError(out[0], ref), 1e-5)
      << "C=" << C << " L=" << L << (dynamic ? " dynamic" : "");
}

void checkRMSNorms(Target target) {
  checkRMSNorm(768, 1, false, target); // decode: one point, a block reduction
  checkRMSNorm(1, 1, false, target);
  checkRMSNorm(37, 1, false, target);
  checkRMSNorm(129, 3, false, target);
  checkRMSNorm(130, 3, true, target);
  // 32 points per block, the last one partial.
  checkRMSNorm(5, 1100, true, target);
  checkRMSNorm(3, 1025, false, target);
}

/// A grouped norm's sum of squares over the middle dimension of [G, S, L]
/// and a max over the last dimension of [R, K] (along the contiguous
/// dimension: a block per row), both added to an init that is read.
void checkInnerReductions(Target target) {
  const int64_t G = 3, S = 45, L = 2, R = 5, K = 300;
  std::string text =
      "func.func @main(%x: tensor<3x45x2xf32>, %i: tensor<3x2xf32>, "
      "%y: tensor<5x300xf32>, %j: tensor<5xf32>) -> (tensor<3x2xf32>, "
      "tensor<5xf32>) {\n"
      "  %s = linalg.generic {indexing_maps = [affine_map<(g, s, l) -> (g, "
      "s, l)>, affine_map<(g, s, l) -> (g, l)>], iterator_types = "
      "[\"parallel\", \"reduction\", \"parallel\"]} ins(%x : "
      "tensor<3x45x2xf32>) outs(%i : tensor<3x2xf32>) {\n"
      "  ^bb0(%a: f32, %o: f32):\n"
      "    %m = arith.mulf %a, %a : f32\n"
      "    %n = arith.addf %m, %o : f32\n"
      "    linalg.yield %n : f32\n"
      "  } -> tensor<3x2xf32>\n"
      "  %m = linalg.generic {indexing_maps = [affine_map<(r, k) -> (r, k)>, "
      "affine_map<(r, k) -> (r)>], iterator_types = [\"parallel\", "
      "\"reduction\"]} ins(%y : tensor<5x300xf32>) outs(%j : tensor<5xf32>) "
      "{\n"
      "  ^bb0(%a: f32, %o: f32):\n"
      "    %e = math.exp %a : f32\n"
      "    %n = arith.maximumf %o, %e : f32\n"
      "    linalg.yield %n : f32\n"
      "  } -> tensor<5xf32>\n"
      "  return %s, %m : tensor<3x2xf32>, tensor<5xf32>\n}\n";
  Program p{text, {}, 2};
  p.inputs.push_back(randomF32({G, S, L}, 1));
  p.inputs.push_back(randomF32({G, L}, 2));
  p.inputs.push_back(randomF32({R, K}, 3));
  p.inputs.push_back(randomF32({R}, 4));
  std::vector<OwnedTensor> out = runOn(p, target);
  ASSERT_EQ(out.size(), 2u);
  std::vector<double> sums(G * L), maxes(R);
  const float *x = p.inputs[0].as<float>(), *y = p.inputs[2].as<float>();
  for (int64_t g = 0; g < G; ++g)
    for (int64_t l = 0; l < L; ++l) {
      double s = p.inputs[1].as<float>()[g * L + l];
      for (int64_t k = 0; k < S; ++k)
        s += double(x[(g * S + k) * L + l]) * x[(g * S + k) * L + l];
      sums[g * L + l] = s;
    }
  for (int64_t r = 0; r < R; ++r) {
    double m = p.inputs[3].as<float>()[r];
    for (int64_t k = 0; k < K; ++k)
      m = std::max(m, std::exp(double(y[r * K + k])));
    maxes[r] = m;
  }
  EXPECT_LT(worstError(out[0], sums), 1e-5);
  EXPECT_LT(worstError(out[1], maxes), 1e-5);
}

/// out[d, l] = emb[clamp(tokens[l]), d], as apps/lm emits the embedding.
void checkEmbeddingGather(Target target) {
  const int64_t V = 11, Dm = 133, L = 3;
  std::string text =
      "func.func @main(%tok: tensor<?xi64>, %emb: tensor<11x133xf32>) -> "
      "tensor<133x?xf32> {\n"
      "  %c0 = arith.constant 0 : index\n"
      "  %n = tensor.dim %tok, %c0 : tensor<?xi64>\n"
      "  %e = tensor.empty(%n) : tensor<133x?xf32>\n"
      "  %x = linalg.generic {indexing_maps = [affine_map<(d, l) -> (d, "
      "l)>], iterator_types = [\"parallel\", \"parallel\"]} outs(%e : "
      "tensor<133x?xf32>) {\n"
      "  ^bb0(%o: f32):\n"
      "    %d = linalg.index 0 : index\n"
      "    %l = linalg.index 1 : index\n"
      "    %t = tensor.extract %tok[%l] : tensor<?xi64>\n"
      "    %ti = arith.index_cast %t : i64 to index\n"
      "    %lo = arith.constant 0 : index\n"
      "    %hi = arith.constant 10 : index\n"
      "    %t1 = arith.maxsi %ti, %lo : index\n"
      "    %t2 = arith.minsi %t1, %hi : index\n"
      "    %v = tensor.extract %emb[%t2, %d] : tensor<11x133xf32>\n"
      "    linalg.yield %v : f32\n"
      "  } -> tensor<133x?xf32>\n"
      "  return %x : tensor<133x?xf32>\n}\n";
  Program p{text, {}, 1};
  OwnedTensor tokens(DType::I64, {L});
  int64_t ids[L] = {4, 99, -3};
  for (int64_t l = 0; l < L; ++l)
    tokens.as<int64_t>()[l] = ids[l];
  p.inputs.push_back(std::move(tokens));
  p.inputs.push_back(randomF32({V, Dm}, 5));
  std::vector<OwnedTensor> out = runOn(p, target);
  ASSERT_EQ(out.size(), 1u);
  std::vector<double> ref(Dm * L);
  for (int64_t d = 0; d < Dm; ++d)
    for (int64_t l = 0; l < L; ++l) {
      int64_t t = std::min<int64_t>(std::max<int64_t>(ids[l], 0), V - 1);
      ref[d * L + l] = p.inputs[1].as<float>()[t * Dm + d];
    }
  EXPECT_EQ(worstError(out[0], ref), 0);
}

/// SwiGLU (exp in the body), a residual add and a rounding to bf16 as
/// elementwise ops on tensors, and a transpose with dynamic sizes.
void checkElementwiseAndTransposes(Target target) {
  const int64_t F = 131, L = 2;
  std::string text =
      "func.func @main(%g: tensor<131x?xf32>, %u: tensor<131x?xf32>) -> "
      "(tensor<131x?xf32>, tensor<?x131xf32>, tensor<131x?xbf16>) {\n"
      "  %c1 = arith.constant 1 : index\n"
      "  %n = tensor.dim %g, %c1 : tensor<131x?xf32>\n"
      "  %ng = arith.negf %g : tensor<131x?xf32>\n"
      "  %eg = math.exp %ng : tensor<131x?xf32>\n"
      "  %e = tensor.empty(%n) : tensor<131x?xf32>\n"
      "  %sw = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, l)>, "
      "affine_map<(c, l) -> (c, l)>, affine_map<(c, l) -> (c, l)>, "
      "affine_map<(c, l) -> (c, l)>], iterator_types = [\"parallel\", "
      "\"parallel\"]} ins(%g, %u, %eg : tensor<131x?xf32>, tensor<131x?xf32>, "
      "tensor<131x?xf32>) outs(%e : tensor<131x?xf32>) {\n"
      "  ^bb0(%a: f32, %b: f32, %x: f32, %o: f32):\n"
      "    %one = arith.constant 1.0 : f32\n"
      "    %d = arith.addf %one, %x : f32\n"
      "    %s = arith.divf %a, %d : f32\n"
      "    %r = arith.mulf %s, %b : f32\n"
      "    linalg.yield %r : f32\n"
      "  } -> tensor<131x?xf32>\n"
      "  %res = arith.addf %sw, %u : tensor<131x?xf32>\n"
      "  %et = tensor.empty(%n) : tensor<?x131xf32>\n"
      "  %tr = linalg.transpose ins(%res : tensor<131x?xf32>) outs(%et : "
      "tensor<?x131xf32>) permutation = [1, 0]\n"
      "  %h = arith.truncf %res : tensor<131x?xf32> to tensor<131x?xbf16>\n"
      "  return %res, %tr, %h : tensor<131x?xf32>, tensor<?x131xf32>, "
      "tensor<131x?xbf16>\n}\n";
  // negf, exp, the SwiGLU generic, the add, the transpose, the truncation.
  Program p{text, {}, 6};
  p.inputs.push_back(randomF32({F, L}, 8));
  p.inputs.push_back(randomF32({F, L}, 9));
  std::vector<OwnedTensor> out = runOn(p, target);
  ASSERT_EQ(out.size(), 3u);
  std::vector<double> res(F * L), tr(F * L);
  for (int64_t c = 0; c < F; ++c)
    for (int64_t l = 0; l < L; ++l) {
      double a = p.inputs[0].as<float>()[c * L + l],
             b = p.inputs[1].as<float>()[c * L + l];
      res[c * L + l] = a / (1 + std::exp(-a)) * b + b;
      tr[l * F + c] = res[c * L + l];
    }
  EXPECT_LT(worstError(out[0], res), 1e-5);
  EXPECT_LT(worstError(out[1], tr), 1e-5);
  // bf16 keeps 8 significant bits.
  EXPECT_LT(worstError(out[2], res), 1.0 / 128);
}

TEST(LinalgGPU, RMSNormOnTheEmulatorMatchesTheReference) {
  checkRMSNorms(Target::GPUEmulator);
}
TEST(LinalgGPU, ReductionsOverInnerDimensionsOnTheEmulator) {
  checkInnerReductions(Target::GPUEmulator);
}
TEST(LinalgGPU, EmbeddingGatherOnTheEmulator) {
  checkEmbeddingGather(Target::GPUEmulator);
}
TEST(LinalgGPU, ElementwiseOpsAndTransposesOnTheEmulator) {
  checkElementwiseAndTransposes(Target::GPUEmulator);
}

/// The same cases on the CUDA target (a GPU, or the fake driver's host
/// twins: ctest fakecuda.kernels_vs_reference).
TEST(LinalgGPU, GPUKernelMatchesTheReference) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  checkRMSNorms(Target::CUDA);
  checkInnerReductions(Target::CUDA);
  checkEmbeddingGather(Target::CUDA);
  checkElementwiseAndTransposes(Target::CUDA);
}

} // namespace
