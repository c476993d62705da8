//===- ssmc-opt.cpp - opt-style driver for ssm programs -------------------===//
//
// Parses, verifies, transforms and prints ssm programs, like mlir-opt: the
// ssm dialect, the upstream dialects the ssmc pipelines use, every upstream
// pass and every ssmc pass are registered.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/SSMDialect.h"
#include "ssmc/Passes.h"
#include "ssmc/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  ssmc::registerSSMCPasses();
  ssmc::registerSSMCPipelines();

  mlir::DialectRegistry registry;
  registry.insert<mlir::ssm::SSMDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary serialises kernels through the LLVM translations.
  mlir::registerAllToLLVMIRTranslations(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "ssmc optimizer driver: ssm dialect programs\n", registry));
}
