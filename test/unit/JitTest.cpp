//===- JitTest.cpp - compiled ssm programs against the double reference ---===//
//
// Every case compiles a program through ssm-cpu-pipeline, runs it through
// ssmc::Jit on random inputs and compares with ssmc::ref (plain double
// loops). Shapes include L = 1, prime L, channel counts that are not a
// multiple of the vector width, B > 1, grouped B/C, dynamic shapes and
// state sizes that force the stack-buffer path.
//
//===----------------------------------------------------------------------===//

#include "ProgramBuilder.h"
#include "Rewrite.h"

#include "ssmc/Cuda.h"
#include "ssmc/Jit.h"
#include "runtime/abi/HeapAccount.h"
#include "test/lib/Reference.h"
#include "test/lib/RunProgram.h"

#include <gtest/gtest.h>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstdint>
#include <fstream>
#include <random>
#include <sys/resource.h>

using namespace ssmc;
using ssmc::test::SelectiveScanConfig;

namespace {

#define ASSERT_OK_AND_ASSIGN(var, expr)                                        \
  auto var##OrErr = (expr);                                                    \
  ASSERT_TRUE(static_cast<bool>(var##OrErr))                                   \
      << llvm::toString(var##OrErr.takeError());                               \
  auto var = std::move(*var##OrErr)

DType dtypeFromName(const std::string &s) { return *parseDType(s); }

/// Random tensor of `dtype` with values in [lo, hi), and the same values
/// (after rounding to `dtype`) as doubles.
struct Input {
  OwnedTensor tensor;
  std::vector<double> values;
};

Input randomInput(std::mt19937 &rng, DType dtype, std::vector<int64_t> shape,
                  double lo, double hi) {
  Input in{OwnedTensor(dtype, shape), {}};
  std::uniform_real_distribution<double> dist(lo, hi);
  for (int64_t i = 0; i < in.tensor.numel(); ++i) {
    in.tensor.setFromDouble(i, dist(rng));
    in.values.push_back(in.tensor.getAsDouble(i));
  }
  return in;
}

double maxAbs(const std::vector<double> &v) {
  double m = 0;
  for (double x : v)
    m = std::max(m, std::fabs(x));
  return m;
}

/// Max |got - want| over all elements (infinite with a NaN); fails the test
/// on a shape mismatch.
double maxError(const OwnedTensor &got, const std::vector<double> &want) {
  return test::maxError(got, want).first;
}

struct ScanRun {
  std::vector<OwnedTensor> results;
  ref::SelectiveScanResult reference;
};

/// Compiles and runs the selective-scan program of `c` and its reference.
void runSelectiveScan(const SelectiveScanConfig &c, unsigned seed,
                      ScanRun &out, unsigned threads = 0,
                      unsigned vectorBits = 0,
                      const std::vector<int64_t> &offsets = {},
                      Target target = Target::CPU,
                      const std::string &source = "") {
  std::mt19937 rng(seed);
  DType elt = dtypeFromName(c.elt), param = dtypeFromName(c.param);
  DType acc = dtypeFromName(test::accumulatorOf(c.elt));
  const int64_t B = c.batch, Dm = c.channels, L = c.seqLen, N = c.stateSize;
  auto bc = [&](int64_t g, bool fixed) {
    if (fixed)
      return std::vector<int64_t>{Dm, N};
    return g ? std::vector<int64_t>{B, g, N, L} : std::vector<int64_t>{B, N, L};
  };
  std::vector<Input> ins;
  ins.push_back(randomInput(rng, elt, {B, Dm, L}, -1, 1));           // u
  const bool deltaRange = c.deltaLo != 0 || c.deltaHi != 0;
  ins.push_back(randomInput(rng, c.delta.empty() ? elt : dtypeFromName(c.delta),
                            {B, Dm, L},                              // delta
                            deltaRange ? c.deltaLo : c.softplus ? -3.0 : 0.001,
                            deltaRange ? c.deltaHi : c.softplus ? 1.0 : 0.5));
  ins.push_back(randomInput(rng, param, {Dm, N}, -4, -0.05));        // A < 0
  ins.push_back(randomInput(rng, elt, bc(c.groupsB, c.fixedB), -1, 1)); // B
  ins.push_back(randomInput(rng, elt, bc(c.groupsC, c.fixedC), -1, 1)); // C
  ref::SelectiveScanProblem p;
  p.batch = B, p.channels = Dm, p.seqLen = L, p.stateSize = N;
  p.groupsB = c.groupsB, p.groupsC = c.groupsC, p.deltaSoftplus = c.softplus;
  p.fixedB = c.fixedB, p.fixedC = c.fixedC;
  p.u = ins[0].values, p.delta = ins[1].values, p.A = ins[2].values;
  p.B = ins[3].values, p.C = ins[4].values;
  if (c.hasD) {
    ins.push_back(randomInput(rng, param, {Dm}, -1, 1));
    p.D = ins.back().values;
  }
  if (c.hasZ) {
    ins.push_back(randomInput(rng, elt, {B, Dm, L}, -3, 3));
    p.z = ins.back().values;
  }
  if (c.hasBias) {
    ins.push_back(randomInput(rng, param, {Dm}, -1, 0.5));
    p.deltaBias = ins.back().values;
  }
  const int64_t S = c.sequences ? c.sequences : B;
  if (c.hasH0) {
    ins.push_back(randomInput(rng, acc, {S, Dm, N}, -1, 1));
    p.h0 = ins.back().values;
  }
  if (c.sequences) {
    Input cu{OwnedTensor(DType::I64, {c.sequences + 1}), {}};
    for (int64_t i = 0; i <= c.sequences; ++i)
      cu.tensor.as<int64_t>()[i] = offsets[i];
    ins.push_back(std::move(cu));
    p.cuSeqlens = offsets;
  }
  if (!c.seqIdx.empty()) {
    Input seq{OwnedTensor(DType::I64, {B, L}), {}};
    for (int64_t i = 0; i < B * L; ++i)
      seq.tensor.as<int64_t>()[i] = c.seqIdx[i];
    ins.push_back(std::move(seq));
    p.seqIdx = c.seqIdx;
  }
  JitOptions options;
  options.threads = threads;
  options.vectorBits = vectorBits;
  options.target = target;
  ASSERT_OK_AND_ASSIGN(
      jit, Jit::compile(source.empty() ? test::selectiveScanProgram(c) : source,
                        options));
  std::vector<Tensor> views;
  for (Input &in : ins)
    views.push_back(in.tensor.view());
  ASSERT_OK_AND_ASSIGN(results, jit->run("main", views));
  out.results = std::move(results);
  out.reference = ref::selectiveScan(p);
}

/// DESIGN.md's f32 tolerance: max |err| <= 1e-4 * max(1, max |ref|).
void expectMatchesF32(const ScanRun &r, const SelectiveScanConfig &c) {
  double tol = 1e-4 * std::max(1.0, maxAbs(r.reference.out));
  EXPECT_LE(maxError(r.results[0], r.reference.out), tol);
  if (c.finalState) {
    ASSERT_EQ(r.results.size(), 2u);
    double tolH = 1e-4 * std::max(1.0, maxAbs(r.reference.finalState));
    EXPECT_LE(maxError(r.results[1], r.reference.finalState), tolH);
  }
}

class SelectiveScanShapes
    : public ::testing::TestWithParam<SelectiveScanConfig> {};

TEST_P(SelectiveScanShapes, MatchesDoubleReference) {
  ScanRun r;
  runSelectiveScan(GetParam(), 1234, r);
  if (::testing::Test::HasFatalFailure())
    return;
  expectMatchesF32(r, GetParam());
}

/// The same kernels on the GPU emulator (host threads, one per GPU thread).
class SelectiveScanShapesOnGPUEmulator : public SelectiveScanShapes {};

TEST_P(SelectiveScanShapesOnGPUEmulator, MatchesDoubleReference) {
  ScanRun r;
  runSelectiveScan(GetParam(), 1234, r, 0, 0, {}, Target::GPUEmulator);
  if (::testing::Test::HasFatalFailure())
    return;
  expectMatchesF32(r, GetParam());
}

SelectiveScanConfig cfg(int64_t B, int64_t Dm, int64_t L, int64_t N) {
  SelectiveScanConfig c;
  c.batch = B, c.channels = Dm, c.seqLen = L, c.stateSize = N;
  return c;
}
SelectiveScanConfig full(SelectiveScanConfig c) {
  c.hasD = c.hasZ = c.hasBias = c.hasH0 = c.softplus = c.finalState = true;
  return c;
}
SelectiveScanConfig grouped(SelectiveScanConfig c, int64_t gb, int64_t gc) {
  c.groupsB = gb, c.groupsC = gc;
  return c;
}
SelectiveScanConfig dynamic(SelectiveScanConfig c) {
  c.dynamic = true;
  return c;
}
/// B and/or C fixed over time ([Dm, N], mamba_ssm's non-selective form).
SelectiveScanConfig fixed(SelectiveScanConfig c, bool b, bool cc) {
  c.fixedB = b, c.fixedC = cc;
  return c;
}

/// The same shapes on the CUDA target (GPU kernel where it applies, the
/// CPU lowering for the rest); skipped without a CUDA driver and device.
class SelectiveScanShapesOnGPU : public SelectiveScanShapes {};

TEST_P(SelectiveScanShapesOnGPU, MatchesDoubleReference) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  ScanRun r;
  runSelectiveScan(GetParam(), 1234, r, 0, 0, {}, Target::CUDA);
  if (::testing::Test::HasFatalFailure())
    return;
  expectMatchesF32(r, GetParam());
}

const auto kShapes = ::testing::Values(
        cfg(1, 1, 1, 1),          // everything size 1
        cfg(1, 16, 1, 16),        // L = 1
        cfg(2, 37, 13, 16),       // B > 1, Dm not a multiple of 16, prime L
        cfg(1, 5, 31, 3),         // N not a multiple of anything
        full(cfg(2, 20, 17, 16)), // every optional operand, final state
        full(cfg(1, 48, 64, 4)),
        grouped(full(cfg(2, 32, 11, 8)), 2, 2), // grouped B/C
        grouped(cfg(1, 12, 9, 5), 3, 0),        // groups straddle a block
        full(cfg(1, 18, 7, 80)),  // N > 64: state in a stack buffer
        dynamic(full(cfg(2, 19, 23, 16))), // dynamic shapes, register state
        dynamic(cfg(1, 7, 5, 70)),         // dynamic N: buffer state
        cfg(1, 3, 0, 4),          // zero-length sequence
        fixed(cfg(2, 37, 13, 16), true, false),       // fixed B, variable C
        fixed(full(cfg(2, 21, 17, 13)), false, true), // fixed C, variable B
        fixed(grouped(full(cfg(1, 18, 7, 80)), 3, 0), false, true), // buffer state
        dynamic(fixed(full(cfg(2, 19, 23, 11)), true, true))
    );

std::string shapeName(const ::testing::TestParamInfo<SelectiveScanConfig> &info) {
  const SelectiveScanConfig &c = info.param;
  std::string name = "B" + std::to_string(c.batch) + "_D" +
                     std::to_string(c.channels) + "_L" +
                     std::to_string(c.seqLen) + "_N" +
                     std::to_string(c.stateSize);
  if (c.groupsB || c.groupsC)
    name += "_G" + std::to_string(c.groupsB) + std::to_string(c.groupsC);
  if (c.fixedB || c.fixedC)
    name += std::string("_fixed") + (c.fixedB ? "B" : "") + (c.fixedC ? "C" : "");
  if (c.hasD)
    name += "_full";
  if (c.dynamic)
    name += "_dynamic";
  return name;
}

INSTANTIATE_TEST_SUITE_P(Shapes, SelectiveScanShapes, kShapes, shapeName);
INSTANTIATE_TEST_SUITE_P(Shapes, SelectiveScanShapesOnGPU, kShapes, shapeName);
INSTANTIATE_TEST_SUITE_P(Shapes, SelectiveScanShapesOnGPUEmulator, kShapes,
                         shapeName);

/// Few channels and long sequences: the GPU kernel splits L into C chunks
/// (C = 2 .. 32) and scans over them (a partial last chunk, a partial last
/// block of channels, h0 entering chunk 0, the final state from the last).
const auto kLongShapes = ::testing::Values(
        full(cfg(1, 5, 300, 16)),                // C = 8
        grouped(full(cfg(2, 6, 1100, 8)), 2, 2), // C = 32, last chunk short
        full(cfg(1, 3, 97, 32)),                 // C = 2, N = 32
        cfg(1, 130, 256, 16),                    // C = 8, 9 blocks of 16
        dynamic(full(cfg(1, 4, 200, 16)))        // C = 4, dynamic shapes
    );
INSTANTIATE_TEST_SUITE_P(LongShapes, SelectiveScanShapesOnGPU, kLongShapes,
                         shapeName);
INSTANTIATE_TEST_SUITE_P(LongShapes, SelectiveScanShapesOnGPUEmulator,
                         kLongShapes, shapeName);

TEST(SelectiveScanNumerics, F64ProgramsMatchToF64Precision) {
  SelectiveScanConfig c = full(cfg(2, 9, 12, 6));
  c.elt = c.param = "f64";
  ScanRun r;
  runSelectiveScan(c, 99, r);
  if (::testing::Test::HasFatalFailure())
    return;
  EXPECT_LE(maxError(r.results[0], r.reference.out),
            1e-10 * std::max(1.0, maxAbs(r.reference.out)));
}

/// Low-precision inputs with f32 state: within 1e-2 relative, and at most
/// 2x the error of rounding the exact result to the output type.
void expectLowPrecision(const std::string &elt, Target target = Target::CPU,
                        const std::string &delta = "",
                        SelectiveScanConfig c = full(cfg(1, 24, 40, 16))) {
  c.elt = elt;
  c.delta = delta;
  ScanRun r;
  runSelectiveScan(c, 7, r, 0, 0, {}, target);
  if (::testing::Test::HasFatalFailure())
    return;
  DType dt = dtypeFromName(elt);
  OwnedTensor rounded(dt, {int64_t(r.reference.out.size())});
  for (size_t i = 0; i < r.reference.out.size(); ++i)
    rounded.setFromDouble(i, r.reference.out[i]);
  double roundingErr = maxError(rounded, r.reference.out);
  double err = maxError(r.results[0], r.reference.out);
  double scale = std::max(1.0, maxAbs(r.reference.out));
  EXPECT_LE(err, 1e-2 * scale);
  EXPECT_LE(err, 2 * roundingErr + 1e-4 * scale);
}

TEST(SelectiveScanNumerics, BF16InputsWithF32State) { expectLowPrecision("bf16"); }
TEST(SelectiveScanNumerics, F16InputsWithF32State) { expectLowPrecision("f16"); }
TEST(SelectiveScanNumerics, BF16AndF16InputsOnGPU) {
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  expectLowPrecision("bf16", Target::CUDA);
  expectLowPrecision("f16", Target::CUDA);
}
TEST(SelectiveScanNumerics, BF16AndF16InputsOnTheGPUEmulator) {
  expectLowPrecision("bf16", Target::GPUEmulator);
  expectLowPrecision("f16", Target::GPUEmulator);
}
TEST(SelectiveScanNumerics, F32DeltaWithLowPrecisionInputs) {
  // delta in f32 next to bf16/f16 u, B, C and z, each read from its own
  // type, on the CPU loops and the GPU kernel (emulator).
  for (Target target : {Target::CPU, Target::GPUEmulator}) {
    expectLowPrecision("bf16", target, "f32");
    expectLowPrecision("f16", target, "f32");
  }
}

/// [Dm, N] B and C in bf16/f16 next to f32 A, D and delta_bias, odd Dm
/// and N.
void expectFixedLowPrecision(Target target) {
  expectLowPrecision("bf16", target, "",
                     fixed(full(cfg(2, 21, 29, 13)), true, false));
  expectLowPrecision("f16", target, "f32",
                     fixed(full(cfg(1, 19, 37, 7)), true, true));
}
TEST(SelectiveScanNumerics, FixedBAndCWithLowPrecisionInputs) {
  expectFixedLowPrecision(Target::CPU);
}
TEST(SelectiveScanNumerics, FixedBAndCWithLowPrecisionInputsOnTheGPUEmulator) {
  expectFixedLowPrecision(Target::GPUEmulator);
}

TEST(SelectiveScanNumerics, FixedBIsAVariableBConstantOverTime) {
  // The same values as [Dm, N] and broadcast to grouped [B, G = Dm, N, L]:
  // one program each, outputs equal to rounding.
  SelectiveScanConfig c = fixed(full(cfg(2, 5, 19, 3)), true, true);
  ScanRun r;
  runSelectiveScan(c, 41, r);
  if (::testing::Test::HasFatalFailure())
    return;
  expectMatchesF32(r, c);
  // Independently of the reference's fixed form: the reference on the
  // broadcast operands gives the same outputs.
  std::mt19937 rng(41);
  ref::SelectiveScanProblem p;
  p.batch = 2, p.channels = 5, p.seqLen = 19, p.stateSize = 3;
  p.groupsB = p.groupsC = 5;
  auto take = [&](int64_t n, double lo, double hi) {
    std::uniform_real_distribution<double> d(lo, hi);
    std::vector<double> v;
    for (int64_t i = 0; i < n; ++i)
      v.push_back(double(float(d(rng))));
    return v;
  };
  // The draw order of runSelectiveScan: u, delta, A, B, C, D, z, bias, h0.
  p.u = take(2 * 5 * 19, -1, 1);
  p.delta = take(2 * 5 * 19, -3, 1);
  p.A = take(5 * 3, -4, -0.05);
  std::vector<double> fb = take(5 * 3, -1, 1), fc = take(5 * 3, -1, 1);
  for (auto [fixedValues, grouped] :
       {std::pair<std::vector<double> *, std::vector<double> *>{&fb, &p.B},
        {&fc, &p.C}})
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t d = 0; d < 5; ++d)
        for (int64_t n = 0; n < 3; ++n)
          for (int64_t t = 0; t < 19; ++t)
            grouped->push_back((*fixedValues)[d * 3 + n]);
  p.D = take(5, -1, 1);
  p.z = take(2 * 5 * 19, -3, 3);
  p.deltaBias = take(5, -1, 0.5);
  p.h0 = take(2 * 5 * 3, -1, 1);
  p.deltaSoftplus = true;
  ref::SelectiveScanResult broadcast = ref::selectiveScan(p);
  EXPECT_LE(maxError(r.results[0], broadcast.out),
            1e-4 * std::max(1.0, maxAbs(broadcast.out)));
  EXPECT_LE(maxError(r.results[1], broadcast.finalState),
            1e-4 * std::max(1.0, maxAbs(broadcast.finalState)));
}

TEST(SelectiveScanNumerics, FixedBAndCDecomposedAsAScan) {
  // ssm-decompose's linalg + ssm.scan form of fixed B (and of fixed C next
  // to a variable B) against the double reference.
  for (auto [fb, fc] : {std::pair<bool, bool>{true, true}, {false, true}}) {
    SelectiveScanConfig c = fixed(full(cfg(2, 7, 11, 5)), fb, fc);
    std::string decomposed =
        test::rewrite(test::selectiveScanProgram(c), "ssm-decompose");
    ASSERT_EQ(decomposed.find("ssm.selective_scan"), std::string::npos)
        << decomposed;
    ScanRun r;
    runSelectiveScan(c, 61, r, 0, 0, {}, Target::CPU, decomposed);
    if (::testing::Test::HasFatalFailure())
      return;
    expectMatchesF32(r, c);
  }
}

/// seq_idx rows of L = 23 for B = 3: one sequence; length-1 sequences at
/// steps 0 and L-1 around a long one; sequences of 3, 1, 17 (a full tile
/// of 16 steps and a tail) and 1, 1 steps.
std::vector<int64_t> threeRowPacking() {
  std::vector<int64_t> rows;
  auto append = [&](std::initializer_list<std::pair<int64_t, int64_t>> runs) {
    for (auto [id, count] : runs)
      rows.insert(rows.end(), count, id);
  };
  append({{0, 23}});
  append({{0, 1}, {1, 21}, {2, 1}});
  append({{0, 3}, {1, 1}, {2, 17}, {3, 1}, {4, 1}});
  return rows;
}

TEST(SelectiveScanNumerics, SequencesPackedPerBatchRow) {
  // seq_idx [B, L], B = 3, each row packed differently: register state
  // (N = 16, tiles and tails per sequence) and buffer state (N = 70), with
  // h0 entering each row's first sequence and the final state leaving its
  // last.
  for (int64_t n : {16, 70}) {
    SelectiveScanConfig c = full(cfg(3, 21, 23, n));
    c.seqIdx = threeRowPacking();
    ScanRun r;
    runSelectiveScan(c, 51, r);
    if (::testing::Test::HasFatalFailure())
      return;
    expectMatchesF32(r, c);
  }
}

TEST(SelectiveScanNumerics, SequencesPackedPerBatchRowDynamicAndOnTheGPUTarget) {
  // The same packing with dynamic shapes and a fixed B, and through the
  // GPU target's pipeline (the emulator), whose kernels leave seq_idx to
  // the host loops.
  SelectiveScanConfig d = dynamic(fixed(full(cfg(3, 9, 23, 5)), true, false));
  d.seqIdx = threeRowPacking();
  ScanRun r;
  runSelectiveScan(d, 52, r);
  if (::testing::Test::HasFatalFailure())
    return;
  expectMatchesF32(r, d);
  SelectiveScanConfig g = full(cfg(3, 17, 23, 8));
  g.seqIdx = threeRowPacking();
  ScanRun e;
  runSelectiveScan(g, 53, e, 0, 0, {}, Target::GPUEmulator);
  if (::testing::Test::HasFatalFailure())
    return;
  expectMatchesF32(e, g);
}

TEST(SelectiveScanNumerics, TwoThreadsGiveTheSameBitsAsOne) {
  SelectiveScanConfig c = full(cfg(3, 50, 21, 16));
  ScanRun one, two;
  runSelectiveScan(c, 5, one, /*threads=*/1);
  runSelectiveScan(c, 5, two, /*threads=*/2);
  if (::testing::Test::HasFatalFailure())
    return;
  for (size_t k = 0; k < one.results.size(); ++k)
    for (int64_t i = 0; i < one.results[k].numel(); ++i)
      ASSERT_EQ(one.results[k].getAsDouble(i), two.results[k].getAsDouble(i));
  expectMatchesF32(one, c);
}

TEST(SelectiveScanNumerics, NarrowerVectorsAndPortableExp2) {
  // 256- and 128-bit vectors (8 and 4 lanes) take the exp2 path that builds
  // 2^k from exponent bits instead of vscalefps.
  for (unsigned bits : {256u, 128u}) {
    SelectiveScanConfig c = full(cfg(2, 21, 19, 16));
    ScanRun r;
    runSelectiveScan(c, 17, r, /*threads=*/0, bits);
    if (::testing::Test::HasFatalFailure())
      return;
    expectMatchesF32(r, c);
  }
}

TEST(SelectiveScanNumerics, PackedSequencesRestartTheState) {
  // Tiles and tails inside each sequence: lengths 21, 0, 16 and 5 with
  // 16-step tiles; N = 16 keeps the state in registers, N = 70 in a buffer.
  for (int64_t n : {16, 70}) {
    SelectiveScanConfig c = full(cfg(1, 20, 42, n));
    c.sequences = 4;
    ScanRun r;
    runSelectiveScan(c, 31, r, 0, 0, {0, 21, 21, 37, 42});
    if (::testing::Test::HasFatalFailure())
      return;
    expectMatchesF32(r, c);
  }
  SelectiveScanConfig d = dynamic(full(cfg(1, 9, 30, 16)));
  d.sequences = 2;
  ScanRun r;
  runSelectiveScan(d, 32, r, 0, 0, {0, 17, 30});
  if (::testing::Test::HasFatalFailure())
    return;
  expectMatchesF32(r, d);
}

TEST(SelectiveScanNumerics, SoftplusOverItsWholeRange) {
  // softplus arguments from -40 (softplus ~ e^x, tiny) to 40 (~ x), across
  // the tiled and one-step paths.
  SelectiveScanConfig c = full(cfg(1, 32, 37, 16));
  c.deltaLo = -40, c.deltaHi = 40;
  ScanRun r;
  runSelectiveScan(c, 5, r);
  if (::testing::Test::HasFatalFailure())
    return;
  // Tighter than expectMatchesF32: a 1e-4 relative error in softplus alone
  // must fail here.
  double scale = std::max(1.0, maxAbs(r.reference.out));
  EXPECT_LE(maxError(r.results[0], r.reference.out), 2e-6 * scale)
      << maxError(r.results[0], r.reference.out) / scale;
}

TEST(SelectiveScanNumerics, LongSequenceStaysFinite) {
  // Strong decay and large dt: exp underflows to 0 and softplus sees large
  // arguments; no NaN/Inf may appear.
  SelectiveScanConfig c = full(cfg(1, 16, 4096, 16));
  ScanRun r;
  runSelectiveScan(c, 3, r);
  if (::testing::Test::HasFatalFailure())
    return;
  expectMatchesF32(r, c);
}

//===----------------------------------------------------------------------===//
// ssm.scan
//===----------------------------------------------------------------------===//

TEST(ScanNumerics, LinearRecurrenceMatchesReference) {
  const char *program = R"mlir(
func.func @main(%a: tensor<5x37xf32>, %b: tensor<5x37xf32>) -> (tensor<5x37xf32>, tensor<5x37xf32>) {
  %p, %h = ssm.scan %a, %b axis = 1
      : (tensor<5x37xf32>, tensor<5x37xf32>) -> (tensor<5x37xf32>, tensor<5x37xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = arith.mulf %a2, %b1 : f32
    %2 = arith.addf %1, %b2 : f32
    ssm.yield %0, %2 : f32, f32
  }
  return %p, %h : tensor<5x37xf32>, tensor<5x37xf32>
}
)mlir";
  std::mt19937 rng(1);
  Input a = randomInput(rng, DType::F32, {5, 37}, 0.5, 1.0);
  Input b = randomInput(rng, DType::F32, {5, 37}, -1, 1);
  ASSERT_OK_AND_ASSIGN(jit, Jit::compile(program));
  ASSERT_OK_AND_ASSIGN(res, jit->run("main", {a.tensor.view(), b.tensor.view()}));
  auto want = ref::scan({a.values, b.values}, {5, 37}, 1,
                        [](const std::vector<double> &x,
                           const std::vector<double> &y) {
                          return std::vector<double>{x[0] * y[0],
                                                     y[0] * x[1] + y[1]};
                        });
  EXPECT_LE(maxError(res[0], want[0]), 1e-5);
  EXPECT_LE(maxError(res[1], want[1]), 1e-4 * std::max(1.0, maxAbs(want[1])));
}

TEST(ScanNumerics, LinearRecurrenceOfExpDecaysBecomesLinearAttention) {
  // Canonicalization turns a scan of (exp(x), b) pairs with the
  // linear-recurrence combiner into ssm.linear_attention; both programs
  // must compute h_t = exp(x_t) h_{t-1} + b_t.
  const std::string program = R"mlir(
func.func @main(%x: tensor<3x4x29xf32>, %b: tensor<3x4x29xf32>) -> tensor<3x4x29xf32> {
  %a = math.exp %x : tensor<3x4x29xf32>
  %p, %h = ssm.scan %a, %b axis = 2
      : (tensor<3x4x29xf32>, tensor<3x4x29xf32>) -> (tensor<3x4x29xf32>, tensor<3x4x29xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a2, %a1 : f32
    %1 = math.fma %a2, %b1, %b2 : f32
    ssm.yield %0, %1 : f32, f32
  }
  return %h : tensor<3x4x29xf32>
}
)mlir";
  std::string merged = test::rewrite(program, "canonicalize");
  ASSERT_NE(merged.find("ssm.linear_attention"), std::string::npos) << merged;
  ASSERT_EQ(merged.find("ssm.scan"), std::string::npos) << merged;
  std::mt19937 rng(3);
  Input x = randomInput(rng, DType::F32, {3, 4, 29}, -1, 0.2);
  Input b = randomInput(rng, DType::F32, {3, 4, 29}, -1, 1);
  std::vector<double> as;
  for (double v : x.values)
    as.push_back(std::exp(v));
  auto want = ref::scan({as, b.values}, {3, 4, 29}, 2,
                        [](const std::vector<double> &p,
                           const std::vector<double> &q) {
                          return std::vector<double>{p[0] * q[0],
                                                     q[0] * p[1] + q[1]};
                        });
  for (const std::string &source : {program, merged}) {
    ASSERT_OK_AND_ASSIGN(jit, Jit::compile(source));
    ASSERT_OK_AND_ASSIGN(res, jit->run("main", {x.tensor.view(), b.tensor.view()}));
    // The inputs are the caller's: compiled code must not write into them
    // (exp(x) could be computed in place over x otherwise).
    for (int64_t i = 0; i < x.tensor.numel(); ++i)
      ASSERT_EQ(x.tensor.getAsDouble(i), x.values[i]) << "input modified";
    EXPECT_LE(maxError(res[0], want[1]), 1e-4 * std::max(1.0, maxAbs(want[1])))
        << (source == program ? "scan" : "linear attention");
  }
}

TEST(ScanNumerics, ExclusiveReverseIntegerScanIsExact) {
  const char *program = R"mlir(
func.func @main(%x: tensor<?x3xi32>, %init: i32) -> tensor<?x3xi32> {
  %r = ssm.scan %x init(%init : i32) axis = 0 reverse exclusive
      : (tensor<?x3xi32>) -> tensor<?x3xi32> {
  ^bb0(%acc: i32, %next: i32):
    %s = arith.addi %acc, %next : i32
    ssm.yield %s : i32
  }
  return %r : tensor<?x3xi32>
}
)mlir";
  OwnedTensor x(DType::I32, {4, 3});
  std::vector<double> xs;
  for (int i = 0; i < 12; ++i) {
    x.as<int32_t>()[i] = i * i - 7;
    xs.push_back(i * i - 7);
  }
  OwnedTensor init(DType::I32, {});
  init.as<int32_t>()[0] = 100;
  ASSERT_OK_AND_ASSIGN(jit, Jit::compile(program));
  ASSERT_OK_AND_ASSIGN(res, jit->run("main", {x.view(), init.view()}));
  auto want = ref::scan({xs}, {4, 3}, 0,
                        [](const std::vector<double> &a,
                           const std::vector<double> &b) {
                          return std::vector<double>{a[0] + b[0]};
                        },
                        /*reverse=*/true, /*exclusive=*/true,
                        std::vector<double>{100});
  EXPECT_EQ(maxError(res[0], want[0]), 0.0);
}

