//===- LinearAttentionToGPU.cpp - ssm.linear_attention as a ColumnScan ----===//
//
// The columns S[:, j] of a head's state (and of the normaliser z) evolve
// independently, so the kernel is a ColumnScan (ColumnScan.h) over value
// columns j: scale * phi(q), phi(k) and exp(gate) (per key or per step)
// staged per tile of steps in shared memory, each column's K state values
// split over threads as registers, the read-out S^T phi(q) (and z .
// phi(q)) reduced over a column's threads. As for selective_scan, the
// kernel names host buffers and ssm-gpu-stage-buffers stages them.
// f32/f16/bf16 operands, static K <= 256, no cu_seqlens; other forms stay
// on the CPU lowering. `reverse` mirrors the time index (the kernel's step
// t is step L - 1 - t); the normaliser's state z0 / final_z is the second
// state set, stored from value column 0.
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

/// The ColumnScan callbacks of one ssm.linear_attention: loadOperands() and
/// allocResults() run on the host, the other stages inside the kernel.
class LinearAttentionKernel {
public:
  LinearAttentionKernel(ssm::LinearAttentionOp op, PatternRewriter &rw,
                        int64_t K)
      : op(op), rw(rw), loc(op.getLoc()), K(K),
        scale(op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                                : 1.0 / std::sqrt(double(K))),
        normalize(op.getNormalize()),
        eps(op.getEps().convertToDouble()), reverse(op.getReverse()) {}

  void run() {
    loadOperands();
    allocResults();
    emitColumnScan(rw, loc, describeScan());
    SmallVector<Value> results = {
        toTensor(rw, loc, op.getOut().getType(), out)};
    if (fin)
      results.push_back(toTensor(rw, loc, op.getFinalState().getType(), fin));
    if (finZ)
      results.push_back(toTensor(rw, loc, op.getFinalZ().getType(), finZ));
    rw.replaceOp(op, results);
  }

private:
  void loadOperands();
  void allocResults();
  /// Value columns j; per tile scale * phi(q), phi(k) and exp(gate) (per
  /// key or per step).
  ColumnScan describeScan();
  /// The feature map phi.
  Value feature(OpBuilder &b, Value x);
  void stageTile(OpBuilder &sb, Value b, Value h, Value lane, Value stride,
                 Value row0, Value t0, Value cnt, ValueRange st);
  /// S <- g S + k v_j (and z <- g z + k) over the thread's slice; its share
  /// of S^T phi(q) (and z . phi(q)).
  void step(OpBuilder &bb, const ColumnAt &at, Value tt, Value t,
            ArrayRef<Value> n, ArrayRef<Value> live, ValueRange st,
            SmallVectorImpl<Value> &state,
            SmallVectorImpl<Value> &partials, SmallVectorImpl<Value> &decays);
  void finishStep(OpBuilder &bb, const ColumnAt &at, Value t,
                  ArrayRef<Value> sums);

  ssm::LinearAttentionOp op;
  PatternRewriter &rw;
  Location loc;
  const int64_t K;
  const double scale;
  const bool normalize;
  const double eps;
  const bool reverse;
  bool perKey = false;         ///< a gate per key (rank 4), not per step
  Value q, k, v, gate, h0, z0; ///< operand buffers
  Value Bsz, H, L, V, cK;      ///< batch, heads, steps, values; K
  Value out, fin, finZ;        ///< result buffers (fin, finZ: optional)
  /// The step the kernel's step `t` stands for (L - 1 - t with `reverse`).
  Value stepAt(OpBuilder &b, Value t) const {
    if (!reverse)
      return t;
    return arith::SubIOp::create(
        b, loc, arith::SubIOp::create(b, loc, L, cidx(b, loc, 1)), t);
  }
};

void LinearAttentionKernel::loadOperands() {
  q = toBuffer(rw, loc, op.getQ());
  k = toBuffer(rw, loc, op.getK());
  v = toBuffer(rw, loc, op.getV());
  gate = toBuffer(rw, loc, op.getGate());
  h0 = toBuffer(rw, loc, op.getH0());
  z0 = toBuffer(rw, loc, op.getZ0());
  perKey = gate && cast<MemRefType>(gate.getType()).getRank() == 4;
  Bsz = dimOf(rw, loc, q, 0);
  H = dimOf(rw, loc, q, 1);
  L = dimOf(rw, loc, q, 2);
  V = dimOf(rw, loc, v, 3);
  cK = cidx(rw, loc, K);
}

