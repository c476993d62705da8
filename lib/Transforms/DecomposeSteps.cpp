//===- DecomposeSteps.cpp - decode-step ops as length-1 sequence ops ------===//
//
// A decode step is its sequence op with L = 1 and the state passed as h0:
//   selective_scan_step   -> selective_scan   (h0 = state, final state out)
//   ssd_step              -> ssd              (h0 = state, final state out)
//   (with state_batch_indices the states are first gathered from the slots
//   of a pool and the final states written back into them)
//   linear_attention_step -> linear_attention (h0 = state, final state out)
//   delta_rule_step       -> delta_rule       (h0 = state, final state out;
//                                              state_batch_indices as above)
//   attention_step        -> insert k/v at `position` into the caches, then
//                            attention of the query over the visible slots
// The rewrites are exact (tests check step-by-step decoding against the
// whole-sequence reference); the CPU lowering applies them before lowering
// the sequence ops, and `ssm-decompose-steps` exposes them alone.
// The KV-cache position is validated at run time (position < capacity).
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Transforms/DecomposeSteps.h"
#include "ssmc/Transforms/Passes.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <optional>

#define DEBUG_TYPE "ssm-decompose-steps"

namespace ssmc {
#define GEN_PASS_DEF_SSMDECOMPOSESTEPS
#include "ssmc/Transforms/Passes.h.inc"
} // namespace ssmc

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// Inserts a unit dimension at `pos` (merged with a neighbour dimension).
Value insertUnitDim(OpBuilder &b, Location loc, Value v, int64_t pos) {
  if (!v)
    return v;
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape.insert(shape.begin() + pos, 1);
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0; i < t.getRank(); ++i)
    groups.push_back({i < pos ? i : i + 1});
  if (t.getRank() == 0)
    groups.push_back({0});
  else if (pos > 0)
    groups[pos - 1] = {pos - 1, pos};
  else
    groups[0] = {0, 1};
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, t.getElementType()), v, groups);
}

/// Drops the unit dimension at `pos`.
Value dropUnitDim(OpBuilder &b, Location loc, Value v, int64_t pos) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<ReassociationIndices> groups;
  for (int64_t i = 0; i < t.getRank(); ++i) {
    if (i == pos)
      continue;
    groups.push_back({i});
  }
  if (pos > 0)
    groups[pos - 1].push_back(pos);
  else
    groups[0].insert(groups[0].begin(), 0);
  return tensor::CollapseShapeOp::create(b, loc, v, groups);
}

RankedTensorType withUnitDim(Type type, int64_t pos) {
  auto t = cast<RankedTensorType>(type);
  SmallVector<int64_t> shape(t.getShape());
  shape.insert(shape.begin() + pos, 1);
  return RankedTensorType::get(shape, t.getElementType());
}

/// Every size of tensor `t`, static ones as attributes.
SmallVector<OpFoldResult> tensorSizes(OpBuilder &b, Location loc, Value t) {
  SmallVector<OpFoldResult> sizes;
  auto tt = cast<RankedTensorType>(t.getType());
  for (int64_t i = 0; i < tt.getRank(); ++i)
    sizes.push_back(
        tt.isDynamicDim(i)
            ? OpFoldResult(tensor::DimOp::create(b, loc, t, i).getResult())
            : OpFoldResult(b.getIndexAttr(tt.getDimSize(i))));
  return sizes;
}

/// Row `row` (a [1, ...] slice along dimension 0) of `t`: offsets, sizes
/// and strides.
struct RowSlice {
  SmallVector<OpFoldResult> offsets, sizes, strides;
};
RowSlice rowOf(OpBuilder &b, Location loc, Value t, Value row) {
  RowSlice r;
  r.sizes = tensorSizes(b, loc, t);
  r.sizes[0] = b.getIndexAttr(1);
  r.offsets.assign(r.sizes.size(), b.getIndexAttr(0));
  r.offsets[0] = row;
  r.strides.assign(r.sizes.size(), b.getIndexAttr(1));
  return r;
}

