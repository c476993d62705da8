//===- LinearAttentionToLoops.cpp - recurrent CPU lowering of linear attention ===//
//
// The recurrent form: one pass over the sequence per (sequence, head, block
// of value columns). Columns of the K x V state are independent given k and
// q, so a block owns `vw` columns: its state is K vectors in a stack buffer
// (L1-resident), v_t and o_t are contiguous vector loads/stores, q_t and k_t
// are scalars broadcast over the block. Per step and key row i:
//   S_i = g_i S_i + k~_i v_t,   o += q~_i S_i   (two FMAs per vector)
// Four steps share one pass over the rows (each row loaded and stored once
// per four steps: the L1 store port, not the FMAs, bounded the one-step
// loop).
// Packed sequences (cu_seqlens) map to (sequence, head, block) lanes whose
// time range is read from cu_seqlens, with the offsets validated first.
//
//===----------------------------------------------------------------------===//

#include "ChunkedScan.h"
#include "LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "dialects/ssm/SSMOps.h"

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

/// Steps that share one pass over the state rows (each row is loaded and
/// stored once per group instead of once per step).
constexpr int64_t kStepsPerPass = 4;
/// Steps per chunk of the chunked kernel (scalar or no gate).
constexpr int64_t kChunk = 4;

struct LinearAttentionToLoops : OpRewritePattern<ssm::LinearAttentionOp> {
  LinearAttentionToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::LinearAttentionOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto acc = cast<FloatType>(op.getAccumulatorType());
    const int64_t vw = laneCount(options.vectorBits, acc);
    auto vecTy = VectorType::get({vw}, acc);
    StringRef featureMap = op.getFeatureMap();

