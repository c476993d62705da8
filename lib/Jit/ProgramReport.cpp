//===- ProgramReport.cpp - ssmc::reportProgram ----------------------------===//
//
// The numbers of the ssm-report pass (lib/Transforms/SSMReport.cpp) copied
// out of the cost model into plain structs, so that applications get them
// without linking MLIR headers into their own code.
//
//===----------------------------------------------------------------------===//

#include "ssmc/ProgramReport.h"
#include "ssmc/Dialect/SSM/Analysis/CostModel.h"

#include "ssmc/Dialect/SSM/SSMDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/InitAllDialects.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace ssmc {

namespace {

DPReport toReport(const DPAnalysis &a) {
  DPReport r;
  r.rank = a.rank;
  r.prefix = a.prefix;
  for (int64_t d = 0; d < a.rank && d < 2; ++d)
    r.sizes.push_back(a.sizes[d]);
  r.cellType = a.cellType;
  r.window = a.window;
  r.windowText = a.windowText;
  r.rowsBack = a.rowsBack;
  r.cotStateElements = a.cotStateElements;
  r.cotStateBytes = a.cotStateBytes;
  r.cells = a.cells;
  r.work = a.work;
  r.wavefrontWidth = a.wavefrontWidth;
  r.schedule = a.schedule;
  r.storedCells = a.storedCells;
  return r;
}

void copyCost(const OpCost &c, OpReport &r) {
  r.op = c.opName;
  r.accumulatorType = c.accumulatorType;
  r.seqLen = c.seqLen;
  r.stateElements = c.stateElements;
  r.stateBytes = c.stateBytes;
  r.flopsPerToken = c.flopsPerToken;
  r.transcendentalsPerToken = c.transcendentalsPerToken;
  r.bytesPerToken = c.bytesPerToken;
  r.paramBytes = c.paramBytes;
  r.totalFlops = c.totalFlops();
  r.totalTranscendentals = c.totalTranscendentals();
  r.totalBytes = c.totalBytes();
}

} // namespace

llvm::Expected<std::vector<OpReport>>
reportProgram(llvm::StringRef source, int64_t seqLen,
              llvm::StringRef bufferName) {
  DialectRegistry registry;
  registry.insert<ssm::SSMDialect>();
  registerAllDialects(registry);
  MLIRContext context(registry, MLIRContext::Threading::DISABLED);
  std::string diagText;
  llvm::raw_string_ostream diagStream(diagText);
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(source, bufferName), llvm::SMLoc());
  SourceMgrDiagnosticHandler handler(sourceMgr, &context, diagStream);
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &context);
  if (!module)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        bufferName + ": invalid program" +
            (diagText.empty() ? "" : ":\n" + diagText));

  // The walk and the choice of analysis are the ssm-report pass's.
  std::vector<OpReport> reports;
  module->walk([&](Operation *op) {
    if (!isa<ssm::SSMDialect>(op->getDialect()))
      return;
    OpReport r;
    r.location = locationString(op->getLoc());
    if (std::optional<DPAnalysis> dp = analyzeDP(op, seqLen)) {
      r.op = op->getName().getStringRef().str();
      r.dp = toReport(*dp);
    } else if (std::optional<OpCost> cost = estimateCost(op, seqLen)) {
      copyCost(*cost, r);
    } else {
      return;
    }
    reports.push_back(std::move(r));
  });
  return reports;
}

} // namespace ssmc
