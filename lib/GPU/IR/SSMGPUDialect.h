//===- SSMGPUDialect.h - the GPU pipeline's internal dialect ----*- C++ -*-===//
//
// ssm_gpu: ops the GPU conversion emits for the GPU pipeline's later passes
// (SSMGPUOps.td). Internal to lib/: not part of the public headers.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_GPU_IR_SSMGPUDIALECT_H
#define SSMC_LIB_GPU_IR_SSMGPUDIALECT_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "lib/GPU/IR/SSMGPUDialect.h.inc"

#define GET_OP_CLASSES
#include "lib/GPU/IR/SSMGPUOps.h.inc"

#endif // SSMC_LIB_GPU_IR_SSMGPUDIALECT_H
