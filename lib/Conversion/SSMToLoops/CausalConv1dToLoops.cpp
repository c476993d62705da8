//===- CausalConv1dToLoops.cpp - CPU lowering of the causal conv ----------===//
//
// Parallel over (sequence, channel): a sequence is a batch entry, or one of
// the packed sequences of cu_seqlens (its steps [begin, end) of the single
// batch entry). Per channel one pass over the sequence with the W taps as an
// inner loop; inputs before the start of the sequence come from its
// initial_state (or are zero), so no tap crosses a sequence boundary.
// Weight and bias are read from their own element type. Scalar code: the
// convolution costs W multiply-adds per element, far below the scan it
// feeds.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
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

/// The lowering of one ssm.causal_conv1d: buffers and shape checks, then one
/// task per (batch, channel).
class CausalConvLowering {
public:
  CausalConvLowering(ssm::CausalConv1dOp op, PatternRewriter &rw)
      : op(op), rw(rw), loc(op.getLoc()),
        acc(cast<FloatType>(op.getAccumulatorType())) {}

  LogicalResult run() {
    allocateBuffers();
    auto guard = scf::IfOp::create(rw, loc, checkShapes(), false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0}, ValueRange{sequences, chans},
        ValueRange{c1, c1},
        [&](OpBuilder &b, Location loc, ValueRange ivs) {
          ChannelEmitter{*this, b, loc, ivs[0], ivs[1]}.emit();
        });
    rw.setInsertionPointAfter(guard);
    replaceWithBuffers(rw, loc, op, out, fs);
    return success();
  }

