//===- RecurrentToGPU.cpp - ssd, linear attention, attention, conv kernels -===//
//
// ssd and linear_attention: the state's columns evolve independently (ssd:
// h[p, :] per head; linear attention: S[:, j], and the normaliser z), so
// both run the ColumnScan kernel (ColumnScan.h): a block per (batch, head)
// and columns, each column's state split over threads as registers, the
// head's shared rows (B/C; phi(q)/phi(k) and gates) staged per tile of
// steps in shared memory, the read-out reduced over a column's threads in
// shared memory. attention: flash-style tiles of K/V rows in shared memory
// with an online softmax per query thread. causal_conv1d: a thread per
// output element. As for selective_scan, the kernels name host buffers and
// ssm-gpu-stage-buffers stages them. f32/f16/bf16 operands, static N / K /
// head sizes <= 256, no cu_seqlens; other forms stay on the CPU lowering.
//
//===----------------------------------------------------------------------===//

#include "../SSMToLoops/LoweringUtils.h"
#include "ColumnScan.h"
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

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;

namespace {

struct SSDToGPU : OpRewritePattern<ssm::SSDOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::SSDOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    if (!gpuFloatOperands(op))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
    if (op.getCuSeqlens())
      return rw.notifyMatchFailure(op, "packed sequences stay on the CPU");
    auto bTy = cast<RankedTensorType>(op.getB().getType());
    if (bTy.isDynamicDim(3) || bTy.getDimSize(3) > 256)
      return rw.notifyMatchFailure(op, "needs a static state size N <= 256");
    const int64_t N = bTy.getDimSize(3);
    auto buf = [&](Value t) { return toBuffer(rw, loc, t); };
    Value x = buf(op.getX()), dt = buf(op.getDt()), A = buf(op.getA()),
          Bm = buf(op.getB()), Cm = buf(op.getC()), D = buf(op.getD()),
          z = buf(op.getZ()), bias = buf(op.getDtBias()), h0 = buf(op.getH0());
    Value Bsz = dimOf(rw, loc, x, 0), L = dimOf(rw, loc, x, 1),
          H = dimOf(rw, loc, x, 2), P = dimOf(rw, loc, x, 3),
          G = dimOf(rw, loc, Bm, 2);
    Value out = allocLike(rw, loc, op.getOut().getType(), {Bsz, L, H, P});
    Value fin;
    if (op.getFinalState())
      fin = allocLike(rw, loc, op.getFinalState().getType(),
                      {Bsz, H, P, cidx(rw, loc, N)});
    Value c1 = cidx(rw, loc, 1), cN = cidx(rw, loc, N);
    Value perGroup = arith::MaxUIOp::create(
        rw, loc, arith::DivUIOp::create(rw, loc, H, G), c1);
    // Columns p; per tile the head's B and C rows, dt and exp(dt A).
    ColumnScan cs;
    cs.width = N;
    cs.L = L;
    cs.columns = P;
    cs.BH = arith::MulIOp::create(rw, loc, Bsz, H);
    cs.H = H;
    cs.stagedPerStep = {N, N, 1, 1};
    cs.stage = [&](OpBuilder &sb, Value b, Value h, Value lane, Value stride,
                   Value row0, Value t0, Value cnt, ValueRange st) {
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
        Value a = load32(db, loc, A, ValueRange{h});
        Value row = arith::AddIOp::create(db, loc, row0, s);
        memref::StoreOp::create(db, loc, d, st[2], row);
        memref::StoreOp::create(
            db, loc, math::ExpOp::create(db, loc, arith::MulFOp::create(db, loc, d, a)),
            st[3], row);
      });
    };
    cs.init = [&](OpBuilder &bb, const ColumnAt &at, int64_t, Value n) -> Value {
      return h0 ? load32(bb, loc, h0, ValueRange{at.b, at.h, at.col, n})
                : cf32(bb, loc, 0);
    };
    cs.step = [&](OpBuilder &bb, const ColumnAt &at, Value tt, Value t,
                  ArrayRef<Value> n, ValueRange st, SmallVectorImpl<Value> &h,
                  SmallVectorImpl<Value> &partials, SmallVectorImpl<Value> &decays) {
      Value xv = load32(bb, loc, x, ValueRange{at.b, t, at.h, at.col});
      Value d = memref::LoadOp::create(bb, loc, st[2], tt);
      Value decay = memref::LoadOp::create(bb, loc, st[3], tt);
      Value dx = arith::MulFOp::create(bb, loc, d, xv);
      Value row = arith::MulIOp::create(bb, loc, tt, cN);
      Value y = cf32(bb, loc, 0);
      for (size_t r = 0; r < n.size(); ++r) {
        Value i = arith::AddIOp::create(bb, loc, row, n[r]);
        Value bn = memref::LoadOp::create(bb, loc, st[0], i);
        Value cn = memref::LoadOp::create(bb, loc, st[1], i);
        h[r] = math::FmaOp::create(bb, loc, decay, h[r],
                                   arith::MulFOp::create(bb, loc, dx, bn));
        y = math::FmaOp::create(bb, loc, cn, h[r], y);
      }
      partials.push_back(y);
      decays.push_back(decay);
    };
    cs.finish = [&](OpBuilder &bb, const ColumnAt &at, Value t,
                    ArrayRef<Value> sums) {
      Value y = sums[0];
      SmallVector<Value> xAt{at.b, t, at.h, at.col};
      if (D)
        y = math::FmaOp::create(bb, loc, load32(bb, loc, D, ValueRange{at.h}),
                                load32(bb, loc, x, xAt), y);
      if (z)
        y = arith::MulFOp::create(bb, loc, y, silu(bb, loc, load32(bb, loc, z, xAt)));
      store32(bb, loc, y, out, xAt);
    };
    if (fin)
      cs.storeFinal = [&](OpBuilder &bb, const ColumnAt &at, Value n, Value v) {
        store32(bb, loc, v, fin, ValueRange{at.b, at.h, at.col, n});
      };
    emitColumnScan(rw, loc, cs);
    replaceWithBuffers(rw, loc, op, out, fin);
    return success();
  }
};

