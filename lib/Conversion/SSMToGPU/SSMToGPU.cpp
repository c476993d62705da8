//===- SSMToGPU.cpp - the convert-ssm-to-gpu pass -------------------------===//

#include "ssmc/Conversion/SSMToGPU.h"
#include "ssmc/Conversion/Passes.h"

#include "lib/GPU/IR/SSMGPUDialect.h"
#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace ssmc {
#define GEN_PASS_DEF_CONVERTSSMTOGPU
#include "ssmc/Conversion/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {
struct ConvertSSMToGPUPass
    : public ssmc::impl::ConvertSSMToGPUBase<ConvertSSMToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    if (maxSharedBytes < 48 * 1024) {
      getOperation().emitError("convert-ssm-to-gpu: max-shared-bytes must be "
                               "at least 49152 (the static shared memory "
                               "every target has), got ")
          << static_cast<int64_t>(maxSharedBytes);
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    ssmc::populateSelectiveScanToGPUPatterns(patterns, maxSharedBytes);
    ssmc::populateDPToGPUPatterns(patterns);
    ssmc::populateSSDToGPUPatterns(patterns);
    ssmc::populateLinearAttentionToGPUPatterns(patterns);
    ssmc::populateDeltaRuleToGPUPatterns(patterns);
    ssmc::populateAttentionToGPUPatterns(patterns, maxSharedBytes);
    ssmc::populateCausalConv1dToGPUPatterns(patterns);
    ssmc::populateMatmulToGPUPatterns(patterns);
    if (linalgKernels)
      ssmc::populateLinalgToGPUPatterns(patterns);
    GreedyRewriteConfig config;
    config.setRegionSimplificationLevel(GreedySimplifyRegionLevel::Disabled);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns), config)))
      signalPassFailure();
  }
};
} // namespace
