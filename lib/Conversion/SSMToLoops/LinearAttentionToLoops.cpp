//===- LinearAttentionToLoops.cpp - chunked CPU lowering of linear attention ===//
//
// One task per (sequence, head), running the chunked kernel of
// ChunkedScan.h: q (feature map and scale applied) and k as the key rows, v
// as the values, the gate as a log decay per step or per key row, and with
// `normalize` the normaliser as the state of one more value column (of
// ones). Packed sequences (cu_seqlens) give each task its time range, with
// the offsets validated first.
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
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// Steps per chunk of the chunked kernel.
constexpr int64_t kChunk = 4;

/// The buffers and sizes every task of one op reads.
struct Buffers {
  Value q, k, v, gate, h0, z0, cu, out, fs, fz, keyDim, valueDim, len;
};

/// The (sequence `seq`, head `h`) task: its time range, the scale, and the
/// callbacks through which the chunked kernel reads q, k, v and the gate and
/// writes the outputs.
class ChunkedTask {
public:
  ChunkedTask(OpBuilder &b, Location loc, ssm::LinearAttentionOp op,
              const ssmc::SSMToLoopsOptions &options, Value seq, Value h,
              const Buffers &m)
      : b(b), loc(loc), op(op), options(options), seq(seq), h(h), m(m),
        acc(cast<FloatType>(op.getAccumulatorType())),
        vw(laneCount(options.vectorBits, acc)),
        vecTy(VectorType::get({vw}, acc)), featureMap(op.getFeatureMap()) {}

  void emit() {
    locateSequence();
    computeScale();
    emitScan();
  }

private:
  /// The batch entry and steps [begin, end) of the sequence.
  void locateSequence() {
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    bIdx = m.cu ? c0 : seq;
    begin = m.cu ? packedOffset(b, loc, m.cu, seq) : c0;
    end = m.cu ? packedOffset(b, loc, m.cu,
                              arith::AddIOp::create(b, loc, seq, c1))
               : m.len;
    // `reverse` runs the steps right to left within the sequence: the
    // kernel's step t reads and writes step begin + end - 1 - t.
    if (op.getReverse())
      mirror = arith::SubIOp::create(
          b, loc, arith::AddIOp::create(b, loc, begin, end), c1);
  }

  /// The step the kernel's step `t` stands for.
  Value stepAt(OpBuilder &b, Location loc, Value t) const {
    return mirror ? arith::SubIOp::create(b, loc, mirror, t).getResult() : t;
  }

  /// scale: the attribute, or K^-1/2 computed at run time.
  void computeScale() {
    Value scale;
    if (op.getScaleAttr()) {
      scale = cst(b, op.getScaleAttr().getValueAsDouble());
    } else {
      Value kf = arith::UIToFPOp::create(
          b, loc, acc, arith::IndexCastOp::create(b, loc, b.getI64Type(), m.keyDim));
      scale = arith::DivFOp::create(b, loc, cst(b, 1),
                                    math::SqrtOp::create(b, loc, kf));
    }
    scaleVec = vector::BroadcastOp::create(b, loc, vecTy, scale);
  }

