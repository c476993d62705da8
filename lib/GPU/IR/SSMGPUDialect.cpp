//===- SSMGPUDialect.cpp - the GPU pipeline's internal dialect ------------===//

#include "lib/GPU/IR/SSMGPUDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

using namespace mlir;
using namespace mlir::ssm_gpu;

#include "lib/GPU/IR/SSMGPUDialect.cpp.inc"

void SSMGPUDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "lib/GPU/IR/SSMGPUOps.cpp.inc"
      >();
}

#define GET_OP_CLASSES
#include "lib/GPU/IR/SSMGPUOps.cpp.inc"
