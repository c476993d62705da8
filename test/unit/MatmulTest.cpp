//===- MatmulTest.cpp - linalg.matmul through ssm-lower-matmul ------------===//
//
// C = A x B + C0 compiled by the CPU pipeline (which lowers f32 matmuls to
// the register-blocked kernels of ssm-lower-matmul) against a double loop,
// over shapes that hit every tail: rows not a multiple of the 4-row block,
// columns not a multiple of the vector or the panel, K not a multiple of
// the vector in the narrow (static N < 16) kernel, dynamic sizes, a strided
// B, a transposed B ([N, K] through the indexing maps), and 1 and 2 threads.
// The same cases, and a C0 that is a linalg.fill, run the GPU kernels of
// convert-ssm-to-gpu (matrix-vector for static N <= 8, shared-memory tiles
// otherwise) on the GPU emulator, and on the CUDA target where a driver
// (or the fake one, ctest fakecuda.kernels_vs_reference) is.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"

#include <gtest/gtest.h>

#include "llvm/ADT/StringMap.h"
#include "llvm/TargetParser/Host.h"

#include <cmath>
#include <optional>
#include <random>
#include <tuple>

using namespace ssmc;

namespace {

struct MatmulCase {
  int64_t M, K, N;
  bool dynamic = false;
  bool stridedB = false; // B is columns [1, N + 1) of a [K, N + 3] tensor
  unsigned threads = 0;
  bool transB = false; // B given as [N, K] with the transposed map
  Target target = Target::CPU;
  /// C0 as a linalg.fill of this value (static shapes, B not strided)
  /// instead of an argument.
  std::optional<float> fill = std::nullopt;
};

std::string dims(int64_t a, int64_t b, bool dyn) {
  return dyn ? "?x?" : std::to_string(a) + "x" + std::to_string(b);
}

/// C = A B^T + C0 with B [N, K] through linalg.matmul's indexing maps.
std::string transposedProgram(const MatmulCase &c) {
  std::string a = "tensor<" + dims(c.M, c.K, c.dynamic) + "xf32>";
  std::string b = "tensor<" + dims(c.N, c.K, c.dynamic) + "xf32>";
  std::string o = "tensor<" + dims(c.M, c.N, c.dynamic) + "xf32>";
  return "func.func @main(%a: " + a + ", %b: " + b + ", %c: " + o + ") -> " +
         o + " {\n  %r = linalg.matmul indexing_maps = [affine_map<(m, n, k) "
         "-> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) "
         "-> (m, n)>] ins(%a, %b : " + a + ", " + b + ") outs(%c : " + o +
         ") -> " + o + "\n  return %r : " + o + "\n}\n";
}

/// C = A B + fill, C0 a linalg.fill of a constant.
std::string filledProgram(const MatmulCase &c) {
  std::string a = "tensor<" + dims(c.M, c.K, false) + "xf32>";
  std::string b = "tensor<" + (c.transB ? dims(c.N, c.K, false)
                                        : dims(c.K, c.N, false)) + "xf32>";
  std::string o = "tensor<" + dims(c.M, c.N, false) + "xf32>";
  std::string maps =
      c.transB ? " indexing_maps = [affine_map<(m, n, k) -> (m, k)>, "
                 "affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> "
                 "(m, n)>]"
               : "";
  return "func.func @main(%a: " + a + ", %b: " + b + ") -> " + o +
         " {\n  %f = arith.constant " + std::to_string(*c.fill) +
         " : f32\n  %e = tensor.empty() : " + o +
         "\n  %c = linalg.fill ins(%f : f32) outs(%e : " + o + ") -> " + o +
         "\n  %r = linalg.matmul" + maps + " ins(%a, %b : " + a + ", " + b +
         ") outs(%c : " + o + ") -> " + o + "\n  return %r : " + o + "\n}\n";
}

std::string program(const MatmulCase &c) {
  if (c.fill)
    return filledProgram(c);
  if (c.transB)
    return transposedProgram(c);
  std::string a = "tensor<" + dims(c.M, c.K, c.dynamic) + "xf32>";
  std::string bFull = "tensor<" + dims(c.K, c.stridedB ? c.N + 3 : c.N,
                                       c.dynamic) + "xf32>";
  std::string b = "tensor<" + dims(c.K, c.N, c.dynamic) + "xf32>";
  std::string o = "tensor<" + dims(c.M, c.N, c.dynamic) + "xf32>";
  std::string text = "func.func @main(%a: " + a + ", %bf: " + bFull +
                     ", %c: " + o + ") -> " + o + " {\n";
  if (c.stridedB) {
    std::string sizes = c.dynamic ? "%k, %n" : std::to_string(c.K) + ", " +
                                                   std::to_string(c.N);
    if (c.dynamic)
      text += "  %c0 = arith.constant 0 : index\n"
              "  %c1 = arith.constant 1 : index\n"
              "  %k = tensor.dim %bf, %c0 : " + bFull + "\n"
              "  %n = tensor.dim %c, %c1 : " + o + "\n";
    text += "  %b = tensor.extract_slice %bf[0, 1] [" + sizes +
            "] [1, 1] : " + bFull + " to " + b + "\n";
  } else {
    text += "  %b = tensor.cast %bf : " + bFull + " to " + b + "\n";
  }
  text += "  %r = linalg.matmul ins(%a, %b : " + a + ", " + b + ") outs(%c : " +
          o + ") -> " + o + "\n  return %r : " + o + "\n}\n";
  return text;
}

void check(const MatmulCase &c) {
  SCOPED_TRACE(program(c));
  JitOptions options;
  options.threads = c.threads;
  options.target = c.target;
  // On the GPU targets the matmul must have become a kernel.
  std::string loops;
  options.dumpIR = [&](Stage s, llvm::StringRef ir) {
    if (s == Stage::Loops)
      loops = ir.str();
  };
  auto jit = Jit::compile(program(c), options);
  ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  int64_t bCols = c.stridedB ? c.N + 3 : c.N;
  OwnedTensor A(DType::F32, {c.M, c.K}),
      B(DType::F32, c.transB ? std::vector<int64_t>{c.N, c.K}
                             : std::vector<int64_t>{c.K, bCols}),
      C0(DType::F32, {c.M, c.N});
  std::mt19937 rng(c.M * 1000003 + c.K * 1009 + c.N);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (OwnedTensor *t : {&A, &B, &C0})
    for (int64_t i = 0; i < t->numel(); ++i)
      t->as<float>()[i] = dist(rng);
  if (c.fill)
    for (int64_t i = 0; i < C0.numel(); ++i)
      C0.as<float>()[i] = *c.fill;
  // The emulated kernel's blocks are omp.parallel regions (the CPU's
  // matmul has none before the LLVM stage); the CUDA target's launches.
  if (c.target == Target::GPUEmulator)
    EXPECT_NE(loops.find("omp.parallel"), std::string::npos);
  if (c.target == Target::CUDA)
    EXPECT_NE(loops.find("gpu.launch_func"), std::string::npos);
  std::vector<Tensor> inputs = {A.view(), B.view()};
  if (!c.fill)
    inputs.push_back(C0.view());
  auto out = (*jit)->run("main", inputs);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  const float *r = (*out)[0].as<float>();
  double worst = 0;
  for (int64_t m = 0; m < c.M; ++m)
    for (int64_t n = 0; n < c.N; ++n) {
      double s = C0.as<float>()[m * c.N + n];
      for (int64_t k = 0; k < c.K; ++k)
        s += double(A.as<float>()[m * c.K + k]) *
             (c.transB ? B.as<float>()[n * c.K + k]
                       : B.as<float>()[k * bCols + n + (c.stridedB ? 1 : 0)]);
      worst = std::max(worst, std::fabs(r[m * c.N + n] - s) /
                                  (1 + std::sqrt(double(c.K))));
    }
  EXPECT_LT(worst, 2e-6) << "M=" << c.M << " K=" << c.K << " N=" << c.N;
}

TEST(Matmul, WideKernelTails) {
  for (MatmulCase c : {MatmulCase{1, 1, 16}, MatmulCase{4, 8, 32},
                       MatmulCase{7, 5, 37}, MatmulCase{9, 33, 100},
                       MatmulCase{13, 64, 300}, MatmulCase{3, 17, 513}})
    check(c);
}

TEST(Matmul, NarrowKernelTails) {
  for (MatmulCase c : {MatmulCase{1, 1, 1}, MatmulCase{5, 15, 1},
                       MatmulCase{8, 16, 1}, MatmulCase{11, 50, 3},
                       MatmulCase{37, 129, 15}, MatmulCase{3, 768, 2}})
    check(c);
}

TEST(Matmul, DynamicStridedAndThreads) {
  check({7, 19, 45, /*dynamic=*/true});
  check({5, 9, 1, /*dynamic=*/true}); // dynamic N = 1: the wide kernel
  check({6, 21, 40, false, /*stridedB=*/true});
  check({6, 21, 3, false, /*stridedB=*/true});
  check({10, 12, 50, true, true});
  check({64, 96, 300, false, false, /*threads=*/1});
  check({64, 96, 300, false, false, /*threads=*/2});
  check({130, 96, 1, false, false, /*threads=*/2});
}

TEST(Matmul, TransposedB) {
  auto t = [](int64_t M, int64_t K, int64_t N, bool dyn = false,
              unsigned threads = 0) {
    MatmulCase c{M, K, N, dyn};
    c.transB = true;
    c.threads = threads;
    return c;
  };
  for (MatmulCase c : {t(7, 5, 37), t(9, 33, 100), t(3, 17, 513), t(5, 15, 1),
                       t(11, 50, 3), t(7, 19, 45, true), t(64, 96, 300, false, 2)})
    check(c);
}

/// The GPU kernels at shapes around their edges: the matrix-vector kernel
/// (static N <= 8: rows past a multiple of the block's 4, K below and past
/// the warp's 32), and the tiled one (M, N past multiples of its 64 x 64
/// tile, K past multiples of its 32-deep step, N = 9 the first tiled
/// width, dynamic sizes), B transposed, and C0 as a linalg.fill.
void checkGPUKernels(Target target) {
  auto on = [&](MatmulCase c) {
    c.target = target;
    return c;
  };
  auto transposed = [&](MatmulCase c) {
    c.transB = true;
    return on(c);
  };
  auto filled = [&](MatmulCase c, bool transB = false) {
    c.fill = 0.25f;
    c.transB = transB;
    return on(c);
  };
  for (MatmulCase c :
       {on({1, 1, 1}), on({5, 15, 1}), on({6, 33, 2}), on({37, 129, 3}),
        on({9, 64, 8}), on({1, 1, 9}), on({70, 33, 65}), on({65, 96, 64}),
        on({3, 5, 130}), on({7, 19, 45, /*dynamic=*/true}),
        on({5, 9, 1, /*dynamic=*/true}), on({6, 21, 3, false, /*stridedB=*/true}),
        transposed({7, 50, 1}), transposed({11, 50, 3}),
        transposed({67, 40, 37}), filled({13, 40, 1}), filled({66, 35, 70}),
        filled({9, 31, 5}, true)})
    check(c);
}

TEST(Matmul, GPUKernelsOnTheEmulatorMatchTheReference) {
  checkGPUKernels(Target::GPUEmulator);
}

TEST(Matmul, GPUKernelMatchesTheReference) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  checkGPUKernels(Target::CUDA);
}