  Value cst(OpBuilder &b, double x) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, x));
  }
  Value load(OpBuilder &b, Value mem, ValueRange at, Value mask) {
    Type e = cast<MemRefType>(mem.getType()).getElementType();
    auto vt = VectorType::get({vw}, e);
    Value zero = arith::ConstantOp::create(
        b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
    return castFloat(
        b, loc, vector::MaskedLoadOp::create(b, loc, vt, mem, at, mask, zero),
        acc);
  }
  /// The feature map applied to q and k.
  Value phi(OpBuilder &b, Value x) {
    Value zero = vector::BroadcastOp::create(b, loc, vecTy, cst(b, 0));
    if (featureMap == ssm::FeatureMap::relu)
      return arith::MaximumFOp::create(b, loc, x, zero);
    if (featureMap == ssm::FeatureMap::elu_plus_one) {
      Value pos =
          arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, zero);
      Value one = vector::BroadcastOp::create(b, loc, vecTy, cst(b, 1));
      return arith::SelectOp::create(b, loc, pos,
                                     arith::AddFOp::create(b, loc, x, one),
                                     math::ExpOp::create(b, loc, x));
    }
    return x;
  }

  /// Runs the chunked kernel over the sequence with this task's operands.
  void emitScan() {
    auto query = [&](OpBuilder &b, Location loc, Value t, Value, Value at,
                     Value mask) -> Value {
      return arith::MulFOp::create(b, loc, scaleVec,
                                   phi(b, load(b, m.q, {bIdx, h, stepAt(b, loc, t), at}, mask)));
    };
    auto key = [&](OpBuilder &b, Location loc, Value t, Value, Value at,
                   Value mask) -> Value {
      return phi(b, load(b, m.k, {bIdx, h, stepAt(b, loc, t), at}, mask));
    };
    auto value = [&](OpBuilder &b, Location loc, Value t, Value, Value at,
                     Value mask) -> Value {
      return load(b, m.v, {bIdx, h, stepAt(b, loc, t), at}, mask);
    };
    auto keyLogDecay = [&](OpBuilder &b, Location loc, Value t, Value,
                           Value at, Value mask) -> Value {
      return load(b, m.gate, {bIdx, h, stepAt(b, loc, t), at}, mask);
    };
    auto logDecay = [&](OpBuilder &b, Location loc, Value t, Value) -> Value {
      return castFloat(b, loc, memref::LoadOp::create(b, loc, m.gate, ValueRange{bIdx, h, stepAt(b, loc, t)}),
                       acc);
    };
    auto output = [&](OpBuilder &b, Location loc, Value t, Value, Value at,
                      Value mask, Value y) {
      Type e = cast<MemRefType>(m.out.getType()).getElementType();
      vector::MaskedStoreOp::create(b, loc, m.out, ValueRange{bIdx, h, stepAt(b, loc, t), at},
                                    mask, castFloat(b, loc, y, e));
    };
    auto initState = [&](OpBuilder &b, Location, Value n, Value at,
                         Value mask) -> Value {
      return load(b, m.h0, {seq, h, n, at}, mask);
    };
    auto finalState = [&](OpBuilder &b, Location loc, Value n, Value at,
                          Value mask, Value s) {
      Type e = cast<MemRefType>(m.fs.getType()).getElementType();
      vector::MaskedStoreOp::create(b, loc, m.fs, ValueRange{seq, h, n, at},
                                    mask, castFloat(b, loc, s, e));
    };
    auto initNormalizer = [&](OpBuilder &b, Location loc, Value n) -> Value {
      return castFloat(
          b, loc, memref::LoadOp::create(b, loc, m.z0, ValueRange{seq, h, n}),
          acc);
    };
    auto finalNormalizer = [&](OpBuilder &b, Location loc, Value n, Value z) {
      Type e = cast<MemRefType>(m.fz.getType()).getElementType();
      memref::StoreOp::create(b, loc, castFloat(b, loc, z, e), m.fz,
                              ValueRange{seq, h, n});
    };
    ChunkedScan scan;
    scan.acc = acc;
    scan.lanes = vw;
    scan.chunk = kChunk;
    scan.keyDim = m.keyDim;
    scan.valueDim = m.valueDim;
    scan.query = query;
    scan.key = key;
    scan.value = value;
    scan.output = output;
    scan.normalize = op.getNormalize();
    scan.eps = op.getEps().convertToDouble();
    if (m.z0)
      scan.initNormalizer = initNormalizer;
    if (m.fz)
      scan.finalNormalizer = finalNormalizer;
    scan.how.fast = options.fastExp;
    scan.how.avx512 = options.avx512;
    if (m.gate && op.hasKeyGate())
      scan.keyLogDecay = keyLogDecay;
    else if (m.gate)
      scan.logDecay = logDecay;
    if (m.h0)
      scan.initState = initState;
    if (m.fs)
      scan.finalState = finalState;
    emitChunkedScan(b, loc, scan, begin, end);
  }

  OpBuilder &b;
  Location loc;
  ssm::LinearAttentionOp op;
  const ssmc::SSMToLoopsOptions &options;
  Value seq, h;
  Buffers m;
  FloatType acc;
  int64_t vw;
  VectorType vecTy;
  ssm::FeatureMap featureMap;
  // Computed by the stages for the callbacks.
  Value bIdx, begin, end, mirror, scaleVec;
};

