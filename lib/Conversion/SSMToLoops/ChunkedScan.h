//===- ChunkedScan.h - chunked CPU kernel of decaying linear scans -*- C++ -*-===//
//
// The kernel ssd and linear attention share. Both are
//   S_t = exp(a_t) S_{t-1} + k_t v_t^T,   y_t = S_t^T q_t
// with a K x V state S, a scalar log decay a_t per step (or one per key row:
// see keyLogDecay), key-length vectors q_t, k_t and value-length vectors v_t
// (ssd: q = C, k = B, v = dt x).
//
// Steps go in chunks of T. With c_j = a_0 + ... + a_j (chunk-local),
//   y_j = exp(c_j) S_0^T q_j + sum_{u<=j} exp(c_j - c_u) (q_j . k_u) v_u
//   S_T = exp(c_{T-1}) S_0 + sum_u exp(c_{T-1} - c_u) k_u v_u^T
// so one pass over the state rows per chunk does T read-outs and one
// update: per row and value block one load, one store, 2T + 1 vector ops
// (the step-by-step recurrence needs 3T). The intra-chunk term is a T x T
// matrix of dot products, computed once per chunk and shared by every value
// block. Every exponent is <= 0 (decays only shrink), so nothing overflows.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_CONVERSION_SSMTOLOOPS_CHUNKEDSCAN_H
#define SSMC_LIB_CONVERSION_SSMTOLOOPS_CHUNKEDSCAN_H

#include "lib/Conversion/Utils/LoweringUtils.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLFunctionalExtras.h"

namespace ssmc::detail {

struct ChunkedScan {
  /// Accumulator type and lanes per vector.
  mlir::FloatType acc;
  int64_t lanes = 16;
  /// Steps per pass over the state.
  int64_t chunk = 8;
  /// K (key length, rows of the state) and V (value length) as indices.
  mlir::Value keyDim, valueDim;

  /// A per-step scalar computed once per step and handed to the callbacks
  /// below (ssd: dt after bias and softplus); may be null.
  llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                 mlir::Value t)>
      stepValue;
  /// The log decay a_t of step t (<= 0); null: no decay.
  llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                 mlir::Value t, mlir::Value step)>
      logDecay;
  /// `lanes` elements of q_t / k_t from key index `at` (v_t from value index
  /// `at`), zero where `mask` is off.
  using VectorFn = llvm::function_ref<mlir::Value(
      mlir::OpBuilder &, mlir::Location, mlir::Value t, mlir::Value step,
      mlir::Value at, mlir::Value mask)>;
  VectorFn query, key, value;
  /// Instead of `logDecay`: a log decay per key row (a_t[n], gated linear
  /// attention), `lanes` of them from key index `at` (zero where `mask` is
  /// off). The decays then differ per row: the intra-chunk dot products
  /// weigh each key index by exp(c_j[n] - c_u[n]), and the state update
  /// scales row n by exp(c_{T-1}[n]).
  VectorFn keyLogDecay;
  /// How vector exps are computed (key decays).
  ExpLowering how;
  /// Normalised read-out y_t / (q_t . z_t + eps), z_t = decay z_{t-1} + k_t:
  /// z is the state of one more value column, of ones.
  bool normalize = false;
  double eps = 0;
  /// With `normalize`: element n of z_0 (a scalar; null: zeros) and the
  /// store of element n of the last z (null: not needed).
  llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                 mlir::Value n)>
      initNormalizer;
  llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value n,
                          mlir::Value z)>
      finalNormalizer;
  /// Stores y_t's value lanes from `at` (after any epilogue).
  llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value t,
                          mlir::Value step, mlir::Value at, mlir::Value mask,
                          mlir::Value y)>
      output;
  /// Optional: prefetches what `value` and `output` touch at step t, value
  /// lanes from `at` (issued one chunk ahead: rows of strided layouts
  /// such as ssd's [B, L, H, P] sit a page apart, beyond the hardware
  /// prefetchers' reach).
  llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value t,
                          mlir::Value at)>
      prefetch;
  /// State row n, value lanes from `at`: the initial state (null: zeros)
  /// and the final state's store (null: not needed).
  llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                 mlir::Value n, mlir::Value at,
                                 mlir::Value mask)>
      initState;
  llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value n,
                          mlir::Value at, mlir::Value mask, mlir::Value s)>
      finalState;
};

/// Emits the scan over steps [begin, end) of one (sequence, head): the
/// state (K x V) in a stack buffer of vectors, chunks of `chunk` steps, then
/// the remaining steps one at a time.
void emitChunkedScan(mlir::OpBuilder &b, mlir::Location loc,
                     const ChunkedScan &scan, mlir::Value begin,
                     mlir::Value end);

} // namespace ssmc::detail

#endif // SSMC_LIB_CONVERSION_SSMTOLOOPS_CHUNKEDSCAN_H
