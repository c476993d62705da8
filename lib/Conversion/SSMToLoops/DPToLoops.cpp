//===- DPToLoops.cpp - CPU lowering of ssm.dp -----------------------------===//
//
// The schedule and storage are DPLowering's (DPLowering.h): sequential
// loops, with the cells of a wide wavefront (or of a row without a same-row
// dependency) in an scf.parallel.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/DPLowering.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/IR/PatternMatch.h"

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

struct DPToLoops : OpRewritePattern<ssm::DPOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::DPOp op,
                                PatternRewriter &rw) const override {
    return DPLowering(op, rw).run();
  }
};

} // namespace

void ssmc::populateDPToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<DPToLoops>(patterns.getContext());
}