TEST(ScanNumerics, InclusiveMaxWithInitAlongAxis0OfRank3) {
  const char *program = R"mlir(
func.func @main(%x: tensor<6x2x3xf64>, %init: f64) -> tensor<6x2x3xf64> {
  %r = ssm.scan %x init(%init : f64) axis = 0 : (tensor<6x2x3xf64>) -> tensor<6x2x3xf64> {
  ^bb0(%acc: f64, %next: f64):
    %m = arith.maximumf %acc, %next : f64
    ssm.yield %m : f64
  }
  return %r : tensor<6x2x3xf64>
}
)mlir";
  std::mt19937 rng(4);
  Input x = randomInput(rng, DType::F64, {6, 2, 3}, -1, 1);
  OwnedTensor init(DType::F64, {});
  init.as<double>()[0] = 0.25;
  ASSERT_OK_AND_ASSIGN(jit, Jit::compile(program));
  ASSERT_OK_AND_ASSIGN(res, jit->run("main", {x.tensor.view(), init.view()}));
  auto want = ref::scan({x.values}, {6, 2, 3}, 0,
                        [](const std::vector<double> &a,
                           const std::vector<double> &b) {
                          return std::vector<double>{std::max(a[0], b[0])};
                        },
                        false, false, std::vector<double>{0.25});
  EXPECT_EQ(maxError(res[0], want[0]), 0.0);
}

