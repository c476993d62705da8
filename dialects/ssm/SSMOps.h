//===- SSMOps.h - ssm dialect operations ------------------------*- C++ -*-===//
//
// Declares the ops of the ssm dialect (generated from SSMOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_DIALECTS_SSM_SSMOPS_H
#define SSMC_DIALECTS_SSM_SSMOPS_H

#include "dialects/ssm/SSMDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialects/ssm/SSMOps.h.inc"

#endif // SSMC_DIALECTS_SSM_SSMOPS_H
