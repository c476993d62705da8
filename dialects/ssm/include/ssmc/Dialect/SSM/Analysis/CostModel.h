//===- CostModel.h - state size and cost of ssm ops -------------*- C++ -*-===//
//
// The quantities the theory behind ssm programs is about: how much recurrent
// state an op carries and what one sequence step costs. Used by the
// ssm-report pass and by tools that print tables.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_ANALYSIS_COSTMODEL_H
#define SSMC_ANALYSIS_COSTMODEL_H

#include "mlir/IR/Location.h"
#include "mlir/IR/Operation.h"

#include <cstdint>
#include <optional>
#include <string>

namespace ssmc {

/// A count that may be unknown because a dimension is dynamic.
using Count = std::optional<int64_t>;

// Per-token quantities of attention describe the last query (the marginal
// cost of one more decoded token); its state is the KV cache.

/// Cost of one ssm op. Per-token quantities cover one step along the
/// sequence for the whole batch; `paramBytes` is read once per call
/// (weights, initial and final state).
struct OpCost {
  std::string opName;
  std::string accumulatorType; ///< element type of the state, e.g. "f32"
  Count seqLen;                ///< number of sequence steps
  Count stateElements;         ///< recurrent state carried between steps
  Count stateBytes;
  Count flopsPerToken;           ///< add/mul/div (an FMA counts as 2)
  Count transcendentalsPerToken; ///< exp, log, ... calls
  Count bytesPerToken;           ///< activations read and written per step
  Count paramBytes;              ///< bytes read or written once per call
  /// Ops whose per-token cost varies along the sequence (causal attention)
  /// give exact totals here; otherwise totals are per-token * seqLen.
  std::optional<Count> exactTotalFlops, exactTotalTranscendentals,
      exactTotalBytes;

  Count totalFlops() const;
  Count totalTranscendentals() const;
  Count totalBytes() const;
};

/// Returns the cost of `op` if it is an ssm op the model knows, with
/// `seqLenOverride` (when > 0) used as the sequence length instead of the
/// op's static one.
std::optional<OpCost> estimateCost(mlir::Operation *op,
                                   int64_t seqLenOverride = -1);

/// What ssm.dp's dependencies imply (docs/cost-model.md). A chain-of-thought
/// model emits the cells in row-major order, one per step; to compute a cell
/// it must still hold every cell the cell reads, so its recurrent state needs
/// the dependency window m: O(m) for a local DP, O(T) for a prefix one.
struct DPAnalysis {
  int64_t rank = 1;
  bool prefix = false;       ///< prefix aggregation: window unbounded
  Count sizes[2];            ///< T, or T1 and T2
  Count cells;               ///< cells in the table (chain-of-thought steps)
  int64_t rowsBack = 0;      ///< 1-D: m; 2-D: rows the window spans
  /// The window m in cells of the row-major chain of thought: the farthest
  /// earlier cell any cell reads (unknown when T2 is; for the prefix form,
  /// every earlier cell: T - 1).
  Count window;
  Count cotStateElements, cotStateBytes; ///< state holding the window
  std::string cellType;
  Count work;           ///< cell evaluations (+ predicate tests, prefix form)
  Count wavefrontWidth; ///< cells the lowering computes in parallel
  std::string schedule; ///< "sequential", "anti-diagonal wavefronts", ...
  /// Cells the CPU lowering stores when only the last cell/row is returned.
  Count storedCells;
  /// "m = 3 cells", "m = T2 + 1 cells (1 row + 1 cell)", "unbounded".
  std::string windowText;
};

/// Analyses an ssm.dp; `sizeOverride` (when > 0) replaces every size that
/// is not a constant.
std::optional<DPAnalysis> analyzeDP(mlir::Operation *op,
                                    int64_t sizeOverride = -1);

/// Where an op is, as the reports print it: "file:line:col" for a file
/// location, else the location's own printed form.
std::string locationString(mlir::Location loc);

/// Size in bytes of one element of `type` (integers round up to bytes).
int64_t elementBytes(mlir::Type type);

} // namespace ssmc

#endif // SSMC_ANALYSIS_COSTMODEL_H
