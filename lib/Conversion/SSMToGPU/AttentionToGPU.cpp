//===- AttentionToGPU.cpp - ssm.attention as a flash-style kernel ---------===//
//
// A block per (batch, head) and 128 queries, a thread per query. The block
// walks its keys in tiles of Tk rows of K and V staged in shared memory;
// each query thread keeps an online softmax (running max, normaliser and
// output accumulator) over the tiles, so a score row never exists in full.
// Causal masks are bottom-right aligned, with an optional window. As for
// selective_scan, the kernel names host buffers and ssm-gpu-stage-buffers
// stages them. f32/f16/bf16 operands, static head sizes, dv <= 256; other
// forms stay on the CPU lowering.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "KernelUtils.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>
#include <optional>
#include <utility>

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;

namespace {

/// Emits the kernel of one ssm.attention. loadOperands() and planGrid()
/// run on the host; the other stages emit the body every thread of a block
/// runs, in order: locateQuery(), blockKeyRange(), loadQuery(),
/// emitKeyTiles() (per tile: stageKeyTile(), softmaxUpdate()),
/// storeOutput().
class AttentionKernel {
public:
  AttentionKernel(ssm::AttentionOp op, PatternRewriter &rw, int64_t d,
                  int64_t dv)
      : op(op), rw(rw), loc(op.getLoc()), d(d), dv(dv),
        scale(op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                                : 1.0 / std::sqrt(double(d))),
        causal(op.getCausal()), window(op.getWindow()), Tk(keyTileRows()),
        regs(d + dv <= 128) {}

  void run();

private:
  /// Key tiles of Tk rows of K and V in shared memory (<= 32 KB).
  int64_t keyTileRows() const {
    int64_t rows = 64;
    while (rows > 1 && rows * (d + dv) > 8192)
      rows /= 2;
    return rows;
  }

  // Host stages.
  void loadOperands();
  /// A block per (batch, head) and 128 queries.
  void planGrid();

  // Kernel stages.
  /// This thread's block, (batch, head) and query i.
  void locateQuery(Value bid, Value tid, ValueRange shared);
  /// Visible keys [lo, hi) of query `qi`: causal is bottom-right aligned;
  /// both ends are non-decreasing in qi.
  std::pair<Value, Value> keyRange(OpBuilder &bb, Value qi);
  /// The query's keys, and the block's: from its first query's lo to its
  /// last one's hi.
  void blockKeyRange();
  /// The query row (times the scale) and a zero accumulator: registers
  /// (unrolled, loop-carried) when d + dv <= 128, else private arrays.
  void loadQuery();
  /// Online softmax over key tiles: running max m, normaliser l, and (in
  /// registers) the accumulator.
  scf::ForOp emitKeyTiles();
  /// Every thread of an active block stages rows [j0, j0 + cnt) of K and V.
  void stageKeyTile(OpBuilder &tb, Location l, Value j0, Value cnt);
  /// Folds the query's keys of the tile into (m, l, acc) `ml`.
  SmallVector<Value> softmaxUpdate(OpBuilder &tb, Location l, Value j0,
                                   Value cnt, ValueRange ml);
  /// q . K[row..row+d) from the staged tile.
  Value dotQK(OpBuilder &bb, Location bl, Value row);
  /// acc = acc * factor + p * V[row..row+dv) (factor null: 1; p null: no
  /// V term).
  SmallVector<Value> updateAcc(OpBuilder &bb, Location bl, ValueRange acc,
                               Value factor, Value p, Value row);
  /// out = acc / l (0 where no key is visible).
  void storeOutput(scf::ForOp tiles);

  ssm::AttentionOp op;
  PatternRewriter &rw;
  Location loc;
  const int64_t d, dv;
  const double scale;
  const bool causal;
  const std::optional<uint64_t> window;
  const int64_t Tk;
  const bool regs; ///< query and accumulator in registers

