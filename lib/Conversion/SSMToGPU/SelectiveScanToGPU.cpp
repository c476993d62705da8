//===- SelectiveScanToGPU.cpp - selective_scan as a GPU kernel ------------===//
//
// Up to N = 32 (the state in registers): one launch of 128-thread blocks in
// which every thread owns one (batch, channel) and one of C chunks of the
// sequence, C a power of two <= 32 chosen at run time so that B * Dm * C
// threads fill the GPU (C = 1 when B * Dm alone does; every chunk at least
// 32 steps). The block holds 128 / C channels times C chunks and runs
// three phases:
//  1. each thread scans its chunk from a zero state (chunk 0 from h0) and
//     leaves the chunk's end state and the sum of its step sizes in shared
//     memory: a chunk maps h to exp(A * sum(dt)) h + s, so chunks compose
//     like an associative scan's elements;
//  2. log2(C) rounds of a Hillis-Steele scan over the channel's chunks in
//     shared memory (barriers between reads and writes) turn them into
//     inclusive prefixes: the state entering every chunk;
//  3. each thread reruns its chunk from that state, writing y (and the last
//     chunk the final state).
// With C = 1 phases 1 and 2 are skipped and the kernel is the fused
// single-pass recurrence of the CPU lowering. The state is N loop-carried
// scalars and A's row N values: registers. The per-step rows pass through
// shared sub-tiles whose step count is sized at rewrite time from the
// shared-memory budget (convert-ssm-to-gpu's max-shared-bytes, sm_90's
// 227 KB by default), 16 steps where they fit, fewer where not. With a z
// gate at N = 28..32 the 16-step arrays take 49.7-51.7 KB, over the 48 KB
// of static shared memory: they become dynamic shared memory
// (ssm-gpu-stage-buffers); with a 48 KB budget the tile drops to 8 steps.
// Larger states use one thread per channel with the state in a private
// array, which ptxas puts in local memory. The launch names the host
// buffers; after bufferization ssm-gpu-stage-buffers gives it device
// copies.
//
// Handled: f32/f16/bf16 operands with static N, shared, grouped or fixed
// ([Dm, N], read at the thread's channel every step, through L1) B/C, D,
// z, delta_bias, delta_softplus, h0 and final_state. Other forms (packed
// sequences, f64, dynamic N) are left to the CPU lowering, which the NVPTX
// pipeline runs after this pass, so every program still runs.
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

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;


namespace {

/// Up to this state size the kernel keeps the state in registers (N
/// loop-carried scalars) and chunks over L; larger states use a private
/// array.
constexpr int64_t kRegisterStateMax = 32;
/// Chunking over L stops once B * Dm * C threads reach this (about what an
/// H100 keeps resident at 128 registers per thread: 132 SMs x 512).
constexpr int64_t kTargetThreads = 65536;
constexpr int64_t kMaxChunks = 32;
/// Shorter chunks would spend more on the scan over chunks than they save.
constexpr int64_t kMinChunkLen = 32;
/// Steps per shared-memory sub-tile of the per-step rows, largest first:
/// the kernel takes the first whose arrays fit the shared-memory budget
/// (always 16 under sm_90's 227 KB; under a 48 KB budget 16 up to N = 27
/// with z and N = 32 without, 8 for N = 28..32 with z, where 16 would need
/// 49.7-51.7 KB).
constexpr int64_t kSubTiles[] = {16, 8, 4, 2, 1};

/// Index of B or C for batch b, channel d (in group grp), state index n and
/// step t, in the operand's form: [B, N, L], [B, G, N, L] or fixed [Dm, N].
SmallVector<Value> projectionIndex(Value operand, Value b, Value d, Value grp,
                                   Value n, Value t) {
  switch (cast<ShapedType>(operand.getType()).getRank()) {
  case 2:
    return {d, n};
  case 4:
    return {b, grp, n, t};
  default:
    return {b, n, t};
  }
}

/// What both kernels launch on: the op, its sizes and the host buffers the
/// launch reads and writes (ssm-gpu-stage-buffers, after bufferization,
/// moves them to device memory around it).
struct ScanOperands {
  ssm::SelectiveScanOp op;
  int64_t N = 0;
  Value Dm, L;
  /// B * Dm (one lane per (batch, channel)) and channels per B/C group.
  Value lanes, perGroup;
  /// The buffers of the operands, in operand order.
  SmallVector<Value> hostIns;
  /// The outputs; dFinal is null without final_state.
  Value dOut, dFinal;