struct LinearAttentionToGPU : OpRewritePattern<ssm::LinearAttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::LinearAttentionOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    if (!gpuFloatOperands(op))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
    if (op.getCuSeqlens())
      return rw.notifyMatchFailure(op, "packed sequences stay on the CPU");
    auto qTy = cast<RankedTensorType>(op.getQ().getType());
    if (qTy.isDynamicDim(3) || qTy.getDimSize(3) > 256)
      return rw.notifyMatchFailure(op, "needs a static key size K <= 256");
    const int64_t K = qTy.getDimSize(3);
    const double scaleV =
        op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                          : 1.0 / std::sqrt(double(K));
    StringRef fmap = op.getFeatureMap();
    auto buf = [&](Value t) { return toBuffer(rw, loc, t); };
    Value q = buf(op.getQ()), k = buf(op.getK()), v = buf(op.getV()),
          gate = buf(op.getGate()), h0 = buf(op.getH0());
    const bool perKey =
        gate && cast<MemRefType>(gate.getType()).getRank() == 4;
    Value Bsz = dimOf(rw, loc, q, 0), H = dimOf(rw, loc, q, 1),
          L = dimOf(rw, loc, q, 2), V = dimOf(rw, loc, v, 3);
    Value cK = cidx(rw, loc, K);
    Value out = allocLike(rw, loc, op.getOut().getType(), {Bsz, H, L, V});
    Value fin;
    if (op.getFinalState())
      fin = allocLike(rw, loc, op.getFinalState().getType(), {Bsz, H, cK, V});
    auto feature = [&](OpBuilder &b, Value x) -> Value {
      if (fmap == "relu")
        return arith::MaximumFOp::create(b, loc, x, cf32(b, loc, 0));
      if (fmap == "elu_plus_one") {
        Value pos = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x,
                                          cf32(b, loc, 0));
        return arith::SelectOp::create(
            b, loc, pos, arith::AddFOp::create(b, loc, x, cf32(b, loc, 1)),
            math::ExpOp::create(b, loc, x));
      }
      return x;
    };
    // Value columns j; per tile scale * phi(q), phi(k) and exp(gate) (per
    // key or per step).
    const bool normalize = op.getNormalize();
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
    cs.stage = [&](OpBuilder &sb, Value b, Value h, Value lane, Value stride,
                   Value row0, Value t0, Value cnt, ValueRange st) {
      stageRows(sb, loc, lane, stride, tileRows(st[0]) / K, K, cnt, row0,
                [&](OpBuilder &lb, Value idx, Value tt, Value i) {
        Value t = arith::AddIOp::create(lb, loc, t0, tt);
        Value qi = arith::MulFOp::create(
            lb, loc, cf32(lb, loc, scaleV),
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
          Value t = arith::AddIOp::create(gb, loc, t0, s);
          memref::StoreOp::create(
              gb, loc,
              math::ExpOp::create(gb, loc, load32(gb, loc, gate, ValueRange{b, h, t})),
              st[2], ValueRange{arith::AddIOp::create(gb, loc, row0, s)});
        });
    };
    cs.init = [&](OpBuilder &bb, const ColumnAt &at, int64_t set, Value n) -> Value {
      return set == 0 && h0 ? load32(bb, loc, h0, ValueRange{at.b, at.h, n, at.col})
                            : cf32(bb, loc, 0);
    };
    cs.step = [&](OpBuilder &bb, const ColumnAt &at, Value tt, Value t,
                  ArrayRef<Value> n, ValueRange st, SmallVectorImpl<Value> &state,
                  SmallVectorImpl<Value> &partials, SmallVectorImpl<Value> &decays) {
      const size_t R = n.size();
      Value vj = load32(bb, loc, v, ValueRange{at.b, at.h, t, at.col});
      Value gStep = gate && !perKey
                        ? memref::LoadOp::create(bb, loc, st[2], tt).getResult()
                        : Value();
      Value row = arith::MulIOp::create(bb, loc, tt, cK);
      Value o = cf32(bb, loc, 0), den = cf32(bb, loc, 0);
      for (size_t r = 0; r < R; ++r) {
        Value at_ = arith::AddIOp::create(bb, loc, row, n[r]);
        Value qi = memref::LoadOp::create(bb, loc, st[0], at_);
        Value ki = memref::LoadOp::create(bb, loc, st[1], at_);
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
    };
    cs.finish = [&](OpBuilder &bb, const ColumnAt &at, Value t,
                    ArrayRef<Value> sums) {
      Value o = normalize ? arith::DivFOp::create(bb, loc, sums[0], sums[1]).getResult()
                          : sums[0];
      store32(bb, loc, o, out, ValueRange{at.b, at.h, t, at.col});
    };
    if (fin)
      cs.storeFinal = [&](OpBuilder &bb, const ColumnAt &at, Value n, Value val) {
        store32(bb, loc, val, fin, ValueRange{at.b, at.h, n, at.col});
      };
    emitColumnScan(rw, loc, cs);
    replaceWithBuffers(rw, loc, op, out, fin);
    return success();
  }
};


