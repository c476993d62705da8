//===- Pipelines.h - registered ssmc compilation pipelines ------*- C++ -*-===//
//
// ssm-cpu-pipeline: ssm programs on tensors -> LLVM dialect for the host CPU,
// in two stages that tools can stop between (`ssmc-run --emit=loops`).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_PIPELINES_H
#define SSMC_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"

namespace ssmc {

struct CPUPipelineOptions
    : public mlir::PassPipelineOptions<CPUPipelineOptions> {
  Option<unsigned> threads{
      *this, "threads",
      llvm::cl::desc("OpenMP threads for parallel loops (0: the runtime's "
                     "default, one per core)"),
      llvm::cl::init(0)};
  Option<unsigned> vectorBits{
      *this, "vector-bits",
      llvm::cl::desc("Vector register width in bits the lowering fills"),
      llvm::cl::init(512)};
  Option<bool> avx512{
      *this, "avx512",
      llvm::cl::desc("The target has AVX-512 (x86vector ops may be used)"),
      llvm::cl::init(true)};
};

/// ssm ops -> fused loops on buffers (scf, vector, memref, arith, math),
/// with the whole function bufferized and deallocations inserted.
mlir::LogicalResult buildSSMToLoopsStage(mlir::OpPassManager &pm,
                                         const CPUPipelineOptions &options);
/// Loops on buffers -> LLVM dialect (OpenMP for scf.parallel, polynomial
/// math, C wrappers for every function).
mlir::LogicalResult buildLoopsToLLVMStage(mlir::OpPassManager &pm,
                                          const CPUPipelineOptions &options);
/// Both stages.
mlir::LogicalResult buildSSMCPUPipeline(mlir::OpPassManager &pm,
                                        const CPUPipelineOptions &options);

/// Registers `ssm-cpu-pipeline` with the global pipeline registry.
void registerSSMCPipelines();

} // namespace ssmc

#endif // SSMC_PIPELINES_H