  /// The buffer of operand `tensor` (null for an absent operand).
  Value devOf(Value tensor) const {
    if (!tensor)
      return {};
    for (auto [i, v] : llvm::enumerate(op->getOperands()))
      if (v == tensor)
        return hostIns[i];
    return {};
  }
};

/// The register-state kernel, chunked over L (see the file comment): the
/// host side picks C; in the kernel phases 1 and 2 (emitChunkPrefixes) give
/// each chunk its entering state and phase 3 (emitOutputPass) writes y.
class ChunkedKernel {
public:
  /// `subTile`: steps per sub-tile, from chooseSubTile.
  ChunkedKernel(PatternRewriter &rw, Location loc, const ScanOperands &ops,
                int64_t subTile)
      : rw(rw), loc(loc), ops(ops), op(ops.op), N(ops.N),
        hasZ(static_cast<bool>(op.getZ())), sub(subTile), pitch(subTile + 1) {}

  /// The largest sub-tile of kSubTiles whose shared arrays fit the budget
  /// for state size N (with a z gate: one more array); std::nullopt when
  /// even the smallest does not (then the private-state kernel runs).
  static std::optional<int64_t> chooseSubTile(int64_t N, bool hasZ,
                                              int64_t maxSharedBytes) {
    return pickTile(kSubTiles, [&](int64_t s) {
      return KernelBudget::sharedFits(sharedFloats(N, hasZ, s),
                                      hasZ ? 6 : 5, maxSharedBytes);
    });
  }

  void emit();

private:
  /// Row r of the block: thread r's channel (lane) and chunk, whether it
  /// has one, and its steps [t0, t1).
  struct Row {
    Value lane, c, active, t0, t1;
  };
  /// What a thread's steps through a sub-tile read besides the state.
  struct StepInputs {
    /// A's row, delta_bias and D of the channel.
    ArrayRef<Value> aRow;
    Value bias, Dv;
    /// Batch, channel and B/C group of the lane.
    Value b, d, grp;
    /// The thread's row in the sub-tiles and the sub-tile's first step.
    Value rowBase, start;
  };

  // Host side, before the launch.
  /// C, its log2, the grid and the sub-tiling.
  void chooseChunks();
  SmallVector<Type> sharedTypes() const;
  /// f32 values of shared memory a block declares: the chunks' dt sums and
  /// states, then u, dt, y (and z) sub-tiles of kBlock padded rows.
  static int64_t sharedFloats(int64_t N, bool hasZ, int64_t subTile) {
    return kBlock + N * kBlock + (hasZ ? 4 : 3) * kBlock * (subTile + 1);
  }

  // In the kernel.
  void bindThread(Value bid, Value tid, ValueRange sh);
  /// Phases 1 and 2 (only when C > 1).
  void emitChunkPrefixes();
  /// Phase 1: each chunk from zero (chunk 0 from h0); its end state and
  /// the sum of its step sizes go to shared memory.
  void emitChunkSummaries(OpBuilder &pb);
  /// Phase 2, round r: combine with the chunk 2^r places earlier.
  void emitScanRound(OpBuilder &rb, Value r);
  /// Phase 3: every chunk from the state entering it, writing y and the
  /// final state.
  void emitOutputPass();

  /// The block's rows through sub-tiles of `sub` steps: every thread
  /// walks its chunk from `init` (N values; ignored on idle threads) and
  /// gets the state and the sum of its step sizes; `emit` writes y.
  scf::ForOp tiledScan(OpBuilder &b, ValueRange init, bool emit);
  /// Loads the sub-tile's u, dt (and z with `emit`) into shared memory.
  void stageSubTile(OpBuilder &tb, Location l, Value base, bool emit);
  /// The thread's steps through the sub-tile; results: state and dt sum.
  scf::IfOp emitSubTileSteps(OpBuilder &tb, Location l, Value base,
                             ValueRange hs, ArrayRef<Value> chan, bool emit);
  /// One step (yields the next state and dt sum).
  void emitStep(OpBuilder &lb, Location sl, const StepInputs &in, Value s_,
                ValueRange hv, bool emit);
  /// Copies the sub-tile's y from shared memory to the output.
  void writeOutputs(OpBuilder &tb, Location l, Value base);
  /// For each element (r, s) of the sub-tile: `body(row, t, slot)` where
  /// step t of row r is valid.
  void eachValid(
      OpBuilder &ob, Value base,
      llvm::function_ref<void(OpBuilder &, const Row &, Value, Value)> body);

