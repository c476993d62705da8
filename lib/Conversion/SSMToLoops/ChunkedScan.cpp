//===- ChunkedScan.cpp - chunked CPU kernel of scalar-decay linear scans --===//

#include "ChunkedScan.h"
#include "lib/Conversion/Utils/LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

using namespace mlir;

namespace ssmc::detail {

namespace {

/// Emission state of one (sequence, head) scan.
class ChunkedScanEmitter {
public:
  ChunkedScanEmitter(OpBuilder &b, Location loc, const ChunkedScan &s)
      : s(s), vecTy(VectorType::get({s.lanes}, s.acc)),
        maskTy(VectorType::get({s.lanes}, b.getI1Type())) {
    c0 = index(b, loc, 0);
    c1 = index(b, loc, 1);
    cLanes = index(b, loc, s.lanes);
    keyBlocks = arith::CeilDivUIOp::create(b, loc, s.keyDim, cLanes);
    valueBlocks = arith::CeilDivUIOp::create(b, loc, s.valueDim, cLanes);
    keyPad = arith::MulIOp::create(b, loc, keyBlocks, cLanes);
    // The state: row n of value block pb is element pb * K + n.
    state = memref::AllocaOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, vecTy),
        ValueRange{arith::MulIOp::create(b, loc, valueBlocks, s.keyDim)});
    // Chunk rows of queries and keys (scaled by their decays once the
    // intra-chunk dot products are taken), padded to whole vectors.
    auto rowsTy = MemRefType::get({ShapedType::kDynamic}, s.acc);
    Value rowsLen =
        arith::MulIOp::create(b, loc, index(b, loc, s.chunk), keyPad);
    queries = memref::AllocaOp::create(b, loc, rowsTy, ValueRange{rowsLen});
    keys = memref::AllocaOp::create(b, loc, rowsTy, ValueRange{rowsLen});
    if (s.normalize)
      normalizer = memref::AllocaOp::create(
          b, loc, MemRefType::get({ShapedType::kDynamic}, vecTy),
          ValueRange{s.keyDim});
    if (s.keyLogDecay) {
      // Per key row: the chunk's cumulative log decays and exp(c_{T-1}).
      cums = memref::AllocaOp::create(b, loc, rowsTy, ValueRange{rowsLen});
      totals = memref::AllocaOp::create(b, loc, rowsTy, ValueRange{keyPad});
    }
  }

