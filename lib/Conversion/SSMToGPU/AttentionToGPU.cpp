//===- AttentionToGPU.cpp - ssm.attention as a flash-style kernel ---------===//
//
// A block per (batch, head) and 128 / T queries, a group of T threads (a
// power of two <= 32, lanes of one warp) per query. Thread g of a group
// owns the columns c = g + T k of the query row and of the output
// accumulator, as registers (fully unrolled, statically indexed: ptxas
// keeps them out of local memory); T is the smallest that keeps a thread's
// share within kQueryRegisters values (T = 1 up to d + dv = 64, T = 2 at
// d = dv = 64, T = 4 at d = dv = 128). The block walks its keys in tiles of Tk rows of K and V
// staged in shared memory (Tk sized against max-shared-bytes and the SM's
// residency, AttentionPlan::choose); per key the group's partial dot products are
// summed by a butterfly of warp shuffles (xor T/2, ..., 1), so every
// thread of the group holds the score, and each thread folds the key into
// its online softmax (running max, normaliser, its accumulator columns):
// no score row or score tile exists, in memory or registers. With T > 1
// every thread of the block runs the same keys (the block's range, masked
// per query): the shuffles need their warp converged, and the emulator
// (which runs a shuffle through block barriers) the whole block. Queries
// are bottom-right aligned to the keys (FlashAttention's convention) and
// see the two-sided window [pos - left, pos + right] (causal: right = 0);
// scores are capped (softcap), biased (ALiBi) per key, and a sink starts a
// query's online softmax as a virtual key (max sink, sum 1). With seqused_k
// a block's keys end at its batch entry's count; with packed sequences
// (cu_seqlens_q/k) each thread finds its query's sequence by counting the
// offsets at or below it, and aligns and windows within that sequence's
// keys (a block's key range stays the union of its queries': both ends are
// non-decreasing in the query). As for selective_scan, the kernel names host
// buffers and ssm-gpu-stage-buffers stages them. f32/f16/bf16 operands,
// static head sizes with d + dv <= 4096; other forms stay on the CPU
// lowering.
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

/// Query and accumulator values a thread keeps in registers at most: with
/// the dot product's and the softmax's temporaries they stay well within
/// the 255 registers of the budget, without spills.
constexpr int64_t kQueryRegisters = 64;
/// Registers besides the query and accumulator values (indices, the
/// softmax state, temporaries), for the budget check.
constexpr int64_t kOtherRegisters = 64;
constexpr int64_t kWarp = 32;
/// Key-tile rows, largest first.
constexpr int64_t kKeyTileRows[] = {128, 96, 64, 48, 32, 24, 16, 8, 4, 2, 1};

/// The tiling of one head size: T threads per query, Tk key rows per tile.
struct AttentionPlan {
  int64_t T = 1, Tk = 1;

  static int64_t share(int64_t n, int64_t T) { return (n + T - 1) / T; }

  /// The fastest plan within the budget; std::nullopt when none fits.
  /// Each tile costs two barriers and a round of loads whose latency only
  /// other resident blocks hide: the key tile is the largest within
  /// `maxSharedBytes` that still lets an SM hold as many blocks as the
  /// kernel's registers do (4 at about 128 registers: 56 KB each on
  /// sm_90), so it grows without costing resident warps (d = dv = 128: 48
  /// keys, 64: 96, 32: 128; d = dv = 112: 64 keys in 56 KB of dynamic
  /// shared memory, 48 under a 48 KB budget).
  static std::optional<AttentionPlan> choose(int64_t d, int64_t dv,
                                             int64_t maxSharedBytes) {
    AttentionPlan p;
    KernelBudget budget;
    auto registers = [&](int64_t t) {
      return share(d, t) + share(dv, t) + kOtherRegisters;
    };
    std::optional<int64_t> T = pickTile({1, 2, 4, 8, 16, 32}, [&](int64_t t) {
      return registers(t) - kOtherRegisters <= kQueryRegisters &&
             budget.registersFit(registers(t));
    });
    if (!T)
      return std::nullopt;
    const int64_t most =
        budget.sharedForResidency(registers(*T), maxSharedBytes);
    std::optional<int64_t> Tk = pickTile(kKeyTileRows, [&](int64_t rows) {
      return KernelBudget::sharedBytes({rows * d, rows * dv}) <= most;
    });
    if (!Tk)
      return std::nullopt;
    p.T = *T, p.Tk = *Tk;
    return p;
  }
};

