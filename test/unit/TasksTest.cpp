//===- TasksTest.cpp - scoring, solvers and small runs of the theory tasks -===//
//
// The chain-of-thought programs must reproduce the independent solvers when
// every read is exact; scoring must count ties as failures; the small task
// runs must give the counts the theory fixes (one-hot COPY exact iff
// N >= L, every DP exact with O(T) state, the local DP exact with O(m);
// the delta-rule store overwrites a key written twice where linear
// attention accumulates, and neither recalls more than N pairs of
// N-dimensional keys). A task's cells spread over two (simulated) ranks
// and replayed give the one-process tables exactly.
//
//===----------------------------------------------------------------------===//

#include "apps/tasks/Cells.h"
#include "apps/tasks/DPSolvers.h"
#include "apps/tasks/Tasks.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace ssmc;
using namespace ssmc::tasks;

namespace {

TEST(TaskScoring, StrictArgmaxCountsTiesAsFailures) {
  const float a[] = {0.1f, 2.0f, -1.0f};
  EXPECT_EQ(strictArgmax(a, 3), 1);
  const float tie[] = {1.0f, 0.5f, 1.0f};
  EXPECT_EQ(strictArgmax(tie, 3), -1);
  const float nan[] = {1.0f, NAN};
  EXPECT_EQ(strictArgmax(nan, 2), -1);
  const float allZero[] = {0, 0, 0, 0};
  EXPECT_EQ(strictArgmax(allZero, 4), -1);
  Score s;
  s.add(true), s.add(false), s.add(true);
  EXPECT_EQ(s.str(), "2/3");
  EXPECT_DOUBLE_EQ(s.rate(), 2.0 / 3.0);
}

TEST(TaskScoring, SlopesAndPredictions) {
  std::vector<double> x{10, 100, 1000}, y2, y1;
  for (double v : x)
    y2.push_back(3 * v * v), y1.push_back(0.5 * v);
  EXPECT_NEAR(logLogSlope(x, y2), 2.0, 1e-12);
  EXPECT_NEAR(logLogSlope(x, y1), 1.0, 1e-12);
  // a^d <= 2^-24 (f32) and 2^-8 (bf16): ln(2^24)/ln(1/0.99) = 1655.2.
  EXPECT_NEAR(predictedDecayLimit(0.99, 23), 1655.22, 0.01);
  EXPECT_NEAR(predictedDecayLimit(0.99, 7), 551.74, 0.01);
  // No interference: always right; overwhelming interference: chance.
  EXPECT_DOUBLE_EQ(predictedRandomKeyAccuracy(1, 64, 26, 1), 1.0);
  EXPECT_LT(predictedRandomKeyAccuracy(100000, 4, 26, 1), 0.1);
}

TEST(TaskScoring, TablesQuoteCsv) {
  Table t{"id", "title", {"a", "b"}, {{"x,y", "say \"hi\""}}};
  EXPECT_EQ(t.csv(), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n");
  EXPECT_EQ(t.markdown(), "| a | b |\n| --- | --- |\n| x,y | say \"hi\" |\n");
}

TEST(CoTPrograms, ReproduceTheSolvers) {
  Rng rng(5);
  auto ints = [&](size_t n, int64_t lo, int64_t hi) {
    std::vector<int64_t> v(n);
    for (auto &x : v)
      x = std::uniform_int_distribution<int64_t>(lo, hi)(rng);
    return v;
  };
  for (size_t n : {1, 2, 7, 30, 80}) {
    std::vector<int64_t> a = ints(n, 0, 99);
    EXPECT_EQ(runProgramExactly(lisProgram(a)), ref::lis(a)) << "n = " << n;
  }
  for (auto [n, m] : {std::pair<size_t, size_t>{1, 1}, {1, 5}, {6, 2}, {12, 12}}) {
    std::vector<int64_t> x = ints(n, 0, 3), y = ints(m, 0, 3);
    EXPECT_EQ(runProgramExactly(editDistanceProgram(x, y)),
              ref::editDistance(x, y));
  }
  std::vector<int64_t> same = ints(9, 0, 25);
  EXPECT_EQ(runProgramExactly(editDistanceProgram(same, same)), 0);
  for (size_t T : {1, 2, 3, 50}) {
    std::vector<int64_t> s = ints(T, 0, 10);
    EXPECT_EQ(runProgramExactly(localSumProgram(s, 3, 11)),
              ref::localSumMod(s, 3, 11).back());
  }
}

/// Independent evaluator of the arithmetic text: + - * with the usual
/// precedence, left-associative, mod 11.
struct Parser {
  std::string s;
  size_t i = 0;
  int64_t mod(int64_t v) { return ((v % 11) + 11) % 11; }
  int64_t atom() {
    if (s[i] == '(') {
      ++i;
      int64_t v = sum();
      ++i; // ')'
      return v;
    }
    int64_t v = 0;
    while (i < s.size() && isdigit(s[i]))
      v = v * 10 + (s[i++] - '0');
    return v;
  }
  int64_t product() {
    int64_t v = atom();
    while (i < s.size() && s[i] == '*')
      ++i, v = mod(v * atom());
    return v;
  }
  int64_t sum() {
    int64_t v = product();
    while (i < s.size() && (s[i] == '+' || s[i] == '-')) {
      char op = s[i++];
      int64_t r = product();
      v = mod(op == '+' ? v + r : v - r);
    }
    return v;
  }
};

TEST(CoTPrograms, ArithmeticReductionMatchesAnIndependentParser) {
  Rng rng(9);
  for (int64_t ops : {0, 1, 2, 4, 8, 12}) {
    for (int k = 0; k < 20; ++k) {
      Arithmetic a = arithmeticProgram(rng, ops);
      Parser p{a.text};
      EXPECT_EQ(p.sum(), a.value) << a.text;
      EXPECT_EQ(runProgramExactly(a.program), a.value) << a.text;
    }
  }
}

TEST(TaskRuns, SmallCopyGivesTheTheorysCounts) {
  CopyOptions o;
  o.lengths = {8, 32};
  o.stateSizes = {4, 8, 32};
  o.samples = 4;
  o.decays = {0.9};
  o.decayLengths = {512};
  RunOptions ro;
  auto r = runCopy(o, ro);
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  const Table *onehot = nullptr;
  for (const Table &t : r->tables)
    if (t.id == "copy_onehot")
      onehot = &t;
  ASSERT_TRUE(onehot);
  ASSERT_EQ(onehot->rows.size(), 6u);
  for (const auto &row : onehot->rows) {
    int64_t N = std::stoll(row[2]), L = std::stoll(row[5]);
    EXPECT_EQ(row[9] == "4/4", N >= L) << "L=" << L << " N=" << N << ": " << row[9];
  }
  // 8 bits of bf16 mantissa at a = 0.9: the limit 52.6 sits inside L = 512.
  for (const Claim &c : r->claims)
    EXPECT_TRUE(c.supported) << c.statement << ": " << c.evidence;
  // The delta-rule store at N = L/4: the last N positions exactly, the
  // overwritten ones only by chance.
  const Table *delta = nullptr;
  for (const Table &t : r->tables)
    if (t.id == "copy_delta")
      delta = &t;
  ASSERT_TRUE(delta);
  ASSERT_EQ(delta->rows.size(), 2u);
  for (const auto &row : delta->rows) {
    int64_t L = std::stoll(row[0]), N = std::stoll(row[1]);
    EXPECT_EQ(N, L / 4);
    std::string lastAll = std::to_string(4 * N) + "/" + std::to_string(4 * N);
    EXPECT_EQ(row[5], lastAll) << "L=" << L;
    EXPECT_LT(std::stod(row[6]), 100.0 * 3 / 26) << "L=" << L;
  }
}

TEST(TaskRuns, SmallDPIsExactWithFullStateAndLocalWithSmallState) {
  DPOptions o;
  o.lisSizes = {8};
  o.editSizes = {4};
  o.arithmeticOps = {4};
  o.localSizes = {200};
  o.samples = 3;
  RunOptions ro;
  auto r = runDP(o, ro);
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  for (const Claim &c : r->claims)
    EXPECT_TRUE(c.supported) << c.statement << ": " << c.evidence;
  const Table &t = r->tables.front();
  for (const auto &row : t.rows) {
    bool full = row[2].rfind("O(T)", 0) == 0;
    bool local = row[0].find("local") != std::string::npos;
    if (full || local)
      EXPECT_EQ(row[9], "100.0%") << row[0] << " " << row[2];
  }
}

TEST(TaskRuns, SmallDeltaStoreOverwritesAndMeetsTheStateBound) {
  MQAROptions o;
  o.sizes = {{16, 2}};
  o.stateSizes = {8};
  o.samples = 4;
  o.vocab = 64;
  o.deltaKeyDims = {8, 16};
  o.deltaValues = 64;
  RunOptions ro;
  auto r = runMQAR(o, ro);
  ASSERT_TRUE(static_cast<bool>(r)) << llvm::toString(r.takeError());
  const Table *t = nullptr;
  for (const Table &x : r->tables)
    if (x.id == "mqar_delta")
      t = &x;
  ASSERT_TRUE(t);
  // Per N: one-hot, one-hot written twice, random at N/2, N, 2N, 4N.
  ASSERT_EQ(t->rows.size(), 12u);
  for (const auto &row : t->rows) {
    int64_t N = std::stoll(row[0]), pairs = std::stoll(row[2]);
    std::string all = std::to_string(4 * pairs) + "/" + std::to_string(4 * pairs);
    if (row[1] == "one-hot") {
      // Orthogonal keys, N pairs: both stores are exact.
      EXPECT_EQ(row[6], all) << "linear, N=" << N;
      EXPECT_EQ(row[8], all) << "delta, N=" << N;
    } else if (row[1] == "one-hot, written twice") {
      // The delta rule replaces the value; linear attention reads the sum
      // of both, which scores the old and the new value alike.
      EXPECT_EQ(row[3], std::to_string(2 * pairs));
      EXPECT_EQ(row[8], all) << "delta, N=" << N;
      EXPECT_NE(row[6], all) << "linear, N=" << N;
    } else if (pairs > N) {
      // Beyond N pairs of N-dimensional keys neither store recalls all.
      EXPECT_NE(row[6], all) << "linear, N=" << N << " pairs=" << pairs;
      EXPECT_NE(row[8], all) << "delta, N=" << N << " pairs=" << pairs;
    }
  }
  int deltaClaims = 0;
  for (const Claim &c : r->claims)
    if (c.statement.find("delta") != std::string::npos) {
      ++deltaClaims;
      EXPECT_TRUE(c.supported) << c.statement << ": " << c.evidence;
    }
  EXPECT_EQ(deltaClaims, 3);
}

TEST(TaskRuns, ReportFilesAreWritten) {
  llvm::SmallString<128> dir;
  ASSERT_FALSE(llvm::sys::fs::createUniqueDirectory("ssmc-tasks-test", dir));
  TaskResult r;
  r.task = "demo";
  r.tables.push_back(Table{"t1", "A table", {"x", "y"}, {{"1", "2"}}});
  r.claims.push_back({"demo", "a claim", true, "because"});
  ASSERT_FALSE(static_cast<bool>(writeReport({r}, dir.str().str(), "cmd")));
  for (const char *f : {"t1.md", "t1.csv", "results.json", "report.md"})
    EXPECT_TRUE(llvm::sys::fs::exists(dir + "/" + f)) << f;
  auto json = llvm::MemoryBuffer::getFile(dir + "/results.json");
  ASSERT_TRUE(static_cast<bool>(json));
  auto parsed = llvm::json::parse((*json)->getBuffer());
  ASSERT_TRUE(static_cast<bool>(parsed)) << llvm::toString(parsed.takeError());
  llvm::sys::fs::remove_directories(dir);
}

TEST(TaskCells, AssignLargestFirstToTheLeastLoadedRank) {
  RunOptions ro;
  Cells plan(Cells::Mode::Plan);
  ro.cells = &plan;
  const double costs[] = {3, 5, 3, 4, 3};
  for (int i = 0; i < 5; ++i)
    ASSERT_FALSE(static_cast<bool>(runCell<Score>(
        ro, "cell " + std::to_string(i), costs[i],
        [](Rng &) -> llvm::Expected<Score> { return Score(); },
        [](const Score &) {})));
  ASSERT_EQ(plan.plan().size(), 5u);
  plan.assign(0, 2);
  // 5 -> rank 0, 4 -> rank 1, then the 3s in plan order: rank 1 (4 < 5),
  // rank 0 (5 < 7), rank 1 (7 < 8).
  EXPECT_EQ(plan.ownerOf(1), 0);
  EXPECT_EQ(plan.ownerOf(3), 1);
  EXPECT_EQ(plan.ownerOf(0), 1);
  EXPECT_EQ(plan.ownerOf(2), 0);
  EXPECT_EQ(plan.ownerOf(4), 1);
  // A second cell of the same name is refused (it would share a seed).
  auto dup = runCell<Score>(
      ro, "cell 0", 1, [](Rng &) -> llvm::Expected<Score> { return Score(); },
      [](const Score &) {});
  ASSERT_TRUE(static_cast<bool>(dup));
  EXPECT_NE(llvm::toString(std::move(dup)).find("two cells named 'cell 0'"),
            std::string::npos);
  EXPECT_NE(cellSeed(1, "cell 0"), cellSeed(1, "cell 1"));
  EXPECT_NE(cellSeed(1, "cell 0"), cellSeed(2, "cell 0"));
}

/// Every table of `a` equals the same table of `b`, row by row.
void expectSameTables(const TaskResult &a, const TaskResult &b) {
  ASSERT_EQ(a.tables.size(), b.tables.size());
  for (size_t i = 0; i < a.tables.size(); ++i) {
    EXPECT_EQ(a.tables[i].id, b.tables[i].id);
    EXPECT_EQ(a.tables[i].rows, b.tables[i].rows) << a.tables[i].id;
  }
  ASSERT_EQ(a.claims.size(), b.claims.size());
  for (size_t i = 0; i < a.claims.size(); ++i)
    EXPECT_EQ(a.claims[i].evidence, b.claims[i].evidence);
}

// MQAR draws its key embeddings inside the cells: computed by two ranks
// in another order, each from its own seed, the tables are the same.
TEST(TaskRuns, CellsOverTwoRanksGiveTheOneProcessTables) {
  MQAROptions o;
  o.sizes = {{16, 2}, {32, 4}};
  o.stateSizes = {2, 8};
  o.samples = 3;
  o.vocab = 64;
  o.deltaKeyDims = {};
  RunOptions ro;
  auto one = runMQAR(o, ro);
  ASSERT_TRUE(static_cast<bool>(one)) << llvm::toString(one.takeError());

  std::vector<std::unique_ptr<Cells>> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.push_back(std::make_unique<Cells>(Cells::Mode::Plan));
    RunOptions rr = ro;
    rr.cells = ranks.back().get();
    auto plan = runMQAR(o, rr);
    ASSERT_TRUE(static_cast<bool>(plan)) << llvm::toString(plan.takeError());
    rr.cells->assign(r, 2);
    rr.cells->setMode(Cells::Mode::Share);
    auto share = runMQAR(o, rr);
    ASSERT_TRUE(static_cast<bool>(share)) << llvm::toString(share.takeError());
  }
  const size_t n = ranks[0]->plan().size();
  ASSERT_EQ(n, 6u); // per size: the store at 2 N, attention
  std::vector<std::vector<char>> all(n);
  size_t owned[2] = {0, 0};
  for (int r = 0; r < 2; ++r)
    for (const auto &[index, bytes] : ranks[r]->computed()) {
      EXPECT_EQ(ranks[r]->ownerOf(index), r);
      all[index] = bytes;
      ++owned[r];
    }
  EXPECT_EQ(owned[0] + owned[1], n);
  EXPECT_GT(owned[0], 0u);
  EXPECT_GT(owned[1], 0u);
  ranks[0]->setResults(std::move(all));
  ranks[0]->setMode(Cells::Mode::Replay);
  RunOptions r0 = ro;
  r0.cells = ranks[0].get();
  auto replayed = runMQAR(o, r0);
  ASSERT_TRUE(static_cast<bool>(replayed))
      << llvm::toString(replayed.takeError());
  expectSameTables(*one, *replayed);
}

} // namespace
