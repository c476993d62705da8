//===- SSMApproximateMath.cpp - polynomial math for vector code -----------===//
//
// Unapproximated math.exp on vectors becomes per-lane expf calls (15x slower
// than a polynomial on this kind of machine); this pass applies upstream's
// polynomial approximations before lowering to LLVM.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Approximation.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "ssm-approximate-math"

namespace ssmc {
#define GEN_PASS_DEF_SSMAPPROXIMATEMATH
#include "ssmc/Transforms/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {
struct SSMApproximateMathPass
    : public ssmc::impl::SSMApproximateMathBase<SSMApproximateMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMathPolynomialApproximationPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
