//===- ColumnScan.cpp - the kernel skeleton of ssd and linear attention ---===//

#include "ColumnScan.h"

#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include <optional>

using namespace mlir;

namespace ssmc::gpu_kernels {

namespace {
/// Chunking over L stops once the grid has this many threads.
constexpr int64_t kTargetThreads = 65536;
/// Values exchanged per shared-memory round trip in the scan over chunks.
constexpr int64_t kExchange = 8;
/// Shared memory the kernel may use, in f32 values (46 KB of the 48 KB
/// static limit).
constexpr int64_t kSharedFloats = 11776;
} // namespace

ColumnSlicing sliceColumn(int64_t width) {
  if (width <= kMaxSlice)
    return {std::max<int64_t>(width, 1), 1};
  for (int64_t r = kMaxSlice; r > 1; --r)
    if (width % r == 0 && width / r <= kBlock)
      return {r, width / r};
  if (width <= kBlock)
    return {1, width};
  ColumnSlicing best{kMaxSlice, int64_t(llvm::divideCeil(width, kMaxSlice))};
  for (int64_t r = kMaxSlice - 1; r >= 1; --r) {
    int64_t s = int64_t(llvm::divideCeil(width, r));
    if (s <= kBlock && r * s < best.R * best.S)
      best = {r, s};
  }
  return best;
}

namespace {

/// Emits one ColumnScan launch. The host side picks the tiling (static) and
/// the chunking (run time); in the kernel every thread locates its column,
/// slice and chunk group, finds the state entering its chunk (directly, or
/// by a first pass and a scan over the groups) and runs the output pass.
class ColumnScanEmitter {
public:
  ColumnScanEmitter(PatternRewriter &rw, Location loc, const ColumnScan &spec)
      : rw(rw), loc(loc), spec(spec), slicing(sliceColumn(spec.width)),
        R(slicing.R), S(slicing.S), nState(spec.sets * R),
        padded(slicing.padded(spec.width)) {}

  void emit();

private:
  // Host side, before the launch.
  /// Shared floats of every staged array per step.
  int64_t perStepFloats() const;
  /// Whether c chunk groups with tiles of t steps fit in shared memory.
  bool fits(int64_t c, int64_t t) const;
  /// Cmax and T from the shared-memory budget and the static sizes.
  void chooseTiling();
  /// C, its log2 and the grid geometry that follows from it.
  void emitGrid();
  SmallVector<Type> sharedTypes() const;

  // In the kernel.
  /// The thread's (batch, head), column, slice, chunk group and steps.
  void locateThread(Value bid, Value tid, ValueRange sh);
  /// The state entering the thread's chunk: h0 when C == 1, else the
  /// first pass and the scan over the chunk groups.
  SmallVector<Value> emitChunkEntry();
  /// Phase one: every chunk from zero (chunk 0 from h0), with the product
  /// of its decays.
  scf::ForOp emitFirstPass();
  /// Inclusive prefixes of the chunk groups' (state, decay) pairs.
  scf::ForOp emitGroupScan(scf::ForOp chunks);
  /// The previous group's inclusive prefix (h0 for group 0).
  SmallVector<Value> carryIntoChunks(scf::ForOp scan);
  /// The last chunk group stores the final state.
  void storeFinalState(scf::ForOp fin);

  /// One pass of every group over its chunk, from `init`: with `emit` the
  /// outputs are written; with `track` the product of the decays (R values
  /// after the state) is carried too.
  scf::ForOp emitPass(OpBuilder &pb, ValueRange init, bool emit, bool track);
  /// One tile of the pass: staging, the steps, the read-out.
  void emitTile(OpBuilder &tb, Location l, Value tile, ValueRange vals,
                bool emit, bool track);
  /// The tile's steps over the thread's slice; results: the carried values.
  scf::ForOp emitSteps(OpBuilder &tb, Location l, Value start, Value cnt,
                       ValueRange vals, bool emit, bool track);
  /// One step s of the tile on an active thread (yields the carried values).
  void emitStep(OpBuilder &bb, Location sl, Value s, Value start,
                ValueRange v, bool emit, bool track);
  /// Each (step, column) of the group's tile: the sum of its S partials,
  /// handed to spec.finish.
  void emitReadOut(OpBuilder &tb, Location l, Value start, Value cnt);
  /// Sums of the S partials of each per-step sum at `rowSlot`.
  SmallVector<Value> sumPartials(OpBuilder &fb, Location il, Value rowSlot);

