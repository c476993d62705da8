//===- SelectiveScanToLoops.cpp - fused CPU lowering of selective_scan ----===//
//
// One pass over the sequence per (batch, block of channels): the block's
// channels fill one vector register (16 f32 lanes for 512-bit vectors), the N
// state vectors stay in registers as loop-carried values across the time
// loop (or in a stack buffer when N is dynamic or large), and dt, exp(dt*A),
// dt*B*u, C.h, the D skip and the z gate are all computed inside the time
// loop, so nothing of size L*N is ever materialised. Blocks run in parallel
// (scf.parallel, lowered to OpenMP). Channel tails are masked.
//
// B or C fixed over time ([Dm, N]) is gathered once per block into a stack
// buffer of N vectors (one lane per channel) that every step reads. With
// seq_idx each (batch row, block) walks the row's segments of equal index
// in turn: the same time loop per segment, h0 entering the first, the
// state of the last leaving as the final state.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// Independent partial sums of the read-out y = sum_n C_n h_n per step: one
/// accumulator would chain N FMAs (4 cycles each) through every step.
constexpr int64_t kPartialSums = 4;

/// Builds the per-block body: everything below runs for one batch index and
/// one block of `vw` channels.
class BlockEmitter {
public:
  BlockEmitter(OpBuilder &b, Location loc, ssm::SelectiveScanOp op,
               FloatType acc, int64_t vw, ExpLowering expLowering)
      : b(b), loc(loc), op(op), acc(acc), vw(vw),
        vecTy(VectorType::get({vw}, acc)), expLowering(expLowering) {}

  FloatType accType() const { return acc; }
  VectorType vectorType() const { return vecTy; }
  int64_t lanes() const { return vw; }

  /// True when exp(dt*A) is computed as exp2(dt*A') with the A columns
  /// prescaled by log2(e) once per block.
  bool useExp2() const { return expLowering.fast && acc.isF32(); }
  /// The A column as the time loop wants it.
  Value prepareA(Value column) {
    return useExp2() ? arith::MulFOp::create(b, loc, column, cst(M_LOG2E))
                     : column;
  }

  // Buffers (null when the operand is absent).
  Value u, delta, A, B, C, D, z, bias, h0, out, fs;
  /// B / C fixed over time: the block's N columns as a stack buffer of N
  /// vectors (null when the operand varies over time).
  Value fixedB, fixedC;
  /// With seq_idx: whether the segment being emitted starts its batch row
  /// (h0 enters) and ends it (its state is the final state); null without.
  Value startsRow, endsRow;
  /// The batch entry read, the sequence whose state this is (they differ
  /// for packed sequences), and the steps [begin, end) of the sequence.
  Value batchIdx, stateIdx, begin, end, stateSize, chans;
  Value mask, idxL, idxN, idxGB, idxGC;

  Value cst(double v) {
    return arith::ConstantOp::create(
        b, loc, vecTy, DenseElementsAttr::get(vecTy, b.getFloatAttr(acc, v)));
  }
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

