//===- AttentionToLoops.cpp - CPU lowering of softmax attention -----------===//
//
// The FlashAttention recurrence with the queries of a block as vector lanes:
// one task per (batch, head, block of vw queries) walks the keys the block
// can see in blocks of vw keys. Per key block, the vw x vw scores come from
// broadcast FMAs along d against the block's transposed queries (no
// horizontal sums), the online softmax (running max m, running sum l) is
// updated once per block lane-wise, and the value accumulator -- dv vectors
// of lanes on the stack -- is rescaled and gets vw broadcast FMAs per
// element. The L x L score matrix is never materialised; causal masks and
// sliding windows bound the key loop per block and mask it per lane.
//
// A decode step (static Lq below half a vector) would leave most lanes idle:
// there each task is one query, with the head dimension in the lanes and a
// horizontal sum per key.
//
//===----------------------------------------------------------------------===//

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

#include <cmath>

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// The score scale: the op's `scale`, else d^-1/2.
Value attentionScale(OpBuilder &b, Location loc, FloatType acc,
                     std::optional<double> scaleAttr, Value headDim) {
  if (scaleAttr)
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, *scaleAttr));
  Value df = arith::UIToFPOp::create(
      b, loc, acc, arith::IndexCastOp::create(b, loc, b.getI64Type(), headDim));
  Value one = arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, 1.0));
  return arith::DivFOp::create(b, loc, one, math::SqrtOp::create(b, loc, df));
}

struct AttentionToLoops : OpRewritePattern<ssm::AttentionOp> {
  AttentionToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::AttentionOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto acc = cast<FloatType>(op.getAccumulatorType());
    const int64_t vw = laneCount(options.vectorBits, acc);
    auto vecTy = VectorType::get({vw}, acc);

    // Keys and values are often a slice of a KV cache: read them in place.
    Value q = toBuffer(rw, loc, op.getQ()),
          k = toStridedBuffer(rw, loc, op.getK()),
          v = toStridedBuffer(rw, loc, op.getV());
    Value batch = dimOf(rw, loc, q, 0), heads = dimOf(rw, loc, q, 1),
          qLen = dimOf(rw, loc, q, 2), headDim = dimOf(rw, loc, q, 3),
          kvHeads = dimOf(rw, loc, k, 1), kLen = dimOf(rw, loc, k, 2),
          valueDim = dimOf(rw, loc, v, 3);
    auto outTy = op.getOut().getType();
    Value out = allocLike(rw, loc, outTy, {batch, heads, qLen, valueDim});

