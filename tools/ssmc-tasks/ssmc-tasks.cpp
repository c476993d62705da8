//===- ssmc-tasks.cpp - run the theory tasks on compiled ssm models -------===//
//
//   ssmc-tasks copy|mqar|dp|cost|demo [options]
//   mpirun -np R ssmc-tasks copy|mqar|dp|cost|demo [options]
//
// Each task compiles its models with the CPU pipeline, runs them, prints
// markdown tables and writes DIR/*.md, *.csv, results.json, report.md and
// (with python3-matplotlib) PNG plots. Exit status: 0 success, 1 a task
// failed to run, 2 bad command line. The plotting script is built into the
// binary, so an installed ssmc-tasks needs no source tree. Under mpirun the
// tasks' cells (apps/tasks/Cells.h) are spread over the ranks and rank 0
// writes what one process would.
//
//===----------------------------------------------------------------------===//

#include "apps/tasks/Cells.h"
#include "apps/tasks/Tasks.h"
#include "ssmc/Distributed.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstring>
#include <cstdio>
#include <map>
#include <optional>

using namespace ssmc::tasks;
namespace cl = llvm::cl;

namespace {

// scripts/plot_tasks.py as kPlotScript (PlotScript.inc is generated from
// the repository's file by apps/EmbedText.cmake).
#include "tools/ssmc-tasks/PlotScript.inc"

const char *kOverview =
    R"(Runs compiled ssm models on the theory tasks (TASKS.md) and
writes tables (markdown, CSV, JSON), PNG plots and a report of each claim to
--out. Exit status: 0 the tasks ran, 1 a task could not run, 2 bad command
line. List values are comma-separated. Compiled models are kept in a disk
cache ($SSMC_CACHE_DIR, else $XDG_CACHE_HOME/ssmc or ~/.cache/ssmc;
SSMC_NO_DISK_CACHE=1 turns it off; README.md, The program cache), except
the cost task's, whose table reports the compile time.

Under `mpirun -np R` the cells of the tasks (a grid point, a model at one
size) are spread over the R ranks, largest estimated cost first to the least
loaded rank; rank 0 gathers their results and alone prints and writes the
same tables as one process (cells draw their random numbers from seeds of
their own, so only measured times differ). Every rank must be given the same
command line. An error on any rank stops all of them
("ssmc: rank r of R: error: ..."); SSMC_MPI_TIMEOUT (seconds, default 300)
bounds every wait for the other ranks. Outputs are written to a temporary
folder beside --out and moved into place when complete.
)";

//===----------------------------------------------------------------------===//
// Command line: one subcommand per task, each with the options it reads
//===----------------------------------------------------------------------===//

cl::SubCommand copyTask("copy", "COPY: one-hot and random keys over a grid of "
                                "L and N, decay in f32 vs bf16, and the "
                                "softmax-attention baseline");
cl::SubCommand mqarTask("mqar", "Multi-query associative recall at the "
                                "Zoology sizes and larger");
cl::SubCommand dpTask("dp", "DP with chain-of-thought: LIS, edit distance, "
                            "arithmetic mod 11, m-local sum, with state O(T) "
                            "and O(m)");
cl::SubCommand costTask("cost", "Per-token and total generation cost for T = "
                                "10^2 .. 10^5, four decoders, with log-log "
                                "slopes");
cl::SubCommand demoTask("demo", "A small version of every task (a few "
                                "minutes on 2 cores)");
cl::SubCommandGroup everyTask{&copyTask, &mqarTask, &dpTask, &costTask,
                              &demoTask};

cl::OptionCategory commonOptions("Common options");
cl::OptionCategory taskOptions("Task options");

// Values are read as text and checked by applyValues, which names the
// option and the value it rejects.
cl::opt<std::string>
    seedOpt("seed",
            cl::desc("Random seed (default 1); results are deterministic for it"),
            cl::value_desc("N"), cl::sub(everyTask), cl::cat(commonOptions));
