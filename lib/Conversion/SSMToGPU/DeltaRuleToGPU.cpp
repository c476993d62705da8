//===- DeltaRuleToGPU.cpp - ssm.delta_rule as a recurrent kernel ----------===//
//
// Every value column j of a head's state S [K, V] evolves on its own: the
// delta forms update it as
//   s_j <- w * s_j + k~ (beta (v_j - k~ . (w * s_j)))
// and the DPLR form as
//   s_j <- w * s_j + b (a . s_j) + k~ v_j
// (w = exp(gate) per step or per key), so each step needs one K-long dot
// product per column before the update and one (q~ . s_j) after it. The
// kernel:
//  - a block of 128 threads per (sequence, value head, tile of Vt value
//    columns); the tile's state S[:, tile] lives in shared memory
//    ([K, Vt], column c at offset c of each row), the block's threads form
//    P = 128 / Vt parts per column, part p owning rows p, p + P, ...;
//  - per step the block stages q, k (and the per-key gate exp(gate), a, b)
//    of the step in shared memory, l2-normalises q and k when asked (two
//    threads of different warps sum the squares), a barrier;
//  - every thread computes its rows' share of the column's dot product
//    (k~ . w s or a . s) into shared memory, a barrier, sums the P shares,
//    updates its rows and leaves its share of q~ . s_j in shared memory, a
//    barrier; part 0 sums those and writes out[b, t, h, j];
//  - packed sequences (cu_seqlens) give each block its sequence's steps;
//    h0 / final_state are read / written by the thread owning each entry.
// Vt (a power of two <= 16, at most the next power of two of a static V)
// is the largest whose shared arrays fit the static shared-memory budget
// (KernelBudget) for the op's K; the state sits in shared memory, so a
// thread's registers do not grow with K. f32/f16/bf16 operands, static K
// in [1, 256]; other forms stay on the CPU lowering. ssm.delta_rule_step
// reaches this kernel as ssm.delta_rule with T = 1 (ssm-decompose-steps).
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
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

/// The tiling of one ssm.delta_rule: Vt value columns per block, P parts
/// per column, `vectors` staged K-vectors per step.
struct DeltaRulePlan {
  int64_t K = 1, cols = 1, parts = kBlock, vectors = 2;
  bool l2norm = false;

  /// A thread's registers: indices, a few f32 accumulators and the
  /// addresses of the operands; the state is in shared memory, so this
  /// does not depend on K or Vt.
  static constexpr int64_t kRegisterEstimate = 64;

  /// f32 values of shared memory: the state tile, the step's vectors, two
  /// arrays of per-thread shares and the two inverse norms.
  int64_t sharedFloats() const {
    return K * cols + vectors * K + 2 * kBlock + 2;
  }

  static std::optional<DeltaRulePlan> choose(int64_t K, int64_t V,
                                             int64_t vectors, bool l2norm) {
    int64_t start = 16;
    if (V > 0)
      start = std::min<int64_t>(16, llvm::PowerOf2Ceil(V));
    SmallVector<int64_t> candidates;
    for (int64_t c = start; c >= 1; c /= 2)
      candidates.push_back(c);
    KernelBudget budget;
    DeltaRulePlan plan;
    plan.K = K, plan.vectors = vectors, plan.l2norm = l2norm;
    std::optional<int64_t> cols = pickTile(candidates, [&](int64_t c) {
      DeltaRulePlan p = plan;
      p.cols = c;
      return KernelBudget::sharedFits(p.sharedFloats()) &&
             budget.registersFit(kRegisterEstimate);
    });
    if (!cols)
      return std::nullopt;
    plan.cols = *cols;
    plan.parts = kBlock / *cols;
    return plan;
  }
};

class DeltaRuleKernel {
public:
  DeltaRuleKernel(ssm::DeltaRuleOp op, PatternRewriter &rw,
                  const DeltaRulePlan &plan)
      : op(op), rw(rw), loc(op.getLoc()), plan(plan),
        scale(op.getScale() ? op.getScale()->convertToDouble()
                            : 1.0 / std::sqrt(double(plan.K))),
        dplr(op.getA() != nullptr) {}