  // loadOperands() and planGrid().
  Value q, k, v, out;
  Value Bsz, H, Lq, Hkv, Lk;
  Value c0, c1, group, cTk, cd, cdv;
  Value qBlocks, BH, blocks, H1;
  // locateQuery() and blockKeyRange().
  Value tid, sK, sV;
  Value b, h, hk, qFirst, i;
  Value blockActive, active; ///< the block's (batch, head), query i exist
  Value lo, hi, blo, bhi;    ///< the query's and the block's keys
  // loadQuery().
  Value scores;          ///< the tile's scores of this query
  SmallVector<Value> qr; ///< registers: q
  Value qv, accArr;      ///< private arrays: q and the accumulator
};

void AttentionKernel::run() {
  loadOperands();
  planGrid();
  MLIRContext *ctx = rw.getContext();
  SmallVector<Type> shared = {sharedArrayType(ctx, Tk * d),
                              sharedArrayType(ctx, Tk * dv)};
  launchBlocks(rw, loc, blocks, shared,
               [&](Value bid, Value threadId, ValueRange sh) {
                 locateQuery(bid, threadId, sh);
                 blockKeyRange();
                 loadQuery();
                 storeOutput(emitKeyTiles());
               });
  rw.replaceOp(op, toTensor(rw, loc, op.getOut().getType(), out));
}

void AttentionKernel::loadOperands() {
  q = toBuffer(rw, loc, op.getQ());
  k = toBuffer(rw, loc, op.getK());
  v = toBuffer(rw, loc, op.getV());
  Bsz = dimOf(rw, loc, q, 0);
  H = dimOf(rw, loc, q, 1);
  Lq = dimOf(rw, loc, q, 2);
  Hkv = dimOf(rw, loc, k, 1);
  Lk = dimOf(rw, loc, k, 2);
  out = allocLike(rw, loc, op.getOut().getType(),
                  {Bsz, H, Lq, cidx(rw, loc, dv)});
}

void AttentionKernel::planGrid() {
  c0 = cidx(rw, loc, 0);
  c1 = cidx(rw, loc, 1);
  group = arith::MaxUIOp::create(
      rw, loc, arith::DivUIOp::create(rw, loc, H, Hkv), c1);
  cTk = cidx(rw, loc, Tk);
  cd = cidx(rw, loc, d);
  cdv = cidx(rw, loc, dv);
  qBlocks = arith::MaxUIOp::create(
      rw, loc, arith::CeilDivUIOp::create(rw, loc, Lq, cidx(rw, loc, kBlock)), c1);
  BH = arith::MulIOp::create(rw, loc, Bsz, H);
  blocks = arith::MulIOp::create(rw, loc, qBlocks, BH);
  H1 = arith::MaxUIOp::create(rw, loc, H, c1);
}

void AttentionKernel::locateQuery(Value bid, Value threadId,
                                  ValueRange shared) {
  tid = threadId;
  sK = shared[0];
  sV = shared[1];
  Value bh = arith::DivUIOp::create(rw, loc, bid, qBlocks);
  Value qb = arith::RemUIOp::create(rw, loc, bid, qBlocks);
  blockActive = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult, bh, BH);
  h = arith::RemUIOp::create(rw, loc, bh, H1);
  b = arith::DivUIOp::create(rw, loc, bh, H1);
  hk = arith::DivUIOp::create(rw, loc, h, group);
  qFirst = arith::MulIOp::create(rw, loc, qb, cidx(rw, loc, kBlock));
  i = arith::AddIOp::create(rw, loc, qFirst, tid);
  active = arith::AndIOp::create(
      rw, loc, blockActive,
      arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult, i, Lq));
}

std::pair<Value, Value> AttentionKernel::keyRange(OpBuilder &bb, Value qi) {
  Value lo = c0, hi = Lk;
  if (causal) {
    Value pos = arith::SubIOp::create(
        bb, loc, arith::AddIOp::create(bb, loc, qi, Lk), Lq); // qi + Lk - Lq
    Value end = arith::AddIOp::create(bb, loc, pos, c1);
    hi = arith::MaxSIOp::create(bb, loc, c0,
                                arith::MinSIOp::create(bb, loc, end, Lk));
    if (window)
      lo = arith::MaxSIOp::create(
          bb, loc, c0,
          arith::SubIOp::create(bb, loc, end, cidx(bb, loc, *window)));
  }
  return {lo, hi};
}

void AttentionKernel::blockKeyRange() {
  Value qLast = arith::MinUIOp::create(
      rw, loc, arith::AddIOp::create(rw, loc, qFirst, cidx(rw, loc, kBlock - 1)),
      arith::SubIOp::create(rw, loc, arith::MaxUIOp::create(rw, loc, Lq, c1), c1));
  std::tie(lo, hi) = keyRange(rw, i);
  blo = keyRange(rw, qFirst).first;
  bhi = keyRange(rw, qLast).second;
  bhi = arith::MaxSIOp::create(rw, loc, blo, bhi);
}