  Row rowOf(OpBuilder &b, Value r);
  /// (batch, channel) of a lane; only under a guard that the lane is
  /// active (Dm may be 0).
  std::pair<Value, Value> bdOf(OpBuilder &b, Value lane) {
    return std::make_pair(arith::DivUIOp::create(b, loc, lane, ops.Dm).getResult(),
                          arith::RemUIOp::create(b, loc, lane, ops.Dm).getResult());
  }
  Value hIndex(OpBuilder &b, int64_t n, Value thread) {
    return arith::AddIOp::create(b, loc, cidx(b, loc, n * kBlock), thread);
  }
  /// f32 values computed by active threads (zeros on idle ones).
  SmallVector<Value>
  ifActive(OpBuilder &b, size_t count,
           llvm::function_ref<SmallVector<Value>(OpBuilder &)> fn) {
    return valuesIf(b, loc, me.active,
                    SmallVector<Value>(count, cf32(b, loc, 0)), fn);
  }
  /// This thread's channel constants: A's row, delta_bias, D (loaded where
  /// a phase starts rather than kept live across the kernel, which made
  /// ptxas spill).
  SmallVector<Value> channel(OpBuilder &b);
  Value h0At(OpBuilder &b, int64_t n);
  Value ult(OpBuilder &b, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }
  Value eq(OpBuilder &b, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
  }

  PatternRewriter &rw;
  Location loc;
  const ScanOperands &ops;
  ssm::SelectiveScanOp op;
  const int64_t N;
  const bool hasZ;
  /// Steps per sub-tile and values per padded row.
  const int64_t sub, pitch;

  // Grid (chooseChunks).
  Value c0, c1;
  /// Chunks per channel and the scan rounds over them (log2 C).
  Value C, rounds;
  /// Channels per block, blocks, steps per chunk.
  Value cpb, blocks, chunkLen;
  Value cPitch, cSub, subTiles;

  // The thread (bindThread).
  Value bid, tid;
  /// Shared arrays: dt sums and states of the chunks (phases 1-2), the
  /// sub-tiles of u, dt, y and z.
  Value sS, sH, sU, sDt, sY, sZ;
  Row me;
  /// Whether the thread's chunk is the first or the last.
  Value first, last;
};

void ChunkedKernel::emit() {
  chooseChunks();
  launchBlocks(rw, loc, blocks, sharedTypes(),
               [&](Value blockId, Value threadId, ValueRange sh) {
                 bindThread(blockId, threadId, sh);
                 emitChunkPrefixes();
                 emitOutputPass();
               });
}

void ChunkedKernel::chooseChunks() {
  c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1);
  // C: the largest power of two <= kMaxChunks with lanes * C / 2 below the
  // target and chunks of at least kMinChunkLen steps (both conditions hold
  // for every smaller power once they hold for one).
  C = c1, rounds = c0;
  for (int64_t cand = 2, r = 1; cand <= kMaxChunks; cand *= 2, ++r) {
    Value few = ult(rw, arith::MulIOp::create(rw, loc, ops.lanes,
                                              cidx(rw, loc, cand / 2)),
                    cidx(rw, loc, kTargetThreads));
    Value longEnough = arith::CmpIOp::create(
        rw, loc, arith::CmpIPredicate::uge, ops.L,
        cidx(rw, loc, cand * kMinChunkLen));
    Value ok = arith::AndIOp::create(rw, loc, few, longEnough);
    C = arith::SelectOp::create(rw, loc, ok, cidx(rw, loc, cand), C);
    rounds = arith::SelectOp::create(rw, loc, ok, cidx(rw, loc, r), rounds);
  }
  cpb = arith::DivUIOp::create(rw, loc, cidx(rw, loc, kBlock), C);
  blocks = arith::CeilDivUIOp::create(rw, loc, ops.lanes, cpb);
  chunkLen = arith::CeilDivUIOp::create(rw, loc, ops.L, C);
  // The per-step rows (u, dt, z in; y out) go through shared memory in
  // sub-tiles of `sub` steps: the block loads them with consecutive
  // threads on consecutive steps of a row (coalesced; a thread's own row is
  // sub * 4 bytes, rows sit L * 4 bytes apart), and each thread reads
  // its row there. Rows are padded by one value (pitch) so that the
  // threads of a warp, reading the same step of 32 rows, hit 32 banks.
  cPitch = cidx(rw, loc, pitch), cSub = cidx(rw, loc, sub);
  subTiles = arith::CeilDivUIOp::create(rw, loc, chunkLen, cSub);
}

SmallVector<Type> ChunkedKernel::sharedTypes() const {
  MLIRContext *ctx = rw.getContext();
  SmallVector<Type> shared = {sharedArrayType(ctx, kBlock),
                              sharedArrayType(ctx, N * kBlock),
                              sharedArrayType(ctx, kBlock * pitch),
                              sharedArrayType(ctx, kBlock * pitch),
                              sharedArrayType(ctx, kBlock * pitch)};
  if (hasZ)
    shared.push_back(sharedArrayType(ctx, kBlock * pitch));
  assert(sharedFloats(N, hasZ, sub) ==
             kBlock + N * kBlock + int64_t(shared.size() - 2) * kBlock * pitch &&
         "sharedFloats must count what the kernel declares");
  return shared;
}