  /// Lane-strided vector read base[offs] + i*stride (stride in `index`),
  /// masked at the channel tail, converted to the accumulator type.
  /// `inPlace`: an h0 read of a kernel whose final state may be stored
  /// over h0. A task (sequence, block of channels) reads its lanes of h0
  /// as each segment starts, before the time loop, and stores its final
  /// state after it (with seq_idx, later segments read h0 again, but only
  /// the last segment's masked store writes): each element of h0 is read
  /// before the same element of the final state is written and never
  /// after, so a decode step need not copy h0 in or the state out.
  Value gather(Value mem, ValueRange offs, Value index, bool inPlace = false) {
    Type e = cast<MemRefType>(mem.getType()).getElementType();
    auto vt = VectorType::get({vw}, e);
    Value pass = arith::ConstantOp::create(
        b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
    auto g = vector::GatherOp::create(b, loc, vt, mem, offs, index, mask, pass);
    if (inPlace)
      markInPlace(g);
    return castFloat(b, loc, g, acc);
  }
  void scatter(Value mem, ValueRange offs, Value index, Value v) {
    Type e = cast<MemRefType>(mem.getType()).getElementType();
    vector::ScatterOp::create(b, loc, Type(), mem, offs, index, mask,
                              castFloat(b, loc, v, e));
  }
  /// Contiguous per-channel vector (D, delta_bias).
  Value channelVector(Value mem, Value d0) {
    Type e = cast<MemRefType>(mem.getType()).getElementType();
    auto vt = VectorType::get({vw}, e);
    Value pass = arith::ConstantOp::create(
        b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
    Value v = vector::MaskedLoadOp::create(b, loc, vt, mem, ValueRange{d0},
                                           mask, pass);
    return castFloat(b, loc, v, acc);
  }

  /// B or C for state index n at step t, as a vector over the block's lanes.
  Value inputProjection(Value mem, Value groupIdx, Value n, Value t) {
    if (Value cols = mem == B ? fixedB : mem == C ? fixedC : Value())
      return memref::LoadOp::create(b, loc, cols, n);
    if (groupIdx)
      return gather(mem, {batchIdx, idx(0), n, t}, groupIdx);
    Value s = memref::LoadOp::create(b, loc, mem, ValueRange{batchIdx, n, t});
    s = castFloat(b, loc, s, acc);
    return vector::BroadcastOp::create(b, loc, vecTy, s);
  }

  /// The state entering the time loop at index n: h0 (on the row's first
  /// segment with seq_idx) or zero.
  Value initialState(Value d0, Value n) {
    if (!h0)
      return cst(0.0);
    Value h = gather(h0, {stateIdx, d0, n}, idxN, /*inPlace=*/fs != nullptr);
    if (startsRow)
      h = arith::SelectOp::create(b, loc, startsRow, h, cst(0.0));
    return h;
  }
  /// Stores state index n as the final state (with seq_idx only from the
  /// row's last segment).
  void storeFinalState(Value d0, Value n, Value h) {
    Value m = mask;
    if (endsRow)
      m = arith::AndIOp::create(
          b, loc, m, vector::BroadcastOp::create(b, loc, m.getType(), endsRow));
    Type e = cast<MemRefType>(fs.getType()).getElementType();
    auto store =
        vector::ScatterOp::create(b, loc, Type(), fs, ValueRange{stateIdx, d0, n},
                                  idxN, m, castFloat(b, loc, h, e));
    if (h0)
      markInPlace(store); // see gather
  }

  struct Step {
    Value u, dt, dtu;
  };

  Step prologue(Value d0, Value t) {
    SmallVector<Value, 3> at{batchIdx, d0, t};
    return stepFrom(gather(u, at, idxL), gather(delta, at, idxL));
  }

  /// dt (bias, softplus) and dt*u from this step's u and delta vectors.
  Step stepFrom(Value uT, Value deltaT) { return stepWith(uT, deltaT, biasVec); }
  /// The same with the bias given as a vector (per lane, or one channel's
  /// broadcast for a row of steps).
  Step stepWith(Value uv, Value deltav, Value biasv) {
    Step s;
    s.u = uv;
    Value dt = deltav;
    if (bias)
      dt = arith::AddFOp::create(b, loc, dt, biasv);
    if (op.getDeltaSoftplus())
      dt = emitSoftplus(b, loc, dt, expLowering);
    s.dt = dt;
    s.dtu = arith::MulFOp::create(b, loc, dt, s.u);
    return s;
  }
  /// Element `row` of a per-channel vector operand, broadcast.
  Value channelScalar(Value mem, Value row) {
    return vector::BroadcastOp::create(
        b, loc, vecTy,
        castFloat(b, loc, memref::LoadOp::create(b, loc, mem, row), acc));
  }

  /// h' = exp(dt*A_n) h + dtu*B_n;  y' = C_n h' + y.
  std::pair<Value, Value> update(const Step &s, Value h, Value aN, Value n,
                                 Value t, Value y) {
    return updateWith(s, h, aN, inputProjection(B, idxGB, n, t),
                      inputProjection(C, idxGC, n, t), y);
  }
  std::pair<Value, Value> updateWith(const Step &s, Value h, Value aN,
                                     Value bN, Value cN, Value y) {
    Value dtA = arith::MulFOp::create(b, loc, s.dt, aN);
    Value dA = useExp2() ? emitExp2(b, loc, dtA, expLowering)
                         : math::ExpOp::create(b, loc, dtA).getResult();
    Value hNew = math::FmaOp::create(
        b, loc, dA, h, arith::MulFOp::create(b, loc, s.dtu, bN));
    Value yNew = math::FmaOp::create(b, loc, cN, hNew, y);
    return {hNew, yNew};
  }

  /// The sum of partial read-outs, pairwise (a tree, not a chain).
  Value sumPartials(ArrayRef<Value> ys) {
    SmallVector<Value> level(ys.begin(), ys.end());
    while (level.size() > 1) {
      SmallVector<Value> next;
      for (size_t i = 0; i + 1 < level.size(); i += 2)
        next.push_back(arith::AddFOp::create(b, loc, level[i], level[i + 1]));
      if (level.size() % 2)
        next.push_back(level.back());
      level = std::move(next);
    }
    return level.front();
  }

  void epilogue(const Step &s, Value d0, Value t, Value y) {
    Value zt = z ? gather(z, {batchIdx, d0, t}, idxL) : Value();
    scatter(out, {batchIdx, d0, t}, idxL, output(s, y, zt));
  }

  /// y + D*u, gated by silu(z) when z is given.
  Value output(const Step &s, Value y, Value zt) {
    return gate(y, dVec, s.u, zt);
  }
  /// y + d*u (when D is given), times silu(zt) (when zt is given).
  Value gate(Value y, Value d, Value uv, Value zt) {
    if (D)
      y = math::FmaOp::create(b, loc, d, uv, y);
    if (zt) {
      Value e = emitExp(b, loc, arith::NegFOp::create(b, loc, zt), expLowering);
      Value silu = arith::DivFOp::create(
          b, loc, zt, arith::AddFOp::create(b, loc, cst(1.0), e));
      y = arith::MulFOp::create(b, loc, y, silu);
    }
    return y;
  }

  /// The tiled time loop moves square [vw channels x vw steps] tiles.
  bool canTile() const { return vw >= 2 && llvm::isPowerOf2_64(vw); }

  /// Transposes the square matrix whose rows are `rows` (vw vectors of vw
  /// lanes) with log2(vw) butterfly stages of two-source shuffles: at block
  /// size h, rows r and r+h swap their off-diagonal h x h blocks. For 16
  /// lanes that is 64 shuffles (vpermt2ps/vunpck on AVX-512).
  SmallVector<Value> transpose(SmallVector<Value> rows) {
    for (int64_t h = vw / 2; h >= 1; h /= 2) {
      SmallVector<Value> next(vw);
      for (int64_t r = 0; r < vw; ++r) {
        if (r & h)
          continue;
        SmallVector<int64_t> lo(vw), hi(vw);
        for (int64_t j = 0; j < vw; ++j) {
          // Indices >= vw select from the second operand (row r + h).
          lo[j] = (j & h) ? vw + (j - h) : j;
          hi[j] = (j & h) ? vw + j : j + h;
        }
        next[r] = vector::ShuffleOp::create(b, loc, rows[r], rows[r + h], lo);
        next[r + h] = vector::ShuffleOp::create(b, loc, rows[r], rows[r + h], hi);
      }
      rows = std::move(next);
    }
    return rows;
  }

  /// Channel d0 + i of the block, clamped to the last channel (rows past it
  /// re-read that channel; their lanes are never stored).
  Value channelRow(Value d0, int64_t i) {
    return arith::MinUIOp::create(
        b, loc, arith::AddIOp::create(b, loc, d0, idx(i)),
        arith::SubIOp::create(b, loc, chans, idx(1)));
  }

  /// Prefetches the rows of the u, delta, z and out tiles at t0: 16 rows of
  /// each, L * 4 bytes apart, are more streams than the hardware
  /// prefetchers follow.
  void prefetchTile(Value t0, Value d0) {
    for (Value mem : {u, delta, z, out}) {
      if (!mem)
        continue;
      for (int64_t i = 0; i < vw; ++i) {
        Value row = channelRow(d0, i);
        memref::PrefetchOp::create(b, loc, mem, ValueRange{batchIdx, row, t0},
                                   /*isWrite=*/mem == out, /*locality=*/3, true);
      }
    }
  }

  /// Transposes the per-step outputs back and stores each channel's row of
  /// vw steps at t0, after the D skip and z gate in the row domain (u and z
  /// rows read as they lie, D one scalar per row: no transposes for them);
  /// rows past the last channel are masked off.
  void storeTile(SmallVector<Value> steps, Value d0, Value t0, Value valid) {
    Type e = cast<MemRefType>(out.getType()).getElementType();
    SmallVector<Value> rows = transpose(std::move(steps));
    auto maskTy = VectorType::get({vw}, b.getI1Type());
    for (int64_t i = 0; i < vw; ++i) {
      Value inside = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           idx(i), valid);
      Value rowMask = vector::BroadcastOp::create(b, loc, maskTy, inside);
      Value row = channelRow(d0, i);
      Value y = rows[i];
      if (D || z) {
        Value dRow = D ? channelScalar(D, row) : Value();
        Value uRow = D ? readRow(u, row, t0) : Value();
        Value zRow = z ? readRow(z, row, t0) : Value();
        y = gate(y, dRow, uRow, zRow);
      }
      vector::MaskedStoreOp::create(b, loc, out, ValueRange{batchIdx, row, t0},
                                    rowMask, castFloat(b, loc, y, e));
    }
  }

  /// vw steps from t0 of channel `row` of a [B, D, L] operand.
  Value readRow(Value mem, Value row, Value t0) {
    Type e = cast<MemRefType>(mem.getType()).getElementType();
    Value pad = arith::ConstantOp::create(b, loc, b.getZeroAttr(e));
    Value v = vector::TransferReadOp::create(
        b, loc, VectorType::get({vw}, e), mem, ValueRange{batchIdx, row, t0},
        pad, ArrayRef<bool>{true});
    return castFloat(b, loc, v, acc);
  }

  Value biasVec, dVec, valid;

private:
  OpBuilder &b;
  Location loc;
  ssm::SelectiveScanOp op;
  FloatType acc;
  int64_t vw;
  VectorType vecTy;
  ExpLowering expLowering;
};

/// Steps [from, L) one at a time with lane-strided gathers and scatters,
/// then the final state.
void emitSteps(OpBuilder &b, Location loc, BlockEmitter &e, Value d0,
               int64_t n, ArrayRef<Value> aCols, ValueRange init,
               Value from) {
  auto loop = scf::ForOp::create(
      b, loc, from, e.end, e.idx(1), init,
      [&](OpBuilder &b, Location loc, Value t, ValueRange hs) {
        BlockEmitter::Step s = e.prologue(d0, t);
        SmallVector<Value> ys(std::min<int64_t>(n, kPartialSums), e.cst(0.0));
        SmallVector<Value> next;
        for (int64_t i = 0; i < n; ++i) {
          Value &y = ys[i % ys.size()];
          auto [h, yn] = e.update(s, hs[i], aCols[i], e.idx(i), t, y);
          next.push_back(h);
          y = yn;
        }
        e.epilogue(s, d0, t, e.sumPartials(ys));
        scf::YieldOp::create(b, loc, next);
      });
  if (e.fs)
    for (int64_t i = 0; i < n; ++i)
      e.storeFinalState(d0, e.idx(i), loop.getResult(i));
}

/// State in a per-block stack buffer of N vectors: any N, dynamic or large.
void emitBufferState(OpBuilder &b, Location loc, BlockEmitter &e,
                     Value d0, FloatType acc, int64_t vw) {
  auto vecTy = VectorType::get({vw}, acc);
  auto bufTy = MemRefType::get({ShapedType::kDynamic}, vecTy);
  Value state =
      memref::AllocaOp::create(b, loc, bufTy, ValueRange{e.stateSize});
  Value aCols =
      memref::AllocaOp::create(b, loc, bufTy, ValueRange{e.stateSize});
  Value c0 = e.idx(0), c1 = e.idx(1);
  scf::ForOp::create(b, loc, c0, e.stateSize, c1, ValueRange{},
                     [&](OpBuilder &b, Location loc, Value n, ValueRange) {
                       memref::StoreOp::create(
                           b, loc, e.prepareA(e.gather(e.A, {d0, n}, e.idxN)),
                           aCols, n);
                       memref::StoreOp::create(b, loc, e.initialState(d0, n),
                                               state, n);
                       scf::YieldOp::create(b, loc);
                     });
  scf::ForOp::create(
      b, loc, e.begin, e.end, c1, ValueRange{},
      [&](OpBuilder &b, Location loc, Value t, ValueRange) {
        BlockEmitter::Step s = e.prologue(d0, t);
        auto inner = scf::ForOp::create(
            b, loc, c0, e.stateSize, c1, ValueRange{e.cst(0.0)},
            [&](OpBuilder &b, Location loc, Value n, ValueRange ys) {
              Value h = memref::LoadOp::create(b, loc, state, n);
              Value aN = memref::LoadOp::create(b, loc, aCols, n);
              auto [hNew, y] = e.update(s, h, aN, n, t, ys[0]);
              memref::StoreOp::create(b, loc, hNew, state, n);
              scf::YieldOp::create(b, loc, y);
            });
        e.epilogue(s, d0, t, inner.getResult(0));
        scf::YieldOp::create(b, loc);
      });
  if (e.fs)
    scf::ForOp::create(
        b, loc, c0, e.stateSize, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value n, ValueRange) {
          Value h = memref::LoadOp::create(b, loc, state, n);
          e.storeFinalState(d0, n, h);
          scf::YieldOp::create(b, loc);
        });
}