/// A decode step's `state_batch_indices`: the batch's states gathered from
/// a pool of slots, and the pool with the new states written back. Entry b
/// uses slot indices[b]; a negative index is padding (zero state in, its
/// output row zero, no slot written). An index at or above the pool size
/// fails the run-time check, and is then treated as padding so that no
/// access leaves the pool.
class StateSlots {
public:
  StateSlots(PatternRewriter &rw, Location loc, Operation *op, Value pool,
             Value indices)
      : rw(rw), loc(loc), pool(pool), indices(indices) {
    c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    slots = tensor::DimOp::create(rw, loc, pool, 0);
    batch = tensor::DimOp::create(rw, loc, indices, 0);
    RuntimeShapeChecks checks(rw, loc, op);
    auto all = scf::ForOp::create(
        rw, loc, c0, batch, c1,
        ValueRange{arith::ConstantIntOp::create(rw, loc, 1, 1)},
        [&](OpBuilder &b, Location loc, Value i, ValueRange acc) {
          Value below = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                              slotOf(b, i), slots);
          scf::YieldOp::create(
              b, loc, ValueRange{arith::AndIOp::create(b, loc, acc[0], below)});
        });
    checks.require(all.getResult(0), slots, slots,
                   "every 'state_batch_indices' entry must be below the "
                   "state pool size (reported: the pool size)");
  }

  /// The [B, ...] states of the batch (zeros for padding entries).
  Value gather(RankedTensorType type) {
    SmallVector<OpFoldResult> sizes = tensorSizes(rw, loc, pool);
    sizes[0] = batch;
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < type.getRank(); ++i)
      if (type.isDynamicDim(i))
        dyn.push_back(getValueOrCreateConstantIndexOp(rw, loc, sizes[i]));
    Value zero = arith::ConstantOp::create(
        rw, loc, rw.getZeroAttr(type.getElementType()));
    Value init = tensor::SplatOp::create(rw, loc, zero, type, dyn);
    return copyRows(pool, init, /*toSlots=*/false);
  }

  /// The pool with entry b's new state `states[b]` in slot indices[b], in
  /// batch order (a slot named twice keeps the last entry's state).
  Value scatter(Value states) { return copyRows(states, pool, true); }

  /// For each valid entry b (slot indices[b] not padding), row slot -> row
  /// b of `into` (`toSlots` false) or row b -> row slot (`toSlots` true),
  /// in batch order; returns the updated `into`.
  Value copyRows(Value from, Value into, bool toSlots) {
    auto loop = scf::ForOp::create(
        rw, loc, c0, batch, c1, ValueRange{into},
        [&](OpBuilder &b, Location loc, Value i, ValueRange acc) {
          Value slot = slotOf(b, i);
          Value src = toSlots ? i : slot, dst = toSlots ? slot : i;
          auto branch = scf::IfOp::create(
              b, loc, valid(b, slot),
              [&](OpBuilder &b, Location loc) {
                RowSlice f = rowOf(b, loc, from, src);
                Value row = tensor::ExtractSliceOp::create(
                    b, loc, from, f.offsets, f.sizes, f.strides);
                RowSlice t = rowOf(b, loc, acc[0], dst);
                scf::YieldOp::create(
                    b, loc,
                    ValueRange{tensor::InsertSliceOp::create(
                        b, loc, row, acc[0], t.offsets, t.sizes, t.strides)});
              },
              [&](OpBuilder &b, Location loc) {
                scf::YieldOp::create(b, loc, acc[0]);
              });
          scf::YieldOp::create(b, loc, branch.getResults());
        });
    return loop.getResult(0);
  }

  /// `out` [B, ...] with the rows of padding entries set to zero.
  Value zeroPadding(Value out) {
    auto ot = cast<RankedTensorType>(out.getType());
    auto loop = scf::ForOp::create(
        rw, loc, c0, batch, c1, ValueRange{out},
        [&](OpBuilder &b, Location loc, Value i, ValueRange acc) {
          Value pad = arith::XOrIOp::create(
              b, loc, valid(b, slotOf(b, i)),
              arith::ConstantIntOp::create(b, loc, 1, 1));
          auto branch = scf::IfOp::create(
              b, loc, pad,
              [&](OpBuilder &b, Location loc) {
                RowSlice to = rowOf(b, loc, acc[0], i);
                SmallVector<int64_t> shape(ot.getShape());
                shape[0] = 1;
                auto rowTy = RankedTensorType::get(shape, ot.getElementType());
                SmallVector<Value> dyn;
                for (int64_t d = 1; d < ot.getRank(); ++d)
                  if (ot.isDynamicDim(d))
                    dyn.push_back(
                        getValueOrCreateConstantIndexOp(b, loc, to.sizes[d]));
                Value zero = arith::ConstantOp::create(
                    b, loc, b.getZeroAttr(ot.getElementType()));
                Value row = tensor::SplatOp::create(b, loc, zero, rowTy, dyn);
                scf::YieldOp::create(
                    b, loc,
                    ValueRange{tensor::InsertSliceOp::create(
                        b, loc, row, acc[0], to.offsets, to.sizes,
                        to.strides)});
              },
              [&](OpBuilder &b, Location loc) {
                scf::YieldOp::create(b, loc, acc[0]);
              });
          scf::YieldOp::create(b, loc, branch.getResults());
        });
    return loop.getResult(0);
  }