  void run() {
    loadOperands();
    allocResults();
    emitLaunch();
    replaceWithBuffers(rw, loc, op, out, fin);
  }

private:
  /// Where a thread is and what it reads every step.
  struct Thread {
    Value seq, h, hk, bi, c, p, j, live, jc;
  };
  /// The shared arrays.
  struct Shared {
    Value state, q, k, g, a, b, share, outShare, norms;
  };

  void loadOperands();
  void allocResults();
  void emitLaunch();
  /// The block's (sequence, head, tile) and the thread's column and part.
  Thread locate(OpBuilder &b, Value bid, Value tid);
  /// S[:, tile] <- h0 (or zero).
  void initState(OpBuilder &b, const Thread &th, const Shared &sh);
  /// q, k (exp(gate) per key, a, b) of step t into shared memory; with
  /// l2norm the inverse norms of q and k.
  void stageStep(OpBuilder &b, const Thread &th, const Shared &sh, Value tid,
                 Value t);
  /// The thread's share of k~ . (w s) (delta forms) or a . s (DPLR).
  void predict(OpBuilder &b, const Thread &th, const Shared &sh, Value t);
  /// The column update of the thread's rows and its share of q~ . s.
  void update(OpBuilder &b, const Thread &th, const Shared &sh, Value t);
  /// Part 0 writes out[bi, t, h, j].
  void writeOut(OpBuilder &b, const Thread &th, const Shared &sh, Value t);
  void storeFinal(OpBuilder &b, const Thread &th, const Shared &sh);

  /// for (i = p; i < K; i += P) body(i), with loop-carried f32 values.
  SmallVector<Value>
  forRows(OpBuilder &b, const Thread &th, ValueRange init,
          llvm::function_ref<SmallVector<Value>(OpBuilder &, Value,
                                                ValueRange)>
              body);
  /// Sum over the P parts of column c of a share array.
  Value sumShares(OpBuilder &b, const Thread &th, Value shares);
  /// exp(gate) of row i at step t (1 without a gate).
  Value decayAt(OpBuilder &b, const Thread &th, const Shared &sh, Value t,
                Value i);
  Value stateAt(OpBuilder &b, const Thread &th, Value i) {
    return arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, i, cidx(b, loc, plan.cols)),
        th.c);
  }
  Value normOf(OpBuilder &b, const Shared &sh, int64_t which) {
    return memref::LoadOp::create(b, loc, sh.norms,
                                  ValueRange{cidx(b, loc, which)});
  }

  ssm::DeltaRuleOp op;
  PatternRewriter &rw;
  Location loc;
  const DeltaRulePlan plan;
  const double scale;
  const bool dplr;
  bool perKeyGate = false;
  Value stepDecay; ///< exp(gate) of the current step (gate per step)
  Value q, k, v, beta, gate, a, bv, h0, cu; ///< operand buffers
  Value Bsz, T, Hk, H, V, S;                ///< sizes (S: sequences)
  Value out, fin;                           ///< result buffers
};

void DeltaRuleKernel::loadOperands() {
  q = toBuffer(rw, loc, op.getQ());
  k = toBuffer(rw, loc, op.getK());
  v = toBuffer(rw, loc, op.getV());
  beta = toBuffer(rw, loc, op.getBeta());
  gate = toBuffer(rw, loc, op.getGate());
  a = toBuffer(rw, loc, op.getA());
  bv = toBuffer(rw, loc, op.getB());
  h0 = toBuffer(rw, loc, op.getH0());
  cu = toBuffer(rw, loc, op.getCuSeqlens());
  perKeyGate = gate && cast<MemRefType>(gate.getType()).getRank() == 4;
  Bsz = dimOf(rw, loc, q, 0);
  T = dimOf(rw, loc, q, 1);
  Hk = dimOf(rw, loc, q, 2);
  H = dimOf(rw, loc, v, 2);
  V = dimOf(rw, loc, v, 3);
  S = cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, cu, 0),
                                 cidx(rw, loc, 1))
               .getResult()
         : Bsz;
}

