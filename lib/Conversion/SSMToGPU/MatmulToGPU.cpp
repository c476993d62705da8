//===- MatmulToGPU.cpp - linalg.matmul as GPU kernels ----------------------===//
//
// The projections of the language models: C = C0 + A B with a row-major
// weight A [M, K] (f32, f16, bf16, or i8 widened by linalg's signed cast)
// and f32/f16/bf16 activations B [K, N], or B transposed ([N, K], the maps
// (m, k), (n, k), (m, n)) as ssm-lower-matmul takes it on the CPU; C is
// f32. Two kernels:
//
//  matrix-vector (decode: static N <= kMaxMatvecColumns): a warp per row
//  of C, four rows per 128-thread block; lane l walks k = l, l + 32, ..
//  (consecutive lanes read consecutive weights: coalesced), keeping N
//  accumulators, and the warp sums them by an xor butterfly of gpu.shuffle.
//  Rows past M run no k step but still take part in the shuffles (they need
//  their whole warp; the emulator, the whole block).
//
//  tiled (everything else): a block per TM x TN tile of C, 128 threads of
//  (TM / 16) x (TN / 8) results each (rows ty + 16 i, columns tx + 8 j) in
//  registers; per step of TK along K the block stages A's TM x TK and B's
//  TK x TN tiles in shared memory (rows padded by one value: no bank
//  conflicts on either side; zeros past M, N and K), a barrier, TK FMA
//  steps from shared memory, a barrier. The tile is picked against
//  KernelBudget (static shared memory and registers).
//
// C0 that is a linalg.fill of an f32 value (the models' zero accumulator)
// is not read: the kernels start from the value, so no buffer is staged
// for it.
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <iterator>

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;

namespace {

constexpr int64_t kWarp = 32;
/// Rows of C per block of the matrix-vector kernel: a warp each.
constexpr int64_t kMatvecRows = kBlock / kWarp;
/// The widest static N the matrix-vector kernel takes (N accumulators per
/// lane); wider products take the tiled kernel.
constexpr int64_t kMaxMatvecColumns = 8;

/// The tiled kernel's tile of C and step along K. The 128 threads are a
/// 16 x 8 grid, so rows and columns are multiples of 16 and 8.
struct MatmulTile {
  int64_t rows, cols, depth;
  static constexpr int64_t kThreadRows = 16, kThreadCols = kBlock / 16;

  int64_t rowsPerThread() const { return rows / kThreadRows; }
  int64_t colsPerThread() const { return cols / kThreadCols; }
  /// Shared floats: both tiles with rows padded by one value.
  int64_t sharedFloats() const {
    return rows * (depth + 1) + depth * (cols + 1);
  }
  /// Registers a thread needs: its accumulators, one step's operands and
  /// about 24 for addresses and loop state.
  int64_t registers() const {
    return rowsPerThread() * colsPerThread() + rowsPerThread() +
           colsPerThread() + 24;
  }
};

/// The largest tile within the static shared-memory and register budgets
/// of a 128-thread block.
MatmulTile pickMatmulTile() {
  static constexpr MatmulTile kCandidates[] = {
      {64, 64, 32}, {64, 64, 16}, {32, 32, 16}, {16, 8, 8}};
  KernelBudget budget;
  for (const MatmulTile &t : kCandidates)
    if (KernelBudget::sharedFits(t.sharedFloats()) &&
        budget.registersFit(t.registers()))
      return t;
  return kCandidates[std::size(kCandidates) - 1];
}

/// Whether the maps are linalg.matmul's default or B transposed.
FailureOr<bool> transposedB(linalg::MatmulOp op) {
  if (!op.hasUserDefinedMaps())
    return false;
  MLIRContext *ctx = op.getContext();
  AffineExpr m, n, k;
  bindDims(ctx, m, n, k);
  SmallVector<AffineMap> transposed = {AffineMap::get(3, 0, {m, k}, ctx),
                                       AffineMap::get(3, 0, {n, k}, ctx),
                                       AffineMap::get(3, 0, {m, n}, ctx)};
  if (op.getIndexingMapsArray() != transposed)
    return failure();
  return true;
}

/// The operands of one matmul and the loads both kernels share.
class MatmulKernel {
public:
  MatmulKernel(PatternRewriter &rw, Location loc, linalg::MatmulOp op,
               bool transB)
      : rw(rw), loc(loc), transB(transB) {
    Value c = op.getDpsInits()[0];
    if (auto fill = c.getDefiningOp<linalg::FillOp>();
        fill && fill.getDpsInputs()[0].getType().isF32())
      fillValue = fill.getDpsInputs()[0];
    A = toStridedBuffer(rw, loc, op.getDpsInputs()[0]);
    B = toStridedBuffer(rw, loc, op.getDpsInputs()[1]);
    if (!fillValue)
      C0 = toStridedBuffer(rw, loc, c);
    M = dimOf(rw, loc, A, 0);
    K = dimOf(rw, loc, A, 1);
    N = dimOf(rw, loc, B, transB ? 0 : 1);
    out = allocLike(rw, loc, op.getResultTypes()[0], {M, N});
  }

