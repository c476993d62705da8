//===- Jit.h - compile and run ssm programs from C++ ------------*- C++ -*-===//
//
//   auto jit = ssmc::Jit::compile(source);            // llvm::Expected<...>
//   if (!jit) { report(jit.takeError()); ... }
//   auto outs = (*jit)->run("main", {u.view(), ...}); // owned result tensors
//   llvm::Error e = (*jit)->invoke("main", inputs, outputs); // into views
//   auto args = (*jit)->bind("main", {{"u", u.view()}, {"", w.view()}});
//
// Every misuse -- bad IR, unknown entry, wrong number of arguments, rank,
// dtype or static size, a tensor on the wrong device -- comes back as an
// llvm::Error whose message names the argument and what was expected;
// nothing aborts.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_JIT_H
#define SSMC_JIT_H

#include "ssmc/Tensor.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ssmc {

/// Where ops with a GPU kernel run: CPU (no kernels: fused host loops),
/// CUDA (the kernels on device 0), or GPUEmulator (the same kernels run on
/// the host, a thread block per OpenMP parallel region: the kernels'
/// arithmetic, indexing, shared memory and barriers checked without a GPU).
enum class Target { CPU, CUDA, GPUEmulator };

/// Points at which the IR can be observed (`ssmc-run --emit=`).
enum class Stage {
  MLIR,        ///< the verified input program
  Loops,       ///< after ssm -> fused loops (and GPU kernels) and bufferization
  PTX,         ///< the PTX of every GPU kernel module (CUDA target only)
  LLVMDialect, ///< after lowering to the LLVM dialect
  LLVMIR,      ///< optimised LLVM IR, as the JIT compiles it
};
llvm::StringRef stageName(Stage s);

struct JitOptions {
  /// CPU, or CUDA: ops with a GPU kernel run on device 0 (operands staged
  /// from and results copied back to host tensors), the rest on the host.
  /// Compiling needs no GPU; running needs the NVIDIA driver.
  Target target = Target::CPU;
  /// CUDA target: the GPU architecture the kernels are compiled for, one of
  /// sm_80, sm_89, sm_90, sm_100 (ssmc::supportedGPUArchs in Pipelines.h;
  /// the PTX ISA version goes with it). Another is an error at compile time.
  std::string gpuArch = "sm_90";
  /// CUDA target: what the program embeds for its kernels. Fatbin: a cubin
  /// for gpuArch assembled at compile time by the CUDA toolkit's ptxas (a
  /// kernel the card would refuse, e.g. over its shared-memory limit, is a
  /// compile error with ptxas' message) plus the PTX for other cards; where
  /// no toolkit is found, PTX only, with a warning on stderr. PTX: the PTX
  /// text alone, compiled by the driver when the program loads.
  enum class GPUBinary { Fatbin, PTX };
  GPUBinary gpuBinary = GPUBinary::Fatbin;
  /// CUDA toolkit directory (bin/ptxas, bin/fatbinary) for GPUBinary::Fatbin;
  /// empty: $CUDA_ROOT, $CUDA_PATH, /usr/local/cuda, then ptxas on PATH.
  std::string cudaToolkit;
  /// CUDA target: also compile every kernel for the host and register it
  /// with the runtime, for the test-only driver of test/fakecuda, which
  /// runs launches through these host twins (the JIT turns this on by
  /// itself when that driver is what libcuda.so.1 loads). Such code needs
  /// the OpenMP runtime, and its kernels are embedded as PTX.
  bool hostTwins = false;
  /// OpenMP threads for parallel loops; 0 lets the runtime choose (one per
  /// hardware thread). More than 4096 (or than RLIMIT_NPROC allows) is an
  /// error of compile(): libomp would abort the process creating them.
  unsigned threads = 0;
  /// LLVM optimisation level, 0-3.
  unsigned optLevel = 3;
  /// Vector register width the lowering fills; 0 picks the host's widest
  /// (512 with AVX-512, 256 with AVX2, else 128).
  unsigned vectorBits = 0;
  /// If set, receives the IR text after each stage.
  std::function<void(Stage, llvm::StringRef)> dumpIR;
  /// Keep the generated machine code, so that Jit::save can write it.
  bool keepObject = false;
  /// Disk cache of compiled programs (README.md, The program cache): when
  /// set, compile() loads the program from
  /// `cacheDir/<key>.ssmco` if an entry for it loads, and otherwise
  /// compiles it and stores it there (written to a temporary name and
  /// renamed, so concurrent processes never read half an entry). The key
  /// is a SHA-256 of the source, every option that changes the code, the
  /// binary holding this compiler (path, size, modification time), LLVM's
  /// version and the host CPU with its features: a rebuilt compiler or
  /// another machine never loads stale code. Bypassed (compiled as usual)
  /// for the CUDA target (its kernels load in global constructors, which a
  /// loaded program does not run), with dumpIR or keepObject set; a cache
  /// that cannot be written costs only the next process a compile.
  /// Jit::defaultCacheDir() is the folder the tools use.
  std::string cacheDir;
  /// Sequence parallelism (docs/distributed.md): run the public functions
  /// through `ssm-shard-sequence`, so that each rank of an MPI run computes
  /// its slice of the sequence (ArgInfo::seqDim says which inputs and
  /// results are sliced). On one rank the results equal the plain
  /// program's. CPU target only.
  bool shardSequence = false;
  /// Sequence parallelism of these functions only, rewritten in place
  /// (`ssm-shard-sequence{functions=...}`): the caller hands each rank its
  /// own slice of the sequence inputs (a language model's prompt), and
  /// the signatures stay as they are. CPU target only.
  std::vector<std::string> shardSequenceFunctions;
  /// With sequence parallelism: rescan every slice of ssd and linear
  /// attention from its incoming state instead of correcting the outputs
  /// (`ssm-shard-sequence{rescan=true}`; the form before the correction,
  /// for measurements).
  bool shardRescan = false;
};

