//===- DecomposeSteps.h - decode steps as sequence ops ----------*- C++ -*-===//
//
// Each decode-step op rewritten as its sequence op over one step (the KV
// cache append of attention_step as slice insertion): the CPU conversion
// applies these first, the GPU pipeline runs them as ssm-decompose-steps.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TRANSFORMS_DECOMPOSESTEPS_H
#define SSMC_TRANSFORMS_DECOMPOSESTEPS_H

#include "mlir/IR/PatternMatch.h"

namespace ssmc {

void populateDecomposeStepsPatterns(mlir::RewritePatternSet &patterns);

} // namespace ssmc

#endif // SSMC_TRANSFORMS_DECOMPOSESTEPS_H
