//===- HostTwins.cpp - the ssm-gpu-host-twins pass ------------------------===//
//
// Gives every outlined kernel a host twin: a func.func that runs one whole
// launch of the kernel on the host CPU. Its arguments are the kernel's,
// then the grid and block sizes and the launch's dynamic shared-memory
// bytes; its body is a gpu.launch of those sizes
// holding a clone of the kernel's body (workgroup attributions become the
// launch's, the id and size ops the launch's block arguments), which
// ssm-gpu-emulate then turns into block loops and OpenMP thread regions
// exactly as on the GPU emulator.
//
// With a driver that keeps device memory on the host (the test driver of
// test/fakecuda), the program's real CUDA host path (staging, argument
// marshalling, streams, module loading) then runs every kernel through its
// twin: ssm-gpu-host-twin-wrappers registers them after LLVM lowering.
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPUHOSTTWINS
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kTwinAttr = "ssm_gpu.host_twin";

/// Builds the twin of one kernel at the end of the host module.
class TwinBuilder {
public:
  TwinBuilder(ModuleOp module, gpu::GPUModuleOp kernels, gpu::GPUFuncOp kernel)
      : module(module), kernels(kernels), kernel(kernel),
        loc(kernel.getLoc()), b(module.getContext()) {}

  LogicalResult run();

private:
  LogicalResult checkSupported();
  /// func.func @__ssmc_twin_<module>_<kernel>(kernel args..., grid x/y/z,
  /// block x/y/z, dynamic shared bytes: index), tagged with the kernel it
  /// stands for.
  void createFunction();
  /// The gpu.launch over the size arguments, with the kernel's workgroup
  /// and private attributions.
  void createLaunch();
  /// The kernel's ops into the launch; gpu.return becomes gpu.terminator.
  void cloneBody();
  /// Id and size ops read the launch's block arguments, so ssm-gpu-emulate
  /// maps every one of them (it has no rewrite for gpu.grid_dim).
  void useLaunchIds();

  ModuleOp module;
  gpu::GPUModuleOp kernels;
  gpu::GPUFuncOp kernel;
  Location loc;
  OpBuilder b;
  func::FuncOp twin;
  gpu::LaunchOp launch;
  IRMapping map;
};

LogicalResult TwinBuilder::run() {
  if (failed(checkSupported()))
    return failure();
  createFunction();
  createLaunch();
  cloneBody();
  useLaunchIds();
  return success();
}

