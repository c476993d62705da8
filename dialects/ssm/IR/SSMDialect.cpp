//===- SSMDialect.cpp - ssm dialect registration --------------------------===//
//
// Registers the ssm dialect's operations and attributes.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/SSMDialect.h"
#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/DialectImplementation.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::ssm;

#include "ssmc/Dialect/SSM/SSMDialect.cpp.inc"

#include "ssmc/Dialect/SSM/SSMEnums.cpp.inc"
#include "ssmc/Dialect/SSM/SSMInterfaces.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "ssmc/Dialect/SSM/SSMAttrs.cpp.inc"

void SSMDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "ssmc/Dialect/SSM/SSMAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "ssmc/Dialect/SSM/SSMOps.cpp.inc"
      >();
}
