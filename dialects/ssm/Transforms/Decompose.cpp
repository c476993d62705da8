//===- Decompose.cpp - the ssm-decompose pass -----------------------------===//
//
// `ssm-decompose` restates the fused ssm ops through the general ones:
// selective_scan as an ssm.scan of a linear recurrence
// (DecomposeSelectiveScan.cpp) and ssd as linear attention
// (SSDToLinearAttention.cpp). It is a test of the equivalences, not part of
// the CPU pipeline, which lowers the fused ops directly.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/Rewrites.h"
#include "ssmc/Dialect/SSM/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "ssm-decompose"

namespace ssmc {
#define GEN_PASS_DEF_SSMDECOMPOSE
#include "ssmc/Dialect/SSM/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

struct SSMDecomposePass
    : public ssmc::impl::SSMDecomposeBase<SSMDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    ssmc::populateDecomposeSelectiveScanPatterns(patterns);
    ssmc::populateSSDToLinearAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