/// Emits the kernel of one ssm.attention. loadOperands() and planGrid()
/// run on the host; the other stages emit the body every thread of a block
/// runs, in order: locateQuery(), blockKeyRange(), loadQuery(),
/// emitKeyTiles() (per tile: stageKeyTile(), foldKeys()), storeOutput().
class AttentionKernel {
public:
  AttentionKernel(ssm::AttentionOp op, PatternRewriter &rw, int64_t d,
                  int64_t dv, AttentionPlan plan)
      : op(op), rw(rw), loc(op.getLoc()), d(d), dv(dv),
        scale(op.getScaleAttr() ? op.getScaleAttr().getValueAsDouble()
                                : 1.0 / std::sqrt(double(d))),
        left(op.getLeftWindow()), right(op.getRightWindow()),
        softcap(op.getSoftcapAttr()
                    ? std::optional<double>(
                          op.getSoftcapAttr().getValueAsDouble())
                    : std::nullopt),
        T(plan.T),
        Tk(plan.Tk), Q(kBlock / plan.T), Kd(AttentionPlan::share(d, plan.T)),
        Kv(AttentionPlan::share(dv, plan.T)) {}

  void run();

private:
  // Host stages.
  void loadOperands();
  /// A block per (batch, head) and Q queries.
  void planGrid();

  // Kernel stages.
  /// This thread's block, (batch, head), query i and lane g in its group.
  void locateQuery(Value bid, Value tid, ValueRange shared);
  /// Visible keys [lo, hi) of query `qi`: causal is bottom-right aligned;
  /// both ends are non-decreasing in qi.
  std::pair<Value, Value> keyRange(OpBuilder &bb, Value qi) {
    QueryKeys r = keysOf(bb, qi);
    return {r.lo, r.hi};
  }
  /// Query `qi`'s visible keys [lo, hi) and its key position pos (as a key
  /// index): within its sequence (packed) or batch entry, pos = its index
  /// there + the keys there - the queries there.
  struct QueryKeys {
    Value lo, hi, pos;
  };
  QueryKeys keysOf(OpBuilder &bb, Value qi);
  /// Entry `at` of an integer buffer, as an index.
  Value indexAt(OpBuilder &bb, Value mem, Value at) {
    return arith::IndexCastOp::create(bb, loc, bb.getIndexType(),
                                      memref::LoadOp::create(bb, loc, mem, at));
  }
  /// The query's keys; the block's (its first query's lo to its last
  /// one's hi); the keys the thread walks (the block's with T > 1).
  void blockKeyRange();
  /// The thread's columns of the query row, times the scale.
  void loadQuery();
  /// Online softmax over key tiles: running max m, normaliser l and the
  /// thread's accumulator columns.
  scf::ForOp emitKeyTiles();
  /// Every thread of an active block stages rows [j0, j0 + cnt) of K and V.
  void stageKeyTile(OpBuilder &tb, Location l, Value j0, Value cnt);
  /// Folds the tile's keys into (m, l, acc) `ml`, one key at a time.
  SmallVector<Value> foldKeys(OpBuilder &tb, Location l, Value j0,
                              Value cnt, ValueRange ml);
  /// The score of staged key row jj: the thread's partial q . k, summed
  /// over the group by the shuffle butterfly.
  Value score(OpBuilder &bb, Location bl, Value jj);
  /// out = acc / l (0 where no key is visible).
  void storeOutput(scf::ForOp tiles);

  /// Column k of this thread in a row of `width` values, clamped into the
  /// row (a column past it is only read with a zero weight, never stored).
  Value column(OpBuilder &bb, Location bl, int64_t k, int64_t width) {
    Value c = arith::AddIOp::create(bb, bl, g, cidx(bb, bl, T * k));
    if ((k + 1) * T <= width)
      return c;
    return arith::MinUIOp::create(bb, bl, c, cidx(bb, bl, width - 1));
  }
  /// Whether column k exists (null: statically).
  Value columnValid(OpBuilder &bb, Location bl, int64_t k, int64_t width) {
    if ((k + 1) * T <= width)
      return {};
    return arith::CmpIOp::create(
        bb, bl, arith::CmpIPredicate::ult,
        arith::AddIOp::create(bb, bl, g, cidx(bb, bl, T * k)),
        cidx(bb, bl, width));
  }

