//===- ColumnScan.h - the kernel skeleton of ssd and linear attention -*- C++ -*-===//
//
// Internal to lib/Conversion/SSMToGPU. Both recurrences keep, per (batch,
// head), a state matrix whose columns evolve independently (ssd: h[p, :],
// linear attention: S[:, j]) under a diagonal decay, and read each step's
// output as a dot product of a column with a vector shared by the head
// (C_t, phi(q_t)). The kernel:
//  - a block per (batch, head) and a group of columns; each column's `width`
//    state values are split over S <= 128 threads of R values each (R <=
//    16, so a thread's slice is R loop-carried scalars: registers; where no
//    exact split exists the last slice is padded, its extra values held at
//    zero);
//  - the block's 128 threads form C chunk groups (C a power of two chosen
//    at run time so that the grid reaches about 65536 threads; 1 when
//    batch x heads x columns x S already does), group g taking the g-th
//    chunk of the sequence for the same columns;
//  - per tile of T steps each group stages what the head shares (B/C rows,
//    phi(q)/phi(k), gates, per-step scalars) in its part of shared memory,
//    a barrier, every thread advances its slice through the tile, a
//    barrier;
//  - with C > 1, a first pass runs every chunk from a zero state (chunk 0
//    from h0) tracking the product of its decays, then log2(C) rounds of a
//    Hillis-Steele scan over the groups (values exchanged through shared
//    memory, 8 at a time) give each chunk the state entering it;
//  - the last pass leaves each step's partial read-out in shared memory and
//    the group sums each column's S partials and writes the outputs.
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
  int64_t width = 0;    ///< state values per column (N or K)
  int64_t sets = 1;     ///< state arrays per column (2 with a normaliser)
  int64_t partials = 1; ///< per-step sums reduced over a column's slices
  /// Sequence length, columns per (batch, head), batch * heads, heads.
  Value L, columns, BH, H;
  /// f32 values per step of each shared array the op stages; a tile row r
  /// of an array of w values per step is at [r * w, (r + 1) * w).
  SmallVector<int64_t> stagedPerStep;
  /// Stages steps [t0, t0 + cnt) of (b, h) into tile rows [row0, row0 +
  /// cnt); threads `lane` of `stride` share the work (every one calls it).
  std::function<void(OpBuilder &, Value b, Value h, Value lane, Value stride,
                     Value row0, Value t0, Value cnt, ValueRange staged)>
      stage;
  /// Initial value of element `n` of state set `set`.
  std::function<Value(OpBuilder &, const ColumnAt &, int64_t set, Value n)>
      init;
  /// One step (tile row `row`, time t) of the thread's slice: `state` holds
  /// sets x R values (set-major) for the elements `n`, updated in place;
  /// `live` (empty when every slice is full) says per element whether it is
  /// one of the column's `width` values: a padded element's `n` is clamped
  /// to width - 1 (every read stays in bounds) and the step must keep its
  /// state at zero (drop its input term) so that it adds nothing;
  /// `partials` receives this slice's share of each per-step sum, `decay`
  /// the factor the step multiplied the state by (one value for all
  /// elements, or R; every set decays alike).
  std::function<void(OpBuilder &, const ColumnAt &, Value row, Value t,
                     ArrayRef<Value> n, ArrayRef<Value> live, ValueRange staged,
                     SmallVectorImpl<Value> &state,
                     SmallVectorImpl<Value> &partials,
                     SmallVectorImpl<Value> &decay)>
      step;
  /// Writes the output of step t from the column's summed partials.
  std::function<void(OpBuilder &, const ColumnAt &, Value t,
                     ArrayRef<Value> sums)>
      finish;
  /// Stores element n of the final state of set `set` (called for every
  /// set); empty: no final state.
  std::function<void(OpBuilder &, const ColumnAt &, int64_t set, Value n,
                     Value v)>
      storeFinal;
};

/// At most this many state values per thread.
constexpr int64_t kMaxSlice = 16;

/// How a column's `width` state values split over threads: S slices of R
/// values (R <= kMaxSlice, S <= kBlock, S * R >= width).
struct ColumnSlicing {
  int64_t R = 1, S = 1;
  bool padded(int64_t width) const { return R * S != width; }
};

/// `width` up to kMaxSlice: one slice. Else the largest divisor R <=
/// kMaxSlice that leaves at most kBlock slices (exact slices); where none
/// does (primes 131..251), the R <= kMaxSlice that pads the fewest values
/// (the larger R on ties), the last slice padded. `width` in [1, 256]
/// (matchColumnScanOp).
ColumnSlicing sliceColumn(int64_t width);

/// Emits the launch.
void emitColumnScan(PatternRewriter &rw, Location loc, const ColumnScan &spec);

/// Whether the column-scan kernel takes `op` (ssd or linear attention):
/// f32/f16/bf16 operands, no packed sequences, and a static column width
/// (dimension 3 of `widthOf`: N or K) in [1, 256]. On failure the reason
/// goes to the rewriter; `widthName` names the width in it.
template <typename OpT>
LogicalResult matchColumnScanOp(OpT op, PatternRewriter &rw, Value widthOf,
                                StringRef widthName) {
  if (!gpuFloatOperands(op))
    return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
  if (op.getCuSeqlens())
    return rw.notifyMatchFailure(op, "packed sequences stay on the CPU");
  auto ty = cast<RankedTensorType>(widthOf.getType());
  if (ty.isDynamicDim(3) || ty.getDimSize(3) > 256 || ty.getDimSize(3) < 1)
    return rw.notifyMatchFailure(op, "needs a static " + widthName +
                                         " in [1, 256]");
  return success();
}

} // namespace ssmc::gpu_kernels

#endif // SSMC_LIB_CONVERSION_SSMTOGPU_COLUMNSCAN_H
