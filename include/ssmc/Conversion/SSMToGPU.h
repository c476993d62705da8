//===- SSMToGPU.h - ssm ops to GPU kernels ----------------------*- C++ -*-===//

#ifndef SSMC_CONVERSION_SSMTOGPU_H
#define SSMC_CONVERSION_SSMTOGPU_H

#include "mlir/IR/PatternMatch.h"

#include <cstdint>

namespace ssmc {

/// ssm.selective_scan: a chunked kernel with shared sub-tiles of the
/// per-step rows sized to fit `maxSharedBytes` of shared memory per block
/// (over 48 KB they become dynamic shared memory), or a kernel with the
/// state in registers.
void populateSelectiveScanToGPUPatterns(mlir::RewritePatternSet &patterns,
                                        int64_t maxSharedBytes);
/// ssm.dp as one kernel of a single block: wavefront cells strided over the
/// threads with a barrier per wavefront (the CPU lowering's schedule,
/// DPLowering).
void populateDPToGPUPatterns(mlir::RewritePatternSet &patterns);
/// ssm.ssd and ssm.linear_attention: ColumnScan kernels, the state's
/// columns split over threads.
void populateSSDToGPUPatterns(mlir::RewritePatternSet &patterns);
void populateLinearAttentionToGPUPatterns(mlir::RewritePatternSet &patterns);
/// ssm.delta_rule: a recurrent kernel, a block per (sequence, head, tile of
/// value columns) with the tile's state in shared memory.
void populateDeltaRuleToGPUPatterns(mlir::RewritePatternSet &patterns);
/// ssm.attention: flash-style key tiles with an online softmax per query
/// thread; the key tile within `maxSharedBytes` (over 48 KB dynamic shared
/// memory) and within the share of an SM that keeps the blocks its
/// registers allow.
void populateAttentionToGPUPatterns(mlir::RewritePatternSet &patterns,
                                    int64_t maxSharedBytes);
/// ssm.causal_conv1d: a thread per output element.
void populateCausalConv1dToGPUPatterns(mlir::RewritePatternSet &patterns);
/// linalg.matmul (f32 C; f32/f16/bf16/i8 A, f32/f16/bf16 B, B optionally
/// transposed): a warp per row for decode widths, shared-memory tiles
/// otherwise.
void populateMatmulToGPUPatterns(mlir::RewritePatternSet &patterns);
/// linalg.generic (parallel, or a reduction combined by addf, mulf, min or
/// max), linalg.transpose, linalg.copy and linalg.fill on tensors with
/// f32/f16/bf16 outputs, and elementwise arith/math ops on tensors (made
/// linalg.generic first): a thread per point, or a block tree reduction
/// in shared memory.
void populateLinalgToGPUPatterns(mlir::RewritePatternSet &patterns);

} // namespace ssmc

#endif // SSMC_CONVERSION_SSMTOGPU_H
