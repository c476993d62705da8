//===- DPToGPU.cpp - ssm.dp as a single-block GPU kernel ------------------===//
//
// The CPU lowering's schedule and storage (DPLowering in GPU mode) inside
// one gpu.launch of a single block: the cells of a wavefront strided over
// the threads with a barrier after each wavefront, sequential schedules on
// thread 0. Only regions of ops a kernel can run are taken; the others stay
// on the CPU lowering.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/DPLowering.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// Ops a DP region may contain for its cells to run in a GPU kernel.
bool gpuCompatible(ssm::DPOp op) {
  WalkResult r = op->walk([&](Operation *inner) {
    if (inner == op.getOperation())
      return WalkResult::advance();
    StringRef ns = inner->getName().getDialectNamespace();
    if (ns == "arith" || ns == "math" || ns == "index" || ns == "scf" ||
        isa<ssm::YieldOp, ssm::DPFetchOp>(inner))
      return WalkResult::advance();
    return WalkResult::interrupt();
  });
  return !r.wasInterrupted();
}

struct DPToGPU : OpRewritePattern<ssm::DPOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::DPOp op,
                                PatternRewriter &rw) const override {
    if (!gpuCompatible(op))
      return rw.notifyMatchFailure(op, "a region uses ops a GPU kernel cannot");
    return DPLowering(op, rw, /*gpu=*/true).run();
  }
};

} // namespace

void ssmc::populateDPToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<DPToGPU>(patterns.getContext());
}