  /// Values `v[i]` of the thread `partner` (same column and slice, an
  /// earlier group), through shared memory kExchange at a time; `use(i,
  /// theirs)` gives the new value (on threads where `apply` holds, else
  /// v[i]).
  SmallVector<Value>
  exchange(OpBuilder &b, ArrayRef<Value> v, Value partner, Value apply,
           llvm::function_ref<Value(OpBuilder &, size_t, Value)> use);

  Value ult(OpBuilder &b, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }
  /// f32 values computed by active threads (`fallback` elsewhere).
  SmallVector<Value>
  ifActive(OpBuilder &b, ValueRange fallback,
           llvm::function_ref<SmallVector<Value>(OpBuilder &)> fn) {
    return valuesIf(b, loc, active, fallback, fn);
  }
  SmallVector<Value> zeros(OpBuilder &b, size_t k) {
    return SmallVector<Value>(k, cf32(b, loc, 0));
  }
  /// The state entering the sequence (h0 for set 0, else zero).
  SmallVector<Value> initial(OpBuilder &b);

  PatternRewriter &rw;
  Location loc;
  const ColumnScan &spec;
  const ColumnSlicing slicing;
  /// Values per slice, slices per column, loop-carried state values.
  const int64_t R, S, nState;
  /// Whether the last slice has values past the width.
  const bool padded;
  /// Chunk groups per block at most, steps per tile.
  int64_t Cmax = 1, T = 0;

  // Grid (emitGrid).
  Value c0, c1, cT;
  /// Chunk groups and the scan rounds over them (log2 C).
  Value C, rounds;
  /// Threads per group, columns per block, blocks per (batch, head).
  Value gsz, cols, colBlocks, blocks, H1, chunkLen, nTiles;

  // The thread (locateThread).
  Value tid;
  SmallVector<Value> staged, sP;
  Value sX;
  /// Whether the block has a (batch, head); whether the thread has a
  /// column.
  Value blockActive, active;
  ColumnAt at;
  /// Chunk group, thread within it, first column of the block.
  Value g, w, colBase;
  /// Whether the group takes the first or the last chunk.
  Value first, last;
  /// The group's steps [t0g, t1g) and its first tile row.
  Value t0g, t1g, row0;
  /// The slice's state elements (clamped to width - 1 when padded) and,
  /// when padded, whether each is within the width.
  SmallVector<Value> n, live;
};

int64_t ColumnScanEmitter::perStepFloats() const {
  int64_t perStep = 0;
  for (int64_t w : spec.stagedPerStep)
    perStep += w;
  return perStep;
}

bool ColumnScanEmitter::fits(int64_t c, int64_t t) const {
  return c * t * perStepFloats() + t * spec.partials * kBlock +
             kBlock * kExchange <=
         kSharedFloats;
}

void ColumnScanEmitter::chooseTiling() {
  // The largest Cmax whose tiles of at least 8 steps fit, else one group
  // with the longest tile that fits.
  for (int64_t c = 16; c >= 2 && !T; c /= 2)
    for (int64_t t = 32; t >= 8 && S * c <= kBlock; t /= 2)
      if (fits(c, t)) {
        Cmax = c, T = t;
        break;
      }
  // Static sizes bound the chunking the run-time choice could make (and a
  // smaller Cmax leaves room for longer tiles).
  std::optional<int64_t> staticL = getConstantIntValue(spec.L);
  std::optional<int64_t> staticBH = getConstantIntValue(spec.BH),
                         staticCols = getConstantIntValue(spec.columns);
  while (Cmax > 1 &&
         ((staticL && Cmax * 4 * T > *staticL) ||
          (staticBH && staticCols &&
           *staticBH * *staticCols * S * (Cmax / 2) >= kTargetThreads)))
    Cmax /= 2;
  T = 32;
  while (T > 1 && !fits(Cmax, T))
    T /= 2;
}

void ColumnScanEmitter::emitGrid() {
  c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1), cT = cidx(rw, loc, T);
  // C: the largest power of two <= Cmax with threads * C / 2 below the
  // target and chunks of at least 4 tiles.
  Value threads = arith::MulIOp::create(
      rw, loc, arith::MulIOp::create(rw, loc, spec.BH, spec.columns),
      cidx(rw, loc, S));
  C = c1, rounds = c0;
  for (int64_t cand = 2, r = 1; cand <= Cmax; cand *= 2, ++r) {
    Value ok = arith::AndIOp::create(
        rw, loc,
        ult(rw, arith::MulIOp::create(rw, loc, threads, cidx(rw, loc, cand / 2)),
            cidx(rw, loc, kTargetThreads)),
        arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::uge, spec.L,
                              cidx(rw, loc, cand * 4 * T)));
    C = arith::SelectOp::create(rw, loc, ok, cidx(rw, loc, cand), C);
    rounds = arith::SelectOp::create(rw, loc, ok, cidx(rw, loc, r), rounds);
  }
  gsz = arith::DivUIOp::create(rw, loc, cidx(rw, loc, kBlock), C);
  cols = arith::DivUIOp::create(rw, loc, gsz, cidx(rw, loc, S));
  colBlocks = arith::MaxUIOp::create(
      rw, loc, arith::CeilDivUIOp::create(rw, loc, spec.columns, cols), c1);
  blocks = arith::MulIOp::create(rw, loc, colBlocks, spec.BH);
  H1 = arith::MaxUIOp::create(rw, loc, spec.H, c1);
  chunkLen = arith::CeilDivUIOp::create(rw, loc, spec.L, C);
  nTiles = arith::CeilDivUIOp::create(rw, loc, chunkLen, cT);
}

