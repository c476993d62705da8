//===- InitAll.cpp - what every ssmc tool registers -----------------------===//

#include "ssmc/InitAll.h"
#include "ssmc/Passes.h"
#include "ssmc/Pipelines.h"

#include "lib/GPU/IR/SSMGPUDialect.h"
#include "ssmc/Dialect/SSM/SSMDialect.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void ssmc::registerAllDialects(mlir::DialectRegistry &registry) {
  registry.insert<mlir::ssm::SSMDialect, mlir::ssm_gpu::SSMGPUDialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  mlir::registerAllToLLVMIRTranslations(registry);
}

void ssmc::registerAllPasses() {
  static const bool registered = [] {
    mlir::registerAllPasses();
    registerSSMCPasses();
    registerSSMCPipelines();
    return true;
  }();
  (void)registered;
}
