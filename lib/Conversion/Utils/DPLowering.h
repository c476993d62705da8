//===- DPLowering.h - the schedule and storage of ssm.dp --------*- C++ -*-===//
//
// The emitter both ssm.dp lowerings share: the CPU one runs its schedule
// as loops (wide wavefronts as scf.parallel), the GPU one inside a single
// block of threads. Schedules, by dependency shape:
//  - 1-D local: one loop over i; the cells live in the result table or, when
//    only the last cell is wanted, in a ring of m cells (m = the farthest
//    dependency), so memory is O(m).
//  - 1-D prefix: for each i, a loop over j < i folding the selected cells;
//    needs every earlier cell, so the table is always kept (O(T)).
//  - 2-D, every offset in the upper-left quadrant, no fetch: anti-diagonal
//    wavefronts d = i + j; the cells of one wavefront are independent and
//    run in parallel when the wavefront is wide. Rolling storage keeps
//    w + 1 diagonals (w = max -(di + dj)) of T1 cells.
//  - 2-D otherwise (offsets such as (-1, +1), or ssm.dp_fetch): row by row;
//    the cells of a row run in parallel when no dependency stays in the
//    row. Rolling storage keeps R + 1 rows (R = the farthest row back).
// Reads outside the index space inline the boundary region.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_CONVERSION_SSMTOLOOPS_DPLOWERING_H
#define SSMC_LIB_CONVERSION_SSMTOLOOPS_DPLOWERING_H

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

namespace ssmc::detail {

class RuntimeShapeChecks;

class DPLowering {
public:
  /// With `gpu`, the schedule runs inside one gpu.launch of a single
  /// block: a wavefront's cells are strided over the threads with a
  /// gpu.barrier after each wavefront; sequential parts run on thread 0.
  DPLowering(mlir::ssm::DPOp op, mlir::PatternRewriter &rw, bool gpu = false)
      : op(op), rw(rw), loc(op.getLoc()), rank(op.getIndexRank()),
        cellType(op.getCellType()), deps(op.getDepOffsets()),
        shape(mlir::ssm::getDependencyShape(op)), gpu(gpu) {}

  /// Replaces the op by its lowering.
  mlir::LogicalResult run();

private:
  // Storage of the cells the schedule still needs.
  enum class Layout { Table, RingCells, RingRows, RingDiagonals };

  // The stages of run(), in order.
  /// Buffers of the inputs and the dimension each one runs along.
  void loadInputs();
  /// Sizes of the result's dimensions (none for output "last").
  llvm::SmallVector<mlir::Value> resultSizes();
  void requireShapes(RuntimeShapeChecks &checks,
                     mlir::RankedTensorType resTy,
                     llvm::ArrayRef<mlir::Value> resSizes);
  void allocResult(mlir::RankedTensorType resTy,
                   llvm::ArrayRef<mlir::Value> resSizes);
  /// Picks the layout and allocates the cell storage.
  void allocStorage();
  /// GPU mode: opens the single-block launch the schedule runs in.
  mlir::gpu::LaunchOp beginLaunch();
  void emitSchedule();
  /// Stores the last cell or last row into the result.
  void emitOutputs();

  // The schedules.
  /// 1-D: the cells in order, on thread 0.
  void emitSequential();
  /// 2-D quadrant dependencies: anti-diagonal wavefronts.
  void emitWavefronts();
  bool hasWavefronts() const { return rank == 2 && shape.diagonal(); }
  /// 2-D otherwise: row by row.
  void emitRows();

  // Cells.
  /// Inlines the single-block `region` with `args`; returns the yielded
  /// value. Fetches in a cloned cell region read cell (i, j)'s row above.
  mlir::Value inlineRegion(mlir::Region &region, mlir::ValueRange args,
                           mlir::ValueRange cell = {});
  mlir::Value boundary(mlir::ValueRange idx) {
    return inlineRegion(op.getBoundary(), idx);
  }
  /// Buffer indices of cell `idx` (in range).
  llvm::SmallVector<mlir::Value> slot(mlir::ValueRange idx);
  /// dp[idx], or the boundary value when `inRange` is false (null: in range).
  mlir::Value read(mlir::ValueRange idx, mlir::Value inRange);
  mlir::Value inputAt(unsigned k, mlir::ValueRange idx);
  /// Computes and stores local-form cell `idx`.
  void emitLocalCell(mlir::ValueRange idx);
  void emitPrefixCell(mlir::Value i);
  /// Runs `body(x)` for x in [lo, hi), in parallel when `parallel` and the
  /// range is wide.
  void emitRange(mlir::Value lo, mlir::Value hi, bool parallel,
                 llvm::function_ref<void(mlir::Value)> body);
  /// Emits `body` for thread 0 only in GPU mode, unconditionally otherwise.
  void onThreadZero(llvm::function_ref<void()> body);

  mlir::ssm::DPOp op;
  mlir::PatternRewriter &rw;
  mlir::Location loc;
  int64_t rank;
  mlir::Type cellType;
  llvm::SmallVector<llvm::SmallVector<int64_t, 2>> deps;
  mlir::ssm::DPDependencyShape shape;
  llvm::SmallVector<mlir::Value> sizes, inputs;
  llvm::SmallVector<int64_t> inputDims;
  Layout layout = Layout::Table;
  bool gpu;
  /// Index constants 0 and 1, emitted first (the cell emitters make their
  /// own where they are).
  mlir::Value zero, one;
  mlir::Value tid, nthreads; ///< GPU mode: thread index and block size
  mlir::Value buf;           ///< cell storage
  mlir::Value ring;          ///< ring length (cells, rows or diagonals)
  mlir::Value result;        ///< result buffer
};

} // namespace ssmc::detail

#endif // SSMC_LIB_CONVERSION_SSMTOLOOPS_DPLOWERING_H
