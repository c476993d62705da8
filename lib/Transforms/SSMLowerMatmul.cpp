//===- SSMLowerMatmul.cpp - vector code for f32 linalg.matmul -------------===//
//
// The projections of a language model are plain matmuls of a row-major
// weight A [M, K] and channel-major activations B [K, N]. Two kernels:
//
//  wide (N >= one vector): panels of `panel` columns, each first packed
//  into tiles of two vectors of columns with K consecutive rows (zero
//  padded); in a panel, blocks of kRows rows of C in parallel; per block
//  and tile, the kRows x 2 accumulators stay in registers while K is walked
//  (broadcast A[r, k], load the packed row, FMA). C's column tails are
//  masked.
//
//  narrow (static N below one vector, decode): column n of B copied to a
//  contiguous buffer, then blocks of kRows rows dot A[r, :] with it, vector
//  accumulators along K (masked tail) and one horizontal sum per result.
//
// B may also be given transposed ([N, K], the maps (m, k), (n, k), (m, n)):
// the packing reads its rows, the decode kernel its row n.
//
// A may hold bf16 or i8 weights (linalg's casts to the f32 accumulator:
// extf, sitofp): both kernels read them at their own width and widen them
// in registers. With vdpbf16ps available (cpu-features avx512bf16) and 16
// f32 lanes, the narrow kernel of a bf16 A rounds its column of B to bf16
// once and takes 32 products per instruction (x86vector.avx512.dot), the
// pairs summed into 16 f32 accumulators. With vpdpbusd (avx512vnni) the
// narrow kernel of an i8 A quantizes its column of B to int8 (one scale,
// max |b| / 127, per column, as llama.cpp's Q8 activations) and takes 64
// byte products per instruction into 16 i32 accumulators: A's bytes are
// offset to unsigned (a + 128, one xor), the offset removed at the end
// (128 * sum of the quantized column).
//
// Blocks past the last row repeat it: every accumulator is read before any
// is written, so the repeated row stores the same value twice.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include "llvm/ADT/StringExtras.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMLOWERMATMUL
#include "ssmc/Transforms/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

constexpr int64_t kRows = 4; // rows of C per register block

/// A vector of type `t` from `mem` at `at`: lanes where `mask` is set
/// (`pass` elsewhere), or a plain load of every lane when `mask` is null.
Value loadOrMasked(OpBuilder &b, Location loc, VectorType t, Value mem,
                   ValueRange at, Value mask, Value pass) {
  if (!mask)
    return vector::LoadOp::create(b, loc, t, mem, at);
  return vector::MaskedLoadOp::create(b, loc, t, mem, at, mask, pass);
}

/// Index arithmetic and vector helpers at one location.
struct Builder {
  OpBuilder &b;
  Location loc;
  VectorType vec, maskTy;

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value dim(Value m, int64_t d) { return memref::DimOp::create(b, loc, m, d); }
  Value zeroVec() {
    return arith::ConstantOp::create(
        b, loc, vec, DenseElementsAttr::get(vec, b.getF32FloatAttr(0)));
  }
  /// Lanes [0, n) of a vector (n clamped to [0, lanes] by create_mask).
  Value mask(Value n) {
    return vector::CreateMaskOp::create(b, loc, maskTy, ValueRange{n});
  }
  Value load(Value mem, ValueRange at, Value m) {
    return vector::MaskedLoadOp::create(b, loc, vec, mem, at, m, zeroVec());
  }
  /// The lanes of `mem` at its own element type where mask `m` is set
  /// (zero elsewhere; every lane when `m` is null), widened to f32 the way
  /// linalg.matmul casts its operands (extf, sitofp).
  Value loadWidened(Value mem, ValueRange at, Value m) {
    Type elt = cast<MemRefType>(mem.getType()).getElementType();
    auto narrow = VectorType::get(vec.getShape(), elt);
    Value zero = arith::ConstantOp::create(
        b, loc, narrow, DenseElementsAttr::get(narrow, b.getZeroAttr(elt)));
    return widen(loadOrMasked(b, loc, narrow, mem, at, m, zero));
  }
  /// A bf16 or i8 scalar or vector as f32.
  Value widen(Value v) {
    Type elt = getElementTypeOrSelf(v.getType());
    if (elt.isF32())
      return v;
    Type f32 = b.getF32Type();
    Type to = f32;
    if (auto vt = dyn_cast<VectorType>(v.getType()))
      to = VectorType::get(vt.getShape(), f32);
    if (isa<FloatType>(elt))
      return arith::ExtFOp::create(b, loc, to, v);
    return arith::SIToFPOp::create(b, loc, to, v);
  }
  void store(Value mem, ValueRange at, Value m, Value v) {
    vector::MaskedStoreOp::create(b, loc, mem, at, m, v);
  }
  /// Row `i` of the block starting at `r0`, clamped to the last row.
  Value row(Value r0, int64_t i, Value last) {
    return min(add(r0, idx(i)), last);
  }
};

