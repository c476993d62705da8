//===- SSDToGPU.cpp - ssm.ssd as a ColumnScan kernel ----------------------===//
//
// The rows h[p, :] of a head's state evolve independently, so the kernel is
// a ColumnScan (ColumnScan.h) over columns p: the head's B and C rows, dt
// and exp(dt A) staged per tile of steps in shared memory, each column's N
// state values split over threads as registers, the read-out C . h reduced
// over a column's threads. As for selective_scan, the kernel names host
// buffers and ssm-gpu-stage-buffers stages them. f32/f16/bf16 operands
// (each read from its own type), D per head or per head channel, dt_limit
// clamped as the step sizes are staged; static N <= 256, no cu_seqlens;
// other forms stay on the CPU lowering.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ColumnScan.h"
#include "KernelUtils.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;

namespace {

/// The ColumnScan callbacks of one ssm.ssd: loadOperands() and
/// allocResults() run on the host, the other stages inside the kernel.
class SSDKernel {
public:
  SSDKernel(ssm::SSDOp op, PatternRewriter &rw, int64_t N)
      : op(op), rw(rw), loc(op.getLoc()), N(N) {}

  void run() {
    loadOperands();
    allocResults();
    emitColumnScan(rw, loc, describeScan());
    replaceWithBuffers(rw, loc, op, out, fin);
  }

private:
  void loadOperands();
  void allocResults();
  /// Columns p; per tile the head's B and C rows, dt and exp(dt A).
  ColumnScan describeScan();
  void stageTile(OpBuilder &sb, Value b, Value h, Value lane, Value stride,
                 Value row0, Value t0, Value cnt, ValueRange st);
  /// h <- exp(dt A) h + dt x B over the thread's slice; its share of C . h.
  void step(OpBuilder &bb, const ColumnAt &at, Value tt, Value t,
            ArrayRef<Value> n, ArrayRef<Value> live, ValueRange st,
            SmallVectorImpl<Value> &h,
            SmallVectorImpl<Value> &partials, SmallVectorImpl<Value> &decays);
  /// y = C . h + D x, gated by silu(z).
  void finishStep(OpBuilder &bb, const ColumnAt &at, Value t,
                  ArrayRef<Value> sums);

