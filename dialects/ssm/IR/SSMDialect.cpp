//===- SSMDialect.cpp - ssm dialect registration --------------------------===//
//
// Registers the ssm dialect's operations.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/SSMDialect.h"
#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::ssm;

#include "ssmc/Dialect/SSM/SSMDialect.cpp.inc"

void SSMDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "ssmc/Dialect/SSM/SSMOps.cpp.inc"
      >();
}
