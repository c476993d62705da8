//===- ScanToLoops.cpp - CPU lowering of the generic associative scan -----===//
//
// Every position of the non-scanned dimensions is an independent lane; lanes
// run in parallel (scf.parallel), each walks the scanned axis once with the
// accumulators as loop-carried scalars, applying the combiner region inlined
// into the loop body. The lowering never reassociates, so it is exact for
// any combiner, associative or not.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
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

struct ScanToLoops : OpRewritePattern<ssm::ScanOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ssm::ScanOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    const int64_t axis = op.getAxis();
    SmallVector<Value> ins, outs;
    for (Value v : op.getInputs())
      ins.push_back(toBuffer(rw, loc, v));
    auto shapeTy = cast<RankedTensorType>(op.getInputs().front().getType());
    const int64_t rank = shapeTy.getRank();
    SmallVector<Value> sizes;
    for (int64_t i = 0; i < rank; ++i)
      sizes.push_back(dimOf(rw, loc, ins.front(), i));
    for (Value r : op.getResults())
      outs.push_back(allocLike(rw, loc, r.getType(), sizes));

    // Inputs whose shapes the verifier could only check as compatible.
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
    auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                   /*withElseRegion=*/false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());

    Value c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    SmallVector<Value> lbs, ubs, steps;
    for (int64_t i = 0; i < rank; ++i)
      if (i != axis) {
        lbs.push_back(c0);
        ubs.push_back(sizes[i]);
        steps.push_back(c1);
      }

    auto emitLane = [&](OpBuilder &b, Location loc, ValueRange lane) {
      Value len = sizes[axis];
      auto indexAt = [&](Value t) {
        SmallVector<Value> idx(lane.begin(), lane.end());
        idx.insert(idx.begin() + axis, t);
        return idx;
      };
      // Position along the axis of scan step s.
      auto position = [&](OpBuilder &b, Value s) -> Value {
        if (!op.getReverse())
          return s;
        Value last = arith::SubIOp::create(b, loc, len, c1);
        return arith::SubIOp::create(b, loc, last, s);
      };
      auto load = [&](OpBuilder &b, Value t) {
        SmallVector<Value> xs;
        for (Value in : ins)
          xs.push_back(memref::LoadOp::create(b, loc, in, indexAt(t)));
        return xs;
      };
      auto store = [&](OpBuilder &b, ValueRange vals, Value t) {
        for (auto [v, o] : llvm::zip(vals, outs))
          memref::StoreOp::create(b, loc, v, o, indexAt(t));
      };
      auto combine = [&](OpBuilder &b, ValueRange accs, ValueRange xs) {
        Block &body = op.getCombiner().front();
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
      };

      auto walk = [&](OpBuilder &b, Value from, ValueRange init) {
        scf::ForOp::create(
            b, loc, from, len, c1, init,
            [&](OpBuilder &b, Location loc, Value s, ValueRange accs) {
              Value t = position(b, s);
              SmallVector<Value> xs = load(b, t);
              SmallVector<Value> next;
              if (op.getExclusive()) {
                store(b, accs, t);
                next = combine(b, accs, xs);
              } else {
                next = combine(b, accs, xs);
                store(b, next, t);
              }
              scf::YieldOp::create(b, loc, next);
            });
      };

      if (!op.getInit().empty()) {
        walk(b, c0, op.getInit());
        return;
      }
      // Inclusive without init: the first element starts the accumulators.
      Value nonEmpty =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sgt, len, c0);
      scf::IfOp::create(b, loc, nonEmpty, [&](OpBuilder &b, Location loc) {
        Value t0 = position(b, c0);
        SmallVector<Value> first = load(b, t0);
        store(b, first, t0);
        walk(b, c1, first);
        scf::YieldOp::create(b, loc);
      });
    };

    if (lbs.empty()) {
      emitLane(rw, loc, ValueRange{});
    } else {
      scf::ParallelOp::create(rw, loc, lbs, ubs, steps, emitLane);
    }

    rw.setInsertionPointAfter(guard);
    SmallVector<Value> results;
    for (auto [r, o] : llvm::zip(op.getResults(), outs))
      results.push_back(toTensor(rw, loc, r.getType(), o));
    rw.replaceOp(op, results);
    return success();
  }
};

} // namespace

void ssmc::populateScanToLoopsPatterns(RewritePatternSet &patterns) {
  patterns.add<ScanToLoops>(patterns.getContext());
}