    Value q = toBuffer(rw, loc, op.getQ()), k = toBuffer(rw, loc, op.getK()),
          v = toBuffer(rw, loc, op.getV());
    Value gate = toBuffer(rw, loc, op.getGate());
    Value h0 = toBuffer(rw, loc, op.getH0());
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
    checkResultDims(checks, rw, loc, outTy, "out", {dB, dH, dL, dV});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dS, dH, dK, dV});
    auto offset = [&](OpBuilder &b, Location loc, Value i) -> Value {
      return packedOffset(b, loc, cu, i);
    };
    if (cu) {
      NamedDim one{"B", c1, "1 (sequences are packed into one batch entry)"};
      checkOperandDims(checks, rw, loc, q, "q", {one});
      checkPackedOffsets(checks, rw, loc, cu, sequences, len);
    }

    Value cvw = arith::ConstantIndexOp::create(rw, loc, vw);
    Value blocks = arith::CeilDivUIOp::create(rw, loc, valueDim, cvw);
    double scaleValue = op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                                          : 0.0;

    auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                   /*withElseRegion=*/false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    if (!op.getNormalize()) {
      // The chunked kernel, one task per (sequence, head).
      scf::ParallelOp::create(
          rw, loc, ValueRange{c0, c0}, ValueRange{sequences, heads},
          ValueRange{c1, c1}, [&](OpBuilder &b, Location loc, ValueRange ivs) {
            emitChunked(b, loc, op, ivs[0], ivs[1],
                        {q, k, v, gate, h0, cu, out, fs, keyDim, valueDim, len});
          });
      rw.setInsertionPointAfter(guard);
      replaceWithBuffers(rw, loc, op, out, fs);
      return success();
    }
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0, c0}, ValueRange{sequences, heads, blocks},
        ValueRange{c1, c1, c1},
        [&](OpBuilder &b, Location loc, ValueRange ivs) {
          Value seq = ivs[0], h = ivs[1];
          Value v0 = arith::MulIOp::create(b, loc, ivs[2], cvw);
          Value valid = arith::MinUIOp::create(
              b, loc, arith::SubIOp::create(b, loc, valueDim, v0), cvw);
          Value mask = vector::CreateMaskOp::create(
              b, loc, VectorType::get({vw}, b.getI1Type()), ValueRange{valid});
          Value bIdx = cu ? c0 : seq;
          Value begin = cu ? offset(b, loc, seq) : c0;
          Value end =
              cu ? offset(b, loc, arith::AddIOp::create(b, loc, seq, c1)) : len;

          auto zeroVec = [&](Type e) -> Value {
            auto vt = VectorType::get({vw}, e);
            return arith::ConstantOp::create(
                b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
          };
          auto loadVec = [&](Value mem, ValueRange at) -> Value {
            Type e = cast<MemRefType>(mem.getType()).getElementType();
            Value r = vector::MaskedLoadOp::create(
                b, loc, VectorType::get({vw}, e), mem, at, mask, zeroVec(e));
            return castFloat(b, loc, r, acc);
          };
          auto storeVec = [&](Value mem, ValueRange at, Value x) {
            Type e = cast<MemRefType>(mem.getType()).getElementType();
            vector::MaskedStoreOp::create(b, loc, mem, at, mask,
                                          castFloat(b, loc, x, e));
          };
          auto scalar = [&](Value mem, ValueRange at) -> Value {
            Value x = memref::LoadOp::create(b, loc, mem, at);
            return castFloat(b, loc, x, acc);
          };
          auto cst = [&](double x) -> Value {
            return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, x));
          };
          auto phi = [&](Value x) -> Value {
            if (featureMap == "relu")
              return arith::MaximumFOp::create(b, loc, x, cst(0));
            if (featureMap == "elu_plus_one") {
              Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                                x, cst(0));
              return arith::SelectOp::create(
                  b, loc, pos, arith::AddFOp::create(b, loc, x, cst(1)),
                  math::ExpOp::create(b, loc, x));
            }
            return x;
          };
          // scale: the attribute, or K^-1/2 computed at run time.
          Value scale;
          if (op.getScaleAttr()) {
            scale = cst(scaleValue);
          } else {
            Value kf = arith::UIToFPOp::create(
                b, loc, acc,
                arith::IndexCastOp::create(b, loc, b.getI64Type(), keyDim));
            scale = arith::DivFOp::create(b, loc, cst(1),
                                          math::SqrtOp::create(b, loc, kf));
          }

          auto bufTy = MemRefType::get({ShapedType::kDynamic}, vecTy);
          Value state = memref::AllocaOp::create(b, loc, bufTy, ValueRange{keyDim});
          Value z;
          if (op.getNormalize())
            z = memref::AllocaOp::create(
                b, loc, MemRefType::get({ShapedType::kDynamic}, acc),
                ValueRange{keyDim});
          scf::ForOp::create(
              b, loc, c0, keyDim, c1, ValueRange{},
              [&](OpBuilder &b, Location loc, Value i, ValueRange) {
                Value init = h0 ? loadVec(h0, {seq, h, i, v0}) : zeroVec(acc);
                memref::StoreOp::create(b, loc, init, state, i);
                if (z)
                  memref::StoreOp::create(b, loc, cst(0), z, i);
                scf::YieldOp::create(b, loc);
              });

          // T consecutive steps from t0 in one pass over the state rows:
          // each row is loaded and stored once per T steps, not per step.
          auto emitSteps = [&](OpBuilder &b, Location loc, Value t0,
                               int64_t T) {
            SmallVector<Value> ts, vts, stepGates;
            for (int64_t u = 0; u < T; ++u) {
              Value t = arith::AddIOp::create(
                  b, loc, t0, arith::ConstantIndexOp::create(b, loc, u));
              ts.push_back(t);
              vts.push_back(loadVec(v, {bIdx, h, t, v0}));
              stepGates.push_back(gate && !op.hasKeyGate()
                                      ? math::ExpOp::create(
                                            b, loc, scalar(gate, {bIdx, h, t}))
                                            .getResult()
                                      : Value());
            }
            SmallVector<Value> init;
            for (int64_t u = 0; u < T; ++u)
              init.push_back(zeroVec(acc));
            for (int64_t u = 0; u < T; ++u)
              init.push_back(cst(0));
            auto rows = scf::ForOp::create(
                b, loc, c0, keyDim, c1, init,
                [&](OpBuilder &b, Location loc, Value i, ValueRange accs) {
                  Value si = memref::LoadOp::create(b, loc, state, i);
                  Value zi = z ? memref::LoadOp::create(b, loc, z, i).getResult()
                               : Value();
                  SmallVector<Value> os, dens;
                  for (int64_t u = 0; u < T; ++u) {
                    Value t = ts[u];
                    Value qi = arith::MulFOp::create(
                        b, loc, scale, phi(scalar(q, {bIdx, h, t, i})));
                    Value ki = phi(scalar(k, {bIdx, h, t, i}));
                    Value g = stepGates[u];
                    if (op.hasKeyGate())
                      g = math::ExpOp::create(b, loc,
                                              scalar(gate, {bIdx, h, t, i}));
                    Value kv = vector::BroadcastOp::create(b, loc, vecTy, ki);
                    if (g)
                      si = arith::MulFOp::create(
                          b, loc, vector::BroadcastOp::create(b, loc, vecTy, g),
                          si);
                    si = math::FmaOp::create(b, loc, kv, vts[u], si);
                    os.push_back(math::FmaOp::create(
                        b, loc, vector::BroadcastOp::create(b, loc, vecTy, qi),
                        si, accs[u]));
                    Value den = accs[T + u];
                    if (z) {
                      if (g)
                        zi = arith::MulFOp::create(b, loc, g, zi);
                      zi = arith::AddFOp::create(b, loc, zi, ki);
                      den = math::FmaOp::create(b, loc, zi, qi, den);
                    }
                    dens.push_back(den);
                  }
                  memref::StoreOp::create(b, loc, si, state, i);
                  if (z)
                    memref::StoreOp::create(b, loc, zi, z, i);
                  os.append(dens.begin(), dens.end());
                  scf::YieldOp::create(b, loc, os);
                });
            for (int64_t u = 0; u < T; ++u) {
              Value o = rows.getResult(u);
              if (z)
                o = arith::DivFOp::create(
                    b, loc, o,
                    vector::BroadcastOp::create(b, loc, vecTy,
                                                rows.getResult(T + u)));
              storeVec(out, {bIdx, h, ts[u], v0}, o);
            }
          };
          forStepGroups(b, loc, begin, end, kStepsPerPass, emitSteps);

          if (fs)
            scf::ForOp::create(
                b, loc, c0, keyDim, c1, ValueRange{},
                [&](OpBuilder &b, Location loc, Value i, ValueRange) {
                  storeVec(fs, {seq, h, i, v0},
                           memref::LoadOp::create(b, loc, state, i));
                  scf::YieldOp::create(b, loc);
                });
        });

    rw.setInsertionPointAfter(guard);
    replaceWithBuffers(rw, loc, op, out, fs);
    return success();
  }

  struct Buffers {
    Value q, k, v, gate, h0, cu, out, fs, keyDim, valueDim, len;
  };

  /// The (sequence `seq`, head `h`) task of the chunked kernel.
  void emitChunked(OpBuilder &b, Location loc, ssm::LinearAttentionOp op,
                   Value seq, Value h, const Buffers &m) const {
    auto acc = cast<FloatType>(op.getAccumulatorType());
    const int64_t vw = laneCount(options.vectorBits, acc);
    auto vecTy = VectorType::get({vw}, acc);
    StringRef featureMap = op.getFeatureMap();
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    Value bIdx = m.cu ? c0 : seq;
    Value begin = m.cu ? packedOffset(b, loc, m.cu, seq) : c0;
    Value end = m.cu ? packedOffset(b, loc, m.cu,
                                    arith::AddIOp::create(b, loc, seq, c1))
                     : m.len;
    auto cst = [&](OpBuilder &b, double x) -> Value {
      return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, x));
    };
    auto load = [&](OpBuilder &b, Value mem, ValueRange at, Value mask) -> Value {
      Type e = cast<MemRefType>(mem.getType()).getElementType();
      auto vt = VectorType::get({vw}, e);
      Value zero = arith::ConstantOp::create(
          b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
      return castFloat(
          b, loc, vector::MaskedLoadOp::create(b, loc, vt, mem, at, mask, zero),
          acc);
    };
    auto phi = [&](OpBuilder &b, Value x) -> Value {
      Value zero = vector::BroadcastOp::create(b, loc, vecTy, cst(b, 0));
      if (featureMap == "relu")
        return arith::MaximumFOp::create(b, loc, x, zero);
      if (featureMap == "elu_plus_one") {
        Value pos =
            arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, zero);
        Value one = vector::BroadcastOp::create(b, loc, vecTy, cst(b, 1));
        return arith::SelectOp::create(b, loc, pos,
                                       arith::AddFOp::create(b, loc, x, one),
                                       math::ExpOp::create(b, loc, x));
      }
      return x;
    };
    // scale: the attribute, or K^-1/2 computed at run time.
    Value scale;
    if (op.getScaleAttr()) {
      scale = cst(b, op.getScaleAttr().getValueAsDouble());
    } else {
      Value kf = arith::UIToFPOp::create(
          b, loc, acc, arith::IndexCastOp::create(b, loc, b.getI64Type(), m.keyDim));
      scale = arith::DivFOp::create(b, loc, cst(b, 1),
                                    math::SqrtOp::create(b, loc, kf));
    }
    Value scaleVec = vector::BroadcastOp::create(b, loc, vecTy, scale);

    auto query = [&](OpBuilder &b, Location loc, Value t, Value, Value at,
                     Value mask) -> Value {
      return arith::MulFOp::create(b, loc, scaleVec,
                                   phi(b, load(b, m.q, {bIdx, h, t, at}, mask)));
    };
    auto key = [&](OpBuilder &b, Location, Value t, Value, Value at,
                   Value mask) -> Value {
      return phi(b, load(b, m.k, {bIdx, h, t, at}, mask));
    };
    auto value = [&](OpBuilder &b, Location, Value t, Value, Value at,
                     Value mask) -> Value {
      return load(b, m.v, {bIdx, h, t, at}, mask);
    };
    auto keyLogDecay = [&](OpBuilder &b, Location, Value t, Value, Value at,
                           Value mask) -> Value {
      return load(b, m.gate, {bIdx, h, t, at}, mask);
    };
    auto logDecay = [&](OpBuilder &b, Location loc, Value t, Value) -> Value {
      return castFloat(b, loc, memref::LoadOp::create(b, loc, m.gate, ValueRange{bIdx, h, t}),
                       acc);
    };
    auto output = [&](OpBuilder &b, Location loc, Value t, Value, Value at,
                      Value mask, Value y) {
      Type e = cast<MemRefType>(m.out.getType()).getElementType();
      vector::MaskedStoreOp::create(b, loc, m.out, ValueRange{bIdx, h, t, at},
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

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateLinearAttentionToLoopsPatterns(
    RewritePatternSet &patterns, const SSMToLoopsOptions &options) {
  patterns.add<LinearAttentionToLoops>(patterns.getContext(), options);
}