private:
  Value slotOf(OpBuilder &b, Value i) {
    Value v = tensor::ExtractOp::create(b, loc, indices, ValueRange{i});
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
  }
  /// 0 <= slot < pool size.
  Value valid(OpBuilder &b, Value slot) {
    return arith::AndIOp::create(
        b, loc,
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, slot, c0),
        arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, slot, slots));
  }

  PatternRewriter &rw;
  Location loc;
  Value pool, indices;
  Value c0, c1, slots, batch;
};

/// The [B, ...] state type of a step whose pool type is `poolTy` and whose
/// batch size is dimension 0 of `batchOf`.
RankedTensorType batchStateType(Type poolTy, Value batchOf) {
  auto pt = cast<RankedTensorType>(poolTy);
  SmallVector<int64_t> shape(pt.getShape());
  shape[0] = cast<RankedTensorType>(batchOf.getType()).getDimSize(0);
  return RankedTensorType::get(shape, pt.getElementType());
}

/// What the step ops with a state pool share: the step's state (gathered
/// from the pool's slots under state_batch_indices, for the batch size of
/// `batchOf`), the one-step sequence op `build` creates from that state
/// and its type, and the step's results from it: the output without the
/// unit step dimension `stepDim` (padding rows zeroed) and the final
/// state (scattered back into the pool).
template <typename SeqOp, typename StepOp>
LogicalResult
replaceWithOneStep(StepOp op, PatternRewriter &rw, Value batchOf,
                   int64_t stepDim,
                   llvm::function_ref<SeqOp(Value state, Type stateTy)> build) {
  Location loc = op.getLoc();
  Value state = op.getState();
  Type stateTy = op.getNewState().getType();
  std::optional<StateSlots> slots;
  if (Value idx = op.getStateBatchIndices()) {
    slots.emplace(rw, loc, op, op.getState(), idx);
    auto t = batchStateType(stateTy, batchOf);
    state = slots->gather(t);
    stateTy = t;
  }
  SeqOp seq = build(state, stateTy);
  Value out = dropUnitDim(rw, loc, seq.getOut(), stepDim);
  if (!slots) {
    rw.replaceOp(op, {out, seq.getFinalState()});
    return success();
  }
  rw.replaceOp(op, {slots->zeroPadding(out),
                    slots->scatter(seq.getFinalState())});
  return success();
}