struct AttentionToGPU : OpRewritePattern<ssm::AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::AttentionOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    if (!gpuFloatOperands(op))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
    auto vTy = cast<RankedTensorType>(op.getV().getType());
    auto qTy = cast<RankedTensorType>(op.getQ().getType());
    if (vTy.isDynamicDim(3) || vTy.getDimSize(3) > 256 || qTy.isDynamicDim(3))
      return rw.notifyMatchFailure(op, "needs static head sizes, dv <= 256");
    const int64_t dv = vTy.getDimSize(3), d = qTy.getDimSize(3);
    const double scaleV = op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                                            : 1.0 / std::sqrt(double(d));
    Value q = toBuffer(rw, loc, op.getQ()), k = toBuffer(rw, loc, op.getK()),
          v = toBuffer(rw, loc, op.getV());
    Value Bsz = dimOf(rw, loc, q, 0), H = dimOf(rw, loc, q, 1),
          Lq = dimOf(rw, loc, q, 2), Hkv = dimOf(rw, loc, k, 1),
          Lk = dimOf(rw, loc, k, 2);
    Value out = allocLike(rw, loc, op.getOut().getType(),
                          {Bsz, H, Lq, cidx(rw, loc, dv)});
    Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1);
    Value group = arith::MaxUIOp::create(
        rw, loc, arith::DivUIOp::create(rw, loc, H, Hkv), c1);
    const bool causal = op.getCausal();
    std::optional<uint64_t> window = op.getWindow();
    // Key tiles of Tk rows of K and V in shared memory (<= 32 KB).
    int64_t Tk = 64;
    while (Tk > 1 && Tk * (d + dv) > 8192)
      Tk /= 2;
    Value cTk = cidx(rw, loc, Tk), cd = cidx(rw, loc, d), cdv = cidx(rw, loc, dv);
    Value qBlocks = arith::MaxUIOp::create(
        rw, loc, arith::CeilDivUIOp::create(rw, loc, Lq, cidx(rw, loc, kBlock)), c1);
    Value BH = arith::MulIOp::create(rw, loc, Bsz, H);
    Value blocks = arith::MulIOp::create(rw, loc, qBlocks, BH);
    Value H1 = arith::MaxUIOp::create(rw, loc, H, c1);
    MLIRContext *ctx = rw.getContext();
    SmallVector<Type> shared = {sharedArrayType(ctx, Tk * d),
                                sharedArrayType(ctx, Tk * dv)};
    launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                              ValueRange sh) {
      Value sK = sh[0], sV = sh[1];
      Value bh = arith::DivUIOp::create(rw, loc, bid, qBlocks);
      Value qb = arith::RemUIOp::create(rw, loc, bid, qBlocks);
      Value blockActive = arith::CmpIOp::create(
          rw, loc, arith::CmpIPredicate::ult, bh, BH);
      Value h = arith::RemUIOp::create(rw, loc, bh, H1);
      Value b = arith::DivUIOp::create(rw, loc, bh, H1);
      Value hk = arith::DivUIOp::create(rw, loc, h, group);
      Value qFirst = arith::MulIOp::create(rw, loc, qb, cidx(rw, loc, kBlock));
      Value i = arith::AddIOp::create(rw, loc, qFirst, tid);
      Value active = arith::AndIOp::create(
          rw, loc, blockActive,
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult, i, Lq));
      // Visible keys [lo, hi) of query `qi`: causal is bottom-right
      // aligned; both ends are non-decreasing in qi.
      auto range = [&](OpBuilder &bb, Value qi) -> std::pair<Value, Value> {
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
      };
      // The block's keys: from its first query's lo to its last one's hi.
      Value qLast = arith::MinUIOp::create(
          rw, loc, arith::AddIOp::create(rw, loc, qFirst, cidx(rw, loc, kBlock - 1)),
          arith::SubIOp::create(rw, loc, arith::MaxUIOp::create(rw, loc, Lq, c1), c1));
      auto loHi = range(rw, i);
      Value lo = loHi.first, hi = loHi.second;
      Value blo = range(rw, qFirst).first, bhi = range(rw, qLast).second;
      bhi = arith::MaxSIOp::create(rw, loc, blo, bhi);

      // The query row and the output accumulator: registers (unrolled,
      // loop-carried) when d + dv <= 128, else private arrays.
      const bool regs = d + dv <= 128;
      Value qv, accArr;
      SmallVector<Value> qr;
      Value scores = privateArray(rw, loc, Tk);
      SmallVector<Type> f32s(regs ? d : 0, rw.getF32Type());
      auto qInit = scf::IfOp::create(rw, loc, f32s, active, true);
      {
        OpBuilder::InsertionGuard g(rw);
        rw.setInsertionPointToStart(&qInit.getThenRegion().front());
        auto qAt = [&](OpBuilder &bb, Value c) {
          return arith::MulFOp::create(
              bb, loc, load32(bb, loc, q, ValueRange{b, h, i, c}),
              cf32(bb, loc, scaleV));
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
      } else {
        qv = privateArray(rw, loc, d);
        accArr = privateArray(rw, loc, dv);
        ifThen(rw, loc, active, [&](OpBuilder &ab) {
          forEach(ab, loc, cd, [&](OpBuilder &bb, Value c) {
            memref::StoreOp::create(
                bb, loc,
                arith::MulFOp::create(bb, loc, load32(bb, loc, q, ValueRange{b, h, i, c}),
                                      cf32(bb, loc, scaleV)),
                qv, c);
          });
          forEach(ab, loc, cdv, [&](OpBuilder &bb, Value c) {
            memref::StoreOp::create(bb, loc, cf32(bb, loc, 0), accArr, c);
          });
        });
      }
      // q . K[row..row+d) from the staged tile.
      auto dotQK = [&](OpBuilder &bb, Location bl, Value row) -> Value {
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
      };
      // acc = acc * scale + p * V[row..row+dv) (p null: no V term).
      auto updateAcc = [&](OpBuilder &bb, Location bl, ValueRange acc, Value scale,
                           Value p, Value row) -> SmallVector<Value> {
        auto one = [&](OpBuilder &cb, Value a, Value c) -> Value {
          if (scale)
            a = arith::MulFOp::create(cb, bl, a, scale);
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
      };
      // Online softmax over key tiles: running max m, normaliser l, and
      // (in registers) the accumulator.
      SmallVector<Value> carried{cf32(rw, loc, -3.0e38), cf32(rw, loc, 0)};
      if (regs)
        carried.append(dv, cf32(rw, loc, 0));
      auto tiles = scf::ForOp::create(
          rw, loc, blo, bhi, cTk, carried,
          [&](OpBuilder &tb, Location l, Value j0, ValueRange ml) {
            Value cnt = arith::MinUIOp::create(
                tb, l, cTk, arith::SubIOp::create(tb, l, bhi, j0));
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
            barrier(tb, l);
            SmallVector<Type> tys(ml.size(), tb.getF32Type());
            auto upd = scf::IfOp::create(tb, l, tys, active, true);
            {
              OpBuilder::InsertionGuard g(tb);
              tb.setInsertionPointToStart(&upd.getThenRegion().front());
              // This query's keys within the tile: [a0, a1).
              auto rel = [&](Value x) {
                return arith::MinSIOp::create(
                    tb, l, cnt,
                    arith::MaxSIOp::create(tb, l, c0,
                                           arith::SubIOp::create(tb, l, x, j0)));
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
              scf::YieldOp::create(tb, l, res);
              tb.setInsertionPointToStart(&upd.getElseRegion().front());
              scf::YieldOp::create(tb, l, ml);
            }
            // The next tile overwrites what this one reads.
            barrier(tb, l);
            scf::YieldOp::create(tb, l, upd.getResults());
          });
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
    });
    rw.replaceOp(op, toTensor(rw, loc, op.getOut().getType(), out));
    return success();
  }
};

