//===- DeltaRuleToGPU.cpp - ssm.delta_rule as GPU kernels -----------------===//
//
// Two kernels, for every form: the recurrent one below, and the chunked
// one (ChunkedDeltaKernel: fla's chunk_gated_delta_rule for the delta
// forms, chunk_dplr_delta_rule for the DPLR form) at a static T >=
// kMinChunkedLen, a dynamic T or a chunk_size > 0. DeltaRuleLaunch holds
// what they share: the operands, the results and the blocks' places.
//
// The recurrent kernel.
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

/// What both kernels share: the op's operand buffers and sizes, the
/// effective scale, the result buffers, and where a block of the grid
/// (sequence, value head, tile of value columns) and its steps lie.
class DeltaRuleLaunch {
protected:
  DeltaRuleLaunch(ssm::DeltaRuleOp op, PatternRewriter &rw, int64_t K)
      : op(op), rw(rw), loc(op.getLoc()), K(K),
        scale(op.getScale() ? op.getScale()->convertToDouble()
                            : 1.0 / std::sqrt(double(K))),
        dplr(op.isDPLR()), perKeyGate(op.hasKeyGate()) {}

  /// The operand buffers and sizes, then the result buffers.
  void setUp() {
    q = toBuffer(rw, loc, op.getQ());
    k = toBuffer(rw, loc, op.getK());
    v = toBuffer(rw, loc, op.getV());
    beta = toBuffer(rw, loc, op.getBeta());
    gate = toBuffer(rw, loc, op.getGate());
    a = toBuffer(rw, loc, op.getA());
    bv = toBuffer(rw, loc, op.getB());
    h0 = toBuffer(rw, loc, op.getH0());
    cu = toBuffer(rw, loc, op.getCuSeqlens());
    SequenceDims qd = sequenceDims(rw, loc, q); // width: the static K
    Bsz = qd.batch, T = qd.steps, Hk = qd.heads;
    H = dimOf(rw, loc, v, 2);
    V = dimOf(rw, loc, v, 3);
    S = cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, cu, 0),
                                   cidx(rw, loc, 1))
                 .getResult()
           : Bsz;
    out = allocLike(rw, loc, op.getOut().getType(), {Bsz, T, H, V});
    if (op.getFinalState())
      fin = allocLike(rw, loc, op.getFinalState().getType(),
                      {S, H, cidx(rw, loc, K), V});
  }

  /// The grid: one block per (sequence, value head, tile of `cols` value
  /// columns).
  Value blockCount(int64_t cols) {
    Value tiles = arith::CeilDivUIOp::create(rw, loc, V, cidx(rw, loc, cols));
    return arith::MulIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, S, H), tiles);
  }

  /// Block `bid`'s place: its sequence, value head, query/key head, batch
  /// row (0 for packed sequences) and tile.
  struct Block {
    Value seq, h, hk, bi, tile;
  };
  Block locateBlock(OpBuilder &b, Value bid, int64_t cols) {
    Block bl;
    Value c1 = cidx(b, loc, 1);
    Value tiles = arith::CeilDivUIOp::create(b, loc, V, cidx(b, loc, cols));
    bl.tile = arith::RemUIOp::create(b, loc, bid, tiles);
    Value rest = arith::DivUIOp::create(b, loc, bid, tiles);
    bl.h = arith::RemUIOp::create(b, loc, rest, H);
    bl.seq = arith::DivUIOp::create(b, loc, rest, H);
    Value group = arith::MaxUIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, H, Hk), c1);
    bl.hk = arith::DivUIOp::create(b, loc, bl.h, group);
    bl.bi = cu ? cidx(b, loc, 0) : bl.seq;
    return bl;
  }

  /// [begin, end) of sequence `seq`'s steps: [0, T), or cu_seqlens'.
  std::pair<Value, Value> stepRange(OpBuilder &b, Value seq) {
    if (!cu)
      return {cidx(b, loc, 0), T};
    auto indexAt = [&](Value at) {
      return arith::IndexCastOp::create(b, loc, b.getIndexType(),
                                        memref::LoadOp::create(b, loc, cu, at))
          .getResult();
    };
    return {indexAt(seq),
            indexAt(arith::AddIOp::create(b, loc, seq, cidx(b, loc, 1)))};
  }

  ssm::DeltaRuleOp op;
  PatternRewriter &rw;
  Location loc;
  const int64_t K;
  const double scale;
  const bool dplr, perKeyGate;
  Value q, k, v, beta, gate, a, bv, h0, cu; ///< operand buffers
  Value Bsz, T, Hk, H, V, S;                ///< sizes (S: sequences)
  Value out, fin;                           ///< result buffers
};

class DeltaRuleKernel : DeltaRuleLaunch {
public:
  DeltaRuleKernel(ssm::DeltaRuleOp op, PatternRewriter &rw,
                  const DeltaRulePlan &plan)
      : DeltaRuleLaunch(op, rw, plan.K), plan(plan) {}