  /// The matrix-vector kernel for `columns` (static N) columns.
  void emitMatvec(int64_t columns);
  /// The tiled kernel.
  void emitTiled(const MatmulTile &tile);

  Value result() const { return out; }

private:
  /// A[r, k] as f32 (linalg's casts: extf, or sitofp for i8).
  Value loadA(OpBuilder &b, Value r, Value k) {
    Value v = memref::LoadOp::create(b, loc, A, ValueRange{r, k});
    if (isa<IntegerType>(v.getType()))
      return arith::SIToFPOp::create(b, loc, b.getF32Type(), v);
    return castFloat(b, loc, v, b.getF32Type());
  }
  /// B[k, n] (B[n, k] when transposed) as f32.
  Value loadB(OpBuilder &b, Value k, Value n) {
    return transB ? load32(b, loc, B, ValueRange{n, k})
                  : load32(b, loc, B, ValueRange{k, n});
  }
  /// out[r, n] = C0[r, n] + sum.
  void storeResult(OpBuilder &b, Value r, Value n, Value sum) {
    Value c0 = fillValue ? fillValue
                         : load32(b, loc, C0, ValueRange{r, n});
    store32(b, loc, arith::AddFOp::create(b, loc, c0, sum), out,
            ValueRange{r, n});
  }
  Value lt(OpBuilder &b, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }
  Value andI(OpBuilder &b, Value x, Value y) {
    return arith::AndIOp::create(b, loc, x, y);
  }

  PatternRewriter &rw;
  Location loc;
  bool transB;
  Value A, B, C0, fillValue, out, M, N, K;
};

void MatmulKernel::emitMatvec(int64_t columns) {
  Value blocks =
      arith::CeilDivUIOp::create(rw, loc, M, cidx(rw, loc, kMatvecRows));
  launchBlocks(rw, loc, blocks, TypeRange{}, [&](Value bid, Value tid,
                                                 ValueRange) {
    Value warp = arith::DivUIOp::create(rw, loc, tid, cidx(rw, loc, kWarp));
    Value lane = arith::RemUIOp::create(rw, loc, tid, cidx(rw, loc, kWarp));
    Value row = arith::AddIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, bid, cidx(rw, loc, kMatvecRows)),
        warp);
    Value valid = lt(rw, row, M);
    // A row past M walks no k (its loads would be out of bounds) but joins
    // the shuffles below.
    Value kEnd = arith::SelectOp::create(rw, loc, valid, K, cidx(rw, loc, 0));
    SmallVector<Value> zeros(columns, cf32(rw, loc, 0));
    auto kLoop = scf::ForOp::create(
        rw, loc, lane, kEnd, cidx(rw, loc, kWarp), zeros,
        [&](OpBuilder &b, Location l, Value k, ValueRange acc) {
          Value a = loadA(b, row, k);
          SmallVector<Value> next;
          for (int64_t n = 0; n < columns; ++n)
            next.push_back(math::FmaOp::create(
                b, l, a, loadB(b, k, cidx(b, l, n)), acc[n]));
          scf::YieldOp::create(b, l, next);
        });
    // Lanes l and l ^ off add their sums: after five rounds every lane
    // holds the row's total.
    SmallVector<Value> sums(kLoop.getResults().begin(), kLoop.getResults().end());
    for (Value &s : sums)
      for (int64_t off = kWarp / 2; off >= 1; off /= 2)
        s = arith::AddFOp::create(
            rw, loc, s,
            gpu::ShuffleOp::create(rw, loc, s, off, kWarp,
                                   gpu::ShuffleMode::XOR)
                .getShuffleResult());
    Value first = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq,
                                        lane, cidx(rw, loc, 0));
    ifThen(rw, loc, andI(rw, valid, first), [&](OpBuilder &b) {
      for (int64_t n = 0; n < columns; ++n)
        storeResult(b, row, cidx(b, loc, n), sums[n]);
    });
  });
}

