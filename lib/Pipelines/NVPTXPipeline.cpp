//===- NVPTXPipeline.cpp - ssm-nvptx-pipeline -----------------------------===//
//
// Ops with a GPU kernel become gpu.launch kernels, the rest the CPU's fused
// loops; kernels are outlined, lowered to NVVM and serialised to PTX in
// gpu.binary ops, and the host side calls the mgpu* runtime. Math in the
// kernels becomes polynomials and LLVM intrinsics the NVPTX backend lowers
// natively (convert-gpu-to-nvvm maps the rest to libdevice calls, which
// ssm-gpu-replace-libdevice turns back into intrinsics): kernels need no
// libdevice.
//
// With host-twins, every outlined kernel also gets a host copy (emulated as
// on the GPU emulator) registered with the CUDA runtime under its PTX
// image's hash and its name: a test driver without a GPU (test/fakecuda)
// runs kernels through them, so the whole host path executes in CI.
//
//===----------------------------------------------------------------------===//

#include "Stages.h"
#include "ssmc/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace ssmc {

LogicalResult buildSSMToKernelsStage(OpPassManager &pm,
                                     const NVPTXPipelineOptions &options,
                                     const CPUPipelineOptions &host) {
  // Decode steps become the sequence ops whose kernels run them.
  pm.addPass(createSSMDecomposeSteps());
  pm.addPass(createConvertSSMToGPU());
  pipelines::addSSMToLoopsPasses(pm, host);
  pm.addPass(createSSMGPUStageBuffers());
  pm.addPass(createGpuKernelOutliningPass());
  if (options.hostTwins) {
    // Host copies of the outlined kernels, emulated as on the GPU emulator.
    pm.addPass(createSSMGPUHostTwins());
    pm.addPass(createSSMGPUEmulate());
  }
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  pm.addPass(createSSMGPULowerResidency());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSSMApproximateMath());
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createSSMGPUReplaceLibdevice());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  pm.addPass(createGpuModuleToBinaryPass(binary));
  return success();
}

LogicalResult buildGPUHostToLLVMStage(OpPassManager &pm,
                                      const CPUPipelineOptions &host,
                                      bool hostTwins) {
  pipelines::addLoopsToLLVMPasses(pm, host, /*gpuHost=*/true);
  if (!hostTwins)
    return success();
  // The twins' thread regions are OpenMP even where the host loops are not.
  if (!host.openmp) {
    pm.addPass(createConvertOpenMPToLLVMPass());
    pm.addPass(createReconcileUnrealizedCastsPass());
  }
  pm.addPass(createSSMGPUHostTwinWrappers());
  return success();
}

LogicalResult buildSSMNVPTXPipeline(OpPassManager &pm,
                                    const NVPTXPipelineOptions &options) {
  CPUPipelineOptions host;
  host.threads = options.threads;
  if (failed(buildSSMToKernelsStage(pm, options, host)))
    return failure();
  return buildGPUHostToLLVMStage(pm, host, options.hostTwins);
}

} // namespace ssmc
