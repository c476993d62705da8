//===- Jit.cpp - ssmc::Jit on mlir::ExecutionEngine -----------------------===//
//
// Compiles an ssm program through ssm-cpu-pipeline, JIT-compiles the LLVM
// dialect for the host CPU (its real features: AVX-512 where present), and
// calls entries through their C interface (`_mlir_ciface_*`): one memref
// descriptor per tensor argument, results returned as descriptors of
// buffers the caller then owns.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Jit.h"
#include "ssmc/Cuda.h"
#include "ssmc/InitAll.h"
#include "ssmc/Passes.h"
#include "ssmc/Pipelines.h"

#include "ssmc/Dialect/SSM/SSMDialect.h"

#include "runtime/abi/HeapAccount.h"
#include "runtime/abi/MemRef.h"
#include "runtime/abi/ShapeError.h"
#include "runtime/mpi/MpiRuntime.h"
#include "runtime/cuda/MgpuRuntime.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ExecutionEngine/Orc/AbsoluteSymbols.h"
#include "llvm/ExecutionEngine/Orc/ExecutionUtils.h"
#include "llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h"
#include "llvm/ExecutionEngine/Orc/LLJIT.h"
#include "llvm/ExecutionEngine/Orc/RTDyldObjectLinkingLayer.h"
#include "llvm/ExecutionEngine/SectionMemoryManager.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/Support/DynamicLibrary.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/xxhash.h"
#include "llvm/Object/ObjectFile.h"
#include "llvm/TargetParser/Host.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <set>
#include <thread>

#include <sys/resource.h>

using namespace mlir;
using llvm::Error;
using llvm::Expected;

namespace ssmc {

llvm::StringRef stageName(Stage s) {
  switch (s) {
  case Stage::MLIR: return "mlir";
  case Stage::Loops: return "loops";
  case Stage::PTX: return "ptx";
  case Stage::LLVMDialect: return "llvm-dialect";
  case Stage::LLVMIR: return "llvm";
  }
  return "?";
}

std::string describe(const ArgInfo &info) {
  std::string s;
  if (info.isTensor) {
    s = "tensor<";
    for (int64_t d : info.shape)
      s += (d < 0 ? std::string("?") : std::to_string(d)) + "x";
  }
  s += dtypeName(info.dtype).str();
  if (info.isTensor)
    s += ">";
  return s;
}

namespace {

Error makeError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

std::optional<DType> dtypeOf(Type t) {
  if (t.isF16()) return DType::F16;
  if (t.isBF16()) return DType::BF16;
  if (t.isF32()) return DType::F32;
  if (t.isF64()) return DType::F64;
  if (t.isInteger(1)) return DType::I1;
  if (t.isInteger(8)) return DType::I8;
  if (t.isInteger(16)) return DType::I16;
  if (t.isInteger(32)) return DType::I32;
  if (t.isInteger(64) || t.isIndex()) return DType::I64;
  return std::nullopt;
}

Expected<ArgInfo> argInfoOf(Type t, const llvm::Twine &what) {
  ArgInfo info;
  Type elt = t;
  if (auto rt = dyn_cast<RankedTensorType>(t)) {
    info.isTensor = true;
    for (int64_t d : rt.getShape())
      info.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    elt = rt.getElementType();
  } else if (isa<ShapedType>(t)) {
    return makeError(what + " has type that the JIT cannot pass (only ranked "
                            "tensors and scalars are supported)");
  } else {
    info.isTensor = false;
  }
  std::optional<DType> dt = dtypeOf(elt);
  if (!dt)
    return makeError(what + " has an element type the JIT cannot pass");
  info.dtype = *dt;
  return info;
}

unsigned hostVectorBits() {
  llvm::StringMap<bool> features = llvm::sys::getHostCPUFeatures();
  if (features.lookup("avx512f"))
    return 512;
  if (features.lookup("avx2") || features.lookup("avx"))
    return 256;
  return 128;
}

/// A function taking its arguments packed as an array of pointers (the
/// ExecutionEngine's `_mlir_<name>` wrapper of a C interface function).
using PackedFunction = void (*)(void **);

/// What a compiled program keeps for its calls.
struct Program {
  MLIRContext context;
  OwningOpRef<ModuleOp> module;
  /// Optimises the translated module; the engine holds a reference to it.
  std::function<Error(llvm::Module *)> transformer;
  /// The code: compiled by the engine, or loaded by Jit::load.
  std::unique_ptr<ExecutionEngine> engine;
  std::unique_ptr<llvm::orc::LLJIT> loaded;
  std::vector<FunctionInfo> functions;
  /// The packed entry point of each of `functions`.
  std::vector<PackedFunction> entryPoints;
  std::vector<std::string> runtimeChecks; ///< messages, by check id
  JitOptions options;
};

/// A context that knows every dialect the pipelines lower through.
void initContext(MLIRContext &context) {
  DialectRegistry registry;
  ssmc::registerAllDialects(registry);
  context.appendDialectRegistry(registry);
  context.loadAllAvailableDialects();
  // Errors point at the program's source; the generic form of the lowered
  // op they arise in (a whole kernel module when ptxas rejects a kernel)
  // would bury them.
  context.printOpOnDiagnostic(false);
}

void initNativeTarget() {
  static const bool initialised = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)initialised;
}

/// The program's text, and what the context reports about it while this
/// object lives: the error that ends a compilation carries it.
class SourceDiagnostics {
public:
  SourceDiagnostics(MLIRContext &context, llvm::StringRef source,
                    llvm::StringRef bufferName)
      : stream(text), handler(sourceMgr, &context, stream) {
    sourceMgr.AddNewSourceBuffer(
        llvm::MemoryBuffer::getMemBufferCopy(source, bufferName),
        llvm::SMLoc());
  }

  OwningOpRef<ModuleOp> parse(MLIRContext &context) {
    return parseSourceFile<ModuleOp>(sourceMgr, &context);
  }

  /// `what`, followed by the diagnostics reported so far.
  Error fail(const llvm::Twine &what) {
    stream.flush();
    return makeError(what + (text.empty() ? "" : ":\n" + text));
  }

private:
  std::string text;
  llvm::raw_string_ostream stream;
  llvm::SourceMgr sourceMgr;
  SourceMgrDiagnosticHandler handler;
};

} // namespace

// Jit::Impl is private to Jit, so the compile and call stages work on its
// Program part.
struct Jit::Impl : Program {
  std::atomic<size_t> lastCallPeakBytes{0};
};

size_t Jit::lastCallPeakHeapBytes() const { return impl->lastCallPeakBytes; }

Jit::Jit(std::unique_ptr<Impl> impl) : impl(std::move(impl)) {}
Jit::~Jit() = default;

const std::vector<FunctionInfo> &Jit::functions() const {
  return impl->functions;
}

Expected<const FunctionInfo *> Jit::function(llvm::StringRef name) const {
  for (const FunctionInfo &f : impl->functions)
    if (f.name == name)
      return &f;
  std::string names;
  for (const FunctionInfo &f : impl->functions)
    names += (names.empty() ? "" : ", ") + f.name;
  return makeError("no public function named '" + name +
                   "' (the program has: " + (names.empty() ? "none" : names) +
                   ")");
}