void LinearAttentionKernel::allocResults() {
  out = allocLike(rw, loc, op.getOut().getType(), {Bsz, H, L, V});
  if (op.getFinalState())
    fin = allocLike(rw, loc, op.getFinalState().getType(), {Bsz, H, cK, V});
  if (op.getFinalZ())
    finZ = allocLike(rw, loc, op.getFinalZ().getType(), {Bsz, H, cK});
}

ColumnScan LinearAttentionKernel::describeScan() {
  ColumnScan cs;
  cs.width = K;
  cs.sets = cs.partials = normalize ? 2 : 1;
  cs.L = L;
  cs.columns = V;
  cs.BH = arith::MulIOp::create(rw, loc, Bsz, H);
  cs.H = H;
  cs.stagedPerStep = {K, K};
  if (gate)
    cs.stagedPerStep.push_back(perKey ? K : 1);
  cs.stage = [this](OpBuilder &sb, Value b, Value h, Value lane, Value stride,
                    Value row0, Value t0, Value cnt, ValueRange st) {
    stageTile(sb, b, h, lane, stride, row0, t0, cnt, st);
  };
  cs.init = [this](OpBuilder &bb, const ColumnAt &at, int64_t set, Value n) {
    if (set == 0 && h0)
      return load32(bb, loc, h0, ValueRange{at.b, at.h, n, at.col});
    if (set == 1 && z0)
      return load32(bb, loc, z0, ValueRange{at.b, at.h, n});
    return cf32(bb, loc, 0);
  };
  cs.step = [this](OpBuilder &bb, const ColumnAt &at, Value tt, Value t,
                   ArrayRef<Value> n, ArrayRef<Value> live, ValueRange st,
                   SmallVectorImpl<Value> &state,
                   SmallVectorImpl<Value> &partials,
                   SmallVectorImpl<Value> &decays) {
    step(bb, at, tt, t, n, live, st, state, partials, decays);
  };
  cs.finish = [this](OpBuilder &bb, const ColumnAt &at, Value t,
                     ArrayRef<Value> sums) { finishStep(bb, at, t, sums); };
  if (fin || finZ)
    cs.storeFinal = [this](OpBuilder &bb, const ColumnAt &at, int64_t set,
                           Value n, Value val) {
      if (set == 0 && fin)
        store32(bb, loc, val, fin, ValueRange{at.b, at.h, n, at.col});
      if (set != 1 || !finZ)
        return;
      // Every column carries the same z: column 0 stores it.
      Value first = arith::CmpIOp::create(bb, loc, arith::CmpIPredicate::eq,
                                          at.col, cidx(bb, loc, 0));
      ifThen(bb, loc, first, [&](OpBuilder &zb) {
        store32(zb, loc, val, finZ, ValueRange{at.b, at.h, n});
      });
    };
  return cs;
}

Value LinearAttentionKernel::feature(OpBuilder &b, Value x) {
  ssm::FeatureMap fmap = op.getFeatureMap();
  if (fmap == ssm::FeatureMap::relu)
    return arith::MaximumFOp::create(b, loc, x, cf32(b, loc, 0));
  if (fmap == ssm::FeatureMap::elu_plus_one) {
    Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x,
                                      cf32(b, loc, 0));
    return arith::SelectOp::create(
        b, loc, pos, arith::AddFOp::create(b, loc, x, cf32(b, loc, 1)),
        math::ExpOp::create(b, loc, x));
  }
  return x;
}