  void run() {
    setUp();
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

  const DeltaRulePlan plan;
  Value stepDecay; ///< exp(gate) of the current step (gate per step)
};

DeltaRuleKernel::Thread DeltaRuleKernel::locate(OpBuilder &b, Value bid,
                                                Value tid) {
  Thread th;
  Value cCols = cidx(b, loc, plan.cols);
  Block bl = locateBlock(b, bid, plan.cols);
  Value tile = bl.tile;
  th.seq = bl.seq, th.h = bl.h, th.hk = bl.hk, th.bi = bl.bi;
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
  Value blocks = blockCount(plan.cols);
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
      auto [begin, end] = stepRange(b, th.seq);
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

/// The tiling of the chunked kernel: C steps per chunk, Vt value columns
/// per block.
struct ChunkedDeltaPlan {
  int64_t K = 1, C = 16, cols = 16;
  bool keyGate = false, gate = false, l2norm = false, dplr = false;

  /// Chunks are at most this long: the forward substitution runs C
  /// threads through a C x C triangle (DPLR: Vt threads down C rows) and
  /// the C x K rows of q and k (and a, b) sit in shared memory beside the
  /// state tile.
  static constexpr int64_t kMaxChunk = 16;
  /// Like the recurrent kernel, the state is in shared memory and a
  /// thread's registers do not depend on K, C or Vt.
  static constexpr int64_t kRegisterEstimate = 64;

  /// f32 values of shared memory: the state tile [K, Vt]; q~ and k~ of the
  /// chunk [C, K] (DPLR: a and b too); the cumulative log decays
  /// [C + 1, K] (per key) or [C + 1]; the delta forms' beta [C] and A, Aq
  /// and T [C, C], or the DPLR form's four C x C matrices; P, O and V'
  /// [C, Vt]; the inverse norms [2 C].
  int64_t sharedFloats() const {
    int64_t g = gate ? (keyGate ? (C + 1) * K : C + 1) : 0;
    int64_t rows = (dplr ? 4 : 2) * C * K;
    int64_t square = dplr ? 4 * C * C : C + 3 * C * C;
    return K * cols + rows + g + square + 3 * C * cols + (l2norm ? 2 * C : 0);
  }

  /// The delta forms: the largest chunk (at most `maxChunk`), then the
  /// widest tile, whose shared arrays fit the static budget. The DPLR
  /// form: the widest tile, then the largest chunk (every tile recomputes
  /// the chunk's four C x C x K products, so narrowing the tile to lengthen
  /// the chunk costs more than it saves). std::nullopt when none fits.
  static std::optional<ChunkedDeltaPlan> choose(int64_t K, int64_t V,
                                                int64_t maxChunk, bool gate,
                                                bool keyGate, bool l2norm,
                                                bool dplr) {
    int64_t start = 16;
    if (V > 0)
      start = std::min<int64_t>(16, llvm::PowerOf2Ceil(V));
    SmallVector<std::pair<int64_t, int64_t>> pairs;
    for (int64_t c = kMaxChunk; c >= 1; c /= 2) {
      if (c > maxChunk)
        continue;
      for (int64_t v = start; v >= 1; v /= 2)
        pairs.push_back({c, v});
    }
    if (dplr) {
      pairs.clear();
      for (int64_t v = start; v >= 1; v /= 2)
        for (int64_t c = kMaxChunk; c >= 1; c /= 2)
          if (c <= maxChunk)
            pairs.push_back({c, v});
    }
    SmallVector<int64_t> candidates;
    for (size_t i = 0; i < pairs.size(); ++i)
      candidates.push_back(i);
    ChunkedDeltaPlan plan;
    plan.K = K, plan.gate = gate, plan.keyGate = keyGate, plan.l2norm = l2norm;
    plan.dplr = dplr;
    KernelBudget budget;
    std::optional<int64_t> pick = pickTile(candidates, [&](int64_t i) {
      ChunkedDeltaPlan p = plan;
      p.C = pairs[i].first, p.cols = pairs[i].second;
      return KernelBudget::sharedFits(p.sharedFloats()) &&
             budget.registersFit(kRegisterEstimate);
    });
    if (!pick)
      return std::nullopt;
    plan.C = pairs[*pick].first, plan.cols = pairs[*pick].second;
    return plan;
  }
};

/// The chunked kernel. The delta forms (DeltaNet, Gated DeltaNet, KDA):
/// fla's chunk_gated_delta_rule over chunks of C steps, with the blocks of
/// the recurrent kernel (one per sequence, value head and tile of Vt
/// value columns, the tile's state S [K, Vt] in shared memory). With G_r
/// the cumulative log decay after r steps of the chunk (G_0 = 0) and the
/// chunk's rows q~_i, k~_i, beta_i, v_i, each chunk runs seven phases
/// (six without l2norm), each followed by a block barrier:
///  1. stage q~ (scaled), k~, beta and the log decays of the chunk (zeros
///     past the sequence end, which then changes nothing);
///  2. inverse norms of the rows (l2norm) and the prefix sums G;
///  3. l2-normalise the rows (with use_qk_l2norm);
///  4. A[i][j] = -beta_i k~_i . (exp(G_{i+1} - G_{j+1}) k~_j) (j < i),
///     Aq[i][j] = q~_i . (exp(G_{i+1} - G_{j+1}) k~_j) (j <= i),
///     P = V - (exp(G) k~) S and O = (exp(G) q~) S;
///  5. the UT transform: thread j solves column j of
///     T = (I - tril(A))^-1 diag(beta) by forward substitution;
///  6. V' = T P (the WY form's U - W S);
///  7. out_i = O_i + sum_{j <= i} Aq[i][j] V'_j, and
///     S <- exp(G_C) S + sum_j exp(G_C - G_{j+1}) k~_j V'_j^T.
/// The DPLR form (RWKV-7: S <- diag(w) S + b (a . S) + k~ v^T) shares
/// phases 1-3 (a and b staged beside q~ and k~, no beta) and then, with
/// G_i the log decay before step i of the chunk, runs
///  4. the four C x C matrices A = a . e k~, Ab = a . e b (exponents
///     G_i - G_{j+1}, j < i), Aq = q~ . e k~, Qb = q~ . e b (G_{i+1} -
///     G_{j+1}, j <= i); the reads of the entering state P = (exp(G) a) S,
///     O = (exp(G_{i+1}) q~) S and the value rows V';
///  5. thread c < Vt solves column c of the reads p = P + Ab p + A V' by
///     forward substitution, in place;
///  6. out = O + Qb p + Aq V' and
///     S <- exp(G_C) S + sum_j exp(G_C - G_{j+1}) (b_j p_j^T + k~_j v_j^T)
/// (5 barriers per chunk, 6 with l2norm).
/// Every exponent is a difference G_a - G_b with a >= b (at most 0), so
/// the decays never overflow.
class ChunkedDeltaKernel : DeltaRuleLaunch {
public:
  ChunkedDeltaKernel(ssm::DeltaRuleOp op, PatternRewriter &rw,
                     const ChunkedDeltaPlan &plan)
      : DeltaRuleLaunch(op, rw, plan.K), plan(plan) {}

  void run() {
    setUp();
    emitLaunch();
    replaceWithBuffers(rw, loc, op, out, fin);
  }

private:
  /// The shared arrays. The delta forms use beta, A, Aq, Tm; the DPLR
  /// form a, b, A (a . k), Ab (a . b), Aq (q . k), Qb (q . b).
  struct Shared {
    Value state, q, k, g, beta, A, Aq, Tm, P, O, Vn, norms;
    Value a, b, Ab, Qb;
  };
  struct Where {
    Value seq, h, hk, bi, j0, tid, begin, end, t0;
  };

  Value add(OpBuilder &b, Value x, Value y) {
    return arith::AddIOp::create(b, loc, x, y);
  }
  Value mul(OpBuilder &b, Value x, Value y) {
    return arith::MulIOp::create(b, loc, x, y);
  }
  Value fmul(OpBuilder &b, Value x, Value y) {
    return arith::MulFOp::create(b, loc, x, y);
  }
  Value ult(OpBuilder &b, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }
  Value ld(OpBuilder &b, Value mem, Value at) {
    return memref::LoadOp::create(b, loc, mem, at);
  }
  void st(OpBuilder &b, Value x, Value mem, Value at) {
    memref::StoreOp::create(b, loc, x, mem, at);
  }
  /// for (i = lo; i < hi; ++i) with one carried f32 sum.
  Value sumOver(OpBuilder &b, Value lo, Value hi, Value init,
                llvm::function_ref<Value(OpBuilder &, Value, Value)> body) {
    return scf::ForOp::create(
               b, loc, lo, hi, cidx(b, loc, 1), ValueRange{init},
               [&](OpBuilder &lb, Location l, Value i, ValueRange acc) {
                 scf::YieldOp::create(lb, l, ValueRange{body(lb, i, acc[0])});
               })
        .getResult(0);
  }
  /// The step t0 + r lies in the sequence.
  Value validRow(OpBuilder &b, const Where &bl, Value r) {
    return ult(b, add(b, bl.t0, r), bl.end);
  }
  /// The cumulative log decay G_r at key d (0 without a gate).
  Value logDecay(OpBuilder &b, const Shared &sh, Value r, Value d) {
    if (!gate)
      return cf32(b, loc, 0);
    if (plan.keyGate)
      return ld(b, sh.g, add(b, mul(b, r, cidx(b, loc, plan.K)), d));
    return ld(b, sh.g, r);
  }
  /// exp(G_a - G_b) at key d (1 without a gate).
  Value decay(OpBuilder &b, const Shared &sh, Value ra, Value rb, Value d) {
    if (!gate)
      return cf32(b, loc, 1);
    return math::ExpOp::create(
        b, loc,
        arith::SubFOp::create(b, loc, logDecay(b, sh, ra, d),
                              logDecay(b, sh, rb, d)));
  }
  /// for e in the block's share of [0, rows * width): body(row, col).
  void forElements(OpBuilder &b, const Where &bl, int64_t rows, int64_t width,
                   llvm::function_ref<void(OpBuilder &, Value, Value, Value)>
                       body) {
    blockStrided(b, loc, bl.tid, cidx(b, loc, rows * width),
                 [&](OpBuilder &lb, Value e) {
                   Value w = cidx(lb, loc, width);
                   body(lb, e, arith::DivUIOp::create(lb, loc, e, w),
                        arith::RemUIOp::create(lb, loc, e, w));
                 });
  }

  void initState(OpBuilder &b, const Where &bl, const Shared &sh) {
    forElements(b, bl, plan.K, plan.cols,
                [&](OpBuilder &lb, Value e, Value d, Value c) {
                  Value j = add(lb, bl.j0, c);
                  Value s0 = cf32(lb, loc, 0);
                  if (h0)
                    s0 = valuesIf(lb, loc, ult(lb, j, V), ValueRange{s0},
                                  [&](OpBuilder &ib) {
                                    return SmallVector<Value>{load32(
                                        ib, loc, h0,
                                        ValueRange{bl.seq, bl.h, d, j})};
                                  })[0];
                  st(lb, s0, sh.state, e);
                });
  }

  /// Phase 1: the chunk's rows, zeros past the sequence end.
  void stage(OpBuilder &b, const Where &bl, const Shared &sh) {
    Value zero = cf32(b, loc, 0);
    forElements(b, bl, plan.C, plan.K,
                [&](OpBuilder &lb, Value e, Value r, Value d) {
                  Value t = add(lb, bl.t0, r);
                  SmallVector<Value> vals = valuesIf(
                      lb, loc, validRow(lb, bl, r),
                      ValueRange{zero, zero, zero, zero, zero},
                      [&](OpBuilder &ib) {
                        SmallVector<Value, 4> at{bl.bi, t, bl.hk, d};
                        SmallVector<Value, 4> hAt{bl.bi, t, bl.h, d};
                        Value qv = load32(ib, loc, q, at);
                        if (!plan.l2norm)
                          qv = fmul(ib, qv, cf32(ib, loc, scale));
                        Value g = zero, av = zero, bw = zero;
                        if (plan.keyGate)
                          g = load32(ib, loc, gate, hAt);
                        if (plan.dplr) {
                          av = load32(ib, loc, a, hAt);
                          bw = load32(ib, loc, bv, hAt);
                        }
                        return SmallVector<Value>{qv, load32(ib, loc, k, at),
                                                  g, av, bw};
                      });
                  st(lb, vals[0], sh.q, e);
                  st(lb, vals[1], sh.k, e);
                  if (plan.keyGate)
                    st(lb, vals[2], sh.g,
                       add(lb, e, cidx(lb, loc, plan.K)));
                  if (plan.dplr) {
                    st(lb, vals[3], sh.a, e);
                    st(lb, vals[4], sh.b, e);
                  }
                });
    if (plan.dplr)
      return;
    Value mine = ult(b, bl.tid, cidx(b, loc, plan.C));
    ifThen(b, loc, mine, [&](OpBuilder &ib) {
      Value r = bl.tid, t = add(ib, bl.t0, r);
      SmallVector<Value> vals = valuesIf(
          ib, loc, validRow(ib, bl, r), ValueRange{zero, zero},
          [&](OpBuilder &vb) {
            SmallVector<Value, 3> at{bl.bi, t, bl.h};
            Value g = zero;
            if (gate && !plan.keyGate)
              g = load32(vb, loc, gate, at);
            return SmallVector<Value>{load32(vb, loc, beta, at), g};
          });
      st(ib, vals[0], sh.beta, r);
      if (gate && !plan.keyGate)
        st(ib, vals[1], sh.g, add(ib, r, cidx(ib, loc, 1)));
    });
  }

  /// Phase 2: the rows' inverse norms (threads 0.. for q, 64.. for k) and
  /// the prefix sums of the log decays.
  void normsAndPrefix(OpBuilder &b, const Where &bl, const Shared &sh) {
    Value cC = cidx(b, loc, plan.C), cK = cidx(b, loc, plan.K);
    if (plan.l2norm) {
      for (int64_t which = 0; which < 2; ++which) {
        Value first = cidx(b, loc, 64 * which);
        Value r = arith::SubIOp::create(b, loc, bl.tid, first);
        Value mine = arith::AndIOp::create(
            b, loc,
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge, bl.tid,
                                  first),
            ult(b, r, cC));
        ifThen(b, loc, mine, [&](OpBuilder &ib) {
          Value rows = which == 0 ? sh.q : sh.k;
          Value base = mul(ib, r, cK);
          Value ss = sumOver(ib, cidx(ib, loc, 0), cK, cf32(ib, loc, 0),
                             [&](OpBuilder &lb, Value d, Value acc) {
                               Value x = ld(lb, rows, add(lb, base, d));
                               return math::FmaOp::create(lb, loc, x, x, acc)
                                   .getResult();
                             });
          // fla's x / sqrt(sum x^2 + 1e-6), as the recurrent kernel.
          Value inv = arith::DivFOp::create(
              ib, loc, cf32(ib, loc, 1),
              math::SqrtOp::create(
                  ib, loc, arith::AddFOp::create(ib, loc, ss,
                                                 cf32(ib, loc, 1e-6))));
          if (which == 0)
            inv = fmul(ib, inv, cf32(ib, loc, scale));
          st(ib, inv, sh.norms, add(ib, r, cidx(ib, loc, which * plan.C)));
        });
      }
    }
    if (!gate)
      return;
    auto prefix = [&](OpBuilder &pb, Value d, int64_t width) {
      Value w = cidx(pb, loc, width);
      st(pb, cf32(pb, loc, 0), sh.g, d);
      scf::ForOp::create(
          pb, loc, cidx(pb, loc, 1), add(pb, cC, cidx(pb, loc, 1)),
          cidx(pb, loc, 1), ValueRange{cf32(pb, loc, 0)},
          [&](OpBuilder &lb, Location l, Value r, ValueRange acc) {
            Value at = add(lb, mul(lb, r, w), d);
            Value g = arith::AddFOp::create(lb, l, acc[0], ld(lb, sh.g, at));
            st(lb, g, sh.g, at);
            scf::YieldOp::create(lb, l, ValueRange{g});
          });
    };
    if (plan.keyGate) {
      blockStrided(b, loc, bl.tid, cK,
                   [&](OpBuilder &lb, Value d) { prefix(lb, d, plan.K); });
      return;
    }
    Value last = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                       bl.tid, cidx(b, loc, kBlock - 1));
    ifThen(b, loc, last,
           [&](OpBuilder &ib) { prefix(ib, cidx(ib, loc, 0), 1); });
  }

