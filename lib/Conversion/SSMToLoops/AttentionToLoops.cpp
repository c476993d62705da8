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
// horizontal sum per key. Packed sequences (cu_seqlens_q/k) and per-entry
// key counts (seqused_k) take that one-query-per-task schedule too: each
// query finds its sequence and its own key range.
//
// Scores follow FlashAttention: scale, then the softcap (c tanh(s / c)),
// then the ALiBi bias -slope |pos - j|, over the keys of the two-sided
// window [pos - left, pos + right]; sinks add exp(sink) to the softmax
// denominator when the output is normalised.
//
//===----------------------------------------------------------------------===//

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

/// What both schedules share: the op's buffers and sizes, the output buffer,
/// the shape checks and the attributes the loops read.
struct AttentionOperands {
  AttentionOperands(ssm::AttentionOp op, PatternRewriter &rw,
                    const ssmc::SSMToLoopsOptions &options)
      : op(op), rw(rw), loc(op.getLoc()),
        acc(cast<FloatType>(op.getAccumulatorType())),
        vw(laneCount(options.vectorBits, acc)),
        vecTy(VectorType::get({vw}, acc)), left(op.getLeftWindow()),
        right(op.getRightWindow()) {
    if (auto s = op.getScaleAttr())
      scaleAttr = s.getValueAsDouble();
    if (auto c = op.getSoftcapAttr())
      softcap = c.getValueAsDouble();
  }

  /// The operand buffers, their sizes and the output buffer.
  void loadOperands() {
    // Keys and values are often a slice of a KV cache: read them in place.
    q = toBuffer(rw, loc, op.getQ());
    k = toStridedBuffer(rw, loc, op.getK());
    v = toStridedBuffer(rw, loc, op.getV());
    batch = dimOf(rw, loc, q, 0);
    heads = dimOf(rw, loc, q, 1);
    qLen = dimOf(rw, loc, q, 2);
    headDim = dimOf(rw, loc, q, 3);
    kvHeads = dimOf(rw, loc, k, 1);
    kLen = dimOf(rw, loc, k, 2);
    valueDim = dimOf(rw, loc, v, 3);
    slopes = toBuffer(rw, loc, op.getAlibiSlopes());
    sinks = toBuffer(rw, loc, op.getSinks());
    cuQ = toBuffer(rw, loc, op.getCuSeqlensQ());
    cuK = toBuffer(rw, loc, op.getCuSeqlensK());
    used = toBuffer(rw, loc, op.getSequsedK());
    outTy = op.getOut().getType();
    out = allocLike(rw, loc, outTy, {batch, heads, qLen, valueDim});
  }

  void checkShapes(RuntimeShapeChecks &checks) {
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
    c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    NamedDim dH{"H", heads, "dimension 1 of 'q'"};
    if (sinks)
      checkOperandDims(checks, rw, loc, sinks, "sinks", {dH});
    if (slopes) {
      if (cast<MemRefType>(slopes.getType()).getRank() == 2)
        checkOperandDims(checks, rw, loc, slopes, "alibi_slopes", {dB, dH});
      else
        checkOperandDims(checks, rw, loc, slopes, "alibi_slopes", {dH});
    }
    if (cuQ) {
      // B = 1 (verified when static) and offsets within the packed rows.
      checks.requireEqual(batch, c1, "with packed sequences the batch size "
                                     "B (dimension 0 of 'q') must be 1");
      sequences = arith::SubIOp::create(rw, loc, dimOf(rw, loc, cuQ, 0), c1);
      checks.requireEqual(arith::SubIOp::create(rw, loc, dimOf(rw, loc, cuK, 0), c1),
                          sequences,
                          "'cu_seqlens_k' must hold as many offsets as "
                          "'cu_seqlens_q'");
      checkPackedOffsets(checks, rw, loc, cuQ, sequences, qLen, "cu_seqlens_q",
                         "Lq");
      checkPackedOffsets(checks, rw, loc, cuK, sequences, kLen, "cu_seqlens_k",
                         "Lk");
      if (used)
        checkOperandDims(checks, rw, loc, used, "seqused_k",
                         {{"S", sequences, "the number of sequences"}});
    } else if (used) {
      checkOperandDims(checks, rw, loc, used, "seqused_k", {dB});
    }
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
  }

