//===- SSMOps.h - ssm dialect operations ------------------------*- C++ -*-===//
//
// Declares the ops of the ssm dialect, its enum attributes and its
// SequenceOpInterface (generated from SSMOps.td).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_DIALECT_SSM_SSMOPS_H
#define SSMC_DIALECT_SSM_SSMOPS_H

#include "ssmc/Dialect/SSM/SSMDialect.h"

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Interfaces/ControlFlowInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "ssmc/Dialect/SSM/SSMEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "ssmc/Dialect/SSM/SSMAttrs.h.inc"

#include "ssmc/Dialect/SSM/SSMInterfaces.h.inc"

#define GET_OP_CLASSES
#include "ssmc/Dialect/SSM/SSMOps.h.inc"

namespace mlir::ssm {

/// How far back the cells of an ssm.dp (local form) reach; the lowering
/// picks its schedule and storage from it and the analysis reports it.
struct DPDependencyShape {
  int64_t rowsBack = 0;  ///< farthest row back (deps and fetches); 1-D: cells
  int64_t diagBack = 0;  ///< 2-D: max -(di + dj) over the deps
  int64_t colsBack = 0;  ///< 2-D: max -dj over the deps (may be negative)
  bool quadrant = true;  ///< 2-D: every dep has di <= 0 and dj <= 0
  bool sameRow = false;  ///< 2-D: some dep stays in the row (di = 0)
  bool fetches = false;  ///< the cell region uses ssm.dp_fetch
  /// 2-D: anti-diagonal wavefronts apply (quadrant deps, no fetch).
  bool diagonal() const { return quadrant && !fetches; }
};
DPDependencyShape getDependencyShape(DPOp op);

} // namespace mlir::ssm

#endif // SSMC_DIALECT_SSM_SSMOPS_H