struct LinearAttentionToLoops : OpRewritePattern<ssm::LinearAttentionOp> {
  LinearAttentionToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::LinearAttentionOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    Value q = toBuffer(rw, loc, op.getQ()), k = toBuffer(rw, loc, op.getK()),
          v = toBuffer(rw, loc, op.getV());
    Value gate = toBuffer(rw, loc, op.getGate());
    Value h0 = toBuffer(rw, loc, op.getH0());
    Value z0 = toBuffer(rw, loc, op.getZ0());
    Value cu = toBuffer(rw, loc, op.getCuSeqlens());
    Value batch = dimOf(rw, loc, q, 0), heads = dimOf(rw, loc, q, 1),
          len = dimOf(rw, loc, q, 2), keyDim = dimOf(rw, loc, q, 3),
          valueDim = dimOf(rw, loc, v, 3);
    Value c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    Value sequences =
        cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, cu, 0), c1).getResult()
           : batch;

    // Results.
    auto outTy = op.getOut().getType();
    Value out = allocLike(rw, loc, outTy, {batch, heads, len, valueDim});
    Value fs;
    if (Value r = op.getFinalState())
      fs = allocLike(rw, loc, r.getType(), {sequences, heads, keyDim, valueDim});
    Value fz;
    if (Value r = op.getFinalZ())
      fz = allocLike(rw, loc, r.getType(), {sequences, heads, keyDim});

    // Run-time checks of dynamic relations, and of the packed offsets.
    RuntimeShapeChecks checks(rw, loc, op);
    NamedDim dB{"B", batch, "dimension 0 of 'q'"},
        dH{"H", heads, "dimension 1 of 'q'"}, dL{"L", len, "dimension 2 of 'q'"},
        dK{"K", keyDim, "dimension 3 of 'q'"},
        dV{"V", valueDim, "dimension 3 of 'v'"},
        dS{"S", sequences, cu ? "the number of sequences in 'cu_seqlens'"
                              : "dimension 0 of 'q'"};
    checkOperandDims(checks, rw, loc, k, "k", {dB, dH, dL, dK});
    checkOperandDims(checks, rw, loc, v, "v", {dB, dH, dL});
    if (gate) {
      if (op.hasKeyGate())
        checkOperandDims(checks, rw, loc, gate, "gate", {dB, dH, dL, dK});
      else
        checkOperandDims(checks, rw, loc, gate, "gate", {dB, dH, dL});
    }
    checkOperandDims(checks, rw, loc, h0, "h0", {dS, dH, dK, dV});
    checkOperandDims(checks, rw, loc, z0, "z0", {dS, dH, dK});
    checkResultDims(checks, rw, loc, outTy, "out", {dB, dH, dL, dV});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dS, dH, dK, dV});
    if (Value r = op.getFinalZ())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_z", {dS, dH, dK});
    if (cu) {
      NamedDim one{"B", c1, "1 (sequences are packed into one batch entry)"};
      checkOperandDims(checks, rw, loc, q, "q", {one});
      checkPackedOffsets(checks, rw, loc, cu, sequences, len);
    }

    auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                   /*withElseRegion=*/false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    // One task per (sequence, head).
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0}, ValueRange{sequences, heads},
        ValueRange{c1, c1}, [&](OpBuilder &b, Location loc, ValueRange ivs) {
          ChunkedTask(b, loc, op, options, ivs[0], ivs[1],
                      {q, k, v, gate, h0, z0, cu, out, fs, fz, keyDim,
                       valueDim, len})
              .emit();
        });
    rw.setInsertionPointAfter(guard);
    SmallVector<Value> results = {toTensor(rw, loc, outTy, out)};
    if (fs)
      results.push_back(toTensor(rw, loc, op.getFinalState().getType(), fs));
    if (fz)
      results.push_back(toTensor(rw, loc, op.getFinalZ().getType(), fz));
    rw.replaceOp(op, results);
    return success();
  }

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateLinearAttentionToLoopsPatterns(
    RewritePatternSet &patterns, const SSMToLoopsOptions &options) {
  patterns.add<LinearAttentionToLoops>(patterns.getContext(), options);
}
