//===- Passes.h - every ssmc pass -------------------------------*- C++ -*-===//
//
// The passes of each layer are declared next to it: the ssm-to-ssm rewrites
// with the dialect (ssmc/Dialect/SSM/Passes.h), the conversions
// (ssmc/Conversion/Passes.h), the pipelines' transforms
// (ssmc/Transforms/Passes.h) and the GPU-pipeline passes
// (ssmc/GPU/Passes.h). Tools that expose all of them include this header.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_PASSES_H
#define SSMC_PASSES_H

#include "ssmc/Conversion/Passes.h"
#include "ssmc/Dialect/SSM/Passes.h"
#include "ssmc/GPU/Passes.h"
#include "ssmc/Transforms/Passes.h"

namespace ssmc {

/// Registers every ssmc pass with the global registry (ssmc-opt calls it).
inline void registerSSMCPasses() {
  registerSSMDialectPasses();
  registerSSMCConversionPasses();
  registerSSMCTransformsPasses();
  registerSSMCGPUPasses();
}

} // namespace ssmc

#endif // SSMC_PASSES_H
