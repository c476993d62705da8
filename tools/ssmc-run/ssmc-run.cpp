//===- ssmc-run.cpp - JIT runner for ssm programs -------------------------===//
//
// Compiles an ssm program for the host CPU and runs one entry function on
// tensors read from .npy / .safetensors files, printing the results or
// writing them to files; --emit stops at an intermediate stage and prints
// its IR instead (the Toy tutorial's emit ladder).
//
//===----------------------------------------------------------------------===//

#include "ssmc/Distributed.h"
#include "ssmc/Jit.h"
#include "ssmc/Pipelines.h"
#include "ssmc/TensorIO.h"
#include "llvm/Support/MemoryBuffer.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <chrono>
#include <map>

using namespace llvm;

namespace {

cl::OptionCategory category("ssmc-run options");

cl::opt<std::string> inputFile(cl::Positional, cl::desc("<program.mlir>"),
                               cl::Required, cl::cat(category));
cl::opt<std::string> entry("entry", cl::desc("Function to run (default: main)"),
                           cl::init("main"), cl::cat(category));
cl::list<std::string> inputs(
    "input",
    cl::desc("An argument, in order or by name: [NAME=]FILE.npy, "
             "[NAME=]FILE.safetensors[:TENSOR], or [NAME=]NUMBER for a "
             "scalar argument. NAME is the argument's ssm.name attribute or "
             "argN"),
    cl::value_desc("spec"), cl::cat(category));
cl::list<std::string> outputs(
    "output",
    cl::desc("Write result #i to the i-th FILE (.npy or .safetensors); "
             "without any, results are printed"),
    cl::value_desc("file"), cl::cat(category));
cl::opt<unsigned> bench("bench",
                        cl::desc("Run R more times after one warm-up and "
                                 "print the compile time (or the program "
                                 "cache's load time), then the runs' median "
                                 "and minimum time (under mpirun: until the "
                                 "last rank has finished each run)"),
                        cl::value_desc("R"), cl::init(0), cl::cat(category));
cl::opt<std::string> objectFile("o",
                               cl::desc("Object file written by --emit=object"),
                               cl::value_desc("file"), cl::cat(category));
cl::opt<bool> peakHeap(
    "peak-heap",
    cl::desc("Print the peak heap bytes the compiled code held during the "
             "run (its buffers and returned results, not the inputs)"),
    cl::init(false), cl::cat(category));
cl::opt<unsigned> optLevel("O", cl::desc("LLVM optimisation level 0-3"),
                           cl::init(3), cl::Prefix, cl::cat(category));
cl::opt<unsigned> vectorBits("vector-bits",
                             cl::desc("Vector width in bits (0: host's)"),
                             cl::init(0), cl::cat(category));
cl::opt<std::string> target(
    "target",
    cl::desc("cpu, cuda, or gpu-emulator (the GPU kernels run on host "
             "threads, one per GPU thread: for testing without a GPU)"),
    cl::init("cpu"),
                            cl::cat(category));
cl::opt<std::string> gpuArch(
    "gpu-arch",
    cl::desc("--target cuda: the GPU architecture to compile for (sm_80, "
             "sm_89, sm_90, sm_100)"),
    cl::init("sm_90"), cl::cat(category));
cl::opt<std::string> gpuBinary(
    "gpu-binary",
    cl::desc("--target cuda: what the program embeds for its kernels: "
             "fatbin (a cubin for --gpu-arch assembled by the CUDA toolkit's "
             "ptxas now, so a kernel the card would refuse is a compile "
             "error, plus the PTX; PTX only, with a warning, where no "
             "toolkit is found) or ptx (compiled by the driver at load)"),
    cl::init("fatbin"), cl::cat(category));
cl::opt<std::string> cudaToolkit(
    "cuda-toolkit",
    cl::desc("CUDA toolkit directory with bin/ptxas and bin/fatbinary "
             "(default: $CUDA_ROOT, $CUDA_PATH, /usr/local/cuda, then ptxas "
             "on PATH)"),
    cl::value_desc("dir"), cl::init(""), cl::cat(category));
cl::opt<unsigned> printLimit("print-limit",
                             cl::desc("Elements printed per result"),
                             cl::init(64), cl::cat(category));

cl::opt<bool> hostTwins(
    "host-twins",
    cl::desc("--target cuda: also compile every kernel for the host and "
             "register it with the CUDA runtime, so the test-only driver of "
             "test/fakecuda runs it (the JIT does so by itself under that "
             "driver; objects then need libomp)"),
    cl::init(false), cl::cat(category));

cl::opt<bool> shardSeq(
    "shard-seq",
    cl::desc("Sequence parallelism: under mpirun, each rank runs its slice of "
             "the sequence dimension of the inputs (ssm-shard-sequence) and "
             "rank 0 prints or writes the whole results, as one process "
             "would. SSMC_MPI_COMBINE=chain passes states rank to rank "
             "instead of one all-gather (exscan: a parallel prefix); a rank "
             "that waits longer than SSMC_MPI_TIMEOUT seconds (default "
             "300, 0: no limit) for the others stops every rank"),
    cl::init(false), cl::cat(category));
cl::opt<bool> shardRescan(
    "shard-rescan",
    cl::desc("With --shard-seq: every rank after the first runs its slice of "
             "ssd and linear attention again from its incoming state, "
             "instead of correcting its zero-state outputs (the slower form, "
             "for measurements; docs/distributed.md)"),
    cl::init(false), cl::cat(category));
enum class Emit { MLIR, Loops, PTX, LLVMDialect, LLVM, Object, Jit };
cl::opt<Emit> emit(
    "emit", cl::desc("Stage to stop at"), cl::init(Emit::Jit),
    cl::values(clEnumValN(Emit::MLIR, "mlir", "the verified program"),
               clEnumValN(Emit::Loops, "loops",
                          "after lowering to fused loops on buffers"),
               clEnumValN(Emit::PTX, "ptx",
                          "the PTX of the GPU kernels (--target cuda)"),
               clEnumValN(Emit::LLVMDialect, "llvm-dialect",
                          "after lowering to the LLVM dialect"),
               clEnumValN(Emit::LLVM, "llvm", "optimised LLVM IR"),
               clEnumValN(Emit::Object, "object",
                          "an ahead-of-time object file (-o FILE) for x86-64 "
                          "that needs no LLVM/MLIR at run time"),
               clEnumValN(Emit::Jit, "jit", "compile and run (default)")),
    cl::cat(category));

int fail(const Twine &msg, int code = 1) {
  // A rank that fails stops the others, which may be waiting for it.
  if (ssmc::dist::size() > 1)
    ssmc::dist::abortAll("ssmc-run: " + msg.str(), code);
  errs() << "ssmc-run: error: " << msg << "\n";
  return code;
}

void printTensor(raw_ostream &os, const ssmc::OwnedTensor &t) {
  os << ssmc::dtypeName(t.dtype()) << " " << ssmc::formatShape(t.shape())
     << "\n";
  int64_t n = t.numel();
  int64_t shown = std::min<int64_t>(n, printLimit);
  int64_t row = t.shape().empty() ? 1 : t.shape().back();
  for (int64_t i = 0; i < shown; ++i) {
    if (i && row > 0 && i % row == 0)
      os << "\n";
    else if (i)
      os << " ";
    os << format("%.6g", t.getAsDouble(i));
  }
  if (shown < n)
    os << " ... (" << n - shown << " more)";
  os << "\n";
}

} // namespace

