//===- SSMCanonicalize.cpp - canonicalization patterns of the ssm ops -----===//
//
// Operands that are constant zeros and change nothing are dropped, so the
// lowerings never load or multiply them:
//   selective_scan / ssd: D = 0 (no skip), delta_bias / dt_bias = 0, and a
//   zero z gate (silu(0) = 0: the output is zeros);
//   linear_attention: a log gate of 0 (decay exp(0) = 1, i.e. no gate).
//   delta_rule: a log gate of 0 (no decay); in a delta form, beta = 0 with
//   no h0 never writes the zero state: out and final_state are zeros.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
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
        op.getSeqIdx(), op.getDeltaSoftplusAttr());
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
        op.getSeqIdx(), op.getDtSoftplusAttr(), op.getDtLimitAttr());
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
    Type stateTy = op.getFinalState() ? op.getFinalState().getType() : Type();
    auto next = LinearAttentionOp::create(
        rw, op.getLoc(), op.getOut().getType(), stateTy,
        op.getFinalZ() ? op.getFinalZ().getType() : Type(), op.getQ(),
        op.getK(), op.getV(), /*gate=*/Value(), op.getH0(), op.getZ0(),
        op.getCuSeqlens(), op.getFeatureMapAttr(), op.getScaleAttr(),
        op.getNormalizeAttr(), op.getEpsAttr(), op.getReverseAttr());
    rw.replaceOp(op, next->getResults());
    return success();
  }
};

/// True when `v` is `lhs * rhs` (either order).
bool isProduct(Value v, Value lhs, Value rhs) {
  auto mul = v.getDefiningOp<arith::MulFOp>();
  return mul && ((mul.getLhs() == lhs && mul.getRhs() == rhs) ||
                 (mul.getLhs() == rhs && mul.getRhs() == lhs));
}

/// True when `v` is `a * b + c` (mulf + addf in any order, or math.fma).
bool isMulAdd(Value v, Value a, Value b, Value c) {
  if (auto fma = v.getDefiningOp<math::FmaOp>())
    return fma.getC() == c && ((fma.getA() == a && fma.getB() == b) ||
                               (fma.getA() == b && fma.getB() == a));
  auto add = v.getDefiningOp<arith::AddFOp>();
  if (!add)
    return false;
  return (add.getRhs() == c && isProduct(add.getLhs(), a, b)) ||
         (add.getLhs() == c && isProduct(add.getRhs(), a, b));
}

/// An inclusive forward scan of (exp(x), b) pairs with the first-order
/// linear-recurrence combiner (a1 a2, a2 b1 + b2) whose running product is
/// unused is h_t = exp(x_t) h_{t-1} + b_t: linear attention with one key and
/// one value per lane (q = k = 1, v = b, log gate = x), the dialect's
/// specialised recurrent op. Static shapes, scan along the last dimension.
struct LinearRecurrenceScanToLinearAttention : OpRewritePattern<ScanOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScanOp op, PatternRewriter &rw) const override {
    if (op.getInputs().size() != 2 || !op.getInit().empty() || op.getReverse() ||
        op.getExclusive())
      return rw.notifyMatchFailure(op, "not an inclusive forward pair scan");
    if (!op.getResult(0).use_empty())
      return rw.notifyMatchFailure(op, "the running product is used");
    auto type = cast<RankedTensorType>(op.getInputs()[0].getType());
    Type elt = type.getElementType();
    if (!type.hasStaticShape() || !isa<FloatType>(elt) ||
        op.getAxis() != static_cast<uint64_t>(type.getRank() - 1))
      return rw.notifyMatchFailure(op, "needs static float tensors scanned "
                                       "along the last dimension");
    auto exp = op.getInputs()[0].getDefiningOp<math::ExpOp>();
    if (!exp)
      return rw.notifyMatchFailure(op, "decays are not exp(x)");
    Block &body = op.getCombiner().front();
    auto yield = cast<YieldOp>(body.getTerminator());
    Value a1 = body.getArgument(0), b1 = body.getArgument(1),
          a2 = body.getArgument(2), b2 = body.getArgument(3);
    if (!isProduct(yield.getValues()[0], a1, a2) ||
        !isMulAdd(yield.getValues()[1], a2, b1, b2))
      return rw.notifyMatchFailure(op, "combiner is not a linear recurrence");