  /// Phase 3: q~ = q * scale / |q|, k~ = k / |k|.
  void normalize(OpBuilder &b, const Where &bl, const Shared &sh) {
    forElements(b, bl, plan.C, plan.K,
                [&](OpBuilder &lb, Value e, Value r, Value) {
                  Value rq = ld(lb, sh.norms, r);
                  Value rk = ld(lb, sh.norms, add(lb, r, cidx(lb, loc, plan.C)));
                  st(lb, fmul(lb, ld(lb, sh.q, e), rq), sh.q, e);
                  st(lb, fmul(lb, ld(lb, sh.k, e), rk), sh.k, e);
                });
  }

  /// Phase 4: A, Aq (zeros above the diagonal), P and O.
  void products(OpBuilder &b, const Where &bl, const Shared &sh) {
    Value cK = cidx(b, loc, plan.K), c0 = cidx(b, loc, 0),
          c1 = cidx(b, loc, 1), zero = cf32(b, loc, 0);
    forElements(
        b, bl, plan.C, plan.C, [&](OpBuilder &lb, Value e, Value i, Value j) {
          Value lower = arith::CmpIOp::create(
              lb, loc, arith::CmpIPredicate::ule, j, i);
          SmallVector<Value> dots = valuesIf(
              lb, loc, lower, ValueRange{zero, zero}, [&](OpBuilder &ib) {
                Value i1 = add(ib, i, c1), j1 = add(ib, j, c1);
                Value bi = mul(ib, i, cK), bj = mul(ib, j, cK);
                auto loop = scf::ForOp::create(
                    ib, loc, c0, cK, c1, ValueRange{zero, zero},
                    [&](OpBuilder &fb, Location l, Value d, ValueRange acc) {
                      Value kj = fmul(fb, ld(fb, sh.k, add(fb, bj, d)),
                                      decay(fb, sh, i1, j1, d));
                      Value at = add(fb, bi, d);
                      scf::YieldOp::create(
                          fb, l,
                          ValueRange{math::FmaOp::create(fb, l, ld(fb, sh.k, at),
                                                         kj, acc[0]),
                                     math::FmaOp::create(fb, l, ld(fb, sh.q, at),
                                                         kj, acc[1])});
                    });
                Value strict = ult(ib, j, i);
                Value a = arith::NegFOp::create(
                    ib, loc, fmul(ib, ld(ib, sh.beta, i), loop.getResult(0)));
                return SmallVector<Value>{
                    arith::SelectOp::create(ib, loc, strict, a, zero),
                    loop.getResult(1)};
              });
          st(lb, dots[0], sh.A, e);
          st(lb, dots[1], sh.Aq, e);
        });
    forElements(
        b, bl, plan.C, plan.cols,
        [&](OpBuilder &lb, Value e, Value r, Value c) {
          Value r1 = add(lb, r, c1), base = mul(lb, r, cK);
          auto loop = scf::ForOp::create(
              lb, loc, c0, cK, c1, ValueRange{zero, zero},
              [&](OpBuilder &fb, Location l, Value d, ValueRange acc) {
                Value s = ld(fb, sh.state,
                             add(fb, mul(fb, d, cidx(fb, l, plan.cols)), c));
                Value w = decay(fb, sh, r1, c0, d);
                Value at = add(fb, base, d);
                Value ws = fmul(fb, w, s);
                scf::YieldOp::create(
                    fb, l,
                    ValueRange{
                        math::FmaOp::create(fb, l, ld(fb, sh.k, at), ws, acc[0]),
                        math::FmaOp::create(fb, l, ld(fb, sh.q, at), ws,
                                            acc[1])});
              });
          Value j = add(lb, bl.j0, c);
          Value live = arith::AndIOp::create(lb, loc, ult(lb, j, V),
                                             validRow(lb, bl, r));
          Value vv = valuesIf(lb, loc, live, ValueRange{zero},
                              [&](OpBuilder &ib) {
                                return SmallVector<Value>{load32(
                                    ib, loc, v,
                                    ValueRange{bl.bi, add(ib, bl.t0, r), bl.h,
                                               j})};
                              })[0];
          st(lb, arith::SubFOp::create(lb, loc, vv, loop.getResult(0)), sh.P,
             e);
          st(lb, loop.getResult(1), sh.O, e);
        });
  }

