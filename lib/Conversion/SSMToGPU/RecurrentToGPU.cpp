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
    // Blocks: (batch, head) x blocks of 128 columns p.
    const int64_t T = tileSteps(N, 2);
    Value c1 = cidx(rw, loc, 1);
    // Divisors are at least 1: an empty problem runs one idle block.
    Value colBlocks = arith::MaxUIOp::create(
        rw, loc, arith::CeilDivUIOp::create(rw, loc, P, cidx(rw, loc, kBlock)), c1);
    Value BH = arith::MulIOp::create(rw, loc, Bsz, H);
    Value blocks = arith::MulIOp::create(rw, loc, colBlocks, BH);
    Value H1 = arith::MaxUIOp::create(rw, loc, H, c1);
    Value perGroup1 = arith::MaxUIOp::create(rw, loc, headsPerGroup, c1);
    Value cN = cidx(rw, loc, N), cT = cidx(rw, loc, T);
    Value c0 = cidx(rw, loc, 0);
    MLIRContext *ctx = rw.getContext();
    SmallVector<Type> shared = {sharedArrayType(ctx, T * N),
                                sharedArrayType(ctx, T * N),
                                sharedArrayType(ctx, T), sharedArrayType(ctx, T)};
    launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                              ValueRange sh) {
      Value sB = sh[0], sC = sh[1], sDt = sh[2], sDecay = sh[3];
      // Block-uniform coordinates; an idle block (the one block of an
      // empty problem) loads nothing.
      Value bh = arith::DivUIOp::create(rw, loc, bid, colBlocks);
      Value blockActive = arith::CmpIOp::create(
          rw, loc, arith::CmpIPredicate::ult, bh, BH);
      Value cb = arith::RemUIOp::create(rw, loc, bid, colBlocks);
      Value h = arith::RemUIOp::create(rw, loc, bh, H1);
      Value b = arith::DivUIOp::create(rw, loc, bh, H1);
      Value g = arith::DivUIOp::create(rw, loc, h, perGroup1);
      Value p = arith::AddIOp::create(
          rw, loc, arith::MulIOp::create(rw, loc, cb, cidx(rw, loc, kBlock)), tid);
      Value active = arith::AndIOp::create(
          rw, loc, blockActive,
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult, p, P));
      auto stateAt = [&](Value n) { return SmallVector<Value>{b, h, p, n}; };
      Value st = privateArray(rw, loc, N);
      ifThen(rw, loc, active, [&](OpBuilder &ab) {
        forEach(ab, loc, cN, [&](OpBuilder &bb, Value n) {
          Value init = h0 ? load32(bb, loc, h0, stateAt(n)) : cf32(bb, loc, 0);
          memref::StoreOp::create(bb, loc, init, st, ValueRange{n});
        });
      });
      // Tiles of T steps: the block stages B_t and C_t (shared by the
      // head's P columns) and the per-step dt and exp(dt * A) once, then
      // every column advances its state row through the tile.
      scf::ForOp::create(
          rw, loc, c0, L, cT, ValueRange{},
          [&](OpBuilder &tb, Location l, Value t0, ValueRange) {
            Value cnt = arith::MinUIOp::create(
                tb, l, cT, arith::SubIOp::create(tb, l, L, t0));
            ifThen(tb, l, blockActive, [&](OpBuilder &sb) {
              blockStrided(sb, l, tid, cidx(sb, l, T * N),
                           [&](OpBuilder &ib, Value idx) {
                Value tt = arith::DivUIOp::create(ib, l, idx, cN);
                Value n = arith::RemUIOp::create(ib, l, idx, cN);
                ifThen(ib, l,
                       arith::CmpIOp::create(ib, l, arith::CmpIPredicate::ult,
                                             tt, cnt),
                       [&](OpBuilder &lb) {
                  Value t = arith::AddIOp::create(lb, l, t0, tt);
                  memref::StoreOp::create(
                      lb, l, load32(lb, l, Bm, ValueRange{b, t, g, n}), sB, idx);
                  memref::StoreOp::create(
                      lb, l, load32(lb, l, Cm, ValueRange{b, t, g, n}), sC, idx);
                });
              });
              ifThen(sb, l,
                     arith::CmpIOp::create(sb, l, arith::CmpIPredicate::ult,
                                           tid, cnt),
                     [&](OpBuilder &db) {
                Value t = arith::AddIOp::create(db, l, t0, tid);
                Value d = load32(db, l, dt, ValueRange{b, t, h});
                if (bias)
                  d = arith::AddFOp::create(db, l, d,
                                            load32(db, l, bias, ValueRange{h}));
                if (op.getDtSoftplus())
                  d = softplus(db, l, d);
                Value a = load32(db, l, A, ValueRange{h});
                memref::StoreOp::create(db, l, d, sDt, tid);
                memref::StoreOp::create(
                    db, l, math::ExpOp::create(db, l, arith::MulFOp::create(db, l, d, a)),
                    sDecay, tid);
              });
            });
            barrier(tb, l);
            ifThen(tb, l, active, [&](OpBuilder &ab) {
              Value Dh = D ? load32(ab, l, D, ValueRange{h}) : Value();
              forEach(ab, l, cnt, [&](OpBuilder &bb, Value tt) {
                Value t = arith::AddIOp::create(bb, l, t0, tt);
                Value xv = load32(bb, l, x, ValueRange{b, t, h, p});
                Value d = memref::LoadOp::create(bb, l, sDt, tt);
                Value decay = memref::LoadOp::create(bb, l, sDecay, tt);
                Value dx = arith::MulFOp::create(bb, l, d, xv);
                Value row = arith::MulIOp::create(bb, l, tt, cN);
                auto loop = scf::ForOp::create(
                    bb, l, cidx(bb, l, 0), cN, cidx(bb, l, 1),
                    ValueRange{cf32(bb, l, 0)},
                    [&](OpBuilder &nb, Location nl, Value n, ValueRange acc) {
                      Value at = arith::AddIOp::create(nb, nl, row, n);
                      Value bn = memref::LoadOp::create(nb, nl, sB, at);
                      Value cn = memref::LoadOp::create(nb, nl, sC, at);
                      Value hn = memref::LoadOp::create(nb, nl, st, n);
                      Value upd = math::FmaOp::create(
                          nb, nl, decay, hn, arith::MulFOp::create(nb, nl, dx, bn));
                      memref::StoreOp::create(nb, nl, upd, st, n);
                      scf::YieldOp::create(
                          nb, nl, ValueRange{math::FmaOp::create(nb, nl, cn, upd, acc[0])});
                    });
                Value y = loop.getResult(0);
                if (Dh)
                  y = math::FmaOp::create(bb, l, Dh, xv, y);
                if (z)
                  y = arith::MulFOp::create(
                      bb, l, y, silu(bb, l, load32(bb, l, z, ValueRange{b, t, h, p})));
                store32(bb, l, y, out, ValueRange{b, t, h, p});
              });
            });
            // The next tile overwrites what this one reads.
            barrier(tb, l);
            scf::YieldOp::create(tb, l);
          });
      if (fin)
        ifThen(rw, loc, active, [&](OpBuilder &ab) {
          storeState(ab, loc, st, N, fin, stateAt);
        });
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
    // Blocks: (batch, head) x blocks of 128 value columns j. Per tile of T
    // steps the block stages phi(q) * scale, phi(k) and exp(gate) (per key
    // or per step) once in shared memory for all the head's columns.
    const int64_t T = tileSteps(K, perKey ? 3 : 2);
    Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1), cT = cidx(rw, loc, T);
    Value colBlocks = arith::MaxUIOp::create(
        rw, loc, arith::CeilDivUIOp::create(rw, loc, V, cidx(rw, loc, kBlock)), c1);
    Value BH = arith::MulIOp::create(rw, loc, Bsz, H);
    Value blocks = arith::MulIOp::create(rw, loc, colBlocks, BH);
    Value H1 = arith::MaxUIOp::create(rw, loc, H, c1);
    MLIRContext *ctx = rw.getContext();
    SmallVector<Type> shared = {sharedArrayType(ctx, T * K),
                                sharedArrayType(ctx, T * K),
                                sharedArrayType(ctx, perKey ? T * K : T)};
    launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                              ValueRange sh) {
      Value sQ = sh[0], sK = sh[1], sG = sh[2];
      Value bh = arith::DivUIOp::create(rw, loc, bid, colBlocks);
      Value blockActive = arith::CmpIOp::create(
          rw, loc, arith::CmpIPredicate::ult, bh, BH);
      Value cb = arith::RemUIOp::create(rw, loc, bid, colBlocks);
      Value h = arith::RemUIOp::create(rw, loc, bh, H1);
      Value b = arith::DivUIOp::create(rw, loc, bh, H1);
      Value j = arith::AddIOp::create(
          rw, loc, arith::MulIOp::create(rw, loc, cb, cidx(rw, loc, kBlock)), tid);
      Value active = arith::AndIOp::create(
          rw, loc, blockActive,
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult, j, V));
      auto stateAt = [&](Value i) { return SmallVector<Value>{b, h, i, j}; };
      Value s = privateArray(rw, loc, K);
      Value zs = op.getNormalize() ? privateArray(rw, loc, K) : Value();
      ifThen(rw, loc, active, [&](OpBuilder &ab) {
        forEach(ab, loc, cK, [&](OpBuilder &bb, Value i) {
          Value init = h0 ? load32(bb, loc, h0, stateAt(i)) : cf32(bb, loc, 0);
          memref::StoreOp::create(bb, loc, init, s, ValueRange{i});
          if (zs)
            memref::StoreOp::create(bb, loc, cf32(bb, loc, 0), zs, ValueRange{i});
        });
      });
      scf::ForOp::create(
          rw, loc, c0, L, cT, ValueRange{},
          [&](OpBuilder &tb, Location l, Value t0, ValueRange) {
            Value cnt = arith::MinUIOp::create(
                tb, l, cT, arith::SubIOp::create(tb, l, L, t0));
            ifThen(tb, l, blockActive, [&](OpBuilder &sb) {
              blockStrided(sb, l, tid, cidx(sb, l, T * K),
                           [&](OpBuilder &ib, Value idx) {
                Value tt = arith::DivUIOp::create(ib, l, idx, cK);
                Value i = arith::RemUIOp::create(ib, l, idx, cK);
                ifThen(ib, l,
                       arith::CmpIOp::create(ib, l, arith::CmpIPredicate::ult,
                                             tt, cnt),
                       [&](OpBuilder &lb) {
                  Value t = arith::AddIOp::create(lb, l, t0, tt);
                  Value qi = arith::MulFOp::create(
                      lb, l, cf32(lb, l, scaleV),
                      feature(lb, load32(lb, l, q, ValueRange{b, h, t, i})));
                  memref::StoreOp::create(lb, l, qi, sQ, idx);
                  memref::StoreOp::create(
                      lb, l, feature(lb, load32(lb, l, k, ValueRange{b, h, t, i})),
                      sK, idx);
                  if (perKey)
                    memref::StoreOp::create(
                        lb, l,
                        math::ExpOp::create(
                            lb, l, load32(lb, l, gate, ValueRange{b, h, t, i})),
                        sG, idx);
                });
              });
              if (gate && !perKey)
                ifThen(sb, l,
                       arith::CmpIOp::create(sb, l, arith::CmpIPredicate::ult,
                                             tid, cnt),
                       [&](OpBuilder &gb) {
                  Value t = arith::AddIOp::create(gb, l, t0, tid);
                  memref::StoreOp::create(
                      gb, l,
                      math::ExpOp::create(gb, l,
                                          load32(gb, l, gate, ValueRange{b, h, t})),
                      sG, tid);
                });
            });
            barrier(tb, l);
            ifThen(tb, l, active, [&](OpBuilder &ab) {
              forEach(ab, l, cnt, [&](OpBuilder &bb, Value tt) {
                Value t = arith::AddIOp::create(bb, l, t0, tt);
                Value vj = load32(bb, l, v, ValueRange{b, h, t, j});
                Value gStep;
                if (gate && !perKey)
                  gStep = memref::LoadOp::create(bb, l, sG, tt);
                Value row = arith::MulIOp::create(bb, l, tt, cK);
                auto loop = scf::ForOp::create(
                    bb, l, c0, cK, c1,
                    ValueRange{cf32(bb, l, 0), cf32(bb, l, 0)},
                    [&](OpBuilder &nb, Location nl, Value i, ValueRange acc) {
                      Value at = arith::AddIOp::create(nb, nl, row, i);
                      Value qi = memref::LoadOp::create(nb, nl, sQ, at);
                      Value ki = memref::LoadOp::create(nb, nl, sK, at);
                      Value gi = gStep;
                      if (perKey)
                        gi = memref::LoadOp::create(nb, nl, sG, at);
                      Value si = memref::LoadOp::create(nb, nl, s, i);
                      Value kv = arith::MulFOp::create(nb, nl, ki, vj);
                      Value ns = gi ? math::FmaOp::create(nb, nl, gi, si, kv).getResult()
                                    : arith::AddFOp::create(nb, nl, si, kv).getResult();
                      memref::StoreOp::create(nb, nl, ns, s, i);
                      Value o = math::FmaOp::create(nb, nl, ns, qi, acc[0]);
                      Value den = acc[1];
                      if (zs) {
                        Value zi = memref::LoadOp::create(nb, nl, zs, i);
                        Value nz = gi ? math::FmaOp::create(nb, nl, gi, zi, ki).getResult()
                                      : arith::AddFOp::create(nb, nl, zi, ki).getResult();
                        memref::StoreOp::create(nb, nl, nz, zs, i);
                        den = math::FmaOp::create(nb, nl, nz, qi, den);
                      }
                      scf::YieldOp::create(nb, nl, ValueRange{o, den});
                    });
                Value o = loop.getResult(0);
                if (zs)
                  o = arith::DivFOp::create(bb, l, o, loop.getResult(1));
                store32(bb, l, o, out, ValueRange{b, h, t, j});
              });
            });
            barrier(tb, l);
            scf::YieldOp::create(tb, l);
          });
      if (fin)
        ifThen(rw, loc, active, [&](OpBuilder &ab) {
          storeState(ab, loc, s, K, fin, stateAt);
        });
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
      auto [lo, hi] = range(rw, i);
      Value blo = range(rw, qFirst).first, bhi = range(rw, qLast).second;
      bhi = arith::MaxSIOp::create(rw, loc, blo, bhi);

      Value qv = privateArray(rw, loc, d), acc = privateArray(rw, loc, dv);
      Value scores = privateArray(rw, loc, Tk);
      ifThen(rw, loc, active, [&](OpBuilder &ab) {
        forEach(ab, loc, cd, [&](OpBuilder &bb, Value c) {
          Value qc = arith::MulFOp::create(
              bb, loc, load32(bb, loc, q, ValueRange{b, h, i, c}),
              cf32(bb, loc, scaleV));
          memref::StoreOp::create(bb, loc, qc, qv, c);
        });
        forEach(ab, loc, cdv, [&](OpBuilder &bb, Value c) {
          memref::StoreOp::create(bb, loc, cf32(bb, loc, 0), acc, c);
        });
      });
      // Online softmax over key tiles: running max m and normaliser l.
      auto tiles = scf::ForOp::create(
          rw, loc, blo, bhi, cTk,
          ValueRange{cf32(rw, loc, -3.0e38), cf32(rw, loc, 0)},
          [&](OpBuilder &tb, Location l, Value j0, ValueRange ml) {
            Value cnt = arith::MinUIOp::create(
                tb, l, cTk, arith::SubIOp::create(tb, l, bhi, j0));
            auto stage = [&](OpBuilder &sb, Value from, Value to, int64_t w) {
              Value cw = cidx(sb, l, w);
              blockStrided(sb, l, tid, cidx(sb, l, Tk * w),
                           [&](OpBuilder &ib, Value idx) {
                Value jj = arith::DivUIOp::create(ib, l, idx, cw);
                Value c = arith::RemUIOp::create(ib, l, idx, cw);
                ifThen(ib, l,
                       arith::CmpIOp::create(ib, l, arith::CmpIPredicate::ult,
                                             jj, cnt),
                       [&](OpBuilder &lb) {
                  Value j = arith::AddIOp::create(lb, l, j0, jj);
                  memref::StoreOp::create(
                      lb, l, load32(lb, l, from, ValueRange{b, hk, j, c}), to, idx);
                });
              });
            };
            ifThen(tb, l, blockActive, [&](OpBuilder &sb) {
              stage(sb, k, sK, d);
              stage(sb, v, sV, dv);
            });
            barrier(tb, l);
            SmallVector<Type> f2(2, tb.getF32Type());
            auto upd = scf::IfOp::create(tb, l, f2, active, true);
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
                    Value row = arith::MulIOp::create(bb, bl, jj, cd);
                    auto dot = scf::ForOp::create(
                        bb, bl, c0, cd, c1, ValueRange{cf32(bb, bl, 0)},
                        [&](OpBuilder &nb, Location nl, Value c, ValueRange sacc) {
                          Value qc = memref::LoadOp::create(nb, nl, qv, c);
                          Value kc = memref::LoadOp::create(
                              nb, nl, sK, ValueRange{arith::AddIOp::create(nb, nl, row, c)});
                          scf::YieldOp::create(
                              nb, nl, ValueRange{math::FmaOp::create(nb, nl, qc, kc, sacc[0])});
                        });
                    Value sc = dot.getResult(0);
                    memref::StoreOp::create(bb, bl, sc, scores, jj);
                    scf::YieldOp::create(
                        bb, bl, ValueRange{arith::MaximumFOp::create(bb, bl, mt[0], sc)});
                  });
              Value mNew = arith::MaximumFOp::create(tb, l, ml[0], maxLoop.getResult(0));
              Value corr = math::ExpOp::create(tb, l, arith::SubFOp::create(tb, l, ml[0], mNew));
              forEach(tb, l, cdv, [&](OpBuilder &cb, Value c) {
                Value a = memref::LoadOp::create(cb, l, acc, c);
                memref::StoreOp::create(cb, l, arith::MulFOp::create(cb, l, a, corr), acc, c);
              });
              auto sumLoop = scf::ForOp::create(
                  tb, l, a0, a1, c1, ValueRange{arith::MulFOp::create(tb, l, ml[1], corr)},
                  [&](OpBuilder &bb, Location bl, Value jj, ValueRange lsum) {
                    Value sc = memref::LoadOp::create(bb, bl, scores, jj);
                    Value pj = math::ExpOp::create(bb, bl, arith::SubFOp::create(bb, bl, sc, mNew));
                    Value row = arith::MulIOp::create(bb, bl, jj, cdv);
                    forEach(bb, bl, cdv, [&](OpBuilder &cb, Value c) {
                      Value a = memref::LoadOp::create(cb, bl, acc, c);
                      Value vc = memref::LoadOp::create(
                          cb, bl, sV, ValueRange{arith::AddIOp::create(cb, bl, row, c)});
                      memref::StoreOp::create(cb, bl, math::FmaOp::create(cb, bl, pj, vc, a), acc, c);
                    });
                    scf::YieldOp::create(bb, bl, ValueRange{arith::AddFOp::create(bb, bl, lsum[0], pj)});
                  });
              scf::YieldOp::create(tb, l, ValueRange{mNew, sumLoop.getResult(0)});
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
        forEach(ab, loc, cdv, [&](OpBuilder &bb, Value c) {
          Value a = memref::LoadOp::create(bb, loc, acc, c);
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