struct SelectiveScanStepToSequence : OpRewritePattern<ssm::SelectiveScanStepOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::SelectiveScanStepOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto time = [&](Value v) -> Value {
      if (!v)
        return v;
      return insertUnitDim(rw, loc, v,
                           cast<RankedTensorType>(v.getType()).getRank());
    };
    return replaceWithOneStep<ssm::SelectiveScanOp>(
        op, rw, op.getU(), 2, [&](Value state, Type stateTy) {
          return ssm::SelectiveScanOp::create(
              rw, loc, withUnitDim(op.getOut().getType(), 2), stateTy,
              time(op.getU()), time(op.getDelta()), op.getA(),
              time(op.getB()), time(op.getC()), op.getD(), time(op.getZ()),
              op.getDeltaBias(), state,
              /*cu_seqlens=*/Value(), /*seq_idx=*/Value(),
              op.getDeltaSoftplusAttr());
        });
  }
};

struct SSDStepToSequence : OpRewritePattern<ssm::SSDStepOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::SSDStepOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto time = [&](Value v) { return insertUnitDim(rw, loc, v, 1); };
    return replaceWithOneStep<ssm::SSDOp>(
        op, rw, op.getX(), 1, [&](Value state, Type stateTy) {
          return ssm::SSDOp::create(
              rw, loc, withUnitDim(op.getOut().getType(), 1), stateTy,
              time(op.getX()), time(op.getDt()), op.getA(), time(op.getB()),
              time(op.getC()), op.getD(), time(op.getZ()), op.getDtBias(),
              state, /*cu_seqlens=*/Value(), /*seq_idx=*/Value(),
              op.getDtSoftplusAttr(), op.getDtLimitAttr());
        });
  }
};

struct LinearAttentionStepToSequence
    : OpRewritePattern<ssm::LinearAttentionStepOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::LinearAttentionStepOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto seq = ssm::LinearAttentionOp::create(
        rw, loc, withUnitDim(op.getOut().getType(), 2),
        op.getNewState().getType(),
        op.getNewZ() ? op.getNewZ().getType() : Type(),
        insertUnitDim(rw, loc, op.getQ(), 2),
        insertUnitDim(rw, loc, op.getK(), 2),
        insertUnitDim(rw, loc, op.getV(), 2),
        insertUnitDim(rw, loc, op.getGate(), 2), op.getState(), op.getZ(),
        /*cu_seqlens=*/Value(), op.getFeatureMapAttr(), op.getScaleAttr(),
        op.getNormalizeAttr(), op.getEpsAttr(), /*reverse=*/UnitAttr());
    SmallVector<Value> results = {dropUnitDim(rw, loc, seq.getOut(), 2),
                                  seq.getFinalState()};
    if (op.getNewZ())
      results.push_back(seq.getFinalZ());
    rw.replaceOp(op, results);
    return success();
  }
};

struct DeltaRuleStepToSequence : OpRewritePattern<ssm::DeltaRuleStepOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::DeltaRuleStepOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto time = [&](Value v) { return insertUnitDim(rw, loc, v, 1); };
    return replaceWithOneStep<ssm::DeltaRuleOp>(
        op, rw, op.getV(), 1, [&](Value state, Type stateTy) {
          // One step is the recurrent form.
          return ssm::DeltaRuleOp::create(
              rw, loc, withUnitDim(op.getOut().getType(), 1), stateTy,
              time(op.getQ()), time(op.getK()), time(op.getV()),
              time(op.getBeta()), time(op.getGate()), time(op.getA()),
              time(op.getB()), state, /*cu_seqlens=*/Value(),
              op.getScaleAttr(), op.getUseQkL2normAttr(),
              rw.getI64IntegerAttr(0));
        });
  }
};

/// One attention_step as ssm.attention over its caches: the run-time check
/// of `position`, then the cache update and the attention over the visible
/// slots, guarded by that check unless the capacity is static.
class AttentionStepDecomposition {
public:
  AttentionStepDecomposition(ssm::AttentionStepOp op, PatternRewriter &rw)
      : op(op), rw(rw), loc(op.getLoc()), ring(op.getRing()),
        pos(op.getPosition()), kCache(op.getKCache()),
        vCache(op.getVCache()) {}

