//===- ColumnScan.cpp - the kernel skeleton of ssd and linear attention ---===//

#include "ColumnScan.h"

using namespace mlir;

namespace ssmc::gpu_kernels {

int64_t sliceWidth(int64_t width) {
  if (width <= kMaxSlice)
    return width;
  for (int64_t r = kMaxSlice; r > 1; --r)
    if (width % r == 0)
      return r;
  return 1;
}

void emitColumnScan(PatternRewriter &rw, Location loc, const ColumnScan &spec) {
  const int64_t R = sliceWidth(spec.width), S = spec.width / R;
  const int64_t cols = kBlock / S;
  const int64_t nState = spec.sets * R;
  // Steps per tile: the staged rows and the partial sums of T steps within
  // 40 KB of shared memory (48 KB is the static limit).
  int64_t T = 32;
  auto tileFloats = [&](int64_t t) {
    int64_t n = t * spec.partials * kBlock;
    for (int64_t s : spec.stagedSizes(t))
      n += s;
    return n;
  };
  while (T > 1 && tileFloats(T) > 10240)
    T /= 2;

  Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1), cT = cidx(rw, loc, T);
  Value cCols = cidx(rw, loc, cols);
  Value colBlocks = arith::MaxUIOp::create(
      rw, loc, arith::CeilDivUIOp::create(rw, loc, spec.columns, cCols), c1);
  Value blocks = arith::MulIOp::create(rw, loc, colBlocks, spec.BH);
  Value H1 = arith::MaxUIOp::create(rw, loc, spec.H, c1);
  MLIRContext *ctx = rw.getContext();
  SmallVector<Type> shared;
  for (int64_t s : spec.stagedSizes(T))
    shared.push_back(sharedArrayType(ctx, s));
  for (int64_t q = 0; q < spec.partials; ++q)
    shared.push_back(sharedArrayType(ctx, T * kBlock));
  const size_t nStaged = shared.size() - spec.partials;

  launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                            ValueRange sh) {
    ValueRange staged = sh.take_front(nStaged);
    ValueRange sP = sh.drop_front(nStaged);
    auto ult = [&](OpBuilder &b, Value x, Value y) -> Value {
      return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
    };
    Value bh = arith::DivUIOp::create(rw, loc, bid, colBlocks);
    Value cb = arith::RemUIOp::create(rw, loc, bid, colBlocks);
    // Block-uniform; an idle block (the one block of an empty problem)
    // loads nothing.
    Value blockActive = ult(rw, bh, spec.BH);
    ColumnAt at;
    at.h = arith::RemUIOp::create(rw, loc, bh, H1);
    at.b = arith::DivUIOp::create(rw, loc, bh, H1);
    Value slice = arith::DivUIOp::create(rw, loc, tid, cCols);
    Value c = arith::RemUIOp::create(rw, loc, tid, cCols);
    at.col = arith::AddIOp::create(rw, loc,
                                   arith::MulIOp::create(rw, loc, cb, cCols), c);
    Value active = arith::AndIOp::create(
        rw, loc, blockActive,
        arith::AndIOp::create(rw, loc, ult(rw, slice, cidx(rw, loc, S)),
                              ult(rw, at.col, spec.columns)));
    SmallVector<Value> n;
    Value n0 = arith::MulIOp::create(rw, loc, slice, cidx(rw, loc, R));
    for (int64_t r = 0; r < R; ++r)
      n.push_back(arith::AddIOp::create(rw, loc, n0, cidx(rw, loc, r)));

    SmallVector<Type> stateTys(nState, rw.getF32Type());
    auto init = scf::IfOp::create(rw, loc, stateTys, active, true);
    {
      OpBuilder::InsertionGuard g(rw);
      rw.setInsertionPointToStart(&init.getThenRegion().front());
      SmallVector<Value> v;
      for (int64_t k = 0; k < spec.sets; ++k)
        for (int64_t r = 0; r < R; ++r)
          v.push_back(spec.init(rw, at, k, n[r]));
      scf::YieldOp::create(rw, loc, v);
      rw.setInsertionPointToStart(&init.getElseRegion().front());
      scf::YieldOp::create(rw, loc,
                           SmallVector<Value>(nState, cf32(rw, loc, 0)));
    }

    auto tiles = scf::ForOp::create(
        rw, loc, c0, spec.L, cT, init.getResults(),
        [&](OpBuilder &tb, Location l, Value t0, ValueRange state0) {
          Value cnt = arith::MinUIOp::create(
              tb, l, cT, arith::SubIOp::create(tb, l, spec.L, t0));
          ifThen(tb, l, blockActive, [&](OpBuilder &sb) {
            spec.stage(sb, at.b, at.h, tid, t0, cnt, staged);
          });
          barrier(tb, l);
          auto steps = scf::ForOp::create(
              tb, l, c0, cnt, c1, state0,
              [&](OpBuilder &bb, Location sl, Value tt, ValueRange st) {
                auto upd = scf::IfOp::create(bb, sl, stateTys, active, true);
                {
                  OpBuilder::InsertionGuard g(bb);
                  bb.setInsertionPointToStart(&upd.getThenRegion().front());
                  SmallVector<Value> state(st.begin(), st.end()), partials;
                  Value t = arith::AddIOp::create(bb, sl, t0, tt);
                  spec.step(bb, at, tt, t, n, staged, state, partials);
                  Value slot = arith::AddIOp::create(
                      bb, sl, arith::MulIOp::create(bb, sl, tt, cidx(bb, sl, kBlock)),
                      tid);
                  for (int64_t q = 0; q < spec.partials; ++q)
                    memref::StoreOp::create(bb, sl, partials[q], sP[q], slot);
                  scf::YieldOp::create(bb, sl, state);
                  bb.setInsertionPointToStart(&upd.getElseRegion().front());
                  scf::YieldOp::create(bb, sl, st);
                }
                scf::YieldOp::create(bb, sl, upd.getResults());
              });
          barrier(tb, l);
          // Each (step, column) of the tile: the sum of its S partials.
          ifThen(tb, l, blockActive, [&](OpBuilder &rb) {
            blockStrided(rb, l, tid, cidx(rb, l, T * cols),
                         [&](OpBuilder &ib, Value idx) {
              Value tt = arith::DivUIOp::create(ib, l, idx, cCols);
              Value c2 = arith::RemUIOp::create(ib, l, idx, cCols);
              ColumnAt out = at;
              out.col = arith::AddIOp::create(
                  ib, l, arith::MulIOp::create(ib, l, cb, cCols), c2);
              Value ok = arith::AndIOp::create(ib, l, ult(ib, tt, cnt),
                                               ult(ib, out.col, spec.columns));
              ifThen(ib, l, ok, [&](OpBuilder &fb) {
                Value row = arith::AddIOp::create(
                    fb, l, arith::MulIOp::create(fb, l, tt, cidx(fb, l, kBlock)),
                    c2);
                SmallVector<Value> sums;
                for (int64_t q = 0; q < spec.partials; ++q) {
                  Value sum = memref::LoadOp::create(fb, l, sP[q], row);
                  for (int64_t s = 1; s < S; ++s)
                    sum = arith::AddFOp::create(
                        fb, l, sum,
                        memref::LoadOp::create(
                            fb, l, sP[q],
                            ValueRange{arith::AddIOp::create(
                                fb, l, row, cidx(fb, l, s * cols))}));
                  sums.push_back(sum);
                }
                spec.finish(fb, out, tt, arith::AddIOp::create(fb, l, t0, tt),
                            sums, staged);
              });
            });
          });
          // The next tile overwrites what this one staged and summed.
          barrier(tb, l);
          scf::YieldOp::create(tb, l, steps.getResults());
        });
    if (spec.storeFinal)
      ifThen(rw, loc, active, [&](OpBuilder &fb) {
        for (int64_t r = 0; r < R; ++r)
          spec.storeFinal(fb, at, n[r], tiles.getResult(r));
      });
  });
}

} // namespace ssmc::gpu_kernels
