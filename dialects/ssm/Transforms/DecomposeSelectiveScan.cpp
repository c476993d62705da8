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
// Handled: shared B/C ([B, N, L]) and B/C fixed over time ([Dm, N], read
// through the maps (d, n)), f32/f64 programs, and a final state only
// when L is static and positive (h_L is the last element of the scan).
//
//===----------------------------------------------------------------------===//

#include "DecomposeUtils.h"
#include "ssmc/Dialect/SSM/Rewrites.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/AffineMap.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

using namespace mlir;
using namespace ssmc::decompose;

namespace {

/// (value, dim) sources of each dimension of a tensor, for tensor.empty of
/// dynamic shapes.
using DimSources = SmallVector<std::pair<Value, int64_t>>;

/// One selective_scan rewritten stage by stage; each stage leaves the tensor
/// the next one reads.
class SelectiveScanDecomposition {
public:
  SelectiveScanDecomposition(ssm::SelectiveScanOp op, PatternRewriter &rw)
      : op(op), rw(rw), loc(op.getLoc()), ctx(rw.getContext()),
        elt(op.getU().getType().getElementType()), uTy(op.getU().getType()),
        u(op.getU()), A(op.getA()) {
    int64_t Bs = uTy.getDimSize(0), Dm = uTy.getDimSize(1),
            N = op.getStateSize();
    fourTy = RankedTensorType::get({Bs, Dm, N, op.getSeqLen()}, elt);
    bdl = {{u, 0}, {u, 1}, {u, 2}};
    bdnl = {{u, 0}, {u, 1}, {A, 1}, {u, 2}};
  }

  /// The forms the rewrite handles; it leaves the others alone.
  static LogicalResult checkSupported(ssm::SelectiveScanOp op,
                                      PatternRewriter &rw) {
    Type elt = op.getU().getType().getElementType();
    if (elt != op.getAccumulatorType())
      return rw.notifyMatchFailure(op, "handles f32/f64 programs only");
    if (op.isGroupedB() || op.isGroupedC())
      return rw.notifyMatchFailure(op, "grouped B/C not handled");
    if (op.getCuSeqlens() || op.getSeqIdx())
      return rw.notifyMatchFailure(op, "packed sequences not handled");
    for (Value v : {op.getA(), op.getD(), op.getDeltaBias()})
      if (v && getElementTypeOrSelf(v.getType()) != elt)
        return rw.notifyMatchFailure(op, "mixed parameter types");
    int64_t L = op.getSeqLen();
    if (op.getFinalState() && (ShapedType::isDynamic(L) || L == 0))
      return rw.notifyMatchFailure(op, "final state needs a static L > 0");
    return success();
  }

  void rewrite() {
    emitStepSizes();
    emitDecaysAndInputs();
    emitScan();
    emitReadout();
    emitSkipAndGate();
    SmallVector<Value> results = {out};
    if (Value fs = op.getFinalState())
      results.push_back(
          extractFinalState(cast<RankedTensorType>(fs.getType())));
    rw.replaceOp(op, results);
  }

private:
  AffineMap map(unsigned rank, ArrayRef<unsigned> dims) const {
    SmallVector<AffineExpr> exprs;
    for (unsigned d : dims)
      exprs.push_back(getAffineDimExpr(d, ctx));
    return AffineMap::get(rank, 0, exprs, ctx);
  }

  /// B or C in the (b, d, n, l) iteration space: [B, N, L] at (b, n, l),
  /// fixed over time [Dm, N] at (d, n).
  AffineMap projectionMap(bool fixed) const {
    return fixed ? map(4, {1, 2}) : map(4, {0, 2, 3});
  }

  /// dt[b,d,l] = softplus(delta + bias)
  void emitStepSizes() {
    SmallVector<Value> ins = {op.getDelta()};
    SmallVector<AffineMap> maps = {map(3, {0, 1, 2})};
    if (Value bias = op.getDeltaBias()) {
      ins.push_back(bias);
      maps.push_back(map(3, {1}));
    }
    bool withSoftplus = op.getDeltaSoftplus();
    dt = parallelGeneric(rw, loc, uTy, bdl, ins, maps,
                         [&](OpBuilder &b, Location loc, ValueRange args) {
                           Value x = args[0];
                           if (args.size() > 2)
                             x = arith::AddFOp::create(b, loc, x, args[1]);
                           if (withSoftplus)
                             x = softplus(b, loc, x, elt);
                           return x;
                         });
  }