//===----------------------------------------------------------------------===//
// Misuse comes back as errors
//===----------------------------------------------------------------------===//

std::string errorOf(llvm::Error e) { return llvm::toString(std::move(e)); }

class JitErrors : public ::testing::Test {
protected:
  void SetUp() override {
    auto jit = Jit::compile(test::selectiveScanProgram(cfg(1, 4, 8, 2)));
    ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
    this->jit = std::move(*jit);
    for (auto shape : std::vector<std::vector<int64_t>>{
             {1, 4, 8}, {1, 4, 8}, {4, 2}, {1, 2, 8}, {1, 2, 8}})
      owned.emplace_back(DType::F32, shape);
    for (OwnedTensor &t : owned)
      views.push_back(t.view());
  }
  std::unique_ptr<Jit> jit;
  std::vector<OwnedTensor> owned;
  std::vector<Tensor> views;
};

TEST_F(JitErrors, UnknownEntry) {
  auto r = jit->run("nope", views);
  ASSERT_FALSE(r);
  EXPECT_NE(errorOf(r.takeError()).find("no public function named 'nope' (the program has: main)"),
            std::string::npos);
}

TEST_F(JitErrors, WrongArgumentCount) {
  views.pop_back();
  auto r = jit->run("main", views);
  ASSERT_FALSE(r);
  EXPECT_NE(errorOf(r.takeError()).find("'main' takes 5 inputs"), std::string::npos);
}