private:
  void allocateBuffers() {
    x = toBuffer(rw, loc, op.getX()), w = toBuffer(rw, loc, op.getWeight()),
    bias = toBuffer(rw, loc, op.getBias());
    // The initial state is read where it lies (a layer's slice of a
    // decoder's states), so the final state can be stored there too.
    init = toStridedBuffer(rw, loc, op.getInitialState());
    cu = toBuffer(rw, loc, op.getCuSeqlens());
    batch = dimOf(rw, loc, x, 0), chans = dimOf(rw, loc, x, 1),
    len = dimOf(rw, loc, x, 2), width = dimOf(rw, loc, w, 1);
    c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    widthM1 = arith::SubIOp::create(rw, loc, width, c1);
    // Packed sequences each own a state; otherwise each batch entry does.
    sequences = cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, cu, 0), c1)
                         .getResult()
                   : batch;

    out = allocLike(rw, loc, op.getOut().getType(), {batch, chans, len});
    if (Value r = op.getFinalState())
      fs = allocLike(rw, loc, r.getType(), {sequences, chans, widthM1});
  }

  /// The run-time shape checks; returns the condition the loops run under.
  Value checkShapes() {
    RuntimeShapeChecks checks(rw, loc, op);
    NamedDim dB{"B", batch, "dimension 0 of 'x'"}, dD{"D", chans, "dimension 1 of 'x'"},
        dL{"L", len, "dimension 2 of 'x'"},
        dW1{"W - 1", widthM1, "dimension 1 of 'weight' minus 1"};
    checkOperandDims(checks, rw, loc, w, "weight", {dD});
    checkOperandDims(checks, rw, loc, bias, "bias", {dD});
    NamedDim dS{"S", sequences, cu ? "the number of sequences in 'cu_seqlens'"
                                   : "dimension 0 of 'x'"};
    checkOperandDims(checks, rw, loc, init, "initial_state", {dS, dD, dW1});
    checkResultDims(checks, rw, loc, op.getOut().getType(), "out",
                    {dB, dD, dL});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dS, dD, dW1});
    if (cu) {
      NamedDim one{"B", c1, "1 (sequences are packed into one batch entry)"};
      checkOperandDims(checks, rw, loc, x, "x", {one});
      checkPackedOffsets(checks, rw, loc, cu, sequences, len);
    }
    checks.require(arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::sge,
                                         width, c1),
                   width, c1, "the kernel width W must be at least 1");
    return checks.allOk();
  }

  /// Channel `d` of sequence `seq`: the output sequence, then the last
  /// W - 1 inputs as the final state.
  struct ChannelEmitter {
    CausalConvLowering &c;
    OpBuilder &b;
    Location loc;
    Value seq, d;
    /// The accumulator's 0, the batch entry read and the sequence's steps
    /// [begin, end), set by emit().
    Value zero = {}, bi = {}, begin = {}, end = {};

    void emit() {
      zero = arith::ConstantOp::create(b, loc, b.getFloatAttr(c.acc, 0));
      bi = c.cu ? c.c0 : seq;
      begin = c.cu ? packedOffset(b, loc, c.cu, seq) : c.c0;
      end = c.cu ? packedOffset(b, loc, c.cu,
                                arith::AddIOp::create(b, loc, seq, c.c1))
                 : c.len;
      Value bd = c.bias ? load(c.bias, {d}) : zero;
      emitOutputs(bd);
      if (c.fs)
        storeFinalState();
    }

    Value load(Value mem, ValueRange at) {
      return castFloat(b, loc, memref::LoadOp::create(b, loc, mem, at), c.acc);
    }

    /// xx(t) for any t >= begin - (W - 1): x inside the sequence, before it
    /// the sequence's initial state (or zero).
    Value input(OpBuilder &b, Value t) {
      Value inside =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, t, begin);
      auto branch = scf::IfOp::create(
          b, loc, inside,
          [&](OpBuilder &b, Location loc) {
            scf::YieldOp::create(b, loc, load(c.x, {bi, d, t}));
          },
          [&](OpBuilder &b, Location loc) {
            Value v = zero;
            if (c.init)
              v = load(c.init,
                       {seq, d,
                        arith::AddIOp::create(
                            b, loc, c.widthM1,
                            arith::SubIOp::create(b, loc, t, begin))});
            scf::YieldOp::create(b, loc, v);
          });
      // A task touches only its own (sequence, channel) row of the initial
      // and final state. The outputs read the initial state first; then
      // final_state[j] = xx(end - (W - 1) + j) for j ascending reads
      // element j + L of the initial state (L the sequence's length) if
      // any, never one below j: each element is read before the same
      // element of the final state is written and never after, so
      // ssm-forward-state-copies may store the final state over the
      // initial one. The branch is marked, not the load: canonicalization
      // turns a load of the initial state's buffer into a tensor.extract.
      if (c.init && c.fs)
        markInPlace(branch);
      return branch.getResult(0);
    }

    /// out[t] = bias + sum_i w[i] xx(t - (W - 1) + i), through silu when
    /// asked.
    void emitOutputs(Value bd) {
      Type e = cast<MemRefType>(c.out.getType()).getElementType();
      scf::ForOp::create(
          b, loc, begin, end, c.c1, ValueRange{},
          [&](OpBuilder &b, Location loc, Value t, ValueRange) {
            Value first = arith::SubIOp::create(b, loc, t, c.widthM1);
            auto taps = scf::ForOp::create(
                b, loc, c.c0, c.width, c.c1, ValueRange{bd},
                [&](OpBuilder &b, Location loc, Value i, ValueRange sum) {
                  Value xi = input(b, arith::AddIOp::create(b, loc, first, i));
                  scf::YieldOp::create(
                      b, loc,
                      ValueRange{math::FmaOp::create(b, loc, load(c.w, {d, i}),
                                                     xi, sum[0])});
                });
            Value s = taps.getResult(0);
            if (c.op.getSilu()) {
              Value one =
                  arith::ConstantOp::create(b, loc, b.getFloatAttr(c.acc, 1));
              Value ex = math::ExpOp::create(b, loc,
                                             arith::NegFOp::create(b, loc, s));
              s = arith::DivFOp::create(b, loc, s,
                                        arith::AddFOp::create(b, loc, one, ex));
            }
            memref::StoreOp::create(b, loc, castFloat(b, loc, s, e), c.out,
                                    ValueRange{bi, d, t});
            scf::YieldOp::create(b, loc);
          });
    }

    /// final_state[j] = xx(end - (W - 1) + j).
    void storeFinalState() {
      scf::ForOp::create(
          b, loc, c.c0, c.widthM1, c.c1, ValueRange{},
          [&](OpBuilder &b, Location loc, Value j, ValueRange) {
            Value t = arith::AddIOp::create(
                b, loc, arith::SubIOp::create(b, loc, end, c.widthM1), j);
            Type fe = cast<MemRefType>(c.fs.getType()).getElementType();
            auto store = memref::StoreOp::create(
                b, loc, castFloat(b, loc, input(b, t), fe), c.fs,
                ValueRange{seq, d, j});
            if (c.init)
              markInPlace(store); // see input()
            scf::YieldOp::create(b, loc);
          });
    }
  };

  ssm::CausalConv1dOp op;
  PatternRewriter &rw;
  Location loc;
  FloatType acc;
  Value x, w, bias, init, cu, batch, chans, len, width, c0, c1, widthM1,
      sequences, out, fs;
};

struct CausalConv1dToLoops : OpRewritePattern<ssm::CausalConv1dOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::CausalConv1dOp op,
                                PatternRewriter &rw) const override {
    return CausalConvLowering(op, rw).run();
  }
};

} // namespace

void ssmc::populateCausalConv1dToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<CausalConv1dToLoops>(patterns.getContext());
}
