//===- SSDToLoops.cpp - chunked CPU lowering of Mamba-2 SSD ---------------===//
//
// One task per (sequence, head), running the chunked kernel of
// ChunkedScan.h with q = C, k = B, v = dt x and log decay dt * A[h]: x, z and
// out are contiguous along p, so the value lanes are head channels and the
// state rows are the N state indices. dt (bias, softplus) is computed once
// per step and head; D skip and z gate are applied as each output vector is
// stored. With seq_idx each (batch row, head) task runs the kernel once per
// segment of equal index, from zero (the row's first segment from h0).
//
//===----------------------------------------------------------------------===//

#include "ChunkedScan.h"
#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// Steps that share one pass over the state vectors.
constexpr int64_t kChunk = 4;

/// Emission state of one ssm.ssd lowering: the operand buffers and sizes,
/// then the values of the (sequence, head) task whose loops are being built
/// (the parallel body is emitted once).
class SSDLowering {
public:
  SSDLowering(ssm::SSDOp op, PatternRewriter &rw,
              const ssmc::SSMToLoopsOptions &options)
      : op(op), rw(rw), loc(op.getLoc()),
        acc(cast<FloatType>(op.getAccumulatorType())),
        vw(laneCount(options.vectorBits, acc)),
        vecTy(VectorType::get({vw}, acc)) {
    how.fast = options.fastExp;
    how.avx512 = options.avx512;
  }

  LogicalResult run() {
    loadOperands();
    allocResults();
    RuntimeShapeChecks checks(rw, loc, op);
    checkShapes(checks);
    auto guard = scf::IfOp::create(rw, loc, checks.allOk(), false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0}, ValueRange{sequences, heads},
        ValueRange{c1, c1}, [&](OpBuilder &b, Location loc, ValueRange ivs) {
          emitTask(b, loc, ivs[0], ivs[1]);
        });
    rw.setInsertionPointAfter(guard);
    replaceWithBuffers(rw, loc, op, out, fs);
    return success();
  }