  ssm::SSDOp op;
  PatternRewriter &rw;
  Location loc;
  const int64_t N;
  Value x, dt, A, Bm, Cm, D, z, bias, h0; ///< operand buffers
  Value Bsz, L, H, P, G;                  ///< batch, steps, heads, columns, groups
  Value out, fin;                         ///< result buffers (fin: optional)
  Value cN, perGroup;                     ///< N; heads per B/C group
};

void SSDKernel::loadOperands() {
  x = toStridedBuffer(rw, loc, op.getX());
  dt = toStridedBuffer(rw, loc, op.getDt());
  A = toStridedBuffer(rw, loc, op.getA());
  Bm = toStridedBuffer(rw, loc, op.getB());
  Cm = toStridedBuffer(rw, loc, op.getC());
  D = toStridedBuffer(rw, loc, op.getD());
  z = toStridedBuffer(rw, loc, op.getZ());
  bias = toStridedBuffer(rw, loc, op.getDtBias());
  h0 = toStridedBuffer(rw, loc, op.getH0());
  SequenceDims xd = sequenceDims(rw, loc, x);
  Bsz = xd.batch, L = xd.steps, H = xd.heads, P = xd.width;
  G = dimOf(rw, loc, Bm, 2);
}

void SSDKernel::allocResults() {
  out = allocLike(rw, loc, op.getOut().getType(), {Bsz, L, H, P});
  if (op.getFinalState())
    fin = allocLike(rw, loc, op.getFinalState().getType(),
                    {Bsz, H, P, cidx(rw, loc, N)});
}

ColumnScan SSDKernel::describeScan() {
  Value c1 = cidx(rw, loc, 1);
  cN = cidx(rw, loc, N);
  perGroup = arith::MaxUIOp::create(
      rw, loc, arith::DivUIOp::create(rw, loc, H, G), c1);
  ColumnScan cs;
  cs.width = N;
  cs.L = L;
  cs.columns = P;
  cs.BH = arith::MulIOp::create(rw, loc, Bsz, H);
  cs.H = H;
  cs.stagedPerStep = {N, N, 1, 1};
  cs.stage = [this](OpBuilder &sb, Value b, Value h, Value lane, Value stride,
                    Value row0, Value t0, Value cnt, ValueRange st) {
    stageTile(sb, b, h, lane, stride, row0, t0, cnt, st);
  };
  cs.init = [this](OpBuilder &bb, const ColumnAt &at, int64_t, Value n) {
    return h0 ? load32(bb, loc, h0, ValueRange{at.b, at.h, at.col, n})
              : cf32(bb, loc, 0);
  };
  cs.step = [this](OpBuilder &bb, const ColumnAt &at, Value tt, Value t,
                   ArrayRef<Value> n, ArrayRef<Value> live, ValueRange st,
            SmallVectorImpl<Value> &h,
                   SmallVectorImpl<Value> &partials,
                   SmallVectorImpl<Value> &decays) {
    step(bb, at, tt, t, n, live, st, h, partials, decays);
  };
  cs.finish = [this](OpBuilder &bb, const ColumnAt &at, Value t,
                     ArrayRef<Value> sums) { finishStep(bb, at, t, sums); };
  if (fin)
    cs.storeFinal = [this](OpBuilder &bb, const ColumnAt &at, int64_t,
                           Value n, Value v) {
      store32(bb, loc, v, fin, ValueRange{at.b, at.h, at.col, n});
    };
  return cs;
}

void SSDKernel::stageTile(OpBuilder &sb, Value b, Value h, Value lane,
                          Value stride, Value row0, Value t0, Value cnt,
                          ValueRange st) {
  Value g = arith::DivUIOp::create(sb, loc, h, perGroup);
  stageRows(sb, loc, lane, stride, tileRows(st[2]), N, cnt, row0,
            [&](OpBuilder &lb, Value idx, Value tt, Value n) {
    Value t = arith::AddIOp::create(lb, loc, t0, tt);
    memref::StoreOp::create(
        lb, loc, load32(lb, loc, Bm, ValueRange{b, t, g, n}), st[0], idx);
    memref::StoreOp::create(
        lb, loc, load32(lb, loc, Cm, ValueRange{b, t, g, n}), st[1], idx);
  });
  stageSteps(sb, loc, lane, stride, cnt, [&](OpBuilder &db, Value s) {
    Value t = arith::AddIOp::create(db, loc, t0, s);
    Value d = load32(db, loc, dt, ValueRange{b, t, h});
    if (bias)
      d = arith::AddFOp::create(db, loc, d, load32(db, loc, bias, ValueRange{h}));
    if (op.getDtSoftplus())
      d = softplus(db, loc, d);
    if (std::optional<ArrayRef<double>> limit = op.getDtLimit()) {
      // dt_limit [lo, hi]; an infinite bound is no bound.
      if (!std::isinf((*limit)[0]))
        d = arith::MaxNumFOp::create(db, loc, d, cf32(db, loc, (*limit)[0]));
      if (!std::isinf((*limit)[1]))
        d = arith::MinNumFOp::create(db, loc, d, cf32(db, loc, (*limit)[1]));
    }
    Value a = load32(db, loc, A, ValueRange{h});
    Value row = arith::AddIOp::create(db, loc, row0, s);
    memref::StoreOp::create(db, loc, d, st[2], row);
    memref::StoreOp::create(
        db, loc, math::ExpOp::create(db, loc, arith::MulFOp::create(db, loc, d, a)),
        st[3], row);
  });
}

void SSDKernel::step(OpBuilder &bb, const ColumnAt &at, Value tt, Value t,
                     ArrayRef<Value> n, ArrayRef<Value> live, ValueRange st,
                     SmallVectorImpl<Value> &h,
                     SmallVectorImpl<Value> &partials,
                     SmallVectorImpl<Value> &decays) {
  Value xv = load32(bb, loc, x, ValueRange{at.b, t, at.h, at.col});
  Value d = memref::LoadOp::create(bb, loc, st[2], tt);
  Value decay = memref::LoadOp::create(bb, loc, st[3], tt);
  Value dx = arith::MulFOp::create(bb, loc, d, xv);
  Value row = arith::MulIOp::create(bb, loc, tt, cN);
  Value y = cf32(bb, loc, 0);
  for (size_t r = 0; r < n.size(); ++r) {
    Value i = arith::AddIOp::create(bb, loc, row, n[r]);
    Value bn = memref::LoadOp::create(bb, loc, st[0], i);
    // A padded value (ColumnScan) takes no input and stays zero.
    if (!live.empty())
      bn = arith::SelectOp::create(bb, loc, live[r], bn, cf32(bb, loc, 0));
    Value cn = memref::LoadOp::create(bb, loc, st[1], i);
    h[r] = math::FmaOp::create(bb, loc, decay, h[r],
                               arith::MulFOp::create(bb, loc, dx, bn));
    y = math::FmaOp::create(bb, loc, cn, h[r], y);
  }
  partials.push_back(y);
  decays.push_back(decay);
}

void SSDKernel::finishStep(OpBuilder &bb, const ColumnAt &at, Value t,
                           ArrayRef<Value> sums) {
  Value y = sums[0];
  SmallVector<Value> xAt{at.b, t, at.h, at.col};
  if (D) {
    // D [H] per head or [H, P] per head channel.
    SmallVector<Value> dAt{at.h};
    if (cast<MemRefType>(D.getType()).getRank() == 2)
      dAt.push_back(at.col);
    y = math::FmaOp::create(bb, loc, load32(bb, loc, D, dAt),
                            load32(bb, loc, x, xAt), y);
  }
  if (z)
    y = arith::MulFOp::create(bb, loc, y, silu(bb, loc, load32(bb, loc, z, xAt)));
  store32(bb, loc, y, out, xAt);
}

struct SSDToGPU : OpRewritePattern<ssm::SSDOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::SSDOp op,
                                PatternRewriter &rw) const override {
    if (op.getSeqIdx())
      return rw.notifyMatchFailure(
          op, "sequences packed per batch row (seq_idx) stay on the CPU");
    if (failed(matchColumnScanOp(op, rw, op.getB(), "state size N")))
      return failure();
    SSDKernel(op, rw, op.getB().getType().getDimSize(3)).run();
    return success();
  }
};

} // namespace

void ssmc::populateSSDToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<SSDToGPU>(patterns.getContext());
}
