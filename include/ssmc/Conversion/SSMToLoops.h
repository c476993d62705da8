//===- SSMToLoops.h - fused CPU lowering of ssm ops -------------*- C++ -*-===//
//
// Patterns that lower each ssm op on tensors to one fused loop nest on
// buffers (scf.parallel over independent lanes, scf.for over the sequence,
// vector-dialect arithmetic over channels), bridged back to tensors with
// bufferization.to_tensor so one-shot bufferization handles the rest.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_CONVERSION_SSMTOLOOPS_H
#define SSMC_CONVERSION_SSMTOLOOPS_H

#include "mlir/IR/PatternMatch.h"

namespace ssmc {

struct SSMToLoopsOptions {
  /// Width of the vector registers to fill, in bits (512 for AVX-512). The
  /// lane count is this divided by the accumulator's bit width.
  unsigned vectorBits = 512;
  /// Keep the recurrent state in SSA vector registers when the state size N
  /// is static and at most this; otherwise it lives in a stack buffer.
  int64_t maxRegisterState = 64;
  /// Compute f32 exp with ssmc's short exp2 instead of math.exp.
  bool fastExp = true;
  /// The target has AVX-512 (x86vector ops may be used).
  bool avx512 = true;
};

void populateSelectiveScanToLoopsPatterns(mlir::RewritePatternSet &patterns,
                                          const SSMToLoopsOptions &options);
void populateScanToLoopsPatterns(mlir::RewritePatternSet &patterns);
/// Decode-step ops as their sequence ops with L = 1 (ssm -> ssm).
/// selective_scan as an ssm.scan of its linear recurrence plus linalg ops
/// (ssm -> ssm/linalg; f32/f64, shared B/C).
/// ssd as ssm.linear_attention plus linalg ops (ssm -> ssm/linalg).
void populateCausalConv1dToLoopsPatterns(mlir::RewritePatternSet &patterns);
void populateCausalConv1dStepToLoopsPatterns(mlir::RewritePatternSet &patterns);
void populateDPToLoopsPatterns(mlir::RewritePatternSet &patterns);
void populateSSDToLoopsPatterns(mlir::RewritePatternSet &patterns,
                                const SSMToLoopsOptions &options);
void populateAttentionToLoopsPatterns(mlir::RewritePatternSet &patterns,
                                      const SSMToLoopsOptions &options);
void populateLinearAttentionToLoopsPatterns(mlir::RewritePatternSet &patterns,
                                            const SSMToLoopsOptions &options);
/// ssm.delta_rule: the recurrent form, one task per (sequence, value head).
void populateDeltaRuleToLoopsPatterns(mlir::RewritePatternSet &patterns,
                                      const SSMToLoopsOptions &options);

} // namespace ssmc

#endif // SSMC_CONVERSION_SSMTOLOOPS_H
