//===- ssmc-tasks.cpp - run the theory tasks on compiled ssm models -------===//
//
//   ssmc-tasks copy|mqar|dp|cost|demo [options]
//
// Each task compiles its models with the CPU pipeline, runs them, prints
// markdown tables and writes DIR/*.md, *.csv, results.json, report.md and
// (with python3-matplotlib) PNG plots. Exit status: 0 success, 1 a task
// failed to run, 2 bad command line.
//
//===----------------------------------------------------------------------===//

#include "apps/tasks/Tasks.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <map>

using namespace ssmc::tasks;

namespace {

const char *kUsage = R"(usage: ssmc-tasks <task> [options]

Runs compiled ssm models on the theory tasks (TASKS.md) and writes tables
(markdown, CSV, JSON), PNG plots and a report of each claim to --out.

tasks:
  copy    COPY: one-hot and random keys over a grid of L and N, decay in
          f32 vs bf16, and the softmax-attention baseline
  mqar    multi-query associative recall at the Zoology sizes and larger
  dp      DP with chain-of-thought: LIS, edit distance, arithmetic mod 11,
          m-local sum, with state O(T) and O(m)
  cost    per-token and total generation cost for T = 10^2 .. 10^5, four
          decoders, with log-log slopes
  demo    a small version of every task (a few minutes on 2 cores)

common options:
  --seed N          random seed (default 1); results are deterministic for it
  --out DIR         output folder (default: tasks-out/<task>)
  --target cpu|cuda where models run (default cpu)
  --threads N       OpenMP threads of the compiled code (0: runtime default)
  --quick           the small sizes the demo uses
  --no-plots        do not run the plotting script
  --plot-script F   plotting script (default: scripts/plot_tasks.py of the
                    source tree)
  -h, --help        this text

task options (comma-separated lists):
  copy:  --lengths L,..  --states N,..  --samples S  --decays a,..
  mqar:  --states N,..  --samples S
  dp:    --lis n,..  --edit n,..  --arith ops,..  --local T,..  --samples S
         --window m  --max-full-state-tokens T
  cost:  --lengths T,..  --max-quadratic T  --window w  --local-state m
)";

int usageError(const std::string &msg) {
  llvm::errs() << "ssmc-tasks: error: " << msg << "\n"
               << "run 'ssmc-tasks --help' for usage\n";
  return 2;
}

bool parseList(llvm::StringRef s, std::vector<int64_t> &out) {
  out.clear();
  llvm::SmallVector<llvm::StringRef> parts;
  s.split(parts, ',', -1, false);
  for (llvm::StringRef p : parts) {
    int64_t v;
    if (p.trim().getAsInteger(10, v) || v <= 0)
      return false;
    out.push_back(v);
  }
  return !out.empty();
}

bool parseDoubles(llvm::StringRef s, std::vector<double> &out) {
  out.clear();
  llvm::SmallVector<llvm::StringRef> parts;
  s.split(parts, ',', -1, false);
  for (llvm::StringRef p : parts) {
    double v;
    if (p.trim().getAsDouble(v) || !(v > 0 && v < 1))
      return false;
    out.push_back(v);
  }
  return !out.empty();
}

