//===- Rewrites.h - the theory's equivalences as ssm rewrites ---*- C++ -*-===//
//
// Pattern sets that rewrite ssm ops into other ssm ops computing the same
// function (the ssm-decompose pass applies both): a selective scan as an
// ssm.scan of its linear recurrence, and ssd as linear attention.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_DIALECT_SSM_REWRITES_H
#define SSMC_DIALECT_SSM_REWRITES_H

#include "mlir/IR/PatternMatch.h"

namespace ssmc {

void populateDecomposeSelectiveScanPatterns(mlir::RewritePatternSet &patterns);
void populateSSDToLinearAttentionPatterns(mlir::RewritePatternSet &patterns);

} // namespace ssmc

#endif // SSMC_DIALECT_SSM_REWRITES_H