  /// A decode step (a handful of queries, static) keeps one query per task
  /// with the head dimension in the lanes; longer query ranges put a block
  /// of queries in the lanes.
  bool isDecodeStep() const {
    std::optional<int64_t> staticQ = getConstantIntValue(qLen);
    return staticQ && *staticQ * 2 < vw;
  }
  /// Whether each query needs its own key range: packed sequences or
  /// per-entry key counts.
  bool needsQueryRows() const { return cuQ || used; }

protected:
  /// Opens the `if` over the shape checks and, in it, the parallel loop
  /// over (batch, head, task) whose body `task` emits; returns the `if`.
  scf::IfOp
  emitTasks(RuntimeShapeChecks &checks, Value tasks,
            function_ref<void(OpBuilder &, Location, ValueRange)> task) {
    auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                   /*withElseRegion=*/false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(rw, loc, ValueRange{c0, c0, c0},
                            ValueRange{batch, heads, tasks},
                            ValueRange{c1, c1, c1}, task);
    return guard;
  }

  /// A constant of the accumulator type, splat when `like` is a vector.
  Value constLike(OpBuilder &b, Location loc, Value like, double x) const {
    if (auto vt = dyn_cast<VectorType>(like.getType()))
      return arith::ConstantOp::create(
          b, loc, vt, DenseElementsAttr::get(vt, b.getFloatAttr(acc, x)));
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, x));
  }

  /// softcap * tanh(s / softcap) (s itself without a softcap); s a scalar
  /// or a vector of scores.
  Value capScore(OpBuilder &b, Location loc, Value s) const {
    if (!softcap)
      return s;
    Value t = math::TanhOp::create(
        b, loc, arith::MulFOp::create(b, loc, s,
                                      constLike(b, loc, s, 1.0 / *softcap)));
    return arith::MulFOp::create(b, loc, t, constLike(b, loc, s, *softcap));
  }

  /// The ALiBi slope of (bi, h), as the accumulator type.
  Value slopeOf(OpBuilder &b, Location loc, Value bi, Value h) const {
    SmallVector<Value> at{h};
    if (cast<MemRefType>(slopes.getType()).getRank() == 2)
      at.insert(at.begin(), bi);
    return castFloat(b, loc, memref::LoadOp::create(b, loc, slopes, at), acc);
  }

  /// The running (max, sum) the online softmax starts from: (-inf, 0), or
  /// with a sink the virtual key itself (sink_h, 1), which adds exp(sink_h)
  /// to the denominator and nothing to the output.
  std::pair<Value, Value> softmaxStart(OpBuilder &b, Location loc, Value h,
                                       Value like) const {
    if (!sinks)
      return {constLike(b, loc, like, -INFINITY), constLike(b, loc, like, 0)};
    Value sk = castFloat(b, loc, memref::LoadOp::create(b, loc, sinks, h), acc);
    if (isa<VectorType>(like.getType()))
      sk = vector::BroadcastOp::create(b, loc, like.getType(), sk);
    return {sk, constLike(b, loc, like, 1)};
  }

  /// The key/value head that query head `h` reads (grouped-query attention).
  Value kvHead(OpBuilder &b, Location loc, Value h) const {
    Value group = arith::DivUIOp::create(b, loc, heads, kvHeads);
    return arith::DivUIOp::create(b, loc, h, group);
  }

