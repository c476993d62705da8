//===- RecurrentToGPU.cpp - ssd and linear_attention as GPU kernels -------===//
//
// The recurrences of Mamba-2 SSD and of linear attention split into
// independent columns of their state, one GPU thread each, with the column
// in a private array:
//  - ssd: a thread per (batch, head, p) keeps h[p, 0..N);
//  - linear_attention: a thread per (batch, head, value column j) keeps
//    S[0..K, j] (and the normaliser z[0..K) when `normalize`), so the
//    read-out S^T q needs no cross-thread reduction.
// As for selective_scan, the kernels name host buffers and
// ssm-gpu-stage-buffers stages them. f32 programs with static N / K <= 256
// and no cu_seqlens; other forms stay on the CPU lowering.
//
//===----------------------------------------------------------------------===//

#include "../SSMToLoops/LoweringUtils.h"
#include "KernelUtils.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "dialects/ssm/SSMOps.h"

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
    Value headsPerGroup = arith::DivUIOp::create(rw, loc, H, G);
    Value lanes = arith::MulIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, Bsz, H), P);
    Value cN = cidx(rw, loc, N);
    launchLanes(rw, loc, lanes, [&](Value lane) {
      Value p = arith::RemUIOp::create(rw, loc, lane, P);
      Value bh = arith::DivUIOp::create(rw, loc, lane, P);
      Value h = arith::RemUIOp::create(rw, loc, bh, H);
      Value b = arith::DivUIOp::create(rw, loc, bh, H);
      Value g = arith::DivUIOp::create(rw, loc, h, headsPerGroup);
      auto stateAt = [&](Value n) { return SmallVector<Value>{b, h, p, n}; };
      Value st = initialState(rw, loc, N, h0, stateAt);
      Value a = load32(rw, loc, A, ValueRange{h});
      Value bh0 = bias ? load32(rw, loc, bias, ValueRange{h})
                       : Value();
      Value Dh = D ? load32(rw, loc, D, ValueRange{h})
                   : Value();
      forEach(rw, loc, L, [&](OpBuilder &bb, Value t) {
        Value xv = load32(bb, loc, x, ValueRange{b, t, h, p});
        Value d = load32(bb, loc, dt, ValueRange{b, t, h});
        if (bh0)
          d = arith::AddFOp::create(bb, loc, d, bh0);
        if (op.getDtSoftplus())
          d = softplus(bb, loc, d);
        Value decay = math::ExpOp::create(bb, loc, arith::MulFOp::create(bb, loc, d, a));
        Value dx = arith::MulFOp::create(bb, loc, d, xv);
        auto loop = scf::ForOp::create(
            bb, loc, cidx(bb, loc, 0), cN, cidx(bb, loc, 1),
            ValueRange{cf32(bb, loc, 0)},
            [&](OpBuilder &nb, Location l, Value n, ValueRange acc) {
              Value bn = load32(nb, l, Bm, ValueRange{b, t, g, n});
              Value cn = load32(nb, l, Cm, ValueRange{b, t, g, n});
              Value hn = load32(nb, l, st, ValueRange{n});
              Value upd = math::FmaOp::create(nb, l, decay, hn,
                                              arith::MulFOp::create(nb, l, dx, bn));
              store32(nb, l, upd, st, ValueRange{n});
              scf::YieldOp::create(nb, l,
                                   ValueRange{math::FmaOp::create(nb, l, cn, upd, acc[0])});
            });
        Value y = loop.getResult(0);
        if (Dh)
          y = math::FmaOp::create(bb, loc, Dh, xv, y);
        if (z)
          y = arith::MulFOp::create(
              bb, loc, y,
              silu(bb, loc, load32(bb, loc, z, ValueRange{b, t, h, p})));
        store32(bb, loc, y, out, ValueRange{b, t, h, p});
      });
      if (fin)
        storeState(rw, loc, st, N, fin, stateAt);
    });
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
    Value lanes = arith::MulIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, Bsz, H), V);
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
    launchLanes(rw, loc, lanes, [&](Value lane) {
      Value j = arith::RemUIOp::create(rw, loc, lane, V);
      Value bh = arith::DivUIOp::create(rw, loc, lane, V);
      Value h = arith::RemUIOp::create(rw, loc, bh, H);
      Value b = arith::DivUIOp::create(rw, loc, bh, H);
      auto stateAt = [&](Value i) { return SmallVector<Value>{b, h, i, j}; };
      Value s = initialState(rw, loc, K, h0, stateAt);
      Value zs = op.getNormalize()
                     ? initialState(rw, loc, K, Value(), stateAt)
                     : Value();
      forEach(rw, loc, L, [&](OpBuilder &bb, Value t) {
        Value vj = load32(bb, loc, v, ValueRange{b, h, t, j});
        Value gStep;
        if (gate && !perKey)
          gStep = math::ExpOp::create(
              bb, loc, load32(bb, loc, gate, ValueRange{b, h, t}));
        auto loop = scf::ForOp::create(
            bb, loc, cidx(bb, loc, 0), cK, cidx(bb, loc, 1),
            ValueRange{cf32(bb, loc, 0), cf32(bb, loc, 0)},
            [&](OpBuilder &nb, Location l, Value i, ValueRange acc) {
              Value qi = arith::MulFOp::create(
                  nb, l, cf32(nb, l, scaleV),
                  feature(nb, load32(nb, l, q, ValueRange{b, h, t, i})));
              Value ki = feature(
                  nb, load32(nb, l, k, ValueRange{b, h, t, i}));
              Value gi = gStep;
              if (gate && perKey)
                gi = math::ExpOp::create(
                    nb, l, load32(nb, l, gate, ValueRange{b, h, t, i}));
              Value si = load32(nb, l, s, ValueRange{i});
              Value kv = arith::MulFOp::create(nb, l, ki, vj);
              Value ns = gi ? math::FmaOp::create(nb, l, gi, si, kv).getResult()
                            : arith::AddFOp::create(nb, l, si, kv).getResult();
              store32(nb, l, ns, s, ValueRange{i});
              Value o = math::FmaOp::create(nb, l, ns, qi, acc[0]);
              Value den = acc[1];
              if (zs) {
                Value zi = load32(nb, l, zs, ValueRange{i});
                Value nz = gi ? math::FmaOp::create(nb, l, gi, zi, ki).getResult()
                              : arith::AddFOp::create(nb, l, zi, ki).getResult();
                store32(nb, l, nz, zs, ValueRange{i});
                den = math::FmaOp::create(nb, l, nz, qi, den);
              }
              scf::YieldOp::create(nb, l, ValueRange{o, den});
            });
        Value o = loop.getResult(0);
        if (zs)
          o = arith::DivFOp::create(bb, loc, o, loop.getResult(1));
        store32(bb, loc, o, out, ValueRange{b, h, t, j});
      });
      if (fin)
        storeState(rw, loc, s, K, fin, stateAt);
    });
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
    Value group = arith::DivUIOp::create(rw, loc, H, Hkv);
    Value lanes = arith::MulIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, Bsz, H), Lq);
    const bool causal = op.getCausal();
    std::optional<uint64_t> window = op.getWindow();
    launchLanes(rw, loc, lanes, [&](Value lane) {
      Value i = arith::RemUIOp::create(rw, loc, lane, Lq);
      Value bh = arith::DivUIOp::create(rw, loc, lane, Lq);
      Value h = arith::RemUIOp::create(rw, loc, bh, H);
      Value b = arith::DivUIOp::create(rw, loc, bh, H);
      Value hk = arith::DivUIOp::create(rw, loc, h, group);
      // Visible keys [lo, hi): causal is bottom-right aligned.
      Value lo = cidx(rw, loc, 0), hi = Lk;
      if (causal) {
        Value pos = arith::SubIOp::create(
            rw, loc, arith::AddIOp::create(rw, loc, i, Lk), Lq); // i + Lk - Lq
        Value end = arith::AddIOp::create(rw, loc, pos, cidx(rw, loc, 1));
        hi = arith::MaxSIOp::create(rw, loc, cidx(rw, loc, 0),
                                    arith::MinSIOp::create(rw, loc, end, Lk));
        if (window)
          lo = arith::MaxSIOp::create(
              rw, loc, cidx(rw, loc, 0),
              arith::SubIOp::create(rw, loc, end, cidx(rw, loc, *window)));
      }
      Value acc = privateArray(rw, loc, dv);
      Value cdv = cidx(rw, loc, dv), cd = cidx(rw, loc, d);
      forEach(rw, loc, cdv, [&](OpBuilder &bb, Value c) {
        store32(bb, loc, cf32(bb, loc, 0), acc, ValueRange{c});
      });
      // Online softmax: running max m and normaliser l.
      auto keys = scf::ForOp::create(
          rw, loc, lo, hi, cidx(rw, loc, 1),
          ValueRange{cf32(rw, loc, -3.0e38), cf32(rw, loc, 0)},
          [&](OpBuilder &bb, Location l, Value j, ValueRange ml) {
            auto dot = scf::ForOp::create(
                bb, l, cidx(bb, l, 0), cd, cidx(bb, l, 1),
                ValueRange{cf32(bb, l, 0)},
                [&](OpBuilder &nb, Location nl, Value c, ValueRange s) {
                  Value qc = load32(nb, nl, q, ValueRange{b, h, i, c});
                  Value kc = load32(nb, nl, k, ValueRange{b, hk, j, c});
                  scf::YieldOp::create(nb, nl,
                                       ValueRange{math::FmaOp::create(nb, nl, qc, kc, s[0])});
                });
            Value score = arith::MulFOp::create(bb, l, dot.getResult(0),
                                                cf32(bb, l, scaleV));
            Value m = arith::MaximumFOp::create(bb, l, ml[0], score);
            Value corr = math::ExpOp::create(bb, l, arith::SubFOp::create(bb, l, ml[0], m));
            Value pj = math::ExpOp::create(bb, l, arith::SubFOp::create(bb, l, score, m));
            Value lsum = math::FmaOp::create(bb, l, ml[1], corr, pj);
            forEach(bb, l, cdv, [&](OpBuilder &cb, Value c) {
              Value a = load32(cb, l, acc, ValueRange{c});
              Value vc = load32(cb, l, v, ValueRange{b, hk, j, c});
              Value na = math::FmaOp::create(cb, l, a, corr,
                                             arith::MulFOp::create(cb, l, pj, vc));
              store32(cb, l, na, acc, ValueRange{c});
            });
            scf::YieldOp::create(bb, l, ValueRange{m, lsum});
          });
      Value lsum = keys.getResult(1);
      Value any = arith::CmpFOp::create(rw, loc, arith::CmpFPredicate::OGT, lsum,
                                        cf32(rw, loc, 0));
      Value inv = arith::SelectOp::create(
          rw, loc, any, arith::DivFOp::create(rw, loc, cf32(rw, loc, 1), lsum),
          cf32(rw, loc, 0));
      forEach(rw, loc, cdv, [&](OpBuilder &bb, Value c) {
        Value a = load32(bb, loc, acc, ValueRange{c});
        store32(bb, loc, arith::MulFOp::create(bb, loc, a, inv),
                                out, ValueRange{b, h, i, c});
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
