//===- HostTwinWrappers.cpp - the ssm-gpu-host-twin-wrappers pass ---------===//
//
// After LLVM lowering, makes the host twins ssm-gpu-host-twins wrote
// callable the way a driver calls a kernel, and registers them:
//  - per twin, `void <twin>_packed(void **args)`: args[0..n-1] are the
//    kernel's parameters exactly as cuLaunchKernel's kernelParams (one
//    pointer per LLVM-level kernel argument: gpu-to-llvm passes a memref as
//    its expanded descriptor, as func-to-llvm expands the twin's), then
//    pointers to the int64 grid x/y/z, block x/y/z and dynamic
//    shared-memory size (the bytes the twin's block gets, as on the GPU);
//  - a global constructor calling ssmcCudaRegisterHostTwin(hash, kernel,
//    wrapper) per twin, the hash being the 64-bit FNV-1a of the gpu.binary
//    object (PTX text up to its first NUL) that cuModuleLoadData receives.
// It checks that every gpu.launch_func of a kernel passes the argument
// types its twin unpacks.
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPUHOSTTWINWRAPPERS
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kTwinAttr = "ssm_gpu.host_twin";
constexpr llvm::StringLiteral kRegister = "ssmcCudaRegisterHostTwin";
constexpr llvm::StringLiteral kCtor = "__ssmc_register_host_twins";
constexpr llvm::StringLiteral kCInterfacePrefix = "_mlir_ciface_";
/// Grid x/y/z and block x/y/z follow the kernel's arguments.
constexpr unsigned kLaunchSizes = 7;

/// The image hash of the host-twin interface (runtime/cuda/HostTwin.h):
/// FNV-1a over the bytes before the first NUL of a PTX image.
uint64_t imageHash(llvm::StringRef image) {
  image = image.take_until([](char c) { return c == '\0'; });
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : image) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

class WrapperBuilder {
public:
  explicit WrapperBuilder(ModuleOp module)
      : module(module), ctx(module.getContext()), b(ctx),
        ptrTy(LLVM::LLVMPointerType::get(ctx)) {}

  LogicalResult run();

private:
  struct Twin {
    LLVM::LLVMFuncOp fn;
    SymbolRefAttr kernel;
    uint64_t hash = 0;
    LLVM::LLVMFuncOp packed;
  };

  /// Every twin, its kernel and its binary's hash; the twin (and the C
  /// interface func-to-llvm made of it) become internal.
  LogicalResult collectTwins();
  /// The launches of a twin's kernel pass what its wrapper unpacks.
  LogicalResult checkLaunches();
  /// `void <twin>_packed(ptr args)`: loads each argument, calls the twin.
  void createPackedWrapper(Twin &twin);
  /// The constructor registering every wrapper with the CUDA runtime.
  void createRegistration();

  ModuleOp module;
  MLIRContext *ctx;
  OpBuilder b;
  Type ptrTy;
  SmallVector<Twin> twins;
};

LogicalResult WrapperBuilder::run() {
  if (failed(collectTwins()) || failed(checkLaunches()))
    return failure();
  if (twins.empty())
    return success();
  for (Twin &twin : twins)
    createPackedWrapper(twin);
  createRegistration();
  return success();
}

LogicalResult WrapperBuilder::collectTwins() {
  for (auto fn : module.getOps<LLVM::LLVMFuncOp>()) {
    auto kernel = fn->getAttrOfType<SymbolRefAttr>(kTwinAttr);
    if (!kernel)
      continue;
    // Nothing outside this module calls a twin but through its wrapper, and
    // the tag has no meaning in LLVM IR.
    fn->removeAttr(kTwinAttr);
    fn.setLinkage(LLVM::Linkage::Internal);
    if (fn.getName().starts_with(kCInterfacePrefix))
      continue;
    if (fn.isExternal() || fn.getNumArguments() < kLaunchSizes)
      return fn.emitError("ssm-gpu-host-twin-wrappers: a host twin without a "
                          "body or launch sizes");
    auto binary = module.lookupSymbol<gpu::BinaryOp>(kernel.getRootReference());
    if (!binary)
      return fn.emitError("ssm-gpu-host-twin-wrappers: no gpu.binary @")
             << kernel.getRootReference().getValue()
             << " (run it after gpu-module-to-binary)";
    if (binary.getObjects().size() != 1)
      return binary.emitError("ssm-gpu-host-twin-wrappers: host twins need a "
                              "binary with one object");
    auto object = cast<gpu::ObjectAttr>(binary.getObjects()[0]);
    if (object.getFormat() != gpu::CompilationTarget::Assembly)
      return binary.emitError("ssm-gpu-host-twin-wrappers: host twins are "
                              "keyed by PTX text: the binary must be in "
                              "format 'isa'");
    twins.push_back({fn, kernel, imageHash(object.getObject().getValue()), {}});
  }
  return success();
}