SmallVector<Type> ColumnScanEmitter::sharedTypes() const {
  MLIRContext *ctx = rw.getContext();
  SmallVector<Type> shared;
  for (int64_t w : spec.stagedPerStep)
    shared.push_back(sharedArrayType(ctx, Cmax * T * w));
  for (int64_t q = 0; q < spec.partials; ++q)
    shared.push_back(sharedArrayType(ctx, T * kBlock));
  shared.push_back(sharedArrayType(ctx, kBlock * kExchange));
  return shared;
}

void ColumnScanEmitter::emit() {
  chooseTiling();
  emitGrid();
  launchBlocks(rw, loc, blocks, sharedTypes(),
               [&](Value bid, Value threadId, ValueRange sh) {
                 locateThread(bid, threadId, sh);
                 SmallVector<Value> entry = emitChunkEntry();
                 auto fin = emitPass(rw, entry, /*emit=*/true, /*track=*/false);
                 storeFinalState(fin);
               });
}

void ColumnScanEmitter::locateThread(Value bid, Value tidArg, ValueRange sh) {
  tid = tidArg;
  const size_t nStaged = spec.stagedPerStep.size();
  staged.assign(sh.begin(), sh.begin() + nStaged);
  ValueRange partialArrays = sh.slice(nStaged, spec.partials);
  sP.assign(partialArrays.begin(), partialArrays.end());
  sX = sh.back();
  Value bh = arith::DivUIOp::create(rw, loc, bid, colBlocks);
  Value cb = arith::RemUIOp::create(rw, loc, bid, colBlocks);
  // Block-uniform; an idle block (the one block of an empty problem) loads
  // nothing.
  blockActive = ult(rw, bh, spec.BH);
  at.h = arith::RemUIOp::create(rw, loc, bh, H1);
  at.b = arith::DivUIOp::create(rw, loc, bh, H1);
  g = arith::DivUIOp::create(rw, loc, tid, gsz);
  w = arith::RemUIOp::create(rw, loc, tid, gsz);
  Value slice = arith::DivUIOp::create(rw, loc, w, cols);
  Value c = arith::RemUIOp::create(rw, loc, w, cols);
  colBase = arith::MulIOp::create(rw, loc, cb, cols);
  at.col = arith::AddIOp::create(rw, loc, colBase, c);
  active = arith::AndIOp::create(
      rw, loc, blockActive,
      arith::AndIOp::create(rw, loc, ult(rw, slice, cidx(rw, loc, S)),
                            ult(rw, at.col, spec.columns)));
  first = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, g, c0);
  last = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, g,
                               arith::SubIOp::create(rw, loc, C, c1));
  t0g = arith::MinUIOp::create(
      rw, loc, arith::MulIOp::create(rw, loc, g, chunkLen), spec.L);
  t1g = arith::MinUIOp::create(
      rw, loc, arith::AddIOp::create(rw, loc, t0g, chunkLen), spec.L);
  row0 = arith::MulIOp::create(rw, loc, g, cT);
  Value n0 = arith::MulIOp::create(rw, loc, slice, cidx(rw, loc, R));
  Value lastN = cidx(rw, loc, spec.width - 1);
  for (int64_t r = 0; r < R; ++r) {
    Value nr = arith::AddIOp::create(rw, loc, n0, cidx(rw, loc, r));
    if (padded) {
      live.push_back(arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ule,
                                           nr, lastN));
      nr = arith::MinUIOp::create(rw, loc, nr, lastN);
    }
    n.push_back(nr);
  }
}

