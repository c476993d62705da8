//===- CausalConv1dToLoops.cpp - CPU lowering of the causal conv ----------===//
//
// Parallel over (batch, channel); per channel one pass over the sequence
// with the W taps as an inner loop. Inputs before the start of the sequence
// come from initial_state (or are zero). Scalar code: the convolution costs
// W multiply-adds per element, far below the scan it feeds.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

struct CausalConv1dToLoops : OpRewritePattern<ssm::CausalConv1dOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::CausalConv1dOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto acc = cast<FloatType>(op.getAccumulatorType());
    Value x = toBuffer(rw, loc, op.getX()), w = toBuffer(rw, loc, op.getWeight()),
          bias = toBuffer(rw, loc, op.getBias()),
          init = toBuffer(rw, loc, op.getInitialState());
    Value batch = dimOf(rw, loc, x, 0), chans = dimOf(rw, loc, x, 1),
          len = dimOf(rw, loc, x, 2), width = dimOf(rw, loc, w, 1);
    Value c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    Value widthM1 = arith::SubIOp::create(rw, loc, width, c1);

    auto outTy = op.getOut().getType();
    Value out = allocLike(rw, loc, outTy, {batch, chans, len});
    Value fs;
    if (Value r = op.getFinalState())
      fs = allocLike(rw, loc, r.getType(), {batch, chans, widthM1});

    RuntimeShapeChecks checks(rw, loc, op);
    NamedDim dB{"B", batch, "dimension 0 of 'x'"}, dD{"D", chans, "dimension 1 of 'x'"},
        dL{"L", len, "dimension 2 of 'x'"},
        dW1{"W - 1", widthM1, "dimension 1 of 'weight' minus 1"};
    checkOperandDims(checks, rw, loc, w, "weight", {dD});
    checkOperandDims(checks, rw, loc, bias, "bias", {dD});
    checkOperandDims(checks, rw, loc, init, "initial_state", {dB, dD, dW1});
    checkResultDims(checks, rw, loc, outTy, "out", {dB, dD, dL});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dB, dD, dW1});
    checks.require(arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::sge,
                                         width, c1),
                   width, c1, "the kernel width W must be at least 1");

    auto guard = scf::IfOp::create(rw, loc, checks.allOk(), false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0}, ValueRange{batch, chans}, ValueRange{c1, c1},
        [&](OpBuilder &b, Location loc, ValueRange ivs) {
          Value bi = ivs[0], d = ivs[1];
          auto zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, 0));
          auto load = [&](Value mem, ValueRange at) -> Value {
            return castFloat(b, loc, memref::LoadOp::create(b, loc, mem, at), acc);
          };
          // xx(t) for any t >= -(W - 1).
          auto input = [&](OpBuilder &b, Value t) -> Value {
            Value inside =
                arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, t, c0);
            auto branch = scf::IfOp::create(
                b, loc, inside,
                [&](OpBuilder &b, Location loc) {
                  scf::YieldOp::create(b, loc, load(x, {bi, d, t}));
                },
                [&](OpBuilder &b, Location loc) {
                  Value v = zero;
                  if (init)
                    v = load(init, {bi, d, arith::AddIOp::create(b, loc, widthM1, t)});
                  scf::YieldOp::create(b, loc, v);
                });
            return branch.getResult(0);
          };
          Value bd = bias ? load(bias, {d}) : Value(zero);
          Type e = cast<MemRefType>(out.getType()).getElementType();
          scf::ForOp::create(
              b, loc, c0, len, c1, ValueRange{},
              [&](OpBuilder &b, Location loc, Value t, ValueRange) {
                Value first = arith::SubIOp::create(b, loc, t, widthM1);
                auto taps = scf::ForOp::create(
                    b, loc, c0, width, c1, ValueRange{bd},
                    [&](OpBuilder &b, Location loc, Value i, ValueRange sum) {
                      Value xi = input(b, arith::AddIOp::create(b, loc, first, i));
                      scf::YieldOp::create(
                          b, loc,
                          ValueRange{math::FmaOp::create(b, loc, load(w, {d, i}), xi, sum[0])});
                    });
                Value s = taps.getResult(0);
                if (op.getSilu()) {
                  Value one = arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, 1));
                  Value ex = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, s));
                  s = arith::DivFOp::create(b, loc, s, arith::AddFOp::create(b, loc, one, ex));
                }
                memref::StoreOp::create(b, loc, castFloat(b, loc, s, e), out,
                                        ValueRange{bi, d, t});
                scf::YieldOp::create(b, loc);
              });
          if (fs)
            scf::ForOp::create(
                b, loc, c0, widthM1, c1, ValueRange{},
                [&](OpBuilder &b, Location loc, Value j, ValueRange) {
                  Value t = arith::AddIOp::create(
                      b, loc, arith::SubIOp::create(b, loc, len, widthM1), j);
                  Type fe = cast<MemRefType>(fs.getType()).getElementType();
                  memref::StoreOp::create(b, loc, castFloat(b, loc, input(b, t), fe),
                                          fs, ValueRange{bi, d, j});
                  scf::YieldOp::create(b, loc);
                });
        });
    rw.setInsertionPointAfter(guard);
    replaceWithBuffers(rw, loc, op, out, fs);
    return success();
  }
};

} // namespace

void ssmc::populateCausalConv1dToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<CausalConv1dToLoops>(patterns.getContext());
}