ArgumentBinder::ArgumentBinder(const FunctionInfo &fn,
                               llvm::StringRef inputWord)
    : fn(fn), inputWord(inputWord.str()), given(fn.inputs.size(), false) {}

Expected<size_t> ArgumentBinder::byName(llvm::StringRef name) {
  auto it = llvm::find(fn.argNames, name);
  if (it == fn.argNames.end())
    return makeError("'" + fn.name + "' has no argument named '" + name +
                     "' (arguments: " + llvm::join(fn.argNames, ", ") + ")");
  size_t slot = it - fn.argNames.begin();
  if (given[slot])
    return makeError("argument '" + fn.argNames[slot] + "' given twice");
  given[slot] = true;
  return slot;
}

Expected<size_t> ArgumentBinder::byPosition() {
  while (next < given.size() && given[next])
    ++next;
  if (next >= given.size())
    return makeError("'" + fn.name + "' takes only " +
                     llvm::Twine(given.size()) + " arguments");
  given[next] = true;
  return next;
}

Error ArgumentBinder::checkComplete() const {
  for (size_t i = 0; i < given.size(); ++i)
    if (!given[i])
      return makeError("missing " + inputWord + " for argument '" +
                       fn.argNames[i] + "' (" + describe(fn.inputs[i]) +
                       ") of '" + fn.name + "'");
  return Error::success();
}

Expected<std::vector<Tensor>> Jit::bind(llvm::StringRef entry,
                                        llvm::ArrayRef<NamedInput> inputs) const {
  Expected<const FunctionInfo *> fn = function(entry);
  if (!fn)
    return fn.takeError();
  ArgumentBinder binder(**fn);
  std::vector<Tensor> args((*fn)->inputs.size());
  for (const NamedInput &input : inputs) {
    Expected<size_t> slot = input.name.empty() ? binder.byPosition()
                                               : binder.byName(input.name);
    if (!slot)
      return slot.takeError();
    args[*slot] = input.value;
  }
  if (Error e = binder.checkComplete())
    return std::move(e);
  return args;
}

Expected<std::unique_ptr<Jit>> Jit::compileFile(llvm::StringRef path,
                                                const JitOptions &options) {
  auto buf = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buf)
    return makeError(path + ": cannot read: " + buf.getError().message());
  return compile((*buf)->getBuffer(), options, path);
}

namespace {

/// The CUDA target's options of the NVPTX pipeline; an error for a GPU
/// architecture it does not compile for.
Error configureGPU(NVPTXPipelineOptions &gpu, const JitOptions &options) {
  Expected<GPUArch> arch = lookupGPUArch(options.gpuArch);
  if (!arch)
    return arch.takeError();
  gpu.chip = arch->name.str();
  gpu.features = arch->ptxFeatures.str();
  gpu.gpuBinary =
      (options.gpuBinary == JitOptions::GPUBinary::PTX ? kGPUBinaryPTX
                                                       : kGPUBinaryFatbin)
          .str();
  gpu.cudaToolkit = options.cudaToolkit;
  return Error::success();
}

/// ssm -> loops (and GPU kernels) -> LLVM dialect for a portable x86-64
/// host: AVX2-wide vectors, no AVX-512, no OpenMP.
Error lowerForObject(ModuleOp module, const JitOptions &options,
                     SourceDiagnostics &diagnostics,
                     llvm::StringRef bufferName) {
  CPUPipelineOptions host;
  host.vectorBits = options.vectorBits ? options.vectorBits : 256;
  host.avx512 = false;
  host.openmp = false;
  NVPTXPipelineOptions gpu;
  gpu.hostTwins = options.hostTwins;
  const bool cuda = options.target == Target::CUDA;
  if (cuda)
    if (Error e = configureGPU(gpu, options))
      return e;
  if (options.target == Target::GPUEmulator)
    return makeError("ahead-of-time objects are for the cpu and cuda targets "
                     "(the GPU emulator needs the OpenMP runtime)");
  PassManager pm(module.getContext());
  if (failed(cuda ? buildSSMToKernelsStage(pm, gpu, host)
                  : buildSSMToLoopsStage(pm, host)) ||
      failed(cuda ? buildGPUHostToLLVMStage(pm, host, gpu.hostTwins)
                  : buildLoopsToLLVMStage(pm, host)) ||
      failed(pm.run(module)))
    return diagnostics.fail(bufferName + ": lowering failed");
  return Error::success();
}

/// Position-independent code for x86-64 CPU `cpu`.
Expected<std::unique_ptr<llvm::TargetMachine>>
objectTargetMachine(llvm::StringRef cpu) {
  llvm::Triple triple(llvm::sys::getDefaultTargetTriple());
  llvm::orc::JITTargetMachineBuilder tmb(triple);
  tmb.setCPU(cpu.str());
  tmb.setRelocationModel(llvm::Reloc::PIC_);
  tmb.setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  return tmb.createTargetMachine();
}

Error emitObjectFile(llvm::TargetMachine &tm, llvm::Module &module,
                     llvm::StringRef objectPath) {
  std::error_code ec;
  llvm::raw_fd_ostream out(objectPath, ec, llvm::sys::fs::OF_None);
  if (ec)
    return makeError(objectPath + ": cannot write: " + ec.message());
  llvm::legacy::PassManager codegen;
  if (tm.addPassesToEmitFile(codegen, out, nullptr,
                             llvm::CodeGenFileType::ObjectFile))
    return makeError("the target cannot emit object files");
  codegen.run(module);
  out.flush();
  return Error::success();
}

} // namespace