/// libLLVM already registers a global option named "threads", so --threads
/// is taken off the command line before LLVM's parser sees it.
std::optional<std::string> takeThreadsFlag(int &argc, char **argv,
                                           unsigned &threads) {
  int out = 1;
  for (int i = 1; i < argc; ++i) {
    StringRef a = argv[i];
    StringRef value;
    if (a == "--threads" || a == "-threads") {
      if (i + 1 >= argc)
        return std::string("--threads needs a value");
      value = argv[++i];
    } else if (a.consume_front("--threads=") || a.consume_front("-threads=")) {
      value = a;
    } else {
      argv[out++] = argv[i];
      continue;
    }
    if (value.getAsInteger(10, threads))
      return ("--threads must be a non-negative integer, got '" + value + "'")
          .str();
  }
  argc = out;
  return std::nullopt;
}

// The steps of main: each returns 0 to go on, or the exit status once it
// has reported why not.
namespace {

/// --threads, then LLVM's parser for the other options (which exits itself
/// on a bad one).
int parseCommandLine(int &argc, char **argv, unsigned &threads) {
  if (auto err = takeThreadsFlag(argc, argv, threads))
    return fail(*err, 2);
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter([](raw_ostream &os) { os << "ssmc-run (ssmc)\n"; });
  cl::ParseCommandLineOptions(
      argc, argv,
      "ssmc-run: compile an ssm program and run it on tensors\n\n"
      "  ssmc-run model.mlir --entry main --input u=u.npy --input w.npy "
      "--output y.npy\n\n"
      "  --threads=N   OpenMP threads for parallel loops (default 0: one per "
      "core)\n\n"
      "Compiled programs are kept in a disk cache ($SSMC_CACHE_DIR, else "
      "$XDG_CACHE_HOME/ssmc or ~/.cache/ssmc; SSMC_NO_DISK_CACHE=1 turns "
      "it off; README.md, The program cache), except for --target cuda "
      "and --emit.\n\n"
      "Exit status: 0 success; 1 invalid program, bad input file or "
      "runtime error; 2 bad command line.\n");
  return 0;
}

/// The JIT options the command line asks for.
int jitOptions(unsigned threads, ssmc::JitOptions &options) {
  if (target == "cuda")
    options.target = ssmc::Target::CUDA;
  else if (target == "gpu-emulator")
    options.target = ssmc::Target::GPUEmulator;
  else if (target != "cpu")
    return fail("--target must be cpu, cuda or gpu-emulator, got '" + target +
                    "'",
                2);
  if (llvm::Expected<ssmc::GPUArch> arch = ssmc::lookupGPUArch(gpuArch); !arch)
    return fail("--gpu-arch: " + toString(arch.takeError()), 2);
  options.gpuArch = gpuArch;
  if (gpuBinary == "ptx")
    options.gpuBinary = ssmc::JitOptions::GPUBinary::PTX;
  else if (gpuBinary != "fatbin")
    return fail("--gpu-binary must be fatbin or ptx, got '" + gpuBinary + "'",
                2);
  // --emit=ptx shows the PTX text, which a fatbin holds only compressed.
  if (emit == Emit::PTX)
    options.gpuBinary = ssmc::JitOptions::GPUBinary::PTX;
  options.cudaToolkit = cudaToolkit;
  if (hostTwins && options.target != ssmc::Target::CUDA)
    return fail("--host-twins needs --target cuda", 2);
  options.hostTwins = hostTwins;
  options.threads = threads;
  options.optLevel = optLevel;
  options.vectorBits = vectorBits;
  options.cacheDir = ssmc::Jit::defaultCacheDir();
  return 0;
}

/// --emit=object: the program compiled ahead of time into -o FILE.
int emitObject(const ssmc::JitOptions &options) {
  if (objectFile.empty())
    return fail("--emit=object needs -o FILE", 2);
  auto buf = MemoryBuffer::getFile(inputFile, /*IsText=*/true);
  if (!buf)
    return fail(inputFile + ": cannot read: " + buf.getError().message());
  if (llvm::Error e = ssmc::Jit::compileToObject((*buf)->getBuffer(), options,
                                                 objectFile, "x86-64-v3",
                                                 inputFile))
    return fail(toString(std::move(e)));
  return 0;
}

/// The stage whose IR --emit prints instead of running (none for jit).
int stageToPrint(std::optional<ssmc::Stage> &stopAt) {
  switch (emit) {
  case Emit::MLIR: stopAt = ssmc::Stage::MLIR; break;
  case Emit::Loops: stopAt = ssmc::Stage::Loops; break;
  case Emit::PTX:
    if (target != "cuda")
      return fail("--emit=ptx needs --target cuda", 2);
    stopAt = ssmc::Stage::PTX;
    break;
  case Emit::LLVMDialect: stopAt = ssmc::Stage::LLVMDialect; break;
  case Emit::LLVM: stopAt = ssmc::Stage::LLVMIR; break;
  case Emit::Object: // handled by emitObject
  case Emit::Jit: break;
  }
  return 0;
}

/// The value of --input `spec` (`value` without its NAME=) for argument
/// `slot` of `info`: a number for a scalar argument, else a tensor file.
int readInput(const std::string &spec, StringRef value,
              const ssmc::FunctionInfo &info, size_t slot,
              std::optional<ssmc::OwnedTensor> &arg) {
  const ssmc::ArgInfo &want = info.inputs[slot];
  if (!want.isTensor) {
    double v;
    if (value.getAsDouble(v))
      return fail("--input " + spec + ": argument '" + info.argNames[slot] +
                  "' is a scalar " + ssmc::dtypeName(want.dtype) +
                  "; give a number", 2);
    ssmc::OwnedTensor t(want.dtype, {});
    t.setFromDouble(0, v);
    arg = std::move(t);
    return 0;
  }
  auto t = ssmc::readTensorSpec(value);
  if (!t)
    return fail(toString(t.takeError()));
  arg = std::move(*t);
  return 0;
}

/// The entry's arguments from the --input specs, positional or by name,
/// read in command-line order (so the first bad spec is the one reported).
int readInputs(const ssmc::FunctionInfo &info,
               std::vector<ssmc::OwnedTensor> &args) {
  std::vector<std::optional<ssmc::OwnedTensor>> given(info.inputs.size());
  ssmc::ArgumentBinder binder(info, "--input");
  for (const std::string &spec : inputs) {
    StringRef s = spec;
    auto [name, rest] = s.split('=');
    const bool named = !rest.empty() || s.ends_with("=");
    Expected<size_t> slot = named ? binder.byName(name) : binder.byPosition();
    if (!slot)
      return fail("--input " + spec + ": " + toString(slot.takeError()), 2);
    if (int status = readInput(spec, named ? rest : s, info, *slot,
                               given[*slot]))
      return status;
  }
  if (Error e = binder.checkComplete())
    return fail(toString(std::move(e)), 2);
  for (auto [i, arg] : llvm::enumerate(given)) {
    int dim = info.inputs[i].seqDim;
    if (dim >= 0 && ssmc::dist::size() > 1)
      arg = ssmc::dist::slice(arg->view(), dim, ssmc::dist::rank(),
                              ssmc::dist::size());
    args.push_back(std::move(*arg));
  }
  return 0;
}

/// Milliseconds compile() took (or loading from the program cache).
double compileMs = 0;

/// --bench: R more runs, their median and minimum time. Under mpirun a run
/// lasts until every rank has finished it (rank 0 alone would leave out the
/// other ranks' work after the combine).
int runBench(ssmc::Jit &jit, ArrayRef<ssmc::Tensor> views) {
  std::vector<double> ms;
  for (unsigned r = 0; r < bench; ++r) {
    (void)ssmc::dist::allOk(true); // the ranks start each run together
    auto t0 = std::chrono::steady_clock::now();
    auto again = jit.run(entry, views);
    (void)ssmc::dist::allOk(bool(again)); // and end when the last is done
    auto t1 = std::chrono::steady_clock::now();
    if (!again)
      return fail(toString(again.takeError()));
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  if (ssmc::dist::rank() != 0)
    return 0;
  outs() << format("bench: %s in %.1f ms\n",
                   jit.fromCache() ? "loaded from the program cache"
                                   : "compiled",
                   compileMs);
  outs() << format("bench: %u runs, median %.3f ms, min %.3f ms\n",
                   unsigned(bench), ms[ms.size() / 2], ms.front());
  if (shardSeq)
    outs() << format("bench: %d ranks, rank 0 sent %llu bytes per run\n",
                     ssmc::dist::size(),
                     (unsigned long long)(ssmc::dist::bytesSent() /
                                          (bench + 1)));
  return 0;
}

/// With --shard-seq, the whole results on rank 0: slices gathered along
/// their dimension, final states from the last rank; empty on other ranks.
int gatherResults(const ssmc::FunctionInfo &info,
                  std::vector<ssmc::OwnedTensor> &results) {
  if (ssmc::dist::size() == 1)
    return 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const ssmc::ArgInfo &r = info.results[i];
    llvm::Expected<ssmc::OwnedTensor> whole =
        r.seqDim >= 0 ? ssmc::dist::gatherAlong(results[i], r.seqDim)
        : r.seqLast   ? ssmc::dist::fetchFrom(results[i], ssmc::dist::size() - 1)
                      : ssmc::dist::fetchFrom(results[i], 0);
    if (!whole)
      return fail(toString(whole.takeError()));
    results[i] = std::move(*whole);
  }
  return 0;
}
/// The results, printed or written to the --output files. Each file is
/// written next to its name and renamed into place, so a failed run leaves
/// no partial file.
int writeResults(std::vector<ssmc::OwnedTensor> &results) {
  if (ssmc::dist::rank() != 0)
    return 0;
  for (size_t i = 0; i < results.size(); ++i) {
    ssmc::OwnedTensor &r = results[i];
    if (outputs.empty()) {
      outs() << "result #" << i << ": ";
      printTensor(outs(), r);
      continue;
    }
    StringRef path = outputs[i];
    // A device or pipe is written in place.
    const bool viaPartial =
        !sys::fs::exists(path) || sys::fs::is_regular_file(path);
    std::string partial = viaPartial ? (path + ".partial").str() : path.str();
    Error e = path.ends_with(".safetensors")
                  ? ssmc::writeSafetensors(partial, {{"result" + std::to_string(i), r.view()}})
                  : ssmc::writeNpy(partial, r.view());
    if (!e && viaPartial)
      if (std::error_code ec = sys::fs::rename(partial, path))
        e = createStringError(ec, "cannot write " + path);
    if (e) {
      if (viaPartial)
        (void)sys::fs::remove(partial);
      return fail(toString(std::move(e)));
    }
  }
  return 0;
}

/// Runs --entry on the inputs and reports the results.
int runEntry(ssmc::Jit &jit) {
  auto fn = jit.function(entry);
  if (!fn)
    return fail(toString(fn.takeError()));
  const ssmc::FunctionInfo &info = **fn;
  std::vector<ssmc::OwnedTensor> args;
  if (int status = readInputs(info, args))
    return status;
  std::vector<ssmc::Tensor> views;
  for (ssmc::OwnedTensor &arg : args)
    views.push_back(arg.view());
  if (!outputs.empty() && outputs.size() != info.results.size())
    return fail("'" + entry + "' returns " + Twine(info.results.size()) +
                " results, got " + Twine(outputs.size()) + " --output files", 2);

  auto results = jit.run(entry, views);
  if (!results)
    return fail(toString(results.takeError()));
  if (peakHeap && ssmc::dist::rank() == 0)
    outs() << "peak heap: " << jit.lastCallPeakHeapBytes() << " bytes\n";
  if (bench)
    if (int status = runBench(jit, views))
      return status;
  if (int status = gatherResults(info, *results))
    return status;
  return writeResults(*results);
}

} // namespace

int main(int argc, char **argv) {
  InitLLVM init(argc, argv);
  unsigned threads = 0;
  if (int status = parseCommandLine(argc, argv, threads))
    return status;
  ssmc::JitOptions options;
  if (int status = jitOptions(threads, options))
    return status;
  if (shardSeq) {
    if (llvm::Error e = ssmc::dist::init(&argc, &argv))
      return fail("--shard-seq: " + toString(std::move(e)));
    options.shardSequence = true;
    options.shardRescan = shardRescan;
  }
  struct Finalize {
    ~Finalize() { ssmc::dist::finalize(); }
  } finalizeAtExit;
  if (emit == Emit::Object)
    return emitObject(options);
  std::optional<ssmc::Stage> stopAt;
  if (int status = stageToPrint(stopAt))
    return status;
  if (stopAt)
    options.dumpIR = [&](ssmc::Stage s, StringRef text) {
      if (s == *stopAt)
        outs() << text;
    };

  auto t0 = std::chrono::steady_clock::now();
  auto jit = ssmc::Jit::compileFile(inputFile, options);
  compileMs = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - t0)
                  .count();
  if (!jit)
    return fail(toString(jit.takeError()));
  if (stopAt)
    return 0;
  return runEntry(**jit);
}