void DeltaRuleKernel::allocResults() {
  out = allocLike(rw, loc, op.getOut().getType(), {Bsz, T, H, V});
  if (op.getFinalState())
    fin = allocLike(rw, loc, op.getFinalState().getType(),
                    {S, H, cidx(rw, loc, plan.K), V});
}

DeltaRuleKernel::Thread DeltaRuleKernel::locate(OpBuilder &b, Value bid,
                                                Value tid) {
  Thread th;
  Value cCols = cidx(b, loc, plan.cols), c1 = cidx(b, loc, 1);
  Value tiles = arith::CeilDivUIOp::create(b, loc, V, cCols);
  Value tile = arith::RemUIOp::create(b, loc, bid, tiles);
  Value rest = arith::DivUIOp::create(b, loc, bid, tiles);
  th.h = arith::RemUIOp::create(b, loc, rest, H);
  th.seq = arith::DivUIOp::create(b, loc, rest, H);
  Value group = arith::MaxUIOp::create(
      b, loc, arith::DivUIOp::create(b, loc, H, Hk), c1);
  th.hk = arith::DivUIOp::create(b, loc, th.h, group);
  th.bi = cu ? cidx(b, loc, 0) : th.seq;
  th.c = arith::RemUIOp::create(b, loc, tid, cCols);
  th.p = arith::DivUIOp::create(b, loc, tid, cCols);
  th.j = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, tile, cCols), th.c);
  th.live = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, th.j, V);
  return th;
}

SmallVector<Value> DeltaRuleKernel::forRows(
    OpBuilder &b, const Thread &th, ValueRange init,
    llvm::function_ref<SmallVector<Value>(OpBuilder &, Value, ValueRange)>
        body) {
  auto loop = scf::ForOp::create(
      b, loc, th.p, cidx(b, loc, plan.K), cidx(b, loc, plan.parts), init,
      [&](OpBuilder &lb, Location l, Value i, ValueRange acc) {
        scf::YieldOp::create(lb, l, body(lb, i, acc));
      });
  return SmallVector<Value>(loop.getResults().begin(), loop.getResults().end());
}

Value DeltaRuleKernel::sumShares(OpBuilder &b, const Thread &th,
                                 Value shares) {
  Value cCols = cidx(b, loc, plan.cols);
  auto loop = scf::ForOp::create(
      b, loc, cidx(b, loc, 0), cidx(b, loc, plan.parts), cidx(b, loc, 1),
      ValueRange{cf32(b, loc, 0)},
      [&](OpBuilder &lb, Location l, Value pp, ValueRange acc) {
        Value at = arith::AddIOp::create(
            lb, l, arith::MulIOp::create(lb, l, pp, cCols), th.c);
        Value x = memref::LoadOp::create(lb, l, shares, at);
        scf::YieldOp::create(lb, l,
                             ValueRange{arith::AddFOp::create(lb, l, acc[0], x)});
      });
  return loop.getResult(0);
}

Value DeltaRuleKernel::decayAt(OpBuilder &b, const Thread &th,
                               const Shared &sh, Value t, Value i) {
  if (!gate)
    return cf32(b, loc, 1);
  if (perKeyGate)
    return memref::LoadOp::create(b, loc, sh.g, i);
  return stepDecay;
}

void DeltaRuleKernel::initState(OpBuilder &b, const Thread &th,
                                const Shared &sh) {
  forRows(b, th, {}, [&](OpBuilder &lb, Value i, ValueRange) {
    Value s0 = cf32(lb, loc, 0);
    if (h0)
      s0 = valuesIf(lb, loc, th.live, ValueRange{s0}, [&](OpBuilder &ib) {
             return SmallVector<Value>{
                 load32(ib, loc, h0, ValueRange{th.seq, th.h, i, th.j})};
           })[0];
    memref::StoreOp::create(lb, loc, s0, sh.state, stateAt(lb, th, i));
    return SmallVector<Value>{};
  });
}