namespace {

/// The most OpenMP threads a program may ask for. libomp aborts the process
/// (OMP error #34, from inside the compiled code) when the system refuses a
/// thread; a count this machine cannot create is refused here instead, so
/// the caller gets an error value before anything runs.
unsigned maxThreads() {
  unsigned cap = 4096;
  struct rlimit limit;
  if (getrlimit(RLIMIT_NPROC, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
      limit.rlim_cur < cap)
    cap = static_cast<unsigned>(std::max<rlim_t>(1, limit.rlim_cur));
  return cap;
}

/// The checks every compilation path makes on its options.
Error checkOptions(const JitOptions &options) {
  if (options.optLevel > 3)
    return makeError("optimisation level must be 0-3, got " +
                     llvm::Twine(options.optLevel));
  unsigned cap = maxThreads();
  if (options.threads > cap)
    return makeError(
        "threads = " + llvm::Twine(options.threads) + ": more than the " +
        llvm::Twine(cap) +
        " OpenMP threads a program may use (this machine has " +
        llvm::Twine(std::max(1u, std::thread::hardware_concurrency())) +
        " hardware threads; 0 uses one per hardware thread)");
  return Error::success();
}

} // namespace

Error Jit::compileToObject(llvm::StringRef source, const JitOptions &options,
                           llvm::StringRef objectPath, llvm::StringRef cpu,
                           llvm::StringRef bufferName) {
  ssmc::registerAllPasses();
  MLIRContext context;
  initContext(context);
  SourceDiagnostics diagnostics(context, source, bufferName);
  OwningOpRef<ModuleOp> module = diagnostics.parse(context);
  if (!module)
    return diagnostics.fail(bufferName + ": invalid program");
  if (Error e = lowerForObject(*module, options, diagnostics, bufferName))
    return e;

  initNativeTarget();
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(*module, llvmContext);
  if (!llvmModule)
    return diagnostics.fail(bufferName + ": translation to LLVM IR failed");
  auto tm = objectTargetMachine(cpu);
  if (!tm)
    return tm.takeError();
  llvmModule->setDataLayout((*tm)->createDataLayout());
  llvmModule->setTargetTriple((*tm)->getTargetTriple());
  for (llvm::Function &f : *llvmModule)
    if (!f.isDeclaration())
      f.addFnAttr("target-cpu", cpu);
  if (Error e = makeOptimizingTransformer(options.optLevel, 0, tm->get())(
          llvmModule.get()))
    return e;
  return emitObjectFile(**tm, *llvmModule, objectPath);
}

namespace {

/// The shared libraries compiled code calls into: libomp provides the
/// OpenMP runtime the parallel loops call; libmlir_c_runner_utils provides
/// memrefCopy (strided buffer copies).
llvm::SmallVector<llvm::StringRef> runtimeLibraries() {
  static const std::string runtimeLibs[] = {
      "/usr/lib/llvm-22/lib/libomp.so",
      "/usr/lib/llvm-22/lib/libmlir_c_runner_utils.so"};
  llvm::SmallVector<llvm::StringRef> libs;
  for (const std::string &lib : runtimeLibs)
    if (llvm::sys::fs::exists(lib))
      libs.push_back(lib);
  return libs;
}

/// The functions the compiled code calls that the JIT provides: the
/// shape-check hook, the mgpu* runtime of GPU kernel launches (CUDA
/// target), and the heap-accounting allocators.
llvm::orc::SymbolMap runtimeSymbolMap(llvm::orc::MangleAndInterner interner) {
  llvm::orc::SymbolMap map;
  auto def = [](auto *fn) {
    return llvm::orc::ExecutorSymbolDef(llvm::orc::ExecutorAddr::fromPtr(fn),
                                        llvm::JITSymbolFlags::Exported);
  };
  map[interner("ssmcShapeError")] = def(&ssmcShapeError);
  map[interner("_mlir_ciface_ssmcShapeError")] = def(&ssmcShapeError);
  map[interner("_mlir_ciface_ssmcMpiCombineAffine")] =
      def(&_mlir_ciface_ssmcMpiCombineAffine);
  map[interner("_mlir_ciface_ssmcMpiCombineMatrix")] =
      def(&_mlir_ciface_ssmcMpiCombineMatrix);
  map[interner("ssmcMpiRank")] = def(&ssmcMpiRank);
  map[interner("_mlir_ciface_ssmcMpiRank")] = def(&ssmcMpiRank);
  map[interner("_mlir_ciface_ssmcMpiStepSums")] = def(&_mlir_ciface_ssmcMpiStepSums);
  map[interner("_mlir_ciface_ssmcMpiCombineAffineReverse")] =
      def(&_mlir_ciface_ssmcMpiCombineAffineReverse);
  map[interner("ssmcMpiSize")] = def(&ssmcMpiSize);
  map[interner("_mlir_ciface_ssmcMpiSize")] = def(&ssmcMpiSize);
  map[interner("_mlir_ciface_ssmcMpiStepPrefixSums")] =
      def(&_mlir_ciface_ssmcMpiStepPrefixSums);
  map[interner("_mlir_ciface_ssmcMpiHalo")] = def(&_mlir_ciface_ssmcMpiHalo);
  map[interner("_mlir_ciface_ssmcMpiRingAttention")] =
      def(&_mlir_ciface_ssmcMpiRingAttention);
  map[interner("_mlir_ciface_ssmcMpiLocalSeqlens")] =
      def(&_mlir_ciface_ssmcMpiLocalSeqlens);
  map[interner("_mlir_ciface_ssmcMpiSegmentSums")] =
      def(&_mlir_ciface_ssmcMpiSegmentSums);
  map[interner("_mlir_ciface_ssmcMpiPackedHalo")] =
      def(&_mlir_ciface_ssmcMpiPackedHalo);
  map[interner("_mlir_ciface_ssmcMpiPackedFinals")] =
      def(&_mlir_ciface_ssmcMpiPackedFinals);
  for (auto [name, fn] : cuda::runtimeSymbols())
    map[interner(name)] = def(fn);
  map[interner("malloc")] = def(&ssmcTrackedMalloc);
  map[interner("aligned_alloc")] = def(&ssmcTrackedAlignedAlloc);
  map[interner("free")] = def(&ssmcTrackedFree);
  // The OpenMP queries (and the GPU emulator's blocktime setting, an
  // extension of libomp's) come from the runtime the __kmpc_* calls go to:
  // where the process has loaded another OpenMP runtime first (PyTorch
  // brings libgomp), its omp_get_thread_num would answer 0 on libomp's
  // threads.
  static llvm::sys::DynamicLibrary libomp = [] {
    llvm::SmallVector<llvm::StringRef> libs = runtimeLibraries();
    for (llvm::StringRef lib : libs)
      if (lib.ends_with("libomp.so"))
        return llvm::sys::DynamicLibrary::getPermanentLibrary(lib.str().c_str());
    return llvm::sys::DynamicLibrary();
  }();
  if (libomp.isValid())
    for (const char *name :
         {"omp_get_thread_num", "omp_get_num_threads", "omp_get_max_threads",
          "omp_set_num_threads", "omp_in_parallel", "omp_get_level",
          "omp_get_ancestor_thread_num", "omp_get_team_size",
          "omp_get_num_procs", "omp_get_wtime", "kmp_set_blocktime"})
      if (void *fn = libomp.getAddressOfSymbol(name))
        map[interner(name)] = llvm::orc::ExecutorSymbolDef(
            llvm::orc::ExecutorAddr::fromPtr(fn),
            llvm::JITSymbolFlags::Exported);
  return map;
}

/// The stages of Jit::compile, each filling in `program` for the next; a
/// failed stage ends the compilation with the diagnostics so far.
class Compiler {
public:
  Compiler(Program &program, llvm::StringRef source,
           llvm::StringRef bufferName)
      : program(program), options(program.options), bufferName(bufferName),
        cudaTarget(options.target == Target::CUDA),
        diagnostics(program.context, source, bufferName) {
    pipeline.threads = options.threads;
    pipeline.vectorBits =
        options.vectorBits ? options.vectorBits : hostVectorBits();
    llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
    pipeline.avx512 = host.lookup("avx512f");
    // Dot-product instructions of the low-precision matmul kernels, where
    // the host has them (the code is compiled for the host CPU).
    std::string dots;
    for (const char *f : {"avx512bf16", "avx512vnni"})
      if (host.lookup(f))
        dots += (dots.empty() ? "" : ",") + std::string(f);
    pipeline.cpuFeatures = dots;
    // Under the test driver (test/fakecuda) kernels run as host twins.
    gpu.hostTwins =
        cudaTarget && (options.hostTwins || ssmcCudaHostTwinsWanted());
  }