  /// a[b,d,n,l] = exp(dt A);  bu[b,d,n,l] = dt B u (+ a h0 at l = 0)
  void emitDecaysAndInputs() {
    a = parallelGeneric(
        rw, loc, fourTy, bdnl, ValueRange{dt, A},
        {map(4, {0, 1, 3}), map(4, {1, 2})},
        [&](OpBuilder &b, Location loc, ValueRange args) -> Value {
          return math::ExpOp::create(
              b, loc, arith::MulFOp::create(b, loc, args[0], args[1]));
        });
    SmallVector<Value> ins = {dt, op.getB(), u};
    SmallVector<AffineMap> maps = {map(4, {0, 1, 3}), projectionMap(op.isFixedB()),
                                   map(4, {0, 1, 3})};
    if (Value h0 = op.getH0()) {
      ins.append({a, h0});
      maps.append({map(4, {0, 1, 2, 3}), map(4, {0, 1, 2})});
    }
    bool withH0 = static_cast<bool>(op.getH0());
    bu = parallelGeneric(
        rw, loc, fourTy, bdnl, ins, maps,
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
            Value withState =
                math::FmaOp::create(b, loc, args[3], args[4], v);
            v = arith::SelectOp::create(b, loc, first, withState, v);
          }
          return v;
        });
  }

  /// h = scan of (a, bu) pairs along l, combined as
  /// (a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2).
  void emitScan() {
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
    h = scan.getResult(1);
  }

  /// y[b,d,l] = sum_n C[b,n,l] h[b,d,n,l]  (C[d,n] when fixed)
  void emitReadout() {
    auto par = utils::IteratorType::parallel;
    auto red = utils::IteratorType::reduction;
    Value zeros =
        linalg::FillOp::create(
            rw, loc, ValueRange{floatConstant(rw, loc, elt, 0)},
            ValueRange{emptyTensor(rw, loc, uTy.getShape(), elt, bdl)})
            .getResult(0);
    y = linalg::GenericOp::create(
            rw, loc, uTy, ValueRange{op.getC(), h}, ValueRange{zeros},
            SmallVector<AffineMap>{projectionMap(op.isFixedC()),
                                   map(4, {0, 1, 2, 3}),
                                   map(4, {0, 1, 3})},
            SmallVector<utils::IteratorType>{par, par, red, par},
            [&](OpBuilder &b, Location loc, ValueRange args) {
              linalg::YieldOp::create(
                  b, loc,
                  ValueRange{math::FmaOp::create(b, loc, args[0], args[1],
                                                 args[2])});
            })
            .getResult(0);
  }

  /// out = (y + D u) * silu(z)
  void emitSkipAndGate() {
    out = y;
    if (!op.getD() && !op.getZ())
      return;
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
    bool hasD = static_cast<bool>(op.getD()),
         hasZ = static_cast<bool>(op.getZ());
    out = parallelGeneric(rw, loc, uTy, bdl, ins, maps,
                          [&](OpBuilder &b, Location loc, ValueRange args) {
                            return skipAndGate(b, loc, args, hasD, hasZ, elt);
                          });
  }

  /// h_L: the last scan element.
  Value extractFinalState(RankedTensorType stateTy) {
    int64_t L = op.getSeqLen();
    SmallVector<OpFoldResult> offsets = {rw.getIndexAttr(0), rw.getIndexAttr(0),
                                         rw.getIndexAttr(0),
                                         rw.getIndexAttr(L - 1)};
    SmallVector<OpFoldResult> sizes;
    for (auto [i, src] : llvm::enumerate(bdnl))
      sizes.push_back(i == 3 ? OpFoldResult(rw.getIndexAttr(1))
                             : tensor::getMixedSize(rw, loc, src.first,
                                                    src.second));
    SmallVector<OpFoldResult> strides(4, rw.getIndexAttr(1));
    return tensor::ExtractSliceOp::create(rw, loc, stateTy, h, offsets, sizes,
                                          strides);
  }

  ssm::SelectiveScanOp op;
  PatternRewriter &rw;
  Location loc;
  MLIRContext *ctx;
  Type elt;
  /// [B, Dm, L] (u, dt, y, out) and [B, Dm, N, L] (a, bu, h).
  RankedTensorType uTy, fourTy;
  Value u, A;
  DimSources bdl, bdnl;

  Value dt, a, bu, h, y, out;
};

struct SelectiveScanToScan : OpRewritePattern<ssm::SelectiveScanOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::SelectiveScanOp op,
                                PatternRewriter &rw) const override {
    if (failed(SelectiveScanDecomposition::checkSupported(op, rw)))
      return failure();
    SelectiveScanDecomposition(op, rw).rewrite();
    return success();
  }
};

} // namespace

void ssmc::populateDecomposeSelectiveScanPatterns(
    RewritePatternSet &patterns) {
  patterns.add<SelectiveScanToScan>(patterns.getContext());
}
