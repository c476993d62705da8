//===- SSMDialect.h - ssm dialect declaration -------------------*- C++ -*-===//
//
// Declares the ssm dialect class; include SSMOps.h for the operations.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_DIALECT_SSM_SSMDIALECT_H
#define SSMC_DIALECT_SSM_SSMDIALECT_H

#include "mlir/IR/Dialect.h"

#include "ssmc/Dialect/SSM/SSMDialect.h.inc"

#endif // SSMC_DIALECT_SSM_SSMDIALECT_H