/// State as N loop-carried vectors: the fast path for static small N. Full
/// tiles of vw steps move u, delta, z and out as [channels x steps] tiles
/// transposed in registers (contiguous rows, not strided gathers that all
/// land in one L1 set), and each tile's B/C columns are staged in a small
/// stack buffer read with broadcasts; the last L mod vw steps go one at a
/// time.
class RegisterStateScan {
public:
  RegisterStateScan(OpBuilder &b, Location loc, BlockEmitter &e, Value d0,
                    int64_t n)
      : b(b), loc(loc), e(e), d0(d0), n(n), T(e.lanes()) {}

  void emit() {
    SmallVector<Value> init = loadState();
    if (!e.canTile()) {
      emitSteps(b, loc, e, d0, n, aCols, init, e.begin);
      return;
    }
    allocTileBuffers();
    Value steps = arith::SubIOp::create(b, loc, e.end, e.begin);
    Value fullTiles = arith::DivUIOp::create(b, loc, steps, e.idx(T));
    auto tiled = scf::ForOp::create(
        b, loc, e.idx(0), fullTiles, e.idx(1), init,
        [&](OpBuilder &b, Location loc, Value c, ValueRange hs) {
          emitTile(b, loc, c, hs);
        });
    // The last L mod vw steps, one at a time.
    Value tailStart = arith::AddIOp::create(
        b, loc, e.begin, arith::MulIOp::create(b, loc, fullTiles, e.idx(T)));
    emitSteps(b, loc, e, d0, n, aCols, tiled.getResults(), tailStart);
  }

private:
  /// The A columns (prepared for the time loop) into aCols; returns the
  /// initial state vectors.
  SmallVector<Value> loadState() {
    SmallVector<Value> init;
    for (int64_t i = 0; i < n; ++i) {
      Value ni = e.idx(i);
      aCols.push_back(e.prepareA(e.gather(e.A, {d0, ni}, e.idxN)));
      init.push_back(e.initialState(d0, ni));
    }
    return init;
  }

