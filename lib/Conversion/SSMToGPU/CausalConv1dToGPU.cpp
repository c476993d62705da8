//===- CausalConv1dToGPU.cpp - ssm.causal_conv1d as a GPU kernel ----------===//
//
// A thread per output element, and for the final state a second launch
// with a thread per (batch, channel). As for selective_scan, the kernels
// name host buffers and ssm-gpu-stage-buffers stages them. f32/f16/bf16
// operands; other forms stay on the CPU lowering.
//
// ssm.causal_conv1d_step (the decode step): without conv_state_indices a
// thread per (batch, channel) reads its state row's window and writes its
// new row (shifted, or the ring entry replaced). With a pool of slots a
// first launch copies the pool into new_state (a thread per element) and a
// second takes a thread per channel through the batch entries in order,
// updating the named slots in place, so that a slot named twice sees the
// first entry's update as on the CPU. The run-time checks (shapes, slots
// below P, cache_seqlens >= 0) run on the host as in the CPU lowering; a
// failed check launches no thread.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/CausalConvStep.h"
#include "lib/Conversion/Utils/LoweringUtils.h"
#include "KernelUtils.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;

namespace {

struct CausalConv1dToGPU : OpRewritePattern<ssm::CausalConv1dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::CausalConv1dOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    if (!gpuFloatOperands(op))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
    Value x = toStridedBuffer(rw, loc, op.getX()), w = toStridedBuffer(rw, loc, op.getWeight()),
          bias = toStridedBuffer(rw, loc, op.getBias()),
          init = toStridedBuffer(rw, loc, op.getInitialState());
    Value Bsz = dimOf(rw, loc, x, 0), D = dimOf(rw, loc, x, 1),
          L = dimOf(rw, loc, x, 2), W = dimOf(rw, loc, w, 1);
    Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1);
    Value Wm1 = arith::SubIOp::create(rw, loc, W, c1);
    Value out = allocLike(rw, loc, op.getOut().getType(), {Bsz, D, L});
    Value fin;
    if (op.getFinalState())
      fin = allocLike(rw, loc, op.getFinalState().getType(), {Bsz, D, Wm1});
    // x[b, d, t] for t >= 0, the initial state (or 0) for t < 0.
    auto xx = [&](OpBuilder &bb, Value b, Value d, Value t) -> Value {
      Value neg = arith::CmpIOp::create(bb, loc, arith::CmpIPredicate::slt, t, c0);
      auto ifOp = scf::IfOp::create(bb, loc, TypeRange{bb.getF32Type()}, neg, true);
      {
        OpBuilder::InsertionGuard g(bb);
        bb.setInsertionPointToStart(&ifOp.getThenRegion().front());
        Value v = init ? load32(bb, loc, init,
                                ValueRange{b, d, arith::AddIOp::create(bb, loc, Wm1, t)})
                       : cf32(bb, loc, 0);
        scf::YieldOp::create(bb, loc, v);
        bb.setInsertionPointToStart(&ifOp.getElseRegion().front());
        scf::YieldOp::create(bb, loc,
                             ValueRange{load32(bb, loc, x, ValueRange{b, d, t})});
      }
      return ifOp.getResult(0);
    };
    // One thread per output element.
    Value lanes = arith::MulIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, Bsz, D), L);
    launchLanes(rw, loc, lanes, [&](Value lane) {
      Value t = arith::RemUIOp::create(rw, loc, lane, L);
      Value bd = arith::DivUIOp::create(rw, loc, lane, L);
      Value d = arith::RemUIOp::create(rw, loc, bd, D);
      Value b = arith::DivUIOp::create(rw, loc, bd, D);
      Value start = bias ? load32(rw, loc, bias, ValueRange{d})
                         : cf32(rw, loc, 0);
      auto sum = scf::ForOp::create(
          rw, loc, c0, W, c1, ValueRange{start},
          [&](OpBuilder &bb, Location l, Value i, ValueRange s) {
            Value ti = arith::AddIOp::create(bb, l, arith::SubIOp::create(bb, l, t, Wm1), i);
            Value wi = load32(bb, l, w, ValueRange{d, i});
            scf::YieldOp::create(bb, l,
                                 ValueRange{math::FmaOp::create(bb, l, wi, xx(bb, b, d, ti), s[0])});
          });
      Value y = sum.getResult(0);
      if (op.getSilu())
        y = silu(rw, loc, y);
      store32(rw, loc, y, out, ValueRange{b, d, t});
    });
    // The final state: one thread per (batch, channel), also for L = 0.
    if (fin)
      launchLanes(rw, loc, arith::MulIOp::create(rw, loc, Bsz, D), [&](Value lane) {
        Value d = arith::RemUIOp::create(rw, loc, lane, D);
        Value b = arith::DivUIOp::create(rw, loc, lane, D);
        forEach(rw, loc, Wm1, [&](OpBuilder &bb, Value j) {
          Value tj = arith::AddIOp::create(bb, loc, arith::SubIOp::create(bb, loc, L, Wm1), j);
          store32(bb, loc, xx(bb, b, d, tj), fin, ValueRange{b, d, j});
        });
      });
    replaceWithBuffers(rw, loc, op, out, fin);
    return success();
  }
};

