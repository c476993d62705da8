//===- SSMToGPU.h - ssm ops to GPU kernels ----------------------*- C++ -*-===//

#ifndef SSMC_CONVERSION_SSMTOGPU_H
#define SSMC_CONVERSION_SSMTOGPU_H

#include "mlir/IR/PatternMatch.h"

namespace ssmc {

void populateSelectiveScanToGPUPatterns(mlir::RewritePatternSet &patterns);


} // namespace ssmc

#endif // SSMC_CONVERSION_SSMTOGPU_H