void ChunkedKernel::bindThread(Value blockId, Value threadId, ValueRange sh) {
  bid = blockId, tid = threadId;
  sS = sh[0], sH = sh[1], sU = sh[2], sDt = sh[3], sY = sh[4];
  sZ = hasZ ? sh[5] : Value();
  me = rowOf(rw, tid);
  first = eq(rw, me.c, c0);
  last = eq(rw, me.c, arith::SubIOp::create(rw, loc, C, c1));
}

ChunkedKernel::Row ChunkedKernel::rowOf(OpBuilder &b, Value r) {
  Row row;
  Value lc = arith::RemUIOp::create(b, loc, r, cpb);
  row.c = arith::DivUIOp::create(b, loc, r, cpb);
  row.lane = arith::AddIOp::create(
      b, loc, arith::MulIOp::create(b, loc, bid, cpb), lc);
  row.active = ult(b, row.lane, ops.lanes);
  row.t0 = arith::MinUIOp::create(
      b, loc, arith::MulIOp::create(b, loc, row.c, chunkLen), ops.L);
  row.t1 = arith::MinUIOp::create(
      b, loc, arith::AddIOp::create(b, loc, row.t0, chunkLen), ops.L);
  return row;
}

SmallVector<Value> ChunkedKernel::channel(OpBuilder &b) {
  return ifActive(b, N + 2, [&](OpBuilder &ab) {
    auto bd = bdOf(ab, me.lane);
    Value d = bd.second;
    SmallVector<Value> v;
    for (int64_t n = 0; n < N; ++n)
      v.push_back(load32(ab, loc, ops.devOf(op.getA()), ValueRange{d, cidx(ab, loc, n)}));
    v.push_back(op.getDeltaBias()
                    ? load32(ab, loc, ops.devOf(op.getDeltaBias()), ValueRange{d})
                    : cf32(ab, loc, 0));
    v.push_back(op.getD() ? load32(ab, loc, ops.devOf(op.getD()), ValueRange{d})
                          : cf32(ab, loc, 0));
    return v;
  });
}

Value ChunkedKernel::h0At(OpBuilder &b, int64_t n) {
  if (!op.getH0())
    return cf32(b, loc, 0);
  auto [bb, d] = bdOf(b, me.lane);
  return load32(b, loc, ops.devOf(op.getH0()), ValueRange{bb, d, cidx(b, loc, n)});
}

void ChunkedKernel::eachValid(
    OpBuilder &ob, Value base,
    llvm::function_ref<void(OpBuilder &, const Row &, Value, Value)> body) {
  blockStrided(ob, loc, tid, cidx(ob, loc, kBlock * sub),
               [&](OpBuilder &ib, Value idx) {
    Value r = arith::DivUIOp::create(ib, loc, idx, cSub);
    Value s_ = arith::RemUIOp::create(ib, loc, idx, cSub);
    Row row = rowOf(ib, r);
    Value t = arith::AddIOp::create(
        ib, loc, arith::AddIOp::create(ib, loc, row.t0, base), s_);
    Value valid = arith::AndIOp::create(ib, loc, row.active, ult(ib, t, row.t1));
    ifThen(ib, loc, valid, [&](OpBuilder &vb) {
      Value slot = arith::AddIOp::create(
          vb, loc, arith::MulIOp::create(vb, loc, r, cPitch), s_);
      body(vb, row, t, slot);
    });
  });
}

scf::ForOp ChunkedKernel::tiledScan(OpBuilder &b, ValueRange init, bool emit) {
  SmallVector<Value> chan = channel(b);
  SmallVector<Value> carried(init.begin(), init.end());
  carried.push_back(cf32(b, loc, 0));
  return scf::ForOp::create(
      b, loc, c0, subTiles, c1, carried,
      [&](OpBuilder &tb, Location l, Value st, ValueRange hs) {
        Value base = arith::MulIOp::create(tb, l, st, cSub);
        stageSubTile(tb, l, base, emit);
        barrier(tb, l);
        auto upd = emitSubTileSteps(tb, l, base, hs, chan, emit);
        barrier(tb, l);
        if (emit)
          writeOutputs(tb, l, base);
        scf::YieldOp::create(tb, l, upd.getResults());
      });
}