TEST_F(JitErrors, WrongDType) {
  OwnedTensor f64(DType::F64, {1, 4, 8});
  views[1] = f64.view();
  auto r = jit->run("main", views);
  ASSERT_FALSE(r);
  EXPECT_NE(errorOf(r.takeError()).find("input #1 of 'main' (tensor<1x4x8xf32>) must have dtype f32, got f64"),
            std::string::npos);
}

TEST_F(JitErrors, WrongRankAndShape) {
  OwnedTensor rank2(DType::F32, {4, 8});
  views[0] = rank2.view();
  auto r = jit->run("main", views);
  ASSERT_FALSE(r);
  EXPECT_NE(errorOf(r.takeError()).find("must have rank 3, got shape [4, 8]"), std::string::npos);
  OwnedTensor wrong(DType::F32, {1, 4, 9});
  views[0] = wrong.view();
  auto r2 = jit->run("main", views);
  ASSERT_FALSE(r2);
  EXPECT_NE(errorOf(r2.takeError()).find("must have shape [1, 4, 8], got [1, 4, 9]"), std::string::npos);
}

TEST_F(JitErrors, DeviceAndOutputs) {
  views[0].device = Device::CUDA;
  auto r = jit->run("main", views);
  ASSERT_FALSE(r);
  EXPECT_NE(errorOf(r.takeError()).find("is on a CUDA device"), std::string::npos);
  views[0].device = Device::CPU;
  OwnedTensor out(DType::F32, {1, 4, 7});
  llvm::Error e = jit->invoke("main", views, {out.view()});
  EXPECT_NE(errorOf(std::move(e)).find("output #0 of 'main' (tensor<1x4x8xf32>) must have shape [1, 4, 8], got [1, 4, 7]"),
            std::string::npos);
}