/// Type of one entry argument or result as the program declares it.
struct ArgInfo {
  bool isTensor = true;
  DType dtype = DType::F32;
  std::vector<int64_t> shape; ///< -1 for a dynamic dimension
  /// With JitOptions::shardSequence: the dimension along which each rank
  /// holds a slice of this input or result (-1: the same on every rank),
  /// and whether this result is a final state (the last rank's is the
  /// whole sequence's).
  int seqDim = -1;
  bool seqLast = false;
};

struct FunctionInfo {
  std::string name;
  std::vector<std::string> argNames; ///< `ssm.name` attribute, or "argN"
  std::vector<ArgInfo> inputs, results;
  /// Results are written into caller buffers (every result shape is
  /// static); otherwise they are returned as buffers the runtime takes over.
  bool outParams = false;
};

/// Describes `info` like "(tensor<2x?xf32>, f32) -> tensor<2x?xf32>".
std::string describe(const ArgInfo &info);

/// An input for Jit::bind: for the argument named `name` (its `ssm.name`
/// attribute, or "argN"), or, with an empty name, for the first argument
/// not given yet.
struct NamedInput {
  std::string name;
  Tensor value;
};

/// Matches inputs given by name or by position to the arguments of `fn`,
/// one input at a time: Jit::bind matches a whole list, and a caller that
/// reads an input only once it knows the argument's declared type (a tool
/// parsing a scalar from text) uses this directly.
class ArgumentBinder {
public:
  /// `inputWord` is what the caller calls an input, for the error about a
  /// missing one ("input"; a tool may name its option).
  explicit ArgumentBinder(const FunctionInfo &fn,
                          llvm::StringRef inputWord = "input");

  /// The argument named `name`; an error if there is none, or if it was
  /// given already.
  llvm::Expected<size_t> byName(llvm::StringRef name);
  /// The first argument not given yet; an error if every one was.
  llvm::Expected<size_t> byPosition();
  /// An error naming the first argument no input was given for.
  llvm::Error checkComplete() const;

private:
  const FunctionInfo &fn;
  std::string inputWord;
  std::vector<bool> given;
  size_t next = 0; ///< every argument before it is given
};

class Jit {
public:
  /// Parses, verifies and compiles `source` (an ssm program); `bufferName`
  /// is used in diagnostics.
  static llvm::Expected<std::unique_ptr<Jit>>
  compile(llvm::StringRef source, const JitOptions &options = {},
          llvm::StringRef bufferName = "<source>");
  static llvm::Expected<std::unique_ptr<Jit>>
  compileFile(llvm::StringRef path, const JitOptions &options = {});

