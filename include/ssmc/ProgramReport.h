//===- ProgramReport.h - state size and cost of an ssm program --*- C++ -*-===//
//
// What `--ssm-report` computes, as plain structs for programs that use ssmc
// as a library and carry no MLIR types:
//
//   auto ops = ssmc::reportProgram(source);          // llvm::Expected<...>
//   for (const ssmc::OpReport &op : *ops)
//     if (op.dp) use(op.dp->window, op.dp->cotStateBytes);
//
// The counting rules are those of docs/cost-model.md. A quantity that
// depends on a dynamic dimension (and no sequence length was given) is
// std::nullopt, printed `?` by the pass.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_PROGRAMREPORT_H
#define SSMC_PROGRAMREPORT_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ssmc {

/// What an ssm.dp's dependencies imply for a chain-of-thought model that
/// emits its cells in row-major order, one per step.
struct DPReport {
  int64_t rank = 1;
  bool prefix = false; ///< prefix aggregation: the window is unbounded
  /// T, or T1 and T2 (`rank` entries).
  std::vector<std::optional<int64_t>> sizes;
  std::string cellType; ///< e.g. "i32"
  /// The dependency window m in cells: the farthest earlier cell any cell
  /// reads, at these sizes.
  std::optional<int64_t> window;
  /// The same in words: "m = 3 cells", "m = T2 + 1 cells",
  /// "unbounded (prefix aggregation: every earlier cell)".
  std::string windowText;
  int64_t rowsBack = 0; ///< 1-D: m; 2-D: rows the window spans
  /// The recurrent state that holds the window.
  std::optional<int64_t> cotStateElements, cotStateBytes;
  std::optional<int64_t> cells; ///< cells in the table (CoT steps)
  std::optional<int64_t> work;  ///< cell evaluations (+ predicate tests)
  std::optional<int64_t> wavefrontWidth; ///< cells computed in parallel
  std::string schedule; ///< "sequential", "anti-diagonal wavefronts", ...
  /// Cells the CPU lowering stores when only the last cell/row is returned.
  std::optional<int64_t> storedCells;
};

/// One ssm op of the program. Per-token quantities cover one step along the
/// sequence for the whole batch.
struct OpReport {
  std::string op;       ///< e.g. "ssm.selective_scan", "ssm.dp"
  std::string location; ///< "<buffer>:line:col"
  /// Set for ssm.dp, which has no sequence cost; the fields below are then
  /// empty.
  std::optional<DPReport> dp;

  std::string accumulatorType; ///< element type of the state, e.g. "f32"
  std::optional<int64_t> seqLen;
  std::optional<int64_t> stateElements, stateBytes;
  std::optional<int64_t> flopsPerToken, transcendentalsPerToken,
      bytesPerToken;
  std::optional<int64_t> paramBytes; ///< read or written once per call
  std::optional<int64_t> totalFlops, totalTranscendentals, totalBytes;
};

/// Parses and verifies `source` and reports its ssm ops in the order
/// `--ssm-report` does (ops the cost model does not know are left out).
/// `seqLen` (when > 0) replaces the sequence length of sequence ops and
/// every non-constant size of ssm.dp, as the pass's `seq-len=N` does. A program that does not parse or
/// verify is an error carrying the diagnostics; `bufferName` names it.
llvm::Expected<std::vector<OpReport>>
reportProgram(llvm::StringRef source, int64_t seqLen = -1,
              llvm::StringRef bufferName = "<source>");

} // namespace ssmc

#endif // SSMC_PROGRAMREPORT_H