TEST(JitCompileErrors, InvalidProgramReportsTheVerifierMessage) {
  auto jit = Jit::compile(R"mlir(
func.func @main(%u: tensor<1x4x8xf32>, %A: tensor<5x2xf32>, %B: tensor<1x2x8xf32>) -> tensor<1x4x8xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<5x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}
)mlir", {}, "bad.mlir");
  ASSERT_FALSE(jit);
  std::string msg = llvm::toString(jit.takeError());
  EXPECT_NE(msg.find("bad.mlir: invalid program"), std::string::npos) << msg;
  EXPECT_NE(msg.find("operand 'A' must have shape [Dm, N] = [4, ?], got [5, 2]"), std::string::npos) << msg;
}

TEST(JitCompileErrors, SyntaxErrorAndMissingFile) {
  auto bad = Jit::compile("func.func @main( {", {}, "syntax.mlir");
  ASSERT_FALSE(bad);
  EXPECT_NE(llvm::toString(bad.takeError()).find("syntax.mlir:1:"), std::string::npos);
  auto missing = Jit::compileFile("/nonexistent/model.mlir");
  ASSERT_FALSE(missing);
  EXPECT_NE(llvm::toString(missing.takeError()).find("cannot read"), std::string::npos);
}

TEST(JitCompileErrors, ThreadCountsThatCannotBeCreatedAreRefused) {
  // libomp aborts the process when the system refuses a thread (seen at
  // 40,000 here); compile() refuses such counts before anything runs.
  JitOptions o;
  o.threads = 100000;
  std::string program = test::selectiveScanProgram(cfg(1, 2, 3, 4));
  auto jit = Jit::compile(program, o);
  ASSERT_FALSE(jit);
  std::string msg = llvm::toString(jit.takeError());
  EXPECT_NE(msg.find("threads = 100000: more than the"), std::string::npos)
      << msg;
  // Oversubscription within the limit still compiles and runs.
  o.threads = 64;
  auto ok = Jit::compile(program, o);
  ASSERT_TRUE(static_cast<bool>(ok)) << llvm::toString(ok.takeError());
}

