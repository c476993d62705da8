//===- ScanToLoops.cpp - CPU lowering of the generic associative scan -----===//
//
// Every position of the non-scanned dimensions is an independent lane; lanes
// run in parallel (scf.parallel), each walks the scanned axis once with the
// accumulators as loop-carried scalars, applying the combiner region inlined
// into the loop body. The lowering never reassociates, so it is exact for
// any combiner, associative or not.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/PatternMatch.h"

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// The lowering of one ssm.scan: buffers and shape checks, then one lane per
/// position of the non-scanned dimensions.
class ScanLowering {
public:
  ScanLowering(ssm::ScanOp op, PatternRewriter &rw)
      : op(op), rw(rw), loc(op.getLoc()), axis(op.getAxis()) {}

  LogicalResult run() {
    allocateBuffers();
    auto guard = scf::IfOp::create(rw, loc, checkShapes(),
                                   /*withElseRegion=*/false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    emitLanes();
    rw.setInsertionPointAfter(guard);
    SmallVector<Value> results;
    for (auto [r, o] : llvm::zip(op.getResults(), outs))
      results.push_back(toTensor(rw, loc, r.getType(), o));
    rw.replaceOp(op, results);
    return success();
  }

private:
  void allocateBuffers() {
    for (Value v : op.getInputs())
      ins.push_back(toBuffer(rw, loc, v));
    auto shapeTy = cast<RankedTensorType>(op.getInputs().front().getType());
    rank = shapeTy.getRank();
    for (int64_t i = 0; i < rank; ++i)
      sizes.push_back(dimOf(rw, loc, ins.front(), i));
    for (Value r : op.getResults())
      outs.push_back(allocLike(rw, loc, r.getType(), sizes));
  }

  /// Inputs whose shapes the verifier could only check as compatible;
  /// returns the condition under which the loops run.
  Value checkShapes() {
    RuntimeShapeChecks checks(rw, loc, op);
    for (auto [k, in] : llvm::enumerate(ins))
      for (int64_t i = 0; i < rank; ++i) {
        if (k > 0)
          checks.requireEqual(dimOf(rw, loc, in, i), sizes[i],
                              ("dimension " + Twine(i) + " of input #" +
                               Twine(k) + " must equal dimension " + Twine(i) +
                               " of input #0")
                                  .str());
        auto rt = cast<RankedTensorType>(op.getResult(k).getType());
        if (k < op.getNumResults() && !rt.isDynamicDim(i))
          checks.requireEqual(
              arith::ConstantIndexOp::create(rw, loc, rt.getDimSize(i)),
              sizes[i],
              ("dimension " + Twine(i) + " of result #" + Twine(k) +
               " must equal dimension " + Twine(i) + " of input #0")
                  .str());
      }
    return checks.allOk();
  }

  /// The lanes in parallel over the non-scanned dimensions (a single lane
  /// when the scanned one is the only one).
  void emitLanes() {
    c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    SmallVector<Value> lbs, ubs, steps;
    for (int64_t i = 0; i < rank; ++i)
      if (i != axis) {
        lbs.push_back(c0);
        ubs.push_back(sizes[i]);
        steps.push_back(c1);
      }
    auto emitLane = [&](OpBuilder &b, Location loc, ValueRange lane) {
      LaneEmitter{*this, lane, sizes[axis], loc}.emit(b);
    };
    if (lbs.empty()) {
      emitLane(rw, loc, ValueRange{});
    } else {
      scf::ParallelOp::create(rw, loc, lbs, ubs, steps, emitLane);
    }
  }

  /// One walk along the scanned axis at the lane's position of the other
  /// dimensions, the accumulators carried through the loop.
  struct LaneEmitter {
    ScanLowering &s;
    ValueRange lane;
    Value len;
    Location loc;

    void emit(OpBuilder &b) {
      ssm::ScanOp op = s.op;
      if (!op.getInit().empty()) {
        walk(b, s.c0, op.getInit());
        return;
      }
      // Inclusive without init: the first element starts the accumulators.
      Value nonEmpty =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, len, s.c0);
      scf::IfOp::create(b, loc, nonEmpty, [&](OpBuilder &b, Location loc) {
        Value t0 = position(b, s.c0);
        SmallVector<Value> first = load(b, t0);
        store(b, first, t0);
        walk(b, s.c1, first);
        scf::YieldOp::create(b, loc);
      });
    }

    /// Steps [from, len) with the accumulators starting at `init`.
    void walk(OpBuilder &b, Value from, ValueRange init) {
      scf::ForOp::create(
          b, loc, from, len, s.c1, init,
          [&](OpBuilder &b, Location loc, Value step, ValueRange accs) {
            Value t = position(b, step);
            SmallVector<Value> xs = load(b, t);
            SmallVector<Value> next;
            if (s.op.getExclusive()) {
              store(b, accs, t);
              next = combine(b, accs, xs);
            } else {
              next = combine(b, accs, xs);
              store(b, next, t);
            }
            scf::YieldOp::create(b, loc, next);
          });
    }

    SmallVector<Value> indexAt(Value t) {
      SmallVector<Value> idx(lane.begin(), lane.end());
      idx.insert(idx.begin() + s.axis, t);
      return idx;
    }
    /// Position along the axis of scan step `step`.
    Value position(OpBuilder &b, Value step) {
      if (!s.op.getReverse())
        return step;
      Value last = arith::SubIOp::create(b, loc, len, s.c1);
      return arith::SubIOp::create(b, loc, last, step);
    }
    SmallVector<Value> load(OpBuilder &b, Value t) {
      SmallVector<Value> xs;
      for (Value in : s.ins)
        xs.push_back(memref::LoadOp::create(b, loc, in, indexAt(t)));
      return xs;
    }
    void store(OpBuilder &b, ValueRange vals, Value t) {
      for (auto [v, o] : llvm::zip(vals, s.outs))
        memref::StoreOp::create(b, loc, v, o, indexAt(t));
    }
    /// The combiner region inlined with `accs` and `xs` as its arguments.
    SmallVector<Value> combine(OpBuilder &b, ValueRange accs, ValueRange xs) {
      Block &body = s.op.getCombiner().front();
      IRMapping map;
      unsigned k = accs.size();
      for (unsigned j = 0; j < k; ++j) {
        map.map(body.getArgument(j), accs[j]);
        map.map(body.getArgument(k + j), xs[j]);
      }
      for (Operation &inner : body.without_terminator())
        b.clone(inner, map);
      SmallVector<Value> res;
      for (Value y : cast<ssm::YieldOp>(body.getTerminator()).getValues())
        res.push_back(map.lookupOrDefault(y));
      return res;
    }
  };

  ssm::ScanOp op;
  PatternRewriter &rw;
  Location loc;
  const int64_t axis;
  int64_t rank = 0;
  SmallVector<Value> ins, outs, sizes;
  Value c0, c1;
};

struct ScanToLoops : OpRewritePattern<ssm::ScanOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::ScanOp op,
                                PatternRewriter &rw) const override {
    return ScanLowering(op, rw).run();
  }
};

} // namespace

void ssmc::populateScanToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<ScanToLoops>(patterns.getContext());
}