/// C = A x B + C0 with A low-precision (bf16 or i8, linalg's signed casts)
/// and B, C f32: rows read at their own width and widened in registers. With
/// 512-bit vectors the decode kernels use the host's dot instructions, and
/// the reference rounds B as they do: vdpbf16ps (avx512bf16) rounds it to
/// bf16; vpdpbusd (avx512vnni) quantizes each column to int8 with scale
/// max |b| / 127, rounding half to even.
struct LowPrecisionCase {
  int64_t M, K, N;
  DType weights;
  unsigned vectorBits; // 256 forces the portable kernels
  Target target = Target::CPU;
};

void checkLowPrecision(const LowPrecisionCase &c) {
  const char *elt = c.weights == DType::BF16 ? "bf16" : "i8";
  std::string a = "tensor<" + dims(c.M, c.K, false) + "x" + elt + ">";
  std::string b = "tensor<" + dims(c.K, c.N, false) + "xf32>";
  std::string o = "tensor<" + dims(c.M, c.N, false) + "xf32>";
  std::string text = "func.func @main(%a: " + a + ", %b: " + b + ", %c: " + o +
                     ") -> " + o + " {\n  %r = linalg.matmul ins(%a, %b : " +
                     a + ", " + b + ") outs(%c : " + o + ") -> " + o +
                     "\n  return %r : " + o + "\n}\n";
  SCOPED_TRACE(text);
  JitOptions options;
  options.vectorBits = c.vectorBits;
  options.target = c.target;
  bool usedDot = false, usedVnni = false, emulated = false;
  options.dumpIR = [&](Stage s, llvm::StringRef ir) {
    usedDot |= ir.contains("dpbf16ps");
    usedVnni |= ir.contains("vpdpbusd");
    emulated |= s == Stage::Loops && ir.contains("omp.parallel");
  };
  auto jit = Jit::compile(text, options);
  ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
  EXPECT_EQ(emulated, c.target == Target::GPUEmulator);
  OwnedTensor A(c.weights, {c.M, c.K}), B(DType::F32, {c.K, c.N}),
      C0(DType::F32, {c.M, c.N});
  std::mt19937 rng(c.M * 1000003 + c.K * 1009 + c.N);
  std::uniform_real_distribution<float> dist(-1, 1);
  std::uniform_int_distribution<int> q(-127, 127);
  for (int64_t i = 0; i < A.numel(); ++i) {
    if (c.weights == DType::I8)
      A.as<int8_t>()[i] = int8_t(q(rng));
    else
      A.as<uint16_t>()[i] = floatToBf16(dist(rng));
  }
  for (OwnedTensor *t : {&B, &C0})
    for (int64_t i = 0; i < t->numel(); ++i)
      t->as<float>()[i] = dist(rng);
  auto out = (*jit)->run("main", {A.view(), B.view(), C0.view()});
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  // Dot instructions only in the decode kernel of their type, at 16 lanes.
  bool decode = c.N < int64_t(c.vectorBits / 32) && c.vectorBits == 512 &&
                c.target == Target::CPU;
  if (!decode || c.weights != DType::BF16)
    EXPECT_FALSE(usedDot);
  if (!decode || c.weights != DType::I8)
    EXPECT_FALSE(usedVnni);
  // Column n of B as the kernel reads it.
  std::vector<double> column(c.K);
  auto readColumn = [&](int64_t n) {
    float amax = 0;
    for (int64_t k = 0; k < c.K; ++k)
      amax = std::max(amax, std::fabs(B.as<float>()[k * c.N + n]));
    float inv = amax > 0 ? 127.0f / amax : 0.0f;
    for (int64_t k = 0; k < c.K; ++k) {
      float x = B.as<float>()[k * c.N + n];
      if (usedDot)
        column[k] = bf16ToFloat(floatToBf16(x));
      else if (usedVnni)
        column[k] = std::nearbyint(x * inv) * double(amax / 127.0f);
      else
        column[k] = x;
    }
  };
  const float *r = (*out)[0].as<float>();
  double worst = 0, scale = c.weights == DType::I8 ? 127 : 1;
  for (int64_t n = 0; n < c.N; ++n) {
    readColumn(n);
    for (int64_t m = 0; m < c.M; ++m) {
      double s = C0.as<float>()[m * c.N + n];
      for (int64_t k = 0; k < c.K; ++k)
        s += A.getAsDouble(m * c.K + k) * column[k];
      worst = std::max(worst, std::fabs(r[m * c.N + n] - s) /
                                  (scale * (1 + std::sqrt(double(c.K)))));
    }
  }
  EXPECT_LT(worst, 2e-6) << "M=" << c.M << " K=" << c.K << " N=" << c.N
                         << (usedDot ? " (vdpbf16ps)" : "")
                         << (usedVnni ? " (vpdpbusd)" : "");
}

