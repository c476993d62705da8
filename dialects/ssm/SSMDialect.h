//===- SSMDialect.h - ssm dialect declaration -------------------*- C++ -*-===//
//
// Declares the ssm dialect class; include SSMOps.h for the operations.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_DIALECTS_SSM_SSMDIALECT_H
#define SSMC_DIALECTS_SSM_SSMDIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/ssm/SSMDialect.h.inc"

#endif // SSMC_DIALECTS_SSM_SSMDIALECT_H
