//===- DPTest.cpp - the examples/dp programs against independent solvers --===//
//
// Each example of examples/dp/ is compiled by the CPU pipeline and run on
// random instances of many sizes (including T = 1, empty inputs and equal
// strings); answers and whole tables must equal the solvers of
// apps/tasks/DPSolvers.h exactly.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Cuda.h"
#include "apps/tasks/DPSolvers.h"
#include "ssmc/Jit.h"

#include <gtest/gtest.h>

#include <random>

using namespace ssmc;

namespace {

std::unique_ptr<Jit> compileExample(const std::string &name,
                                    Target target = Target::CPU) {
  std::string path = std::string(SSMC_EXAMPLES_DIR) + "/dp/" + name;
  JitOptions options;
  options.target = target;
  auto jit = Jit::compileFile(path, options);
  EXPECT_TRUE(static_cast<bool>(jit)) << llvm::toString(jit.takeError());
  return jit ? std::move(*jit) : nullptr;
}

OwnedTensor ints(const std::vector<int64_t> &v) {
  OwnedTensor t(DType::I64, {static_cast<int64_t>(v.size())});
  for (size_t i = 0; i < v.size(); ++i)
    t.setFromDouble(i, static_cast<double>(v[i]));
  return t;
}

OwnedTensor scalar(int64_t v) {
  OwnedTensor t(DType::I64, {});
  t.setFromDouble(0, static_cast<double>(v));
  return t;
}

std::vector<int64_t> values(const OwnedTensor &t) {
  std::vector<int64_t> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = static_cast<int64_t>(t.getAsDouble(i));
  return v;
}

std::vector<int64_t> randomInts(std::mt19937 &rng, size_t n, int64_t lo,
                                int64_t hi) {
  std::uniform_int_distribution<int64_t> d(lo, hi);
  std::vector<int64_t> v(n);
  for (int64_t &x : v)
    x = d(rng);
  return v;
}

/// Runs `entry` and returns its single result. The argument tensors are
/// temporaries of the caller's full expression.
std::vector<int64_t> run1(Jit &jit, const char *entry,
                          std::vector<Tensor> views) {
  auto out = jit.run(entry, views);
  EXPECT_TRUE(static_cast<bool>(out)) << llvm::toString(out.takeError());
  if (!out || out->size() != 1)
    return {};
  return values((*out)[0]);
}

TEST(DPExamples, LISMatchesFenwickSolver) {
  auto jit = compileExample("lis.mlir");
  ASSERT_TRUE(jit);
  std::mt19937 rng(7);
  for (size_t n : {0, 1, 2, 3, 17, 50, 80, 100, 200, 1000}) {
    for (int64_t range : {3, 1000}) {
      std::vector<int64_t> a = randomInts(rng, n, -range, range);
      EXPECT_EQ(run1(*jit, "lis", {ints(a).view()}), ref::lisTable(a))
          << "n = " << n << ", values in +-" << range;
    }
  }
  // Sorted, reversed and constant sequences.
  std::vector<int64_t> up(300), down(300), flat(300, 5);
  for (int i = 0; i < 300; ++i)
    up[i] = i, down[i] = -i;
  for (const auto &a : {up, down, flat})
    EXPECT_EQ(run1(*jit, "lis", {ints(a).view()}), ref::lisTable(a));
}

TEST(DPExamples, EditDistanceMatchesTableSolver) {
  auto jit = compileExample("edit_distance.mlir");
  ASSERT_TRUE(jit);
  std::mt19937 rng(11);
  const std::pair<size_t, size_t> sizes[] = {
      {0, 0}, {0, 5}, {5, 0}, {1, 1}, {1, 7}, {12, 12}, {16, 9},
      {20, 20}, {40, 40}, {40, 13}, {600, 700}};
  for (auto [n, m] : sizes) {
    std::vector<int64_t> x = randomInts(rng, n, 0, 3);
    std::vector<int64_t> y = randomInts(rng, m, 0, 3);
    EXPECT_EQ(run1(*jit, "edit_distance", {ints(x).view(), ints(y).view()}),
              std::vector<int64_t>{ref::editDistance(x, y)})
        << n << " x " << m;
    EXPECT_EQ(run1(*jit, "edit_distance_table", {ints(x).view(), ints(y).view()}),
              ref::editDistanceTable(x, y))
        << n << " x " << m;
  }
  // Equal strings are at distance 0; one substitution costs 3 (< 2 + 2).
  std::vector<int64_t> s = randomInts(rng, 30, 0, 25);
  EXPECT_EQ(run1(*jit, "edit_distance", {ints(s).view(), ints(s).view()}),
            std::vector<int64_t>{0});
  std::vector<int64_t> t = s;
  t[7] = 26;
  EXPECT_EQ(run1(*jit, "edit_distance", {ints(s).view(), ints(t).view()}),
            std::vector<int64_t>{3});
}

TEST(DPExamples, LCSLastRowMatchesSolver) {
  auto jit = compileExample("lcs.mlir");
  ASSERT_TRUE(jit);
  std::mt19937 rng(13);
  const std::pair<size_t, size_t> sizes[] = {{0, 4},  {1, 1},  {3, 0},
                                             {9, 14}, {40, 40}, {700, 600}};
  for (auto [n, m] : sizes) {
    std::vector<int64_t> x = randomInts(rng, n, 0, 4);
    std::vector<int64_t> y = randomInts(rng, m, 0, 4);
    std::vector<int64_t> want;
    for (size_t j = 1; j <= m; ++j)
      want.push_back(ref::lcs(x, std::vector<int64_t>(y.begin(), y.begin() + j)));
    EXPECT_EQ(run1(*jit, "lcs", {ints(x).view(), ints(y).view()}), want) << n << " x " << m;
  }
  std::vector<int64_t> s = randomInts(rng, 25, 0, 9);
  EXPECT_EQ(run1(*jit, "lcs", {ints(s).view(), ints(s).view()}).back(), 25);
}

TEST(DPExamples, KnapsackMatchesOneRowSolver) {
  auto jit = compileExample("knapsack.mlir");
  ASSERT_TRUE(jit);
  std::mt19937 rng(17);
  for (size_t n : {0, 1, 2, 5, 20, 60}) {
    for (int64_t capacity : {0, 1, 10, 100, 1500}) {
      std::vector<int64_t> w = randomInts(rng, n, 1, 40);
      std::vector<int64_t> v = randomInts(rng, n, 0, 100);
      EXPECT_EQ(run1(*jit, "knapsack", {ints(w).view(), ints(v).view(), scalar(capacity).view()}),
                std::vector<int64_t>{ref::knapsack01(w, v, capacity)})
          << n << " items, capacity " << capacity;
    }
  }
}

TEST(DPExamples, LocalSumMatchesSolver) {
  auto jit = compileExample("local_sum.mlir");
  ASSERT_TRUE(jit);
  std::mt19937 rng(19);
  for (size_t T : {0, 1, 2, 3, 4, 10, 1000, 100000}) {
    std::vector<int64_t> s = randomInts(rng, T, 0, 10);
    std::vector<int64_t> want = ref::localSumMod(s, 3, 11);
    EXPECT_EQ(run1(*jit, "local_sum_table", {ints(s).view()}), want) << "T = " << T;
    EXPECT_EQ(run1(*jit, "local_sum", {ints(s).view()}),
              std::vector<int64_t>{want.empty() ? 0 : want.back()})
        << "T = " << T;
  }
}

TEST(DPExamples, RollingStorageIsOMOfTheWindow) {
  // The peak heap of the compiled code (Jit::lastCallPeakHeapBytes) with
  // output = #ssm.dp_output<last> must not grow with T: a ring of m = 3 cells. The table
  // form must hold all T cells.
  auto jit = compileExample("local_sum.mlir");
  ASSERT_TRUE(jit);
  std::mt19937 rng(23);
  size_t peakLast[2];
  int k = 0;
  for (size_t T : {1000, 1000000}) {
    std::vector<int64_t> s = randomInts(rng, T, 0, 10);
    std::vector<int64_t> want = ref::localSumMod(s, 3, 11);
    EXPECT_EQ(run1(*jit, "local_sum", {ints(s).view()}),
              std::vector<int64_t>{want.back()});
    peakLast[k++] = jit->lastCallPeakHeapBytes();
    if (T == 1000000) {
      EXPECT_EQ(run1(*jit, "local_sum_table", {ints(s).view()}), want);
      EXPECT_GE(jit->lastCallPeakHeapBytes(), T * sizeof(int64_t));
    }
  }
  EXPECT_GT(peakLast[0], 0u); // the ring is on the heap and counted
  EXPECT_LE(peakLast[1], 256u) << "T = 10^6 with a window of 3 cells";
  EXPECT_EQ(peakLast[0], peakLast[1]);
}

TEST(DPExamples, LastRowStorageIsLinear) {
  // LCS of two 3000-token strings keeps 3 diagonals of 3000 cells (+ the
  // returned row), not the 9 * 10^6-cell table.
  auto jit = compileExample("lcs.mlir");
  ASSERT_TRUE(jit);
  std::mt19937 rng(29);
  const size_t n = 3000;
  std::vector<int64_t> x = randomInts(rng, n, 0, 3), y = randomInts(rng, n, 0, 3);
  std::vector<int64_t> row = run1(*jit, "lcs", {ints(x).view(), ints(y).view()});
  ASSERT_EQ(row.size(), n);
  EXPECT_EQ(row.back(), ref::lcs(x, y));
  EXPECT_LE(jit->lastCallPeakHeapBytes(), 5 * n * sizeof(int64_t));
}

/// The same programs as GPU kernels (one kernel per DP: wavefronts strided
/// over a block's threads) on the CUDA target or the GPU emulator.
void checkGPUKernels(Target target) {
  std::mt19937 rng(31);
  auto lis = compileExample("lis.mlir", target);
  auto ed = compileExample("edit_distance.mlir", target);
  auto lcs = compileExample("lcs.mlir", target);
  auto ks = compileExample("knapsack.mlir", target);
  auto local = compileExample("local_sum.mlir", target);
  ASSERT_TRUE(lis && ed && lcs && ks && local);
  for (size_t n : {0, 1, 7, 100, 700}) {
    std::vector<int64_t> a = randomInts(rng, n, 0, 50);
    EXPECT_EQ(run1(*lis, "lis", {ints(a).view()}), ref::lisTable(a)) << n;
    std::vector<int64_t> x = randomInts(rng, n, 0, 3), y = randomInts(rng, n + 3, 0, 3);
    EXPECT_EQ(run1(*ed, "edit_distance_table", {ints(x).view(), ints(y).view()}),
              ref::editDistanceTable(x, y)) << n;
    std::vector<int64_t> row = run1(*lcs, "lcs", {ints(x).view(), ints(y).view()});
    ASSERT_EQ(row.size(), n + 3);
    EXPECT_EQ(row.back(), ref::lcs(x, y)) << n;
    std::vector<int64_t> w = randomInts(rng, n, 1, 30), v = randomInts(rng, n, 0, 90);
    EXPECT_EQ(run1(*ks, "knapsack", {ints(w).view(), ints(v).view(), scalar(600).view()}),
              std::vector<int64_t>{ref::knapsack01(w, v, 600)}) << n;
    std::vector<int64_t> s = randomInts(rng, 100 * n, 0, 10);
    EXPECT_EQ(run1(*local, "local_sum_table", {ints(s).view()}),
              ref::localSumMod(s, 3, 11)) << n;
  }
}
TEST(DPExamples, GPUKernelsMatchTheSolvers) {
  // Skipped without a driver and device.
  if (llvm::Error e = cuda::available())
    GTEST_SKIP() << llvm::toString(std::move(e));
  checkGPUKernels(Target::CUDA);
}
TEST(DPExamples, GPUKernelsOnTheEmulatorMatchTheSolvers) {
  checkGPUKernels(Target::GPUEmulator);
}

} // namespace