public:
  ssm::AttentionOp op;
  PatternRewriter &rw;
  Location loc;
  FloatType acc;
  int64_t vw;
  VectorType vecTy;
  /// The two-sided window (std::nullopt: unbounded), causal included.
  std::optional<int64_t> left, right;
  std::optional<double> scaleAttr, softcap;

  Value q, k, v;
  /// Optional operands: ALiBi slopes, sinks, packed offsets, key counts.
  Value slopes, sinks, cuQ, cuK, used, sequences;
  Value batch, heads, qLen, headDim, kvHeads, kLen, valueDim;
  RankedTensorType outTy;
  Value out;
  Value c0, c1;
};

/// A decode step: one task per query, the head dimension in the lanes and a
/// horizontal sum per key.
class DecodeStepEmitter : AttentionOperands {
public:
  explicit DecodeStepEmitter(const AttentionOperands &a)
      : AttentionOperands(a) {}

  scf::IfOp emit(RuntimeShapeChecks &checks) {
    cvw = arith::ConstantIndexOp::create(rw, loc, vw);
    headBlocks = arith::CeilDivUIOp::create(rw, loc, headDim, cvw);
    valueBlocks = arith::CeilDivUIOp::create(rw, loc, valueDim, cvw);
    return emitTasks(checks, qLen,
                     [&](OpBuilder &b, Location loc, ValueRange ivs) {
                       emitQuery(b, loc, ivs);
                     });
  }

private:
  /// Query (bi, h, i): its visible keys, the key loop, the output row.
  void emitQuery(OpBuilder &b, Location loc, ValueRange ivs) {
    bi = ivs[0];
    h = ivs[1];
    i = ivs[2];
    hk = kvHead(b, loc, h);
    Value lo, hi;
    visibleKeys(b, loc, lo, hi);
    scale = attentionScale(b, loc, acc, scaleAttr, headDim);
    if (slopes)
      slope = slopeOf(b, loc, bi, h);
    allocAccumulator(b, loc);
    auto [m0, l0] = softmaxStart(b, loc, h, cst(b, loc, 0));
    auto keys = scf::ForOp::create(
        b, loc, lo, hi, c1, ValueRange{m0, l0},
        [&](OpBuilder &b, Location loc, Value j, ValueRange ml) {
          emitKey(b, loc, j, ml);
        });
    storeOutput(b, loc, keys.getResult(1));
  }

