//===- DecomposeSelectiveScan.cpp - selective_scan as an associative scan -===//
//
// The theory's first equivalence made executable: a selective scan is, per
// (batch, channel, state index), the first-order linear recurrence
// h_t = a_t h_{t-1} + b_t with a_t = exp(dt_t A), b_t = dt_t B_t u_t, i.e.
// an ssm.scan of (a, b) pairs with the combiner
// (a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2), followed by y_t = C_t . h_t,
// the D skip and the z gate as linalg ops. The rewrite materialises
// [B, Dm, N, L] tensors -- it states the equivalence, it is not the fast
// path -- and is applied by `ssm-decompose` only (tests compare it with the
// fused lowering and the double reference).
//
// Handled: shared B/C ([B, N, L]), f32/f64 programs, and a final state only
// when L is static and positive (h_L is the last element of the scan).
//
//===----------------------------------------------------------------------===//

#include "ssmc/Conversion/SSMToLoops.h"
#include "ssmc/Passes.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#define DEBUG_TYPE "ssm-decompose"

namespace ssmc {
#define GEN_PASS_DEF_SSMDECOMPOSE
#include "ssmc/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

/// Empty tensor of `shape` (kDynamic entries sized by `dynamicFrom`, one
/// (value, dim) source per dimension).
Value emptyTensor(OpBuilder &b, Location loc, ArrayRef<int64_t> shape,
                  Type elt, ArrayRef<std::pair<Value, int64_t>> sources) {
  SmallVector<Value> dyn;
  for (auto [i, d] : llvm::enumerate(shape))
    if (ShapedType::isDynamic(d))
      dyn.push_back(tensor::DimOp::create(b, loc, sources[i].first,
                                          sources[i].second));
  return tensor::EmptyOp::create(b, loc, shape, elt, dyn);
}

struct SelectiveScanToScan : OpRewritePattern<ssm::SelectiveScanOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::SelectiveScanOp op,
                                PatternRewriter &rw) const override {
    Type elt = op.getU().getType().getElementType();
    if (elt != op.getAccumulatorType())
      return rw.notifyMatchFailure(op, "handles f32/f64 programs only");
    if (op.isGroupedB() || op.isGroupedC())
      return rw.notifyMatchFailure(op, "grouped B/C not handled");
    if (op.getCuSeqlens())
      return rw.notifyMatchFailure(op, "packed sequences not handled");
    for (Value v : {op.getA(), op.getD(), op.getDeltaBias()})
      if (v && getElementTypeOrSelf(v.getType()) != elt)
        return rw.notifyMatchFailure(op, "mixed parameter types");
    int64_t L = op.getSeqLen();
    if (op.getFinalState() && (ShapedType::isDynamic(L) || L == 0))
      return rw.notifyMatchFailure(op, "final state needs a static L > 0");

    Location loc = op.getLoc();
    MLIRContext *ctx = rw.getContext();
    auto uTy = op.getU().getType();
    int64_t Bs = uTy.getDimSize(0), Dm = uTy.getDimSize(1),
            N = op.getStateSize();
    Value u = op.getU(), A = op.getA(), Bm = op.getB(), Cm = op.getC();
    auto par = utils::IteratorType::parallel;
    auto red = utils::IteratorType::reduction;
    auto map = [&](unsigned rank, ArrayRef<unsigned> dims) {
      SmallVector<AffineExpr> exprs;
      for (unsigned d : dims)
        exprs.push_back(getAffineDimExpr(d, ctx));
      return AffineMap::get(rank, 0, exprs, ctx);
    };
    auto cst = [&](OpBuilder &b, double v) -> Value {
      return arith::ConstantOp::create(b, loc, b.getFloatAttr(elt, v));
    };
    SmallVector<std::pair<Value, int64_t>> bdl = {{u, 0}, {u, 1}, {u, 2}};
    SmallVector<std::pair<Value, int64_t>> bdnl = {{u, 0}, {u, 1}, {A, 1}, {u, 2}};

    // dt[b,d,l] = softplus(delta + bias)
    SmallVector<Value> dtIns = {op.getDelta()};
    SmallVector<AffineMap> dtMaps = {map(3, {0, 1, 2})};
    if (Value bias = op.getDeltaBias()) {
      dtIns.push_back(bias);
      dtMaps.push_back(map(3, {1}));
    }
    dtMaps.push_back(map(3, {0, 1, 2}));
    bool softplus = op.getDeltaSoftplus();
    Value dt = linalg::GenericOp::create(
                   rw, loc, uTy, dtIns,
                   ValueRange{emptyTensor(rw, loc, uTy.getShape(), elt, bdl)},
                   dtMaps, SmallVector<utils::IteratorType>(3, par),
                   [&](OpBuilder &b, Location loc, ValueRange args) {
                     Value x = args[0];
                     if (args.size() > 2)
                       x = arith::AddFOp::create(b, loc, x, args[1]);
                     if (softplus) {
                       Value sp = math::Log1pOp::create(
                           b, loc, math::ExpOp::create(b, loc, x));
                       Value big = arith::CmpFOp::create(
                           b, loc, arith::CmpFPredicate::OGT, x, cst(b, 20));
                       x = arith::SelectOp::create(b, loc, big, x, sp);
                     }
                     linalg::YieldOp::create(b, loc, x);
                   })
                   .getResult(0);

    // a[b,d,n,l] = exp(dt A);  bu[b,d,n,l] = dt B u (+ a h0 at l = 0)
    auto fourTy = RankedTensorType::get({Bs, Dm, N, L}, elt);
    Value a = linalg::GenericOp::create(
                  rw, loc, fourTy, ValueRange{dt, A},
                  ValueRange{emptyTensor(rw, loc, fourTy.getShape(), elt, bdnl)},
                  SmallVector<AffineMap>{map(4, {0, 1, 3}), map(4, {1, 2}),
                                         map(4, {0, 1, 2, 3})},
                  SmallVector<utils::IteratorType>(4, par),
                  [&](OpBuilder &b, Location loc, ValueRange args) {
                    linalg::YieldOp::create(
                        b, loc,
                        ValueRange{math::ExpOp::create(
                            b, loc, arith::MulFOp::create(b, loc, args[0], args[1]))});
                  })
                  .getResult(0);
    SmallVector<Value> buIns = {dt, Bm, u};
    SmallVector<AffineMap> buMaps = {map(4, {0, 1, 3}), map(4, {0, 2, 3}),
                                     map(4, {0, 1, 3})};
    if (Value h0 = op.getH0()) {
      buIns.append({a, h0});
      buMaps.append({map(4, {0, 1, 2, 3}), map(4, {0, 1, 2})});
    }
    buMaps.push_back(map(4, {0, 1, 2, 3}));
    bool withH0 = static_cast<bool>(op.getH0());
    Value bu = linalg::GenericOp::create(
                   rw, loc, fourTy, buIns,
                   ValueRange{emptyTensor(rw, loc, fourTy.getShape(), elt, bdnl)},
                   buMaps, SmallVector<utils::IteratorType>(4, par),
                   [&](OpBuilder &b, Location loc, ValueRange args) {
                     Value v = arith::MulFOp::create(
                         b, loc, arith::MulFOp::create(b, loc, args[0], args[1]),
                         args[2]);
                     if (withH0) {
                       // h_0 = a_0 h0 + b_0: fold the initial state into b_0.
                       Value first = arith::CmpIOp::create(
                           b, loc, arith::CmpIPredicate::eq,
                           linalg::IndexOp::create(b, loc, 3),
                           arith::ConstantIndexOp::create(b, loc, 0));
                       Value withState = math::FmaOp::create(b, loc, args[3],
                                                             args[4], v);
                       v = arith::SelectOp::create(b, loc, first, withState, v);
                     }
                     linalg::YieldOp::create(b, loc, v);
                   })
                   .getResult(0);

    // h = scan of (a, bu) pairs along l.
    auto scan = ssm::ScanOp::create(
        rw, loc, TypeRange{fourTy, fourTy}, ValueRange{a, bu}, ValueRange{},
        rw.getI64IntegerAttr(3), UnitAttr(), UnitAttr());
    {
      Block *body = rw.createBlock(&scan.getCombiner(), {},
                                   {elt, elt, elt, elt},
                                   {loc, loc, loc, loc});
      OpBuilder::InsertionGuard guard(rw);
      rw.setInsertionPointToStart(body);
      Value a1 = body->getArgument(0), b1 = body->getArgument(1),
            a2 = body->getArgument(2), b2 = body->getArgument(3);
      Value prod = arith::MulFOp::create(rw, loc, a1, a2);
      Value h = math::FmaOp::create(rw, loc, a2, b1, b2);
      ssm::YieldOp::create(rw, loc, ValueRange{prod, h});
    }
    rw.setInsertionPointAfter(scan);
    Value h = scan.getResult(1);

    // y[b,d,l] = sum_n C[b,n,l] h[b,d,n,l]
    Value zeros = linalg::FillOp::create(
                      rw, loc, ValueRange{cst(rw, 0)},
                      ValueRange{emptyTensor(rw, loc, uTy.getShape(), elt, bdl)})
                      .getResult(0);
    Value y = linalg::GenericOp::create(
                  rw, loc, uTy, ValueRange{Cm, h}, ValueRange{zeros},
                  SmallVector<AffineMap>{map(4, {0, 2, 3}), map(4, {0, 1, 2, 3}),
                                         map(4, {0, 1, 3})},
                  SmallVector<utils::IteratorType>{par, par, red, par},
                  [&](OpBuilder &b, Location loc, ValueRange args) {
                    linalg::YieldOp::create(
                        b, loc,
                        ValueRange{math::FmaOp::create(b, loc, args[0], args[1], args[2])});
                  })
                  .getResult(0);

    // out = (y + D u) * silu(z)
    Value out = y;
    if (op.getD() || op.getZ()) {
      SmallVector<Value> ins = {y, u};
      SmallVector<AffineMap> maps = {map(3, {0, 1, 2}), map(3, {0, 1, 2})};
      if (op.getD()) {
        ins.push_back(op.getD());
        maps.push_back(map(3, {1}));
      }
      if (op.getZ()) {
        ins.push_back(op.getZ());
        maps.push_back(map(3, {0, 1, 2}));
      }
      maps.push_back(map(3, {0, 1, 2}));
      bool hasD = static_cast<bool>(op.getD()), hasZ = static_cast<bool>(op.getZ());
      out = linalg::GenericOp::create(
                rw, loc, uTy, ins,
                ValueRange{emptyTensor(rw, loc, uTy.getShape(), elt, bdl)}, maps,
                SmallVector<utils::IteratorType>(3, par),
                [&](OpBuilder &b, Location loc, ValueRange args) {
                  Value v = args[0];
                  unsigned next = 2;
                  if (hasD)
                    v = math::FmaOp::create(b, loc, args[next++], args[1], v);
                  if (hasZ) {
                    Value zv = args[next];
                    Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, zv));
                    Value silu = arith::DivFOp::create(
                        b, loc, zv, arith::AddFOp::create(b, loc, cst(b, 1), e));
                    v = arith::MulFOp::create(b, loc, v, silu);
                  }
                  linalg::YieldOp::create(b, loc, v);
                })
                .getResult(0);
    }
    SmallVector<Value> results = {out};
    if (Value fs = op.getFinalState()) {
      // h_L: the last scan element.
      SmallVector<OpFoldResult> offsets = {rw.getIndexAttr(0), rw.getIndexAttr(0),
                                           rw.getIndexAttr(0), rw.getIndexAttr(L - 1)};
      SmallVector<OpFoldResult> sizes;
      for (auto [i, src] : llvm::enumerate(bdnl))
        sizes.push_back(i == 3 ? OpFoldResult(rw.getIndexAttr(1))
                               : tensor::getMixedSize(rw, loc, src.first, src.second));
      SmallVector<OpFoldResult> strides(4, rw.getIndexAttr(1));
      results.push_back(tensor::ExtractSliceOp::create(
          rw, loc, cast<RankedTensorType>(fs.getType()), h, offsets, sizes,
          strides));
    }
    rw.replaceOp(op, results);
    return success();
  }
};