void MatmulKernel::emitTiled(const MatmulTile &tile) {
  const int64_t TM = tile.rows, TN = tile.cols, TK = tile.depth;
  const int64_t RI = tile.rowsPerThread(), RJ = tile.colsPerThread();
  const int64_t aStride = TK + 1, bStride = TN + 1;
  Value c1 = cidx(rw, loc, 1);
  Value tilesM = arith::CeilDivUIOp::create(rw, loc, M, cidx(rw, loc, TM));
  // At least one column tile, so that the block index divides by it when N
  // is 0 (every store is then guarded off).
  Value tilesN = arith::MaxUIOp::create(
      rw, loc, arith::CeilDivUIOp::create(rw, loc, N, cidx(rw, loc, TN)), c1);
  Value blocks = arith::MulIOp::create(rw, loc, tilesM, tilesN);
  Type shared[] = {sharedArrayType(rw.getContext(), TM * aStride),
                   sharedArrayType(rw.getContext(), TK * bStride)};
  launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                            ValueRange arrays) {
    Value sA = arrays[0], sB = arrays[1];
    Value m0 = arith::MulIOp::create(
        rw, loc, arith::DivUIOp::create(rw, loc, bid, tilesN),
        cidx(rw, loc, TM));
    Value n0 = arith::MulIOp::create(
        rw, loc, arith::RemUIOp::create(rw, loc, bid, tilesN),
        cidx(rw, loc, TN));
    Value ty = arith::DivUIOp::create(
        rw, loc, tid, cidx(rw, loc, MatmulTile::kThreadCols));
    Value tx = arith::RemUIOp::create(
        rw, loc, tid, cidx(rw, loc, MatmulTile::kThreadCols));
    // Element e of a rows x width tile staged by the block: consecutive
    // threads take consecutive elements along the operand's contiguous
    // dimension (coalesced loads). `load` reads the operand at (row, col)
    // of the tile; past the matrix the tile holds 0.
    auto stage = [&](OpBuilder &b, int64_t rows, int64_t width,
                     function_ref<void(OpBuilder &, Value, Value)> body) {
      blockStrided(b, loc, tid, cidx(b, loc, rows * width),
                   [&](OpBuilder &bb, Value e) {
                     Value w = cidx(bb, loc, width);
                     body(bb, arith::DivUIOp::create(bb, loc, e, w),
                          arith::RemUIOp::create(bb, loc, e, w));
                   });
    };
    auto guarded = [&](OpBuilder &b, Value inRange,
                       function_ref<Value(OpBuilder &)> load) {
      return valuesIf(b, loc, inRange, ValueRange{cf32(b, loc, 0)},
                      [&](OpBuilder &ib) -> SmallVector<Value> {
                        return {load(ib)};
                      })[0];
    };
    Value zero = cf32(rw, loc, 0);
    SmallVector<Value> acc(RI * RJ, zero);
    auto kLoop = scf::ForOp::create(
        rw, loc, cidx(rw, loc, 0), K, cidx(rw, loc, TK), acc,
        [&](OpBuilder &b, Location l, Value k0, ValueRange accIn) {
          // One element of a staged tile: the operand at (row0 + r,
          // col0 + c) when inside rows x cols (else 0), stored at
          // r * stride + c of `buffer`.
          auto stageElement =
              [&](OpBuilder &bb, Value row0, Value r, Value rows, Value col0,
                  Value c, Value cols,
                  function_ref<Value(OpBuilder &, Value, Value)> load,
                  Value buffer, int64_t stride) {
                Value gr = arith::AddIOp::create(bb, l, row0, r);
                Value gc = arith::AddIOp::create(bb, l, col0, c);
                Value v = guarded(
                    bb, andI(bb, lt(bb, gr, rows), lt(bb, gc, cols)),
                    [&](OpBuilder &ib) { return load(ib, gr, gc); });
                memref::StoreOp::create(
                    bb, l, v, buffer,
                    ValueRange{arith::AddIOp::create(
                        bb, l,
                        arith::MulIOp::create(bb, l, r, cidx(bb, l, stride)),
                        c)});
              };
          auto readA = [&](OpBuilder &ib, Value r, Value k) {
            return loadA(ib, r, k);
          };
          auto readB = [&](OpBuilder &ib, Value k, Value n) {
            return loadB(ib, k, n);
          };
          // A's tile: rows m0.., columns k0.. (contiguous along K).
          stage(b, TM, TK, [&](OpBuilder &bb, Value r, Value kk) {
            stageElement(bb, m0, r, M, k0, kk, K, readA, sA, aStride);
          });
          // B's tile as [TK][TN]: staged along N, or along K when B is
          // transposed ([N, K] is contiguous along K).
          auto stageB = [&](OpBuilder &bb, Value kk, Value c) {
            stageElement(bb, k0, kk, K, n0, c, N, readB, sB, bStride);
          };
          if (transB)
            stage(b, TN, TK, [&](OpBuilder &bb, Value c, Value kk) {
              stageB(bb, kk, c);
            });
          else
            stage(b, TK, TN, stageB);
          barrier(b, l);
          auto inner = scf::ForOp::create(
              b, l, cidx(b, l, 0), cidx(b, l, TK), cidx(b, l, 1), accIn,
              [&](OpBuilder &ib, Location il, Value kk, ValueRange a) {
                SmallVector<Value> as, bs, next;
                for (int64_t i = 0; i < RI; ++i) {
                  Value r = arith::AddIOp::create(
                      ib, il, ty, cidx(ib, il, MatmulTile::kThreadRows * i));
                  as.push_back(memref::LoadOp::create(
                      ib, il, sA,
                      ValueRange{arith::AddIOp::create(
                          ib, il,
                          arith::MulIOp::create(ib, il, r, cidx(ib, il, aStride)),
                          kk)}));
                }
                Value rowB =
                    arith::MulIOp::create(ib, il, kk, cidx(ib, il, bStride));
                for (int64_t j = 0; j < RJ; ++j) {
                  Value c = arith::AddIOp::create(
                      ib, il, tx, cidx(ib, il, MatmulTile::kThreadCols * j));
                  bs.push_back(memref::LoadOp::create(
                      ib, il, sB,
                      ValueRange{arith::AddIOp::create(ib, il, rowB, c)}));
                }
                for (int64_t i = 0; i < RI; ++i)
                  for (int64_t j = 0; j < RJ; ++j)
                    next.push_back(math::FmaOp::create(ib, il, as[i], bs[j],
                                                       a[i * RJ + j]));
                scf::YieldOp::create(ib, il, next);
              });
          barrier(b, l);
          scf::YieldOp::create(b, l, inner.getResults());
        });
    for (int64_t i = 0; i < RI; ++i)
      for (int64_t j = 0; j < RJ; ++j) {
        Value r = arith::AddIOp::create(
            rw, loc, m0,
            arith::AddIOp::create(rw, loc, ty,
                                  cidx(rw, loc, MatmulTile::kThreadRows * i)));
        Value c = arith::AddIOp::create(
            rw, loc, n0,
            arith::AddIOp::create(rw, loc, tx,
                                  cidx(rw, loc, MatmulTile::kThreadCols * j)));
        ifThen(rw, loc, andI(rw, lt(rw, r, M), lt(rw, c, N)),
               [&](OpBuilder &b) {
                 storeResult(b, r, c, kLoop.getResult(i * RJ + j));
               });
      }
  });
}

