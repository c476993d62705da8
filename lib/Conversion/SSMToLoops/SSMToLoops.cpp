//===- SSMToLoops.cpp - the convert-ssm-to-loops pass ---------------------===//
//
// Applies every ssm -> loops pattern (one file per op family) to a module.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Conversion/SSMToLoops.h"
#include "ssmc/Transforms/DecomposeSteps.h"
#include "ssmc/Conversion/Passes.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "convert-ssm-to-loops"

namespace ssmc {
#define GEN_PASS_DEF_CONVERTSSMTOLOOPS
#include "ssmc/Conversion/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {
struct ConvertSSMToLoopsPass
    : public ssmc::impl::ConvertSSMToLoopsBase<ConvertSSMToLoopsPass> {
  using ConvertSSMToLoopsBase::ConvertSSMToLoopsBase;

  void runOnOperation() override {
    ssmc::SSMToLoopsOptions options;
    options.vectorBits = vectorBits;
    options.maxRegisterState = maxRegisterState;
    options.fastExp = fastExp;
    options.avx512 = avx512;
    // Steps first, so the sequence-op patterns below lower what they become.
    {
      RewritePatternSet steps(&getContext());
      ssmc::populateDecomposeStepsPatterns(steps);
      if (failed(applyPatternsGreedily(getOperation(), std::move(steps))))
        return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    ssmc::populateSelectiveScanToLoopsPatterns(patterns, options);
    ssmc::populateScanToLoopsPatterns(patterns);
    ssmc::populateLinearAttentionToLoopsPatterns(patterns, options);
    ssmc::populateDeltaRuleToLoopsPatterns(patterns, options);
    ssmc::populateAttentionToLoopsPatterns(patterns, options);
    ssmc::populateSSDToLoopsPatterns(patterns, options);
    ssmc::populateCausalConv1dToLoopsPatterns(patterns);
    ssmc::populateCausalConv1dStepToLoopsPatterns(patterns);
    ssmc::populateDPToLoopsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // Anything left is an ssm op without a CPU lowering yet.
    WalkResult left = getOperation()->walk([](Operation *op) {
      if (isa<ssm::SSMDialect>(op->getDialect()) && !isa<ssm::YieldOp, ssm::DPFetchOp>(op)) {
        op->emitError() << "no CPU lowering for '" << op->getName() << "'";
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
