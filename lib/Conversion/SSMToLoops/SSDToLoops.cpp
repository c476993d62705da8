//===- SSDToLoops.cpp - chunked CPU lowering of Mamba-2 SSD ---------------===//
//
// One task per (sequence, head), running the chunked kernel of
// ChunkedScan.h with q = C, k = B, v = dt x and log decay dt * A[h]: x, z and
// out are contiguous along p, so the value lanes are head channels and the
// state rows are the N state indices. dt (bias, softplus) is computed once
// per step and head; D skip and z gate are applied as each output vector is
// stored.
//
//===----------------------------------------------------------------------===//

#include "ChunkedScan.h"
#include "LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// Steps that share one pass over the state vectors.
constexpr int64_t kChunk = 4;

struct SSDToLoops : OpRewritePattern<ssm::SSDOp> {
  SSDToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::SSDOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto acc = cast<FloatType>(op.getAccumulatorType());
    const int64_t vw = laneCount(options.vectorBits, acc);
    auto vecTy = VectorType::get({vw}, acc);
    ExpLowering how;
    how.fast = options.fastExp;
    how.avx512 = options.avx512;

    Value x = toBuffer(rw, loc, op.getX()), dt = toBuffer(rw, loc, op.getDt()),
          A = toBuffer(rw, loc, op.getA()), Bm = toBuffer(rw, loc, op.getB()),
          Cm = toBuffer(rw, loc, op.getC()), D = toBuffer(rw, loc, op.getD()),
          z = toBuffer(rw, loc, op.getZ()),
          bias = toBuffer(rw, loc, op.getDtBias()),
          h0 = toBuffer(rw, loc, op.getH0()),
          cu = toBuffer(rw, loc, op.getCuSeqlens());
    Value batch = dimOf(rw, loc, x, 0), len = dimOf(rw, loc, x, 1),
          heads = dimOf(rw, loc, x, 2), headDim = dimOf(rw, loc, x, 3),
          groups = dimOf(rw, loc, Bm, 2), stateSize = dimOf(rw, loc, Bm, 3);