TEST(JitCompileErrors, UnknownGPUArchitectureListsTheValidOnes) {
  JitOptions o;
  o.target = Target::CUDA;
  o.gpuArch = "sm_75";
  auto jit = Jit::compile(test::selectiveScanProgram(cfg(1, 2, 3, 4)), o);
  ASSERT_FALSE(jit);
  EXPECT_EQ(llvm::toString(jit.takeError()),
            "unknown GPU architecture 'sm_75'; the CUDA target compiles for "
            "sm_80, sm_89, sm_90, sm_100");
  std::string dir = ::testing::TempDir();
  auto object =
      Jit::compileToObject(test::selectiveScanProgram(cfg(1, 2, 3, 4)), o,
                           dir + "/sm75.o", "x86-64-v3", "scan.mlir");
  ASSERT_TRUE(static_cast<bool>(object));
  EXPECT_NE(llvm::toString(std::move(object)).find("'sm_75'"),
            std::string::npos);
}

TEST(JitCompileErrors, CudaTargetWithoutADriverIsReportedNotCrashed) {
  // Compiling for CUDA needs no GPU; running does. Without a driver the
  // call is an error naming libcuda.so.1.
  if (!llvm::errorToBool(cuda::available()))
    GTEST_SKIP() << "a CUDA driver is present: " << cuda::deviceName();
  JitOptions o;
  o.target = Target::CUDA;
  auto jit = Jit::compile(test::selectiveScanProgram(cfg(1, 2, 3, 4)), o);
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  auto fn = (*jit)->function("main");
  ASSERT_TRUE(static_cast<bool>(fn));
  std::vector<OwnedTensor> in;
  std::vector<Tensor> views;
  for (const ArgInfo &a : (*fn)->inputs)
    in.emplace_back(a.dtype, a.shape);
  for (OwnedTensor &t : in)
    views.push_back(t.view());
  auto r = (*jit)->run("main", views);
  ASSERT_FALSE(r);
  EXPECT_NE(llvm::toString(r.takeError()).find("libcuda.so.1"), std::string::npos);
}

} // namespace

namespace {

// Strided inputs and outputs, both calling conventions (static results are
// written in place; dynamic results are returned and copied out).
TEST(JitCalls, StridedTensorsAndBothConventions) {
  const char *program = R"mlir(
func.func @static(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %r = ssm.scan %x axis = 1 : (tensor<3x4xf32>) -> tensor<3x4xf32> {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    ssm.yield %s : f32
  }
  return %r : tensor<3x4xf32>
}
func.func @dynamic(%x: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %r = ssm.scan %x axis = 1 : (tensor<?x?xf32>) -> tensor<?x?xf32> {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    ssm.yield %s : f32
  }
  return %r : tensor<?x?xf32>
}
)mlir";
  auto jitOr = Jit::compile(program);
  ASSERT_TRUE(static_cast<bool>(jitOr)) << llvm::toString(jitOr.takeError());
  std::unique_ptr<Jit> jit = std::move(*jitOr);
  EXPECT_TRUE((*jit->function("static"))->outParams);
  EXPECT_FALSE((*jit->function("dynamic"))->outParams);

  // A 3x4 view of the transpose of a 4x3 row-major buffer: strides {1, 3}.
  std::vector<float> storage = {0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11};
  Tensor x;
  x.data = storage.data();
  x.shape = {3, 4};
  x.strides = {1, 3};
  // Row r is 4r, 4r+1, 4r+2, 4r+3; prefix sums along each row.
  auto expectRows = [](const std::function<float(int, int)> &at) {
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 4; ++c) {
        float want = 0;
        for (int k = 0; k <= c; ++k)
          want += 4 * r + k;
        EXPECT_EQ(at(r, c), want) << r << "," << c;
      }
  };
  for (const char *entry : {"static", "dynamic"}) {
    std::vector<float> outStorage(12, -1);
    Tensor out;
    out.data = outStorage.data();
    out.shape = {3, 4};
    out.strides = {1, 3}; // strided output too
    llvm::Error e = jit->invoke(entry, {x}, {out});
    ASSERT_FALSE(e) << llvm::toString(std::move(e));
    expectRows([&](int r, int c) { return outStorage[c * 3 + r]; });
    auto owned = jit->run(entry, {x});
    ASSERT_TRUE(static_cast<bool>(owned)) << llvm::toString(owned.takeError());
    expectRows([&](int r, int c) { return (*owned)[0].as<float>()[r * 4 + c]; });
  }
}

// Large temporaries come from the JIT's block cache on later calls: the
// values stay right (a reused block holds the previous call's data, which
// the program must overwrite), and the peak-heap accounting counts a reused
// block like a fresh one.
TEST(JitCalls, LargeTemporariesAreReusedAcrossCalls) {
  const char *program = R"mlir(
func.func @main(%x: tensor<?xf32>, %s: f32) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %t = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %s : f32
    linalg.yield %m : f32
  } -> tensor<?xf32>
  %r = ssm.scan %t axis = 0 : (tensor<?xf32>) -> tensor<?xf32> {
  ^bb0(%a: f32, %b: f32):
    %q = arith.addf %a, %b : f32
    ssm.yield %q : f32
  }
  return %r : tensor<?xf32>
}
)mlir";
  auto jit = Jit::compile(program);
  ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  const int64_t n = 1 << 20; // 4 MiB temporaries
  OwnedTensor x(DType::F32, {n});
  for (int64_t i = 0; i < n; ++i)
    x.as<float>()[i] = float(i % 3);
  size_t firstPeak = 0;
  for (float scale : {1.0f, 2.0f, 0.5f}) {
    float sv = scale;
    Tensor s{&sv, DType::F32, {}, {}};
    auto out = (*jit)->run("main", {x.view(), s});
    ASSERT_TRUE(static_cast<bool>(out)) << llvm::toString(out.takeError());
    // Prefix sums of scale * (0, 1, 2, 0, 1, 2, ...): exact in f32 here.
    const float *r = (*out)[0].as<float>();
    for (int64_t i : {int64_t(0), int64_t(1), int64_t(2), int64_t(5), n - 1}) {
      double want = 0;
      want = scale * (3.0 * ((i + 1) / 3) + ((i + 1) % 3 == 2 ? 1 : 0));
      EXPECT_EQ(r[i], float(want)) << "i=" << i << " scale=" << scale;
    }
    size_t peak = (*jit)->lastCallPeakHeapBytes();
    EXPECT_GE(peak, size_t(n) * 4);
    if (!firstPeak)
      firstPeak = peak;
    EXPECT_EQ(peak, firstPeak);
  }
}