LogicalResult TwinBuilder::checkSupported() {
  if (!kernel.getBody().hasOneBlock())
    return kernel.emitError("ssm-gpu-host-twins: a kernel body with more than "
                            "one block (run it before convert-scf-to-cf)");
  if (kernel.getFunctionType().getNumResults())
    return kernel.emitError("ssm-gpu-host-twins: a kernel with results");
  WalkResult walk = kernel.walk([&](Operation *op) {
    if (isa<gpu::GlobalIdOp, gpu::LaneIdOp, gpu::SubgroupIdOp,
            gpu::NumSubgroupsOp, gpu::SubgroupSizeOp, gpu::ClusterIdOp,
            gpu::ClusterDimOp, gpu::ClusterBlockIdOp,
            gpu::ClusterDimBlocksOp>(op)) {
      op->emitError("ssm-gpu-host-twins: '")
          << op->getName() << "' has no host twin";
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(walk.wasInterrupted());
}

void TwinBuilder::createFunction() {
  SmallVector<Type> inputs(kernel.getArgumentTypes());
  inputs.append(7, b.getIndexType());
  std::string name = ("__ssmc_twin_" + kernels.getName() + "_" +
                      kernel.getName())
                         .str();
  b.setInsertionPointToEnd(module.getBody());
  twin = func::FuncOp::create(b, loc, name, b.getFunctionType(inputs, {}));
  // Private: no entry of the program, nothing the JIT lists.
  twin.setPrivate();
  twin->setAttr(kTwinAttr,
                SymbolRefAttr::get(kernels.getNameAttr(),
                                   {FlatSymbolRefAttr::get(kernel.getNameAttr())}));
  Block *entry = twin.addEntryBlock();
  for (auto [from, to] : llvm::zip(kernel.getArguments(),
                                   entry->getArguments()))
    map.map(from, to);
  b.setInsertionPointToStart(entry);
}

void TwinBuilder::createLaunch() {
  auto sizes = twin.getArguments().take_back(7);
  SmallVector<Type> workgroup, priv;
  for (BlockArgument a : kernel.getWorkgroupAttributions())
    workgroup.push_back(a.getType());
  for (BlockArgument a : kernel.getPrivateAttributions())
    priv.push_back(a.getType());
  Value dynamicShared =
      arith::IndexCastUIOp::create(b, loc, b.getI32Type(), sizes[6]);
  launch = gpu::LaunchOp::create(b, loc, sizes[0], sizes[1], sizes[2],
                                 sizes[3], sizes[4], sizes[5], dynamicShared,
                                 /*asyncTokenType=*/nullptr, ValueRange{},
                                 workgroup, priv);
  func::ReturnOp::create(b, loc);
  for (auto [from, to] : llvm::zip(kernel.getWorkgroupAttributions(),
                                   launch.getWorkgroupAttributions()))
    map.map(from, to);
  for (auto [from, to] : llvm::zip(kernel.getPrivateAttributions(),
                                   launch.getPrivateAttributions()))
    map.map(from, to);
}

void TwinBuilder::cloneBody() {
  Block &launchBody = launch.getBody().front();
  // The kernel's gpu.return becomes the body's terminator.
  if (!launchBody.empty() && launchBody.back().hasTrait<OpTrait::IsTerminator>())
    launchBody.back().erase();
  b.setInsertionPointToEnd(&launchBody);
  for (Operation &op : kernel.getBody().front()) {
    if (isa<gpu::ReturnOp>(op)) {
      gpu::TerminatorOp::create(b, op.getLoc());
      continue;
    }
    b.clone(op, map);
  }
}

void TwinBuilder::useLaunchIds() {
  gpu::KernelDim3 ids[4] = {launch.getThreadIds(), launch.getBlockIds(),
                            launch.getBlockSize(), launch.getGridSize()};
  auto pick = [](const gpu::KernelDim3 &d, gpu::Dimension dim) {
    return dim == gpu::Dimension::x   ? d.x
           : dim == gpu::Dimension::y ? d.y
                                      : d.z;
  };
  SmallVector<Operation *> idOps;
  launch.getBody().walk([&](Operation *op) {
    if (isa<gpu::ThreadIdOp, gpu::BlockIdOp, gpu::BlockDimOp, gpu::GridDimOp>(
            op))
      idOps.push_back(op);
  });
  for (Operation *op : idOps) {
    int which = isa<gpu::ThreadIdOp>(op)  ? 0
                : isa<gpu::BlockIdOp>(op) ? 1
                : isa<gpu::BlockDimOp>(op) ? 2
                                           : 3;
    auto dim = op->getAttrOfType<gpu::DimensionAttr>("dimension").getValue();
    op->getResult(0).replaceAllUsesWith(pick(ids[which], dim));
    op->erase();
  }
}

struct HostTwinsPass : public ssmc::impl::SSMGPUHostTwinsBase<HostTwinsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<std::pair<gpu::GPUModuleOp, gpu::GPUFuncOp>> todo;
    for (auto kernels : module.getOps<gpu::GPUModuleOp>())
      for (auto fn : kernels.getOps<gpu::GPUFuncOp>())
        if (fn.isKernel())
          todo.emplace_back(kernels, fn);
    for (auto [kernels, fn] : todo)
      if (failed(TwinBuilder(module, kernels, fn).run()))
        return signalPassFailure();
  }
};

} // namespace