  /// Phase 5: thread j < C solves column j of T by forward substitution
  /// (T[i][j] = A[i][j] + sum_{j < m < i} A[i][m] T[m][j]: only column j of
  /// T is read and written, A is read only), then scales it by beta_j.
  void solve(OpBuilder &b, const Where &bl, const Shared &sh) {
    Value cC = cidx(b, loc, plan.C), c1 = cidx(b, loc, 1);
    ifThen(b, loc, ult(b, bl.tid, cC), [&](OpBuilder &ib) {
      Value j = bl.tid, j1 = add(ib, j, c1);
      forEach(ib, loc, cC, [&](OpBuilder &lb, Value i) {
        ifThen(lb, loc, ult(lb, j, i), [&](OpBuilder &tb) {
          Value row = mul(tb, i, cC);
          Value x = sumOver(tb, j1, i, ld(tb, sh.A, add(tb, row, j)),
                            [&](OpBuilder &fb, Value m, Value acc) {
                              return math::FmaOp::create(
                                         fb, loc, ld(fb, sh.A, add(fb, row, m)),
                                         ld(fb, sh.Tm, add(fb, mul(fb, m, cC), j)),
                                         acc)
                                  .getResult();
                            });
          st(tb, x, sh.Tm, add(tb, row, j));
        });
      });
      Value bj = ld(ib, sh.beta, j);
      forEach(ib, loc, cC, [&](OpBuilder &lb, Value i) {
        Value at = add(lb, mul(lb, i, cC), j);
        Value above = ult(lb, i, j);
        Value diag = arith::CmpIOp::create(lb, loc, arith::CmpIPredicate::eq,
                                           i, j);
        Value below = valuesIf(lb, loc, ult(lb, j, i),
                               ValueRange{cf32(lb, loc, 0)},
                               [&](OpBuilder &vb) {
                                 return SmallVector<Value>{
                                     fmul(vb, ld(vb, sh.Tm, at), bj)};
                               })[0];
        Value x = arith::SelectOp::create(
            lb, loc, above, cf32(lb, loc, 0),
            arith::SelectOp::create(lb, loc, diag, bj, below));
        st(lb, x, sh.Tm, at);
      });
    });
  }