    Value c1i = arith::ConstantIndexOp::create(rw, loc, 1);
    // Packed sequences each own a state; otherwise each batch entry does.
    Value sequences =
        cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, cu, 0), c1i).getResult()
           : batch;
    auto outTy = op.getOut().getType();
    Value out = allocLike(rw, loc, outTy, {batch, len, heads, headDim});
    Value fs;
    if (Value r = op.getFinalState())
      fs = allocLike(rw, loc, r.getType(), {sequences, heads, headDim, stateSize});

    RuntimeShapeChecks checks(rw, loc, op);
    NamedDim dB{"B", batch, "dimension 0 of 'x'"}, dL{"L", len, "dimension 1 of 'x'"},
        dH{"H", heads, "dimension 2 of 'x'"}, dP{"P", headDim, "dimension 3 of 'x'"},
        dG{"G", groups, "dimension 2 of 'B'"}, dN{"N", stateSize, "dimension 3 of 'B'"};
    checkOperandDims(checks, rw, loc, dt, "dt", {dB, dL, dH});
    checkOperandDims(checks, rw, loc, A, "A", {dH});
    checkOperandDims(checks, rw, loc, Bm, "B", {dB, dL});
    checkOperandDims(checks, rw, loc, Cm, "C", {dB, dL, dG, dN});
    checkOperandDims(checks, rw, loc, D, "D", {dH});
    checkOperandDims(checks, rw, loc, z, "z", {dB, dL, dH, dP});
    checkOperandDims(checks, rw, loc, bias, "dt_bias", {dH});
    NamedDim dS{"S", sequences, cu ? "the number of sequences in 'cu_seqlens'"
                                   : "dimension 0 of 'x'"};
    checkOperandDims(checks, rw, loc, h0, "h0", {dS, dH, dP, dN});
    checkResultDims(checks, rw, loc, outTy, "out", {dB, dL, dH, dP});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dS, dH, dP, dN});
    if (cu) {
      NamedDim one{"B", c1i, "1 (sequences are packed into one batch entry)"};
      checkOperandDims(checks, rw, loc, x, "x", {one});
      checkPackedOffsets(checks, rw, loc, cu, sequences, len);
    }
    Value c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rw, loc, 1);
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

    auto guard = scf::IfOp::create(rw, loc, checks.allOk(), false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0}, ValueRange{sequences, heads},
        ValueRange{c1, c1}, [&](OpBuilder &b, Location loc, ValueRange ivs) {
          Value seq = ivs[0], h = ivs[1];
          Value bi = cu ? c0 : seq;
          Value begin = cu ? packedOffset(b, loc, cu, seq) : c0;
          Value end = cu ? packedOffset(b, loc, cu, arith::AddIOp::create(b, loc, seq, c1))
                         : len;
          Value g = arith::DivUIOp::create(
              b, loc, h, arith::DivUIOp::create(b, loc, heads, groups));
          auto zeroVec = [&](OpBuilder &b, Type e) -> Value {
            auto vt = VectorType::get({vw}, e);
            return arith::ConstantOp::create(
                b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
          };
          auto cst = [&](OpBuilder &b, double v) -> Value {
            return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, v));
          };
          auto scalar = [&](OpBuilder &b, Value mem, ValueRange at) -> Value {
            return castFloat(b, loc, memref::LoadOp::create(b, loc, mem, at), acc);
          };
          auto load = [&](OpBuilder &b, Value mem, ValueRange at,
                          Value mask) -> Value {
            Type e = cast<MemRefType>(mem.getType()).getElementType();
            Value r = vector::MaskedLoadOp::create(
                b, loc, VectorType::get({vw}, e), mem, at, mask, zeroVec(b, e));
            return castFloat(b, loc, r, acc);
          };
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
          Value idxN = arith::MulIOp::create(b, loc, iota, stride);

          Value aH = scalar(b, A, {h});
          Value dH = D ? scalar(b, D, {h}) : Value();
          Value biasH = bias ? scalar(b, bias, {h}) : Value();

          ChunkedScan scan;
          scan.acc = acc;
          scan.lanes = vw;
          scan.chunk = kChunk;
          scan.keyDim = stateSize;
          scan.valueDim = headDim;
          // dt after bias and softplus, once per step.
          auto stepValue = [&](OpBuilder &b, Location loc, Value t) -> Value {
            Value step = scalar(b, dt, {bi, t, h});
            if (biasH)
              step = arith::AddFOp::create(b, loc, step, biasH);
            if (op.getDtSoftplus()) {
              Value e = math::ExpOp::create(b, loc, step);
              Value sp = math::Log1pOp::create(b, loc, e);
              Value big = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                                step, cst(b, 20));
              step = arith::SelectOp::create(b, loc, big, step, sp);
            }
            return step;
          };
          auto logDecay = [&](OpBuilder &b, Location loc, Value, Value step) -> Value {
            return arith::MulFOp::create(b, loc, step, aH);
          };
          auto readC = [&](OpBuilder &b, Location, Value t, Value, Value at,
                           Value mask) { return load(b, Cm, {bi, t, g, at}, mask); };
          auto readB = [&](OpBuilder &b, Location, Value t, Value, Value at,
                           Value mask) { return load(b, Bm, {bi, t, g, at}, mask); };
          auto value = [&](OpBuilder &b, Location loc, Value t, Value step,
                           Value at, Value mask) -> Value {
            return arith::MulFOp::create(
                b, loc, vector::BroadcastOp::create(b, loc, vecTy, step),
                load(b, x, {bi, t, h, at}, mask));
          };
          auto output = [&](OpBuilder &b, Location loc, Value t, Value, Value at,
                            Value mask, Value y) {
            if (dH)
              y = math::FmaOp::create(b, loc,
                                      vector::BroadcastOp::create(b, loc, vecTy, dH),
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
            vector::MaskedStoreOp::create(b, loc, out, ValueRange{bi, t, h, at},
                                          mask, castFloat(b, loc, y, e));
          };
          auto initState = [&](OpBuilder &b, Location loc, Value n, Value at,
                               Value mask) -> Value {
            Type e = cast<MemRefType>(h0.getType()).getElementType();
            return castFloat(
                b, loc,
                vector::GatherOp::create(b, loc, VectorType::get({vw}, e), h0,
                                         ValueRange{seq, h, at, n}, idxN, mask,
                                         zeroVec(b, e)),
                acc);
          };
          auto finalState = [&](OpBuilder &b, Location loc, Value n, Value at,
                                Value mask, Value s) {
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
        });
    rw.setInsertionPointAfter(guard);
    replaceWithBuffers(rw, loc, op, out, fs);
    return success();
  }

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateSSDToLoopsPatterns(RewritePatternSet &patterns,
                                      const SSMToLoopsOptions &options) {
  patterns.add<SSDToLoops>(patterns.getContext(), options);
}
