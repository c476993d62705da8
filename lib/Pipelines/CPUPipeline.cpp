//===- CPUPipeline.cpp - ssm-cpu-pipeline and the stages it shares --------===//
//
// The pass order matters in three places (each found the hard way):
//  - finalize-memref-to-llvm runs before convert-scf-to-cf because
//    convert-scf-to-openmp wraps parallel bodies in memref.alloca_scope;
//  - n-D vector transfers are fully unrolled to 1-D before
//    convert-vector-to-llvm;
//  - math is approximated before vectors reach LLVM, or vector exp becomes
//    per-lane libm calls.
//
//===----------------------------------------------------------------------===//

#include "Stages.h"
#include "ssmc/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/VectorToSCF/VectorToSCF.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace ssmc {
namespace pipelines {

void addSSMToLoopsPasses(OpPassManager &pm,
                         const CPUPipelineOptions &options) {
  pm.addPass(createSSMProtectInputs());
  ConvertSSMToLoopsOptions toLoops;
  toLoops.vectorBits = options.vectorBits;
  toLoops.avx512 = options.avx512;
  pm.addPass(createConvertSSMToLoops(toLoops));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
  pm.addPass(bufferization::createEmptyTensorToAllocTensorPass());
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  // A loop may carry a GPU kernel's fresh result buffer (the residual
  // stream of a model's layer loop, written by a linalg kernel): it is
  // copied into the loop's buffer instead of failing. Loops whose yields
  // are equivalent to their iter_args, all of them on the CPU, are
  // unaffected.
  bufferize.allowReturnAllocsFromLoops = true;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  // A decode step's final state goes where its h0 came from.
  pm.addNestedPass<func::FuncOp>(createSSMForwardStateCopies());
  // Static results become caller-provided buffers before deallocation is
  // decided, so they are never freed by the callee.
  pm.addPass(createSSMStaticResultsToOutParams());
  bufferization::buildBufferDeallocationPipeline(pm);
  pm.addPass(createConvertBufferizationToMemRefPass());
  SSMLowerMatmulOptions matmul;
  matmul.vectorBits = options.vectorBits ? options.vectorBits : 128;
  matmul.cpuFeatures = options.cpuFeatures;
  pm.addNestedPass<func::FuncOp>(createSSMLowerMatmul(matmul));
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
}

void addLoopsToLLVMPasses(OpPassManager &pm,
                          const CPUPipelineOptions &options, bool gpuHost) {
  pm.addNestedPass<func::FuncOp>(LLVM::createLLVMRequestCWrappersPass());
  pm.addPass(createSSMApproximateMath());
  pm.addNestedPass<func::FuncOp>(createConvertVectorToSCFPass(
      VectorTransferToSCFOptions().enableFullUnroll()));
  if (options.openmp) {
    ConvertSCFToOpenMPPassOptions openmp;
    openmp.numThreads = options.threads;
    pm.addPass(createConvertSCFToOpenMPPass(openmp));
  }
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  pm.addPass(createFinalizeMemRefToLLVMConversionPass());
  pm.addPass(createSCFToControlFlowPass());
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.x86Vector = options.avx512;
  vectorToLLVM.vectorTransposeLowering =
      vector::VectorTransposeLowering::Shuffle16x16;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addPass(createConvertMathToLLVMPass());
  pm.addPass(createConvertMathToLibmPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createUBToLLVMConversionPass());
  if (options.openmp)
    pm.addPass(createConvertOpenMPToLLVMPass());
  if (gpuHost)
    pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
}

} // namespace pipelines

LogicalResult buildSSMToLoopsStage(OpPassManager &pm,
                                   const CPUPipelineOptions &options) {
  pipelines::addSSMToLoopsPasses(pm, options);
  return success();
}

LogicalResult buildLoopsToLLVMStage(OpPassManager &pm,
                                    const CPUPipelineOptions &options) {
  pipelines::addLoopsToLLVMPasses(pm, options, /*gpuHost=*/false);
  return success();
}

LogicalResult buildSSMCPUPipeline(OpPassManager &pm,
                                  const CPUPipelineOptions &options) {
  if (failed(buildSSMToLoopsStage(pm, options)))
    return failure();
  return buildLoopsToLLVMStage(pm, options);
}

} // namespace ssmc