  /// Phase 6: V' = T P.
  void solveValues(OpBuilder &b, const Where &bl, const Shared &sh) {
    Value cC = cidx(b, loc, plan.C), cols = cidx(b, loc, plan.cols);
    forElements(b, bl, plan.C, plan.cols,
                [&](OpBuilder &lb, Value e, Value r, Value c) {
                  Value row = mul(lb, r, cC);
                  Value x = sumOver(
                      lb, cidx(lb, loc, 0), add(lb, r, cidx(lb, loc, 1)),
                      cf32(lb, loc, 0), [&](OpBuilder &fb, Value j, Value acc) {
                        return math::FmaOp::create(
                                   fb, loc, ld(fb, sh.Tm, add(fb, row, j)),
                                   ld(fb, sh.P, add(fb, mul(fb, j, cols), c)),
                                   acc)
                            .getResult();
                      });
                  st(lb, x, sh.Vn, e);
                });
  }

  /// One read of the chunk's output/state stage: the C x C matrix (or
  /// the C x K key rows) and the C x Vt value rows it multiplies.
  struct Read {
    Value weights, values;
  };

  /// The chunk's outputs and the state passed on, for the reads `outputs`
  /// (C x C matrices W) and `state` (C x K rows Y):
  ///   out_i = O_i + sum_{m <= i} sum_reads W[i][m] X_m,
  ///   S <- exp(G_C) S + sum_m exp(G_C - G_{m+1}) sum_reads Y_m X_m^T,
  /// the reads' products added in order into one sum per element. The
  /// delta forms (phase 7) read Aq V' and k~ V'; the DPLR form (phase 6)
  /// Qb p, Aq V' and b p, k~ V'.
  void outputsAndState(OpBuilder &b, const Where &bl, const Shared &sh,
                       ArrayRef<Read> outputs, ArrayRef<Read> state) {
    Value cC = cidx(b, loc, plan.C), cols = cidx(b, loc, plan.cols),
          c0 = cidx(b, loc, 0), c1 = cidx(b, loc, 1);
    forElements(
        b, bl, plan.C, plan.cols,
        [&](OpBuilder &lb, Value e, Value r, Value c) {
          Value j = add(lb, bl.j0, c);
          Value live = arith::AndIOp::create(lb, loc, ult(lb, j, V),
                                             validRow(lb, bl, r));
          ifThen(lb, loc, live, [&](OpBuilder &ib) {
            Value row = mul(ib, r, cC);
            Value o = sumOver(
                ib, c0, add(ib, r, c1), ld(ib, sh.O, e),
                [&](OpBuilder &fb, Value m, Value acc) {
                  Value mc = add(fb, mul(fb, m, cols), c),
                        rm = add(fb, row, m);
                  for (const Read &x : outputs)
                    acc = math::FmaOp::create(fb, loc, ld(fb, x.weights, rm),
                                              ld(fb, x.values, mc), acc);
                  return acc;
                });
            store32(ib, loc, o, out,
                    ValueRange{bl.bi, add(ib, bl.t0, r), bl.h, j});
          });
        });
    Value cK = cidx(b, loc, plan.K);
    forElements(
        b, bl, plan.K, plan.cols,
        [&](OpBuilder &lb, Value e, Value d, Value c) {
          Value s = fmul(lb, decay(lb, sh, cC, c0, d), ld(lb, sh.state, e));
          Value x = sumOver(
              lb, c0, cC, s, [&](OpBuilder &fb, Value m, Value acc) {
                Value md = add(fb, mul(fb, m, cK), d),
                      mc = add(fb, mul(fb, m, cols), c);
                Value w = decay(fb, sh, cC, add(fb, m, c1), d);
                for (const Read &y : state)
                  acc = math::FmaOp::create(fb, loc,
                                            fmul(fb, ld(fb, y.weights, md), w),
                                            ld(fb, y.values, mc), acc);
                return acc;
              });
          st(lb, x, sh.state, e);
        });
  }