  ssm::AttentionOp op;
  PatternRewriter &rw;
  Location loc;
  const int64_t d, dv;
  const double scale;
  const std::optional<int64_t> left, right;
  const std::optional<double> softcap;
  /// Threads per query, key rows per tile, queries per block, the
  /// thread's query and accumulator columns.
  const int64_t T, Tk, Q, Kd, Kv;

  // loadOperands() and planGrid().
  Value q, k, v, out, slopes, sinks, used, cuQ, cuK, S;
  Value Bsz, H, Lq, Hkv, Lk;
  /// The keys of this block's batch entry (Lk, or seqused_k's count).
  Value Lkb;
  Value slope; ///< this thread's ALiBi slope
  Value qpos;  ///< this thread's query position, as a key index
  Value c0, c1, group, cTk, cd, cdv;
  Value qBlocks, BH, blocks, H1;
  // locateQuery() and blockKeyRange().
  Value tid, g, sK, sV;
  Value b, h, hk, qFirst, i;
  Value blockActive, active; ///< the block's (batch, head), query i exist
  Value lo, hi, blo, bhi;    ///< the query's and the block's keys
  Value wlo, whi;            ///< the keys the thread walks
  // loadQuery().
  SmallVector<Value> qr; ///< the thread's query columns
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
  q = toStridedBuffer(rw, loc, op.getQ());
  k = toStridedBuffer(rw, loc, op.getK());
  v = toStridedBuffer(rw, loc, op.getV());
  slopes = toStridedBuffer(rw, loc, op.getAlibiSlopes());
  sinks = toStridedBuffer(rw, loc, op.getSinks());
  used = toStridedBuffer(rw, loc, op.getSequsedK());
  cuQ = toStridedBuffer(rw, loc, op.getCuSeqlensQ());
  cuK = toStridedBuffer(rw, loc, op.getCuSeqlensK());
  if (cuQ)
    S = arith::SubIOp::create(rw, loc, dimOf(rw, loc, cuQ, 0),
                              cidx(rw, loc, 1));
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
      rw, loc, arith::CeilDivUIOp::create(rw, loc, Lq, cidx(rw, loc, Q)), c1);
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
  qFirst = arith::MulIOp::create(rw, loc, qb, cidx(rw, loc, Q));
  i = arith::AddIOp::create(
      rw, loc, qFirst, arith::DivUIOp::create(rw, loc, tid, cidx(rw, loc, T)));
  g = arith::RemUIOp::create(rw, loc, tid, cidx(rw, loc, T));
  active = arith::AndIOp::create(
      rw, loc, blockActive,
      arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult, i, Lq));
  Lkb = Lk;
  if (used && !cuQ) {
    // Idle blocks read entry 0 (B > 0 when any block is active).
    Value e = arith::SelectOp::create(rw, loc, blockActive, b, c0);
    Value n = arith::IndexCastOp::create(
        rw, loc, rw.getIndexType(), memref::LoadOp::create(rw, loc, used, e));
    Lkb = arith::MinSIOp::create(rw, loc, Lk,
                                 arith::MaxSIOp::create(rw, loc, c0, n));
  }
  if (slopes) {
    Value hh = arith::SelectOp::create(rw, loc, blockActive, h, c0);
    SmallVector<Value> at{hh};
    if (cast<MemRefType>(slopes.getType()).getRank() == 2)
      at.insert(at.begin(), arith::SelectOp::create(rw, loc, blockActive, b, c0));
    slope = load32(rw, loc, slopes, at);
  }
}

