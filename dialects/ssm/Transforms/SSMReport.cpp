//===- SSMReport.cpp - the ssm-report pass --------------------------------===//
//
// Prints, for every ssm op, the recurrent state it carries and its per-token
// and total cost (see CostModel.h), as remarks and optionally as JSON.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/Analysis/CostModel.h"
#include "ssmc/Dialect/SSM/Passes.h"

#include "ssmc/Dialect/SSM/SSMDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/FileUtilities.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#define DEBUG_TYPE "ssm-report"

namespace ssmc {
#define GEN_PASS_DEF_SSMREPORT
#include "ssmc/Dialect/SSM/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

std::string fmt(ssmc::Count c) {
  return c ? std::to_string(*c) : std::string("?");
}

llvm::json::Value toJson(ssmc::Count c) {
  return c ? llvm::json::Value(*c) : llvm::json::Value(nullptr);
}

struct SSMReportPass : public ssmc::impl::SSMReportBase<SSMReportPass> {
  using SSMReportBase::SSMReportBase;

  void reportDP(Operation *op, const ssmc::DPAnalysis &dp,
                llvm::json::Array &ops) {
    std::string sizes = "[" + fmt(dp.sizes[0]) +
                        (dp.rank == 2 ? ", " + fmt(dp.sizes[1]) : "") + "]";
    if (emitRemarks)
      op->emitRemark() << "ssm.dp: " << dp.rank << "-D " << sizes << " "
                       << (dp.prefix ? "prefix" : "local")
                       << "; dependency window " << dp.windowText << " ("
                       << fmt(dp.window) << " at these sizes); chain-of-thought "
                       << "state " << fmt(dp.cotStateElements) << " elements ("
                       << fmt(dp.cotStateBytes) << " bytes, " << dp.cellType
                       << "); work " << fmt(dp.work)
                       << " evaluations over " << fmt(dp.cells)
                       << " cells; wavefront width " << fmt(dp.wavefrontWidth)
                       << " (" << dp.schedule << "); lowering stores "
                       << fmt(dp.storedCells) << " cells";
    llvm::json::Array sizeArray;
    for (int64_t d = 0; d < dp.rank; ++d)
      sizeArray.push_back(toJson(dp.sizes[d]));
    ops.push_back(llvm::json::Object{
        {"op", "ssm.dp"},
        {"loc", ssmc::locationString(op->getLoc())},
        {"rank", dp.rank},
        {"sizes", std::move(sizeArray)},
        {"form", dp.prefix ? "prefix" : "local"},
        {"cell_type", dp.cellType},
        {"window_unbounded", dp.prefix},
        {"window", dp.windowText},
        {"window_cells", toJson(dp.window)},
        {"rows_back", dp.rowsBack},
        {"cot_state_elements", toJson(dp.cotStateElements)},
        {"cot_state_bytes", toJson(dp.cotStateBytes)},
        {"cells", toJson(dp.cells)},
        {"work", toJson(dp.work)},
        {"wavefront_width", toJson(dp.wavefrontWidth)},
        {"schedule", dp.schedule},
        {"stored_cells", toJson(dp.storedCells)},
    });
  }

  void runOnOperation() override {
    llvm::json::Array ops;
    getOperation()->walk([&](Operation *op) {
      if (!isa<ssm::SSMDialect>(op->getDialect()))
        return;
      if (std::optional<ssmc::DPAnalysis> dp = ssmc::analyzeDP(op, seqLen)) {
        reportDP(op, *dp, ops);
        return;
      }
      std::optional<ssmc::OpCost> cost = ssmc::estimateCost(op, seqLen);
      if (!cost)
        return;
      if (emitRemarks)
        op->emitRemark() << cost->opName << ": state "
                         << fmt(cost->stateElements) << " elements ("
                         << fmt(cost->stateBytes) << " bytes, "
                         << cost->accumulatorType << "); per token "
                         << fmt(cost->flopsPerToken) << " flops, "
                         << fmt(cost->transcendentalsPerToken)
                         << " transcendentals, " << fmt(cost->bytesPerToken)
                         << " bytes; total over L=" << fmt(cost->seqLen)
                         << ": " << fmt(cost->totalFlops()) << " flops, "
                         << fmt(cost->totalTranscendentals())
                         << " transcendentals, " << fmt(cost->totalBytes())
                         << " bytes";
      ops.push_back(llvm::json::Object{
          {"op", cost->opName},
          {"loc", ssmc::locationString(op->getLoc())},
          {"accumulator_type", cost->accumulatorType},
          {"seq_len", toJson(cost->seqLen)},
          {"state_elements", toJson(cost->stateElements)},
          {"state_bytes", toJson(cost->stateBytes)},
          {"flops_per_token", toJson(cost->flopsPerToken)},
          {"transcendentals_per_token",
           toJson(cost->transcendentalsPerToken)},
          {"bytes_per_token", toJson(cost->bytesPerToken)},
          {"param_bytes", toJson(cost->paramBytes)},
          {"total_flops", toJson(cost->totalFlops())},
          {"total_transcendentals", toJson(cost->totalTranscendentals())},
          {"total_bytes", toJson(cost->totalBytes())},
      });
    });
    if (jsonFile.empty())
      return markAllAnalysesPreserved();

    std::string error;
    std::unique_ptr<llvm::ToolOutputFile> out =
        openOutputFile(jsonFile, &error);
    if (!out) {
      getOperation()->emitError()
          << "ssm-report: cannot open JSON output '" << jsonFile
          << "': " << error;
      return signalPassFailure();
    }
    out->os() << llvm::formatv(
        "{0:2}\n", llvm::json::Value(llvm::json::Object{{"ops", std::move(ops)}}));
    out->keep();
    markAllAnalysesPreserved();
  }
};

} // namespace