TEST(Matmul, LowPrecisionWeights) {
  for (DType w : {DType::BF16, DType::I8})
    for (unsigned bits : {512u, 256u})
      for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{7, 5, 37},
                             {9, 37, 1},
                             {11, 70, 3},
                             {6, 768, 1}})
        checkLowPrecision({M, K, N, w, bits});
}

/// bf16 and i8 weights in both GPU kernels (widened as they are loaded; B
/// stays f32, so no rounding of B on either side).
TEST(Matmul, LowPrecisionWeightsOnTheGPUEmulator) {
  for (DType w : {DType::BF16, DType::I8})
    for (auto [M, K, N] : {std::tuple<int64_t, int64_t, int64_t>{7, 5, 37},
                           {9, 37, 1},
                           {11, 70, 3}})
      checkLowPrecision({M, K, N, w, 512, Target::GPUEmulator});
}

/// On a host with avx512bf16 the bf16 decode kernel is vdpbf16ps; with
/// avx512vnni the i8 one is vpdpbusd (at 512-bit vectors only).
TEST(Matmul, DotInstructionsWhereTheHostHasThem) {
  llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
  for (auto [elt, feature, instruction] :
       {std::tuple<const char *, const char *, const char *>{
            "bf16", "avx512bf16", "dpbf16ps"},
        {"i8", "avx512vnni", "vpdpbusd"}}) {
    if (!host.lookup(feature) || !host.lookup("avx512f"))
      continue;
    std::string a = std::string("tensor<64x96x") + elt + ">";
    std::string text =
        "func.func @main(%a: " + a + ", %b: tensor<96x1xf32>, %c: "
        "tensor<64x1xf32>) -> tensor<64x1xf32> {\n  %r = linalg.matmul "
        "ins(%a, %b : " + a + ", tensor<96x1xf32>) outs(%c : "
        "tensor<64x1xf32>) -> tensor<64x1xf32>\n  return %r : "
        "tensor<64x1xf32>\n}\n";
    for (unsigned bits : {512u, 256u}) {
      JitOptions options;
      options.vectorBits = bits;
      bool used = false;
      options.dumpIR = [&, instruction = instruction](Stage,
                                                      llvm::StringRef ir) {
        used |= ir.contains(instruction);
      };
      auto jit = Jit::compile(text, options);
      ASSERT_TRUE(bool(jit)) << llvm::toString(jit.takeError());
      EXPECT_EQ(used, bits == 512) << elt << ", " << bits << "-bit vectors";
    }
  }
}

} // namespace