AttentionKernel::QueryKeys AttentionKernel::keysOf(OpBuilder &bb,
                                                   Value qi) {
  Value kStart = c0, kCount = Lkb, qStart = c0, qCount = Lq;
  if (cuQ) {
    // The sequence: the offsets past the first at or below qi. Offsets are
    // clamped into the keys, so no read leaves them.
    auto seq = scf::ForOp::create(
        bb, loc, c1, S, c1, ValueRange{c0},
        [&](OpBuilder &fb, Location fl, Value t, ValueRange n) {
          Value in = arith::CmpIOp::create(fb, fl, arith::CmpIPredicate::sle,
                                           indexAt(fb, cuQ, t), qi);
          scf::YieldOp::create(
              fb, fl,
              ValueRange{arith::SelectOp::create(
                  fb, fl, in, arith::AddIOp::create(fb, fl, n[0], c1), n[0])});
        });
    Value s = seq.getResult(0);
    Value next = arith::AddIOp::create(bb, loc, s, c1);
    qStart = indexAt(bb, cuQ, s);
    qCount = arith::SubIOp::create(bb, loc, indexAt(bb, cuQ, next), qStart);
    auto clampKeys = [&](Value x, Value floor) {
      return arith::MinSIOp::create(bb, loc, Lk,
                                    arith::MaxSIOp::create(bb, loc, floor, x));
    };
    kStart = clampKeys(indexAt(bb, cuK, s), c0);
    kCount = arith::SubIOp::create(
        bb, loc, clampKeys(indexAt(bb, cuK, next), kStart), kStart);
    if (used)
      kCount = arith::MinSIOp::create(
          bb, loc, kCount,
          arith::MaxSIOp::create(bb, loc, c0, indexAt(bb, used, s)));
  }
  Value pos = arith::SubIOp::create(
      bb, loc,
      arith::AddIOp::create(bb, loc, arith::SubIOp::create(bb, loc, qi, qStart),
                            kCount),
      qCount);
  Value l0 = c0, l1 = kCount;
  if (right)
    l1 = arith::MinSIOp::create(
        bb, loc, kCount,
        arith::AddIOp::create(bb, loc, pos, cidx(bb, loc, *right + 1)));
  if (left)
    l0 = arith::MaxSIOp::create(
        bb, loc, c0, arith::SubIOp::create(bb, loc, pos, cidx(bb, loc, *left)));
  l1 = arith::MaxSIOp::create(bb, loc, l0, l1);
  return {arith::AddIOp::create(bb, loc, kStart, l0),
          arith::AddIOp::create(bb, loc, kStart, l1),
          arith::AddIOp::create(bb, loc, kStart, pos)};
}

void AttentionKernel::blockKeyRange() {
  Value lastQuery =
      arith::SubIOp::create(rw, loc, arith::MaxUIOp::create(rw, loc, Lq, c1), c1);
  auto lastOf = [&](Value first, int64_t count) -> Value {
    return arith::MinUIOp::create(
        rw, loc, arith::AddIOp::create(rw, loc, first, cidx(rw, loc, count - 1)),
        lastQuery);
  };
  QueryKeys own = keysOf(rw, i);
  lo = own.lo, hi = own.hi, qpos = own.pos;
  blo = keyRange(rw, qFirst).first;
  bhi = keyRange(rw, lastOf(qFirst, Q)).second;
  bhi = arith::MaxSIOp::create(rw, loc, blo, bhi);
  // A thread per query walks its own keys; groups walk the block's (a
  // shuffle needs its whole warp, and the emulator the whole block).
  wlo = T == 1 ? lo : blo;
  whi = T == 1 ? hi : bhi;
}

void AttentionKernel::loadQuery() {
  qr = valuesIf(rw, loc, active, SmallVector<Value>(Kd, cf32(rw, loc, 0)),
                [&](OpBuilder &bb) {
    SmallVector<Value> vals;
    for (int64_t kk = 0; kk < Kd; ++kk) {
      Value x = arith::MulFOp::create(
          bb, loc, load32(bb, loc, q, ValueRange{b, h, i, column(bb, loc, kk, d)}),
          cf32(bb, loc, scale));
      if (Value ok = columnValid(bb, loc, kk, d))
        x = arith::SelectOp::create(bb, loc, ok, x, cf32(bb, loc, 0));
      vals.push_back(x);
    }
    return vals;
  });
}

