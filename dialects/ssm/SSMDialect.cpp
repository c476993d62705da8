//===- SSMDialect.cpp - ssm dialect registration --------------------------===//
//
// Registers the ssm dialect's operations.
//
//===----------------------------------------------------------------------===//

#include "dialects/ssm/SSMDialect.h"
#include "dialects/ssm/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::ssm;

#include "dialects/ssm/SSMDialect.cpp.inc"

void SSMDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/ssm/SSMOps.cpp.inc"
      >();
}