void DeltaRuleKernel::stageStep(OpBuilder &b, const Thread &th,
                                const Shared &sh, Value tid, Value t) {
  blockStrided(b, loc, tid, cidx(b, loc, plan.K), [&](OpBuilder &lb, Value i) {
    SmallVector<Value, 4> qkAt{th.bi, t, th.hk, i};
    SmallVector<Value, 4> hAt{th.bi, t, th.h, i};
    memref::StoreOp::create(lb, loc, load32(lb, loc, q, qkAt), sh.q, i);
    memref::StoreOp::create(lb, loc, load32(lb, loc, k, qkAt), sh.k, i);
    if (perKeyGate)
      memref::StoreOp::create(
          lb, loc, math::ExpOp::create(lb, loc, load32(lb, loc, gate, hAt)),
          sh.g, i);
    if (dplr) {
      memref::StoreOp::create(lb, loc, load32(lb, loc, a, hAt), sh.a, i);
      memref::StoreOp::create(lb, loc, load32(lb, loc, bv, hAt), sh.b, i);
    }
  });
  if (!plan.l2norm)
    return;
  barrier(b, loc);
  // Threads 0 and 32 (two warps) sum the squares of q and k.
  for (int64_t which = 0; which < 2; ++which) {
    Value mine = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, tid,
                                       cidx(b, loc, 32 * which));
    ifThen(b, loc, mine, [&](OpBuilder &ib) {
      Value src = which == 0 ? sh.q : sh.k;
      auto loop = scf::ForOp::create(
          ib, loc, cidx(ib, loc, 0), cidx(ib, loc, plan.K), cidx(ib, loc, 1),
          ValueRange{cf32(ib, loc, 0)},
          [&](OpBuilder &lb, Location l, Value i, ValueRange acc) {
            Value x = memref::LoadOp::create(lb, l, src, i);
            scf::YieldOp::create(lb, l,
                                 ValueRange{math::FmaOp::create(lb, l, x, x, acc[0])});
          });
      // fla's x / sqrt(sum x^2 + 1e-6) (sqrt, not rsqrt: sqrt maps to the
      // hardware instruction, rsqrt to a libdevice call ssmc does not link).
      Value inv = arith::DivFOp::create(
          ib, loc, cf32(ib, loc, 1),
          math::SqrtOp::create(
              ib, loc,
              arith::AddFOp::create(ib, loc, loop.getResult(0),
                                    cf32(ib, loc, 1e-6))));
      memref::StoreOp::create(ib, loc, inv, sh.norms,
                              ValueRange{cidx(ib, loc, which)});
    });
  }
}

void DeltaRuleKernel::predict(OpBuilder &b, const Thread &th,
                              const Shared &sh, Value t) {
  Value share =
      forRows(b, th, ValueRange{cf32(b, loc, 0)},
              [&](OpBuilder &lb, Value i, ValueRange acc) {
                Value s = memref::LoadOp::create(lb, loc, sh.state,
                                                 stateAt(lb, th, i));
                Value coef;
                if (dplr) {
                  coef = memref::LoadOp::create(lb, loc, sh.a, i);
                } else {
                  coef = arith::MulFOp::create(
                      lb, loc, memref::LoadOp::create(lb, loc, sh.k, i),
                      decayAt(lb, th, sh, t, i));
                }
                return SmallVector<Value>{
                    math::FmaOp::create(lb, loc, coef, s, acc[0])};
              })[0];
  Value at = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, th.p, cidx(b, loc, plan.cols)),
      th.c);
  memref::StoreOp::create(b, loc, share, sh.share, at);
}