Value AttentionKernel::score(OpBuilder &bb, Location bl, Value jj) {
  Value row = arith::MulIOp::create(bb, bl, jj, cd);
  Value sum = cf32(bb, bl, 0);
  for (int64_t kk = 0; kk < Kd; ++kk)
    sum = math::FmaOp::create(
        bb, bl, qr[kk],
        memref::LoadOp::create(
            bb, bl, sK,
            ValueRange{arith::AddIOp::create(bb, bl, row, column(bb, bl, kk, d))}),
        sum);
  // Lanes g and g ^ off of a group add their sums: after log2(T) rounds
  // every lane holds the group's total.
  for (int64_t off = T / 2; off >= 1; off /= 2)
    sum = arith::AddFOp::create(
        bb, bl, sum,
        gpu::ShuffleOp::create(bb, bl, sum, off, kWarp, gpu::ShuffleMode::XOR)
            .getShuffleResult());
  if (softcap)
    sum = arith::MulFOp::create(
        bb, bl,
        math::TanhOp::create(
            bb, bl, arith::MulFOp::create(bb, bl, sum, cf32(bb, bl, 1.0 / *softcap))),
        cf32(bb, bl, *softcap));
  return sum;
}

scf::ForOp AttentionKernel::emitKeyTiles() {
  // A sink starts the softmax as a virtual key: (max, sum) = (sink, 1).
  SmallVector<Value> carried{cf32(rw, loc, -3.0e38), cf32(rw, loc, 0)};
  if (sinks) {
    Value hh = arith::SelectOp::create(rw, loc, blockActive, h, c0);
    carried[0] = load32(rw, loc, sinks, ValueRange{hh});
    carried[1] = cf32(rw, loc, 1);
  }
  carried.append(Kv, cf32(rw, loc, 0));
  return scf::ForOp::create(
      rw, loc, blo, bhi, cTk, carried,
      [&](OpBuilder &tb, Location l, Value j0, ValueRange ml) {
        Value cnt = arith::MinUIOp::create(
            tb, l, cTk, arith::SubIOp::create(tb, l, bhi, j0));
        stageKeyTile(tb, l, j0, cnt);
        barrier(tb, l);
        // With T > 1 the shuffles need the whole warp: every thread folds
        // the warp's keys (masked for idle queries); a thread per query
        // folds only its own.
        SmallVector<Value> next =
            T > 1 ? foldKeys(tb, l, j0, cnt, ml)
                  : valuesIf(tb, l, active, ml, [&](OpBuilder &ub) {
                      return foldKeys(ub, l, j0, cnt, ml);
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

SmallVector<Value> AttentionKernel::foldKeys(OpBuilder &tb, Location l,
                                             Value j0, Value cnt,
                                             ValueRange ml) {
  // The walked keys within the tile: [a0, a1).
  auto rel = [&](Value x) {
    return arith::MinSIOp::create(
        tb, l, cnt,
        arith::MaxSIOp::create(tb, l, c0, arith::SubIOp::create(tb, l, x, j0)));
  };
  Value a0 = rel(wlo), a1 = rel(whi);
  auto keys = scf::ForOp::create(
      tb, l, a0, a1, c1, ml,
      [&](OpBuilder &bb, Location bl, Value jj, ValueRange st) {
        Value s = score(bb, bl, jj);
        if (slopes) {
          // - slope * |pos - j|
          Value j = arith::AddIOp::create(bb, bl, j0, jj);
          Value pos = qpos;
          Value dist = arith::MaxSIOp::create(
              bb, bl, arith::SubIOp::create(bb, bl, pos, j),
              arith::SubIOp::create(bb, bl, j, pos));
          Value df = arith::SIToFPOp::create(
              bb, bl, bb.getF32Type(),
              arith::IndexCastOp::create(bb, bl, bb.getI32Type(), dist));
          s = arith::SubFOp::create(bb, bl, s,
                                    arith::MulFOp::create(bb, bl, slope, df));
        }
        Value m = st[0];
        Value mNew = arith::MaximumFOp::create(bb, bl, m, s);
        Value p = math::ExpOp::create(bb, bl, arith::SubFOp::create(bb, bl, s, mNew));
        if (T > 1) {
          // Keys of the warp this query does not see weigh nothing.
          Value j = arith::AddIOp::create(bb, bl, j0, jj);
          Value sees = arith::AndIOp::create(
              bb, bl, active,
              arith::AndIOp::create(
                  bb, bl,
                  arith::CmpIOp::create(bb, bl, arith::CmpIPredicate::sge, j, lo),
                  arith::CmpIOp::create(bb, bl, arith::CmpIPredicate::slt, j, hi)));
          mNew = arith::SelectOp::create(bb, bl, sees, mNew, m);
          p = arith::SelectOp::create(bb, bl, sees, p, cf32(bb, bl, 0));
        }
        Value corr = math::ExpOp::create(bb, bl, arith::SubFOp::create(bb, bl, m, mNew));
        SmallVector<Value> next{mNew, math::FmaOp::create(bb, bl, st[1], corr, p)};
        Value row = arith::MulIOp::create(bb, bl, jj, cdv);
        for (int64_t kk = 0; kk < Kv; ++kk) {
          Value vk = memref::LoadOp::create(
              bb, bl, sV,
              ValueRange{arith::AddIOp::create(bb, bl, row, column(bb, bl, kk, dv))});
          next.push_back(math::FmaOp::create(
              bb, bl, p, vk, arith::MulFOp::create(bb, bl, st[2 + kk], corr)));
        }
        scf::YieldOp::create(bb, bl, next);
      });
  return SmallVector<Value>(keys.getResults().begin(), keys.getResults().end());
}

void AttentionKernel::storeOutput(scf::ForOp tiles) {
  ifThen(rw, loc, active, [&](OpBuilder &ab) {
    Value lsum = tiles.getResult(1);
    Value any = arith::CmpFOp::create(ab, loc, arith::CmpFPredicate::OGT, lsum,
                                      cf32(ab, loc, 0));
    Value inv = arith::SelectOp::create(
        ab, loc, any, arith::DivFOp::create(ab, loc, cf32(ab, loc, 1), lsum),
        cf32(ab, loc, 0));
    for (int64_t kk = 0; kk < Kv; ++kk) {
      auto store = [&](OpBuilder &sb) {
        store32(sb, loc, arith::MulFOp::create(sb, loc, tiles.getResult(2 + kk), inv),
                out, ValueRange{b, h, i, column(sb, loc, kk, dv)});
      };
      if (Value ok = columnValid(ab, loc, kk, dv))
        ifThen(ab, loc, ok, store);
      else
        store(ab);
    }
  });
}

struct AttentionToGPU : OpRewritePattern<ssm::AttentionOp> {
  AttentionToGPU(MLIRContext *ctx, int64_t maxSharedBytes)
      : OpRewritePattern(ctx), maxSharedBytes(maxSharedBytes) {}
  LogicalResult matchAndRewrite(ssm::AttentionOp op,
                                PatternRewriter &rw) const override {
    auto floatOk = [](Value v) {
      if (!v)
        return true;
      Type e = getElementTypeOrSelf(v.getType());
      return e.isF32() || e.isF16() || e.isBF16();
    };
    if (!floatOk(op.getQ()) || !floatOk(op.getK()) || !floatOk(op.getV()) ||
        !floatOk(op.getAlibiSlopes()) || !floatOk(op.getSinks()))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 stays on the host)");
    auto vTy = cast<RankedTensorType>(op.getV().getType());
    auto qTy = cast<RankedTensorType>(op.getQ().getType());
    if (vTy.isDynamicDim(3) || qTy.isDynamicDim(3))
      return rw.notifyMatchFailure(op, "needs static head sizes");
    const int64_t d = qTy.getDimSize(3), dv = vTy.getDimSize(3);
    std::optional<AttentionPlan> plan =
        AttentionPlan::choose(d, dv, maxSharedBytes);
    if (!plan)
      return rw.notifyMatchFailure(
          op, "head sizes too large for the kernel's register and shared-memory budget");
    AttentionKernel(op, rw, d, dv, *plan).run();
    return success();
  }

private:
  int64_t maxSharedBytes;
};

} // namespace

void ssmc::populateAttentionToGPUPatterns(RewritePatternSet &patterns,
                                          int64_t maxSharedBytes) {
  patterns.add<AttentionToGPU>(patterns.getContext(), maxSharedBytes);
}
