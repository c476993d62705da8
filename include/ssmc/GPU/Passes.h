//===- Passes.h - the GPU-pipeline passes ----*- C++ -*-===//
//
// Declarations (create functions, option structs) and registration of the GPU-pipeline passes.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_GPU_PASSES_H
#define SSMC_GPU_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

namespace ssmc {

#define GEN_PASS_DECL
#include "ssmc/GPU/Passes.h.inc"

// registerSSMCGPUPasses() registers every pass above.
#define GEN_PASS_REGISTRATION
#include "ssmc/GPU/Passes.h.inc"

} // namespace ssmc

#endif // SSMC_GPU_PASSES_H