  /// DPLR phase 4: the four C x C matrices (row i, column j; exponents
  /// G_i - G_{j+1} for the reads, strictly lower, and G_{i+1} - G_{j+1}
  /// for the outputs, lower)
  ///   A[i][j] = a_i . e k_j,  Ab[i][j] = a_i . e b_j        (j < i)
  ///   Aq[i][j] = q~_i . e k~_j,  Qb[i][j] = q~_i . e b_j    (j <= i),
  /// the reads of the entering state P = (exp(G_i) a_i)^T S, the outputs'
  /// share O = (exp(G_{i+1}) q~_i)^T S, and the value rows V'.
  void dplrProducts(OpBuilder &b, const Where &bl, const Shared &sh) {
    Value cK = cidx(b, loc, plan.K), c0 = cidx(b, loc, 0),
          c1 = cidx(b, loc, 1), zero = cf32(b, loc, 0);
    forElements(
        b, bl, plan.C, plan.C, [&](OpBuilder &lb, Value e, Value i, Value j) {
          Value lower = arith::CmpIOp::create(
              lb, loc, arith::CmpIPredicate::ule, j, i);
          SmallVector<Value> dots = valuesIf(
              lb, loc, lower, ValueRange{zero, zero, zero, zero},
              [&](OpBuilder &ib) {
                Value strict = ult(ib, j, i);
                Value i1 = add(ib, i, c1), j1 = add(ib, j, c1);
                // On the diagonal the reads' entries are not used: the
                // exponent G_i - G_i keeps them finite.
                Value jr = arith::SelectOp::create(ib, loc, strict, j1, i);
                Value bi = mul(ib, i, cK), bj = mul(ib, j, cK);
                auto loop = scf::ForOp::create(
                    ib, loc, c0, cK, c1, ValueRange{zero, zero, zero, zero},
                    [&](OpBuilder &fb, Location l, Value d, ValueRange acc) {
                      Value at = add(fb, bi, d), bt = add(fb, bj, d);
                      Value er = decay(fb, sh, i, jr, d);
                      Value eo = decay(fb, sh, i1, j1, d);
                      Value kj = ld(fb, sh.k, bt), bw = ld(fb, sh.b, bt);
                      Value ar = fmul(fb, ld(fb, sh.a, at), er);
                      Value qr = fmul(fb, ld(fb, sh.q, at), eo);
                      auto fma = [&](Value x, Value y, Value z) {
                        return math::FmaOp::create(fb, l, x, y, z).getResult();
                      };
                      scf::YieldOp::create(
                          fb, l,
                          ValueRange{fma(ar, kj, acc[0]), fma(ar, bw, acc[1]),
                                     fma(qr, kj, acc[2]), fma(qr, bw, acc[3])});
                    });
                return SmallVector<Value>{
                    arith::SelectOp::create(ib, loc, strict,
                                            loop.getResult(0), zero),
                    arith::SelectOp::create(ib, loc, strict,
                                            loop.getResult(1), zero),
                    loop.getResult(2), loop.getResult(3)};
              });
          st(lb, dots[0], sh.A, e);
          st(lb, dots[1], sh.Ab, e);
          st(lb, dots[2], sh.Aq, e);
          st(lb, dots[3], sh.Qb, e);
        });
    forElements(
        b, bl, plan.C, plan.cols,
        [&](OpBuilder &lb, Value e, Value r, Value c) {
          Value r1 = add(lb, r, c1), base = mul(lb, r, cK);
          auto loop = scf::ForOp::create(
              lb, loc, c0, cK, c1, ValueRange{zero, zero},
              [&](OpBuilder &fb, Location l, Value d, ValueRange acc) {
                Value s = ld(fb, sh.state,
                             add(fb, mul(fb, d, cidx(fb, l, plan.cols)), c));
                Value at = add(fb, base, d);
                Value ar = fmul(fb, ld(fb, sh.a, at), decay(fb, sh, r, c0, d));
                Value qr =
                    fmul(fb, ld(fb, sh.q, at), decay(fb, sh, r1, c0, d));
                scf::YieldOp::create(
                    fb, l,
                    ValueRange{math::FmaOp::create(fb, l, ar, s, acc[0]),
                               math::FmaOp::create(fb, l, qr, s, acc[1])});
              });
          Value j = add(lb, bl.j0, c);
          Value live = arith::AndIOp::create(lb, loc, ult(lb, j, V),
                                             validRow(lb, bl, r));
          Value vv = valuesIf(lb, loc, live, ValueRange{zero},
                              [&](OpBuilder &ib) {
                                return SmallVector<Value>{load32(
                                    ib, loc, v,
                                    ValueRange{bl.bi, add(ib, bl.t0, r), bl.h,
                                               j})};
                              })[0];
          st(lb, loop.getResult(0), sh.P, e);
          st(lb, loop.getResult(1), sh.O, e);
          st(lb, vv, sh.Vn, e);
        });
  }

