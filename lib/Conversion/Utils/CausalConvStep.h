//===- CausalConvStep.h - both conv step lowerings share this -*- C++ -*-===//
//
// ssm.causal_conv1d_step's operands as buffers with their sizes, its
// run-time checks and its window indexing, shared by the CPU loops
// (SSMToLoops/CausalConv1dStepToLoops.cpp) and the GPU kernel
// (SSMToGPU/CausalConv1dToGPU.cpp), so that both check and index alike.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_CONVERSION_UTILS_CAUSALCONVSTEP_H
#define SSMC_LIB_CONVERSION_UTILS_CAUSALCONVSTEP_H

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/IR/Builders.h"

namespace ssmc::detail {

/// The step's operands as buffers (null when absent) and its sizes: batch
/// B, channels D, pool P (B without conv_state_indices), state length S,
/// width W.
struct CausalConvStepOperands {
  mlir::Value x, state, weight, bias, seqlens, slots;
  mlir::Value c0, c1, batch, chans, pool, stateLen, width, widthM1;

  CausalConvStepOperands(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::ssm::CausalConv1dStepOp op);

  /// Entry `i` of the i32/i64 buffer `mem` as an index.
  mlir::Value indexAt(mlir::OpBuilder &b, mlir::Location loc, mlir::Value mem,
                      mlir::Value i) const;

  /// Entry j < W - 1 of the window: state entry S - (W - 1) + j, or with
  /// cache_seqlens (pos = c >= 0) entry (c - (W - 1) + j) mod S.
  mlir::Value windowIndex(mlir::OpBuilder &b, mlir::Location loc,
                          mlir::Value pos, mlir::Value j) const;

  /// The run-time checks (calls of ssmcShapeError on failure): shapes, then
  /// the values (every slot below the pool size P, every cache_seqlens
  /// entry non-negative; the index buffers are read only when their shapes
  /// are right), S >= W - 1 and W >= 1. Returns their conjunction (i1).
  mlir::Value check(mlir::OpBuilder &b, mlir::Location loc,
                    mlir::ssm::CausalConv1dStepOp op) const;
};

} // namespace ssmc::detail

#endif // SSMC_LIB_CONVERSION_UTILS_CAUSALCONVSTEP_H