TEST(JitCalls, ResultsAreHandedOverWithoutCopiesAndTheirPagesReused) {
  // run() hands the compiled code's result buffer over (dynamic shapes) or
  // lets it write into one from the allocator's cache (static shapes, the
  // destination-passing form): a result that died gives its buffer, pages
  // mapped, to the next call; one still held is never written again.
  for (const char *shape : {"?", "262144"}) {
    std::string t = std::string("tensor<") + shape + "xf32>";
    std::string program =
        "func.func @main(%x: " + t + ", %s: f32) -> " + t + " {\n"
        "  %c0 = arith.constant 0 : index\n"
        "  %n = tensor.dim %x, %c0 : " + t + "\n" +
        (std::string(shape) == "?" ? "  %e = tensor.empty(%n) : " + t + "\n"
                                   : "  %e = tensor.empty() : " + t + "\n") +
        "  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, "
        "affine_map<(i) -> (i)>], iterator_types = [\"parallel\"]} ins(%x : " +
        t + ") outs(%e : " + t + ") {\n"
        "  ^bb0(%a: f32, %o: f32):\n"
        "    %m = arith.mulf %a, %s : f32\n"
        "    linalg.yield %m : f32\n"
        "  } -> " + t + "\n"
        "  return %r : " + t + "\n}\n";
    auto jit = Jit::compile(program);
    ASSERT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
    const int64_t n = 262144; // 1 MiB: a large block
    OwnedTensor x(DType::F32, {n});
    for (int64_t i = 0; i < n; ++i)
      x.as<float>()[i] = float(i % 7);
    auto call = [&](float scale) {
      Tensor s{&scale, DType::F32, {}, {}};
      auto out = (*jit)->run("main", {x.view(), s});
      EXPECT_TRUE(static_cast<bool>(out)) << llvm::toString(out.takeError());
      return out ? std::move((*out)[0]) : OwnedTensor();
    };
    const void *first;
    {
      OwnedTensor a = call(2.0f);
      ASSERT_EQ(a.shape(), std::vector<int64_t>{n});
      first = a.data();
    }
    OwnedTensor b = call(3.0f);
    EXPECT_EQ(b.data(), first) << shape << ": the freed result's buffer";
    OwnedTensor c = call(5.0f);
    EXPECT_NE(c.data(), b.data()) << shape;
    for (int64_t i : {int64_t(0), int64_t(1), int64_t(6), n - 1}) {
      EXPECT_EQ(b.as<float>()[i], 3.0f * float(i % 7)) << shape << " i=" << i;
      EXPECT_EQ(c.as<float>()[i], 5.0f * float(i % 7)) << shape << " i=" << i;
    }
    // A moved-from tensor holds nothing; the moved-to one the buffer.
    OwnedTensor d = std::move(c);
    EXPECT_EQ(c.data(), nullptr);
    EXPECT_EQ(d.as<float>()[6], 30.0f);
  }
}

} // namespace

namespace {

// Inputs matched to an entry's arguments by `ssm.name`, by "argN" or by
// position, and every way a match can fail.
class JitBind : public ::testing::Test {
protected:
  void SetUp() override {
    auto compiled = Jit::compile(R"mlir(
func.func @main(%x: tensor<4xf32> {ssm.name = "x"}, %s: f32 {ssm.name = "scale"},
                %y: tensor<4xf32>) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%x, %y : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %s : f32
    %t = arith.addf %m, %b : f32
    linalg.yield %t : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}
)mlir");
    ASSERT_TRUE(static_cast<bool>(compiled))
        << llvm::toString(compiled.takeError());
    jit = std::move(*compiled);
    for (int i = 0; i < 4; ++i) {
      x.as<float>()[i] = float(i);
      y.as<float>()[i] = 10.0f * float(i);
    }
    scale.as<float>()[0] = 2;
  }
  /// The error of binding `inputs` to main.
  std::string bindError(llvm::ArrayRef<NamedInput> inputs) {
    auto args = jit->bind("main", inputs);
    if (args)
      return "bound";
    return llvm::toString(args.takeError());
  }
  std::unique_ptr<Jit> jit;
  OwnedTensor x{DType::F32, {4}}, y{DType::F32, {4}}, scale{DType::F32, {}};
};

TEST_F(JitBind, NamesArgNAndPositionsInAnyOrder) {
  // "scale" by name, then x as the first argument not given, then y as
  // "arg2" (it has no ssm.name).
  ASSERT_OK_AND_ASSIGN(
      args, jit->bind("main", {{"scale", scale.view()},
                               {"", x.view()},
                               {"arg2", y.view()}}));
  ASSERT_EQ(args.size(), 3u);
  EXPECT_EQ(args[0].data, x.view().data);
  EXPECT_EQ(args[1].data, scale.view().data);
  EXPECT_EQ(args[2].data, y.view().data);
  ASSERT_OK_AND_ASSIGN(out, jit->run("main", args));
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(out[0].as<float>()[i], 2.0f * i + 10.0f * i) << i;
}

TEST_F(JitBind, EachErrorNamesTheArgument) {
  EXPECT_EQ(bindError({{"z", x.view()}}),
            "'main' has no argument named 'z' (arguments: x, scale, arg2)");
  EXPECT_EQ(bindError({{"", x.view()}, {"x", x.view()}}),
            "argument 'x' given twice");
  EXPECT_EQ(bindError({{"", x.view()},
                       {"", scale.view()},
                       {"", y.view()},
                       {"", y.view()}}),
            "'main' takes only 3 arguments");
  EXPECT_EQ(bindError({{"x", x.view()}, {"", scale.view()}}),
            "missing input for argument 'arg2' (tensor<4xf32>) of 'main'");
  auto unknown = jit->bind("nope", {});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(llvm::toString(unknown.takeError()),
            "no public function named 'nope' (the program has: main)");
}

TEST(ArgumentBinder, OneInputAtATimeWithTheCallersWordForAnInput) {
  FunctionInfo fn;
  fn.name = "f";
  fn.argNames = {"a", "b"};
  fn.inputs.resize(2);
  ArgumentBinder binder(fn, "--input");
  ASSERT_OK_AND_ASSIGN(b, binder.byName("b"));
  EXPECT_EQ(b, 1u);
  llvm::Error missing = binder.checkComplete();
  EXPECT_EQ(llvm::toString(std::move(missing)),
            "missing --input for argument 'a' (tensor<f32>) of 'f'");
  ASSERT_OK_AND_ASSIGN(a, binder.byPosition());
  EXPECT_EQ(a, 0u);
  EXPECT_FALSE(static_cast<bool>(binder.checkComplete()));
}

} // namespace