private:
  void loadOperands() {
    x = toBuffer(rw, loc, op.getX());
    dt = toBuffer(rw, loc, op.getDt());
    A = toBuffer(rw, loc, op.getA());
    Bm = toBuffer(rw, loc, op.getB());
    Cm = toBuffer(rw, loc, op.getC());
    D = toBuffer(rw, loc, op.getD());
    z = toBuffer(rw, loc, op.getZ());
    bias = toBuffer(rw, loc, op.getDtBias());
    // A layer's slice of a state tensor is read where it lies.
    h0 = toStridedBuffer(rw, loc, op.getH0());
    cu = toBuffer(rw, loc, op.getCuSeqlens());
    seqIdx = toBuffer(rw, loc, op.getSeqIdx());
    SequenceDims xd = sequenceDims(rw, loc, x);
    batch = xd.batch, len = xd.steps, heads = xd.heads, headDim = xd.width;
    groups = dimOf(rw, loc, Bm, 2);
    stateSize = dimOf(rw, loc, Bm, 3);
  }

  void allocResults() {
    c1i = arith::ConstantIndexOp::create(rw, loc, 1);
    // Packed sequences each own a state; otherwise each batch entry does.
    sequences =
        cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, cu, 0), c1i).getResult()
           : batch;
    outTy = op.getOut().getType();
    out = allocLike(rw, loc, outTy, {batch, len, heads, headDim});
    if (Value r = op.getFinalState())
      fs = allocLike(rw, loc, r.getType(), {sequences, heads, headDim, stateSize});
  }

  void checkShapes(RuntimeShapeChecks &checks) {
    NamedDim dB{"B", batch, "dimension 0 of 'x'"}, dL{"L", len, "dimension 1 of 'x'"},
        dH{"H", heads, "dimension 2 of 'x'"}, dP{"P", headDim, "dimension 3 of 'x'"},
        dG{"G", groups, "dimension 2 of 'B'"}, dN{"N", stateSize, "dimension 3 of 'B'"};
    checkOperandDims(checks, rw, loc, dt, "dt", {dB, dL, dH});
    checkOperandDims(checks, rw, loc, A, "A", {dH});
    checkOperandDims(checks, rw, loc, Bm, "B", {dB, dL});
    checkOperandDims(checks, rw, loc, Cm, "C", {dB, dL, dG, dN});
    if (D && cast<MemRefType>(D.getType()).getRank() == 2)
      checkOperandDims(checks, rw, loc, D, "D", {dH, dP});
    else
      checkOperandDims(checks, rw, loc, D, "D", {dH});
    checkOperandDims(checks, rw, loc, z, "z", {dB, dL, dH, dP});
    checkOperandDims(checks, rw, loc, bias, "dt_bias", {dH});
    NamedDim dS{"S", sequences, cu ? "the number of sequences in 'cu_seqlens'"
                                   : "dimension 0 of 'x'"};
    checkOperandDims(checks, rw, loc, h0, "h0", {dS, dH, dP, dN});
    checkOperandDims(checks, rw, loc, seqIdx, "seq_idx", {dB, dL});
    checkResultDims(checks, rw, loc, outTy, "out", {dB, dL, dH, dP});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dS, dH, dP, dN});
    if (cu) {
      NamedDim one{"B", c1i, "1 (sequences are packed into one batch entry)"};
      checkOperandDims(checks, rw, loc, x, "x", {one});
      checkPackedOffsets(checks, rw, loc, cu, sequences, len);
    }
    c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    if (!getConstantIntValue(groups) || !getConstantIntValue(heads)) {
      Value isZero =
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, groups, c0);
      Value safe = arith::SelectOp::create(rw, loc, isZero, c1, groups);
      Value rem = arith::RemUIOp::create(rw, loc, heads, safe);
      Value ok = arith::AndIOp::create(
          rw, loc, arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, rem, c0),
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ne, groups, c0));
      checks.require(ok, groups, heads,
                     "the group count G must be positive and divide H "
                     "(reported: G, H)");
    }
  }

  /// The task of sequence `seq`, head `h`: its step range, group, state
  /// layout and per-head scalars, then the chunked kernel.
  void emitTask(OpBuilder &b, Location loc, Value seqIv, Value hIv) {
    seq = seqIv;
    h = hIv;
    bi = cu ? c0 : seq;
    Value begin = cu ? packedOffset(b, loc, cu, seq) : c0;
    Value end =
        cu ? packedOffset(b, loc, cu, arith::AddIOp::create(b, loc, seq, c1))
           : len;
    g = arith::DivUIOp::create(
        b, loc, h, arith::DivUIOp::create(b, loc, heads, groups));
    // Lane i of a [.., P, N] state row n sits at (p0 + i) * N + n.
    auto i64Vec = VectorType::get({vw}, b.getI64Type());
    SmallVector<int64_t> lanes(vw);
    for (int64_t i = 0; i < vw; ++i)
      lanes[i] = i;
    Value iota = arith::ConstantOp::create(
        b, loc, i64Vec, DenseIntElementsAttr::get(i64Vec, lanes));
    Value stride = vector::BroadcastOp::create(
        b, loc, i64Vec,
        arith::IndexCastOp::create(b, loc, b.getI64Type(), stateSize));
    idxN = arith::MulIOp::create(b, loc, iota, stride);

    aHead = scalar(b, A, {h});
    // D [H] is one scalar per head; D [H, P] is loaded with the output lanes.
    dHead = D && !perChannelD() ? scalar(b, D, {h}) : Value();
    biasHead = bias ? scalar(b, bias, {h}) : Value();
    if (isSingleStep()) {
      emitSingleStep(b, loc);
      return;
    }
    if (!seqIdx) {
      emitScan(b, loc, begin, end);
      return;
    }
    forEachSegment(b, loc, seqIdx, bi, len,
                   [&](OpBuilder &b, Location loc, Value sb, Value se,
                       Value starts, Value ends) {
                     startsRow = starts, endsRow = ends;
                     emitScan(b, loc, sb, se);
                   });
  }

  /// The chunked kernel with q = C, k = B, v = dt x and log decay dt A[h].
  void emitScan(OpBuilder &b, Location loc, Value begin, Value end) {
    ChunkedScan scan;
    scan.acc = acc;
    scan.lanes = vw;
    scan.chunk = kChunk;
    scan.keyDim = stateSize;
    scan.valueDim = headDim;
    auto stepValue = [&](OpBuilder &b, Location loc, Value t) {
      return computeStep(b, loc, t);
    };
    auto logDecay = [&](OpBuilder &b, Location loc, Value,
                        Value step) -> Value {
      return arith::MulFOp::create(b, loc, step, aHead);
    };
    auto readC = [&](OpBuilder &b, Location, Value t, Value, Value at,
                     Value mask) { return load(b, Cm, {bi, t, g, at}, mask); };
    auto readB = [&](OpBuilder &b, Location, Value t, Value, Value at,
                     Value mask) { return load(b, Bm, {bi, t, g, at}, mask); };
    auto value = [&](OpBuilder &b, Location loc, Value t, Value step, Value at,
                     Value mask) -> Value {
      return arith::MulFOp::create(
          b, loc, vector::BroadcastOp::create(b, loc, vecTy, step),
          load(b, x, {bi, t, h, at}, mask));
    };
    auto output = [&](OpBuilder &b, Location loc, Value t, Value, Value at,
                      Value mask, Value y) {
      storeOutput(b, loc, t, at, mask, y);
    };
    auto initState = [&](OpBuilder &b, Location loc, Value n, Value at,
                         Value mask) {
      return loadInitState(b, loc, n, at, mask);
    };
    auto finalState = [&](OpBuilder &b, Location loc, Value n, Value at,
                          Value mask, Value s) {
      // With seq_idx only the row's last segment leaves the final state.
      if (endsRow)
        mask = arith::AndIOp::create(
            b, loc, mask,
            vector::BroadcastOp::create(b, loc, mask.getType(), endsRow));
      Type e = cast<MemRefType>(fs.getType()).getElementType();
      vector::ScatterOp::create(b, loc, Type(), fs, ValueRange{seq, h, at, n},
                                idxN, mask, castFloat(b, loc, s, e));
    };
    auto prefetch = [&](OpBuilder &b, Location loc, Value t, Value at) {
      memref::PrefetchOp::create(b, loc, x, ValueRange{bi, t, h, at},
                                 /*isWrite=*/false, /*locality=*/3, true);
      memref::PrefetchOp::create(b, loc, out, ValueRange{bi, t, h, at},
                                 /*isWrite=*/true, /*locality=*/3, true);
    };
    scan.prefetch = prefetch;
    scan.stepValue = stepValue;
    scan.logDecay = logDecay;
    scan.query = readC;
    scan.key = readB;
    scan.value = value;
    scan.output = output;
    if (h0)
      scan.initState = initState;
    if (fs)
      scan.finalState = finalState;
    emitChunkedScan(b, loc, scan, begin, end);
  }

  /// A decode step: one token per batch entry (static L = 1, no packing or
  /// segments).
  bool isSingleStep() const {
    auto lenConst = getConstantIntValue(len);
    return lenConst && *lenConst == 1 && !cu && !seqIdx;
  }

  /// The decode step with the state rows as they lie: per head channel p,
  /// the state row h[p, :] is read once along N (contiguous, one vector of
  /// state indices at a time), updated (h = exp(dt A) h + dt x[p] B) and
  /// written once, and y[p] = C . h accumulates on the way; one horizontal
  /// sum per channel. The chunked kernel's value lanes run along P, which
  /// makes every state access a gather or scatter with stride N.
  void emitSingleStep(OpBuilder &b, Location loc) {
    Value t = c0;
    Value step = computeStep(b, loc, t);
    Value decay = math::ExpOp::create(
        b, loc, arith::MulFOp::create(b, loc, step, aHead));
    Value decayVec = vector::BroadcastOp::create(b, loc, vecTy, decay);
    Value cVw = arith::ConstantIndexOp::create(b, loc, vw);
    auto maskTy = VectorType::get({vw}, b.getI1Type());
    Value zero = zeroVec(b, acc);
    auto channels = scf::ForOp::create(
        b, loc, c0, headDim, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value p, ValueRange) {
          Value xp = scalar(b, x, {bi, t, h, p});
          Value dtx = vector::BroadcastOp::create(
              b, loc, vecTy, arith::MulFOp::create(b, loc, step, xp));
          auto row = scf::ForOp::create(
              b, loc, c0, stateSize, cVw, ValueRange{zero},
              [&](OpBuilder &b, Location loc, Value n, ValueRange iter) {
                Value rest = arith::SubIOp::create(b, loc, stateSize, n);
                Value mask = vector::CreateMaskOp::create(b, loc, maskTy,
                                                          ValueRange{rest});
                Value bv = load(b, Bm, {bi, t, g, n}, mask);
                Value cv = load(b, Cm, {bi, t, g, n}, mask);
                Value inject = arith::MulFOp::create(b, loc, dtx, bv);
                Value hv = inject;
                if (h0)
                  hv = math::FmaOp::create(b, loc, decayVec,
                                           load(b, h0, {seq, h, p, n}, mask),
                                           inject);
                if (fs) {
                  Type e = cast<MemRefType>(fs.getType()).getElementType();
                  vector::MaskedStoreOp::create(b, loc, fs,
                                                ValueRange{seq, h, p, n}, mask,
                                                castFloat(b, loc, hv, e));
                }
                Value y = math::FmaOp::create(b, loc, cv, hv, iter[0]);
                scf::YieldOp::create(b, loc, y);
              });
          // Reassociated: a tree, not a chain of dependent scalar adds.
          Value y = vector::ReductionOp::create(
              b, loc, vector::CombiningKind::ADD, row.getResult(0),
              arith::FastMathFlags::reassoc);
          storeChannel(b, loc, t, p, xp, y);
          scf::YieldOp::create(b, loc);
        });
    // The task's only accesses to h0 and the final state: each element of
    // h0 is read before the same element of the final state is written,
    // and never after, so ssm-forward-state-copies may store the final
    // state over h0 when h0 is the slice the state goes back to.
    if (h0 && fs)
      channels->setAttr(kInPlaceFinalState, b.getUnitAttr());
  }

  /// Stores channel p's y (a scalar) with the D skip and the z gate.
  void storeChannel(OpBuilder &b, Location loc, Value t, Value p, Value xp,
                    Value y) {
    if (dHead)
      y = math::FmaOp::create(b, loc, dHead, xp, y);
    else if (perChannelD())
      y = math::FmaOp::create(b, loc, scalar(b, D, {h, p}), xp, y);
    if (z) {
      Value zv = scalar(b, z, {bi, t, h, p});
      Value e = emitExp(b, loc, arith::NegFOp::create(b, loc, zv), how);
      y = arith::MulFOp::create(
          b, loc, y,
          arith::DivFOp::create(
              b, loc, zv, arith::AddFOp::create(b, loc, cst(b, 1), e)));
    }
    Type e = cast<MemRefType>(out.getType()).getElementType();
    memref::StoreOp::create(b, loc, castFloat(b, loc, y, e), out,
                            ValueRange{bi, t, h, p});
  }

  /// dt after bias and softplus, once per step.
  Value computeStep(OpBuilder &b, Location loc, Value t) {
    Value step = scalar(b, dt, {bi, t, h});
    if (biasHead)
      step = arith::AddFOp::create(b, loc, step, biasHead);
    if (op.getDtSoftplus()) {
      Value e = math::ExpOp::create(b, loc, step);
      Value sp = math::Log1pOp::create(b, loc, e);
      Value big = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                        step, cst(b, 20));
      step = arith::SelectOp::create(b, loc, big, step, sp);
    }
    return clampStep(b, loc, step);
  }

  /// dt_limit: min(max(dt, lo), hi); an infinite bound is no bound.
  Value clampStep(OpBuilder &b, Location loc, Value step) {
    std::optional<ArrayRef<double>> limit = op.getDtLimit();
    if (!limit)
      return step;
    double lo = (*limit)[0], hi = (*limit)[1];
    if (!std::isinf(lo))
      step = arith::MaxNumFOp::create(b, loc, step, cst(b, lo));
    if (!std::isinf(hi))
      step = arith::MinNumFOp::create(b, loc, step, cst(b, hi));
    return step;
  }

  bool perChannelD() const {
    return D && cast<MemRefType>(D.getType()).getRank() == 2;
  }

  /// Stores y_t with the D skip and the z gate (y * silu(z)) applied.
  void storeOutput(OpBuilder &b, Location loc, Value t, Value at, Value mask,
                   Value y) {
    if (dHead)
      y = math::FmaOp::create(b, loc,
                              vector::BroadcastOp::create(b, loc, vecTy, dHead),
                              load(b, x, {bi, t, h, at}, mask), y);
    else if (perChannelD())
      y = math::FmaOp::create(b, loc, load(b, D, {h, at}, mask),
                              load(b, x, {bi, t, h, at}, mask), y);
    if (z) {
      Value zv = load(b, z, {bi, t, h, at}, mask);
      Value e = emitExp(b, loc, arith::NegFOp::create(b, loc, zv), how);
      Value one = vector::BroadcastOp::create(b, loc, vecTy, cst(b, 1));
      y = arith::MulFOp::create(
          b, loc, y,
          arith::DivFOp::create(b, loc, zv,
                                arith::AddFOp::create(b, loc, one, e)));
    }
    Type e = cast<MemRefType>(out.getType()).getElementType();
    vector::MaskedStoreOp::create(b, loc, out, ValueRange{bi, t, h, at}, mask,
                                  castFloat(b, loc, y, e));
  }

  /// State row n of h0, value lanes from `at` (strided by N: a gather);
  /// with seq_idx zero past the row's first segment.
  Value loadInitState(OpBuilder &b, Location loc, Value n, Value at,
                      Value mask) {
    Type e = cast<MemRefType>(h0.getType()).getElementType();
    Value init = castFloat(
        b, loc,
        vector::GatherOp::create(b, loc, VectorType::get({vw}, e), h0,
                                 ValueRange{seq, h, at, n}, idxN, mask,
                                 zeroVec(b, e)),
        acc);
    if (startsRow)
      init = arith::SelectOp::create(b, loc, startsRow, init, zeroVec(b, acc));
    return init;
  }

  Value zeroVec(OpBuilder &b, Type e) const {
    auto vt = VectorType::get({vw}, e);
    return arith::ConstantOp::create(
        b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
  }
  Value cst(OpBuilder &b, double v) const {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, v));
  }
  Value scalar(OpBuilder &b, Value mem, ValueRange at) const {
    return castFloat(b, loc, memref::LoadOp::create(b, loc, mem, at), acc);
  }
  Value load(OpBuilder &b, Value mem, ValueRange at, Value mask) const {
    Type e = cast<MemRefType>(mem.getType()).getElementType();
    Value r = vector::MaskedLoadOp::create(
        b, loc, VectorType::get({vw}, e), mem, at, mask, zeroVec(b, e));
    return castFloat(b, loc, r, acc);
  }

  ssm::SSDOp op;
  PatternRewriter &rw;
  Location loc;
  FloatType acc;
  int64_t vw;
  VectorType vecTy;
  ExpLowering how;

  Value x, dt, A, Bm, Cm, D, z, bias, h0, cu, seqIdx;
  Value batch, len, heads, headDim, groups, stateSize;
  Value c0, c1, c1i, sequences;
  RankedTensorType outTy;
  Value out, fs;

  // The task being emitted: its sequence, head, batch entry and group; the
  // state rows' lane offsets; the head's A, D and dt bias.
  Value seq, h, bi, g, idxN;
  Value aHead, dHead, biasHead;
  /// With seq_idx: whether the segment being emitted starts / ends its row.
  Value startsRow, endsRow;
};

struct SSDToLoops : OpRewritePattern<ssm::SSDOp> {
  SSDToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::SSDOp op,
                                PatternRewriter &rw) const override {
    return SSDLowering(op, rw, options).run();
  }

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateSSDToLoopsPatterns(RewritePatternSet &patterns,
                                      const SSMToLoopsOptions &options) {
  patterns.add<SSDToLoops>(patterns.getContext(), options);
}