  /// Stack buffers of the tiled loop: the staged B/C columns (when shared
  /// by all channels; fixed ones are read from the block's columns) and,
  /// per step of a tile, dt and dt*u then read-out y.
  void allocTileBuffers() {
    const bool sharedB = cast<MemRefType>(e.B.getType()).getRank() == 3;
    const bool sharedC = cast<MemRefType>(e.C.getType()).getRank() == 3;
    auto stageTy = MemRefType::get({n, T}, e.accType());
    stageB = sharedB ? memref::AllocaOp::create(b, loc, stageTy).getResult()
                     : Value();
    stageC = sharedC ? memref::AllocaOp::create(b, loc, stageTy).getResult()
                     : Value();
    auto rowsTy = MemRefType::get({T}, e.vectorType());
    rowsD = memref::AllocaOp::create(b, loc, rowsTy);
    rowsY = memref::AllocaOp::create(b, loc, rowsTy);
  }

  /// The tile of steps from t0 = begin + c*T, with state `hs` on entry.
  void emitTile(OpBuilder &b, Location loc, Value c, ValueRange hs) {
    Value t0 = arith::AddIOp::create(
        b, loc, e.begin, arith::MulIOp::create(b, loc, c, e.idx(T)));
    e.prefetchTile(arith::MinUIOp::create(
                       b, loc, arith::AddIOp::create(b, loc, t0, e.idx(T)),
                       arith::SubIOp::create(b, loc, e.end, e.idx(1))),
                   d0);
    SmallVector<Value> dtTile, dtuTile;
    computeSteps(t0, dtTile, dtuTile);
    if (stageB)
      stage(b, e.B, stageB, t0);
    if (stageC)
      stage(b, e.C, stageC, t0);
    // The recurrence runs as a loop over the tile's steps, reading dt
    // and dt*u from rows staged on the stack: unrolled, 16 steps x 16
    // state indices made a loop body of ~5.5K instructions (~38 KB),
    // beyond the L1 instruction cache and the decoded-uop cache; with
    // softplus and the gate inside, each step carried one long
    // dependency chain (softplus -> exp(dt A) -> h -> y -> gate, ~150
    // cycles) that filled the scheduler. The D skip and z gate follow
    // in the row domain, as the tile is stored.
    for (int64_t k = 0; k < T; ++k) {
      memref::StoreOp::create(b, loc, dtTile[k], rowsD, e.idx(k));
      memref::StoreOp::create(b, loc, dtuTile[k], rowsY, e.idx(k));
    }
    auto steps = scf::ForOp::create(
        b, loc, e.idx(0), e.idx(T), e.idx(1), hs,
        [&](OpBuilder &b, Location loc, Value k, ValueRange hk) {
          emitStep(b, loc, t0, k, hk);
        });
    SmallVector<Value> yTile, state(steps.getResults());
    for (int64_t k = 0; k < T; ++k)
      yTile.push_back(memref::LoadOp::create(b, loc, rowsY, e.idx(k)));
    e.storeTile(yTile, d0, t0, e.valid);
    scf::YieldOp::create(b, loc, state);
  }