  Error run() {
    if (cudaTarget)
      if (Error e = configureGPU(gpu, options))
        return e;
    if (Error e = parse())
      return e;
    if (Error e = shardSequence())
      return e;
    if (Error e = describeEntries())
      return e;
    dump(Stage::MLIR);
    dropShardMarks();
    if (Error e = lowerToLoops())
      return e;
    noteLoweringDecisions();
    if (Error e = lowerToLLVMDialect())
      return e;
    if (Error e = createEngine())
      return e;
    registerRuntimeSymbols();
    if (cudaTarget)
      (void)cuda::takeLoadError(); // not this program's
    program.engine->initialize(); // global constructors load the modules
    if (cudaTarget)
      if (std::optional<std::string> e = cuda::takeLoadError())
        return diagnostics.fail(bufferName + ": " + *e);
    return generateCode();
  }

private:
  Error parse() {
    program.module = diagnostics.parse(program.context);
    if (!program.module)
      return diagnostics.fail(bufferName + ": invalid program");
    return Error::success();
  }

  /// With JitOptions::shardSequence, each rank's program: its slice of the
  /// sequence, the incoming state from the ranks before it.
  Error shardSequence() {
    if (!options.shardSequence && options.shardSequenceFunctions.empty())
      return Error::success();
    if (options.target != Target::CPU)
      return makeError("sequence parallelism (shardSequence) needs the CPU "
                       "target");
    PassManager pm(&program.context);
    SSMShardSequenceOptions shardOptions;
    if (!options.shardSequence)
      shardOptions.functions.assign(options.shardSequenceFunctions.begin(),
                                    options.shardSequenceFunctions.end());
    shardOptions.rescan = options.shardRescan;
    pm.addPass(createSSMShardSequence(shardOptions));
    if (failed(pm.run(*program.module)))
      return diagnostics.fail(bufferName +
                              ": cannot distribute the sequence over ranks");
    return Error::success();
  }

  /// The split marks have been read into FunctionInfo; they mean nothing to
  /// the lowering (LLVM would warn about unknown parameter attributes).
  void dropShardMarks() {
    if (!options.shardSequence)
      return;
    for (auto fn : program.module->getOps<func::FuncOp>()) {
      for (unsigned i = 0; i < fn.getNumArguments(); ++i)
        fn.removeArgAttr(i, StringAttr::get(fn.getContext(), "ssm.seq_dim"));
      for (unsigned i = 0; i < fn.getNumResults(); ++i) {
        fn.removeResultAttr(i, StringAttr::get(fn.getContext(), "ssm.seq_dim"));
        fn.removeResultAttr(i, StringAttr::get(fn.getContext(), "ssm.seq_last"));
      }
    }
  }

  /// The declared type of every public function's arguments and results.
  Error describeEntries() {
    for (auto fn : program.module->getOps<func::FuncOp>()) {
      if (fn.isPrivate() || fn.isExternal())
        continue;
      Expected<FunctionInfo> info = describeEntry(fn);
      if (!info)
        return info.takeError();
      program.functions.push_back(std::move(*info));
    }
    return Error::success();
  }

  static Expected<FunctionInfo> describeEntry(func::FuncOp fn) {
    FunctionInfo info;
    info.name = fn.getSymName().str();
    FunctionType ft = fn.getFunctionType();
    for (auto [i, t] : llvm::enumerate(ft.getInputs())) {
      auto a = argInfoOf(t, "argument #" + llvm::Twine(i) + " of '" +
                                info.name + "'");
      if (!a)
        return a.takeError();
      if (auto d = fn.getArgAttrOfType<IntegerAttr>(i, "ssm.seq_dim"))
        a->seqDim = static_cast<int>(d.getInt());
      info.inputs.push_back(*a);
      auto name = fn.getArgAttrOfType<StringAttr>(i, "ssm.name");
      info.argNames.push_back(name ? name.str() : "arg" + std::to_string(i));
    }
    for (auto [i, t] : llvm::enumerate(ft.getResults())) {
      auto a = argInfoOf(t, "result #" + llvm::Twine(i) + " of '" + info.name +
                                "'");
      if (!a)
        return a.takeError();
      if (!a->isTensor)
        return makeError("result #" + llvm::Twine(i) + " of '" + info.name +
                         "' is a scalar; entry functions return tensors "
                         "(wrap it in a tensor<1x...>)");
      if (auto d = fn.getResultAttrOfType<IntegerAttr>(i, "ssm.seq_dim"))
        a->seqDim = static_cast<int>(d.getInt());
      a->seqLast = static_cast<bool>(fn.getResultAttr(i, "ssm.seq_last"));
      info.results.push_back(*a);
    }
    return info;
  }

  /// ssm -> fused loops on buffers, and GPU kernels for the CUDA target (on
  /// the GPU emulator, the same kernels as host loops).
  Error lowerToLoops() {
    PassManager pm(&program.context);
    const bool emulated = options.target == Target::GPUEmulator;
    if (failed(cudaTarget ? buildSSMToKernelsStage(pm, gpu, pipeline)
               : emulated ? buildSSMToEmulatedKernelsStage(pm, pipeline)
                          : buildSSMToLoopsStage(pm, pipeline)) ||
        failed(pm.run(*program.module)))
      return diagnostics.fail(bufferName +
                              (cudaTarget
                                   ? ": lowering to GPU kernels and loops failed"
                                   : ": lowering to loops failed"));
    dump(Stage::Loops);
    if (cudaTarget && options.dumpIR)
      dumpPTX();
    return Error::success();
  }

  /// What the lowering decided that calls need: the message of every
  /// run-time check, and which entries became destination-passing (those
  /// whose results are all static).
  void noteLoweringDecisions() {
    ModuleOp module = *program.module;
    if (auto checks = module->getAttrOfType<ArrayAttr>("ssm.runtime_checks"))
      for (Attribute a : checks)
        program.runtimeChecks.push_back(cast<StringAttr>(a).str());
    for (FunctionInfo &info : program.functions)
      if (auto fn = module.lookupSymbol<func::FuncOp>(info.name))
        info.outParams = fn->hasAttr("ssm.out_params");
  }

  Error lowerToLLVMDialect() {
    PassManager pm(&program.context);
    if (failed(cudaTarget ? buildGPUHostToLLVMStage(pm, pipeline, gpu.hostTwins)
                          : buildLoopsToLLVMStage(pm, pipeline)) ||
        failed(pm.run(*program.module)))
      return diagnostics.fail(bufferName +
                              ": lowering to the LLVM dialect failed");
    dump(Stage::LLVMDialect);
    return Error::success();
  }

  /// The execution engine, generating code for the host CPU with its real
  /// features.
  Error createEngine() {
    initNativeTarget();
    auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
    if (!tmBuilder)
      return tmBuilder.takeError();
    auto tm = tmBuilder->createTargetMachine();
    if (!tm)
      return tm.takeError();
    llvm::SmallVector<llvm::StringRef> libs = runtimeLibraries();
    ExecutionEngineOptions eo;
    program.transformer = optimizer(**tm);
    eo.transformer = program.transformer;
    eo.jitCodeGenOptLevel =
        static_cast<llvm::CodeGenOptLevel>(options.optLevel);
    eo.sharedLibPaths = libs;
    eo.enableGDBNotificationListener = false;
    eo.enablePerfNotificationListener = std::getenv("SSMC_JIT_PERF") != nullptr;
    eo.enableObjectDump = options.keepObject;
    auto engine = ExecutionEngine::create(*program.module, eo, std::move(*tm));
    if (!engine)
      return diagnostics.fail(bufferName + ": JIT compilation failed: " +
                              llvm::toString(engine.takeError()));
    program.engine = std::move(*engine);
    return Error::success();
  }