namespace {

// A saved program loads without compiling and computes the same bits, for
// static and dynamic entries (with their run-time checks); a damaged file
// or another target is an error naming the problem.
TEST(JitSaveLoad, LoadedProgramComputesTheSameAndDamageIsRejected) {
  const char *program = R"mlir(
func.func @static(%x: tensor<3x4xf32> {ssm.name = "x"}) -> tensor<3x4xf32> {
  %r = ssm.scan %x axis = 1 : (tensor<3x4xf32>) -> tensor<3x4xf32> {
  ^bb0(%a: f32, %b: f32):
    %s = arith.addf %a, %b : f32
    ssm.yield %s : f32
  }
  return %r : tensor<3x4xf32>
}
func.func @dynamic(%u: tensor<1x2x?xf32>, %dt: tensor<1x2x?xf32>, %A: tensor<2x3xf32>,
                   %B: tensor<1x3x?xf32>, %C: tensor<1x3x?xf32>) -> tensor<1x2x?xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x2x?xf32>, tensor<1x2x?xf32>, tensor<2x3xf32>, tensor<1x3x?xf32>,
         tensor<1x3x?xf32>) -> tensor<1x2x?xf32>
  return %y : tensor<1x2x?xf32>
}
)mlir";
  JitOptions options;
  auto plain = Jit::compile(program, options);
  ASSERT_TRUE(static_cast<bool>(plain)) << llvm::toString(plain.takeError());
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("jit-save", "ssmco", path));
  llvm::Error noObject = (*plain)->save(path);
  EXPECT_NE(llvm::toString(std::move(noObject)).find("keepObject"),
            std::string::npos);

  options.keepObject = true;
  ASSERT_OK_AND_ASSIGN(jit, Jit::compile(program, options));
  llvm::Error saved = jit->save(path);
  ASSERT_FALSE(saved) << llvm::toString(std::move(saved));
  ASSERT_OK_AND_ASSIGN(loaded, Jit::load(path, options));
  ASSERT_EQ(loaded->functions().size(), 2u);
  EXPECT_EQ(loaded->functions()[0].argNames[0], "x");
  EXPECT_TRUE((*loaded->function("static"))->outParams);
  EXPECT_FALSE((*loaded->function("dynamic"))->outParams);

  OwnedTensor x(DType::F32, {3, 4});
  for (int i = 0; i < 12; ++i)
    x.as<float>()[i] = float(i) * 0.5f;
  auto filled = [](std::vector<int64_t> shape, float scale) {
    OwnedTensor t(DType::F32, std::move(shape));
    for (int64_t i = 0; i < t.numel(); ++i)
      t.as<float>()[i] = scale * float((i * 7) % 5 + 1);
    return t;
  };
  OwnedTensor u = filled({1, 2, 6}, 0.5f), dt = filled({1, 2, 6}, 0.1f),
              A = filled({2, 3}, -0.3f), B = filled({1, 3, 6}, 0.2f),
              C = filled({1, 3, 6}, 0.4f), shortC = filled({1, 3, 5}, 0.4f);
  std::vector<std::vector<float>> dynamicResults;
  for (Jit *j : {jit.get(), loaded.get()}) {
    ASSERT_OK_AND_ASSIGN(s, j->run("static", {x.view()}));
    for (int r = 0; r < 3; ++r) {
      double sum = 0;
      for (int c = 0; c < 4; ++c) {
        sum += 0.5 * (4 * r + c);
        EXPECT_EQ(s[0].as<float>()[4 * r + c], float(sum));
      }
    }
    ASSERT_OK_AND_ASSIGN(
        d, j->run("dynamic", {u.view(), dt.view(), A.view(), B.view(), C.view()}));
    dynamicResults.emplace_back(d[0].as<float>(), d[0].as<float>() + 12);
    // The run-time check of the dynamic entry, with its message.
    auto bad = j->run("dynamic",
                      {u.view(), dt.view(), A.view(), B.view(), shortC.view()});
    ASSERT_FALSE(bad);
    EXPECT_NE(llvm::toString(bad.takeError()).find("run-time shape mismatch"),
              std::string::npos);
  }
  EXPECT_EQ(dynamicResults[0], dynamicResults[1]);
  EXPECT_NE(dynamicResults[0], std::vector<float>(12, 0.0f));

  JitOptions emulator = options;
  emulator.target = Target::GPUEmulator;
  auto wrongTarget = Jit::load(path, emulator);
  ASSERT_FALSE(wrongTarget);
  EXPECT_NE(llvm::toString(wrongTarget.takeError()).find("another target"),
            std::string::npos);

  // Flip one byte of the object: the checksum catches it.
  auto buffer = llvm::MemoryBuffer::getFile(path);
  ASSERT_TRUE(static_cast<bool>(buffer));
  std::string bytes = (*buffer)->getBuffer().str();
  bytes[bytes.size() / 2] ^= 0x20;
  {
    std::error_code ec;
    llvm::raw_fd_ostream out(path, ec);
    ASSERT_FALSE(ec);
    out << bytes;
  }
  auto damaged = Jit::load(path, options);
  ASSERT_FALSE(damaged);
  EXPECT_NE(llvm::toString(damaged.takeError()).find("checksum"),
            std::string::npos);
  llvm::sys::fs::remove(path);
}

// A sequence-parallel program keeps, through save/load and so through the
// program cache (JitOptions::cacheDir), which inputs and results are split
// along the sequence and which result is a final state: a rank that loaded
// the program without them would be handed the whole sequence.
TEST(JitSaveLoad, ShardedProgramKeepsItsSequenceDimensionsThroughTheCache) {
  const char *program = R"mlir(
func.func @main(%u: tensor<1x2x8xf32>, %dt: tensor<1x2x8xf32>, %A: tensor<2x3xf32>,
                %B: tensor<1x3x8xf32>, %C: tensor<1x3x8xf32>)
    -> (tensor<1x2x8xf32>, tensor<1x2x3xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<2x3xf32>, tensor<1x3x8xf32>,
         tensor<1x3x8xf32>) -> (tensor<1x2x8xf32>, tensor<1x2x3xf32>)
  return %y, %h : tensor<1x2x8xf32>, tensor<1x2x3xf32>
}
)mlir";
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("jit-cache", dir));
  JitOptions options;
  options.shardSequence = true;
  options.cacheDir = std::string(dir.str());
  std::vector<std::vector<int>> dims;
  for (bool expectCached : {false, true}) {
    ASSERT_OK_AND_ASSIGN(jit, Jit::compile(program, options));
    EXPECT_EQ(jit->fromCache(), expectCached);
    const FunctionInfo &fn = jit->functions()[0];
    std::vector<int> d;
    for (const ArgInfo &a : fn.inputs)
      d.push_back(a.seqDim);
    for (const ArgInfo &r : fn.results)
      d.push_back(r.seqDim), d.push_back(r.seqLast);
    dims.push_back(d);
  }
  // u, dt, B, C split along L (dimension 2), A whole; y split, h the last
  // rank's final state.
  EXPECT_EQ(dims[0], (std::vector<int>{2, 2, -1, 2, 2, 2, 0, -1, 1}));
  EXPECT_EQ(dims[1], dims[0]);
  llvm::sys::fs::remove_directories(dir);
}

TEST(JitCalls, LargeBlocksAreHugePageAligned) {
  // Blocks of 16 MB and more (a fresh 400 MB KV cache returned by a decode
  // step through Jit::run) are 2 MB-aligned and advised to the kernel's
  // transparent huge pages: touching a fresh one faults 2 MB at a time
  // where the kernel offers huge pages (THP "always" or "madvise"), not
  // 4 KB at a time (16,384 faults for 64 MB).
  const size_t n = size_t(64) << 20;
  auto minorFaults = [] {
    rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
  };
  long f0 = minorFaults();
  auto *p = static_cast<volatile char *>(ssmcTrackedAlignedAlloc(64, n));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (size_t(2) << 20), 0u);
  for (size_t i = 0; i < n; i += 4096)
    p[i] = 1;
  long faults = minorFaults() - f0;
  ssmcTrackedFree(const_cast<char *>(p));
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string mode((std::istreambuf_iterator<char>(thp)),
                   std::istreambuf_iterator<char>());
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
  mode.clear(); // ASan's allocator maps its own memory
#endif
#endif
  if (mode.find("[never]") != std::string::npos || mode.empty())
    GTEST_SKIP() << "no transparent huge pages here (" << faults
                 << " faults for 64 MB)";
  EXPECT_LT(faults, 4096) << "64 MB faulted in 4 KB pages";
}

} // namespace