void ChunkedKernel::stageSubTile(OpBuilder &tb, Location l, Value base,
                                 bool emit) {
  eachValid(tb, base, [&](OpBuilder &vb, const Row &row, Value t, Value slot) {
    auto [bb, d] = bdOf(vb, row.lane);
    memref::StoreOp::create(
        vb, l, load32(vb, l, ops.devOf(op.getU()), ValueRange{bb, d, t}), sU, slot);
    memref::StoreOp::create(
        vb, l, load32(vb, l, ops.devOf(op.getDelta()), ValueRange{bb, d, t}), sDt, slot);
    if (emit && hasZ)
      memref::StoreOp::create(
          vb, l, load32(vb, l, ops.devOf(op.getZ()), ValueRange{bb, d, t}), sZ, slot);
  });
}

scf::IfOp ChunkedKernel::emitSubTileSteps(OpBuilder &tb, Location l,
                                          Value base, ValueRange hs,
                                          ArrayRef<Value> chan, bool emit) {
  Value start = arith::MinUIOp::create(
      tb, l, arith::AddIOp::create(tb, l, me.t0, base), me.t1);
  Value cnt = arith::MinUIOp::create(
      tb, l, cSub, arith::SubIOp::create(tb, l, me.t1, start));
  SmallVector<Type> tys(N + 1, tb.getF32Type());
  auto upd = scf::IfOp::create(tb, l, tys, me.active, true);
  OpBuilder::InsertionGuard g(tb);
  tb.setInsertionPointToStart(&upd.getThenRegion().front());
  StepInputs in;
  in.aRow = chan.take_front(N);
  in.bias = chan[N], in.Dv = chan[N + 1];
  auto bd = bdOf(tb, me.lane);
  in.b = bd.first;
  in.d = bd.second;
  in.grp = arith::DivUIOp::create(tb, l, bd.second, ops.perGroup);
  in.rowBase = arith::MulIOp::create(tb, l, tid, cPitch);
  in.start = start;
  auto steps = scf::ForOp::create(
      tb, l, c0, cnt, c1, hs,
      [&](OpBuilder &lb, Location sl, Value s_, ValueRange hv) {
        emitStep(lb, sl, in, s_, hv, emit);
      });
  scf::YieldOp::create(tb, l, steps.getResults());
  tb.setInsertionPointToStart(&upd.getElseRegion().front());
  scf::YieldOp::create(tb, l, hs);
  return upd;
}

void ChunkedKernel::emitStep(OpBuilder &lb, Location sl, const StepInputs &in,
                             Value s_, ValueRange hv, bool emit) {
  Value slot = arith::AddIOp::create(lb, sl, in.rowBase, s_);
  Value t = arith::AddIOp::create(lb, sl, in.start, s_);
  Value u = memref::LoadOp::create(lb, sl, sU, slot);
  Value dt = memref::LoadOp::create(lb, sl, sDt, slot);
  if (op.getDeltaBias())
    dt = arith::AddFOp::create(lb, sl, dt, in.bias);
  if (op.getDeltaSoftplus())
    dt = softplus(lb, sl, dt);
  Value du = arith::MulFOp::create(lb, sl, dt, u);
  Value y = cf32(lb, sl, 0);
  SmallVector<Value> next;
  for (int64_t n = 0; n < N; ++n) {
    Value cn = cidx(lb, sl, n);
    Value decay = math::ExpOp::create(
        lb, sl, arith::MulFOp::create(lb, sl, dt, in.aRow[n]));
    Value bv = load32(lb, sl, ops.devOf(op.getB()),
                      projectionIndex(op.getB(), in.b, in.d, in.grp, cn, t));
    Value h = math::FmaOp::create(
        lb, sl, decay, hv[n], arith::MulFOp::create(lb, sl, du, bv));
    next.push_back(h);
    if (emit) {
      Value cv = load32(lb, sl, ops.devOf(op.getC()),
                        projectionIndex(op.getC(), in.b, in.d, in.grp, cn, t));
      y = math::FmaOp::create(lb, sl, cv, h, y);
    }
  }
  if (emit) {
    if (op.getD())
      y = math::FmaOp::create(lb, sl, in.Dv, u, y);
    if (hasZ)
      y = arith::MulFOp::create(
          lb, sl, y, silu(lb, sl, memref::LoadOp::create(lb, sl, sZ, slot)));
    memref::StoreOp::create(lb, sl, y, sY, slot);
  }
  next.push_back(arith::AddFOp::create(lb, sl, hv[N], dt));
  scf::YieldOp::create(lb, sl, next);
}