cl::opt<std::string> outOpt("out",
                            cl::desc("Output folder (default: tasks-out/<task>)"),
                            cl::value_desc("DIR"), cl::sub(everyTask),
                            cl::cat(commonOptions));
cl::opt<std::string>
    targetOpt("target",
              cl::desc("Where models run (default cpu; the task models have "
                       "no GPU kernels yet, so cuda is refused)"),
              cl::value_desc("cpu|cuda"), cl::sub(everyTask),
              cl::cat(commonOptions));
cl::opt<std::string>
    threadsOpt("threads",
               cl::desc("OpenMP threads of the compiled code (default 0: the "
                        "runtime's choice)"),
               cl::value_desc("N"), cl::sub(everyTask), cl::cat(commonOptions));
cl::opt<bool> quickOpt("quick", cl::desc("The small sizes the demo uses"),
                       cl::sub(everyTask), cl::cat(commonOptions));
cl::opt<bool> noPlotsOpt("no-plots", cl::desc("Do not run the plotting script"),
                         cl::sub(everyTask), cl::cat(commonOptions));
cl::opt<std::string>
    plotScriptOpt("plot-script",
                  cl::desc("Plotting script (default: scripts/plot_tasks.py, "
                           "built into ssmc-tasks)"),
                  cl::value_desc("F"), cl::sub(everyTask),
                  cl::cat(commonOptions));

