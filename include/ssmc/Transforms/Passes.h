//===- Passes.h - the pipelines' transforms ----*- C++ -*-===//
//
// Declarations (create functions, option structs) and registration of the pipelines' transforms.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TRANSFORMS_PASSES_H
#define SSMC_TRANSFORMS_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace ssmc {

#define GEN_PASS_DECL
#include "ssmc/Transforms/Passes.h.inc"

// registerSSMCTransformsPasses() registers every pass above.
#define GEN_PASS_REGISTRATION
#include "ssmc/Transforms/Passes.h.inc"

} // namespace ssmc

#endif // SSMC_TRANSFORMS_PASSES_H