  /// What the engine does to the translated module before code generation:
  /// tag every function with `tm`'s CPU and features, optimise, dump.
  std::function<Error(llvm::Module *)> optimizer(llvm::TargetMachine &tm) {
    std::string cpu = tm.getTargetCPU().str();
    std::string features = tm.getTargetFeatureString().str();
    auto optimize = makeOptimizingTransformer(options.optLevel, 0, &tm);
    auto dumpIR = options.dumpIR;
    return [cpu, features, optimize, dumpIR](llvm::Module *m) -> Error {
      for (llvm::Function &f : *m)
        if (!f.isDeclaration()) {
          f.addFnAttr("target-cpu", cpu);
          f.addFnAttr("target-features", features);
        }
      if (Error e = optimize(m))
        return e;
      if (dumpIR) {
        std::string text;
        llvm::raw_string_ostream os(text);
        m->print(os, nullptr);
        dumpIR(Stage::LLVMIR, text);
      }
      return Error::success();
    };
  }

  /// The functions the compiled code calls that the JIT provides.
  void registerRuntimeSymbols() {
    program.engine->registerSymbols(runtimeSymbolMap);
  }

  /// The engine optimises and generates machine code on first lookup; look
  /// every entry up now, so compile() includes code generation (and reports
  /// its failures) rather than the first call.
  Error generateCode() {
    for (const FunctionInfo &fn : program.functions) {
      auto sym = program.engine->lookupPacked("_mlir_ciface_" + fn.name);
      if (!sym)
        return diagnostics.fail(bufferName +
                                ": JIT code generation failed for @" +
                                fn.name + ": " +
                                llvm::toString(sym.takeError()));
      program.entryPoints.push_back(*sym);
    }
    return Error::success();
  }

  void dump(Stage s) {
    if (!options.dumpIR)
      return;
    std::string text;
    llvm::raw_string_ostream os(text);
    program.module->print(os);
    options.dumpIR(s, text);
  }

  /// The PTX of every GPU kernel module (a fatbin object is named with its
  /// size only: JitOptions::GPUBinary::PTX gives the text).
  void dumpPTX() {
    std::string ptx;
    program.module->walk([&](gpu::BinaryOp bin) {
      for (Attribute o : bin.getObjects()) {
        auto obj = dyn_cast<gpu::ObjectAttr>(o);
        if (!obj)
          continue;
        if (obj.getFormat() == gpu::CompilationTarget::Assembly)
          ptx += "//--- " + bin.getSymName().str() + ".ptx\n" +
                 obj.getObject().str();
        else
          ptx += "// " + bin.getSymName().str() + ": a binary object of " +
                 std::to_string(obj.getObject().size()) + " bytes\n";
      }
    });
    options.dumpIR(Stage::PTX, ptx);
  }

  Program &program;
  const JitOptions &options;
  std::string bufferName;
  const bool cudaTarget;
  CPUPipelineOptions pipeline;
  NVPTXPipelineOptions gpu;
  SourceDiagnostics diagnostics;
};

} // namespace

Expected<std::unique_ptr<Jit>> Jit::compile(llvm::StringRef source,
                                            const JitOptions &options,
                                            llvm::StringRef bufferName) {
  if (Error e = checkOptions(options))
    return std::move(e);
  if (!options.cacheDir.empty() && options.target != Target::CUDA &&
      !options.dumpIR && !options.keepObject)
    return compileThroughCache(source, options, bufferName);
  ssmc::registerAllPasses();
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  initContext(impl->context);
  if (Error e = Compiler(*impl, source, bufferName).run())
    return std::move(e);
  return std::unique_ptr<Jit>(new Jit(std::move(impl)));
}

//===----------------------------------------------------------------------===//
// Saved programs
//===----------------------------------------------------------------------===//
//
// A saved program is one file:
//   "SSMCJIT\n", u32 format version, u32 target,
//   the entries (name, destination passing, argument names and types,
//   result types; each type with its sequence dimension and final-state
//   mark under sequence parallelism), the run-time check messages, the
//   object code,
//   then the xxh3 checksum of everything before it.
// Integers are little-endian; strings and the object are length-prefixed.

namespace {

constexpr llvm::StringLiteral kSavedMagic = "SSMCJIT\n";
constexpr uint32_t kSavedFormat = 2;

class SavedWriter {
public:
  void u32(uint32_t v) { bytes(&v, sizeof v); }
  void u64(uint64_t v) { bytes(&v, sizeof v); }
  void str(llvm::StringRef s) {
    u64(s.size());
    bytes(s.data(), s.size());
  }
  void argInfo(const ArgInfo &a) {
    u32(a.isTensor);
    u32(static_cast<uint32_t>(a.dtype));
    u32(a.shape.size());
    for (int64_t d : a.shape)
      u64(static_cast<uint64_t>(d));
    u32(static_cast<uint32_t>(a.seqDim + 1)); // 0: not split
    u32(a.seqLast);
  }
  void bytes(const void *p, size_t n) {
    out.append(static_cast<const char *>(p), n);
  }
  std::string out;
};

class SavedReader {
public:
  explicit SavedReader(llvm::StringRef in) : in(in) {}