  void rewrite() {
    c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    capacity = tensor::DimOp::create(rw, loc, kCache, 2);
    if (op.getPositions()) {
      rewritePerEntry();
      return;
    }
    RuntimeShapeChecks checks(rw, loc, op);
    checkPosition(checks);
    // With a static capacity (C > 0, verified) a failed check only has to
    // keep the accesses in bounds: use slot 0 and let the caller see the
    // error. No branch between the new caches and the inputs means the
    // caches bufferize into the caller's out-parameters (no allocation per
    // decoded token).
    if (!cast<RankedTensorType>(kCache.getType()).isDynamicDim(2)) {
      emitClamped(checks.allOk());
      return;
    }
    auto guarded = scf::IfOp::create(
        rw, loc, checks.allOk(),
        [&](OpBuilder &b, Location loc) { emitStep(b, loc); },
        [&](OpBuilder &b, Location loc) { emitSkip(b, loc); });
    rw.replaceOp(op, guarded.getResults());
  }

private:
  /// The new token needs a free slot: position < capacity (a ring reuses
  /// slot position mod C, so only needs C > 0).
  void checkPosition(RuntimeShapeChecks &checks) {
    if (ring)
      checks.require(arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ugt,
                                           capacity, c0),
                     capacity, c1,
                     "a ring cache needs a capacity C > 0 (reported: C, 1)");
    else
      checks.require(arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult,
                                           pos, capacity),
                     pos, capacity,
                     "'position' must be below the cache capacity C "
                     "(reported: position, C)");
  }

  /// Position of batch entry `e` (positions operand), as an index.
  Value positionOf(OpBuilder &b, Location loc, Value e) {
    Value p = tensor::ExtractOp::create(b, loc, op.getPositions(), e);
    return arith::IndexCastOp::create(b, loc, b.getIndexType(), p);
  }

  /// A position per batch entry: the check of every position, then per
  /// entry its token written at its own slot and its key count (position
  /// + 1, at most C for a ring), and one ssm.attention over the whole
  /// caches that sees each entry's count of keys (seqused_k), causal and
  /// windowed at the entry's own position.
  void rewritePerEntry() {
    Value batch = tensor::DimOp::create(rw, loc, op.getQ(), 0);
    RuntimeShapeChecks checks(rw, loc, op);
    if (ring) {
      checkPosition(checks);
    } else {
      // The largest position as unsigned (a negative one is out of range).
      auto worst = scf::ForOp::create(
          rw, loc, c0, batch, c1, ValueRange{c0},
          [&](OpBuilder &b, Location loc, Value e, ValueRange w) {
            scf::YieldOp::create(
                b, loc,
                ValueRange{arith::MaxUIOp::create(b, loc, w[0],
                                                  positionOf(b, loc, e))});
          });
      checks.require(arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult,
                                           worst.getResult(0), capacity),
                     worst.getResult(0), capacity,
                     "every entry of 'positions' must be below the cache "
                     "capacity C (reported: the largest, C)");
    }
    Value ok = checks.allOk();
    auto psTy = cast<RankedTensorType>(op.getPositions().getType());
    Type countTy = psTy.getElementType();
    SmallVector<Value> dyn;
    if (psTy.isDynamicDim(0))
      dyn.push_back(batch);
    Value counts0 = tensor::EmptyOp::create(rw, loc, psTy.getShape(), countTy, dyn);
    auto entries = scf::ForOp::create(
        rw, loc, c0, batch, c1, ValueRange{kCache, vCache, counts0},
        [&](OpBuilder &b, Location loc, Value e, ValueRange st) {
          // A failed check writes slot 0 and attends to nothing past it.
          Value p = arith::SelectOp::create(b, loc, ok, positionOf(b, loc, e), c0);
          Value slot =
              ring ? arith::RemUIOp::create(b, loc, p, capacity).getResult() : p;
          Value newK = appendAt(b, loc, op.getK(), st[0], e, slot),
                newV = appendAt(b, loc, op.getV(), st[1], e, slot);
          Value count = arith::AddIOp::create(b, loc, p, c1);
          if (ring)
            count = arith::MinUIOp::create(b, loc, count, capacity);
          Value counts = tensor::InsertOp::create(
              b, loc, arith::IndexCastOp::create(b, loc, countTy, count), st[2],
              e);
          scf::YieldOp::create(b, loc, ValueRange{newK, newV, counts});
        });
    Value newK = entries.getResult(0), newV = entries.getResult(1);
    auto attn = ssm::AttentionOp::create(
        rw, loc, withUnitDim(op.getOut().getType(), 2),
        insertUnitDim(rw, loc, op.getQ(), 2), newK, newV, op.getAlibiSlopes(),
        op.getSinks(), /*cu_seqlens_q=*/Value(), /*cu_seqlens_k=*/Value(),
        /*seqused_k=*/entries.getResult(2),
        /*causal=*/ring ? UnitAttr() : rw.getUnitAttr(), op.getWindowAttr(),
        IntegerAttr(), IntegerAttr(), op.getSoftcapAttr(), op.getScaleAttr());
    rw.replaceOp(op, ValueRange{dropUnitDim(rw, loc, attn.getOut(), 2), newK,
                                newV});
  }

  /// `cache` with token row `e` of `tokens` [B, Hkv, d] written into slot
  /// `slot` of entry `e`.
  Value appendAt(OpBuilder &b, Location loc, Value tokens, Value cache,
                 Value e, Value slot) {
    SmallVector<OpFoldResult> sizes = sizesOf(b, tokens);
    sizes[0] = b.getIndexAttr(1);
    auto tt = cast<RankedTensorType>(tokens.getType());
    SmallVector<int64_t> shape(tt.getShape());
    shape[0] = 1;
    Value row = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(shape, tt.getElementType()), tokens,
        SmallVector<OpFoldResult>{OpFoldResult(e), b.getIndexAttr(0),
                                  b.getIndexAttr(0)},
        sizes, SmallVector<OpFoldResult>(3, b.getIndexAttr(1)));
    Value slice = insertUnitDim(b, loc, row, 2);
    SmallVector<OpFoldResult> offsets = {OpFoldResult(e), b.getIndexAttr(0),
                                         OpFoldResult(slot), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
    return tensor::InsertSliceOp::create(b, loc, slice, cache, offsets,
                                         sizesOf(b, slice), strides);
  }

  /// Every size of `t`, static ones as attributes.
  SmallVector<OpFoldResult> sizesOf(OpBuilder &b, Value t) {
    SmallVector<OpFoldResult> sizes;
    auto tt = cast<RankedTensorType>(t.getType());
    for (int64_t i = 0; i < tt.getRank(); ++i)
      sizes.push_back(
          tt.isDynamicDim(i)
              ? OpFoldResult(tensor::DimOp::create(b, loc, t, i).getResult())
              : OpFoldResult(b.getIndexAttr(tt.getDimSize(i))));
    return sizes;
  }

  /// `cache` with `token` written into slot `slot`.
  Value append(OpBuilder &b, Location loc, Value token, Value cache,
               Value slot) {
    Value slice = insertUnitDim(b, loc, token, 2);
    SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0),
                                         OpFoldResult(slot), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
    return tensor::InsertSliceOp::create(b, loc, slice, cache, offsets,
                                         sizesOf(b, slice), strides);
  }

  /// The visible slots [lo, position] as (lo, count); for a ring, the
  /// filled slots.
  std::pair<Value, Value> visibleSlots(OpBuilder &b, Location loc) {
    Value end = arith::AddIOp::create(b, loc, pos, c1);
    if (ring)
      end = arith::MinUIOp::create(b, loc, end, capacity);
    Value lo = c0;
    if (auto w = op.getWindow()) {
      Value wv = arith::ConstantIndexOp::create(b, loc, *w);
      Value start = arith::SubIOp::create(b, loc, end, wv);
      Value before = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                           end, wv);
      lo = arith::SelectOp::create(b, loc, before, c0, start);
    }
    Value count = arith::SubIOp::create(b, loc, end, lo);
    return {lo, count};
  }

  /// Slots [lo, lo + count) of `cache`.
  Value window(OpBuilder &b, Location loc, Value cache, Value lo,
               Value count) {
    SmallVector<OpFoldResult> sizes = sizesOf(b, cache);
    sizes[2] = count;
    SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0), b.getIndexAttr(0),
                                         OpFoldResult(lo), b.getIndexAttr(0)};
    SmallVector<OpFoldResult> strides(4, b.getIndexAttr(1));
    auto ct = cast<RankedTensorType>(cache.getType());
    SmallVector<int64_t> shape(ct.getShape());
    shape[2] = ShapedType::kDynamic;
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(shape, ct.getElementType()), cache,
        offsets, sizes, strides);
  }

  /// Appends the new key and value, attends over the visible slots and
  /// yields (out, new k cache, new v cache).
  void emitStep(OpBuilder &b, Location loc) {
    Value slot =
        ring ? arith::RemUIOp::create(b, loc, pos, capacity).getResult() : pos;
    Value newK = append(b, loc, op.getK(), kCache, slot),
          newV = append(b, loc, op.getV(), vCache, slot);
    auto [lo, count] = visibleSlots(b, loc);
    auto attn = ssm::AttentionOp::create(
        b, loc, withUnitDim(op.getOut().getType(), 2),
        insertUnitDim(b, loc, op.getQ(), 2), window(b, loc, newK, lo, count),
        window(b, loc, newV, lo, count), op.getAlibiSlopes(), op.getSinks(),
        /*cu_seqlens_q=*/Value(), /*cu_seqlens_k=*/Value(),
        /*seqused_k=*/Value(), /*causal=*/UnitAttr(), /*window=*/IntegerAttr(),
        IntegerAttr(), IntegerAttr(), op.getSoftcapAttr(), op.getScaleAttr());
    Value o = dropUnitDim(b, loc, attn.getOut(), 2);
    scf::YieldOp::create(b, loc, ValueRange{o, newK, newV});
  }

  /// A failed check: an unwritten output and the caches as they were.
  void emitSkip(OpBuilder &b, Location loc) {
    auto ot = cast<RankedTensorType>(op.getOut().getType());
    SmallVector<Value> dyn;
    for (int64_t i = 0; i < ot.getRank(); ++i)
      if (ot.isDynamicDim(i))
        dyn.push_back(tensor::DimOp::create(
            b, loc, i == 2 ? op.getV() : op.getQ(), i == 2 ? 2 : i));
    Value empty = tensor::EmptyOp::create(b, loc, ot.getShape(),
                                          ot.getElementType(), dyn);
    scf::YieldOp::create(b, loc, ValueRange{empty, kCache, vCache});
  }

  /// The step without a branch, at slot 0 when a check failed.
  void emitClamped(Value ok) {
    pos = arith::SelectOp::create(rw, loc, ok, pos, c0);
    auto region = scf::ExecuteRegionOp::create(rw, loc, op->getResultTypes());
    Block *body = rw.createBlock(&region.getRegion());
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(body);
    emitStep(rw, loc);
    rw.setInsertionPointAfter(region);
    rw.replaceOp(op, region.getResults());
  }

  ssm::AttentionStepOp op;
  PatternRewriter &rw;
  Location loc;
  const bool ring;
  Value pos, kCache, vCache;
  Value c0, c1, capacity;
};

struct AttentionStepToSequence : OpRewritePattern<ssm::AttentionStepOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::AttentionStepOp op,
                                PatternRewriter &rw) const override {
    AttentionStepDecomposition(op, rw).rewrite();
    return success();
  }
};

struct SSMDecomposeStepsPass
    : public ssmc::impl::SSMDecomposeStepsBase<SSMDecomposeStepsPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    ssmc::populateDecomposeStepsPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void ssmc::populateDecomposeStepsPatterns(RewritePatternSet &patterns) {
  patterns.add<SelectiveScanStepToSequence, SSDStepToSequence,
               LinearAttentionStepToSequence, DeltaRuleStepToSequence,
               AttentionStepToSequence>(
      patterns.getContext());
}
