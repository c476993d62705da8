//===- SSDToLinearAttention.cpp - ssd as gated linear attention -----------===//
//
// Mamba-2's state space duality as an IR rewrite: ssm.ssd is
// ssm.linear_attention with q = C, k = B, v = dt x, log gate dt A (one per
// head and step), scale 1 and identity features, with the layouts moved
// from [B, L, H, .] to [B, H, L, .] and the state transposed between
// [P, N] and [K = N, V = P]. The D skip and the z gate stay linalg ops
// around it. Applied by `ssm-decompose` only.
//
// Handled: f32/f64 programs; grouped B/C need a static head and group count.
//
//===----------------------------------------------------------------------===//

#include "DecomposeUtils.h"
#include "ssmc/Dialect/SSM/Rewrites.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace ssmc::decompose;

namespace {

/// One ssd rewritten stage by stage: the linear attention operands in its
/// [B, H, L, .] layout, the attention, then the output and final state back
/// in ssd's layouts.
class SSDAsLinearAttention {
public:
  SSDAsLinearAttention(ssm::SSDOp op, PatternRewriter &rw)
      : op(op), rw(rw), loc(op.getLoc()), ctx(rw.getContext()),
        elt(op.getX().getType().getElementType()), x(op.getX()),
        Bm(op.getB()) {
    auto xTy = op.getX().getType();
    auto bTy = cast<RankedTensorType>(op.getB().getType());
    Bs = xTy.getDimSize(0);
    L = xTy.getDimSize(1);
    H = xTy.getDimSize(2);
    P = xTy.getDimSize(3);
    G = bTy.getDimSize(2);
    N = bTy.getDimSize(3);
    sB = {x, 0};
    sL = {x, 1};
    sH = {x, 2};
    sP = {x, 3};
    sN = {Bm, 3};
  }

  /// The forms the rewrite handles; it leaves the others alone.
  static LogicalResult checkSupported(ssm::SSDOp op, PatternRewriter &rw) {
    Type elt = op.getX().getType().getElementType();
    if (elt != op.getAccumulatorType())
      return rw.notifyMatchFailure(op, "handles f32/f64 programs only");
    if (op.getSeqIdx())
      return rw.notifyMatchFailure(
          op, "sequences packed per batch row (seq_idx) not handled");
    for (Value v : {op.getA(), op.getD(), op.getDtBias()})
      if (v && getElementTypeOrSelf(v.getType()) != elt)
        return rw.notifyMatchFailure(op, "mixed parameter types");
    auto xTy = op.getX().getType();
    auto bTy = cast<RankedTensorType>(op.getB().getType());
    int64_t H = xTy.getDimSize(2), G = bTy.getDimSize(2);
    if (G != 1 && (ShapedType::isDynamic(G) || ShapedType::isDynamic(H)))
      return rw.notifyMatchFailure(op, "grouped B/C need static H and G");
    return success();
  }

  void rewrite() {
    emitStepSizes();
    emitQueriesAndKeys();
    emitValuesAndGate();
    transposeInitialState();
    emitAttention();
    emitOutput();
    SmallVector<Value> results = {y};
    if (Value fs = op.getFinalState())
      results.push_back(
          transposeFinalState(cast<RankedTensorType>(fs.getType())));
    rw.replaceOp(op, results);
  }

private:
  AffineExpr d(unsigned i) const { return getAffineDimExpr(i, ctx); }
  AffineMap mapOf(unsigned rank, ArrayRef<AffineExpr> exprs) const {
    return AffineMap::get(rank, 0, exprs, ctx);
  }

  /// A parallel linalg.generic into a fresh [shape] tensor.
  Value generic(ArrayRef<int64_t> shape,
                ArrayRef<std::pair<Value, int64_t>> sources, ValueRange ins,
                ArrayRef<AffineMap> inMaps,
                function_ref<Value(OpBuilder &, ValueRange)> body) {
    return parallelGeneric(
        rw, loc, RankedTensorType::get(shape, elt), sources, ins, inMaps,
        [&](OpBuilder &b, Location, ValueRange args) { return body(b, args); });
  }

  /// dt = softplus(dt + dt_bias): [B, L, H]
  void emitStepSizes() {
    SmallVector<Value> ins = {op.getDt()};
    SmallVector<AffineMap> maps = {mapOf(3, {d(0), d(1), d(2)})};
    if (Value bias = op.getDtBias()) {
      ins.push_back(bias);
      maps.push_back(mapOf(3, {d(2)}));
    }
    bool withSoftplus = op.getDtSoftplus();
    std::optional<ArrayRef<double>> limit = op.getDtLimit();
    dt = generic({Bs, L, H}, {sB, sL, sH}, ins, maps,
                 [&](OpBuilder &b, ValueRange args) -> Value {
                   Value s = args[0];
                   if (args.size() > 2)
                     s = arith::AddFOp::create(b, loc, s, args[1]);
                   if (withSoftplus)
                     s = softplus(b, loc, s, elt);
                   if (!limit)
                     return s;
                   // dt_limit [lo, hi]; an infinite bound is no bound.
                   auto bound = [&](double v) -> Value {
                     return arith::ConstantOp::create(b, loc,
                                                      b.getFloatAttr(elt, v));
                   };
                   if (!std::isinf((*limit)[0]))
                     s = arith::MaxNumFOp::create(b, loc, s, bound((*limit)[0]));
                   if (!std::isinf((*limit)[1]))
                     s = arith::MinNumFOp::create(b, loc, s, bound((*limit)[1]));
                   return s;
                 });
  }

