//===- Stages.h - pass lists the ssmc pipelines share -----------*- C++ -*-===//
//
// The CPU, NVPTX and GPU-emulator pipelines share two stages: the lowering
// of ssm ops (and the upstream ops around them) to fused loops on buffers,
// and the lowering of those loops to the LLVM dialect. Each pipeline file
// adds its own passes around them.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_PIPELINES_STAGES_H
#define SSMC_LIB_PIPELINES_STAGES_H

#include "ssmc/Pipelines.h"

namespace ssmc::pipelines {

/// ssm ops -> fused loops, bufferization with deallocations, matmuls and
/// the remaining linalg ops -> loops.
void addSSMToLoopsPasses(mlir::OpPassManager &pm,
                         const CPUPipelineOptions &options);

/// Loops on buffers -> LLVM dialect; `gpuHost` adds the lowering of
/// host-side gpu ops (launches, allocations, copies) to mgpu* calls.
void addLoopsToLLVMPasses(mlir::OpPassManager &pm,
                          const CPUPipelineOptions &options, bool gpuHost);

} // namespace ssmc::pipelines

#endif // SSMC_LIB_PIPELINES_STAGES_H