void quickCopy(CopyOptions &c) {
  c.lengths = {16, 64, 256, 1024};
  c.stateSizes = {4, 16, 64, 256, 1024};
  c.samples = 10;
  c.decays = {0.99};
  c.decayLengths = {1024, 2048};
  c.workBudget = 5e8;
}
void quickMQAR(MQAROptions &m) {
  m.sizes = {{64, 4}, {128, 8}, {256, 16}, {512, 64}};
  m.stateSizes = {4, 16, 64, 256};
  m.samples = 10;
}
void quickDP(DPOptions &d) {
  d.lisSizes = {20, 50};
  d.editSizes = {8, 12};
  d.arithmeticOps = {4, 6};
  d.localSizes = {1000, 100000};
  d.samples = 5;
  d.maxFullStateTokens = 2500;
}
void quickCost(CostOptions &c) {
  c.lengths = {100, 300, 1000, 3000, 10000, 100000};
  c.maxQuadraticLength = 10000;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    return usageError("missing task (copy, mqar, dp, cost or demo)");
  std::string task = argv[1];
  if (task == "-h" || task == "--help") {
    llvm::outs() << kUsage;
    return 0;
  }
  if (task != "copy" && task != "mqar" && task != "dp" && task != "cost" &&
      task != "demo")
    return usageError("unknown task '" + task +
                      "' (expected copy, mqar, dp, cost or demo)");

  RunOptions run;
  CopyOptions copy;
  MQAROptions mqar;
  DPOptions dp;
  CostOptions cost;
  std::string out = "tasks-out/" + task;
  std::string plotScript = std::string(SSMC_SOURCE_DIR) + "/scripts/plot_tasks.py";
  bool quick = task == "demo", plots = true;
  std::string command = "ssmc-tasks";
  for (int i = 1; i < argc; ++i)
    command += std::string(" ") + argv[i];

  // Options that take a value.
  std::map<std::string, std::string> values;
  static const char *withValue[] = {
      "--seed", "--out", "--target", "--threads", "--lengths", "--states",
      "--samples", "--decays", "--lis", "--edit", "--arith", "--local",
      "--window", "--max-full-state-tokens", "--max-quadratic",
      "--local-state", "--plot-script"};
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << kUsage;
      return 0;
    }
    if (a == "--quick") {
      quick = true;
      continue;
    }
    if (a == "--no-plots") {
      plots = false;
      continue;
    }
    std::string key = a, value;
    size_t eq = a.find('=');
    if (eq != std::string::npos)
      key = a.substr(0, eq), value = a.substr(eq + 1);
    if (std::find(std::begin(withValue), std::end(withValue), key) ==
        std::end(withValue))
      return usageError("unknown option '" + a + "'");
    if (eq == std::string::npos) {
      if (i + 1 >= argc)
        return usageError("option '" + key + "' needs a value");
      value = argv[++i];
    }
    values[key] = value;
  }
  if (quick) {
    quickCopy(copy);
    quickMQAR(mqar);
    quickDP(dp);
    quickCost(cost);
  }
  auto number = [&](const std::string &key, int64_t &dst, int64_t min) -> bool {
    auto it = values.find(key);
    if (it == values.end())
      return true;
    int64_t v;
    if (llvm::StringRef(it->second).getAsInteger(10, v) || v < min)
      return false;
    dst = v;
    return true;
  };
  for (auto &[key, value] : values) {
    bool ok = true;
    if (key == "--seed") {
      ok = !llvm::StringRef(value).getAsInteger(10, run.seed);
    } else if (key == "--out") {
      out = value;
    } else if (key == "--plot-script") {
      plotScript = value;
    } else if (key == "--target") {
      if (value == "cuda") {
        llvm::errs() << "ssmc-tasks: error: --target cuda: the task models "
                        "(linear attention, attention, their decode steps) "
                        "have no GPU kernels yet, so they would run on the "
                        "host; use --target cpu\n";
        return 1;
      }
      ok = value == "cpu";
    } else if (key == "--threads") {
      int64_t t = 0;
      ok = number(key, t, 0);
      run.threads = static_cast<unsigned>(t);
    } else if (key == "--lengths") {
      ok = parseList(value, task == "cost" ? cost.lengths : copy.lengths);
    } else if (key == "--states") {
      ok = parseList(value, task == "mqar" ? mqar.stateSizes : copy.stateSizes);
    } else if (key == "--samples") {
      int64_t s = 0;
      ok = number(key, s, 1);
      copy.samples = mqar.samples = dp.samples = s;
    } else if (key == "--decays") {
      ok = parseDoubles(value, copy.decays);
    } else if (key == "--lis") {
      ok = parseList(value, dp.lisSizes);
    } else if (key == "--edit") {
      ok = parseList(value, dp.editSizes);
    } else if (key == "--arith") {
      ok = parseList(value, dp.arithmeticOps);
    } else if (key == "--local") {
      ok = parseList(value, dp.localSizes);
    } else if (key == "--window") {
      int64_t w = 0;
      ok = number(key, w, 1);
      (task == "cost" ? cost.window : dp.localWindow) = w;
    } else if (key == "--max-full-state-tokens") {
      ok = number(key, dp.maxFullStateTokens, 1);
    } else if (key == "--max-quadratic") {
      ok = number(key, cost.maxQuadraticLength, 1);
    } else if (key == "--local-state") {
      ok = number(key, cost.localState, 1);
    }
    if (!ok)
      return usageError("bad value '" + value + "' for " + key);
  }

  auto start = std::chrono::steady_clock::now();
  run.progress = [&](const std::string &line) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                   .count();
    llvm::errs() << llvm::formatv("[{0,3}:{1:D2}] ", int(s) / 60, int(s) % 60)
                 << line << "\n";
  };

  std::vector<TaskResult> results;
  auto runOne = [&](llvm::Expected<TaskResult> r) -> bool {
    if (!r) {
      llvm::errs() << "ssmc-tasks: error: " << llvm::toString(r.takeError())
                   << "\n";
      return false;
    }
    for (const Table &t : r->tables)
      if (t.printed)
        llvm::outs() << "\n## " << t.title << "\n\n" << t.markdown();
    llvm::outs().flush();
    results.push_back(std::move(*r));
    return true;
  };
  bool all = task == "demo";
  if ((all || task == "copy") && !runOne(runCopy(copy, run)))
    return 1;
  if ((all || task == "mqar") && !runOne(runMQAR(mqar, run)))
    return 1;
  if ((all || task == "dp") && !runOne(runDP(dp, run)))
    return 1;
  if ((all || task == "cost") && !runOne(runCost(cost, run)))
    return 1;

  if (llvm::Error e = writeReport(results, out, command)) {
    llvm::errs() << "ssmc-tasks: error: " << llvm::toString(std::move(e)) << "\n";
    return 1;
  }
  if (plots) {
    // Debian's python3 (which python3-matplotlib serves) first, then the
    // python3 on PATH.
    std::vector<std::string> pythons;
    if (llvm::sys::fs::can_execute("/usr/bin/python3"))
      pythons.push_back("/usr/bin/python3");
    if (auto p = llvm::sys::findProgramByName("python3"); p && *p != "/usr/bin/python3")
      pythons.push_back(*p);
    bool plotted = false;
    std::string why = "no python3 found";
    if (!llvm::sys::fs::exists(plotScript))
      why = plotScript + " not found", pythons.clear();
    for (const std::string &py : pythons) {
      std::string err;
      int rc = llvm::sys::ExecuteAndWait(py, {py, plotScript, out}, std::nullopt,
                                         {}, 0, 0, &err);
      if (rc == 0) {
        plotted = true;
        break;
      }
      why = py + " exited with " + std::to_string(rc) +
            " (is python3-matplotlib installed?)";
    }
    if (!plotted)
      llvm::errs() << "ssmc-tasks: plots skipped: " << why << "\n";
    else if (llvm::Error e = writeReport(results, out, command)) // embed PNGs
      llvm::consumeError(std::move(e));
  }
  llvm::outs() << "\n## Claims\n\n";
  int supported = 0, claims = 0;
  for (const TaskResult &r : results)
    for (const Claim &c : r.claims) {
      ++claims;
      supported += c.supported;
      llvm::outs() << (c.supported ? "[supported] " : "[NOT supported] ")
                   << c.task << ": " << c.statement << " -- " << c.evidence
                   << "\n";
    }
  llvm::outs() << llvm::formatv("\n{0}/{1} claims supported; report: {2}/report.md\n",
                                supported, claims, out);
  return 0;
}
