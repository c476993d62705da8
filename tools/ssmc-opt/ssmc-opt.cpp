//===- ssmc-opt.cpp - opt-style driver for ssm programs -------------------===//
//
// Parses, verifies, transforms and prints ssm programs, like mlir-opt: the
// ssm dialect, the upstream dialects the ssmc pipelines use, every upstream
// pass and every ssmc pass are registered.
//
//===----------------------------------------------------------------------===//

#include "ssmc/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  ssmc::registerAllPasses();
  mlir::DialectRegistry registry;
  ssmc::registerAllDialects(registry);

  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "ssmc optimizer driver: ssm dialect programs\n", registry));
}