  /// dt (bias, softplus) and dt*u in the row domain (bias one scalar per
  /// channel row; 16 independent rows of straight-line code), then
  /// transposed into per-step vectors.
  void computeSteps(Value t0, SmallVector<Value> &dtTile,
                    SmallVector<Value> &dtuTile) {
    SmallVector<Value> dtRows, dtuRows;
    for (int64_t i = 0; i < T; ++i) {
      Value row = e.channelRow(d0, i);
      BlockEmitter::Step s = e.stepWith(
          e.readRow(e.u, row, t0), e.readRow(e.delta, row, t0),
          e.bias ? e.channelScalar(e.bias, row) : Value());
      dtRows.push_back(s.dt);
      dtuRows.push_back(s.dtu);
    }
    dtTile = e.transpose(dtRows);
    dtuTile = e.transpose(dtuRows);
  }

  /// Copies the tile's T steps of all n rows of a shared B or C into `buf`.
  void stage(OpBuilder &b, Value mem, Value buf, Value t0) {
    Type elt = cast<MemRefType>(mem.getType()).getElementType();
    Value pad = arith::ConstantOp::create(b, loc, b.getZeroAttr(elt));
    for (int64_t i = 0; i < n; ++i) {
      Value v = vector::TransferReadOp::create(
          b, loc, VectorType::get({T}, elt), mem,
          ValueRange{e.batchIdx, e.idx(i), t0}, pad, ArrayRef<bool>{true});
      vector::StoreOp::create(b, loc, castFloat(b, loc, v, e.accType()), buf,
                              ValueRange{e.idx(i), e.idx(0)});
    }
  }

