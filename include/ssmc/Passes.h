//===- Passes.h - ssmc passes -----------------------------------*- C++ -*-===//
//
// Declarations and registration of every ssmc pass.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_PASSES_H
#define SSMC_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace ssmc {

#define GEN_PASS_DECL
#include "ssmc/Passes.h.inc"

// registerSSMCPasses() registers every pass below (ssmc-opt calls it).
#define GEN_PASS_REGISTRATION
#include "ssmc/Passes.h.inc"

} // namespace ssmc

#endif // SSMC_PASSES_H
