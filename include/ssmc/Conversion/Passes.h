//===- Passes.h - the ssm conversions ----*- C++ -*-===//
//
// Declarations (create functions, option structs) and registration of the ssm conversions.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_CONVERSION_PASSES_H
#define SSMC_CONVERSION_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace ssmc {

#define GEN_PASS_DECL
#include "ssmc/Conversion/Passes.h.inc"

// registerSSMCConversionPasses() registers every pass above.
#define GEN_PASS_REGISTRATION
#include "ssmc/Conversion/Passes.h.inc"

} // namespace ssmc

#endif // SSMC_CONVERSION_PASSES_H
