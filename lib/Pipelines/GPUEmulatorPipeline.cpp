//===- GPUEmulatorPipeline.cpp - ssm-gpu-emulator-pipeline ----------------===//
//
// The NVPTX pipeline's kernels run on the host: in place of staging,
// outlining and NVVM, ssm-gpu-emulate turns every gpu.launch into a loop
// over its blocks, each an OpenMP parallel region of blockDim threads. The
// kernels' arithmetic, indexing, shared memory and barriers are so checked
// on machines without a GPU.
//
//===----------------------------------------------------------------------===//

#include "Stages.h"
#include "ssmc/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;

namespace ssmc {

LogicalResult buildSSMToEmulatedKernelsStage(OpPassManager &pm,
                                             const CPUPipelineOptions &host) {
  pm.addPass(createSSMDecomposeSteps());
  pm.addPass(createConvertSSMToGPU());
  pipelines::addSSMToLoopsPasses(pm, host);
  // Buffers a kernel only writes start as garbage, as device memory does.
  pm.addNestedPass<func::FuncOp>(createSSMGPUPoisonWriteOnly());
  pm.addPass(createSSMGPUEmulate());
  return success();
}

LogicalResult buildSSMGPUEmulatorPipeline(OpPassManager &pm,
                                          const CPUPipelineOptions &options) {
  CPUPipelineOptions host;
  host.threads = options.threads;
  host.vectorBits = options.vectorBits;
  host.avx512 = options.avx512;
  if (failed(buildSSMToEmulatedKernelsStage(pm, host)))
    return failure();
  return buildLoopsToLLVMStage(pm, host);
}

} // namespace ssmc