  /// q = C, k = B in [B, H, L, N]; head h reads group h / (H / G).
  void emitQueriesAndKeys() {
    AffineExpr group =
        G == 1 ? getAffineConstantExpr(0, ctx) : d(1).floorDiv(H / G);
    auto project = [&](Value t) {
      return generic({Bs, H, L, N}, {sB, sH, sL, sN}, {t},
                     {mapOf(4, {d(0), d(2), group, d(3)})},
                     [&](OpBuilder &, ValueRange args) { return args[0]; });
    };
    q = project(op.getC());
    k = project(Bm);
  }

  /// v = dt x in [B, H, L, P]; log gate = dt A in [B, H, L].
  void emitValuesAndGate() {
    v = generic({Bs, H, L, P}, {sB, sH, sL, sP}, {dt, x},
                {mapOf(4, {d(0), d(2), d(1)}),
                 mapOf(4, {d(0), d(2), d(1), d(3)})},
                [&](OpBuilder &b, ValueRange args) -> Value {
                  return arith::MulFOp::create(b, loc, args[0], args[1]);
                });
    gate = generic({Bs, H, L}, {sB, sH, sL}, {dt, op.getA()},
                   {mapOf(3, {d(0), d(2), d(1)}), mapOf(3, {d(1)})},
                   [&](OpBuilder &b, ValueRange args) -> Value {
                     return arith::MulFOp::create(b, loc, args[0], args[1]);
                   });
  }

  /// States: SSD's [S, H, P, N] is linear attention's [S, H, K = N, V = P].
  void transposeInitialState() {
    Value init = op.getH0();
    if (!init)
      return;
    auto t = cast<RankedTensorType>(init.getType());
    h0 = generic({t.getDimSize(0), H, N, P}, {{init, 0}, sH, sN, sP}, {init},
                 {mapOf(4, {d(0), d(1), d(3), d(2)})},
                 [&](OpBuilder &, ValueRange args) { return args[0]; });
  }

  void emitAttention() {
    Type stateTy;
    if (Value fs = op.getFinalState()) {
      auto t = cast<RankedTensorType>(fs.getType());
      stateTy = RankedTensorType::get({t.getDimSize(0), H, N, P}, elt);
    }
    attn = ssm::LinearAttentionOp::create(
        rw, loc, RankedTensorType::get({Bs, H, L, P}, elt), stateTy,
        /*final_z=*/Type(), q, k, v, gate, h0, /*z0=*/Value(),
        op.getCuSeqlens(),
        ssm::FeatureMapAttr::get(rw.getContext(), ssm::FeatureMap::identity),
        rw.getF64FloatAttr(1.0), UnitAttr(), /*eps=*/FloatAttr(),
        /*reverse=*/UnitAttr());
  }

  /// y = o (+ D x) * silu(z), back in [B, L, H, P].
  void emitOutput() {
    SmallVector<Value> ins = {attn.getOut(), x};
    SmallVector<AffineMap> maps = {mapOf(4, {d(0), d(2), d(1), d(3)}),
                                   mapOf(4, {d(0), d(1), d(2), d(3)})};
    bool hasD = static_cast<bool>(op.getD()),
         hasZ = static_cast<bool>(op.getZ());
    if (hasD) {
      // D [H] per head or [H, P] per head channel.
      ins.push_back(op.getD());
      bool perChannel = cast<RankedTensorType>(op.getD().getType()).getRank() == 2;
      maps.push_back(perChannel ? mapOf(4, {d(2), d(3)}) : mapOf(4, {d(2)}));
    }
    if (hasZ) {
      ins.push_back(op.getZ());
      maps.push_back(mapOf(4, {d(0), d(1), d(2), d(3)}));
    }
    y = generic({Bs, L, H, P}, {sB, sL, sH, sP}, ins, maps,
                [&](OpBuilder &b, ValueRange args) -> Value {
                  return skipAndGate(b, loc, args, hasD, hasZ, elt);
                });
  }

  /// The attention's [S, H, N, P] final state as ssd's [S, H, P, N].
  Value transposeFinalState(RankedTensorType stateTy) {
    Value S = attn.getFinalState();
    return generic(stateTy.getShape(), {{S, 0}, sH, sP, sN}, {S},
                   {mapOf(4, {d(0), d(1), d(3), d(2)})},
                   [&](OpBuilder &, ValueRange args) { return args[0]; });
  }

  ssm::SSDOp op;
  PatternRewriter &rw;
  Location loc;
  MLIRContext *ctx;
  Type elt;
  Value x, Bm;
  int64_t Bs, L, H, P, G, N;
  /// Sources of every dimension, for tensor.empty of dynamic shapes.
  std::pair<Value, int64_t> sB, sL, sH, sP, sN;

  Value dt, q, k, v, gate, h0;
  ssm::LinearAttentionOp attn;
  Value y;
};

struct SSDToLinearAttention : OpRewritePattern<ssm::SSDOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::SSDOp op,
                                PatternRewriter &rw) const override {
    if (failed(SSDAsLinearAttention::checkSupported(op, rw)))
      return failure();
    SSDAsLinearAttention(op, rw).rewrite();
    return success();
  }
};

} // namespace

void ssmc::populateSSDToLinearAttentionPatterns(RewritePatternSet &patterns) {
  patterns.add<SSDToLinearAttention>(patterns.getContext());
}