  bool u32(uint32_t &v) { return bytes(&v, sizeof v); }
  bool u64(uint64_t &v) { return bytes(&v, sizeof v); }
  bool str(std::string &s) {
    uint64_t n;
    if (!u64(n) || n > in.size() - at)
      return false;
    s.assign(in.data() + at, n);
    at += n;
    return true;
  }
  bool argInfo(ArgInfo &a) {
    uint32_t isTensor, dtype, rank;
    if (!u32(isTensor) || !u32(dtype) || !u32(rank) ||
        dtype > static_cast<uint32_t>(DType::I64) || rank > 64)
      return false;
    a.isTensor = isTensor;
    a.dtype = static_cast<DType>(dtype);
    a.shape.resize(rank);
    for (int64_t &d : a.shape) {
      uint64_t v;
      if (!u64(v))
        return false;
      d = static_cast<int64_t>(v);
    }
    uint32_t seqDim, seqLast;
    if (!u32(seqDim) || !u32(seqLast) || seqDim > rank || seqLast > 1)
      return false;
    a.seqDim = static_cast<int>(seqDim) - 1;
    a.seqLast = seqLast;
    return true;
  }
  bool bytes(void *p, size_t n) {
    if (n > in.size() - at)
      return false;
    std::memcpy(p, in.data() + at, n);
    at += n;
    return true;
  }
  /// A length-prefixed string, as a view of the input.
  bool view(llvm::StringRef &s) {
    uint64_t n;
    if (!u64(n) || n > in.size() - at)
      return false;
    s = in.substr(at, n);
    at += n;
    return true;
  }
  bool done() const { return at == in.size(); }

private:
  llvm::StringRef in;
  size_t at = 0;
};

/// Whether `object` has sections of global constructors, which a loaded
/// program would not run.
Expected<bool> hasConstructors(llvm::MemoryBufferRef object) {
  auto file = llvm::object::ObjectFile::createObjectFile(object);
  if (!file)
    return file.takeError();
  for (const llvm::object::SectionRef &section : (*file)->sections()) {
    Expected<llvm::StringRef> name = section.getName();
    if (!name)
      return name.takeError();
    if (name->starts_with(".init_array") || name->starts_with(".ctors"))
      return true;
  }
  return false;
}

} // namespace

Error Jit::save(llvm::StringRef path) const {
  if (!impl->engine)
    return makeError("a loaded program cannot be saved again");
  if (!impl->options.keepObject)
    return makeError("saving a program needs JitOptions::keepObject");
  if (impl->options.target == Target::CUDA)
    return makeError("CUDA programs cannot be saved (their kernels are "
                     "loaded by global constructors)");
  // The engine writes its object to a file; read it back.
  llvm::SmallString<128> objectPath;
  if (std::error_code ec = llvm::sys::fs::createTemporaryFile(
          "ssmc-object", "o", objectPath))
    return makeError("cannot create a temporary file: " + ec.message());
  impl->engine->dumpToObjectFile(objectPath);
  auto object = llvm::MemoryBuffer::getFile(objectPath);
  llvm::sys::fs::remove(objectPath);
  if (!object || (*object)->getBufferSize() == 0)
    return makeError("the program's object code is not available");
  Expected<bool> ctors = hasConstructors((*object)->getMemBufferRef());
  if (!ctors)
    return ctors.takeError();
  if (*ctors)
    return makeError("the program has global constructors, which a loaded "
                     "program would not run");

  SavedWriter w;
  w.bytes(kSavedMagic.data(), kSavedMagic.size());
  w.u32(kSavedFormat);
  w.u32(static_cast<uint32_t>(impl->options.target));
  w.u32(impl->functions.size());
  for (const FunctionInfo &fn : impl->functions) {
    w.str(fn.name);
    w.u32(fn.outParams);
    w.u32(fn.inputs.size());
    for (size_t i = 0; i < fn.inputs.size(); ++i) {
      w.str(fn.argNames[i]);
      w.argInfo(fn.inputs[i]);
    }
    w.u32(fn.results.size());
    for (const ArgInfo &r : fn.results)
      w.argInfo(r);
  }
  w.u32(impl->runtimeChecks.size());
  for (const std::string &check : impl->runtimeChecks)
    w.str(check);
  w.str((*object)->getBuffer());
  w.u64(llvm::xxh3_64bits(w.out));

  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return makeError(path + ": cannot write: " + ec.message());
  out << w.out;
  out.close();
  if (out.has_error())
    return makeError(path + ": cannot write: " + out.error().message());
  return Error::success();
}

namespace {

/// Reads the description part of a saved program into `program`, and
/// returns its object code.
Expected<llvm::StringRef> readSaved(llvm::StringRef data, Program &program,
                                    llvm::StringRef path) {
  auto bad = [&](const llvm::Twine &why) {
    return makeError(path + ": not a saved ssmc program (" + why + ")");
  };
  if (!data.starts_with(kSavedMagic))
    return bad("no header");
  if (data.size() < kSavedMagic.size() + 8)
    return bad("truncated");
  llvm::StringRef body = data.drop_back(8);
  uint64_t checksum;
  std::memcpy(&checksum, data.end() - 8, 8);
  if (checksum != llvm::xxh3_64bits(body))
    return bad("checksum mismatch: damaged or truncated");
  SavedReader r(body.drop_front(kSavedMagic.size()));
  uint32_t format, target, count;
  if (!r.u32(format) || format != kSavedFormat)
    return bad("format version " + llvm::Twine(format) + ", expected " +
               llvm::Twine(kSavedFormat));
  if (!r.u32(target) || target != static_cast<uint32_t>(program.options.target))
    return bad("compiled for another target");
  if (!r.u32(count))
    return bad("truncated");
  for (uint32_t f = 0; f < count; ++f) {
    FunctionInfo fn;
    uint32_t outParams, inputs, results;
    if (!r.str(fn.name) || !r.u32(outParams) || !r.u32(inputs))
      return bad("truncated");
    fn.outParams = outParams;
    fn.inputs.resize(inputs);
    fn.argNames.resize(inputs);
    for (uint32_t i = 0; i < inputs; ++i)
      if (!r.str(fn.argNames[i]) || !r.argInfo(fn.inputs[i]))
        return bad("truncated");
    if (!r.u32(results))
      return bad("truncated");
    fn.results.resize(results);
    for (ArgInfo &a : fn.results)
      if (!r.argInfo(a))
        return bad("truncated");
    program.functions.push_back(std::move(fn));
  }
  if (!r.u32(count))
    return bad("truncated");
  program.runtimeChecks.resize(count);
  for (std::string &check : program.runtimeChecks)
    if (!r.str(check))
      return bad("truncated");
  // The object is the rest, returned as a view into `data`.
  llvm::StringRef object;
  if (!r.view(object) || !r.done())
    return bad("the object's size does not match the file's");
  return object;
}

} // namespace

Expected<std::unique_ptr<Jit>> Jit::load(llvm::StringRef path,
                                         const JitOptions &options) {
  auto file = llvm::MemoryBuffer::getFile(path);
  if (!file)
    return makeError(path + ": cannot read: " + file.getError().message());
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  Expected<llvm::StringRef> object =
      readSaved((*file)->getBuffer(), *impl, path);
  if (!object)
    return object.takeError();

  // The engine's set-up (ExecutionEngine::create): RuntimeDyld linking,
  // the runtime libraries and this process's symbols, the JIT's own
  // runtime symbols first.
  initNativeTarget();
  auto tmBuilder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!tmBuilder)
    return tmBuilder.takeError();
  auto dataLayout = tmBuilder->getDefaultDataLayoutForTarget();
  if (!dataLayout)
    return dataLayout.takeError();
  auto jit =
      llvm::orc::LLJITBuilder()
          .setJITTargetMachineBuilder(*tmBuilder)
          .setObjectLinkingLayerCreator(
              [](llvm::orc::ExecutionSession &session)
                  -> Expected<std::unique_ptr<llvm::orc::ObjectLayer>> {
                return std::make_unique<llvm::orc::RTDyldObjectLinkingLayer>(
                    session, [](const llvm::MemoryBuffer &) {
                      return std::make_unique<llvm::SectionMemoryManager>();
                    });
              })
          .create();
  if (!jit)
    return jit.takeError();
  llvm::orc::JITDylib &main = (*jit)->getMainJITDylib();
  llvm::orc::MangleAndInterner interner((*jit)->getExecutionSession(),
                                        (*jit)->getDataLayout());
  if (Error e = main.define(
          llvm::orc::absoluteSymbols(runtimeSymbolMap(interner))))
    return std::move(e);
  char prefix = (*jit)->getDataLayout().getGlobalPrefix();
  for (llvm::StringRef lib : runtimeLibraries()) {
    auto generator = llvm::orc::DynamicLibrarySearchGenerator::Load(
        lib.str().c_str(), prefix);
    if (!generator)
      return generator.takeError();
    main.addGenerator(std::move(*generator));
  }
  auto process =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(prefix);
  if (!process)
    return process.takeError();
  main.addGenerator(std::move(*process));
  if (Error e = (*jit)->addObjectFile(
          llvm::MemoryBuffer::getMemBufferCopy(*object, path)))
    return std::move(e);
  for (const FunctionInfo &fn : impl->functions) {
    auto sym = (*jit)->lookup("_mlir__mlir_ciface_" + fn.name);
    if (!sym)
      return makeError(path + ": cannot link entry '" + fn.name +
                       "': " + llvm::toString(sym.takeError()));
    impl->entryPoints.push_back(sym->toPtr<PackedFunction>());
  }
  impl->loaded = std::move(*jit);
  return std::unique_ptr<Jit>(new Jit(std::move(impl)));
}

