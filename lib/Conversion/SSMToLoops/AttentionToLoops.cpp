//===- AttentionToLoops.cpp - CPU lowering of softmax attention -----------===//
//
// One pass over the visible keys per (batch, head, query) with an online
// softmax (running max m, running sum l, rescaled accumulator), so the L x L
// score matrix is never materialised: the FlashAttention recurrence, one
// query row at a time. The query-key dot products and the value
// accumulation are vectorised over the head dimension; the accumulator of a
// row lives in a stack buffer of ceil(dv / vw) vectors. Causal masks and
// sliding windows become the bounds of the key loop.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "dialects/ssm/SSMOps.h"

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

    Value cvw = arith::ConstantIndexOp::create(rw, loc, vw);
    Value headBlocks = arith::CeilDivUIOp::create(rw, loc, headDim, cvw);
    Value valueBlocks = arith::CeilDivUIOp::create(rw, loc, valueDim, cvw);
    const bool causal = op.getCausal();
    const std::optional<int64_t> window = op.getWindow();
    std::optional<double> scaleAttr;
    if (auto s = op.getScaleAttr())
      scaleAttr = s.getValueAsDouble();

    auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
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
          Value scale;
          if (scaleAttr) {
            scale = cst(*scaleAttr);
          } else {
            Value df = arith::UIToFPOp::create(
                b, loc, acc,
                arith::IndexCastOp::create(b, loc, b.getI64Type(), headDim));
            scale = arith::DivFOp::create(b, loc, cst(1),
                                          math::SqrtOp::create(b, loc, df));
          }

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