void AttentionKernel::loadQuery() {
  scores = privateArray(rw, loc, Tk);
  SmallVector<Type> f32s(regs ? d : 0, rw.getF32Type());
  auto qInit = scf::IfOp::create(rw, loc, f32s, active, true);
  {
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(&qInit.getThenRegion().front());
    auto qAt = [&](OpBuilder &bb, Value c) {
      return arith::MulFOp::create(
          bb, loc, load32(bb, loc, q, ValueRange{b, h, i, c}),
          cf32(bb, loc, scale));
    };
    SmallVector<Value> vals;
    if (regs) {
      for (int64_t c = 0; c < d; ++c)
        vals.push_back(qAt(rw, cidx(rw, loc, c)));
    }
    scf::YieldOp::create(rw, loc, vals);
    rw.setInsertionPointToStart(&qInit.getElseRegion().front());
    scf::YieldOp::create(rw, loc, SmallVector<Value>(vals.size(), cf32(rw, loc, 0)));
  }
  if (regs) {
    qr.assign(qInit.getResults().begin(), qInit.getResults().end());
    return;
  }
  qv = privateArray(rw, loc, d);
  accArr = privateArray(rw, loc, dv);
  ifThen(rw, loc, active, [&](OpBuilder &ab) {
    forEach(ab, loc, cd, [&](OpBuilder &bb, Value c) {
      memref::StoreOp::create(
          bb, loc,
          arith::MulFOp::create(bb, loc, load32(bb, loc, q, ValueRange{b, h, i, c}),
                                cf32(bb, loc, scale)),
          qv, c);
    });
    forEach(ab, loc, cdv, [&](OpBuilder &bb, Value c) {
      memref::StoreOp::create(bb, loc, cf32(bb, loc, 0), accArr, c);
    });
  });
}

Value AttentionKernel::dotQK(OpBuilder &bb, Location bl, Value row) {
  if (regs) {
    Value sum = cf32(bb, bl, 0);
    for (int64_t c = 0; c < d; ++c)
      sum = math::FmaOp::create(
          bb, bl, qr[c],
          memref::LoadOp::create(
              bb, bl, sK, ValueRange{arith::AddIOp::create(bb, bl, row, cidx(bb, bl, c))}),
          sum);
    return sum;
  }
  auto dot = scf::ForOp::create(
      bb, bl, c0, cd, c1, ValueRange{cf32(bb, bl, 0)},
      [&](OpBuilder &nb, Location nl, Value c, ValueRange sacc) {
        Value qc = memref::LoadOp::create(nb, nl, qv, c);
        Value kc = memref::LoadOp::create(
            nb, nl, sK, ValueRange{arith::AddIOp::create(nb, nl, row, c)});
        scf::YieldOp::create(nb, nl,
                             ValueRange{math::FmaOp::create(nb, nl, qc, kc, sacc[0])});
      });
  return dot.getResult(0);
}

SmallVector<Value> AttentionKernel::updateAcc(OpBuilder &bb, Location bl,
                                              ValueRange acc, Value factor,
                                              Value p, Value row) {
  auto one = [&](OpBuilder &cb, Value a, Value c) -> Value {
    if (factor)
      a = arith::MulFOp::create(cb, bl, a, factor);
    if (p)
      a = math::FmaOp::create(
          cb, bl, p,
          memref::LoadOp::create(cb, bl, sV,
                                 ValueRange{arith::AddIOp::create(cb, bl, row, c)}),
          a);
    return a;
  };
  SmallVector<Value> next;
  if (regs) {
    for (int64_t c = 0; c < dv; ++c)
      next.push_back(one(bb, acc[c], cidx(bb, bl, c)));
    return next;
  }
  forEach(bb, bl, cdv, [&](OpBuilder &cb, Value c) {
    memref::StoreOp::create(
        cb, bl, one(cb, memref::LoadOp::create(cb, bl, accArr, c), c), accArr, c);
  });
  return next;
}

scf::ForOp AttentionKernel::emitKeyTiles() {
  SmallVector<Value> carried{cf32(rw, loc, -3.0e38), cf32(rw, loc, 0)};
  if (regs)
    carried.append(dv, cf32(rw, loc, 0));
  return scf::ForOp::create(
      rw, loc, blo, bhi, cTk, carried,
      [&](OpBuilder &tb, Location l, Value j0, ValueRange ml) {
        Value cnt = arith::MinUIOp::create(
            tb, l, cTk, arith::SubIOp::create(tb, l, bhi, j0));
        stageKeyTile(tb, l, j0, cnt);
        barrier(tb, l);
        SmallVector<Value> next =
            valuesIf(tb, l, active, ml, [&](OpBuilder &ub) {
              return softmaxUpdate(ub, l, j0, cnt, ml);
            });
        // The next tile overwrites what this one reads.
        barrier(tb, l);
        scf::YieldOp::create(tb, l, next);
      });
}