SmallVector<Value> ColumnScanEmitter::initial(OpBuilder &b) {
  SmallVector<Value> v;
  for (int64_t k = 0; k < spec.sets; ++k)
    for (int64_t r = 0; r < R; ++r) {
      Value x = spec.init(b, at, k, n[r]);
      v.push_back(padded ? arith::SelectOp::create(b, loc, live[r], x,
                                                   cf32(b, loc, 0))
                         : x);
    }
  return v;
}

scf::ForOp ColumnScanEmitter::emitPass(OpBuilder &pb, ValueRange init,
                                       bool emit, bool track) {
  return scf::ForOp::create(
      pb, loc, c0, nTiles, c1, init,
      [&](OpBuilder &tb, Location l, Value tile, ValueRange vals) {
        emitTile(tb, l, tile, vals, emit, track);
      });
}

void ColumnScanEmitter::emitTile(OpBuilder &tb, Location l, Value tile,
                                 ValueRange vals, bool emit, bool track) {
  Value start = arith::MinUIOp::create(
      tb, l, arith::AddIOp::create(tb, l, t0g, arith::MulIOp::create(tb, l, tile, cT)),
      t1g);
  Value cnt = arith::MinUIOp::create(
      tb, l, cT, arith::SubIOp::create(tb, l, t1g, start));
  ifThen(tb, l, blockActive, [&](OpBuilder &sb) {
    spec.stage(sb, at.b, at.h, w, gsz, row0, start, cnt, staged);
  });
  barrier(tb, l);
  auto steps = emitSteps(tb, l, start, cnt, vals, emit, track);
  barrier(tb, l);
  // The next tile's steps write the partials only after its staging
  // barrier, which every thread reaches after finishing this read-out.
  if (emit)
    emitReadOut(tb, l, start, cnt);
  scf::YieldOp::create(tb, l, steps.getResults());
}

scf::ForOp ColumnScanEmitter::emitSteps(OpBuilder &tb, Location l, Value start,
                                        Value cnt, ValueRange vals, bool emit,
                                        bool track) {
  return scf::ForOp::create(
      tb, l, c0, cnt, c1, vals,
      [&](OpBuilder &bb, Location sl, Value s, ValueRange v) {
        SmallVector<Type> tys(v.size(), bb.getF32Type());
        auto upd = scf::IfOp::create(bb, sl, tys, active, true);
        {
          OpBuilder::InsertionGuard guard(bb);
          bb.setInsertionPointToStart(&upd.getThenRegion().front());
          emitStep(bb, sl, s, start, v, emit, track);
          bb.setInsertionPointToStart(&upd.getElseRegion().front());
          scf::YieldOp::create(bb, sl, v);
        }
        scf::YieldOp::create(bb, sl, upd.getResults());
      });
}

void ColumnScanEmitter::emitStep(OpBuilder &bb, Location sl, Value s,
                                 Value start, ValueRange v, bool emit,
                                 bool track) {
  SmallVector<Value> state(v.begin(), v.begin() + nState);
  SmallVector<Value> partials, decay;
  spec.step(bb, at, arith::AddIOp::create(bb, sl, row0, s),
            arith::AddIOp::create(bb, sl, start, s), n, live, staged, state,
            partials, decay);
  if (emit) {
    Value slot = arith::AddIOp::create(
        bb, sl, arith::MulIOp::create(bb, sl, s, cidx(bb, sl, kBlock)), tid);
    for (int64_t q = 0; q < spec.partials; ++q)
      memref::StoreOp::create(bb, sl, partials[q], sP[q], slot);
  }
  SmallVector<Value> next = state;
  if (track)
    for (int64_t r = 0; r < R; ++r)
      next.push_back(arith::MulFOp::create(
          bb, sl, v[nState + r], decay[decay.size() == 1 ? 0 : r]));
  scf::YieldOp::create(bb, sl, next);
}