/// Mamba-2's state space duality as an IR rewrite: ssm.ssd is
/// ssm.linear_attention with q = C, k = B, v = dt x, log gate dt A (one per
/// head and step), scale 1 and identity features, with the layouts moved
/// from [B, L, H, .] to [B, H, L, .] and the state transposed between
/// [P, N] and [K = N, V = P]. Handles f32/f64 programs; grouped B/C need a
/// static head and group count.
struct SSDToLinearAttention : OpRewritePattern<ssm::SSDOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::SSDOp op,
                                PatternRewriter &rw) const override {
    Type elt = op.getX().getType().getElementType();
    if (elt != op.getAccumulatorType())
      return rw.notifyMatchFailure(op, "handles f32/f64 programs only");
    for (Value v : {op.getA(), op.getD(), op.getDtBias()})
      if (v && getElementTypeOrSelf(v.getType()) != elt)
        return rw.notifyMatchFailure(op, "mixed parameter types");
    auto xTy = op.getX().getType();
    auto bTy = cast<RankedTensorType>(op.getB().getType());
    int64_t Bs = xTy.getDimSize(0), L = xTy.getDimSize(1), H = xTy.getDimSize(2),
            P = xTy.getDimSize(3), G = bTy.getDimSize(2), N = bTy.getDimSize(3);
    if (G != 1 && (ShapedType::isDynamic(G) || ShapedType::isDynamic(H)))
      return rw.notifyMatchFailure(op, "grouped B/C need static H and G");

    Location loc = op.getLoc();
    MLIRContext *ctx = rw.getContext();
    auto par = utils::IteratorType::parallel;
    auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
    auto mapOf = [&](unsigned rank, ArrayRef<AffineExpr> exprs) {
      return AffineMap::get(rank, 0, exprs, ctx);
    };
    auto cst = [&](OpBuilder &b, double v) -> Value {
      return arith::ConstantOp::create(b, loc, b.getFloatAttr(elt, v));
    };
    Value x = op.getX(), Bm = op.getB();
    // Sources of every dimension, for tensor.empty of dynamic shapes.
    std::pair<Value, int64_t> sB{x, 0}, sL{x, 1}, sH{x, 2}, sP{x, 3}, sN{Bm, 3};
    auto generic = [&](ArrayRef<int64_t> shape,
                       ArrayRef<std::pair<Value, int64_t>> sources,
                       ArrayRef<Value> ins, ArrayRef<AffineMap> inMaps,
                       function_ref<Value(OpBuilder &, ValueRange)> body) {
      unsigned rank = shape.size();
      SmallVector<AffineMap> maps(inMaps);
      SmallVector<AffineExpr> id;
      for (unsigned i = 0; i < rank; ++i)
        id.push_back(d(i));
      maps.push_back(mapOf(rank, id));
      auto type = RankedTensorType::get(shape, elt);
      return linalg::GenericOp::create(
                 rw, loc, type, ins,
                 ValueRange{emptyTensor(rw, loc, shape, elt, sources)}, maps,
                 SmallVector<utils::IteratorType>(rank, par),
                 [&](OpBuilder &b, Location loc, ValueRange args) {
                   linalg::YieldOp::create(b, loc, body(b, args));
                 })
          .getResult(0);
    };

    // dt = softplus(dt + dt_bias): [B, L, H]
    SmallVector<Value> dtIns = {op.getDt()};
    SmallVector<AffineMap> dtMaps = {mapOf(3, {d(0), d(1), d(2)})};
    if (Value bias = op.getDtBias()) {
      dtIns.push_back(bias);
      dtMaps.push_back(mapOf(3, {d(2)}));
    }
    bool softplus = op.getDtSoftplus();
    Value dt = generic({Bs, L, H}, {sB, sL, sH}, dtIns, dtMaps,
                       [&](OpBuilder &b, ValueRange args) -> Value {
                         Value v = args[0];
                         if (args.size() > 2)
                           v = arith::AddFOp::create(b, loc, v, args[1]);
                         if (!softplus)
                           return v;
                         Value sp = math::Log1pOp::create(
                             b, loc, math::ExpOp::create(b, loc, v));
                         Value big = arith::CmpFOp::create(
                             b, loc, arith::CmpFPredicate::OGT, v, cst(b, 20));
                         return arith::SelectOp::create(b, loc, big, v, sp);
                       });
    // q = C, k = B in [B, H, L, N]; head h reads group h / (H / G).
    AffineExpr group = G == 1 ? getAffineConstantExpr(0, ctx)
                              : d(1).floorDiv(H / G);
    auto project = [&](Value t) {
      return generic({Bs, H, L, N}, {sB, sH, sL, sN}, {t},
                     {mapOf(4, {d(0), d(2), group, d(3)})},
                     [&](OpBuilder &, ValueRange args) { return args[0]; });
    };
    Value q = project(op.getC()), k = project(Bm);
    // v = dt x in [B, H, L, P]; log gate = dt A in [B, H, L].
    Value v = generic({Bs, H, L, P}, {sB, sH, sL, sP}, {dt, x},
                      {mapOf(4, {d(0), d(2), d(1)}),
                       mapOf(4, {d(0), d(2), d(1), d(3)})},
                      [&](OpBuilder &b, ValueRange args) -> Value {
                        return arith::MulFOp::create(b, loc, args[0], args[1]);
                      });
    Value gate = generic({Bs, H, L}, {sB, sH, sL}, {dt, op.getA()},
                         {mapOf(3, {d(0), d(2), d(1)}), mapOf(3, {d(1)})},
                         [&](OpBuilder &b, ValueRange args) -> Value {
                           return arith::MulFOp::create(b, loc, args[0], args[1]);
                         });
    // States: SSD's [S, H, P, N] is linear attention's [S, H, K = N, V = P].
    Value h0;
    if (Value init = op.getH0()) {
      auto t = cast<RankedTensorType>(init.getType());
      h0 = generic({t.getDimSize(0), H, N, P}, {{init, 0}, sH, sN, sP}, {init},
                   {mapOf(4, {d(0), d(1), d(3), d(2)})},
                   [&](OpBuilder &, ValueRange args) { return args[0]; });
    }
    Type stateTy;
    if (Value fs = op.getFinalState()) {
      auto t = cast<RankedTensorType>(fs.getType());
      stateTy = RankedTensorType::get({t.getDimSize(0), H, N, P}, elt);
    }
    auto attn = ssm::LinearAttentionOp::create(
        rw, loc, RankedTensorType::get({Bs, H, L, P}, elt), stateTy, q, k, v,
        gate, h0, op.getCuSeqlens(), rw.getStringAttr("identity"),
        rw.getF64FloatAttr(1.0), UnitAttr());

    // y = o (+ D x) * silu(z), back in [B, L, H, P].
    SmallVector<Value> ins = {attn.getOut(), x};
    SmallVector<AffineMap> maps = {mapOf(4, {d(0), d(2), d(1), d(3)}),
                                   mapOf(4, {d(0), d(1), d(2), d(3)})};
    bool hasD = static_cast<bool>(op.getD()), hasZ = static_cast<bool>(op.getZ());
    if (hasD) {
      ins.push_back(op.getD());
      maps.push_back(mapOf(4, {d(2)}));
    }
    if (hasZ) {
      ins.push_back(op.getZ());
      maps.push_back(mapOf(4, {d(0), d(1), d(2), d(3)}));
    }
    Value y = generic({Bs, L, H, P}, {sB, sL, sH, sP}, ins, maps,
                      [&](OpBuilder &b, ValueRange args) -> Value {
                        Value v = args[0];
                        unsigned next = 2;
                        if (hasD)
                          v = math::FmaOp::create(b, loc, args[next++], args[1], v);
                        if (hasZ) {
                          Value zv = args[next];
                          Value e = math::ExpOp::create(
                              b, loc, arith::NegFOp::create(b, loc, zv));
                          v = arith::MulFOp::create(
                              b, loc, v,
                              arith::DivFOp::create(
                                  b, loc, zv,
                                  arith::AddFOp::create(b, loc, cst(b, 1), e)));
                        }
                        return v;
                      });
    SmallVector<Value> results = {y};
    if (Value fs = op.getFinalState()) {
      Value S = attn.getFinalState();
      auto t = cast<RankedTensorType>(fs.getType());
      results.push_back(generic(t.getShape(), {{S, 0}, sH, sP, sN}, {S},
                                {mapOf(4, {d(0), d(1), d(3), d(2)})},
                                [&](OpBuilder &, ValueRange args) { return args[0]; }));
    }
    rw.replaceOp(op, results);
    return success();
  }
};

struct SSMDecomposePass
    : public ssmc::impl::SSMDecomposeBase<SSMDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<SelectiveScanToScan, SSDToLinearAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