  /// Step t0 + k of the tile: the state update and the read-out y, which
  /// replaces the step's dt*u in rowsY.
  void emitStep(OpBuilder &b, Location loc, Value t0, Value k, ValueRange hk) {
    Value t = arith::AddIOp::create(b, loc, t0, k);
    BlockEmitter::Step s;
    s.dt = memref::LoadOp::create(b, loc, rowsD, k);
    s.dtu = memref::LoadOp::create(b, loc, rowsY, k);
    SmallVector<Value> ys(std::min<int64_t>(n, kPartialSums), e.cst(0.0));
    SmallVector<Value> state(hk.begin(), hk.end());
    for (int64_t i = 0; i < n; ++i) {
      auto staged = [&](Value buf) -> Value {
        Value v = memref::LoadOp::create(b, loc, buf, ValueRange{e.idx(i), k});
        return vector::BroadcastOp::create(b, loc, e.vectorType(), v);
      };
      Value bN = stageB ? staged(stageB)
                        : e.inputProjection(e.B, e.idxGB, e.idx(i), t);
      Value cN = stageC ? staged(stageC)
                        : e.inputProjection(e.C, e.idxGC, e.idx(i), t);
      Value &y = ys[i % ys.size()];
      auto [h, yn] = e.updateWith(s, state[i], aCols[i], bN, cN, y);
      state[i] = h;
      y = yn;
    }
    memref::StoreOp::create(b, loc, e.sumPartials(ys), rowsY, k);
    scf::YieldOp::create(b, loc, state);
  }

  OpBuilder &b;
  Location loc;
  BlockEmitter &e;
  Value d0;
  const int64_t n, T;
  SmallVector<Value> aCols;
  Value stageB, stageC, rowsD, rowsY;
};

/// The lowering of one ssm.selective_scan: buffers, run-time shape checks,
/// then a parallel loop over (sequence, block of channels) whose body one
/// BlockEmitter builds.
class SelectiveScanLowering {
public:
  SelectiveScanLowering(ssm::SelectiveScanOp op, PatternRewriter &rw,
                        const ssmc::SSMToLoopsOptions &options)
      : op(op), rw(rw), loc(op.getLoc()), options(options),
        acc(cast<FloatType>(op.getAccumulatorType())),
        vw(laneCount(options.vectorBits, acc)), staticN(op.getStateSize()),
        registerState(!ShapedType::isDynamic(staticN) &&
                      staticN <= options.maxRegisterState) {}

  LogicalResult run() {
    loadOperands();
    // Shape relations the verifier could not see (dynamic dimensions) are
    // checked at run time; the loops run only when all of them hold.
    RuntimeShapeChecks checks(rw, loc, op);
    checkShapes(checks);

    c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    cvw = arith::ConstantIndexOp::create(rw, loc, vw);
    Value blocks = arith::CeilDivUIOp::create(rw, loc, chans, cvw);

    auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                   /*withElseRegion=*/false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0}, ValueRange{sequences, blocks},
        ValueRange{c1, c1}, [&](OpBuilder &b, Location loc, ValueRange ivs) {
          emitBlock(b, loc, ivs);
        });

    rw.setInsertionPointAfter(guard);
    SmallVector<Value> results{toTensor(rw, loc, op.getOut().getType(), out)};
    if (fs)
      results.push_back(toTensor(rw, loc, op.getFinalState().getType(), fs));
    rw.replaceOp(op, results);
    return success();
  }