void ColumnScanEmitter::emitReadOut(OpBuilder &tb, Location l, Value start,
                                    Value cnt) {
  ifThen(tb, l, blockActive, [&](OpBuilder &rb) {
    Value span = arith::MulIOp::create(rb, l, cT, cols);
    scf::ForOp::create(
        rb, l, w, span, gsz, ValueRange{},
        [&](OpBuilder &ib, Location il, Value idx, ValueRange) {
          Value tt = arith::DivUIOp::create(ib, il, idx, cols);
          Value c2 = arith::RemUIOp::create(ib, il, idx, cols);
          ColumnAt out = at;
          out.col = arith::AddIOp::create(ib, il, colBase, c2);
          Value ok = arith::AndIOp::create(ib, il, ult(ib, tt, cnt),
                                           ult(ib, out.col, spec.columns));
          ifThen(ib, il, ok, [&](OpBuilder &fb) {
            Value rowSlot = arith::AddIOp::create(
                fb, il,
                arith::AddIOp::create(
                    fb, il, arith::MulIOp::create(fb, il, tt, cidx(fb, il, kBlock)),
                    arith::MulIOp::create(fb, il, g, gsz)),
                c2);
            SmallVector<Value> sums = sumPartials(fb, il, rowSlot);
            spec.finish(fb, out, arith::AddIOp::create(fb, il, start, tt), sums);
          });
          scf::YieldOp::create(ib, il);
        });
  });
}

SmallVector<Value> ColumnScanEmitter::sumPartials(OpBuilder &fb, Location il,
                                                  Value rowSlot) {
  SmallVector<Value> sums;
  for (int64_t q = 0; q < spec.partials; ++q) {
    Value sum = memref::LoadOp::create(fb, il, sP[q], rowSlot);
    for (int64_t k = 1; k < S; ++k)
      sum = arith::AddFOp::create(
          fb, il, sum,
          memref::LoadOp::create(
              fb, il, sP[q],
              ValueRange{arith::AddIOp::create(
                  fb, il, rowSlot,
                  arith::MulIOp::create(fb, il, cidx(fb, il, k), cols))}));
    sums.push_back(sum);
  }
  return sums;
}

SmallVector<Value> ColumnScanEmitter::exchange(
    OpBuilder &b, ArrayRef<Value> v, Value partner, Value apply,
    llvm::function_ref<Value(OpBuilder &, size_t, Value)> use) {
  SmallVector<Value> out;
  for (size_t e0 = 0; e0 < v.size(); e0 += kExchange) {
    size_t m = std::min<size_t>(kExchange, v.size() - e0);
    ifThen(b, loc, active, [&](OpBuilder &wb) {
      for (size_t j = 0; j < m; ++j)
        memref::StoreOp::create(
            wb, loc, v[e0 + j], sX,
            ValueRange{arith::AddIOp::create(
                wb, loc, arith::MulIOp::create(wb, loc, tid, cidx(wb, loc, kExchange)),
                cidx(wb, loc, j))});
    });
    barrier(b, loc);
    SmallVector<Value> mine(v.begin() + e0, v.begin() + e0 + m);
    SmallVector<Value> got = valuesIf(b, loc, apply, mine, [&](OpBuilder &rb) {
      SmallVector<Value> res;
      for (size_t j = 0; j < m; ++j) {
        Value theirs = memref::LoadOp::create(
            rb, loc, sX,
            ValueRange{arith::AddIOp::create(
                rb, loc, arith::MulIOp::create(rb, loc, partner, cidx(rb, loc, kExchange)),
                cidx(rb, loc, j))});
        res.push_back(use(rb, e0 + j, theirs));
      }
      return res;
    });
    // The next round trip overwrites what this one read.
    barrier(b, loc);
    llvm::append_range(out, got);
  }
  return out;
}

