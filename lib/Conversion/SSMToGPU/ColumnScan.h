//===- ColumnScan.h - the kernel skeleton of ssd and linear attention -*- C++ -*-===//
//
// Internal to lib/Conversion/SSMToGPU. Both recurrences keep, per (batch,
// head), a state matrix whose columns evolve independently (ssd: h[p, :],
// linear attention: S[:, j]) and read each step's output as a dot product
// of a column with a vector shared by the head (C_t, phi(q_t)). The kernel:
//  - a block per (batch, head) and `cols` columns; each column's `width`
//    state values are split over S threads of R values each (R <= 16, so a
//    thread's slice is R loop-carried scalars: registers), 128 / S columns
//    per block;
//  - per tile of T steps the block stages what the head shares (B/C rows,
//    phi(q)/phi(k), gates, per-step scalars) in shared memory, a barrier,
//    every thread advances its slice through the tile leaving one partial
//    read-out per step in shared memory, a barrier, the block sums each
//    column's S partials and writes the outputs, a barrier.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_CONVERSION_SSMTOGPU_COLUMNSCAN_H
#define SSMC_LIB_CONVERSION_SSMTOGPU_COLUMNSCAN_H

#include "KernelUtils.h"

#include <functional>

namespace ssmc::gpu_kernels {

/// Where a thread is: its (batch, head) and column.
struct ColumnAt {
  Value b, h, col;
};

struct ColumnScan {
  int64_t width = 0;   ///< state values per column (N or K)
  int64_t sets = 1;    ///< state arrays per column (2 with a normaliser)
  int64_t partials = 1; ///< per-step sums reduced over a column's slices
  /// Sequence length, columns per (batch, head), batch * heads, heads.
  Value L, columns, BH, H;
  /// Shared arrays staged per tile, in f32 values, for T steps a tile.
  std::function<SmallVector<int64_t>(int64_t T)> stagedSizes;
  /// Stages steps [t0, t0 + cnt) of (b, h) into `staged`; every thread of
  /// the block calls it (share the work with blockStrided).
  std::function<void(OpBuilder &, Value b, Value h, Value tid, Value t0,
                     Value cnt, ValueRange staged)>
      stage;
  /// Initial value of element `n` of state set `set`.
  std::function<Value(OpBuilder &, const ColumnAt &, int64_t set, Value n)>
      init;
  /// One step (tile row tt, time t) of the thread's slice: `state` holds
  /// sets x R values (set-major) for the elements `n`, updated in place;
  /// `partials` receives this slice's share of each per-step sum.
  std::function<void(OpBuilder &, const ColumnAt &, Value tt, Value t,
                     ArrayRef<Value> n, ValueRange staged,
                     SmallVectorImpl<Value> &state,
                     SmallVectorImpl<Value> &partials)>
      step;
  /// Writes the output of step t from the column's summed partials.
  std::function<void(OpBuilder &, const ColumnAt &, Value tt, Value t,
                     ArrayRef<Value> sums, ValueRange staged)>
      finish;
  /// Stores element n of the final state (set 0); empty: no final state.
  std::function<void(OpBuilder &, const ColumnAt &, Value n, Value v)>
      storeFinal;
};

/// At most this many state values per thread. 16 rather than 32: the
/// kernels do not split L, so the threads come from (batch, head, column,
/// slice) alone, and a batch-1 Mamba-2 layer (24 heads x 64 columns x
/// N = 128) gets 8 slices per column, 12288 threads, instead of 6144.
constexpr int64_t kMaxSlice = 16;

/// Values per thread slice for a state of `width` values: `width` up to
/// kMaxSlice, else its largest divisor <= kMaxSlice.
int64_t sliceWidth(int64_t width);

/// Emits the launch.
void emitColumnScan(PatternRewriter &rw, Location loc, const ColumnScan &spec);

} // namespace ssmc::gpu_kernels

#endif // SSMC_LIB_CONVERSION_SSMTOGPU_COLUMNSCAN_H