  /// DPLR phase 5: thread c < Vt solves its column's reads in place by
  /// forward substitution, p_i = P_i + sum_{j < i} Ab[i][j] p_j +
  /// A[i][j] v_j.
  void dplrSolve(OpBuilder &b, const Where &bl, const Shared &sh) {
    Value cC = cidx(b, loc, plan.C), cols = cidx(b, loc, plan.cols),
          c0 = cidx(b, loc, 0);
    ifThen(b, loc, ult(b, bl.tid, cols), [&](OpBuilder &ib) {
      Value c = bl.tid;
      forEach(ib, loc, cC, [&](OpBuilder &lb, Value i) {
        Value row = mul(lb, i, cC), at = add(lb, mul(lb, i, cols), c);
        Value x = sumOver(
            lb, c0, i, ld(lb, sh.P, at),
            [&](OpBuilder &fb, Value j, Value acc) {
              Value jc = add(fb, mul(fb, j, cols), c), ij = add(fb, row, j);
              Value y = math::FmaOp::create(fb, loc, ld(fb, sh.Ab, ij),
                                            ld(fb, sh.P, jc), acc);
              return math::FmaOp::create(fb, loc, ld(fb, sh.A, ij),
                                         ld(fb, sh.Vn, jc), y)
                  .getResult();
            });
        st(lb, x, sh.P, at);
      });
    });
  }

  void storeFinal(OpBuilder &b, const Where &bl, const Shared &sh) {
    forElements(b, bl, plan.K, plan.cols,
                [&](OpBuilder &lb, Value e, Value d, Value c) {
                  Value j = add(lb, bl.j0, c);
                  ifThen(lb, loc, ult(lb, j, V), [&](OpBuilder &ib) {
                    store32(ib, loc, ld(ib, sh.state, e), fin,
                            ValueRange{bl.seq, bl.h, d, j});
                  });
                });
  }