SmallVector<Value> ColumnScanEmitter::emitChunkEntry() {
  SmallVector<Type> stateTys(nState, rw.getF32Type());
  auto entry = scf::IfOp::create(
      rw, loc, stateTys,
      arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ugt, C, c1), true);
  {
    OpBuilder::InsertionGuard guard(rw);
    rw.setInsertionPointToStart(&entry.getThenRegion().front());
    auto chunks = emitFirstPass();
    auto scan = emitGroupScan(chunks);
    scf::YieldOp::create(rw, loc, carryIntoChunks(scan));
    rw.setInsertionPointToStart(&entry.getElseRegion().front());
    scf::YieldOp::create(rw, loc, ifActive(rw, zeros(rw, nState),
                                           [&](OpBuilder &b) { return initial(b); }));
  }
  return SmallVector<Value>(entry.getResults().begin(),
                            entry.getResults().end());
}

scf::ForOp ColumnScanEmitter::emitFirstPass() {
  SmallVector<Value> fallback = zeros(rw, nState + R);
  SmallVector<Value> init1 = ifActive(rw, fallback, [&](OpBuilder &b) {
    SmallVector<Value> v = initial(b);
    for (Value &x : v)
      x = arith::SelectOp::create(b, loc, first, x, cf32(b, loc, 0));
    v.append(R, cf32(b, loc, 1));
    return v;
  });
  return emitPass(rw, init1, /*emit=*/false, /*track=*/true);
}

scf::ForOp ColumnScanEmitter::emitGroupScan(scf::ForOp chunks) {
  // (earlier segment, then ours) is state = decay_ours * state_theirs +
  // state_ours, decay multiplied.
  return scf::ForOp::create(
      rw, loc, c0, rounds, c1, chunks.getResults(),
      [&](OpBuilder &sb, Location l, Value r, ValueRange v) {
        Value k = arith::ShLIOp::create(sb, l, c1, r);
        Value apply = arith::AndIOp::create(
            sb, l, active,
            arith::CmpIOp::create(sb, l, arith::CmpIPredicate::uge, g, k));
        Value partner = arith::SubIOp::create(
            sb, l, tid, arith::MulIOp::create(sb, l, k, gsz));
        SmallVector<Value> vals(v.begin(), v.end());
        ArrayRef<Value> all(vals);
        ArrayRef<Value> decay = all.drop_front(nState);
        SmallVector<Value> next = exchange(
            sb, all.take_front(nState), partner, apply,
            [&](OpBuilder &b, size_t i, Value theirs) -> Value {
              return math::FmaOp::create(b, loc, decay[i % R], theirs, all[i]);
            });
        llvm::append_range(next, exchange(sb, decay, partner, apply,
                                          [&](OpBuilder &b, size_t i, Value theirs) -> Value {
                                            return arith::MulFOp::create(b, loc, decay[i], theirs);
                                          }));
        scf::YieldOp::create(sb, l, next);
      });
}

SmallVector<Value> ColumnScanEmitter::carryIntoChunks(scf::ForOp scan) {
  SmallVector<Value> incl(scan.getResults().begin(),
                          scan.getResults().begin() + nState);
  Value notFirst = arith::AndIOp::create(
      rw, loc, active,
      arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ne, g, c0));
  SmallVector<Value> carried = exchange(
      rw, incl, arith::SubIOp::create(rw, loc, tid, gsz), notFirst,
      [&](OpBuilder &, size_t, Value theirs) { return theirs; });
  SmallVector<Value> h0v =
      ifActive(rw, zeros(rw, nState), [&](OpBuilder &b) { return initial(b); });
  for (int64_t i = 0; i < nState; ++i)
    carried[i] = arith::SelectOp::create(rw, loc, first, h0v[i], carried[i]);
  return carried;
}

void ColumnScanEmitter::storeFinalState(scf::ForOp fin) {
  if (spec.storeFinal)
    ifThen(rw, loc, arith::AndIOp::create(rw, loc, active, last),
           [&](OpBuilder &fb) {
             for (int64_t set = 0; set < spec.sets; ++set)
               for (int64_t r = 0; r < R; ++r) {
                 Value x = fin.getResult(set * R + r);
                 if (!padded) {
                   spec.storeFinal(fb, at, set, n[r], x);
                   continue;
                 }
                 ifThen(fb, loc, live[r], [&](OpBuilder &lb) {
                   spec.storeFinal(lb, at, set, n[r], x);
                 });
               }
           });
}

} // namespace

void emitColumnScan(PatternRewriter &rw, Location loc, const ColumnScan &spec) {
  ColumnScanEmitter(rw, loc, spec).emit();
}

} // namespace ssmc::gpu_kernels