void DeltaRuleKernel::update(OpBuilder &b, const Thread &th, const Shared &sh,
                             Value t) {
  Value dot = sumShares(b, th, sh.share);
  // k~ = k * rk (rk = 1 without l2norm); the same for q~ with the scale.
  Value rk = plan.l2norm ? normOf(b, sh, 1) : cf32(b, loc, 1);
  Value rq = arith::MulFOp::create(
      b, loc, plan.l2norm ? normOf(b, sh, 0) : cf32(b, loc, 1),
      cf32(b, loc, scale));
  Value vj = valuesIf(b, loc, th.live, ValueRange{cf32(b, loc, 0)},
                      [&](OpBuilder &ib) {
                        return SmallVector<Value>{load32(
                            ib, loc, v, ValueRange{th.bi, t, th.h, th.j})};
                      })[0];
  // Delta forms: s += k~ u with u = beta (v_j - k~ . w s) (the k-norm
  // enters the dot product once here, and once more through k~ below).
  // DPLR: s += b (a . s) + k~ v_j.
  Value lowRank, kTerm;
  if (dplr) {
    lowRank = dot;
    kTerm = arith::MulFOp::create(b, loc, vj, rk);
  } else {
    Value betaT = load32(b, loc, beta, ValueRange{th.bi, t, th.h});
    Value pred = arith::MulFOp::create(b, loc, dot, rk);
    Value u = arith::MulFOp::create(
        b, loc, betaT, arith::SubFOp::create(b, loc, vj, pred));
    kTerm = arith::MulFOp::create(b, loc, u, rk);
  }
  Value share =
      forRows(b, th, ValueRange{cf32(b, loc, 0)},
              [&](OpBuilder &lb, Value i, ValueRange acc) {
                Value at = stateAt(lb, th, i);
                Value s = memref::LoadOp::create(lb, loc, sh.state, at);
                Value w = decayAt(lb, th, sh, t, i);
                Value ki = memref::LoadOp::create(lb, loc, sh.k, i);
                Value next = math::FmaOp::create(
                    lb, loc, ki, kTerm, arith::MulFOp::create(lb, loc, w, s));
                if (dplr)
                  next = math::FmaOp::create(
                      lb, loc, memref::LoadOp::create(lb, loc, sh.b, i),
                      lowRank, next);
                memref::StoreOp::create(lb, loc, next, sh.state, at);
                Value qi = memref::LoadOp::create(lb, loc, sh.q, i);
                return SmallVector<Value>{
                    math::FmaOp::create(lb, loc, qi, next, acc[0])};
              })[0];
  share = arith::MulFOp::create(b, loc, share, rq);
  Value at = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, th.p, cidx(b, loc, plan.cols)),
      th.c);
  memref::StoreOp::create(b, loc, share, sh.outShare, at);
}

void DeltaRuleKernel::writeOut(OpBuilder &b, const Thread &th,
                               const Shared &sh, Value t) {
  Value first = arith::AndIOp::create(
      b, loc, th.live,
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, th.p,
                            cidx(b, loc, 0)));
  ifThen(b, loc, first, [&](OpBuilder &ib) {
    store32(ib, loc, sumShares(ib, th, sh.outShare), out,
            ValueRange{th.bi, t, th.h, th.j});
  });
}

void DeltaRuleKernel::storeFinal(OpBuilder &b, const Thread &th,
                                 const Shared &sh) {
  ifThen(b, loc, th.live, [&](OpBuilder &ib) {
    forRows(ib, th, {}, [&](OpBuilder &lb, Value i, ValueRange) {
      Value s = memref::LoadOp::create(lb, loc, sh.state, stateAt(lb, th, i));
      store32(lb, loc, s, fin, ValueRange{th.seq, th.h, i, th.j});
      return SmallVector<Value>{};
    });
  });
}