  /// Visible keys [lo, hi): those of the query's sequence (or batch
  /// entry) within [pos - left, pos + right], pos the query's key position
  /// aligned to the end of its keys; sets posG, pos as a key index.
  void visibleKeys(OpBuilder &b, Location loc, Value &lo, Value &hi) {
    Value kStart = c0, kCount = kLen, qStart = c0, qCount = qLen, entry = bi;
    if (cuQ) {
      // The query's sequence: the offsets past the first at or below i.
      auto seq = scf::ForOp::create(
          b, loc, c1, sequences, c1, ValueRange{c0},
          [&](OpBuilder &b, Location loc, Value t, ValueRange n) {
            Value in = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle,
                                             packedOffset(b, loc, cuQ, t), i);
            scf::YieldOp::create(
                b, loc,
                ValueRange{arith::SelectOp::create(
                    b, loc, in, arith::AddIOp::create(b, loc, n[0], c1), n[0])});
          });
      entry = seq.getResult(0);
      Value next = arith::AddIOp::create(b, loc, entry, c1);
      qStart = packedOffset(b, loc, cuQ, entry);
      qCount = arith::SubIOp::create(b, loc, packedOffset(b, loc, cuQ, next),
                                     qStart);
      kStart = packedOffset(b, loc, cuK, entry);
      kCount = arith::SubIOp::create(b, loc, packedOffset(b, loc, cuK, next),
                                     kStart);
    }
    if (used)
      kCount = arith::MinSIOp::create(
          b, loc, kCount,
          arith::MaxSIOp::create(b, loc, c0,
                                 packedOffset(b, loc, used, entry)));
    Value pos = arith::SubIOp::create(
        b, loc,
        arith::AddIOp::create(b, loc, arith::SubIOp::create(b, loc, i, qStart),
                              kCount),
        qCount);
    Value l0 = c0, l1 = kCount;
    if (left)
      l0 = arith::MaxSIOp::create(
          b, loc, c0,
          arith::SubIOp::create(b, loc, pos,
                                arith::ConstantIndexOp::create(b, loc, *left)));
    if (right)
      l1 = arith::MinSIOp::create(
          b, loc, kCount,
          arith::AddIOp::create(
              b, loc, pos,
              arith::ConstantIndexOp::create(b, loc, *right + 1)));
    l1 = arith::MaxSIOp::create(b, loc, l0, l1);
    lo = arith::AddIOp::create(b, loc, kStart, l0);
    hi = arith::AddIOp::create(b, loc, kStart, l1);
    posG = arith::AddIOp::create(b, loc, kStart, pos);
  }

  /// The value accumulator: valueBlocks vectors on the stack, zeroed.
  void allocAccumulator(OpBuilder &b, Location loc) {
    auto bufTy = MemRefType::get({ShapedType::kDynamic}, vecTy);
    accBuf = memref::AllocaOp::create(b, loc, bufTy, ValueRange{valueBlocks});
    scf::ForOp::create(b, loc, c0, valueBlocks, c1, ValueRange{},
                       [&](OpBuilder &b, Location loc, Value blk, ValueRange) {
                         memref::StoreOp::create(b, loc, zeroVec(b, loc, acc),
                                                 accBuf, blk);
                         scf::YieldOp::create(b, loc);
                       });
  }

  /// Key j: its score, the online-softmax update of the running max and sum
  /// `ml`, and the rescaled value accumulation.
  void emitKey(OpBuilder &b, Location loc, Value j, ValueRange ml) {
    Value s = score(b, loc, j);
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
          Value vv =
              load(b, loc, v, {bi, hk, j, c}, maskFor(b, loc, blk, valueDim));
          Value a = memref::LoadOp::create(b, loc, accBuf, blk);
          a = math::FmaOp::create(
              b, loc, pV, vv, arith::MulFOp::create(b, loc, a, corrV));
          memref::StoreOp::create(b, loc, a, accBuf, blk);
          scf::YieldOp::create(b, loc);
        });
    scf::YieldOp::create(b, loc, ValueRange{m, l});
  }

  /// s = scale * q_i . k_j, capped, with the ALiBi bias
  Value score(OpBuilder &b, Location loc, Value j) {
    auto dot = scf::ForOp::create(
        b, loc, c0, headBlocks, c1, ValueRange{zeroVec(b, loc, acc)},
        [&](OpBuilder &b, Location loc, Value blk, ValueRange a) {
          Value mask = maskFor(b, loc, blk, headDim);
          Value c = arith::MulIOp::create(b, loc, blk, cvw);
          Value qv = load(b, loc, q, {bi, h, i, c}, mask);
          Value kv = load(b, loc, k, {bi, hk, j, c}, mask);
          scf::YieldOp::create(
              b, loc, ValueRange{math::FmaOp::create(b, loc, qv, kv, a[0])});
        });
    Value s = vector::ReductionOp::create(
        b, loc, vector::CombiningKind::ADD, dot.getResult(0));
    s = capScore(b, loc, arith::MulFOp::create(b, loc, s, scale));
    if (!slopes)
      return s;
    // - slope * |pos - j|
    Value dist = arith::IndexCastOp::create(
        b, loc, b.getI64Type(),
        arith::MaxSIOp::create(b, loc, arith::SubIOp::create(b, loc, posG, j),
                               arith::SubIOp::create(b, loc, j, posG)));
    Value df = arith::SIToFPOp::create(b, loc, acc, dist);
    return arith::SubFOp::create(b, loc, s,
                                 arith::MulFOp::create(b, loc, slope, df));
  }

  /// o_i = acc / l (zero when no key is visible).
  void storeOutput(OpBuilder &b, Location loc, Value l) {
    Value positive = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                           l, cst(b, loc, 0));
    Value inv = arith::SelectOp::create(
        b, loc, positive, arith::DivFOp::create(b, loc, cst(b, loc, 1), l),
        cst(b, loc, 0));
    Value invV = vector::BroadcastOp::create(b, loc, vecTy, inv);
    Type e = cast<MemRefType>(out.getType()).getElementType();
    scf::ForOp::create(
        b, loc, c0, valueBlocks, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value blk, ValueRange) {
          Value c = arith::MulIOp::create(b, loc, blk, cvw);
          Value a = memref::LoadOp::create(b, loc, accBuf, blk);
          Value o = arith::MulFOp::create(b, loc, a, invV);
          vector::MaskedStoreOp::create(b, loc, out, ValueRange{bi, h, i, c},
                                        maskFor(b, loc, blk, valueDim),
                                        castFloat(b, loc, o, e));
          scf::YieldOp::create(b, loc);
        });
  }

  Value cst(OpBuilder &b, Location loc, double x) const {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, x));
  }
  Value zeroVec(OpBuilder &b, Location loc, Type e) const {
    auto vt = VectorType::get({vw}, e);
    return arith::ConstantOp::create(
        b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
  }
  /// Block `blk` of a row of `width` elements, masked at the tail.
  Value maskFor(OpBuilder &b, Location loc, Value blk, Value width) const {
    Value start = arith::MulIOp::create(b, loc, blk, cvw);
    Value n = arith::MinUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, width, start), cvw);
    return vector::CreateMaskOp::create(
        b, loc, VectorType::get({vw}, b.getI1Type()), ValueRange{n});
  }
  Value load(OpBuilder &b, Location loc, Value mem, ValueRange at,
             Value mask) const {
    Type e = cast<MemRefType>(mem.getType()).getElementType();
    Value r = vector::MaskedLoadOp::create(
        b, loc, VectorType::get({vw}, e), mem, at, mask, zeroVec(b, loc, e));
    return castFloat(b, loc, r, acc);
  }

  Value cvw, headBlocks, valueBlocks;
  // The query being emitted: batch entry, head, position, key/value head;
  // its score scale and value accumulator.
  Value bi, h, i, hk, posG;
  Value scale, slope, accBuf;
};