bool isUnitStrideF32Matrix(Value v) {
  auto t = dyn_cast<MemRefType>(v.getType());
  return t && t.getRank() == 2 && t.getElementType().isF32() &&
         t.isLastDimUnitStride();
}

/// A weight matrix the kernels read: f32, bf16 or i8, unit stride along K.
bool isUnitStrideWeightMatrix(Value v) {
  auto t = dyn_cast<MemRefType>(v.getType());
  if (!t || t.getRank() != 2 || !t.isLastDimUnitStride())
    return false;
  Type elt = t.getElementType();
  return elt.isF32() || elt.isBF16() || elt.isSignlessInteger(8);
}

/// The wide kernel: a loop over panels of B's columns; per panel, B is
/// packed into tiles of two vectors of columns, then blocks of kRows rows of
/// C run in parallel, each keeping its kRows x 2 accumulators in registers
/// while the K loop walks one packed tile.
class WideMatmul {
public:
  WideMatmul(Builder &h, Value A, Value B, Value C, bool transB, int64_t lanes,
             int64_t panel)
      : h(h), A(A), B(B), C(C), transB(transB), lanes(lanes), panel(panel) {}

  void emit() {
    OpBuilder &b = h.b;
    Location loc = h.loc;
    M = h.dim(A, 0), K = h.dim(A, 1), N = h.dim(B, transB ? 0 : 1);
    c0 = h.idx(0), c1 = h.idx(1), cLanes = h.idx(lanes);
    tileCols = h.idx(2 * lanes);
    last = h.sub(M, c1);
    blocks = arith::CeilDivSIOp::create(b, loc, M, h.idx(kRows));
    // The panel of B, packed tile by tile: packed[t][k] holds the two
    // vectors of columns [p0 + 32t, p0 + 32t + 32) of row k (zero past N),
    // so the K loop reads consecutive 128-byte rows whatever B's row
    // stride (a stride near a multiple of 4 KiB would put every row of a
    // tile in the same few L1 sets).
    int64_t tilesPerPanel = panel / (2 * lanes);
    auto packedTy = MemRefType::get(
        {tilesPerPanel, ShapedType::kDynamic, 2 * lanes}, b.getF32Type());
    packed = memref::AllocOp::create(b, loc, packedTy, ValueRange{K},
                                     b.getI64IntegerAttr(64));
    scf::ForOp::create(b, loc, c0, N, h.idx(panel), ValueRange{},
                       [&](OpBuilder &b, Location loc, Value p, ValueRange) {
                         emitPanel(b, loc, p);
                       });
    memref::DeallocOp::create(b, loc, packed);
  }

private:
  Builder at(OpBuilder &b, Location loc) const {
    return {b, loc, h.vec, h.maskTy};
  }

  /// Columns [n0, n0 + 2 * lanes) of tile t of the panel, as two vectors
  /// with their masks (off past the panel's end).
  struct TileColumns {
    Value n0, n1, m0, m1;
  };
  TileColumns tileColumns(Builder &h3, Value t) const {
    TileColumns c;
    c.n0 = h3.add(p0, h3.mul(t, tileCols));
    c.n1 = h3.add(c.n0, cLanes);
    c.m0 = h3.mask(h3.sub(pEnd, c.n0));
    c.m1 = h3.mask(h3.sub(pEnd, c.n1));
    return c;
  }