void ChunkedKernel::writeOutputs(OpBuilder &tb, Location l, Value base) {
  eachValid(tb, base, [&](OpBuilder &vb, const Row &row, Value t, Value slot) {
    auto [bb, d] = bdOf(vb, row.lane);
    store32(vb, l, memref::LoadOp::create(vb, l, sY, slot), ops.dOut,
            ValueRange{bb, d, t});
  });
}

void ChunkedKernel::emitChunkPrefixes() {
  // C is uniform over the grid, so every thread takes the same branch and
  // barriers.
  ifThen(rw, loc, arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ugt,
                                        C, c1),
         [&](OpBuilder &pb) {
           emitChunkSummaries(pb);
           forEach(pb, loc, rounds,
                   [&](OpBuilder &rb, Value r) { emitScanRound(rb, r); });
         });
}

void ChunkedKernel::emitChunkSummaries(OpBuilder &pb) {
  SmallVector<Value> init = ifActive(pb, N, [&](OpBuilder &b) {
    SmallVector<Value> v;
    for (int64_t n = 0; n < N; ++n)
      v.push_back(op.getH0() ? arith::SelectOp::create(b, loc, first, h0At(b, n),
                                                       cf32(b, loc, 0))
                                   .getResult()
                             : cf32(b, loc, 0));
    return v;
  });
  auto loop = tiledScan(pb, init, /*emit=*/false);
  ifThen(pb, loc, me.active, [&](OpBuilder &ab) {
    memref::StoreOp::create(ab, loc, loop.getResult(N), sS, tid);
    for (int64_t n = 0; n < N; ++n)
      memref::StoreOp::create(ab, loc, loop.getResult(n), sH,
                              ValueRange{hIndex(ab, n, tid)});
  });
  barrier(pb, loc);
}

void ChunkedKernel::emitScanRound(OpBuilder &rb, Value r) {
  Value k = arith::ShLIOp::create(rb, loc, c1, r);
  Value apply = arith::AndIOp::create(
      rb, loc, me.active,
      arith::CmpIOp::create(rb, loc, arith::CmpIPredicate::uge, me.c, k));
  // Combine with the chunk k places earlier: its segment, then ours.
  SmallVector<Value> comb = valuesIf(
      rb, loc, apply, SmallVector<Value>(N + 1, cf32(rb, loc, 0)),
      [&](OpBuilder &cb) {
        SmallVector<Value> chan = channel(cb);
        Value partner = arith::SubIOp::create(
            cb, loc, tid, arith::MulIOp::create(cb, loc, k, cpb));
        Value mine = memref::LoadOp::create(cb, loc, sS, tid);
        Value theirs = memref::LoadOp::create(cb, loc, sS, partner);
        SmallVector<Value> res;
        for (int64_t n = 0; n < N; ++n) {
          Value hm = memref::LoadOp::create(
              cb, loc, sH, ValueRange{hIndex(cb, n, tid)});
          Value hp = memref::LoadOp::create(
              cb, loc, sH, ValueRange{hIndex(cb, n, partner)});
          Value decay = math::ExpOp::create(
              cb, loc, arith::MulFOp::create(cb, loc, mine, chan[n]));
          res.push_back(math::FmaOp::create(cb, loc, decay, hp, hm));
        }
        res.push_back(arith::AddFOp::create(cb, loc, theirs, mine));
        return res;
      });
  barrier(rb, loc);
  ifThen(rb, loc, apply, [&](OpBuilder &wb) {
    for (int64_t n = 0; n < N; ++n)
      memref::StoreOp::create(wb, loc, comb[n], sH,
                              ValueRange{hIndex(wb, n, tid)});
    memref::StoreOp::create(wb, loc, comb[N], sS, tid);
  });
  barrier(rb, loc);
}

void ChunkedKernel::emitOutputPass() {
  // The state entering a chunk: the previous chunk's inclusive prefix; h0
  // or zero for chunk 0.
  SmallVector<Value> init = ifActive(rw, N, [&](OpBuilder &b) {
    Value prev = arith::SelectOp::create(
        b, loc, first, tid, arith::SubIOp::create(b, loc, tid, cpb));
    SmallVector<Value> v;
    for (int64_t n = 0; n < N; ++n) {
      Value carried = memref::LoadOp::create(b, loc, sH,
                                             ValueRange{hIndex(b, n, prev)});
      v.push_back(arith::SelectOp::create(b, loc, first, h0At(b, n), carried));
    }
    return v;
  });
  auto loop = tiledScan(rw, init, /*emit=*/true);
  if (ops.dFinal)
    ifThen(rw, loc, arith::AndIOp::create(rw, loc, me.active, last),
           [&](OpBuilder &fb) {
             auto [bb, d] = bdOf(fb, me.lane);
             for (int64_t n = 0; n < N; ++n)
               store32(fb, loc, loop.getResult(n), ops.dFinal,
                       ValueRange{bb, d, cidx(fb, loc, n)});
           });
}

