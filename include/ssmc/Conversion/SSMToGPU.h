//===- SSMToGPU.h - ssm ops to GPU kernels ----------------------*- C++ -*-===//

#ifndef SSMC_CONVERSION_SSMTOGPU_H
#define SSMC_CONVERSION_SSMTOGPU_H

#include "mlir/IR/PatternMatch.h"

namespace ssmc {

void populateSelectiveScanToGPUPatterns(mlir::RewritePatternSet &patterns);
/// ssm.ssd and ssm.linear_attention: one thread per state column.
void populateRecurrentToGPUPatterns(mlir::RewritePatternSet &patterns);
/// ssm.dp as one kernel of a single block: wavefront cells strided over the
/// threads with a barrier per wavefront (the CPU lowering's schedule,
/// DPLowering).
void populateDPToGPUPatterns(mlir::RewritePatternSet &patterns);


} // namespace ssmc

#endif // SSMC_CONVERSION_SSMTOGPU_H