  void emitLaunch() {
    MLIRContext *ctx = rw.getContext();
    const int64_t C = plan.C, Vt = plan.cols;
    // Delta forms: state, q, k, beta, A, Aq, T, P, O, V'. DPLR: state, q,
    // k, a, b, A, Ab, Aq, Qb, P, O, V'. Then the decays and the norms.
    SmallVector<Type> shared = {sharedArrayType(ctx, K * Vt),
                                sharedArrayType(ctx, C * K),
                                sharedArrayType(ctx, C * K)};
    if (plan.dplr)
      shared.append({sharedArrayType(ctx, C * K), sharedArrayType(ctx, C * K),
                     sharedArrayType(ctx, C * C), sharedArrayType(ctx, C * C),
                     sharedArrayType(ctx, C * C), sharedArrayType(ctx, C * C)});
    else
      shared.append({sharedArrayType(ctx, C), sharedArrayType(ctx, C * C),
                     sharedArrayType(ctx, C * C), sharedArrayType(ctx, C * C)});
    shared.append({sharedArrayType(ctx, C * Vt), sharedArrayType(ctx, C * Vt),
                   sharedArrayType(ctx, C * Vt)});
    if (gate)
      shared.push_back(
          sharedArrayType(ctx, plan.keyGate ? (C + 1) * K : C + 1));
    if (plan.l2norm)
      shared.push_back(sharedArrayType(ctx, 2 * C));
    Value blocks = blockCount(Vt);
    launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                              ValueRange arrays) {
      Shared sh;
      sh.state = arrays[0], sh.q = arrays[1], sh.k = arrays[2];
      size_t next = 3;
      if (plan.dplr) {
        sh.a = arrays[next++], sh.b = arrays[next++];
        sh.A = arrays[next++], sh.Ab = arrays[next++];
        sh.Aq = arrays[next++], sh.Qb = arrays[next++];
      } else {
        sh.beta = arrays[next++], sh.A = arrays[next++];
        sh.Aq = arrays[next++], sh.Tm = arrays[next++];
      }
      sh.P = arrays[next++], sh.O = arrays[next++], sh.Vn = arrays[next++];
      if (gate)
        sh.g = arrays[next++];
      if (plan.l2norm)
        sh.norms = arrays[next++];
      // The condition is the same for the whole block (see the recurrent
      // kernel).
      ifThen(rw, loc, ult(rw, bid, blocks), [&](OpBuilder &b) {
        Block where = locateBlock(b, bid, Vt);
        Where bl;
        bl.tid = tid;
        bl.seq = where.seq, bl.h = where.h, bl.hk = where.hk, bl.bi = where.bi;
        bl.j0 = mul(b, where.tile, cidx(b, loc, Vt));
        std::tie(bl.begin, bl.end) = stepRange(b, bl.seq);
        initState(b, bl, sh);
        scf::ForOp::create(
            b, loc, bl.begin, bl.end, cidx(b, loc, C), ValueRange{},
            [&](OpBuilder &cb, Location, Value t0, ValueRange) {
              Where cbl = bl;
              cbl.t0 = t0;
              stage(cb, cbl, sh);
              barrier(cb, loc);
              normsAndPrefix(cb, cbl, sh);
              barrier(cb, loc);
              if (plan.l2norm) {
                normalize(cb, cbl, sh);
                barrier(cb, loc);
              }
              if (plan.dplr) {
                dplrProducts(cb, cbl, sh);
                barrier(cb, loc);
                dplrSolve(cb, cbl, sh);
                barrier(cb, loc);
                // Phase 6: out = O + Qb p + Aq V', S <- exp(G_C) S +
                // sum_j exp(G_C - G_{j+1}) (b_j p_j^T + k~_j v_j^T).
                outputsAndState(cb, cbl, sh, {{sh.Qb, sh.P}, {sh.Aq, sh.Vn}},
                                {{sh.b, sh.P}, {sh.k, sh.Vn}});
                barrier(cb, loc);
                scf::YieldOp::create(cb, loc);
                return;
              }
              products(cb, cbl, sh);
              barrier(cb, loc);
              solve(cb, cbl, sh);
              barrier(cb, loc);
              solveValues(cb, cbl, sh);
              barrier(cb, loc);
              outputsAndState(cb, cbl, sh, {{sh.Aq, sh.Vn}}, {{sh.k, sh.Vn}});
              barrier(cb, loc);
              scf::YieldOp::create(cb, loc);
            });
        if (fin)
          storeFinal(b, bl, sh);
      });
    });
  }

  const ChunkedDeltaPlan plan;
};

/// The shortest static T the chunked kernel is chosen for (a dynamic T,
/// a prefill's, takes it too; chunk_size > 0 asks for it at any T, and
/// chunk_size = 0 for the recurrent kernel).
constexpr int64_t kMinChunkedLen = 64;

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
    int64_t len = qTy.getDimSize(1);
    std::optional<uint64_t> asked = op.getChunkSize();
    // chunk_size = 0 asks for the recurrent form.
    bool chunkedForm = asked ? *asked > 0
                             : ShapedType::isDynamic(len) || len >= kMinChunkedLen;
    if (chunkedForm) {
      int64_t maxChunk =
          asked ? std::max<int64_t>(1, std::min<uint64_t>(*asked, 1u << 20))
                : ChunkedDeltaPlan::kMaxChunk;
      if (std::optional<ChunkedDeltaPlan> chunked = ChunkedDeltaPlan::choose(
              qTy.getDimSize(3), V, maxChunk, op.getGate() != nullptr, perKey,
              op.getUseQkL2norm(), op.isDPLR())) {
        ChunkedDeltaKernel(op, rw, *chunked).run();
        return success();
      }
    }
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
