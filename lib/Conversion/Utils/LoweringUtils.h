//===- LoweringUtils.h - helpers shared by the ssm CPU lowerings -*- C++ -*-===//
//
// The tensor <-> buffer bridge every ssm lowering uses: read-only buffers for
// inputs, fresh 64-byte-aligned buffers for results, handed back as tensors
// that one-shot bufferization folds away.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_CONVERSION_SSMTOLOOPS_LOWERINGUTILS_H
#define SSMC_LIB_CONVERSION_SSMTOLOOPS_LOWERINGUTILS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"

#include <algorithm>
#include <tuple>

namespace ssmc::detail {

/// Marks a kernel's loop, or its h0 reads and final-state stores, where
/// each task reads every element of h0 before writing the same element of
/// the final state, and never after: the final state may then be stored
/// over h0 (ssm-forward-state-copies).
constexpr llvm::StringLiteral kInPlaceFinalState = "ssm.in_place_final_state";
/// Marks one h0 read or final-state store (when a kernel's task loop is
/// not certain to survive canonicalization: a parallel loop over a unit
/// batch is folded into its body).
inline mlir::Operation *markInPlace(mlir::Operation *op) {
  op->setAttr(kInPlaceFinalState, mlir::UnitAttr::get(op->getContext()));
  return op;
}

/// A read-only buffer view of tensor `t` (null when `t` is null).
inline mlir::Value toBuffer(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value t) {
  if (!t)
    return {};
  auto tt = mlir::cast<mlir::RankedTensorType>(t.getType());
  auto mt = mlir::MemRefType::get(tt.getShape(), tt.getElementType());
  return mlir::bufferization::ToBufferOp::create(b, loc, mt, t,
                                                 /*read_only=*/true);
}

/// Like toBuffer, but the view may be strided in every dimension but the
/// last (offset and outer strides known at run time): a slice of a larger
/// tensor -- the filled prefix of a KV cache -- is read where it lies
/// instead of being copied into a buffer of its own first.
inline mlir::Value toStridedBuffer(mlir::OpBuilder &b, mlir::Location loc,
                                   mlir::Value t) {
  if (!t)
    return {};
  auto tt = mlir::cast<mlir::RankedTensorType>(t.getType());
  llvm::SmallVector<int64_t> strides(tt.getRank(), mlir::ShapedType::kDynamic);
  if (!strides.empty())
    strides.back() = 1;
  auto layout = mlir::StridedLayoutAttr::get(
      b.getContext(), mlir::ShapedType::kDynamic, strides);
  auto mt = mlir::MemRefType::get(tt.getShape(), tt.getElementType(), layout);
  return mlir::bufferization::ToBufferOp::create(b, loc, mt, t,
                                                 /*read_only=*/true);
}

/// Steps [begin, end) of a recurrence, `group` at a time and then one at a
/// time: `steps(b, loc, t0, count)` emits `count` consecutive steps from t0.
inline void forStepGroups(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value begin, mlir::Value end,
    int64_t group,
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value,
                            int64_t)>
        steps) {
  mlir::Value cT = mlir::arith::ConstantIndexOp::create(b, loc, group);
  mlir::Value c1 = mlir::arith::ConstantIndexOp::create(b, loc, 1);
  mlir::Value span = mlir::arith::SubIOp::create(b, loc, end, begin);
  mlir::Value mid = mlir::arith::AddIOp::create(
      b, loc, begin,
      mlir::arith::MulIOp::create(
          b, loc, mlir::arith::DivUIOp::create(b, loc, span, cT), cT));
  for (auto [lo, hi, step, count] :
       {std::tuple{begin, mid, cT, group}, std::tuple{mid, end, c1, int64_t(1)}})
    mlir::scf::ForOp::create(
        b, loc, lo, hi, step, mlir::ValueRange{},
        [&, count = count](mlir::OpBuilder &b, mlir::Location loc,
                           mlir::Value t, mlir::ValueRange) {
          steps(b, loc, t, count);
          mlir::scf::YieldOp::create(b, loc);
        });
}

/// Allocates a buffer of tensor type `type`; `sizes` gives every
/// dimension's size at run time (only the dynamic ones are used).
inline mlir::Value allocLike(mlir::OpBuilder &b, mlir::Location loc,
                             mlir::Type type, mlir::ArrayRef<mlir::Value> sizes) {
  auto tt = mlir::cast<mlir::RankedTensorType>(type);
  llvm::SmallVector<mlir::Value> dynSizes;
  for (int64_t i = 0; i < tt.getRank(); ++i)
    if (tt.isDynamicDim(i))
      dynSizes.push_back(sizes[i]);
  auto mt = mlir::MemRefType::get(tt.getShape(), tt.getElementType());
  return mlir::memref::AllocOp::create(b, loc, mt, dynSizes,
                                       b.getI64IntegerAttr(64));
}

