//===- CausalConv1dStepToLoops.cpp - CPU lowering of the conv decode step -===//
//
// ssm.causal_conv1d_step: the new state starts as a copy of the state pool;
// then, parallel over channels and in batch order within a channel, each
// batch entry reads its slot's window (the last W - 1 entries, or with
// cache_seqlens the ring-buffer entries before its position), takes the W
// taps, and writes its token into the slot (a shift, or one ring entry).
// Batch entries in order make repeated slots behave as sequential updates.
// Scalar code: W multiply-adds and S moves per channel and token.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/CausalConvStep.h"
#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

#include <optional>

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

class CausalConvStepLowering {
public:
  CausalConvStepLowering(ssm::CausalConv1dStepOp op, PatternRewriter &rw)
      : op(op), rw(rw), loc(op.getLoc()),
        acc(cast<FloatType>(op.getAccumulatorType())) {}

  LogicalResult run() {
    loadOperands();
    allocResults();
    auto guard = scf::IfOp::create(rw, loc, checkShapes(), false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    memref::CopyOp::create(rw, loc, state, newState);
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0}, ValueRange{chans}, ValueRange{c1},
        [&](OpBuilder &b, Location loc, ValueRange ivs) {
          scf::ForOp::create(b, loc, c0, batch, c1, ValueRange{},
                             [&](OpBuilder &b, Location loc, Value bi,
                                 ValueRange) {
                               emitEntry(b, bi, ivs[0]);
                               scf::YieldOp::create(b, loc);
                             });
        });
    rw.setInsertionPointAfter(guard);
    rw.replaceOp(op, {toTensor(rw, loc, op.getOut().getType(), out),
                      toTensor(rw, loc, op.getNewState().getType(), newState)});
    return success();
  }

private:
  void loadOperands() {
    CausalConvStepOperands v(rw, loc, op);
    x = v.x, state = v.state, w = v.weight, bias = v.bias;
    seqlens = v.seqlens, slots = v.slots;
    c0 = v.c0, c1 = v.c1, batch = v.batch, chans = v.chans, pool = v.pool;
    stateLen = v.stateLen, width = v.width, widthM1 = v.widthM1;
    operands.emplace(std::move(v));
  }

  void allocResults() {
    out = allocLike(rw, loc, op.getOut().getType(), {batch, chans});
    newState = allocLike(rw, loc, op.getNewState().getType(),
                         {pool, chans, stateLen});
  }

  /// Index `i` of an i32/i64 buffer as an index value.
  Value indexAt(OpBuilder &b, Value mem, Value i) {
    return operands->indexAt(b, loc, mem, i);
  }

  Value checkShapes() { return operands->check(rw, loc, op); }

  Value load(OpBuilder &b, Value mem, ValueRange at) {
    return castFloat(b, loc, memref::LoadOp::create(b, loc, mem, at), acc);
  }

  /// Batch entry `bi`, channel `d`.
  void emitEntry(OpBuilder &b, Value bi, Value d) {
    Value slot = slots ? indexAt(b, slots, bi) : bi;
    Type outElt = cast<MemRefType>(out.getType()).getElementType();
    Value zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, 0));
    // A negative slot is padding: output 0, no slot touched.
    Value live =
        slots ? Value(arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                            slot, c0))
              : Value(arith::ConstantIntOp::create(b, loc, 1, 1));
    auto ifLive = scf::IfOp::create(b, loc, live, /*withElse=*/true);
    {
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(&ifLive.getElseRegion().front());
      memref::StoreOp::create(b, loc, castFloat(b, loc, zero, outElt), out,
                              ValueRange{bi, d});
      b.setInsertionPointToStart(&ifLive.getThenRegion().front());
      emitLiveEntry(b, bi, d, slot, outElt);
    }
  }

  Value windowIndex(OpBuilder &b, Value pos, Value j) {
    return operands->windowIndex(b, loc, pos, j);
  }

  void emitLiveEntry(OpBuilder &b, Value bi, Value d, Value slot,
                     Type outElt) {
    Value pos = seqlens ? indexAt(b, seqlens, bi) : Value();
    Value xv = load(b, x, {bi, d});
    Value s0 = bias ? load(b, bias, {d})
                    : Value(arith::ConstantOp::create(b, loc,
                                                      b.getFloatAttr(acc, 0)));
    // The W - 1 window taps from the state (as it was before this token).
    auto taps = scf::ForOp::create(
        b, loc, c0, widthM1, c1, ValueRange{s0},
        [&](OpBuilder &b, Location loc, Value j, ValueRange sum) {
          Value v = load(b, newState, {slot, d, windowIndex(b, pos, j)});
          scf::YieldOp::create(
              b, loc,
              ValueRange{math::FmaOp::create(b, loc, load(b, w, {d, j}), v,
                                             sum[0])});
        });
    Value s = math::FmaOp::create(b, loc, load(b, w, {d, widthM1}), xv,
                                  taps.getResult(0));
    if (op.getSilu()) {
      Value one = arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, 1));
      Value ex = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, s));
      s = arith::DivFOp::create(b, loc, s,
                                arith::AddFOp::create(b, loc, one, ex));
    }
    memref::StoreOp::create(b, loc, castFloat(b, loc, s, outElt), out,
                            ValueRange{bi, d});
    // The token enters the state (S = 0 keeps no state).
    Type stElt = cast<MemRefType>(newState.getType()).getElementType();
    Value hasState = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                           stateLen, c0);
    auto ifState = scf::IfOp::create(b, loc, hasState, /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifState.getThenRegion().front());
    Value stored = castFloat(b, loc, xv, stElt);
    if (pos) {
      memref::StoreOp::create(
          b, loc, stored, newState,
          ValueRange{slot, d, arith::RemUIOp::create(b, loc, pos, stateLen)});
      return;
    }
    Value last = arith::SubIOp::create(b, loc, stateLen, c1);
    scf::ForOp::create(
        b, loc, c0, last, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value j, ValueRange) {
          Value next = arith::AddIOp::create(b, loc, j, c1);
          memref::StoreOp::create(
              b, loc,
              memref::LoadOp::create(b, loc, newState,
                                     ValueRange{slot, d, next}),
              newState, ValueRange{slot, d, j});
          scf::YieldOp::create(b, loc);
        });
    memref::StoreOp::create(b, loc, stored, newState,
                            ValueRange{slot, d, last});
  }

  ssm::CausalConv1dStepOp op;
  PatternRewriter &rw;
  Location loc;
  FloatType acc;
  Value x, state, w, bias, seqlens, slots;
  Value c0, c1, batch, chans, pool, stateLen, width, widthM1;
  Value out, newState;
  std::optional<CausalConvStepOperands> operands;
};

struct CausalConv1dStepToLoops : OpRewritePattern<ssm::CausalConv1dStepOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::CausalConv1dStepOp op,
                                PatternRewriter &rw) const override {
    return CausalConvStepLowering(op, rw).run();
  }
};

} // namespace

void ssmc::populateCausalConv1dStepToLoopsPatterns(
    RewritePatternSet &patterns) {
  patterns.add<CausalConv1dStepToLoops>(patterns.getContext());
}