// copy (and the demo's COPY)
cl::opt<std::string> copyLengthsOpt("lengths",
                                    cl::desc("COPY sequence lengths L"),
                                    cl::value_desc("L,.."), cl::sub(copyTask),
                                    cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string> copyStatesOpt("states", cl::desc("COPY state sizes N"),
                                   cl::value_desc("N,.."), cl::sub(copyTask),
                                   cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string> decaysOpt("decays",
                               cl::desc("Decays a, each in (0, 1), of the COPY "
                                        "decay experiment"),
                               cl::value_desc("a,.."), cl::sub(copyTask),
                               cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string>
    decayLengthsOpt("decay-lengths",
                    cl::desc("Lengths L (= N) of the COPY decay experiment "
                             "(default 256,1024,4096; 1024,2048 in demo and "
                             "with --quick)"),
                    cl::value_desc("L,.."), cl::sub(copyTask),
                    cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string>
    samplesOpt("samples",
               cl::desc("Samples per COPY grid cell, MQAR size and DP problem "
                        "size"),
               cl::value_desc("S"), cl::sub(copyTask), cl::sub(mqarTask),
               cl::sub(dpTask), cl::sub(demoTask), cl::cat(taskOptions));
// mqar
cl::opt<std::string> mqarStatesOpt("states", cl::desc("MQAR state sizes N"),
                                   cl::value_desc("N,.."), cl::sub(mqarTask),
                                   cl::cat(taskOptions));
// dp
cl::opt<std::string> lisOpt("lis", cl::desc("LIS sizes n"),
                            cl::value_desc("n,.."), cl::sub(dpTask),
                            cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string> editOpt("edit", cl::desc("Edit-distance sizes n"),
                             cl::value_desc("n,.."), cl::sub(dpTask),
                             cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string> arithOpt("arith",
                              cl::desc("Operators per arithmetic expression"),
                              cl::value_desc("ops,.."), cl::sub(dpTask),
                              cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string> localOpt("local", cl::desc("Lengths T of the m-local sum"),
                              cl::value_desc("T,.."), cl::sub(dpTask),
                              cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string> dpWindowOpt("window",
                                 cl::desc("m of the m-local sum (default 3)"),
                                 cl::value_desc("m"), cl::sub(dpTask),
                                 cl::sub(demoTask), cl::cat(taskOptions));
cl::opt<std::string>
    maxFullStateOpt("max-full-state-tokens",
                    cl::desc("Longest instance the O(T)-state model runs "
                             "(default 4000; 2500 in demo and with --quick)"),
                    cl::value_desc("T"), cl::sub(dpTask), cl::sub(demoTask),
                    cl::cat(taskOptions));
// cost
cl::opt<std::string> costLengthsOpt("lengths",
                                    cl::desc("Generated lengths T"),
                                    cl::value_desc("T,.."), cl::sub(costTask),
                                    cl::cat(taskOptions));
cl::opt<std::string>
    maxQuadraticOpt("max-quadratic",
                    cl::desc("Longest T of the decoders whose per-token cost "
                             "grows with T (default 30000; 10000 in demo and with --quick)"),
                    cl::value_desc("T"), cl::sub(costTask), cl::sub(demoTask),
                    cl::cat(taskOptions));
cl::opt<std::string> costWindowOpt("window",
                                   cl::desc("w of sliding-window attention "
                                            "(default 64)"),
                                   cl::value_desc("w"), cl::sub(costTask),
                                   cl::cat(taskOptions));
cl::opt<std::string>
    localStateOpt("local-state",
                  cl::desc("N of the O(m) recurrent decoder (default 64)"),
                  cl::value_desc("N"), cl::sub(costTask), cl::sub(demoTask),
                  cl::cat(taskOptions));

/// What a run does, as the command line sets it.
struct Settings {
  std::string task;
  RunOptions run;
  CopyOptions copy;
  MQAROptions mqar;
  DPOptions dp;
  CostOptions cost;
  std::string out;
  std::string plotScript; ///< empty: the built-in one
  bool plots = true;
  std::string command; ///< the command line, for the report
};

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

bool parseNumber(llvm::StringRef s, int64_t min, int64_t &out) {
  int64_t v;
  if (s.getAsInteger(10, v) || v < min)
    return false;
  out = v;
  return true;
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

/// An option with a value and how it sets the run; false rejects the value.
struct ValueOption {
  cl::opt<std::string> &option;
  bool (*apply)(Settings &, llvm::StringRef);
};

/// In alphabetical order of the names, the order values are checked in.
const ValueOption kValueOptions[] = {
    {arithOpt,
     [](Settings &s, llvm::StringRef v) {
       return parseList(v, s.dp.arithmeticOps);
     }},
    {decayLengthsOpt,
     [](Settings &s, llvm::StringRef v) {
       return parseList(v, s.copy.decayLengths);
     }},
    {decaysOpt,
     [](Settings &s, llvm::StringRef v) { return parseDoubles(v, s.copy.decays); }},
    {editOpt,
     [](Settings &s, llvm::StringRef v) { return parseList(v, s.dp.editSizes); }},
    {copyLengthsOpt,
     [](Settings &s, llvm::StringRef v) { return parseList(v, s.copy.lengths); }},
    {costLengthsOpt,
     [](Settings &s, llvm::StringRef v) { return parseList(v, s.cost.lengths); }},
    {lisOpt,
     [](Settings &s, llvm::StringRef v) { return parseList(v, s.dp.lisSizes); }},
    {localOpt,
     [](Settings &s, llvm::StringRef v) { return parseList(v, s.dp.localSizes); }},
    {localStateOpt,
     [](Settings &s, llvm::StringRef v) {
       return parseNumber(v, 1, s.cost.localState);
     }},
    {maxFullStateOpt,
     [](Settings &s, llvm::StringRef v) {
       return parseNumber(v, 1, s.dp.maxFullStateTokens);
     }},
    {maxQuadraticOpt,
     [](Settings &s, llvm::StringRef v) {
       return parseNumber(v, 1, s.cost.maxQuadraticLength);
     }},
    {outOpt,
     [](Settings &s, llvm::StringRef v) {
       s.out = v.str();
       return true;
     }},
    {plotScriptOpt,
     [](Settings &s, llvm::StringRef v) {
       s.plotScript = v.str();
       return true;
     }},
    {samplesOpt,
     [](Settings &s, llvm::StringRef v) {
       int64_t n = 0;
       bool ok = parseNumber(v, 1, n);
       s.copy.samples = s.mqar.samples = s.dp.samples = n;
       return ok;
     }},
    {seedOpt,
     [](Settings &s, llvm::StringRef v) { return !v.getAsInteger(10, s.run.seed); }},
    {copyStatesOpt,
     [](Settings &s, llvm::StringRef v) { return parseList(v, s.copy.stateSizes); }},
    {mqarStatesOpt,
     [](Settings &s, llvm::StringRef v) { return parseList(v, s.mqar.stateSizes); }},
    {targetOpt, [](Settings &, llvm::StringRef v) { return v == "cpu"; }},
    {threadsOpt,
     [](Settings &s, llvm::StringRef v) {
       int64_t t = 0;
       bool ok = parseNumber(v, 0, t);
       s.run.threads = static_cast<unsigned>(t);
       return ok;
     }},
    {dpWindowOpt,
     [](Settings &s, llvm::StringRef v) {
       return parseNumber(v, 1, s.dp.localWindow);
     }},
    {costWindowOpt,
     [](Settings &s, llvm::StringRef v) { return parseNumber(v, 1, s.cost.window); }},
};

/// Parses the command line into `s`; returns the exit status when the
/// program must stop (help printed, or the command line is wrong).
std::optional<int> parseCommandLine(int argc, char **argv, Settings &s) {
  const char *tasks[] = {"copy", "mqar", "dp", "cost", "demo"};
  if (argc < 2)
    return usageError("missing task (copy, mqar, dp, cost or demo)");
  llvm::StringRef first = argv[1];
  if (!first.starts_with("-") && !llvm::is_contained(tasks, first))
    return usageError("unknown task '" + first.str() +
                      "' (expected copy, mqar, dp, cost or demo)");
  s.command = "ssmc-tasks";
  std::vector<const char *> args;
  // Messages name the program as it is documented, not by its path.
  args.push_back("ssmc-tasks");
  for (int i = 1; i < argc; ++i) {
    s.command += std::string(" ") + argv[i];
    // -h is --help, as it always was.
    args.push_back(llvm::StringRef(argv[i]) == "-h" ? "--help" : argv[i]);
  }
  // LLVM's own options stay out of the top-level help.
  cl::HideUnrelatedOptions({&commonOptions, &taskOptions});
  std::string errors;
  llvm::raw_string_ostream errorStream(errors);
  if (!cl::ParseCommandLineOptions(args.size(), args.data(), kOverview,
                                   &errorStream)) {
    llvm::errs() << errors;
    return 2;
  }
  for (cl::SubCommand *task : everyTask.getSubCommands())
    if (*task)
      s.task = task->getName().str();
  if (s.task.empty())
    return usageError("missing task (copy, mqar, dp, cost or demo)");
  return std::nullopt;
}

/// The quick sizes first, then every value the command line gives.
std::optional<int> applyValues(Settings &s) {
  s.out = "tasks-out/" + s.task;
  s.plots = !noPlotsOpt;
  if (s.task == "demo" || quickOpt) {
    quickCopy(s.copy);
    quickMQAR(s.mqar);
    quickDP(s.dp);
    quickCost(s.cost);
  }
  for (const ValueOption &o : kValueOptions) {
    if (!o.option.getNumOccurrences())
      continue;
    if (&o.option == &targetOpt && o.option.getValue() == "cuda") {
      llvm::errs() << "ssmc-tasks: error: --target cuda: the task models "
                      "(linear attention, attention, their decode steps) "
                      "have no GPU kernels yet, so they would run on the "
                      "host; use --target cpu\n";
      return 1;
    }
    if (!o.apply(s, o.option.getValue()))
      return usageError("bad value '" + o.option.getValue() + "' for --" +
                        o.option.ArgStr.str());
  }
  return std::nullopt;
}

//===----------------------------------------------------------------------===//
// Running
//===----------------------------------------------------------------------===//

/// "[  m:ss] line" on stderr, the time counted from the first call.
void progressLine(const std::string &line) {
  static const auto start = std::chrono::steady_clock::now();
  double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
                   .count();
  llvm::errs() << llvm::formatv("[{0,3}:{1:D2}] ", int(sec) / 60, int(sec) % 60)
               << line << "\n";
}

/// Runs the task (every task for demo), printing each table as it comes
/// when `print`; false when one could not run (`failure` says why).
bool runTasks(Settings &s, std::vector<TaskResult> &results, bool print,
              std::string &failure) {
  auto runOne = [&](llvm::Expected<TaskResult> r) -> bool {
    if (!r) {
      failure = llvm::toString(r.takeError());
      return false;
    }
    if (print) {
      for (const Table &t : r->tables)
        if (t.printed)
          llvm::outs() << "\n## " << t.title << "\n\n" << t.markdown();
      llvm::outs().flush();
    }
    results.push_back(std::move(*r));
    return true;
  };
  bool all = s.task == "demo";
  return (!(all || s.task == "copy") || runOne(runCopy(s.copy, s.run))) &&
         (!(all || s.task == "mqar") || runOne(runMQAR(s.mqar, s.run))) &&
         (!(all || s.task == "dp") || runOne(runDP(s.dp, s.run))) &&
         (!(all || s.task == "cost") || runOne(runCost(s.cost, s.run)));
}

/// Debian's python3 (which python3-matplotlib serves) first, then the
/// python3 on PATH.
std::vector<std::string> pythons() {
  std::vector<std::string> found;
  if (llvm::sys::fs::can_execute("/usr/bin/python3"))
    found.push_back("/usr/bin/python3");
  if (auto p = llvm::sys::findProgramByName("python3"); p && *p != "/usr/bin/python3")
    found.push_back(*p);
  return found;
}

/// Asked quietly, so that a missing matplotlib costs one line, not a
/// traceback.
bool hasMatplotlib(const std::string &python) {
  std::optional<llvm::StringRef> quiet[] = {llvm::StringRef(), llvm::StringRef(),
                                            llvm::StringRef()};
  return llvm::sys::ExecuteAndWait(python, {python, "-c", "import matplotlib"},
                                   std::nullopt, quiet) == 0;
}

/// The built-in plotting script in a temporary file, removed when done.
struct TemporaryScript {
  llvm::SmallString<128> path;
  std::error_code error;
  TemporaryScript() {
    int fd;
    error = llvm::sys::fs::createTemporaryFile("ssmc-tasks-plot", "py", fd, path);
    if (error)
      return;
    llvm::raw_fd_ostream os(fd, /*shouldClose=*/true);
    os << kPlotScript;
    os.close();
    error = os.error();
  }
  ~TemporaryScript() {
    if (!path.empty())
      llvm::sys::fs::remove(path);
  }
};

/// Writes DIR/<table>.png with the first python3 that has matplotlib;
/// returns why it did not (empty when it did).
std::string plot(const Settings &s, const std::string &dir) {
  std::optional<TemporaryScript> builtIn;
  std::string script = s.plotScript;
  if (script.empty()) {
    builtIn.emplace();
    if (builtIn->error)
      return "cannot write the plotting script: " + builtIn->error.message();
    script = builtIn->path.str().str();
  } else if (!llvm::sys::fs::exists(script)) {
    return script + " not found";
  }
  std::string failed;
  std::vector<std::string> withoutMatplotlib;
  for (const std::string &py : pythons()) {
    if (!hasMatplotlib(py)) {
      withoutMatplotlib.push_back(py);
      continue;
    }
    int rc = llvm::sys::ExecuteAndWait(py, {py, script, dir});
    if (rc == 0)
      return "";
    failed = py + " exited with " + std::to_string(rc);
  }
  if (!failed.empty())
    return failed;
  if (!withoutMatplotlib.empty())
    return "no python3 with matplotlib (tried " +
           llvm::join(withoutMatplotlib, ", ") +
           "; Debian: python3-matplotlib)";
  return "no python3 found";
}

void printClaims(const std::vector<TaskResult> &results, const std::string &out) {
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
}

/// Writes the tables, report and plots into a fresh folder beside s.out,
/// then moves each file into s.out: a run that fails leaves no partial
/// file there.
llvm::Error writeOutputs(const Settings &s,
                         const std::vector<TaskResult> &results) {
  llvm::SmallString<128> tmp;
  llvm::StringRef out = s.out;
  if (llvm::StringRef parent = llvm::sys::path::parent_path(out); !parent.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(parent))
      return llvm::createStringError(ec, "cannot create " + parent.str() +
                                             ": " + ec.message());
  if (std::error_code ec = llvm::sys::fs::createUniqueDirectory(
          out.rtrim('/') + ".partial", tmp))
    return llvm::createStringError(ec, "cannot create a folder beside " +
                                           s.out + ": " + ec.message());
  struct RemoveAtExit {
    llvm::SmallString<128> &dir;
    ~RemoveAtExit() { llvm::sys::fs::remove_directories(dir); }
  } removeTmp{tmp};
  std::string dir = tmp.str().str();
  if (llvm::Error e = writeReport(results, dir, s.command))
    return e;
  if (s.plots) {
    std::string why = plot(s, dir);
    if (!why.empty())
      llvm::errs() << "ssmc-tasks: plots skipped: " << why << "\n";
    else if (llvm::Error e = writeReport(results, dir, s.command)) // embed PNGs
      return e;
  }
  if (std::error_code ec = llvm::sys::fs::create_directories(s.out))
    return llvm::createStringError(ec, "cannot create " + s.out + ": " +
                                           ec.message());
  std::error_code ec;
  for (llvm::sys::fs::directory_iterator it(dir, ec), end; it != end && !ec;
       it.increment(ec)) {
    std::string to = s.out + "/" + llvm::sys::path::filename(it->path()).str();
    if (std::error_code rc = llvm::sys::fs::rename(it->path(), to))
      return llvm::createStringError(rc, "cannot move " + it->path() +
                                             " to " + to + ": " + rc.message());
  }
  if (ec)
    return llvm::createStringError(ec, "cannot list " + dir + ": " +
                                           ec.message());
  return llvm::Error::success();
}

/// The one-process run: every cell here, folded as it completes.
int runHere(Settings &s) {
  s.run.progress = progressLine;
  std::vector<TaskResult> results;
  std::string failure;
  if (!runTasks(s, results, /*print=*/true, failure)) {
    llvm::errs() << "ssmc-tasks: error: " << failure << "\n";
    return 1;
  }
  if (llvm::Error e = writeOutputs(s, results)) {
    llvm::errs() << "ssmc-tasks: error: " << llvm::toString(std::move(e)) << "\n";
    return 1;
  }
  printClaims(results, s.out);
  return 0;
}

/// FNV-1a over `text`.
uint64_t hashOf(llvm::StringRef text, uint64_t h = 0xcbf29ce484222325ULL) {
  for (unsigned char c : text)
    h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

/// The cells' results of this rank as bytes: per cell its plan index, its
/// length and its bytes.
std::vector<char> packResults(const Cells &cells) {
  CellWriter w;
  for (const auto &[index, bytes] : cells.computed()) {
    w.put<int64_t>(index);
    w.put<int64_t>(bytes.size());
    w.bytes.insert(w.bytes.end(), bytes.begin(), bytes.end());
  }
  return std::move(w.bytes);
}

/// The run over R ranks: every rank plans the same cells, computes its
/// share, rank 0 gathers the results, replays the tasks over them and
/// writes what one process would.
int runOverRanks(Settings &s) {
  using namespace ssmc;
  const int rank = dist::rank(), ranks = dist::size();
  auto fail = [](const std::string &msg) { dist::abortAll(msg); };
  Cells cells(Cells::Mode::Plan);
  s.run.cells = &cells;
  s.run.progress = nullptr;
  std::vector<TaskResult> results;
  std::string failure;
  if (!runTasks(s, results, /*print=*/false, failure))
    fail(failure);

  // Every rank must have planned the same cells from the same command line.
  uint64_t h = hashOf(s.command);
  for (const Cells::Planned &p : cells.plan())
    h = hashOf(p.key, h ^ 0xff);
  std::vector<char> rank0Hash(reinterpret_cast<char *>(&h),
                              reinterpret_cast<char *>(&h) + sizeof h);
  if (llvm::Error e = dist::broadcast(rank0Hash))
    fail(llvm::toString(std::move(e)));
  if (std::memcmp(rank0Hash.data(), &h, sizeof h) != 0)
    fail("this rank's command line or cells differ from rank 0's (every "
         "rank must run the same ssmc-tasks command); this rank ran '" +
         s.command + "'");

  const size_t total = cells.plan().size();
  cells.assign(rank, ranks);
  size_t mine = 0;
  for (size_t i = 0; i < total; ++i)
    mine += cells.owns(i);
  size_t done = 0;
  auto report = [&](int from, int64_t index) {
    ++done;
    progressLine(llvm::formatv("{0}/{1} cells: {2} (rank {3})", done, total,
                               cells.plan()[index].key, from));
  };
  if (rank == 0)
    cells.onComputed = [&](size_t index) {
      report(0, index);
      dist::takeNotes(0, report);
    };
  else
    cells.onComputed = [](size_t index) { dist::postNote(index); };
  if (rank == 0)
    progressLine(llvm::formatv("{0} cells over {1} ranks ({2} on rank 0)",
                               total, ranks, mine));
  cells.setMode(Cells::Mode::Share);
  results.clear();
  if (!runTasks(s, results, /*print=*/false, failure))
    fail(failure);
  if (rank == 0)
    dist::takeNotes(total - mine, report);
  else
    dist::flushNotes();

  auto gathered = dist::gatherBytes(packResults(cells));
  if (!gathered)
    fail(llvm::toString(gathered.takeError()));
  if (rank != 0)
    return 0;
  std::vector<std::vector<char>> byIndex(total);
  std::vector<bool> have(total, false);
  for (size_t r = 0; r < gathered->size(); ++r) {
    CellReader rd{(*gathered)[r]};
    while (rd.ok && rd.at < rd.bytes.size()) {
      int64_t index = -1, len = -1;
      rd.get(index);
      rd.get(len);
      if (!rd.ok || index < 0 || size_t(index) >= total || len < 0 ||
          size_t(len) > rd.bytes.size() - rd.at || have[index]) {
        rd.ok = false;
        break;
      }
      byIndex[index].assign(rd.bytes.begin() + rd.at,
                            rd.bytes.begin() + rd.at + len);
      have[index] = true;
      rd.at += len;
    }
    if (!rd.ok)
      fail("the results of rank " + std::to_string(r) + " arrived damaged");
  }
  for (size_t i = 0; i < total; ++i)
    if (!have[i])
      fail("no rank returned the result of cell '" + cells.plan()[i].key +
           "'");
  cells.setResults(std::move(byIndex));
  cells.setMode(Cells::Mode::Replay);
  results.clear();
  if (!runTasks(s, results, /*print=*/true, failure))
    fail(failure);
  if (llvm::Error e = writeOutputs(s, results))
    fail(llvm::toString(std::move(e)));
  printClaims(results, s.out);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Settings s;
  s.run.cacheDir = ssmc::Jit::defaultCacheDir();
  if (std::optional<int> status = parseCommandLine(argc, argv, s))
    return *status;
  if (std::optional<int> status = applyValues(s))
    return *status;
  if (llvm::Error e = ssmc::dist::init(&argc, &argv)) {
    llvm::errs() << "ssmc-tasks: error: " << llvm::toString(std::move(e)) << "\n";
    return 1;
  }
  struct Finalize {
    ~Finalize() { ssmc::dist::finalize(); }
  } finalizeAtExit;
  if (ssmc::dist::size() == 1)
    return runHere(s);
  return runOverRanks(s);
}
