//===- Tasks.h - the theory tasks: COPY, MQAR, DP with CoT, cost -*- C++ -*-===//
//
// Runs compiled ssm models on the tasks of TASKS.md. Every model is an ssm
// program compiled by ssmc::Jit (the CPU pipeline users use); weights are
// constructed from the theory (one-hot or random position keys, decay a,
// state size N) and passed as tensors. Generators, independent solvers and
// scoring live here too; results come back as tables and claims that
// `writeReport` turns into markdown, CSV, JSON and a report.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_APPS_TASKS_TASKS_H
#define SSMC_APPS_TASKS_TASKS_H

#include "ssmc/Jit.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace ssmc::tasks {

/// Deterministic for a seed: every generator draws from one of these, each
/// seeded from the run's seed and what it generates (Cells.h: cellSeed).
using Rng = std::mt19937_64;

class Cells;

/// Options every task takes.
struct RunOptions {
  uint64_t seed = 1;
  Target target = Target::CPU;
  unsigned threads = 0;
  /// JitOptions::cacheDir of the compiled models (empty: compiled every
  /// run); the cost task always compiles, since it measures the compile.
  std::string cacheDir;
  /// Receives one line per unit of progress ("copy: L=256 N=64 ... 3/20").
  std::function<void(const std::string &)> progress;
  /// Where the tasks' cells run (Cells.h); null: all here, folded at once.
  Cells *cells = nullptr;
};

/// A count of correct answers, printed "998/1000".
struct Score {
  int64_t correct = 0, total = 0;
  void add(bool ok) { correct += ok, ++total; }
  double rate() const { return total ? double(correct) / total : 0.0; }
  std::string str() const;
};

/// A result table: one header, rows of cells (already formatted).
struct Table {
  std::string id;    ///< file stem, e.g. "copy_onehot_grid"
  std::string title; ///< one line
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  /// Printed on stdout by ssmc-tasks (long per-point tables only go to
  /// files and plots).
  bool printed = true;
  std::string markdown() const;
  std::string csv() const;
};

/// A claim of TASKS.md and whether the measurement supports it.
struct Claim {
  std::string task;
  std::string statement;
  bool supported = false;
  std::string evidence; ///< the numbers that decide it
};

struct TaskResult {
  std::string task;
  std::vector<Table> tables;
  std::vector<Claim> claims;
};

//===----------------------------------------------------------------------===//
// Scoring
//===----------------------------------------------------------------------===//

/// Index of the strictly largest of `logits`, or -1 when the maximum is
/// shared (a tie is a failure: the model did not single out a token).
int strictArgmax(const float *logits, int64_t n);

//===----------------------------------------------------------------------===//
// COPY (TASKS.md section 1)
//===----------------------------------------------------------------------===//

struct CopyOptions {
  std::vector<int64_t> lengths{16, 64, 256, 1024, 4096};
  std::vector<int64_t> stateSizes{4, 16, 64, 256, 1024, 4096};
  int64_t alphabet = 26;
  /// Samples per grid cell (fewer for large cells: the work per cell is
  /// capped at `workBudget` multiply-adds).
  int64_t samples = 20;
  double workBudget = 4e9;
  /// Decay experiment: one-hot keys, N = L, f32 and bf16.
  std::vector<double> decays{0.99, 0.995};
  std::vector<int64_t> decayLengths{256, 1024, 4096};
  /// Softmax-attention baseline: key dimension of the random position keys.
  int64_t attentionKeyDim = 64;
};
llvm::Expected<TaskResult> runCopy(const CopyOptions &, const RunOptions &);

/// Accuracy the (L-1)/N law predicts for random-key COPY: the correct
/// token's logit is 1 + noise, every other token's is noise, each noise
/// Gaussian with variance (L-1)/(alphabet * N) (Monte Carlo, `draws`).
double predictedRandomKeyAccuracy(int64_t L, int64_t N, int64_t alphabet,
                                  uint64_t seed, int draws = 20000);

/// Distance beyond which a one-hot-key copy with decay `a` loses the
/// signal in a readout of type with `mantissaBits` explicit bits:
/// a^d <= 2^-(mantissaBits + 1), i.e. d = ln(1/eps) / ln(1/a).
double predictedDecayLimit(double a, int mantissaBits);

//===----------------------------------------------------------------------===//
// MQAR (section 2)
//===----------------------------------------------------------------------===//