/// Whether the float operands of the conv step are f32, f16 or bf16 (the
/// index operands are i32/i64).
bool gpuFloatStep(ssm::CausalConv1dStepOp op) {
  for (Value v : {op.getX(), op.getState(), op.getWeight(), op.getBias()}) {
    if (!v)
      continue;
    Type e = getElementTypeOrSelf(v.getType());
    if (!e.isF32() && !e.isF16() && !e.isBF16())
      return false;
  }
  return true;
}

/// The conv step's kernels, stage by stage: operands and checks, results,
/// the pool copy (with slots), the entries.
class CausalConvStepKernel {
public:
  CausalConvStepKernel(ssm::CausalConv1dStepOp op, PatternRewriter &rw)
      : op(op), rw(rw), loc(op.getLoc()), v(rw, loc, op) {}

  void run() {
    Value ok = v.check(rw, loc, op);
    out = allocLike(rw, loc, op.getOut().getType(), {v.batch, v.chans});
    newState = allocLike(rw, loc, op.getNewState().getType(),
                         {v.pool, v.chans, v.stateLen});
    // A failed check launches no thread (the lanes are 0).
    auto lanesIf = [&](Value n) -> Value {
      return arith::SelectOp::create(rw, loc, ok, n, v.c0);
    };
    if (!v.slots) {
      // Batch entry b owns slot b: a thread per (b, d), d fastest.
      launchLanes(rw, loc, lanesIf(mul(v.batch, v.chans)), [&](Value lane) {
        Value d = arith::RemUIOp::create(rw, loc, lane, v.chans);
        Value b = arith::DivUIOp::create(rw, loc, lane, v.chans);
        emitEntry(rw, b, d, b, v.state);
      });
    } else {
      copyPool(lanesIf(mul(mul(v.pool, v.chans), v.stateLen)));
      launchLanes(rw, loc, lanesIf(v.chans), [&](Value d) {
        forEach(rw, loc, v.batch, [&](OpBuilder &bb, Value b) {
          emitSlotEntry(bb, b, d);
        });
      });
    }
    rw.replaceOp(op, {toTensor(rw, loc, op.getOut().getType(), out),
                      toTensor(rw, loc, op.getNewState().getType(), newState)});
  }

private:
  Value mul(Value a, Value b) { return arith::MulIOp::create(rw, loc, a, b); }

  /// new_state = state, a thread per element (consecutive threads,
  /// consecutive elements), copied at the state's type.
  void copyPool(Value lanes) {
    launchLanes(rw, loc, lanes, [&](Value lane) {
      Value j = arith::RemUIOp::create(rw, loc, lane, v.stateLen);
      Value pd = arith::DivUIOp::create(rw, loc, lane, v.stateLen);
      Value d = arith::RemUIOp::create(rw, loc, pd, v.chans);
      Value p = arith::DivUIOp::create(rw, loc, pd, v.chans);
      memref::StoreOp::create(
          rw, loc,
          memref::LoadOp::create(rw, loc, v.state, ValueRange{p, d, j}),
          newState, ValueRange{p, d, j});
    });
  }