  void emit(OpBuilder &b, Location loc, Value begin, Value end) {
    if (normalizer)
      scf::ForOp::create(b, loc, c0, s.keyDim, c1, ValueRange{},
                         [&](OpBuilder &b, Location loc, Value n, ValueRange) {
                           Value z0 = s.initNormalizer
                                          ? splat(b, loc,
                                                  s.initNormalizer(b, loc, n))
                                          : zero(b, loc);
                           memref::StoreOp::create(b, loc, z0, normalizer, n);
                           scf::YieldOp::create(b, loc);
                         });
    forEachRow(b, loc, [&](OpBuilder &b, Location loc, Value at, Value mask,
                           Value n, Value slot) {
      Value init = s.initState ? s.initState(b, loc, n, at, mask) : zero(b, loc);
      memref::StoreOp::create(b, loc, init, state, slot);
    });
    last = arith::SubIOp::create(b, loc, end, c1);
    forStepGroups(b, loc, begin, end, s.chunk,
                  [&](OpBuilder &b, Location loc, Value t0, int64_t T) {
                    emitChunk(b, loc, t0, T);
                  });
    if (s.finalState)
      forEachRow(b, loc, [&](OpBuilder &b, Location loc, Value at, Value mask,
                             Value n, Value slot) {
        s.finalState(b, loc, n, at, mask,
                     memref::LoadOp::create(b, loc, state, slot));
      });
    if (normalizer && s.finalNormalizer)
      scf::ForOp::create(
          b, loc, c0, s.keyDim, c1, ValueRange{},
          [&](OpBuilder &b, Location loc, Value n, ValueRange) {
            // Every lane of a normaliser row holds the same z[n].
            Value row = memref::LoadOp::create(b, loc, normalizer, n);
            s.finalNormalizer(b, loc, n,
                              vector::ExtractOp::create(b, loc, row, 0));
            scf::YieldOp::create(b, loc);
          });
  }

private:
  static Value index(OpBuilder &b, Location loc, int64_t v) {
    return arith::ConstantIndexOp::create(b, loc, v);
  }
  Value scalar(OpBuilder &b, Location loc, double v) const {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(s.acc, v));
  }
  Value zero(OpBuilder &b, Location loc) const {
    return arith::ConstantOp::create(
        b, loc, vecTy, DenseElementsAttr::get(vecTy, b.getZeroAttr(s.acc)));
  }
  Value splat(OpBuilder &b, Location loc, Value x) const {
    return vector::BroadcastOp::create(b, loc, vecTy, x);
  }
  /// Lanes [at, at + lanes) of a dimension of size `dim`.
  Value maskFrom(OpBuilder &b, Location loc, Value dim, Value at) const {
    Value valid = arith::MinUIOp::create(
        b, loc, arith::SubIOp::create(b, loc, dim, at), cLanes);
    return vector::CreateMaskOp::create(b, loc, maskTy, ValueRange{valid});
  }
  /// Element (row u, key index n) of a chunk-rows buffer.
  Value rowIndex(OpBuilder &b, Location loc, int64_t u, Value n) const {
    return arith::AddIOp::create(
        b, loc, arith::MulIOp::create(b, loc, index(b, loc, u), keyPad), n);
  }

  /// Calls `body(at, mask, base)` for every value block: its first value
  /// lane, the lanes' mask and the block's first state slot.
  void forEachValueBlock(
      OpBuilder &b, Location loc,
      llvm::function_ref<void(OpBuilder &, Location, Value, Value, Value)> body) {
    scf::ForOp::create(
        b, loc, c0, valueBlocks, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value pb, ValueRange) {
          Value at = arith::MulIOp::create(b, loc, pb, cLanes);
          body(b, loc, at, maskFrom(b, loc, s.valueDim, at),
               arith::MulIOp::create(b, loc, pb, s.keyDim));
          scf::YieldOp::create(b, loc);
        });
  }

  /// Calls `body(at, mask, n, slot)` for every state row of every value
  /// block.
  void forEachRow(OpBuilder &b, Location loc,
                  llvm::function_ref<void(OpBuilder &, Location, Value, Value,
                                          Value, Value)>
                      body) {
    forEachValueBlock(b, loc, [&](OpBuilder &b, Location loc, Value at,
                                  Value mask, Value base) {
      scf::ForOp::create(
          b, loc, c0, s.keyDim, c1, ValueRange{},
          [&](OpBuilder &b, Location loc, Value n, ValueRange) {
            body(b, loc, at, mask, n, arith::AddIOp::create(b, loc, base, n));
            scf::YieldOp::create(b, loc);
          });
    });
  }

  /// Calls `body(at, mask)` for every key block.
  void forEachKeyBlock(
      OpBuilder &b, Location loc,
      llvm::function_ref<void(OpBuilder &, Location, Value, Value)> body) {
    scf::ForOp::create(
        b, loc, c0, keyBlocks, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value nb, ValueRange) {
          Value at = arith::MulIOp::create(b, loc, nb, cLanes);
          body(b, loc, at, maskFrom(b, loc, s.keyDim, at));
          scf::YieldOp::create(b, loc);
        });
  }

  /// What the stages of one chunk of T steps hand on to the next.
  struct Chunk {
    int64_t T;
    /// Per step u: its index t, its step value and (scalar decay) the
    /// chunk-local cumulative log decay c_u.
    SmallVector<Value> ts, steps, cum;
    /// Intra-chunk coefficients M[j][u], u <= j.
    SmallVector<SmallVector<Value>> coef;
    /// Scalar decay: exp(c_{T-1}) in every lane, the state's decay.
    Value total;
  };

  /// Steps [t0, t0 + T): rows, coefficients and decays first, then the one
  /// pass over the state that reads out and updates it.
  void emitChunk(OpBuilder &b, Location loc, Value t0, int64_t T) {
    if (s.prefetch && T == s.chunk)
      prefetchAhead(b, loc, t0, T);
    Chunk c = computeSteps(b, loc, t0, T);
    storeRows(b, loc, c);
    computeCoefficients(b, loc, c);
    if (s.logDecay)
      scaleRowsByStepDecay(b, loc, c);
    if (s.keyLogDecay)
      scaleRowsByKeyDecay(b, loc, c);
    passOverState(b, loc, c);
  }

  /// Prefetches the steps two chunks ahead (clamped to the last step).
  void prefetchAhead(OpBuilder &b, Location loc, Value t0, int64_t T) {
    forEachValueBlock(
        b, loc, [&](OpBuilder &b, Location loc, Value at, Value, Value) {
          for (int64_t u = 0; u < T; ++u) {
            Value ahead = index(b, loc, 2 * T + u);
            Value t = arith::MinUIOp::create(
                b, loc, arith::AddIOp::create(b, loc, t0, ahead), last);
            s.prefetch(b, loc, t, at);
          }
        });
  }

  /// The chunk's step indices, step values and cumulative log decays.
  Chunk computeSteps(OpBuilder &b, Location loc, Value t0, int64_t T) {
    Chunk c;
    c.T = T;
    for (int64_t u = 0; u < T; ++u) {
      Value t = arith::AddIOp::create(b, loc, t0, index(b, loc, u));
      c.ts.push_back(t);
      c.steps.push_back(s.stepValue ? s.stepValue(b, loc, t) : Value());
      if (s.logDecay) {
        Value a = s.logDecay(b, loc, t, c.steps.back());
        c.cum.push_back(
            u ? arith::AddFOp::create(b, loc, c.cum.back(), a).getResult() : a);
      }
    }
    return c;
  }

  /// exp(c_j - c_u) for u <= j (u = -1: exp(c_j)); null when it is 1.
  Value decay(OpBuilder &b, Location loc, const Chunk &c, int64_t j,
              int64_t u) const {
    if (!s.logDecay || j == u)
      return {};
    Value x =
        u < 0 ? c.cum[j] : arith::SubFOp::create(b, loc, c.cum[j], c.cum[u]);
    return math::ExpOp::create(b, loc, x);
  }

  /// Row u's cumulative log decays of the key lanes from `at`.
  Value cumRow(OpBuilder &b, Location loc, int64_t u, Value at) const {
    return vector::LoadOp::create(b, loc, vecTy, cums,
                                  ValueRange{rowIndex(b, loc, u, at)});
  }
  Value vexp(OpBuilder &b, Location loc, Value x) const {
    return emitExp(b, loc, x, s.how);
  }

  /// 1. The chunk's q and k rows (and per-row cumulative log decays).
  void storeRows(OpBuilder &b, Location loc, const Chunk &c) {
    forEachKeyBlock(b, loc, [&](OpBuilder &b, Location loc, Value at, Value mask) {
      // Lanes past K must be 0 in the dot products, whatever the callbacks
      // make of a masked-off 0 (a feature map such as elu + 1 gives 1).
      auto masked = [&](Value x) -> Value {
        return arith::SelectOp::create(b, loc, mask, x, zero(b, loc));
      };
      Value cum;
      for (int64_t u = 0; u < c.T; ++u) {
        vector::StoreOp::create(
            b, loc, masked(s.query(b, loc, c.ts[u], c.steps[u], at, mask)),
            queries, rowIndex(b, loc, u, at));
        vector::StoreOp::create(
            b, loc, masked(s.key(b, loc, c.ts[u], c.steps[u], at, mask)), keys,
            rowIndex(b, loc, u, at));
        if (s.keyLogDecay) {
          Value a = s.keyLogDecay(b, loc, c.ts[u], c.steps[u], at, mask);
          cum = cum ? arith::AddFOp::create(b, loc, cum, a).getResult() : a;
          vector::StoreOp::create(b, loc, cum, cums, rowIndex(b, loc, u, at));
        }
      }
    });
  }

  /// 2. Intra-chunk coefficients M[j][u] = exp(c_j - c_u) (q_j . k_u).
  void computeCoefficients(OpBuilder &b, Location loc, Chunk &c) {
    c.coef.resize(c.T);
    for (int64_t j = 0; j < c.T; ++j)
      for (int64_t u = 0; u <= j; ++u) {
        auto dot = scf::ForOp::create(
            b, loc, c0, keyBlocks, c1, ValueRange{zero(b, loc)},
            [&](OpBuilder &b, Location loc, Value nb, ValueRange acc) {
              Value at = arith::MulIOp::create(b, loc, nb, cLanes);
              Value qv = vector::LoadOp::create(b, loc, vecTy, queries,
                                                ValueRange{rowIndex(b, loc, j, at)});
              Value kv = vector::LoadOp::create(b, loc, vecTy, keys,
                                                ValueRange{rowIndex(b, loc, u, at)});
              if (s.keyLogDecay && u < j)
                qv = arith::MulFOp::create(
                    b, loc, qv,
                    vexp(b, loc,
                         arith::SubFOp::create(b, loc, cumRow(b, loc, j, at),
                                               cumRow(b, loc, u, at))));
              scf::YieldOp::create(
                  b, loc, ValueRange{math::FmaOp::create(b, loc, qv, kv, acc[0])});
            });
        Value m = vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                              dot.getResult(0));
        if (Value d = decay(b, loc, c, j, u))
          m = arith::MulFOp::create(b, loc, m, d);
        c.coef[j].push_back(m);
      }
  }

  /// Multiplies row u of the chunk-rows buffer `rows` by `scale`, key lanes
  /// from `at`.
  void scaleRow(OpBuilder &b, Location loc, Value rows, int64_t u, Value at,
                Value scale) const {
    Value i = rowIndex(b, loc, u, at);
    Value x = vector::LoadOp::create(b, loc, vecTy, rows, ValueRange{i});
    vector::StoreOp::create(b, loc, arith::MulFOp::create(b, loc, x, scale),
                            rows, ValueRange{i});
  }

  /// 3. Scale the rows: q_j by exp(c_j), k_u by exp(c_{T-1} - c_u).
  void scaleRowsByStepDecay(OpBuilder &b, Location loc, Chunk &c) {
    SmallVector<Value> qScale, kScale;
    for (int64_t u = 0; u < c.T; ++u) {
      qScale.push_back(splat(b, loc, decay(b, loc, c, u, -1)));
      Value k = decay(b, loc, c, c.T - 1, u);
      kScale.push_back(k ? splat(b, loc, k) : Value());
    }
    c.total = qScale.back();
    forEachKeyBlock(b, loc, [&](OpBuilder &b, Location loc, Value at, Value) {
      for (int64_t u = 0; u < c.T; ++u)
        for (auto [rows, scale] :
             {std::pair{queries, qScale[u]}, std::pair{keys, kScale[u]}})
          if (scale)
            scaleRow(b, loc, rows, u, at, scale);
    });
  }

  /// 3'. The same with a decay per key row; the state's row decays
  /// exp(c_{T-1}[n]) go to `totals`.
  void scaleRowsByKeyDecay(OpBuilder &b, Location loc, const Chunk &c) {
    const int64_t T = c.T;
    forEachKeyBlock(b, loc, [&](OpBuilder &b, Location loc, Value at, Value) {
      Value lastCum = cumRow(b, loc, T - 1, at);
      for (int64_t u = 0; u < T; ++u) {
        Value cu = cumRow(b, loc, u, at);
        SmallVector<std::pair<Value, Value>, 2> scales{
            {queries, vexp(b, loc, cu)}};
        if (u < T - 1)
          scales.push_back(
              {keys, vexp(b, loc, arith::SubFOp::create(b, loc, lastCum, cu))});
        for (auto [rows, scale] : scales)
          scaleRow(b, loc, rows, u, at, scale);
      }
      vector::StoreOp::create(b, loc, vexp(b, loc, lastCum), totals,
                              ValueRange{at});
    });
  }

  /// One pass over the state rows of `buf` from slot `base` (one value
  /// block, values `vs` of the chunk's steps): T read-outs of S_0, the
  /// update to S_T, then the intra-chunk terms. Returns the T read-outs.
  SmallVector<Value> readOutAndUpdate(OpBuilder &b, Location loc,
                                      const Chunk &c, Value buf, Value base,
                                      ArrayRef<Value> vs) {
    const int64_t T = c.T;
    SmallVector<Value> init(T, zero(b, loc));
    auto rows = scf::ForOp::create(
        b, loc, c0, s.keyDim, c1, init,
        [&](OpBuilder &b, Location loc, Value n, ValueRange ys) {
          Value slot = arith::AddIOp::create(b, loc, base, n);
          Value row = memref::LoadOp::create(b, loc, buf, slot);
          SmallVector<Value> next;
          for (int64_t j = 0; j < T; ++j) {
            Value qn = memref::LoadOp::create(b, loc, queries,
                                              rowIndex(b, loc, j, n));
            next.push_back(
                math::FmaOp::create(b, loc, splat(b, loc, qn), row, ys[j]));
          }
          Value upd = row;
          if (c.total)
            upd = arith::MulFOp::create(b, loc, row, c.total);
          else if (totals)
            upd = arith::MulFOp::create(
                b, loc, row,
                splat(b, loc, memref::LoadOp::create(b, loc, totals, n)));
          for (int64_t u = 0; u < T; ++u) {
            Value kn = memref::LoadOp::create(b, loc, keys,
                                              rowIndex(b, loc, u, n));
            upd = math::FmaOp::create(b, loc, splat(b, loc, kn), vs[u], upd);
          }
          memref::StoreOp::create(b, loc, upd, buf, slot);
          scf::YieldOp::create(b, loc, next);
        });
    SmallVector<Value> out;
    for (int64_t j = 0; j < T; ++j) {
      Value y = rows.getResult(j);
      for (int64_t u = 0; u <= j; ++u)
        y = math::FmaOp::create(b, loc, splat(b, loc, c.coef[j][u]), vs[u], y);
      out.push_back(y);
    }
    return out;
  }

  /// 4. One pass over the state per value block (and first over the
  /// normaliser), then the outputs.
  void passOverState(OpBuilder &b, Location loc, const Chunk &c) {
    // The normaliser z_t = decay z_{t-1} + k_t is the state of a value
    // column of ones: den_j = q_j . z_j, in every lane.
    SmallVector<Value> dens;
    if (s.normalize) {
      SmallVector<Value> ones(c.T, splat(b, loc, scalar(b, loc, 1.0)));
      dens = readOutAndUpdate(b, loc, c, normalizer, c0, ones);
      // flash-linear-attention's o / (q . z + eps): a query that shares no
      // feature with the keys so far reads out 0 / eps = 0, not 0 / 0.
      Value eps = splat(b, loc, scalar(b, loc, s.eps));
      for (Value &d : dens)
        d = arith::AddFOp::create(b, loc, d, eps);
    }
    forEachValueBlock(
        b, loc, [&](OpBuilder &b, Location loc, Value at, Value mask, Value base) {
          SmallVector<Value> vs;
          for (int64_t u = 0; u < c.T; ++u)
            vs.push_back(s.value(b, loc, c.ts[u], c.steps[u], at, mask));
          SmallVector<Value> ys = readOutAndUpdate(b, loc, c, state, base, vs);
          for (int64_t j = 0; j < c.T; ++j) {
            Value y = ys[j];
            if (s.normalize)
              y = arith::DivFOp::create(b, loc, y, dens[j]);
            s.output(b, loc, c.ts[j], c.steps[j], at, mask, y);
          }
        });
  }

  const ChunkedScan &s;
  VectorType vecTy, maskTy;
  Value c0, c1, cLanes, keyBlocks, valueBlocks, keyPad;
  Value state, queries, keys, cums, totals, normalizer, last;
};

} // namespace

void emitChunkedScan(OpBuilder &b, Location loc, const ChunkedScan &scan,
                     Value begin, Value end) {
  ChunkedScanEmitter(b, loc, scan).emit(b, loc, begin, end);
}

} // namespace ssmc::detail