struct MQAROptions {
  /// (sequence length, pairs) as in Zoology, and larger.
  std::vector<std::pair<int64_t, int64_t>> sizes{
      {64, 4}, {128, 8}, {256, 16}, {512, 64}, {1024, 128}, {4096, 1024}};
  std::vector<int64_t> stateSizes{4, 16, 64, 256, 1024};
  int64_t vocab = 8192; ///< keys from the first half, values the second
  int64_t samples = 50;
  /// The delta-rule store beside linear attention, keys N-dimensional for
  /// each N here: N orthogonal (one-hot) pairs, N/2 one-hot keys written
  /// twice (the latest value asked), and N/2, N, 2N, 4N pairs with random
  /// unit keys; values from a vocabulary of `deltaValues` tokens.
  std::vector<int64_t> deltaKeyDims{16, 64};
  int64_t deltaValues = 512;
};
llvm::Expected<TaskResult> runMQAR(const MQAROptions &, const RunOptions &);

//===----------------------------------------------------------------------===//
// DP with chain-of-thought (section 3)
//===----------------------------------------------------------------------===//

/// A chain-of-thought program: the prompt tokens, then steps that each read
/// earlier positions from the model's state and apply a transition to the
/// tokens read. The answer is the last step's token.
struct CoTProgram {
  std::vector<int> prompt;
  struct Step {
    std::vector<int64_t> reads;
    std::function<int(const std::vector<int> &)> apply;
  };
  std::vector<Step> steps;
  int64_t length() const { return prompt.size() + steps.size(); }
};

/// Programs and their independent answers (DPSolvers.h and a direct
/// expression evaluator).
CoTProgram lisProgram(const std::vector<int64_t> &a);
CoTProgram editDistanceProgram(const std::vector<int64_t> &x,
                               const std::vector<int64_t> &y);
CoTProgram localSumProgram(const std::vector<int64_t> &s, int64_t m,
                           int64_t p);
/// A random expression over Z_11 with `ops` binary operators (+, -, *),
/// its step-by-step reduction as chain-of-thought, and its value.
struct Arithmetic {
  CoTProgram program;
  int64_t value;
  std::string text; ///< the expression, e.g. "(3+4)*2-1"
};
Arithmetic arithmeticProgram(Rng &rng, int64_t ops);
/// Runs `program` without any model (every read returns the true token):
/// the transitions' own answer, for testing them against the solvers.
int runProgramExactly(const CoTProgram &program);

struct DPOptions {
  std::vector<int64_t> lisSizes{50, 80, 100, 200};
  std::vector<int64_t> editSizes{12, 16, 20, 40};
  std::vector<int64_t> arithmeticOps{4, 6, 8, 10};
  std::vector<int64_t> localSizes{1000, 10000, 100000};
  int64_t localWindow = 3; ///< m of the m-local DP (sum mod 11)
  int64_t samples = 10;
  /// The O(T)-state model is run on instances up to this many tokens
  /// (its per-token cost grows with T).
  int64_t maxFullStateTokens = 4000;
};
/// Also tabulates what the ssm.dp analysis (ssmc::reportProgram) says about
/// the examples/dp programs of the same problems, which the library carries.
llvm::Expected<TaskResult> runDP(const DPOptions &, const RunOptions &);

//===----------------------------------------------------------------------===//
// Cost of generation (section 4)
//===----------------------------------------------------------------------===//

struct CostOptions {
  std::vector<int64_t> lengths{100, 300, 1000, 3000, 10000, 30000, 100000};
  /// Models whose per-token cost grows with T stop here (their total time
  /// at 10^5 would be minutes).
  int64_t maxQuadraticLength = 30000;
  int64_t window = 64;   ///< w of sliding-window attention
  int64_t localState = 64; ///< N of the O(m) recurrent model
  int64_t valueDim = 16;
  int64_t headDim = 16;
};
llvm::Expected<TaskResult> runCost(const CostOptions &, const RunOptions &);

/// Least-squares slope of log(y) against log(x).
double logLogSlope(const std::vector<double> &x, const std::vector<double> &y);

//===----------------------------------------------------------------------===//
// Output
//===----------------------------------------------------------------------===//

/// Writes every table as DIR/<id>.md and DIR/<id>.csv, DIR/results.json,
/// and DIR/report.md (each claim, supported or not, with its evidence and
/// the tables). Creates DIR.
llvm::Error writeReport(const std::vector<TaskResult> &results,
                        const std::string &dir, const std::string &command);

} // namespace ssmc::tasks

#endif // SSMC_APPS_TASKS_TASKS_H