  /// Batch entry `b` of a pool: slot conv_state_indices[b]; outside
  /// [0, P) (negative: padding) its output is 0 and no slot changes.
  void emitSlotEntry(OpBuilder &b, Value bi, Value d) {
    Value slot = v.indexAt(b, loc, v.slots, bi);
    Value live = arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, slot, v.c0),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, slot,
                              v.pool));
    auto ifLive = scf::IfOp::create(b, loc, live, /*withElse=*/true);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(&ifLive.getElseRegion().front());
    store32(b, loc, cf32(b, loc, 0), out, ValueRange{bi, d});
    b.setInsertionPointToStart(&ifLive.getThenRegion().front());
    emitEntry(b, bi, d, slot, newState);
  }

  /// Entry (b, d) on slot `slot`: the window from `from`'s row (the state,
  /// or new_state updated in place), the output, then the token into
  /// new_state's row (shifted in, or at its ring position).
  void emitEntry(OpBuilder &b, Value bi, Value d, Value slot, Value from) {
    Value pos = v.seqlens ? v.indexAt(b, loc, v.seqlens, bi) : Value();
    Value xv = load32(b, loc, v.x, ValueRange{bi, d});
    Value s0 = v.bias ? load32(b, loc, v.bias, ValueRange{d}) : cf32(b, loc, 0);
    auto taps = scf::ForOp::create(
        b, loc, v.c0, v.widthM1, v.c1, ValueRange{s0},
        [&](OpBuilder &bb, Location l, Value j, ValueRange sum) {
          Value s = load32(bb, l, from,
                           ValueRange{slot, d, v.windowIndex(bb, l, pos, j)});
          scf::YieldOp::create(
              bb, l,
              ValueRange{math::FmaOp::create(
                  bb, l, load32(bb, l, v.weight, ValueRange{d, j}), s,
                  sum[0])});
        });
    Value y = math::FmaOp::create(
        b, loc, load32(b, loc, v.weight, ValueRange{d, v.widthM1}), xv,
        taps.getResult(0));
    if (op.getSilu())
      y = silu(b, loc, y);
    store32(b, loc, y, out, ValueRange{bi, d});
    // The token enters the state (S = 0 keeps no state).
    Value hasState = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt,
                                           v.stateLen, v.c0);
    ifThen(b, loc, hasState, [&](OpBuilder &bb) {
      auto move = [&](OpBuilder &ib, Value src, Value dst) {
        memref::StoreOp::create(
            ib, loc,
            memref::LoadOp::create(ib, loc, from, ValueRange{slot, d, src}),
            newState, ValueRange{slot, d, dst});
      };
      if (pos) {
        if (from != newState)
          forEach(bb, loc, v.stateLen,
                  [&](OpBuilder &ib, Value j) { move(ib, j, j); });
        Value at = arith::RemUIOp::create(bb, loc, pos, v.stateLen);
        store32(bb, loc, xv, newState, ValueRange{slot, d, at});
        return;
      }
      Value last = arith::SubIOp::create(bb, loc, v.stateLen, v.c1);
      forEach(bb, loc, last, [&](OpBuilder &ib, Value j) {
        move(ib, arith::AddIOp::create(ib, loc, j, v.c1), j);
      });
      store32(bb, loc, xv, newState, ValueRange{slot, d, last});
    });
  }

  ssm::CausalConv1dStepOp op;
  PatternRewriter &rw;
  Location loc;
  CausalConvStepOperands v;
  Value out, newState;
};

struct CausalConv1dStepToGPU : OpRewritePattern<ssm::CausalConv1dStepOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::CausalConv1dStepOp op,
                                PatternRewriter &rw) const override {
    if (!gpuFloatStep(op))
      return rw.notifyMatchFailure(
          op, "the GPU kernels take f32, f16 or bf16 operands (f64 stays on "
              "the host)");
    CausalConvStepKernel(op, rw).run();
    return success();
  }
};

} // namespace

void ssmc::populateCausalConv1dToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<CausalConv1dToGPU, CausalConv1dStepToGPU>(patterns.getContext());
}