  /// One panel from column `p`: pack its tiles (in parallel), then multiply
  /// every block of rows with them (in parallel).
  void emitPanel(OpBuilder &b, Location loc, Value p) {
    Builder h2 = at(b, loc);
    p0 = p;
    pEnd = h2.min(h2.add(p0, h2.idx(panel)), N);
    tiles = arith::CeilDivSIOp::create(b, loc, h2.sub(pEnd, p0), tileCols);
    scf::ParallelOp::create(
        b, loc, ValueRange{c0}, ValueRange{tiles}, ValueRange{c1},
        [&](OpBuilder &b, Location loc, ValueRange ivs) {
          packTile(b, loc, ivs[0]);
          scf::ReduceOp::create(b, loc);
        });
    scf::ParallelOp::create(
        b, loc, ValueRange{c0}, ValueRange{blocks}, ValueRange{c1},
        [&](OpBuilder &b, Location loc, ValueRange ivs) {
          emitRowBlock(b, loc, ivs[0]);
          scf::ReduceOp::create(b, loc);
        });
    scf::YieldOp::create(b, loc);
  }

  /// Copies tile t of the panel into packed[t], row by row of K.
  void packTile(OpBuilder &b, Location loc, Value t) {
    Builder h3 = at(b, loc);
    TileColumns cols = tileColumns(h3, t);
    if (transB) {
      packTransposedTile(b, loc, t, cols.n0);
      return;
    }
    scf::ForOp::create(
        b, loc, c0, K, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value k, ValueRange) {
          Builder h4 = at(b, loc);
          vector::StoreOp::create(b, loc, h4.load(B, {k, cols.n0}, cols.m0),
                                  packed, ValueRange{t, k, c0});
          vector::StoreOp::create(b, loc, h4.load(B, {k, cols.n1}, cols.m1),
                                  packed, ValueRange{t, k, cLanes});
          scf::YieldOp::create(b, loc);
        });
  }

  /// Row n0 + j of B (contiguous along K) becomes lane j of the tile; rows
  /// past N repeat the last one (their columns of C are never stored).
  void packTransposedTile(OpBuilder &b, Location loc, Value t, Value n0) {
    Value lastRow = at(b, loc).sub(N, c1);
    scf::ForOp::create(
        b, loc, c0, tileCols, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value j, ValueRange) {
          Builder h4 = at(b, loc);
          Value row = h4.min(h4.add(n0, j), lastRow);
          scf::ForOp::create(
              b, loc, c0, K, c1, ValueRange{},
              [&](OpBuilder &b, Location loc, Value k, ValueRange) {
                Value v = memref::LoadOp::create(b, loc, B, ValueRange{row, k});
                memref::StoreOp::create(b, loc, v, packed, ValueRange{t, k, j});
                scf::YieldOp::create(b, loc);
              });
          scf::YieldOp::create(b, loc);
        });
  }

  /// Block `block` of kRows rows of C against every tile of the panel.
  void emitRowBlock(OpBuilder &b, Location loc, Value block) {
    Builder h3 = at(b, loc);
    Value r0 = h3.mul(block, h3.idx(kRows));
    SmallVector<Value> rows;
    for (int64_t i = 0; i < kRows; ++i)
      rows.push_back(h3.row(r0, i, last));
    scf::ForOp::create(b, loc, c0, tiles, c1, ValueRange{},
                       [&](OpBuilder &b, Location loc, Value t, ValueRange) {
                         emitTile(b, loc, t, rows);
                         scf::YieldOp::create(b, loc);
                       });
  }

  /// C[rows, tile t] += A[rows, :] x packed[t]: the kRows x 2 accumulators
  /// are loaded from C, carried through the K loop, and stored back.
  void emitTile(OpBuilder &b, Location loc, Value t, ArrayRef<Value> rows) {
    Builder h4 = at(b, loc);
    TileColumns tc = tileColumns(h4, t);
    Value cols[2] = {tc.n0, tc.n1}, masks[2] = {tc.m0, tc.m1};
    SmallVector<Value> acc;
    for (int64_t i = 0; i < kRows; ++i)
      for (int j = 0; j < 2; ++j)
        acc.push_back(h4.load(C, {rows[i], cols[j]}, masks[j]));
    auto kLoop = scf::ForOp::create(
        b, loc, c0, K, c1, acc,
        [&](OpBuilder &b, Location loc, Value k, ValueRange a) {
          Value bv[2] = {vector::LoadOp::create(b, loc, h.vec, packed,
                                                ValueRange{t, k, c0}),
                         vector::LoadOp::create(b, loc, h.vec, packed,
                                                ValueRange{t, k, cLanes})};
          SmallVector<Value> next;
          for (int64_t i = 0; i < kRows; ++i) {
            Value s = at(b, loc).widen(
                memref::LoadOp::create(b, loc, A, ValueRange{rows[i], k}));
            Value av = vector::BroadcastOp::create(b, loc, h.vec, s);
            for (int j = 0; j < 2; ++j)
              next.push_back(
                  math::FmaOp::create(b, loc, av, bv[j], a[i * 2 + j]));
          }
          scf::YieldOp::create(b, loc, next);
        });
    for (int64_t i = 0; i < kRows; ++i)
      for (int j = 0; j < 2; ++j)
        h4.store(C, {rows[i], cols[j]}, masks[j], kLoop.getResult(i * 2 + j));
  }

  Builder &h;
  Value A, B, C;
  bool transB;
  int64_t lanes, panel;
  // Computed by emit() for every stage.
  Value M, K, N, c0, c1, cLanes, tileCols, last, blocks, packed;
  // The panel being emitted: columns [p0, pEnd), `tiles` tiles.
  Value p0, pEnd, tiles;
};

