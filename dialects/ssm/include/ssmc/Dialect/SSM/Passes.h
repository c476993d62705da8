//===- Passes.h - the ssm-to-ssm passes ----*- C++ -*-===//
//
// Declarations (create functions, option structs) and registration of the ssm-to-ssm passes.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_DIALECT_SSM_PASSES_H
#define SSMC_DIALECT_SSM_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace ssmc {

#define GEN_PASS_DECL
#include "ssmc/Dialect/SSM/Passes.h.inc"

// registerSSMDialectPasses() registers every pass above.
#define GEN_PASS_REGISTRATION
#include "ssmc/Dialect/SSM/Passes.h.inc"

} // namespace ssmc

#endif // SSMC_DIALECT_SSM_PASSES_H