/// The tensor of a buffer the lowering just wrote and hands over. Not
/// writable: the ops lowered after it read the buffer itself (`to_buffer`
/// of this tensor folds away before One-Shot Bufferize runs), reads its
/// analysis does not see, so a tensor op must not write into the buffer in
/// place (an elementwise op whose destination is its operand would
/// overwrite it under a later reader): it gets a buffer of its own.
inline mlir::Value toTensor(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Type tensorType, mlir::Value buffer) {
  return mlir::bufferization::ToTensorOp::create(
      b, loc, tensorType, buffer, /*restrict=*/true, /*writable=*/false);
}

/// Replaces `op` by its output buffer `out` and, when the op returns one,
/// its final-state buffer `fin`, as tensors.
template <typename OpT>
void replaceWithBuffers(mlir::RewriterBase &rw, mlir::Location loc, OpT op,
                        mlir::Value out, mlir::Value fin) {
  llvm::SmallVector<mlir::Value> results{
      toTensor(rw, loc, op.getOut().getType(), out)};
  if (fin)
    results.push_back(toTensor(rw, loc, op.getFinalState().getType(), fin));
  rw.replaceOp(op, results);
}

/// Size of dimension `i` of buffer `m` as an index value (a constant when
/// the dimension is static, so static relations need no run-time check).
inline mlir::Value dimOf(mlir::OpBuilder &b, mlir::Location loc, mlir::Value m,
                         int64_t i) {
  auto t = mlir::cast<mlir::MemRefType>(m.getType());
  if (!t.isDynamicDim(i))
    return mlir::arith::ConstantIndexOp::create(b, loc, t.getDimSize(i));
  return mlir::memref::DimOp::create(b, loc, m, i);
}

/// The sizes of a [batch, steps, heads, width] buffer: the layout of
/// ssm.ssd's x, B and C and of ssm.delta_rule's q, k and v.
struct SequenceDims {
  mlir::Value batch, steps, heads, width;
};
inline SequenceDims sequenceDims(mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::Value m) {
  // Braced initialisers are evaluated in order: the dims are created so.
  return SequenceDims{dimOf(b, loc, m, 0), dimOf(b, loc, m, 1),
                      dimOf(b, loc, m, 2), dimOf(b, loc, m, 3)};
}

/// Lanes of one vector register of `vectorBits` holding `acc` elements.
inline int64_t laneCount(unsigned vectorBits, mlir::FloatType acc) {
  return std::max<int64_t>(1, vectorBits / acc.getWidth());
}

/// Converts `v` (scalar or vector of floats) to element type `to`.
inline mlir::Value castFloat(mlir::OpBuilder &b, mlir::Location loc,
                             mlir::Value v, mlir::Type to) {
  mlir::Type from = mlir::getElementTypeOrSelf(v.getType());
  if (from == to)
    return v;
  mlir::Type target = to;
  if (auto vt = mlir::dyn_cast<mlir::VectorType>(v.getType()))
    target = mlir::VectorType::get(vt.getShape(), to);
  if (from.getIntOrFloatBitWidth() < to.getIntOrFloatBitWidth())
    return mlir::arith::ExtFOp::create(b, loc, target, v);
  return mlir::arith::TruncFOp::create(b, loc, target, v);
}

/// How the lowering computes exp on f32 vectors.
struct ExpLowering {
  /// Use ssmc's short exp2 (range reduction, degree-5 polynomial, 2^k);
  /// otherwise math.exp (upstream's polynomial later).
  bool fast = true;
  /// Scale by 2^k with AVX-512's vscalefps (no clamps, exact over/underflow
  /// handling); otherwise build 2^k from exponent bits with clamps.
  bool avx512 = true;
};

/// 2^x for an f32 vector `x`: k = roundeven(x), f = x - k in [-1/2, 1/2],
/// 2^f by a degree-5 polynomial (max relative error 1.7e-7), times 2^k.
mlir::Value emitExp2(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                     const ExpLowering &how);
/// e^x for a float scalar or vector, through emitExp2 when `how.fast` and
/// `x` is an f32 vector, else math.exp.
mlir::Value emitExp(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                    const ExpLowering &how);