void DeltaRuleKernel::emitLaunch() {
  MLIRContext *ctx = rw.getContext();
  const int64_t K = plan.K;
  SmallVector<Type> shared = {sharedArrayType(ctx, K * plan.cols),
                              sharedArrayType(ctx, K),
                              sharedArrayType(ctx, K),
                              sharedArrayType(ctx, kBlock),
                              sharedArrayType(ctx, kBlock),
                              sharedArrayType(ctx, 2)};
  if (perKeyGate)
    shared.push_back(sharedArrayType(ctx, K));
  if (dplr) {
    shared.push_back(sharedArrayType(ctx, K));
    shared.push_back(sharedArrayType(ctx, K));
  }
  Value tiles =
      arith::CeilDivUIOp::create(rw, loc, V, cidx(rw, loc, plan.cols));
  Value blocks = arith::MulIOp::create(
      rw, loc, arith::MulIOp::create(rw, loc, S, H), tiles);
  launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                            ValueRange arrays) {
    Shared sh;
    sh.state = arrays[0], sh.q = arrays[1], sh.k = arrays[2];
    sh.share = arrays[3], sh.outShare = arrays[4], sh.norms = arrays[5];
    size_t next = 6;
    if (perKeyGate)
      sh.g = arrays[next++];
    if (dplr) {
      sh.a = arrays[next++];
      sh.b = arrays[next++];
    }
    // With no work (blocks == 0) the launch still runs one block: it skips
    // everything (the condition is the same for the whole block).
    Value real =
        arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult, bid, blocks);
    ifThen(rw, loc, real, [&](OpBuilder &b) {
      Thread th = locate(b, bid, tid);
      initState(b, th, sh);
      Value begin = cidx(b, loc, 0), end = T;
      if (cu) {
        auto indexAt = [&](Value at) {
          return arith::IndexCastOp::create(
              b, loc, b.getIndexType(),
              memref::LoadOp::create(b, loc, cu, at));
        };
        begin = indexAt(th.seq);
        end = indexAt(arith::AddIOp::create(b, loc, th.seq, cidx(b, loc, 1)));
      }
      scf::ForOp::create(
          b, loc, begin, end, cidx(b, loc, 1), ValueRange{},
          [&](OpBuilder &sb, Location, Value t, ValueRange) {
            if (gate && !perKeyGate)
              stepDecay = math::ExpOp::create(
                  sb, loc, load32(sb, loc, gate, ValueRange{th.bi, t, th.h}));
            stageStep(sb, th, sh, tid, t);
            barrier(sb, loc);
            predict(sb, th, sh, t);
            barrier(sb, loc);
            update(sb, th, sh, t);
            barrier(sb, loc);
            writeOut(sb, th, sh, t);
            scf::YieldOp::create(sb, loc);
          });
      if (fin)
        storeFinal(b, th, sh);
    });
  });
}

struct DeltaRuleToGPU : OpRewritePattern<ssm::DeltaRuleOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::DeltaRuleOp op,
                                PatternRewriter &rw) const override {
    for (Value x : op->getOperands()) {
      if (x == op.getCuSeqlens())
        continue;
      Type e = getElementTypeOrSelf(x.getType());
      if (!e.isF32() && !e.isF16() && !e.isBF16())
        return rw.notifyMatchFailure(
            op, "the GPU kernel takes f32, f16 or bf16 operands (f64 stays on the host)");
    }
    auto qTy = op.getQ().getType();
    if (qTy.isDynamicDim(3) || qTy.getDimSize(3) < 1 ||
        qTy.getDimSize(3) > 256)
      return rw.notifyMatchFailure(op, "needs a static key size K in [1, 256]");
    auto vTy = op.getV().getType();
    int64_t V = vTy.isDynamicDim(3) ? -1 : vTy.getDimSize(3);
    bool perKey = op.getGate() && op.getGate().getType().getRank() == 4;
    int64_t vectors = 2 + (perKey ? 1 : 0) + (op.getA() ? 2 : 0);
    std::optional<DeltaRulePlan> plan = DeltaRulePlan::choose(
        qTy.getDimSize(3), V, vectors, op.getUseQkL2norm());
    if (!plan)
      return rw.notifyMatchFailure(
          op, "K too large for the kernel's shared-memory budget");
    DeltaRuleKernel(op, rw, *plan).run();
    return success();
  }
};

} // namespace

void ssmc::populateDeltaRuleToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<DeltaRuleToGPU>(patterns.getContext());
}