/// The FlashAttention recurrence with the queries of a block as vector
/// lanes: one task per (batch, head, block of vw queries).
class QueryBlockEmitter : AttentionOperands {
public:
  explicit QueryBlockEmitter(const AttentionOperands &a)
      : AttentionOperands(a),
        idxVecTy(VectorType::get({vw}, rw.getIndexType())),
        maskTy(VectorType::get({vw}, rw.getI1Type())),
        qElt(cast<MemRefType>(q.getType()).getElementType()),
        outElt(cast<MemRefType>(out.getType()).getElementType()) {}

  scf::IfOp emit(RuntimeShapeChecks &checks) {
    cvw = arith::ConstantIndexOp::create(rw, loc, vw);
    Value qBlocks = arith::CeilDivUIOp::create(rw, loc, qLen, cvw);
    return emitTasks(checks, qBlocks,
                     [&](OpBuilder &b, Location loc, ValueRange ivs) {
                       emitQueryBlock(b, loc, ivs);
                     });
  }

private:
  /// Queries [i0, i0 + vw) of (bi, h): their key range, the transposed
  /// queries, the loop over key blocks, the output rows.
  void emitQueryBlock(OpBuilder &b, Location loc, ValueRange ivs) {
    bi = ivs[0];
    h = ivs[1];
    i0 = arith::MulIOp::create(b, loc, ivs[2], cvw);
    hk = kvHead(b, loc, h);
    Value nq = arith::MinUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, qLen, i0), cvw);
    qMask = vector::CreateMaskOp::create(b, loc, maskTy, ValueRange{nq});
    keyRange(b, loc, nq);
    if (slopes)
      slopeV = bcast(b, loc, slopeOf(b, loc, bi, h));
    Value scale = attentionScale(b, loc, acc, scaleAttr, headDim);
    Value scaleV = bcast(b, loc, scale);
    loadQueries(b, loc, scaleV);
    lastKey = arith::SubIOp::create(
        b, loc, arith::MaxSIOp::create(b, loc, kLen, c1), c1);
    // Blocks of vw keys: scores of every (query lane, key) pair of the
    // block by broadcast FMAs along d, one online-softmax update per
    // block, then the value accumulation, all lane-wise.
    auto [m0, l0] = softmaxStart(b, loc, h, splat(b, loc, 0));
    auto keys = scf::ForOp::create(
        b, loc, jStart, jEnd, cvw, ValueRange{m0, l0},
        [&](OpBuilder &b, Location loc, Value j0, ValueRange ml) {
          emitKeyBlock(b, loc, j0, ml);
        });
    storeOutputs(b, loc, keys.getResult(1));
  }

  /// Key position of each lane's query (aligned to the end of the keys)
  /// and the block's key range: from the first lane's lo to the last
  /// active lane's hi.
  void keyRange(OpBuilder &b, Location loc, Value nq) {
    Value shift = arith::SubIOp::create(b, loc, kLen, qLen);
    Value lanes = vector::StepOp::create(b, loc, idxVecTy);
    posVec = arith::AddIOp::create(
        b, loc, lanes,
        vector::BroadcastOp::create(
            b, loc, idxVecTy, arith::AddIOp::create(b, loc, i0, shift)));
    jStart = c0;
    jEnd = kLen;
    if (right) {
      Value lastPos = arith::AddIOp::create(
          b, loc,
          arith::AddIOp::create(b, loc, i0,
                                arith::SubIOp::create(b, loc, nq, c1)),
          shift);
      jEnd = arith::MaxSIOp::create(
          b, loc, c0,
          arith::MinSIOp::create(
              b, loc,
              arith::AddIOp::create(b, loc, lastPos, idx(b, loc, *right + 1)),
              kLen));
    }
    if (left) {
      Value firstPos = arith::AddIOp::create(b, loc, i0, shift);
      jStart = arith::MaxSIOp::create(
          b, loc, c0,
          arith::SubIOp::create(b, loc, firstPos, idx(b, loc, *left)));
      jStart = arith::MinSIOp::create(b, loc, jStart, jEnd);
    }
  }

  /// The block's queries, transposed and scaled: qt[e] holds
  /// q[., ., i0 + lane, e] * scale; and the zeroed accumulator ot.
  void loadQueries(OpBuilder &b, Location loc, Value scaleV) {
    auto bufTy = MemRefType::get({ShapedType::kDynamic}, vecTy);
    qt = memref::AllocaOp::create(b, loc, bufTy, ValueRange{headDim});
    ot = memref::AllocaOp::create(b, loc, bufTy, ValueRange{valueDim});
    laneMap = AffineMap::get(4, 0, {b.getAffineDimExpr(2)}, b.getContext());
    scf::ForOp::create(
        b, loc, c0, headDim, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value e, ValueRange) {
          Value pad = arith::ConstantOp::create(b, loc, b.getZeroAttr(qElt));
          Value col = vector::TransferReadOp::create(
              b, loc, VectorType::get({vw}, qElt), q, ValueRange{bi, h, i0, e},
              AffineMapAttr::get(laneMap), pad, qMask,
              b.getBoolArrayAttr({false}));
          memref::StoreOp::create(
              b, loc,
              arith::MulFOp::create(b, loc, castFloat(b, loc, col, acc),
                                    scaleV),
              qt, e);
          scf::YieldOp::create(b, loc);
        });
    scf::ForOp::create(
        b, loc, c0, valueDim, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value e, ValueRange) {
          memref::StoreOp::create(b, loc, splat(b, loc, 0), ot, e);
          scf::YieldOp::create(b, loc);
        });
  }

  /// Keys [j0, j0 + vw): the scores, one online-softmax update of the
  /// running max and sum `ml`, the value accumulation.
  void emitKeyBlock(OpBuilder &b, Location loc, Value j0, ValueRange ml) {
    SmallVector<Value> rows, visible;
    blockKeys(b, loc, j0, rows, visible);
    scf::ForOp dots = scoreDots(b, loc, rows);
    Value negInf = splat(b, loc, -INFINITY);
    SmallVector<Value> scores;
    Value mNew = ml[0];
    for (int64_t jj = 0; jj < vw; ++jj) {
      Value sc = capScore(b, loc, dots.getResult(jj));
      if (slopes) {
        // - slope * |pos - j| per lane.
        Value j = arith::AddIOp::create(b, loc, j0, idx(b, loc, jj));
        Value diff = arith::SubIOp::create(
            b, loc, posVec, vector::BroadcastOp::create(b, loc, idxVecTy, j));
        Value neg = arith::SubIOp::create(
            b, loc, vector::BroadcastOp::create(b, loc, idxVecTy, c0), diff);
        Value dist = arith::IndexCastOp::create(
            b, loc, VectorType::get({vw}, b.getI64Type()),
            arith::MaxSIOp::create(b, loc, diff, neg));
        sc = arith::SubFOp::create(
            b, loc, sc,
            arith::MulFOp::create(b, loc, slopeV,
                                  arith::SIToFPOp::create(b, loc, vecTy, dist)));
      }
      scores.push_back(sel(b, loc, visible[jj], sc, negInf));
      mNew = arith::MaximumFOp::create(b, loc, mNew, scores.back());
    }
    Value none = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, mNew,
                                       negInf);
    Value mSafe = sel(b, loc, none, splat(b, loc, 0), mNew);
    Value hadNone = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ,
                                          ml[0], negInf);
    Value corr =
        sel(b, loc, hadNone, splat(b, loc, 0),
            math::ExpOp::create(b, loc,
                                arith::SubFOp::create(b, loc, ml[0], mSafe)));
    Value l = arith::MulFOp::create(b, loc, ml[1], corr);
    SmallVector<Value> probs;
    for (int64_t jj = 0; jj < vw; ++jj) {
      Value pj = math::ExpOp::create(
          b, loc, arith::SubFOp::create(b, loc, scores[jj], mSafe));
      pj = sel(b, loc, visible[jj], pj, splat(b, loc, 0));
      probs.push_back(pj);
      l = arith::AddFOp::create(b, loc, l, pj);
    }
    accumulateValues(b, loc, rows, corr, probs);
    scf::YieldOp::create(b, loc, ValueRange{mNew, l});
  }

  /// Per key of the block: its row (clamped to the last key, for the reads
  /// of the tail) and which query lanes see it.
  void blockKeys(OpBuilder &b, Location loc, Value j0,
                 SmallVectorImpl<Value> &rows,
                 SmallVectorImpl<Value> &visible) {
    for (int64_t jj = 0; jj < vw; ++jj) {
      Value j = arith::AddIOp::create(b, loc, j0, idx(b, loc, jj));
      rows.push_back(arith::MinSIOp::create(b, loc, j, lastKey));
      Value jv = vector::BroadcastOp::create(b, loc, idxVecTy, j);
      Value vis = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::slt, jv,
          vector::BroadcastOp::create(b, loc, idxVecTy, jEnd));
      if (right) {
        Value hiV = arith::AddIOp::create(
            b, loc, posVec,
            vector::BroadcastOp::create(b, loc, idxVecTy, idx(b, loc, *right)));
        vis = arith::AndIOp::create(
            b, loc, vis,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, jv, hiV));
      }
      if (left) {
        Value loV = arith::SubIOp::create(
            b, loc, posVec,
            vector::BroadcastOp::create(b, loc, idxVecTy, idx(b, loc, *left)));
        vis = arith::AndIOp::create(
            b, loc, vis,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, jv, loV));
      }
      visible.push_back(vis);
    }
  }

  /// The (query lane, key) scores of the block: per key, broadcast FMAs of
  /// its elements against the transposed queries along d.
  scf::ForOp scoreDots(OpBuilder &b, Location loc, ArrayRef<Value> rows) {
    SmallVector<Value> zeros(vw, splat(b, loc, 0));
    return scf::ForOp::create(
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
  }

  /// ot = ot * corr + sum_j probs[j] v_j, element by element of dv.
  void accumulateValues(OpBuilder &b, Location loc, ArrayRef<Value> rows,
                        Value corr, ArrayRef<Value> probs) {
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
  }

  /// o = acc / l (zero for a query that sees no key), written back lane by
  /// lane.
  void storeOutputs(OpBuilder &b, Location loc, Value l) {
    Value positive = arith::CmpFOp::create(
        b, loc, arith::CmpFPredicate::OGT, l, splat(b, loc, 0));
    Value inv = sel(b, loc, positive,
                    arith::DivFOp::create(b, loc, splat(b, loc, 1), l),
                    splat(b, loc, 0));
    scf::ForOp::create(
        b, loc, c0, valueDim, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value e, ValueRange) {
          Value o = arith::MulFOp::create(
              b, loc, memref::LoadOp::create(b, loc, ot, e), inv);
          vector::TransferWriteOp::create(
              b, loc, castFloat(b, loc, o, outElt), out,
              ValueRange{bi, h, i0, e}, AffineMapAttr::get(laneMap), qMask,
              b.getBoolArrayAttr({false}));
          scf::YieldOp::create(b, loc);
        });
  }

  static Value idx(OpBuilder &b, Location loc, int64_t x) {
    return arith::ConstantIndexOp::create(b, loc, x);
  }
  Value splat(OpBuilder &b, Location loc, double x) const {
    return arith::ConstantOp::create(
        b, loc, vecTy, DenseElementsAttr::get(vecTy, b.getFloatAttr(acc, x)));
  }
  Value bcast(OpBuilder &b, Location loc, Value sc) const {
    return vector::BroadcastOp::create(b, loc, vecTy, sc);
  }
  static Value sel(OpBuilder &b, Location loc, Value m, Value x, Value y) {
    return arith::SelectOp::create(b, loc, m, x, y);
  }
  /// Element e of key/value row j of the task's key/value head.
  Value scalarAt(OpBuilder &b, Location loc, Value mem, Value j,
                 Value e) const {
    Value x = memref::LoadOp::create(b, loc, mem, ValueRange{bi, hk, j, e});
    return castFloat(b, loc, x, acc);
  }

  VectorType idxVecTy, maskTy;
  Type qElt, outElt;
  Value cvw;
  // The block being emitted: batch entry, head, first query, key/value
  // head and the mask of its live query lanes; each lane's key position,
  // the block's key range and the last key; the transposed scaled queries
  // (qt), the accumulator (ot) and the lane map of their transfers.
  Value bi, h, i0, hk, qMask;
  Value posVec, jStart, jEnd, lastKey, slopeV;
  Value qt, ot;
  AffineMap laneMap;
};

struct AttentionToLoops : OpRewritePattern<ssm::AttentionOp> {
  AttentionToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::AttentionOp op,
                                PatternRewriter &rw) const override {
    AttentionOperands a(op, rw, options);
    a.loadOperands();
    RuntimeShapeChecks checks(rw, a.loc, op);
    a.checkShapes(checks);
    scf::IfOp guard = a.isDecodeStep() || a.needsQueryRows()
                          ? DecodeStepEmitter(a).emit(checks)
                          : QueryBlockEmitter(a).emit(checks);
    rw.setInsertionPointAfter(guard);
    rw.replaceOp(op, toTensor(rw, a.loc, a.outTy, a.out));
    return success();
  }

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateAttentionToLoopsPatterns(RewritePatternSet &patterns,
                                            const SSMToLoopsOptions &options) {
  patterns.add<AttentionToLoops>(patterns.getContext(), options);
}