struct CausalConv1dToGPU : OpRewritePattern<ssm::CausalConv1dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::CausalConv1dOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    if (!gpuFloatOperands(op))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
    Value x = toBuffer(rw, loc, op.getX()), w = toBuffer(rw, loc, op.getWeight()),
          bias = toBuffer(rw, loc, op.getBias()),
          init = toBuffer(rw, loc, op.getInitialState());
    Value Bsz = dimOf(rw, loc, x, 0), D = dimOf(rw, loc, x, 1),
          L = dimOf(rw, loc, x, 2), W = dimOf(rw, loc, w, 1);
    Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1);
    Value Wm1 = arith::SubIOp::create(rw, loc, W, c1);
    Value out = allocLike(rw, loc, op.getOut().getType(), {Bsz, D, L});
    Value fin;
    if (op.getFinalState())
      fin = allocLike(rw, loc, op.getFinalState().getType(), {Bsz, D, Wm1});
    // x[b, d, t] for t >= 0, the initial state (or 0) for t < 0.
    auto xx = [&](OpBuilder &bb, Value b, Value d, Value t) -> Value {
      Value neg = arith::CmpIOp::create(bb, loc, arith::CmpIPredicate::slt, t, c0);
      auto ifOp = scf::IfOp::create(bb, loc, TypeRange{bb.getF32Type()}, neg, true);
      {
        OpBuilder::InsertionGuard g(bb);
        bb.setInsertionPointToStart(&ifOp.getThenRegion().front());
        Value v = init ? load32(bb, loc, init,
                                                ValueRange{b, d, arith::AddIOp::create(bb, loc, Wm1, t)})
                             
                       : cf32(bb, loc, 0);
        scf::YieldOp::create(bb, loc, v);
        bb.setInsertionPointToStart(&ifOp.getElseRegion().front());
        scf::YieldOp::create(bb, loc,
                             ValueRange{load32(bb, loc, x, ValueRange{b, d, t})});
      }
      return ifOp.getResult(0);
    };
    // One thread per output element.
    Value lanes = arith::MulIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, Bsz, D), L);
    launchLanes(rw, loc, lanes, [&](Value lane) {
      Value t = arith::RemUIOp::create(rw, loc, lane, L);
      Value bd = arith::DivUIOp::create(rw, loc, lane, L);
      Value d = arith::RemUIOp::create(rw, loc, bd, D);
      Value b = arith::DivUIOp::create(rw, loc, bd, D);
      Value start = bias ? load32(rw, loc, bias, ValueRange{d})
                         : cf32(rw, loc, 0);
      auto sum = scf::ForOp::create(
          rw, loc, c0, W, c1, ValueRange{start},
          [&](OpBuilder &bb, Location l, Value i, ValueRange s) {
            Value ti = arith::AddIOp::create(bb, l, arith::SubIOp::create(bb, l, t, Wm1), i);
            Value wi = load32(bb, l, w, ValueRange{d, i});
            scf::YieldOp::create(bb, l,
                                 ValueRange{math::FmaOp::create(bb, l, wi, xx(bb, b, d, ti), s[0])});
          });
      Value y = sum.getResult(0);
      if (op.getSilu())
        y = silu(rw, loc, y);
      store32(rw, loc, y, out, ValueRange{b, d, t});
    });
    // The final state: one thread per (batch, channel), also for L = 0.
    if (fin)
      launchLanes(rw, loc, arith::MulIOp::create(rw, loc, Bsz, D), [&](Value lane) {
        Value d = arith::RemUIOp::create(rw, loc, lane, D);
        Value b = arith::DivUIOp::create(rw, loc, lane, D);
        forEach(rw, loc, Wm1, [&](OpBuilder &bb, Value j) {
          Value tj = arith::AddIOp::create(bb, loc, arith::SubIOp::create(bb, loc, L, Wm1), j);
          store32(bb, loc, xx(bb, b, d, tj), fin, ValueRange{b, d, j});
        });
      });
    replaceWithBuffers(rw, loc, op, out, fin);
    return success();
  }
};

} // namespace

void ssmc::populateRecurrentToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<SSDToGPU, LinearAttentionToGPU, AttentionToGPU, CausalConv1dToGPU>(
      patterns.getContext());
}