/// Larger states: one thread per channel with the state in a private array
/// (which ptxas puts in local memory), stepping through the whole sequence.
class PrivateStateKernel {
public:
  PrivateStateKernel(PatternRewriter &rw, Location loc,
                     const ScanOperands &ops, Value c0, Value c1, Value cN)
      : rw(rw), loc(loc), ops(ops), op(ops.op), c0(c0), c1(c1), cN(cN) {}

  void emit() {
    launchLanes(rw, loc, ops.lanes, [&](Value lane) {
      locateLane(lane);
      initState();
      forEach(rw, loc, ops.L, [&](OpBuilder &bb, Value t) { emitStep(bb, t); });
      storeFinalState();
    });
  }

private:
  /// The lane's (batch, channel), group, channel constants and buffers.
  void locateLane(Value lane);
  /// h = h0 (or zero).
  void initState();
  /// Step t: the state update and y_t.
  void emitStep(OpBuilder &bb, Value t);
  void storeFinalState();

  /// dt of step t after delta_bias and softplus.
  Value stepDt(OpBuilder &bb, Location l, Value t);
  /// Output of one step from the state read-out `y`.
  void finish(OpBuilder &bb, Location l, Value y, Value u, Value t);

  PatternRewriter &rw;
  Location loc;
  const ScanOperands &ops;
  ssm::SelectiveScanOp op;
  Value c0, c1, cN;
  /// Batch, channel, B/C group of the lane.
  Value b, d, grp;
  /// delta_bias and D of the channel (null when absent).
  Value bias, Dv;
  Value dA, dB, dC, du, ddt, dz;
  /// The state.
  Value h;
};

void PrivateStateKernel::locateLane(Value lane) {
  b = arith::DivUIOp::create(rw, loc, lane, ops.Dm);
  d = arith::RemUIOp::create(rw, loc, lane, ops.Dm);
  grp = arith::DivUIOp::create(rw, loc, d, ops.perGroup);
  bias = op.getDeltaBias()
             ? load32(rw, loc, ops.devOf(op.getDeltaBias()), ValueRange{d})
             : Value();
  Dv = op.getD() ? load32(rw, loc, ops.devOf(op.getD()), ValueRange{d})
                 : Value();
  dA = ops.devOf(op.getA()), dB = ops.devOf(op.getB()), dC = ops.devOf(op.getC());
  du = ops.devOf(op.getU()), ddt = ops.devOf(op.getDelta());
  dz = ops.devOf(op.getZ());
}

void PrivateStateKernel::initState() {
  h = privateArray(rw, loc, ops.N);
  forEach(rw, loc, cN, [&](OpBuilder &bb, Value n) {
    Value init = op.getH0() ? load32(bb, loc, ops.devOf(op.getH0()),
                                     ValueRange{b, d, n})
                            : cf32(bb, loc, 0);
    store32(bb, loc, init, h, ValueRange{n});
  });
}

Value PrivateStateKernel::stepDt(OpBuilder &bb, Location l, Value t) {
  Value dt = load32(bb, l, ddt, ValueRange{b, d, t});
  if (bias)
    dt = arith::AddFOp::create(bb, l, dt, bias);
  if (op.getDeltaSoftplus())
    dt = softplus(bb, l, dt);
  return dt;
}

void PrivateStateKernel::finish(OpBuilder &bb, Location l, Value y, Value u,
                                Value t) {
  if (Dv)
    y = math::FmaOp::create(bb, l, Dv, u, y);
  if (dz)
    y = arith::MulFOp::create(
        bb, l, y, silu(bb, l, load32(bb, l, dz, ValueRange{b, d, t})));
  store32(bb, l, y, ops.dOut, ValueRange{b, d, t});
}

void PrivateStateKernel::emitStep(OpBuilder &bb, Value t) {
  Location l = loc;
  Value u = load32(bb, l, du, ValueRange{b, d, t});
  Value dt = stepDt(bb, l, t);
  Value du_ = arith::MulFOp::create(bb, l, dt, u);
  auto nLoop = scf::ForOp::create(
      bb, l, c0, cN, c1, ValueRange{cf32(bb, l, 0)},
      [&](OpBuilder &nb, Location nl, Value n, ValueRange acc) {
        Value a = load32(nb, nl, dA, ValueRange{d, n});
        Value decay = math::ExpOp::create(
            nb, nl, arith::MulFOp::create(nb, nl, dt, a));
        Value bv = load32(nb, nl, dB, projectionIndex(op.getB(), b, d, grp, n, t));
        Value cv = load32(nb, nl, dC, projectionIndex(op.getC(), b, d, grp, n, t));
        Value hn = load32(nb, nl, h, ValueRange{n});
        Value upd = math::FmaOp::create(
            nb, nl, decay, hn, arith::MulFOp::create(nb, nl, du_, bv));
        store32(nb, nl, upd, h, ValueRange{n});
        Value y = math::FmaOp::create(nb, nl, cv, upd, acc[0]);
        scf::YieldOp::create(nb, nl, y);
      });
  finish(bb, l, nLoop.getResult(0), u, t);
}

