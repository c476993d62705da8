//===- SSMCanonicalize.cpp - canonicalization patterns of the ssm ops -----===//
//
// Operands that are constant zeros and change nothing are dropped, so the
// lowerings never load or multiply them:
//   selective_scan / ssd: D = 0 (no skip), delta_bias / dt_bias = 0, and a
//   zero z gate (silu(0) = 0: the output is zeros);
//   linear_attention: a log gate of 0 (decay exp(0) = 1, i.e. no gate).
//
//===----------------------------------------------------------------------===//

#include "dialects/ssm/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::ssm;

namespace {

bool isZero(Value v) { return v && matchPattern(v, m_AnyZeroFloat()); }

/// Result types of `op` for a rebuilt op: out, and the final state when
/// present (null Type for an absent optional result).
std::pair<Type, Type> resultTypes(Operation *op) {
  return {op->getResult(0).getType(),
          op->getNumResults() > 1 ? op->getResult(1).getType() : Type()};
}

struct DropZeroSelectiveScanOperands : OpRewritePattern<SelectiveScanOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SelectiveScanOp op,
                                PatternRewriter &rw) const override {
    bool dropD = isZero(op.getD()), dropBias = isZero(op.getDeltaBias());
    if (!dropD && !dropBias)
      return rw.notifyMatchFailure(op, "no constant-zero D or delta_bias");
    auto [outTy, stateTy] = resultTypes(op);
    auto next = SelectiveScanOp::create(
        rw, op.getLoc(), outTy, stateTy, op.getU(), op.getDelta(), op.getA(),
        op.getB(), op.getC(), dropD ? Value() : op.getD(), op.getZ(),
        dropBias ? Value() : op.getDeltaBias(), op.getH0(), op.getCuSeqlens(),
        op.getDeltaSoftplusAttr());
    rw.replaceOp(op, next->getResults());
    return success();
  }
};

/// A constant-zero z gate multiplies the output by silu(0) = 0: the output
/// is zeros (static shapes), and the state no longer needs z.
template <typename OpT>
struct ZeroGateGivesZeroOutput : OpRewritePattern<OpT> {
  using OpRewritePattern<OpT>::OpRewritePattern;
  LogicalResult matchAndRewrite(OpT op, PatternRewriter &rw) const override {
    if (!isZero(op.getZ()))
      return rw.notifyMatchFailure(op, "no constant-zero z gate");
    auto outTy = cast<RankedTensorType>(op.getOut().getType());
    if (!outTy.hasStaticShape())
      return rw.notifyMatchFailure(op, "dynamic output shape");
    Value zeros = arith::ConstantOp::create(
        rw, op.getLoc(), outTy,
        DenseElementsAttr::get(outTy, rw.getZeroAttr(outTy.getElementType())));
    SmallVector<Value> results = {zeros};
    if (Value fs = op.getFinalState()) {
      // Keep computing the state, now without the gate.
      rw.modifyOpInPlace(op, [&] { op.getZMutable().clear(); });
      results.push_back(fs);
      rw.replaceAllUsesWith(op.getOut(), zeros);
      return success();
    }
    rw.replaceOp(op, results);
    return success();
  }
};

struct DropZeroSSDOperands : OpRewritePattern<SSDOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(SSDOp op, PatternRewriter &rw) const override {
    bool dropD = isZero(op.getD()), dropBias = isZero(op.getDtBias());
    if (!dropD && !dropBias)
      return rw.notifyMatchFailure(op, "no constant-zero D or dt_bias");
    auto [outTy, stateTy] = resultTypes(op);
    auto next = SSDOp::create(
        rw, op.getLoc(), outTy, stateTy, op.getX(), op.getDt(), op.getA(),
        op.getB(), op.getC(), dropD ? Value() : op.getD(), op.getZ(),
        dropBias ? Value() : op.getDtBias(), op.getH0(), op.getCuSeqlens(),
        op.getDtSoftplusAttr());
    rw.replaceOp(op, next->getResults());
    return success();
  }
};

struct DropZeroLogGate : OpRewritePattern<LinearAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(LinearAttentionOp op,
                                PatternRewriter &rw) const override {
    if (!isZero(op.getGate()))
      return rw.notifyMatchFailure(op, "no constant-zero log gate");
    auto [outTy, stateTy] = resultTypes(op);
    auto next = LinearAttentionOp::create(
        rw, op.getLoc(), outTy, stateTy, op.getQ(), op.getK(), op.getV(),
        /*gate=*/Value(), op.getH0(), op.getCuSeqlens(), op.getFeatureMapAttr(),
        op.getScaleAttr(), op.getNormalizeAttr());
    rw.replaceOp(op, next->getResults());
    return success();
  }
};

} // namespace

void SelectiveScanOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                  MLIRContext *context) {
  results.add<DropZeroSelectiveScanOperands,
              ZeroGateGivesZeroOutput<SelectiveScanOp>>(context);
}

void SSDOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                        MLIRContext *context) {
  results.add<DropZeroSSDOperands, ZeroGateGivesZeroOutput<SSDOp>>(context);
}

void LinearAttentionOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                    MLIRContext *context) {
  results.add<DropZeroLogGate>(context);
}