struct LowerMatmul : OpRewritePattern<linalg::MatmulOp> {
  LowerMatmul(MLIRContext *ctx, int64_t lanes, int64_t panel, bool bf16Dot,
              bool i8Dot, int64_t prefetchBytes)
      : OpRewritePattern(ctx), lanes(lanes), panel(panel), bf16Dot(bf16Dot),
        i8Dot(i8Dot), prefetchBytes(prefetchBytes) {}

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rw) const override {
    if (!op.hasPureBufferSemantics())
      return rw.notifyMatchFailure(op, "needs memref operands (runs after "
                                       "bufferization)");
    // The default maps, or B transposed ([N, K]: a row-major weight applied
    // to token-major activations).
    bool transB = false;
    if (op.hasUserDefinedMaps()) {
      MLIRContext *ctx = op.getContext();
      AffineExpr m, n, k;
      bindDims(ctx, m, n, k);
      SmallVector<AffineMap> transposed = {
          AffineMap::get(3, 0, {m, k}, ctx), AffineMap::get(3, 0, {n, k}, ctx),
          AffineMap::get(3, 0, {m, n}, ctx)};
      if (op.getIndexingMapsArray() != transposed)
        return rw.notifyMatchFailure(
            op, "maps other than the default or a transposed B");
      transB = true;
    }
    Value A = op.getDpsInputs()[0], B = op.getDpsInputs()[1],
          C = op.getDpsInits()[0];
    if (!isUnitStrideWeightMatrix(A) || !isUnitStrideF32Matrix(B) ||
        !isUnitStrideF32Matrix(C))
      return rw.notifyMatchFailure(
          op, "needs an f32, bf16 or i8 A and f32 B and C, each with a "
              "unit-stride last dimension");
    if (!cast<MemRefType>(A.getType()).getElementType().isF32() &&
        op.getCast() != linalg::TypeFn::cast_signed)
      return rw.notifyMatchFailure(op, "low-precision A needs signed casts");

    Location loc = op.getLoc();
    rw.setInsertionPoint(op);
    Builder h{rw, loc, VectorType::get({lanes}, rw.getF32Type()),
              VectorType::get({lanes}, rw.getI1Type())};
    int64_t staticN = cast<MemRefType>(B.getType()).getDimSize(transB ? 0 : 1);
    Type eltA = cast<MemRefType>(A.getType()).getElementType();
    bool narrow = !ShapedType::isDynamic(staticN) && staticN < lanes;
    if (narrow && eltA.isBF16() && bf16Dot && lanes == 16)
      emitNarrowBF16Dot(h, A, B, C, staticN, transB);
    else if (narrow && eltA.isSignlessInteger(8) && i8Dot && lanes == 16)
      emitNarrowI8Dot(h, A, B, C, staticN, transB);
    else if (!ShapedType::isDynamic(staticN) && staticN < lanes)
      emitNarrow(h, A, B, C, staticN, transB);
    else
      WideMatmul(h, A, B, C, transB, lanes, panel).emit();
    rw.eraseOp(op);
    return success();
  }

  /// Step body of a narrow kernel's K loop: the step's first element k,
  /// its mask (null on a full step) and the accumulators; returns the next
  /// accumulators.
  using KStep = llvm::function_ref<SmallVector<Value>(
      OpBuilder &, Location, Value, Value, ValueRange)>;

  /// The K loop of a narrow kernel over rows `rows` of A, `step` elements
  /// at a time: the full steps with plain loads (no mask to build or
  /// apply per step), then the K mod step tail once with a mask of type
  /// `maskTy` (the branch folds away when K is a static multiple of the
  /// step). With prefetchBytes > 0 each full step also prefetches every
  /// row that far ahead (clamped to the row's last element), so more
  /// lines are in flight than the rows' four streams keep. Returns the
  /// final accumulators.
  SmallVector<Value> emitKSteps(OpBuilder &b, Location loc, Value A,
                                ArrayRef<Value> rows, Value K, int64_t step,
                                VectorType maskTy, ValueRange acc,
                                KStep body) const {
    Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    Value cStep = arith::ConstantIndexOp::create(b, loc, step);
    Value full = arith::SubIOp::create(
        b, loc, K, arith::RemUIOp::create(b, loc, K, cStep));
    Type elt = cast<MemRefType>(A.getType()).getElementType();
    int64_t ahead = prefetchBytes / std::max<int64_t>(
                                        elt.getIntOrFloatBitWidth() / 8, 1);
    Value cAhead, lastK;
    if (ahead > 0) {
      cAhead = arith::ConstantIndexOp::create(b, loc, ahead);
      lastK = arith::SubIOp::create(b, loc, K, c1);
    }
    auto main = scf::ForOp::create(
        b, loc, c0, full, cStep, acc,
        [&](OpBuilder &b, Location loc, Value k, ValueRange a) {
          if (ahead > 0) {
            Value at = arith::MinSIOp::create(
                b, loc, arith::AddIOp::create(b, loc, k, cAhead), lastK);
            for (Value r : rows)
              memref::PrefetchOp::create(b, loc, A, ValueRange{r, at},
                                         /*isWrite=*/false, /*locality=*/0,
                                         /*isDataCache=*/true);
          }
          scf::YieldOp::create(b, loc, body(b, loc, k, Value(), a));
        });
    Value hasTail = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                          full, K);
    auto tail = scf::IfOp::create(
        b, loc, hasTail,
        [&](OpBuilder &b, Location loc) {
          Value m = vector::CreateMaskOp::create(
              b, loc, maskTy,
              ValueRange{arith::SubIOp::create(b, loc, K, full)});
          scf::YieldOp::create(b, loc,
                               body(b, loc, full, m, main.getResults()));
        },
        [&](OpBuilder &b, Location loc) {
          scf::YieldOp::create(b, loc, main.getResults());
        });
    return SmallVector<Value>(tail.getResults());
  }

  void emitNarrow(Builder &h, Value A, Value B, Value C, int64_t staticN,
                  bool transB) const {
    OpBuilder &b = h.b;
    Location loc = h.loc;
    Value M = h.dim(A, 0), K = h.dim(A, 1);
    Value c0 = h.idx(0), c1 = h.idx(1);
    Value last = h.sub(M, c1);
    Value blocks = arith::CeilDivSIOp::create(b, loc, M, h.idx(kRows));
    Value column = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
        ValueRange{K}, b.getI64IntegerAttr(64));
    for (int64_t n = 0; n < staticN; ++n) {
      Value cn = h.idx(n);
      scf::ForOp::create(b, loc, c0, K, c1, ValueRange{},
                         [&](OpBuilder &b, Location loc, Value k, ValueRange) {
                           SmallVector<Value> at = {k, cn};
                           if (transB)
                             std::swap(at[0], at[1]);
                           Value v = memref::LoadOp::create(b, loc, B, at);
                           memref::StoreOp::create(b, loc, v, column,
                                                   ValueRange{k});
                           scf::YieldOp::create(b, loc);
                         });
      scf::ParallelOp::create(
          b, loc, ValueRange{c0}, ValueRange{blocks}, ValueRange{c1},
          [&](OpBuilder &b, Location loc, ValueRange ivs) {
            Builder h3{b, loc, h.vec, h.maskTy};
            Value r0 = h3.mul(ivs[0], h3.idx(kRows));
            SmallVector<Value> rows, acc;
            for (int64_t i = 0; i < kRows; ++i) {
              rows.push_back(h3.row(r0, i, last));
              acc.push_back(h3.zeroVec());
            }
            SmallVector<Value> sums = emitKSteps(
                b, loc, A, rows, K, lanes, h.maskTy, acc,
                [&](OpBuilder &b, Location loc, Value k, Value m,
                    ValueRange a) {
                  Builder h4{b, loc, h.vec, h.maskTy};
                  Value bv = h4.loadWidened(column, {k}, m);
                  SmallVector<Value> next;
                  for (int64_t i = 0; i < kRows; ++i)
                    next.push_back(math::FmaOp::create(
                        b, loc, h4.loadWidened(A, {rows[i], k}, m), bv,
                        a[i]));
                  return next;
                });
            SmallVector<Value> results;
            for (int64_t i = 0; i < kRows; ++i) {
              // Reassociated: a tree of shuffles and adds rather than a
              // chain of 15 dependent scalar adds per row.
              Value s = vector::ReductionOp::create(
                  b, loc, vector::CombiningKind::ADD, sums[i],
                  arith::FastMathFlags::reassoc);
              Value c = memref::LoadOp::create(b, loc, C, ValueRange{rows[i], cn});
              results.push_back(arith::AddFOp::create(b, loc, c, s));
            }
            for (int64_t i = 0; i < kRows; ++i)
              memref::StoreOp::create(b, loc, results[i], C,
                                      ValueRange{rows[i], cn});
            scf::ReduceOp::create(b, loc);
          });
    }
    memref::DeallocOp::create(b, loc, column);
  }

  /// The narrow kernel for a bf16 A with vdpbf16ps: column n of B rounded
  /// to bf16 into a contiguous buffer, then per block of kRows rows and
  /// step of 2 * lanes along K one x86vector.avx512.dot per row (lane j
  /// accumulates the products of elements 2j and 2j + 1), a masked tail
  /// reading zeros past K, one horizontal sum per result.
  void emitNarrowBF16Dot(Builder &h, Value A, Value B, Value C,
                         int64_t staticN, bool transB) const {
    OpBuilder &b = h.b;
    Location loc = h.loc;
    Type bf16 = b.getBF16Type();
    auto pairTy = VectorType::get({2 * lanes}, bf16);
    auto pairMaskTy = VectorType::get({2 * lanes}, b.getI1Type());
    Value M = h.dim(A, 0), K = h.dim(A, 1);
    Value c0 = h.idx(0), c1 = h.idx(1);
    Value last = h.sub(M, c1);
    Value blocks = arith::CeilDivSIOp::create(b, loc, M, h.idx(kRows));
    Value column = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, bf16), ValueRange{K},
        b.getI64IntegerAttr(64));
    Value zeroPair = arith::ConstantOp::create(
        b, loc, pairTy, DenseElementsAttr::get(pairTy, b.getZeroAttr(bf16)));
    for (int64_t n = 0; n < staticN; ++n) {
      Value cn = h.idx(n);
      scf::ForOp::create(b, loc, c0, K, c1, ValueRange{},
                         [&](OpBuilder &b, Location loc, Value k, ValueRange) {
                           SmallVector<Value> at = {k, cn};
                           if (transB)
                             std::swap(at[0], at[1]);
                           Value v = memref::LoadOp::create(b, loc, B, at);
                           Value r = arith::TruncFOp::create(b, loc, bf16, v);
                           memref::StoreOp::create(b, loc, r, column,
                                                   ValueRange{k});
                           scf::YieldOp::create(b, loc);
                         });
      scf::ParallelOp::create(
          b, loc, ValueRange{c0}, ValueRange{blocks}, ValueRange{c1},
          [&](OpBuilder &b, Location loc, ValueRange ivs) {
            Builder h3{b, loc, h.vec, h.maskTy};
            Value r0 = h3.mul(ivs[0], h3.idx(kRows));
            SmallVector<Value> rows, acc;
            for (int64_t i = 0; i < kRows; ++i) {
              rows.push_back(h3.row(r0, i, last));
              acc.push_back(h3.zeroVec());
            }
            SmallVector<Value> sums = emitKSteps(
                b, loc, A, rows, K, 2 * lanes, pairMaskTy, acc,
                [&](OpBuilder &b, Location loc, Value k, Value m,
                    ValueRange a) {
                  Value bv = loadOrMasked(b, loc, pairTy, column, {k}, m,
                                          zeroPair);
                  SmallVector<Value> next;
                  for (int64_t i = 0; i < kRows; ++i) {
                    Value av = loadOrMasked(b, loc, pairTy, A, {rows[i], k},
                                            m, zeroPair);
                    next.push_back(
                        x86vector::DotBF16Op::create(b, loc, a[i], av, bv));
                  }
                  return next;
                });
            SmallVector<Value> results;
            for (int64_t i = 0; i < kRows; ++i) {
              // Reassociated: a tree of shuffles and adds rather than a
              // chain of 15 dependent scalar adds per row.
              Value s = vector::ReductionOp::create(
                  b, loc, vector::CombiningKind::ADD, sums[i],
                  arith::FastMathFlags::reassoc);
              Value c = memref::LoadOp::create(b, loc, C, ValueRange{rows[i], cn});
              results.push_back(arith::AddFOp::create(b, loc, c, s));
            }
            for (int64_t i = 0; i < kRows; ++i)
              memref::StoreOp::create(b, loc, results[i], C,
                                      ValueRange{rows[i], cn});
            scf::ReduceOp::create(b, loc);
          });
    }
    memref::DeallocOp::create(b, loc, column);
  }

  /// The narrow kernel for an i8 A with vpdpbusd: column n of B quantized
  /// to int8 (scale s = max |b| / 127, q = roundeven(b / s)) into a
  /// contiguous buffer, with the sum of its q; then per block of kRows rows
  /// and step of 4 * lanes along K one vpdpbusd per row on A's bytes made
  /// unsigned (a + 128: xor 0x80) and q (zero past K), and per result
  /// (sum - 128 * sum(q)) * s.
  void emitNarrowI8Dot(Builder &h, Value A, Value B, Value C,
                       int64_t staticN, bool transB) const {
    OpBuilder &b = h.b;
    Location loc = h.loc;
    Type i8 = b.getI8Type(), i32 = b.getI32Type(), f32 = b.getF32Type();
    auto bytesTy = VectorType::get({4 * lanes}, i8);
    auto bytesMaskTy = VectorType::get({4 * lanes}, b.getI1Type());
    auto accTy = VectorType::get({lanes}, i32);
    Value M = h.dim(A, 0), K = h.dim(A, 1);
    Value c0 = h.idx(0), c1 = h.idx(1);
    Value last = h.sub(M, c1);
    Value blocks = arith::CeilDivSIOp::create(b, loc, M, h.idx(kRows));
    Value column = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, i8), ValueRange{K},
        b.getI64IntegerAttr(64));
    auto splat = [&](VectorType t, TypedAttr v) -> Value {
      return arith::ConstantOp::create(b, loc, t,
                                       DenseElementsAttr::get(t, v));
    };
    Value zeroBytes = splat(bytesTy, b.getIntegerAttr(i8, 0));
    Value offset = splat(bytesTy, b.getIntegerAttr(i8, -128));
    Value zeroAcc = splat(accTy, b.getIntegerAttr(i32, 0));
    StringAttr vpdpbusd = b.getStringAttr("llvm.x86.avx512.vpdpbusd.512");
    for (int64_t n = 0; n < staticN; ++n) {
      Value cn = h.idx(n);
      auto loadB = [&](OpBuilder &b, Location loc, Value k) -> Value {
        SmallVector<Value> at = {k, cn};
        if (transB)
          std::swap(at[0], at[1]);
        return memref::LoadOp::create(b, loc, B, at);
      };
      // The column's scale.
      Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
      auto amaxLoop = scf::ForOp::create(
          b, loc, c0, K, c1, ValueRange{zeroF},
          [&](OpBuilder &b, Location loc, Value k, ValueRange m) {
            Value v = math::AbsFOp::create(b, loc, loadB(b, loc, k));
            scf::YieldOp::create(
                b, loc, ValueRange{arith::MaximumFOp::create(b, loc, m[0], v)});
          });
      Value amax = amaxLoop.getResult(0);
      Value c127 = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(127));
      Value scale = arith::DivFOp::create(b, loc, amax, c127);
      Value positive = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT,
                                             amax, zeroF);
      Value inv = arith::SelectOp::create(
          b, loc, positive, arith::DivFOp::create(b, loc, c127, amax), zeroF);
      // The quantized column and the sum of its values.
      Value zeroI = arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(0));
      auto quantLoop = scf::ForOp::create(
          b, loc, c0, K, c1, ValueRange{zeroI},
          [&](OpBuilder &b, Location loc, Value k, ValueRange sum) {
            Value x = arith::MulFOp::create(b, loc, loadB(b, loc, k), inv);
            Value q = arith::FPToSIOp::create(
                b, loc, i32, math::RoundEvenOp::create(b, loc, x));
            memref::StoreOp::create(b, loc,
                                    arith::TruncIOp::create(b, loc, i8, q),
                                    column, ValueRange{k});
            scf::YieldOp::create(
                b, loc, ValueRange{arith::AddIOp::create(b, loc, sum[0], q)});
          });
      // 128 * sum(q), what the offset of A's bytes adds to each dot.
      Value bias = arith::MulIOp::create(
          b, loc, quantLoop.getResult(0),
          arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(128)));
      scf::ParallelOp::create(
          b, loc, ValueRange{c0}, ValueRange{blocks}, ValueRange{c1},
          [&](OpBuilder &b, Location loc, ValueRange ivs) {
            Builder h3{b, loc, h.vec, h.maskTy};
            Value r0 = h3.mul(ivs[0], h3.idx(kRows));
            SmallVector<Value> rows, acc;
            for (int64_t i = 0; i < kRows; ++i) {
              rows.push_back(h3.row(r0, i, last));
              acc.push_back(zeroAcc);
            }
            SmallVector<Value> sums = emitKSteps(
                b, loc, A, rows, K, 4 * lanes, bytesMaskTy, acc,
                [&](OpBuilder &b, Location loc, Value k, Value m,
                    ValueRange a) {
                  Value q = loadOrMasked(b, loc, bytesTy, column, {k}, m,
                                         zeroBytes);
                  SmallVector<Value> next;
                  for (int64_t i = 0; i < kRows; ++i) {
                    Value w = loadOrMasked(b, loc, bytesTy, A, {rows[i], k},
                                           m, zeroBytes);
                    Value u = arith::XOrIOp::create(b, loc, w, offset);
                    next.push_back(
                        LLVM::CallIntrinsicOp::create(
                            b, loc, accTy, vpdpbusd, ValueRange{a[i], u, q})
                            .getResult(0));
                  }
                  return next;
                });
            SmallVector<Value> results;
            for (int64_t i = 0; i < kRows; ++i) {
              Value s = vector::ReductionOp::create(
                  b, loc, vector::CombiningKind::ADD, sums[i]);
              Value dot = arith::SubIOp::create(b, loc, s, bias);
              Value v = arith::MulFOp::create(
                  b, loc, arith::SIToFPOp::create(b, loc, f32, dot), scale);
              Value c = memref::LoadOp::create(b, loc, C, ValueRange{rows[i], cn});
              results.push_back(arith::AddFOp::create(b, loc, c, v));
            }
            for (int64_t i = 0; i < kRows; ++i)
              memref::StoreOp::create(b, loc, results[i], C,
                                      ValueRange{rows[i], cn});
            scf::ReduceOp::create(b, loc);
          });
    }
    memref::DeallocOp::create(b, loc, column);
  }

  int64_t lanes, panel;
  bool bf16Dot, i8Dot;
  int64_t prefetchBytes;
};

struct SSMLowerMatmulPass
    : public ssmc::impl::SSMLowerMatmulBase<SSMLowerMatmulPass> {
  using Base::Base;
  /// The vpdpbusd kernel calls the LLVM intrinsic directly (no x86vector op
  /// has vpdpbusd).
  void getDependentDialects(DialectRegistry &registry) const override {
    Base::getDependentDialects(registry);
    registry.insert<LLVM::LLVMDialect>();
  }
  void runOnOperation() override {
    int64_t lanes = std::max<int64_t>(vectorBits / 32, 1);
    int64_t columns = panel;
    if (columns < 2 * lanes || columns % (2 * lanes)) {
      getOperation()->emitError("ssm-lower-matmul: panel ")
          << columns << " is not a positive multiple of two vectors ("
          << 2 * lanes << " columns)";
      return signalPassFailure();
    }
    SmallVector<StringRef> features;
    StringRef(cpuFeatures).split(features, ',', -1, /*KeepEmpty=*/false);
    bool bf16Dot = llvm::is_contained(features, "avx512bf16");
    bool i8Dot = llvm::is_contained(features, "avx512vnni");
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerMatmul>(&getContext(), lanes, columns, bf16Dot, i8Dot,
                              prefetchBytes);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