void PrivateStateKernel::storeFinalState() {
  if (ops.dFinal)
    forEach(rw, loc, cN, [&](OpBuilder &bb, Value n) {
      Value hn = load32(bb, loc, h, ValueRange{n});
      store32(bb, loc, hn, ops.dFinal, ValueRange{b, d, n});
    });
}

struct SelectiveScanToGPU : OpRewritePattern<ssm::SelectiveScanOp> {
  SelectiveScanToGPU(MLIRContext *ctx, int64_t maxSharedBytes)
      : OpRewritePattern(ctx), maxSharedBytes(maxSharedBytes) {}

  /// The shared-memory budget of a block (convert-ssm-to-gpu's option).
  int64_t maxSharedBytes;

  /// Why the kernels cannot take `op`, or null.
  static const char *unsupported(ssm::SelectiveScanOp op) {
    if (!gpuFloatOperands(op))
      return "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)";
    auto aTy = cast<RankedTensorType>(op.getA().getType());
    if (aTy.isDynamicDim(1) || aTy.getDimSize(1) > 256)
      return "needs a static state size N <= 256";
    if (op.getCuSeqlens() || op.getSeqIdx())
      return "packed sequences (cu_seqlens, seq_idx) stay on the CPU";
    return nullptr;
  }

  /// Host buffers and sizes. The kernel reads and writes the host buffers;
  /// ssm-gpu-stage-buffers (after bufferization) moves them to device
  /// memory around the launch.
  static ScanOperands prepareOperands(PatternRewriter &rw, Location loc,
                                      ssm::SelectiveScanOp op, int64_t N) {
    ScanOperands ops;
    ops.op = op;
    ops.N = N;
    Value hu = toStridedBuffer(rw, loc, op.getU());
    Value Bsz = dimOf(rw, loc, hu, 0);
    ops.Dm = dimOf(rw, loc, hu, 1), ops.L = dimOf(rw, loc, hu, 2);
    for (Value v : op->getOperands())
      ops.hostIns.push_back(toStridedBuffer(rw, loc, v));
    ops.dOut = allocLike(rw, loc, op.getOut().getType(), {Bsz, ops.Dm, ops.L});
    if (op.getFinalState())
      ops.dFinal = allocLike(rw, loc, op.getFinalState().getType(),
                             {Bsz, ops.Dm, cidx(rw, loc, N)});
    Value G = cidx(rw, loc, 1);
    if (op.isGroupedB())
      G = dimOf(rw, loc, ops.hostIns[3], 1);
    else if (op.isGroupedC())
      G = dimOf(rw, loc, ops.hostIns[4], 1);
    ops.perGroup = arith::DivUIOp::create(rw, loc, ops.Dm, G);
    ops.lanes = arith::MulIOp::create(rw, loc, Bsz, ops.Dm);
    return ops;
  }

  LogicalResult matchAndRewrite(ssm::SelectiveScanOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    if (const char *why = unsupported(op))
      return rw.notifyMatchFailure(op, why);
    const int64_t N =
        cast<RankedTensorType>(op.getA().getType()).getDimSize(1);
    ScanOperands ops = prepareOperands(rw, loc, op, N);
    Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1), cN = cidx(rw, loc, N);
    std::optional<int64_t> subTile;
    if (N <= kRegisterStateMax)
      subTile = ChunkedKernel::chooseSubTile(N, static_cast<bool>(op.getZ()),
                                             maxSharedBytes);
    if (subTile)
      ChunkedKernel(rw, loc, ops, *subTile).emit();
    else
      PrivateStateKernel(rw, loc, ops, c0, c1, cN).emit();
    replaceWithBuffers(rw, loc, op, ops.dOut, ops.dFinal);
    return success();
  }
};

} // namespace

void ssmc::populateSelectiveScanToGPUPatterns(RewritePatternSet &patterns,
                                              int64_t maxSharedBytes) {
  patterns.add<SelectiveScanToGPU>(patterns.getContext(), maxSharedBytes);
}