void LinearAttentionKernel::stageTile(OpBuilder &sb, Value b, Value h,
                                      Value lane, Value stride, Value row0,
                                      Value t0, Value cnt, ValueRange st) {
  stageRows(sb, loc, lane, stride, tileRows(st[0]) / K, K, cnt, row0,
            [&](OpBuilder &lb, Value idx, Value tt, Value i) {
    Value t = stepAt(lb, arith::AddIOp::create(lb, loc, t0, tt));
    Value qi = arith::MulFOp::create(
        lb, loc, cf32(lb, loc, scale),
        feature(lb, load32(lb, loc, q, ValueRange{b, h, t, i})));
    memref::StoreOp::create(lb, loc, qi, st[0], idx);
    memref::StoreOp::create(
        lb, loc, feature(lb, load32(lb, loc, k, ValueRange{b, h, t, i})),
        st[1], idx);
    if (perKey)
      memref::StoreOp::create(
          lb, loc,
          math::ExpOp::create(lb, loc,
                              load32(lb, loc, gate, ValueRange{b, h, t, i})),
          st[2], idx);
  });
  if (gate && !perKey)
    stageSteps(sb, loc, lane, stride, cnt, [&](OpBuilder &gb, Value s) {
      Value t = stepAt(gb, arith::AddIOp::create(gb, loc, t0, s));
      memref::StoreOp::create(
          gb, loc,
          math::ExpOp::create(gb, loc, load32(gb, loc, gate, ValueRange{b, h, t})),
          st[2], ValueRange{arith::AddIOp::create(gb, loc, row0, s)});
    });
}

void LinearAttentionKernel::step(OpBuilder &bb, const ColumnAt &at, Value tt,
                                 Value t, ArrayRef<Value> n,
                                 ArrayRef<Value> live, ValueRange st,
                                 SmallVectorImpl<Value> &state,
                                 SmallVectorImpl<Value> &partials,
                                 SmallVectorImpl<Value> &decays) {
  const size_t R = n.size();
  Value vj = load32(bb, loc, v, ValueRange{at.b, at.h, stepAt(bb, t), at.col});
  Value gStep = gate && !perKey
                    ? memref::LoadOp::create(bb, loc, st[2], tt).getResult()
                    : Value();
  Value row = arith::MulIOp::create(bb, loc, tt, cK);
  Value o = cf32(bb, loc, 0), den = cf32(bb, loc, 0);
  for (size_t r = 0; r < R; ++r) {
    Value at_ = arith::AddIOp::create(bb, loc, row, n[r]);
    Value qi = memref::LoadOp::create(bb, loc, st[0], at_);
    Value ki = memref::LoadOp::create(bb, loc, st[1], at_);
    // A padded key (ColumnScan) adds nothing to S or z: they stay zero.
    if (!live.empty())
      ki = arith::SelectOp::create(bb, loc, live[r], ki, cf32(bb, loc, 0));
    Value gi = perKey ? memref::LoadOp::create(bb, loc, st[2], at_).getResult()
                      : gStep;
    if (perKey)
      decays.push_back(gi);
    Value kv = arith::MulFOp::create(bb, loc, ki, vj);
    state[r] = gi ? math::FmaOp::create(bb, loc, gi, state[r], kv).getResult()
                  : arith::AddFOp::create(bb, loc, state[r], kv).getResult();
    o = math::FmaOp::create(bb, loc, state[r], qi, o);
    if (normalize) {
      Value &zr = state[R + r];
      zr = gi ? math::FmaOp::create(bb, loc, gi, zr, ki).getResult()
              : arith::AddFOp::create(bb, loc, zr, ki).getResult();
      den = math::FmaOp::create(bb, loc, zr, qi, den);
    }
  }
  partials.push_back(o);
  if (normalize)
    partials.push_back(den);
  if (!perKey)
    decays.push_back(gStep ? gStep : cf32(bb, loc, 1));
}

void LinearAttentionKernel::finishStep(OpBuilder &bb, const ColumnAt &at,
                                       Value t, ArrayRef<Value> sums) {
  // flash-linear-attention's o / (q . z + eps).
  Value o = normalize
                ? arith::DivFOp::create(
                      bb, loc, sums[0],
                      arith::AddFOp::create(bb, loc, sums[1], cf32(bb, loc, eps)))
                      .getResult()
                : sums[0];
  store32(bb, loc, o, out, ValueRange{at.b, at.h, stepAt(bb, t), at.col});
}

struct LinearAttentionToGPU : OpRewritePattern<ssm::LinearAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::LinearAttentionOp op,
                                PatternRewriter &rw) const override {
    if (failed(matchColumnScanOp(op, rw, op.getQ(), "key size K")))
      return failure();
    LinearAttentionKernel(op, rw, op.getQ().getType().getDimSize(3)).run();
    return success();
  }
};

} // namespace

void ssmc::populateLinearAttentionToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<LinearAttentionToGPU>(patterns.getContext());
}