void AttentionKernel::stageKeyTile(OpBuilder &tb, Location l, Value j0,
                                   Value cnt) {
  auto stage = [&](OpBuilder &sb, Value from, Value to, int64_t w) {
    stageRows(sb, l, tid, cidx(sb, l, kBlock), Tk, w, cnt, c0,
              [&](OpBuilder &lb, Value idx, Value jj, Value c) {
      Value j = arith::AddIOp::create(lb, l, j0, jj);
      memref::StoreOp::create(
          lb, l, load32(lb, l, from, ValueRange{b, hk, j, c}), to, idx);
    });
  };
  ifThen(tb, l, blockActive, [&](OpBuilder &sb) {
    stage(sb, k, sK, d);
    stage(sb, v, sV, dv);
  });
}

SmallVector<Value> AttentionKernel::softmaxUpdate(OpBuilder &tb, Location l,
                                                  Value j0, Value cnt,
                                                  ValueRange ml) {
  // This query's keys within the tile: [a0, a1).
  auto rel = [&](Value x) {
    return arith::MinSIOp::create(
        tb, l, cnt,
        arith::MaxSIOp::create(tb, l, c0, arith::SubIOp::create(tb, l, x, j0)));
  };
  Value a0 = rel(lo), a1 = rel(hi);
  auto maxLoop = scf::ForOp::create(
      tb, l, a0, a1, c1, ValueRange{cf32(tb, l, -3.0e38)},
      [&](OpBuilder &bb, Location bl, Value jj, ValueRange mt) {
        Value sc = dotQK(bb, bl, arith::MulIOp::create(bb, bl, jj, cd));
        memref::StoreOp::create(bb, bl, sc, scores, jj);
        scf::YieldOp::create(
            bb, bl, ValueRange{arith::MaximumFOp::create(bb, bl, mt[0], sc)});
      });
  Value mNew = arith::MaximumFOp::create(tb, l, ml[0], maxLoop.getResult(0));
  Value corr = math::ExpOp::create(tb, l, arith::SubFOp::create(tb, l, ml[0], mNew));
  SmallVector<Value> sumInit{arith::MulFOp::create(tb, l, ml[1], corr)};
  llvm::append_range(sumInit,
                     updateAcc(tb, l, ml.drop_front(2), corr, Value(), Value()));
  auto sumLoop = scf::ForOp::create(
      tb, l, a0, a1, c1, sumInit,
      [&](OpBuilder &bb, Location bl, Value jj, ValueRange la) {
        Value sc = memref::LoadOp::create(bb, bl, scores, jj);
        Value pj = math::ExpOp::create(bb, bl, arith::SubFOp::create(bb, bl, sc, mNew));
        SmallVector<Value> next{arith::AddFOp::create(bb, bl, la[0], pj)};
        llvm::append_range(
            next, updateAcc(bb, bl, la.drop_front(1), Value(), pj,
                            arith::MulIOp::create(bb, bl, jj, cdv)));
        scf::YieldOp::create(bb, bl, next);
      });
  SmallVector<Value> res{mNew};
  llvm::append_range(res, sumLoop.getResults());
  return res;
}

void AttentionKernel::storeOutput(scf::ForOp tiles) {
  ifThen(rw, loc, active, [&](OpBuilder &ab) {
    Value lsum = tiles.getResult(1);
    Value any = arith::CmpFOp::create(ab, loc, arith::CmpFPredicate::OGT, lsum,
                                      cf32(ab, loc, 0));
    Value inv = arith::SelectOp::create(
        ab, loc, any, arith::DivFOp::create(ab, loc, cf32(ab, loc, 1), lsum),
        cf32(ab, loc, 0));
    if (regs) {
      for (int64_t c = 0; c < dv; ++c)
        store32(ab, loc, arith::MulFOp::create(ab, loc, tiles.getResult(2 + c), inv),
                out, ValueRange{b, h, i, cidx(ab, loc, c)});
      return;
    }
    forEach(ab, loc, cdv, [&](OpBuilder &bb, Value c) {
      Value a = memref::LoadOp::create(bb, loc, accArr, c);
      store32(bb, loc, arith::MulFOp::create(bb, loc, a, inv), out,
              ValueRange{b, h, i, c});
    });
  });
}

struct AttentionToGPU : OpRewritePattern<ssm::AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::AttentionOp op,
                                PatternRewriter &rw) const override {
    if (!gpuFloatOperands(op))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
    auto vTy = cast<RankedTensorType>(op.getV().getType());
    auto qTy = cast<RankedTensorType>(op.getQ().getType());
    if (vTy.isDynamicDim(3) || vTy.getDimSize(3) > 256 || qTy.isDynamicDim(3))
      return rw.notifyMatchFailure(op, "needs static head sizes, dv <= 256");
    AttentionKernel(op, rw, qTy.getDimSize(3), vTy.getDimSize(3)).run();
    return success();
  }
};

} // namespace

void ssmc::populateAttentionToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<AttentionToGPU>(patterns.getContext());
}