namespace {

/// Memref descriptors for a call, with contiguous copies of strided tensors.
class CallFrame {
public:
  /// Adds tensor `t` (already checked against its declared type) as a
  /// descriptor argument; strided tensors are staged in a contiguous copy
  /// (copied in when `copyIn`, copied back by finish() when `copyOut`).
  void addTensor(const Tensor &t, bool copyIn, bool copyOut) {
    void *data = t.data;
    if (!t.isContiguous()) {
      staged.push_back({OwnedTensor(t.dtype, t.shape), copyOut ? t : Tensor()});
      if (copyIn)
        copyToContiguous(t, staged.back().copy.data());
      data = staged.back().copy.data();
    }
    size_t rank = t.shape.size();
    auto desc = std::make_unique<int64_t[]>(abi::descriptorWords(rank));
    std::vector<int64_t> strides = contiguousStrides(t.shape);
    abi::DescriptorRef(desc.get(), rank).set(data, t.shape.data(),
                                              strides.data());
    pointers.push_back(std::make_unique<void *>(desc.get()));
    args.push_back(pointers.back().get());
    descriptors.push_back(std::move(desc));
  }
  void addScalar(const Tensor &t) {
    scalars.push_back(std::make_unique<int64_t>(0));
    std::memcpy(scalars.back().get(), t.data, dtypeSize(t.dtype));
    args.push_back(scalars.back().get());
  }
  /// Copies staged outputs back to their strided destinations.
  void finish() {
    for (Staged &s : staged)
      if (s.destination.data)
        copyFromContiguous(s.copy.data(), s.destination);
  }
  llvm::SmallVector<void *> args;

private:
  struct Staged {
    OwnedTensor copy;
    Tensor destination;
  };
  std::vector<Staged> staged;
  std::vector<std::unique_ptr<int64_t[]>> descriptors;
  std::vector<std::unique_ptr<void *>> pointers;
  std::vector<std::unique_ptr<int64_t>> scalars;
};

/// Checks `t` against the declared `want`; `what` names it in the message
/// (built only for one).
Error checkTensor(const Tensor &t, const ArgInfo &want, llvm::function_ref<std::string()> what,
                  bool exactShape, Target target) {
  if (t.device != Device::CPU) {
    if (target != Target::CUDA)
      return makeError(what() + " is on a CUDA device; the " +
                       (target == Target::CPU ? "CPU" : "gpu-emulator") +
                       " target needs host tensors");
    if (!t.isContiguous())
      return makeError(what() + " is a strided view of device memory; device "
                              "tensors must be contiguous");
  }
  if (t.dtype != want.dtype)
    return makeError(what() + " must have dtype " + dtypeName(want.dtype) +
                     ", got " + dtypeName(t.dtype));
  if (!want.isTensor) {
    if (t.rank() != 0)
      return makeError(what() + " is a scalar: pass a rank-0 tensor, got shape " +
                       formatShape(t.shape));
    if (!t.data)
      return makeError(what() + " has no data");
    return Error::success();
  }
  if (t.rank() != static_cast<int64_t>(want.shape.size()))
    return makeError(what() + " must have rank " +
                     llvm::Twine(want.shape.size()) + ", got shape " +
                     formatShape(t.shape));
  for (size_t d = 0; d < want.shape.size(); ++d)
    if ((want.shape[d] >= 0 || exactShape) && want.shape[d] != t.shape[d])
      return makeError(what() + " must have shape " + formatShape(want.shape) +
                       ", got " + formatShape(t.shape));
  if (!t.strides.empty() && t.strides.size() != t.shape.size())
    return makeError(what() + " has " + llvm::Twine(t.strides.size()) +
                     " strides for rank " + llvm::Twine(t.rank()));
  if (!t.data && t.numel() != 0)
    return makeError(what() + " has no data");
  return Error::success();
}

/// One call of an entry, in stages: its arguments checked and laid out,
/// the call, the results it returned taken over, its run-time shape checks.
class EntryCall {
public:
  EntryCall(Program &program, const FunctionInfo &fn)
      : program(program), fn(fn) {}
  EntryCall(const EntryCall &) = delete; // frame.args points into it

  /// Checks `inputs` against the entry's arguments and lays out the call:
  /// the returned results' descriptors (if any), the inputs, then the
  /// destination-passing results `outParams`.
  Error frameArguments(llvm::ArrayRef<Tensor> inputs,
                       llvm::ArrayRef<Tensor> outParams) {
    if (inputs.size() != fn.inputs.size())
      return inputCountError(inputs.size());
    // Returned results come back through a pointer to their descriptors.
    if (!fn.outParams && !fn.results.empty()) {
      size_t words = 0;
      for (const ArgInfo &r : fn.results)
        words += abi::descriptorWords(r.shape.size());
      resultStorage.assign(words, 0);
      resultPtr = resultStorage.data();
      frame.args.push_back(&resultPtr);
    }
    for (auto [i, t] : llvm::enumerate(inputs)) {
      const ArgInfo &want = fn.inputs[i];
      auto what = [&, i = i] {
        return "input #" + std::to_string(i) + " of '" + fn.name + "' (" +
               describe(want) + ")";
      };
      if (Error e = checkTensor(t, want, what, /*exactShape=*/false,
                                program.options.target))
        return e;
      if (want.isTensor)
        frame.addTensor(t, /*copyIn=*/true, /*copyOut=*/false);
      else
        frame.addScalar(t);
    }
    for (const Tensor &t : outParams)
      frame.addTensor(t, /*copyIn=*/false, /*copyOut=*/true);
    return Error::success();
  }

  /// Runs the entry; `peakHeapBytes` receives the heap it held at most.
  Error invoke(std::atomic<size_t> &peakHeapBytes) {
    const bool cudaTarget = program.options.target == Target::CUDA;
    if (cudaTarget)
      if (Error e = cuda::available())
        return e;
    abi::clearShapeError();
    size_t heapBefore = abi::startHeapPeak();
    program.entryPoints[&fn - program.functions.data()](frame.args.data());
    peakHeapBytes = abi::heapPeakAbove(heapBefore);
    if (cudaTarget)
      if (std::optional<std::string> e = cuda::takeError()) {
        frame.finish();
        return makeError("CUDA error while running '" + fn.name + "': " + *e);
      }
    shapeError = abi::takeShapeError();
    frame.finish();
    return Error::success();
  }