    Location loc = op.getLoc();
    ArrayRef<int64_t> shape = type.getShape();
    int64_t len = shape.back(), lanes = 1;
    for (int64_t d : shape.drop_back())
      lanes *= d;
    // Reshapes go through a 1-D view: [..., L] -> [1, lanes, L, 1] etc.
    auto reshape = [&](Value v, ArrayRef<int64_t> to) -> Value {
      auto all = [](int64_t rank) {
        SmallVector<ReassociationIndices> groups(1);
        for (int64_t i = 0; i < rank; ++i)
          groups[0].push_back(i);
        return groups;
      };
      int64_t rank = cast<RankedTensorType>(v.getType()).getRank();
      if (rank > 1)
        v = tensor::CollapseShapeOp::create(rw, loc, v, all(rank));
      if (to.size() == 1)
        return v;
      return tensor::ExpandShapeOp::create(
          rw, loc, RankedTensorType::get(to, elt), v, all(to.size()));
    };
    auto fourTy = RankedTensorType::get({1, lanes, len, 1}, elt);
    Value ones = arith::ConstantOp::create(
        rw, loc, fourTy, DenseElementsAttr::get(fourTy, rw.getFloatAttr(elt, 1.0)));
    Value v = reshape(op.getInputs()[1], {1, lanes, len, 1});
    Value gate = reshape(exp.getOperand(), {1, lanes, len});
    auto attn = LinearAttentionOp::create(
        rw, loc, fourTy, Type(), Type(), ones, ones, v, gate, Value(), Value(),
        Value(),
        ssm::FeatureMapAttr::get(rw.getContext(), ssm::FeatureMap::identity),
        rw.getF64FloatAttr(1.0), UnitAttr(), FloatAttr(), UnitAttr());
    Value h = reshape(attn.getOut(), shape);
    rw.replaceAllUsesWith(op.getResult(1), h);
    rw.eraseOp(op);
    return success();
  }
};

/// ssm.delta_rule with a constant-zero log gate: exp(0) = 1, no decay.
struct DropZeroDeltaRuleGate : OpRewritePattern<DeltaRuleOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DeltaRuleOp op,
                                PatternRewriter &rw) const override {
    if (!isZero(op.getGate()))
      return rw.notifyMatchFailure(op, "no constant-zero gate");
    rw.modifyOpInPlace(op, [&] { op.getGateMutable().clear(); });
    return success();
  }
};

/// A delta form with beta = 0 only decays its state (S_t = D_t S_{t-1});
/// from a zero state (no h0) every output and the final state are zeros.
struct ZeroBetaDeltaRuleIsZero : OpRewritePattern<DeltaRuleOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(DeltaRuleOp op,
                                PatternRewriter &rw) const override {
    if (!isZero(op.getBeta()) || op.getH0())
      return rw.notifyMatchFailure(op, "no constant-zero beta without h0");
    SmallVector<Value> zeros;
    for (Value r : op->getResults()) {
      auto t = cast<RankedTensorType>(r.getType());
      if (!t.hasStaticShape())
        return rw.notifyMatchFailure(op, "dynamic result shape");
      zeros.push_back(arith::ConstantOp::create(
          rw, op.getLoc(), t,
          DenseElementsAttr::get(t, rw.getZeroAttr(t.getElementType()))));
    }
    rw.replaceOp(op, zeros);
    return success();
  }
};

} // namespace

void ScanOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                         MLIRContext *context) {
  results.add<LinearRecurrenceScanToLinearAttention>(context);
}

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

void DeltaRuleOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                              MLIRContext *context) {
  results.add<DropZeroDeltaRuleGate, ZeroBetaDeltaRuleIsZero>(context);
}