  /// Compiles `source` ahead of time into the relocatable object
  /// `objectPath` for x86-64 CPU `cpu`: every public function as a C entry
  /// point `_mlir_ciface_<name>` taking memref descriptors (inputs, then
  /// the results of destination-passing entries), parallel loops run
  /// sequentially (no OpenMP). The object needs only libc/libm and, from
  /// ssmc, SSMCAbi (memrefCopy, ssmcShapeError) and for the CUDA
  /// target SSMCMgpu (which dlopens libcuda.so.1): no LLVM, no MLIR.
  static llvm::Error compileToObject(llvm::StringRef source,
                                     const JitOptions &options,
                                     llvm::StringRef objectPath,
                                     llvm::StringRef cpu = "x86-64-v3",
                                     llvm::StringRef bufferName = "<source>");

  /// Writes the compiled program -- its machine code and the description
  /// of its entries -- to `path`, for load(). Needs a program compiled
  /// with JitOptions::keepObject for the CPU or gpu-emulator target (the
  /// CUDA target's kernels are loaded by global constructors, which load()
  /// does not run).
  llvm::Error save(llvm::StringRef path) const;
  /// The program save() wrote to `path`, ready to call without compiling.
  /// The code is for the CPU and the options it was compiled with (the
  /// caller keys its files by them); `options` gives the target, which
  /// must match. An error for a file that is not such a program or is
  /// damaged (its checksum does not match).
  static llvm::Expected<std::unique_ptr<Jit>>
  load(llvm::StringRef path, const JitOptions &options = {});

  /// The program cache folder of the tools (ssmc-generate, ssmc-tasks,
  /// ssmc-run) and the Python package: $SSMC_CACHE_DIR, else
  /// $XDG_CACHE_HOME/ssmc, else $HOME/.cache/ssmc; empty (no disk cache)
  /// when SSMC_NO_DISK_CACHE is set to anything but "" or "0", or no
  /// folder can be named.
  static std::string defaultCacheDir();
  /// Whether compile() loaded this program from JitOptions::cacheDir
  /// instead of compiling it.
  bool fromCache() const { return loadedFromCache; }

  ~Jit();

  /// Public functions of the program with their declared types.
  const std::vector<FunctionInfo> &functions() const;
  llvm::Expected<const FunctionInfo *> function(llvm::StringRef name) const;

  /// `inputs`, each named or positional (see NamedInput), in the order of
  /// `entry`'s arguments, ready for run() or invoke(). The error names an
  /// argument that does not exist, one given twice, an input beyond the
  /// last argument, or the first argument without an input.
  llvm::Expected<std::vector<Tensor>>
  bind(llvm::StringRef entry, llvm::ArrayRef<NamedInput> inputs) const;

  /// Runs `entry` on `inputs` (rank-0 tensors for scalar arguments) and
  /// returns its results as owned host tensors.
  llvm::Expected<std::vector<OwnedTensor>> run(llvm::StringRef entry,
                                               llvm::ArrayRef<Tensor> inputs);
  /// Runs `entry` and writes its results into `outputs`, whose dtype and
  /// shape must match the results exactly (any strides). With static result
  /// shapes the compiled code writes straight into contiguous outputs: no
  /// allocation and no copy per call.
  llvm::Error invoke(llvm::StringRef entry, llvm::ArrayRef<Tensor> inputs,
                     llvm::ArrayRef<Tensor> outputs);

  /// Peak heap bytes the compiled code held during the last call of
  /// run/invoke on this Jit, above what it held before the call: every
  /// buffer it allocates (memref.alloc: temporaries, rolling DP storage,
  /// returned results), not the caller's tensors or stack buffers. The
  /// accounting is process-wide, so calls running concurrently on other
  /// threads add to it.
  size_t lastCallPeakHeapBytes() const;

private:
  struct Impl;
  explicit Jit(std::unique_ptr<Impl> impl);
  llvm::Error call(const FunctionInfo &fn, llvm::ArrayRef<Tensor> inputs,
                   llvm::ArrayRef<Tensor> outParams,
                   std::vector<OwnedTensor> *returned);
  static llvm::Expected<std::unique_ptr<Jit>>
  compileThroughCache(llvm::StringRef source, const JitOptions &options,
                      llvm::StringRef bufferName);
  std::unique_ptr<Impl> impl;
  bool loadedFromCache = false;
};

} // namespace ssmc

#endif // SSMC_JIT_H