    RuntimeShapeChecks checks(rw, loc, op);
    NamedDim dB{"B", batch, "dimension 0 of 'q'"},
        dHkv{"Hkv", kvHeads, "dimension 1 of 'k'"},
        dLk{"Lk", kLen, "dimension 2 of 'k'"},
        dd{"d", headDim, "dimension 3 of 'q'"};
    checkOperandDims(checks, rw, loc, k, "k", {dB, {"Hkv", {}, ""}, {"Lk", {}, ""}, dd});
    checkOperandDims(checks, rw, loc, v, "v", {dB, dHkv, dLk});
    checkResultDims(checks, rw, loc, outTy, "out",
                    {dB, {"H", heads, "dimension 1 of 'q'"},
                     {"Lq", qLen, "dimension 2 of 'q'"},
                     {"dv", valueDim, "dimension 3 of 'v'"}});
    Value c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    if (!getConstantIntValue(kvHeads) || !getConstantIntValue(heads)) {
      // H must be a positive multiple of Hkv (Hkv = 0 reported as such).
      Value isZero = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq,
                                           kvHeads, c0);
      Value safe = arith::SelectOp::create(rw, loc, isZero, c1, kvHeads);
      Value rem = arith::RemUIOp::create(rw, loc, heads, safe);
      Value ok = arith::AndIOp::create(
          rw, loc,
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, rem, c0),
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ne, kvHeads, c0));
      checks.require(ok, kvHeads, heads,
                     "the key/value head count Hkv must be positive and "
                     "divide H (reported: Hkv, H)");
    }

    // A decode step (a handful of queries, static) keeps one query per task
    // with the head dimension in the lanes; longer query ranges put a block
    // of queries in the lanes.
    std::optional<int64_t> staticQ = getConstantIntValue(qLen);
    scf::IfOp guard;
    if (staticQ && *staticQ * 2 < vw) {
      Value cvw = arith::ConstantIndexOp::create(rw, loc, vw);
      Value headBlocks = arith::CeilDivUIOp::create(rw, loc, headDim, cvw);
      Value valueBlocks = arith::CeilDivUIOp::create(rw, loc, valueDim, cvw);
      const bool causal = op.getCausal();
      const std::optional<int64_t> window = op.getWindow();
      std::optional<double> scaleAttr;
      if (auto s = op.getScaleAttr())
        scaleAttr = s.getValueAsDouble();

      guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                     /*withElseRegion=*/false);
      rw.setInsertionPointToStart(&guard.getThenRegion().front());
      scf::ParallelOp::create(
          rw, loc, ValueRange{c0, c0, c0}, ValueRange{batch, heads, qLen},
          ValueRange{c1, c1, c1},
          [&](OpBuilder &b, Location loc, ValueRange ivs) {
            Value bi = ivs[0], h = ivs[1], i = ivs[2];
            Value group = arith::DivUIOp::create(b, loc, heads, kvHeads);
            Value hk = arith::DivUIOp::create(b, loc, h, group);
            auto cst = [&](double x) -> Value {
              return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, x));
            };
            auto zeroVec = [&](Type e) -> Value {
              auto vt = VectorType::get({vw}, e);
              return arith::ConstantOp::create(
                  b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
            };
            // Block `blk` of a row of `width` elements, masked at the tail.
            auto maskFor = [&](Value blk, Value width) -> Value {
              Value start = arith::MulIOp::create(b, loc, blk, cvw);
              Value n = arith::MinUIOp::create(
                  b, loc, arith::SubIOp::create(b, loc, width, start), cvw);
              return vector::CreateMaskOp::create(
                  b, loc, VectorType::get({vw}, b.getI1Type()), ValueRange{n});
            };
            auto load = [&](Value mem, ValueRange at, Value mask) -> Value {
              Type e = cast<MemRefType>(mem.getType()).getElementType();
              Value r = vector::MaskedLoadOp::create(
                  b, loc, VectorType::get({vw}, e), mem, at, mask, zeroVec(e));
              return castFloat(b, loc, r, acc);
            };

            // Visible keys [lo, hi): causal rows are aligned to the end.
            Value lo = c0, hi = kLen;
            if (causal) {
              Value pos = arith::SubIOp::create(
                  b, loc, arith::AddIOp::create(b, loc, i, kLen), qLen);
              Value end = arith::AddIOp::create(b, loc, pos, c1);
              hi = arith::MaxSIOp::create(
                  b, loc, c0, arith::MinSIOp::create(b, loc, end, kLen));
              if (window) {
                Value w = arith::ConstantIndexOp::create(b, loc, *window);
                lo = arith::MaxSIOp::create(
                    b, loc, c0, arith::SubIOp::create(b, loc, end, w));
                lo = arith::MinSIOp::create(b, loc, lo, hi);
              }
            }
            Value scale = attentionScale(b, loc, acc, scaleAttr, headDim);

            auto bufTy = MemRefType::get({ShapedType::kDynamic}, vecTy);
            Value accBuf =
                memref::AllocaOp::create(b, loc, bufTy, ValueRange{valueBlocks});
            scf::ForOp::create(b, loc, c0, valueBlocks, c1, ValueRange{},
                               [&](OpBuilder &b, Location loc, Value blk,
                                   ValueRange) {
                                 memref::StoreOp::create(b, loc, zeroVec(acc),
                                                         accBuf, blk);
                                 scf::YieldOp::create(b, loc);
                               });
            auto keys = scf::ForOp::create(
                b, loc, lo, hi, c1, ValueRange{cst(-INFINITY), cst(0)},
                [&](OpBuilder &b, Location loc, Value j, ValueRange ml) {
                  // s = scale * q_i . k_j
                  auto dot = scf::ForOp::create(
                      b, loc, c0, headBlocks, c1, ValueRange{zeroVec(acc)},
                      [&](OpBuilder &b, Location loc, Value blk, ValueRange a) {
                        Value mask = maskFor(blk, headDim);
                        Value c = arith::MulIOp::create(b, loc, blk, cvw);
                        Value qv = load(q, {bi, h, i, c}, mask);
                        Value kv = load(k, {bi, hk, j, c}, mask);
                        scf::YieldOp::create(
                            b, loc, ValueRange{math::FmaOp::create(b, loc, qv, kv, a[0])});
                      });
                  Value s = vector::ReductionOp::create(
                      b, loc, vector::CombiningKind::ADD, dot.getResult(0));
                  s = arith::MulFOp::create(b, loc, s, scale);
                  // Online softmax: rescale what was accumulated so far.
                  Value m = arith::MaximumFOp::create(b, loc, ml[0], s);
                  Value corr = math::ExpOp::create(
                      b, loc, arith::SubFOp::create(b, loc, ml[0], m));
                  Value p = math::ExpOp::create(
                      b, loc, arith::SubFOp::create(b, loc, s, m));
                  Value l = math::FmaOp::create(b, loc, ml[1], corr, p);
                  Value corrV = vector::BroadcastOp::create(b, loc, vecTy, corr);
                  Value pV = vector::BroadcastOp::create(b, loc, vecTy, p);
                  scf::ForOp::create(
                      b, loc, c0, valueBlocks, c1, ValueRange{},
                      [&](OpBuilder &b, Location loc, Value blk, ValueRange) {
                        Value c = arith::MulIOp::create(b, loc, blk, cvw);
                        Value vv = load(v, {bi, hk, j, c}, maskFor(blk, valueDim));
                        Value a = memref::LoadOp::create(b, loc, accBuf, blk);
                        a = math::FmaOp::create(
                            b, loc, pV, vv, arith::MulFOp::create(b, loc, a, corrV));
                        memref::StoreOp::create(b, loc, a, accBuf, blk);
                        scf::YieldOp::create(b, loc);
                      });
                  scf::YieldOp::create(b, loc, ValueRange{m, l});
                });
            // o_i = acc / l (zero when no key is visible).
            Value l = keys.getResult(1);
            Value positive =
                arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, l, cst(0));
            Value inv = arith::SelectOp::create(
                b, loc, positive, arith::DivFOp::create(b, loc, cst(1), l), cst(0));
            Value invV = vector::BroadcastOp::create(b, loc, vecTy, inv);
            Type e = cast<MemRefType>(out.getType()).getElementType();
            scf::ForOp::create(
                b, loc, c0, valueBlocks, c1, ValueRange{},
                [&](OpBuilder &b, Location loc, Value blk, ValueRange) {
                  Value c = arith::MulIOp::create(b, loc, blk, cvw);
                  Value a = memref::LoadOp::create(b, loc, accBuf, blk);
                  Value o = arith::MulFOp::create(b, loc, a, invV);
                  vector::MaskedStoreOp::create(b, loc, out, ValueRange{bi, h, i, c},
                                                maskFor(blk, valueDim),
                                                castFloat(b, loc, o, e));
                  scf::YieldOp::create(b, loc);
                });
          });
    } else {
      const bool causal = op.getCausal();
      const std::optional<int64_t> window = op.getWindow();
      std::optional<double> scaleAttr;
      if (auto s = op.getScaleAttr())
        scaleAttr = s.getValueAsDouble();
      Value cvw = arith::ConstantIndexOp::create(rw, loc, vw);
      Value qBlocks = arith::CeilDivUIOp::create(rw, loc, qLen, cvw);
      auto idxVecTy = VectorType::get({vw}, rw.getIndexType());
      auto maskTy = VectorType::get({vw}, rw.getI1Type());
      Type inElt = cast<MemRefType>(k.getType()).getElementType();
      Type qElt = cast<MemRefType>(q.getType()).getElementType();
      Type outElt = cast<MemRefType>(out.getType()).getElementType();

      guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                     /*withElseRegion=*/false);
      rw.setInsertionPointToStart(&guard.getThenRegion().front());
      // One task per (batch, head, block of vw queries); the queries of a
      // block are the vector lanes.
      scf::ParallelOp::create(
          rw, loc, ValueRange{c0, c0, c0}, ValueRange{batch, heads, qBlocks},
          ValueRange{c1, c1, c1},
          [&](OpBuilder &b, Location loc, ValueRange ivs) {
            Value bi = ivs[0], h = ivs[1];
            Value i0 = arith::MulIOp::create(b, loc, ivs[2], cvw);
            Value group = arith::DivUIOp::create(b, loc, heads, kvHeads);
            Value hk = arith::DivUIOp::create(b, loc, h, group);
            auto idx = [&](int64_t v) -> Value {
              return arith::ConstantIndexOp::create(b, loc, v);
            };
            auto splat = [&](double x) -> Value {
              return arith::ConstantOp::create(
                  b, loc, vecTy,
                  DenseElementsAttr::get(vecTy, b.getFloatAttr(acc, x)));
            };
            auto bcast = [&](Value sc) -> Value {
              return vector::BroadcastOp::create(b, loc, vecTy, sc);
            };
            auto sel = [&](Value m, Value x, Value y) -> Value {
              return arith::SelectOp::create(b, loc, m, x, y);
            };
            Value nq = arith::MinUIOp::create(
                b, loc, arith::SubIOp::create(b, loc, qLen, i0), cvw);
            Value qMask = vector::CreateMaskOp::create(b, loc, maskTy,
                                                       ValueRange{nq});
            // Key position of each lane's query (causal rows are aligned to
            // the end of the keys) and its visible range [lo, hi).
            Value shift = arith::SubIOp::create(b, loc, kLen, qLen);
            Value lanes = vector::StepOp::create(b, loc, idxVecTy);
            Value posVec = arith::AddIOp::create(
                b, loc, lanes,
                vector::BroadcastOp::create(
                    b, loc, idxVecTy, arith::AddIOp::create(b, loc, i0, shift)));
            // The block's key range: from the first lane's lo to the last
            // active lane's hi.
            Value jStart = c0, jEnd = kLen;
            if (causal) {
              Value lastPos = arith::AddIOp::create(
                  b, loc,
                  arith::AddIOp::create(b, loc, i0,
                                        arith::SubIOp::create(b, loc, nq, c1)),
                  shift);
              jEnd = arith::MaxSIOp::create(
                  b, loc, c0,
                  arith::MinSIOp::create(
                      b, loc, arith::AddIOp::create(b, loc, lastPos, c1), kLen));
              if (window) {
                Value firstPos = arith::AddIOp::create(b, loc, i0, shift);
                jStart = arith::MaxSIOp::create(
                    b, loc, c0,
                    arith::SubIOp::create(
                        b, loc, arith::AddIOp::create(b, loc, firstPos, c1),
                        idx(*window)));
                jStart = arith::MinSIOp::create(b, loc, jStart, jEnd);
              }
            }
            Value scale = attentionScale(b, loc, acc, scaleAttr, headDim);
            Value scaleV = bcast(scale);

            // The block's queries, transposed and scaled: qt[e] holds
            // q[., ., i0 + lane, e] * scale.
            auto bufTy = MemRefType::get({ShapedType::kDynamic}, vecTy);
            Value qt = memref::AllocaOp::create(b, loc, bufTy, ValueRange{headDim});
            Value ot = memref::AllocaOp::create(b, loc, bufTy, ValueRange{valueDim});
            auto laneMap = AffineMap::get(
                4, 0, {b.getAffineDimExpr(2)}, b.getContext());
            scf::ForOp::create(
                b, loc, c0, headDim, c1, ValueRange{},
                [&](OpBuilder &b, Location loc, Value e, ValueRange) {
                  Value pad = arith::ConstantOp::create(b, loc,
                                                        b.getZeroAttr(qElt));
                  Value col = vector::TransferReadOp::create(
                      b, loc, VectorType::get({vw}, qElt), q,
                      ValueRange{bi, h, i0, e}, AffineMapAttr::get(laneMap), pad,
                      qMask, b.getBoolArrayAttr({false}));
                  memref::StoreOp::create(
                      b, loc,
                      arith::MulFOp::create(b, loc, castFloat(b, loc, col, acc),
                                            scaleV),
                      qt, e);
                  scf::YieldOp::create(b, loc);
                });
            scf::ForOp::create(b, loc, c0, valueDim, c1, ValueRange{},
                               [&](OpBuilder &b, Location loc, Value e,
                                   ValueRange) {
                                 memref::StoreOp::create(b, loc, splat(0), ot, e);
                                 scf::YieldOp::create(b, loc);
                               });
            Value lastKey = arith::SubIOp::create(
                b, loc, arith::MaxSIOp::create(b, loc, kLen, c1), c1);
            auto scalarAt = [&](OpBuilder &b, Location loc, Value mem, Value j,
                                Value e) -> Value {
              Value x = memref::LoadOp::create(b, loc, mem,
                                               ValueRange{bi, hk, j, e});
              return castFloat(b, loc, x, acc);
            };
            (void)inElt;
            // Blocks of vw keys: scores of every (query lane, key) pair of the
            // block by broadcast FMAs along d, one online-softmax update per
            // block, then the value accumulation, all lane-wise.
            auto keys = scf::ForOp::create(
                b, loc, jStart, jEnd, cvw,
                ValueRange{splat(-INFINITY), splat(0)},
                [&](OpBuilder &b, Location loc, Value j0, ValueRange ml) {
                  SmallVector<Value> rows, visible;
                  for (int64_t jj = 0; jj < vw; ++jj) {
                    Value j = arith::AddIOp::create(b, loc, j0, idx(jj));
                    rows.push_back(arith::MinSIOp::create(b, loc, j, lastKey));
                    Value jv = vector::BroadcastOp::create(b, loc, idxVecTy, j);
                    Value vis = arith::CmpIOp::create(
                        b, loc, arith::CmpIPredicate::slt, jv,
                        vector::BroadcastOp::create(b, loc, idxVecTy, jEnd));
                    if (causal) {
                      vis = arith::AndIOp::create(
                          b, loc, vis,
                          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                                jv, posVec));
                      if (window) {
                        Value lo = arith::SubIOp::create(
                            b, loc, posVec,
                            vector::BroadcastOp::create(b, loc, idxVecTy,
                                                        idx(*window - 1)));
                        vis = arith::AndIOp::create(
                            b, loc, vis,
                            arith::CmpIOp::create(
                                b, loc, arith::CmpIPredicate::sge, jv, lo));
                      }
                    }
                    visible.push_back(vis);
                  }
                  SmallVector<Value> zeros(vw, splat(0));
                  auto dots = scf::ForOp::create(
                      b, loc, c0, headDim, c1, zeros,
                      [&](OpBuilder &b, Location loc, Value e, ValueRange s) {
                        Value qv = memref::LoadOp::create(b, loc, qt, e);
                        SmallVector<Value> next;
                        for (int64_t jj = 0; jj < vw; ++jj)
                          next.push_back(math::FmaOp::create(
                              b, loc, qv,
                              vector::BroadcastOp::create(
                                  b, loc, vecTy, scalarAt(b, loc, k, rows[jj], e)),
                              s[jj]));
                        scf::YieldOp::create(b, loc, next);
                      });
                  Value negInf = splat(-INFINITY);
                  SmallVector<Value> scores;
                  Value mNew = ml[0];
                  for (int64_t jj = 0; jj < vw; ++jj) {
                    scores.push_back(sel(visible[jj], dots.getResult(jj), negInf));
                    mNew = arith::MaximumFOp::create(b, loc, mNew, scores.back());
                  }
                  Value none = arith::CmpFOp::create(
                      b, loc, arith::CmpFPredicate::OEQ, mNew, negInf);
                  Value mSafe = sel(none, splat(0), mNew);
                  Value hadNone = arith::CmpFOp::create(
                      b, loc, arith::CmpFPredicate::OEQ, ml[0], negInf);
                  Value corr =
                      sel(hadNone, splat(0),
                          math::ExpOp::create(
                              b, loc, arith::SubFOp::create(b, loc, ml[0], mSafe)));
                  Value l = arith::MulFOp::create(b, loc, ml[1], corr);
                  SmallVector<Value> probs;
                  for (int64_t jj = 0; jj < vw; ++jj) {
                    Value pj = math::ExpOp::create(
                        b, loc, arith::SubFOp::create(b, loc, scores[jj], mSafe));
                    pj = sel(visible[jj], pj, splat(0));
                    probs.push_back(pj);
                    l = arith::AddFOp::create(b, loc, l, pj);
                  }
                  scf::ForOp::create(
                      b, loc, c0, valueDim, c1, ValueRange{},
                      [&](OpBuilder &b, Location loc, Value e, ValueRange) {
                        Value o = arith::MulFOp::create(
                            b, loc, memref::LoadOp::create(b, loc, ot, e), corr);
                        for (int64_t jj = 0; jj < vw; ++jj)
                          o = math::FmaOp::create(
                              b, loc, probs[jj],
                              vector::BroadcastOp::create(
                                  b, loc, vecTy, scalarAt(b, loc, v, rows[jj], e)),
                              o);
                        memref::StoreOp::create(b, loc, o, ot, e);
                        scf::YieldOp::create(b, loc);
                      });
                  scf::YieldOp::create(b, loc, ValueRange{mNew, l});
                });
            // o = acc / l (zero for a query that sees no key), written back
            // lane by lane.
            Value l = keys.getResult(1);
            Value positive = arith::CmpFOp::create(
                b, loc, arith::CmpFPredicate::OGT, l, splat(0));
            Value inv = sel(positive, arith::DivFOp::create(b, loc, splat(1), l),
                            splat(0));
            scf::ForOp::create(
                b, loc, c0, valueDim, c1, ValueRange{},
                [&](OpBuilder &b, Location loc, Value e, ValueRange) {
                  Value o = arith::MulFOp::create(
                      b, loc, memref::LoadOp::create(b, loc, ot, e), inv);
                  vector::TransferWriteOp::create(
                      b, loc, castFloat(b, loc, o, outElt), out,
                      ValueRange{bi, h, i0, e}, AffineMapAttr::get(laneMap),
                      qMask, b.getBoolArrayAttr({false}));
                  scf::YieldOp::create(b, loc);
                });
          });
    }
    rw.setInsertionPointAfter(guard);
    rw.replaceOp(op, toTensor(rw, loc, outTy, out));
    return success();
  }

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateAttentionToLoopsPatterns(RewritePatternSet &patterns,
                                            const SSMToLoopsOptions &options) {
  patterns.add<AttentionToLoops>(patterns.getContext(), options);
}