  /// Hands the buffers the entry returned to owned tensors (appended to
  /// `returned` if given): a contiguous buffer is adopted as it is (no
  /// copy, and no fresh pages: the tensor gives it back to the tracked
  /// allocator's cache when it dies); a strided view, or a second result
  /// in the same buffer, is copied. Without `returned`, frees them.
  void takeResults(std::vector<OwnedTensor> *returned) {
    if (fn.outParams)
      return;
    std::set<void *> taken;
    std::vector<void *> toFree;
    size_t at = 0;
    for (const ArgInfo &r : fn.results) {
      size_t rank = r.shape.size();
      abi::DescriptorRef desc(&resultStorage[at], rank);
      at += abi::descriptorWords(rank);
      void *allocated = desc.allocated();
      Tensor view;
      view.dtype = r.dtype;
      view.data = desc.data(dtypeSize(r.dtype));
      view.shape.assign(desc.sizes(), desc.sizes() + rank);
      view.strides.assign(desc.strides(), desc.strides() + rank);
      bool first = allocated && taken.insert(allocated).second;
      if (!returned) {
        if (first)
          toFree.push_back(allocated);
        continue;
      }
      if (first && view.isContiguous() && numElements(view.shape) != 0) {
        returned->push_back(OwnedTensor::adopt(r.dtype, view.shape, view.data,
                                               allocated, &ssmcTrackedFree));
        continue;
      }
      OwnedTensor out(r.dtype, view.shape);
      if (out.numel() != 0)
        copyToContiguous(view, out.data());
      returned->push_back(std::move(out));
      if (first)
        toFree.push_back(allocated);
    }
    // A buffer adopted by one result may hold another's view: free the
    // others only after every copy.
    for (void *p : toFree)
      ssmcTrackedFree(p);
  }

  /// The first run-time shape check the call failed, as an error.
  Error checkShapes() const {
    if (!shapeError)
      return Error::success();
    const std::vector<std::string> &checks = program.runtimeChecks;
    std::string what = shapeError->id >= 0 &&
                               size_t(shapeError->id) < checks.size()
                           ? checks[shapeError->id]
                           : "shape check #" + std::to_string(shapeError->id);
    return makeError("run-time shape mismatch in '" + fn.name + "': " + what +
                     " (got " + llvm::Twine(shapeError->got) + ", expected " +
                     llvm::Twine(shapeError->want) + ")");
  }

private:
  Error inputCountError(size_t got) const {
    std::string sig;
    for (const ArgInfo &a : fn.inputs)
      sig += (sig.empty() ? "" : ", ") + describe(a);
    return makeError("'" + fn.name + "' takes " +
                     llvm::Twine(fn.inputs.size()) + " inputs (" + sig +
                     "), got " + llvm::Twine(got));
  }

  Program &program;
  const FunctionInfo &fn;
  CallFrame frame;
  std::vector<int64_t> resultStorage;
  void *resultPtr = nullptr;
  std::optional<abi::ShapeError> shapeError;
};

} // namespace

Error Jit::call(const FunctionInfo &fn, llvm::ArrayRef<Tensor> inputs,
                llvm::ArrayRef<Tensor> outParams,
                std::vector<OwnedTensor> *returned) {
  EntryCall entryCall(*impl, fn);
  if (Error e = entryCall.frameArguments(inputs, outParams))
    return e;
  if (Error e = entryCall.invoke(impl->lastCallPeakBytes))
    return e;
  entryCall.takeResults(returned);
  return entryCall.checkShapes();
}

Expected<std::vector<OwnedTensor>> Jit::run(llvm::StringRef entry,
                                            llvm::ArrayRef<Tensor> inputs) {
  Expected<const FunctionInfo *> fnOr = function(entry);
  if (!fnOr)
    return fnOr.takeError();
  const FunctionInfo &fn = **fnOr;
  std::vector<OwnedTensor> results;
  if (fn.outParams) {
    // Static result shapes: the entry writes straight into these (every
    // element, so they need no zeroing). They come from the tracked
    // allocator, whose cache hands a result freed since the last call back
    // with its pages already mapped: a fresh 42 MB result page-faulted
    // 10,000 times a call.
    std::vector<Tensor> views;
    for (const ArgInfo &r : fn.results) {
      size_t bytes = std::max<size_t>(
          64, (numElements(r.shape) * dtypeSize(r.dtype) + 63) / 64 * 64);
      void *p = ssmcTrackedAlignedAlloc(64, bytes);
      if (!p)
        return makeError("out of memory for a result of " +
                         llvm::Twine(bytes) + " bytes");
      results.push_back(
          OwnedTensor::adopt(r.dtype, r.shape, p, p, &ssmcTrackedFree));
    }
    for (OwnedTensor &t : results)
      views.push_back(t.view());
    if (Error e = call(fn, inputs, views, nullptr))
      return std::move(e);
    return results;
  }
  if (Error e = call(fn, inputs, {}, &results))
    return std::move(e);
  return results;
}

Error Jit::invoke(llvm::StringRef entry, llvm::ArrayRef<Tensor> inputs,
                  llvm::ArrayRef<Tensor> outputs) {
  Expected<const FunctionInfo *> fnOr = function(entry);
  if (!fnOr)
    return fnOr.takeError();
  const FunctionInfo &fn = **fnOr;
  if (outputs.size() != fn.results.size())
    return makeError("'" + entry + "' returns " +
                     llvm::Twine(fn.results.size()) + " results, got " +
                     llvm::Twine(outputs.size()) + " output tensors");
  if (fn.outParams) {
    // Destination passing: no allocation, no copy for contiguous outputs.
    for (auto [i, out] : llvm::enumerate(outputs))
      if (Error e = checkTensor(
              out, fn.results[i],
              [&, i = i] {
                return "output #" + std::to_string(i) + " of '" + entry.str() +
                       "' (" + describe(fn.results[i]) + ")";
              },
              /*exactShape=*/true, impl->options.target))
        return e;
    return call(fn, inputs, outputs, nullptr);
  }
  std::vector<OwnedTensor> results;
  if (Error e = call(fn, inputs, {}, &results))
    return e;
  for (auto [i, out] : llvm::enumerate(outputs)) {
    const OwnedTensor &r = results[i];
    if (out.dtype != r.dtype() || out.shape != r.shape())
      return makeError("output #" + llvm::Twine(i) + " of '" + entry +
                       "' must be " + dtypeName(r.dtype()) + " of shape " +
                       formatShape(r.shape()) + ", got " +
                       dtypeName(out.dtype) + " of shape " +
                       formatShape(out.shape));
    if (out.device != Device::CPU &&
        (impl->options.target != Target::CUDA || !out.isContiguous()))
      return makeError("output #" + llvm::Twine(i) +
                       " is on a CUDA device; only the CUDA target takes "
                       "contiguous device outputs");
    if (r.numel() != 0)
      copyFromContiguous(r.data(), out);
  }
  return Error::success();
}

} // namespace ssmc