LogicalResult WrapperBuilder::checkLaunches() {
  llvm::DenseMap<SymbolRefAttr, LLVM::LLVMFuncOp> byKernel;
  for (Twin &twin : twins)
    byKernel[twin.kernel] = twin.fn;
  WalkResult walk = module.walk([&](gpu::LaunchFuncOp launch) {
    LLVM::LLVMFuncOp fn = byKernel.lookup(launch.getKernel());
    if (!fn)
      return WalkResult::advance();
    auto params = fn.getArgumentTypes().drop_back(kLaunchSizes);
    auto passed = launch.getKernelOperands().getTypes();
    if (llvm::equal(params, passed))
      return WalkResult::advance();
    launch.emitError("ssm-gpu-host-twin-wrappers: the launch passes ")
        << passed.size() << " kernel arguments, its host twin @"
        << fn.getName() << " takes " << params.size()
        << " (or their types differ)";
    return WalkResult::interrupt();
  });
  return failure(walk.wasInterrupted());
}

void WrapperBuilder::createPackedWrapper(Twin &twin) {
  Location loc = twin.fn.getLoc();
  b.setInsertionPointToEnd(module.getBody());
  auto type = LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptrTy});
  twin.packed = LLVM::LLVMFuncOp::create(b, loc, (twin.fn.getName() + "_packed").str(),
                                         type, LLVM::Linkage::Internal);
  Block *entry = twin.packed.addEntryBlock(b);
  b.setInsertionPointToStart(entry);
  Value args = entry->getArgument(0);
  SmallVector<Value> values;
  for (auto [i, t] : llvm::enumerate(twin.fn.getArgumentTypes())) {
    Value slot = LLVM::GEPOp::create(b, loc, ptrTy, ptrTy, args,
                                     ArrayRef<LLVM::GEPArg>{int32_t(i)});
    Value at = LLVM::LoadOp::create(b, loc, ptrTy, slot);
    values.push_back(LLVM::LoadOp::create(b, loc, t, at));
  }
  LLVM::CallOp::create(b, loc, twin.fn, values);
  LLVM::ReturnOp::create(b, loc, ValueRange{});
}

void WrapperBuilder::createRegistration() {
  Location loc = module.getLoc();
  b.setInsertionPointToEnd(module.getBody());
  if (!module.lookupSymbol(kRegister))
    LLVM::LLVMFuncOp::create(
        b, loc, kRegister,
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx),
                                    {b.getI64Type(), ptrTy, ptrTy}));
  // The kernel names, as C strings.
  SmallVector<LLVM::GlobalOp> names;
  for (auto [i, twin] : llvm::enumerate(twins)) {
    std::string name =
        twin.kernel.getLeafReference().getValue().str() + std::string(1, '\0');
    auto type = LLVM::LLVMArrayType::get(b.getI8Type(), name.size());
    names.push_back(LLVM::GlobalOp::create(
        b, loc, type, /*isConstant=*/true, LLVM::Linkage::Internal,
        (twin.fn.getName() + "_kernel_name").str(), b.getStringAttr(name)));
  }
  auto ctor = LLVM::LLVMFuncOp::create(
      b, loc, kCtor,
      LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {}),
      LLVM::Linkage::Internal);
  b.setInsertionPointToStart(ctor.addEntryBlock(b));
  for (auto [twin, name] : llvm::zip(twins, names)) {
    Value hash = LLVM::ConstantOp::create(
        b, loc, b.getI64Type(), b.getI64IntegerAttr(int64_t(twin.hash)));
    Value kernel = LLVM::AddressOfOp::create(b, loc, name);
    Value wrapper = LLVM::AddressOfOp::create(b, loc, twin.packed);
    LLVM::CallOp::create(b, loc, TypeRange{}, kRegister,
                         ValueRange{hash, kernel, wrapper});
  }
  LLVM::ReturnOp::create(b, loc, ValueRange{});
  // Default priority, as C++ static constructors: the runtime's own state
  // is initialised on first use, whichever runs first.
  b.setInsertionPointToEnd(module.getBody());
  LLVM::GlobalCtorsOp::create(
      b, loc, b.getArrayAttr({FlatSymbolRefAttr::get(ctor)}),
      b.getI32ArrayAttr({65535}), b.getArrayAttr({LLVM::ZeroAttr::get(ctx)}));
}

struct HostTwinWrappersPass
    : public ssmc::impl::SSMGPUHostTwinWrappersBase<HostTwinWrappersPass> {
  void runOnOperation() override {
    if (failed(WrapperBuilder(getOperation()).run()))
      signalPassFailure();
  }
};

} // namespace