struct MatmulToGPU : OpRewritePattern<linalg::MatmulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(linalg::MatmulOp op,
                                PatternRewriter &rw) const override {
    if (!op.hasPureTensorSemantics())
      return rw.notifyMatchFailure(op, "needs tensor operands");
    if (op->getParentOfType<gpu::LaunchOp>())
      return rw.notifyMatchFailure(op, "already inside a kernel");
    FailureOr<bool> transB = transposedB(op);
    if (failed(transB))
      return rw.notifyMatchFailure(
          op, "maps other than the default or a transposed B");
    Type a = getElementTypeOrSelf(op.getDpsInputs()[0].getType());
    Type b = getElementTypeOrSelf(op.getDpsInputs()[1].getType());
    Type c = getElementTypeOrSelf(op.getResultTypes()[0]);
    auto gpuFloat = [](Type t) { return t.isF32() || t.isF16() || t.isBF16(); };
    if (!(gpuFloat(a) || a.isSignlessInteger(8)) || !gpuFloat(b) || !c.isF32())
      return rw.notifyMatchFailure(
          op, "the GPU kernels take an f32, f16, bf16 or i8 A, an f32, f16 "
              "or bf16 B and an f32 C (others stay on the host)");
    if (a.isSignlessInteger(8) && op.getCast() != linalg::TypeFn::cast_signed)
      return rw.notifyMatchFailure(op, "an i8 A needs signed casts");

    Location loc = op.getLoc();
    MatmulKernel kernel(rw, loc, op, *transB);
    auto bType = cast<RankedTensorType>(op.getDpsInputs()[1].getType());
    int64_t staticN = bType.getDimSize(*transB ? 0 : 1);
    if (!ShapedType::isDynamic(staticN) && staticN <= kMaxMatvecColumns)
      kernel.emitMatvec(staticN);
    else
      kernel.emitTiled(pickMatmulTile());
    rw.replaceOp(op, toTensor(rw, loc, op.getResultTypes()[0], kernel.result()));
    return success();
  }
};

} // namespace

void ssmc::populateMatmulToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<MatmulToGPU>(patterns.getContext());
}