/// softplus(x) = log(1 + e^x) for a float scalar or vector. f32 vectors with
/// `how.fast`: max(x, 0) + log1p(e) with e = exp(-|x|) in (0, 1] and
/// log1p(e) = e g(e), g a degree-8 polynomial (relative error < 4e-8, no
/// division, no cancellation for tiny e, no overflow for large x).
/// Otherwise log1p(exp(x)), or x itself above 20.
mlir::Value emitSoftplus(mlir::OpBuilder &b, mlir::Location loc, mlir::Value x,
                         const ExpLowering &how);

/// Run-time checks of the shape relations the verifier could not check
/// because a dimension is dynamic. Each failed check calls
/// `ssmcShapeError(id, got, want)`, where `id` indexes the module's
/// `ssm.runtime_checks` array of messages (the JIT turns it into an error),
/// and the op's loops are skipped, so a mismatch never reads out of bounds.
class RuntimeShapeChecks {
public:
  static constexpr llvm::StringLiteral kMessagesAttr = "ssm.runtime_checks";
  static constexpr llvm::StringLiteral kErrorFn = "ssmcShapeError";

  RuntimeShapeChecks(mlir::OpBuilder &b, mlir::Location loc,
                     mlir::Operation *op);

  /// Requires index values `got == want`; a no-op when both are constants.
  void requireEqual(mlir::Value got, mlir::Value want, const std::string &what);
  /// Requires `cond` (i1); `got`/`want` (index) are reported on failure.
  void require(mlir::Value cond, mlir::Value got, mlir::Value want,
               const std::string &what);
  /// Conjunction of every check (constant true when there is none).
  mlir::Value allOk();
  bool empty() const { return !ok; }

private:
  mlir::OpBuilder &b;
  mlir::Location loc;
  mlir::Operation *op;
  mlir::Value ok;
};

/// A named dimension an operand must match: its symbol ("B", "L", ...), its
/// size at run time (null: nothing to check) and where that size comes from
/// ("dimension 2 of 'u'").
struct NamedDim {
  const char *symbol;
  mlir::Value size;
  std::string source;
};

/// Checks every dimension of buffer `mem` (operand `name`) against `dims`.
void checkOperandDims(RuntimeShapeChecks &checks, mlir::OpBuilder &b,
                      mlir::Location loc, mlir::Value mem,
                      llvm::StringRef name, llvm::ArrayRef<NamedDim> dims);
/// Checks the static dimensions of result type `t` against `dims`.
void checkResultDims(RuntimeShapeChecks &checks, mlir::OpBuilder &b,
                     mlir::Location loc, mlir::RankedTensorType t,
                     llvm::StringRef name, llvm::ArrayRef<NamedDim> dims);

/// Offset `i` of a cu_seqlens buffer, as an index.
mlir::Value packedOffset(mlir::OpBuilder &b, mlir::Location loc,
                         mlir::Value cuSeqlens, mlir::Value i);
/// Requires 0 = cu[0] <= cu[1] <= ... <= cu[S] = len for the packed
/// sequences of `cuSeqlens` (S = sequences), or the loops would leave the
/// packed batch. The message names the operand (`name`) and its length
/// (`lenName`: "L", or attention's "Lq" / "Lk").
void checkPackedOffsets(RuntimeShapeChecks &checks, mlir::OpBuilder &b,
                        mlir::Location loc, mlir::Value cuSeqlens,
                        mlir::Value sequences, mlir::Value len,
                        llvm::StringRef name = "cu_seqlens",
                        llvm::StringRef lenName = "L");

/// seq_idx ([B, L]): runs `body(begin, end, startsRow, endsRow)` for each
/// segment of batch row `row` -- the maximal runs of steps with equal
/// index -- in order, each inside its own memref.alloca_scope. startsRow
/// and endsRow (i1) tell whether the segment starts or ends the row. A row
/// of L = 0 is one empty segment [0, 0), so a final state is still written.
void forEachSegment(
    mlir::OpBuilder &b, mlir::Location loc, mlir::Value seqIdx, mlir::Value row,
    mlir::Value len,
    llvm::function_ref<void(mlir::OpBuilder &, mlir::Location, mlir::Value,
                            mlir::Value, mlir::Value, mlir::Value)>
        body);

} // namespace ssmc::detail

#endif // SSMC_LIB_CONVERSION_SSMTOLOOPS_LOWERINGUTILS_H