private:
  using Dim = NamedDim;

  /// Operand buffers, sizes, and the result buffers.
  void loadOperands() {
    u = toBuffer(rw, loc, op.getU());
    A = toBuffer(rw, loc, op.getA());
    cu = toBuffer(rw, loc, op.getCuSeqlens());
    seqIdx = toBuffer(rw, loc, op.getSeqIdx());
    batch = dimOf(rw, loc, u, 0), chans = dimOf(rw, loc, u, 1),
    len = dimOf(rw, loc, u, 2), stateSize = dimOf(rw, loc, A, 1);

    out = allocLike(rw, loc, op.getOut().getType(), {batch, chans, len});
    one = arith::ConstantIndexOp::create(rw, loc, 1);
    // Packed sequences each own a state; otherwise each batch entry does.
    sequences =
        cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, cu, 0), one).getResult()
           : batch;
    if (Value r = op.getFinalState())
      fs = allocLike(rw, loc, r.getType(), {sequences, chans, stateSize});

    delta = toBuffer(rw, loc, op.getDelta());
    Bm = toBuffer(rw, loc, op.getB()), Cm = toBuffer(rw, loc, op.getC());
    Dm = toBuffer(rw, loc, op.getD()), zm = toBuffer(rw, loc, op.getZ());
    biasm = toBuffer(rw, loc, op.getDeltaBias());
    h0m = stateBuffer(op.getH0());
  }

  /// h0 [S, Dm, N] read where it lies when it is a slice along S of a
  /// larger tensor (a layer's state in a decoder's stack of them), so its
  /// final state can be stored there too; the lane-strided gathers step by
  /// N between channels, so the inner two dimensions must stay contiguous
  /// (strides [?, N, 1]; another layout is copied into that one).
  Value stateBuffer(Value t) {
    if (!t)
      return {};
    auto tt = cast<RankedTensorType>(t.getType());
    int64_t n = tt.getDimSize(2);
    if (ShapedType::isDynamic(n))
      return toBuffer(rw, loc, t);
    auto layout = StridedLayoutAttr::get(rw.getContext(), ShapedType::kDynamic,
                                         {ShapedType::kDynamic, n, 1});
    auto mt = MemRefType::get(tt.getShape(), tt.getElementType(), layout);
    return bufferization::ToBufferOp::create(rw, loc, mt, t,
                                             /*read_only=*/true);
  }

  void check(RuntimeShapeChecks &checks, Value mem, StringRef name,
             ArrayRef<Dim> dims) {
    checkOperandDims(checks, rw, loc, mem, name, dims);
  }

  void checkShapes(RuntimeShapeChecks &checks) {
    Dim dimB{"B", batch, "dimension 0 of 'u'"}, dimD{"Dm", chans, "dimension 1 of 'u'"},
        dimL{"L", len, "dimension 2 of 'u'"}, dimN{"N", stateSize, "dimension 1 of 'A'"};
    check(checks, delta, "delta", {dimB, dimD, dimL});
    check(checks, A, "A", {dimD, dimN});
    checkProjections(checks, dimB, dimD, dimN, dimL);
    check(checks, Dm, "D", {dimD});
    check(checks, zm, "z", {dimB, dimD, dimL});
    check(checks, biasm, "delta_bias", {dimD});
    Dim dimS{"S", sequences, cu ? "the number of sequences in 'cu_seqlens'"
                                 : "dimension 0 of 'u'"};
    check(checks, h0m, "h0", {dimS, dimD, dimN});
    check(checks, seqIdx, "seq_idx", {dimB, dimL});
    if (cu) {
      check(checks, u, "u",
            {{"B", one, "1 (sequences are packed into one batch entry)"}});
      checkPackedOffsets(checks, rw, loc, cu, sequences, len);
    }
    // Static result sizes must agree with the dynamic inputs they come from.
    checkResultDims(checks, rw, loc, op.getOut().getType(), "out",
                    {dimB, dimD, dimL});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dimS, dimD, dimN});
  }

  /// B and C: [B, N, L] shared by all channels, [Dm, N] fixed over time,
  /// or [B, G, N, L] with G groups of channels, nonzero and dividing Dm.
  void checkProjections(RuntimeShapeChecks &checks, const Dim &dimB,
                        const Dim &dimD, const Dim &dimN, const Dim &dimL) {
    Value groups;
    for (auto [name, mem] : {std::pair<StringRef, Value>{"B", Bm}, {"C", Cm}}) {
      int64_t rank = cast<MemRefType>(mem.getType()).getRank();
      if (rank == 2) {
        check(checks, mem, name, {dimD, dimN});
        continue;
      }
      if (rank == 3) {
        check(checks, mem, name, {dimB, dimN, dimL});
        continue;
      }
      Value g = dimOf(rw, loc, mem, 1);
      if (!groups)
        groups = g;
      Dim dimG{"G", groups, name == "B" ? "dimension 1 of 'B'" : "dimension 1 of 'C'"};
      check(checks, mem, name, {dimB, dimG, dimN, dimL});
    }
    if (groups && !getConstantIntValue(groups)) {
      Value zero = arith::ConstantIndexOp::create(rw, loc, 0);
      checks.require(
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ne, groups, zero),
          groups, zero, "the group count G of 'B'/'C' must not be 0");
    }
    if (groups && !(getConstantIntValue(groups) && getConstantIntValue(chans))) {
      // Dm % G == 0, with G = 0 replaced by 1 so the remainder is defined.
      Value one = arith::ConstantIndexOp::create(rw, loc, 1);
      Value isZero = arith::CmpIOp::create(
          rw, loc, arith::CmpIPredicate::eq, groups,
          arith::ConstantIndexOp::create(rw, loc, 0));
      Value safeG = arith::SelectOp::create(rw, loc, isZero, one, groups);
      Value rem = arith::RemUIOp::create(rw, loc, chans, safeG);
      Value zero = arith::ConstantIndexOp::create(rw, loc, 0);
      checks.require(
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, rem, zero),
          rem, zero,
          "the channel count Dm must be divisible by the group count G "
          "(reported: Dm mod G)");
    }
  }

  /// The body for sequence ivs[0] and block ivs[1] of channels: the
  /// sequence's batch entry and steps, the block's lanes, then the time
  /// loop with the state in registers or on the stack.
  void emitBlock(OpBuilder &b, Location loc, ValueRange ivs) {
    ExpLowering how;
    how.fast = options.fastExp;
    how.avx512 = options.avx512;
    BlockEmitter e(b, loc, op, acc, vw, how);
    e.u = u, e.delta = delta, e.A = A, e.B = Bm, e.C = Cm, e.D = Dm,
    e.z = zm, e.bias = biasm, e.h0 = h0m, e.out = out, e.fs = fs;
    e.stateIdx = ivs[0];
    e.batchIdx = cu ? c0 : ivs[0];
    e.begin = cu ? packedOffset(b, loc, cu, ivs[0]) : c0;
    e.end = cu ? packedOffset(b, loc, cu,
                              arith::AddIOp::create(b, loc, ivs[0], c1))
               : len;
    e.stateSize = stateSize,
    e.chans = chans;

    Value d0 = arith::MulIOp::create(b, loc, ivs[1], cvw);
    Value valid = arith::MinUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, chans, d0), cvw);
    auto maskTy = VectorType::get({vw}, b.getI1Type());
    e.mask = vector::CreateMaskOp::create(b, loc, maskTy,
                                          ValueRange{valid});
    e.valid = valid;
    setLaneOffsets(b, loc, e, d0);
    if (biasm)
      e.biasVec = e.channelVector(biasm, d0);
    if (Dm)
      e.dVec = e.channelVector(Dm, d0);
    e.fixedB = fixedColumns(b, loc, e, Bm, d0);
    e.fixedC = Cm == Bm ? e.fixedB : fixedColumns(b, loc, e, Cm, d0);

    if (!seqIdx) {
      emitScan(b, loc, e, d0);
      return;
    }
    emitSegments(b, loc, e, d0);
  }

  void emitScan(OpBuilder &b, Location loc, BlockEmitter &e, Value d0) {
    if (registerState)
      RegisterStateScan(b, loc, e, d0, staticN).emit();
    else
      emitBufferState(b, loc, e, d0, acc, vw);
  }

  /// A [Dm, N] B or C: the block's N columns (lane i: channel d0 + i)
  /// gathered once into a stack buffer; null for other forms.
  Value fixedColumns(OpBuilder &b, Location loc, BlockEmitter &e, Value mem,
                     Value d0) {
    if (cast<MemRefType>(mem.getType()).getRank() != 2)
      return {};
    auto bufTy = MemRefType::get({ShapedType::kDynamic}, e.vectorType());
    Value cols = memref::AllocaOp::create(b, loc, bufTy, ValueRange{stateSize});
    scf::ForOp::create(b, loc, c0, stateSize, c1, ValueRange{},
                       [&](OpBuilder &b, Location loc, Value n, ValueRange) {
                         memref::StoreOp::create(
                             b, loc, e.gather(mem, {d0, n}, e.idxN), cols, n);
                         scf::YieldOp::create(b, loc);
                       });
    return cols;
  }

  /// seq_idx: the row's segments of equal index one after another, each
  /// the time loop over [begin, end) from zero (the first from h0).
  void emitSegments(OpBuilder &b, Location loc, BlockEmitter &e, Value d0) {
    forEachSegment(b, loc, seqIdx, e.batchIdx, len,
                   [&](OpBuilder &b, Location loc, Value begin, Value end,
                       Value starts, Value ends) {
                     e.begin = begin, e.end = end;
                     e.startsRow = starts, e.endsRow = ends;
                     emitScan(b, loc, e, d0);
                   });
  }

  /// Per-lane offsets: lane i reads element (d0 + i) of a [.., Dm, X]
  /// buffer at stride X.
  void setLaneOffsets(OpBuilder &b, Location loc, BlockEmitter &e, Value d0) {
    auto i64Vec = VectorType::get({vw}, b.getI64Type());
    SmallVector<int64_t> lanes(vw);
    for (int64_t i = 0; i < vw; ++i)
      lanes[i] = i;
    Value iota = arith::ConstantOp::create(
        b, loc, i64Vec, DenseIntElementsAttr::get(i64Vec, lanes));
    auto splatIndex = [&](Value v) -> Value {
      Value i = arith::IndexCastOp::create(b, loc, b.getI64Type(), v);
      return vector::BroadcastOp::create(b, loc, i64Vec, i);
    };
    auto strided = [&](Value stride) -> Value {
      return arith::MulIOp::create(b, loc, iota, splatIndex(stride));
    };
    e.idxL = strided(len);
    e.idxN = strided(stateSize);
    // Grouped B/C: lane i reads group (d0 + i) / (Dm / G), i.e. at
    // offset group * N * L from group 0.
    auto groupIndex = [&](Value mem) -> Value {
      if (cast<MemRefType>(mem.getType()).getRank() != 4)
        return {};
      Value groups = dimOf(b, loc, mem, 1);
      Value perGroup = arith::DivUIOp::create(b, loc, chans, groups);
      Value chan = arith::AddIOp::create(b, loc, splatIndex(d0), iota);
      Value g = arith::DivUIOp::create(b, loc, chan, splatIndex(perGroup));
      Value nl = arith::MulIOp::create(b, loc, stateSize, len);
      return arith::MulIOp::create(b, loc, g, splatIndex(nl));
    };
    e.idxGB = groupIndex(Bm);
    e.idxGC = groupIndex(Cm);
  }

  ssm::SelectiveScanOp op;
  PatternRewriter &rw;
  Location loc;
  const ssmc::SSMToLoopsOptions &options;
  FloatType acc;
  const int64_t vw, staticN;
  const bool registerState;
  // Buffers (null when the operand is absent) and sizes.
  Value u, A, cu, seqIdx, delta, Bm, Cm, Dm, zm, biasm, h0m, out, fs;
  Value batch, chans, len, stateSize, sequences;
  Value one, c0, c1, cvw;
};

struct SelectiveScanToLoops : OpRewritePattern<ssm::SelectiveScanOp> {
  SelectiveScanToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::SelectiveScanOp op,
                                PatternRewriter &rw) const override {
    return SelectiveScanLowering(op, rw, options).run();
  }

private:
  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateSelectiveScanToLoopsPatterns(
    RewritePatternSet &patterns, const SSMToLoopsOptions &options) {
  patterns.add<SelectiveScanToLoops>(patterns.getContext(), options);
}
