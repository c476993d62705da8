//===- fuzz_ir.cpp - libFuzzer target for ssm programs --------------------===//
//
// Parses arbitrary text as an ssm program, verifies it, and when it is valid
// runs the cost model, the ssm-to-ssm rewrites (canonicalize,
// ssm-decompose-steps, ssm-decompose) and then the whole ssm-cpu-pipeline
// and ssm-gpu-emulator-pipeline. Invalid programs must be rejected with
// diagnostics, valid ones transformed: never a crash or an assertion.
//
//   build-fuzz/bin/ssmc-fuzz-ir -max_total_time=600 -dict=fuzz/ssm.dict fuzz/corpus/ir
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/Analysis/CostModel.h"
#include "ssmc/InitAll.h"
#include "ssmc/Passes.h"
#include "ssmc/Pipelines.h"

#include "ssmc/Dialect/SSM/SSMDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ssmc::registerAllPasses();
  mlir::DialectRegistry registry;
  ssmc::registerAllDialects(registry);
  mlir::MLIRContext ctx(registry);
  ctx.allowUnregisteredDialects(false);
  // Diagnostics are expected; swallow them.
  mlir::ScopedDiagnosticHandler quiet(&ctx, [](mlir::Diagnostic &) {
    return mlir::success();
  });
  // The MLIR lexer expects a NUL-terminated buffer, as every file-reading
  // path (MemoryBuffer::getFile) provides: parse a terminated copy.
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz"),
      llvm::SMLoc());
  auto module = mlir::parseSourceFile<mlir::ModuleOp>(sourceMgr, &ctx);
  if (!module)
    return 0;
  module->walk([](mlir::Operation *op) {
    (void)ssmc::estimateCost(op);
    (void)ssmc::analyzeDP(op, 1000);
  });
  mlir::PassManager pm(&ctx);
  if (mlir::failed(mlir::parsePassPipeline(
          "canonicalize,ssm-decompose-steps,ssm-decompose,canonicalize", pm)))
    return 0;
  if (mlir::failed(pm.run(*module)))
    return 0;
  // What survives the rewrites goes through the whole CPU pipeline to the
  // LLVM dialect (the lowering of every op, bufferization, OpenMP, LLVM).
  // And through the GPU kernels (convert-ssm-to-gpu), emulated on the host
  // (the NVPTX back end is not linked into the fuzzer).
  mlir::OwningOpRef<mlir::ModuleOp> gpuModule = module->clone();
  mlir::PassManager lower(&ctx);
  if (mlir::failed(mlir::parsePassPipeline("ssm-cpu-pipeline", lower)))
    return 0;
  (void)lower.run(*module);
  mlir::PassManager kernels(&ctx);
  if (mlir::failed(mlir::parsePassPipeline("ssm-gpu-emulator-pipeline", kernels)))
    return 0;
  (void)kernels.run(*gpuModule);
  return 0;
}
