//===- DecomposeUtils.h - helpers of the ssm-decompose rewrites -*- C++ -*-===//
//
// What the selective_scan -> ssm.scan and ssd -> linear_attention rewrites
// share: tensor.empty destinations sized from the op's operands, and the
// element-wise pieces both models have in common (softplus of the step size,
// the D skip and the silu(z) gate of the output).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_CONVERSION_SSMTOLOOPS_DECOMPOSEUTILS_H
#define SSMC_LIB_CONVERSION_SSMTOLOOPS_DECOMPOSEUTILS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <utility>

namespace ssmc::decompose {

/// Empty tensor of `shape`; its kDynamic entries are sized by `sources`, one
/// (value, dim) source per dimension.
inline mlir::Value
emptyTensor(mlir::OpBuilder &b, mlir::Location loc,
            llvm::ArrayRef<int64_t> shape, mlir::Type elt,
            llvm::ArrayRef<std::pair<mlir::Value, int64_t>> sources) {
  llvm::SmallVector<mlir::Value> dyn;
  for (auto [i, d] : llvm::enumerate(shape))
    if (mlir::ShapedType::isDynamic(d))
      dyn.push_back(mlir::tensor::DimOp::create(b, loc, sources[i].first,
                                                sources[i].second));
  return mlir::tensor::EmptyOp::create(b, loc, shape, elt, dyn);
}

/// A linalg.generic, parallel over every dimension of `type`, into a fresh
/// tensor of that type written through the identity map; `body` computes
/// the element to yield from the elements of `ins` read through `inMaps`.
inline mlir::Value parallelGeneric(
    mlir::OpBuilder &b, mlir::Location loc, mlir::RankedTensorType type,
    llvm::ArrayRef<std::pair<mlir::Value, int64_t>> sources,
    mlir::ValueRange ins, llvm::ArrayRef<mlir::AffineMap> inMaps,
    llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                   mlir::ValueRange)>
        body) {
  llvm::SmallVector<mlir::AffineMap> maps(inMaps);
  maps.push_back(
      mlir::AffineMap::getMultiDimIdentityMap(type.getRank(), b.getContext()));
  return mlir::linalg::GenericOp::create(
             b, loc, type, ins,
             mlir::ValueRange{emptyTensor(b, loc, type.getShape(),
                                          type.getElementType(), sources)},
             maps,
             llvm::SmallVector<mlir::utils::IteratorType>(
                 type.getRank(), mlir::utils::IteratorType::parallel),
             [&](mlir::OpBuilder &nb, mlir::Location nloc,
                 mlir::ValueRange args) {
               mlir::linalg::YieldOp::create(nb, nloc, body(nb, nloc, args));
             })
      .getResult(0);
}

/// A float constant of element type `elt`.
inline mlir::Value floatConstant(mlir::OpBuilder &b, mlir::Location loc,
                                 mlir::Type elt, double v) {
  return mlir::arith::ConstantOp::create(b, loc, b.getFloatAttr(elt, v));
}

/// softplus(x) = log1p(exp(x)), taken as x itself above 20: there the two
/// agree to working precision and exp(x) only heads for overflow.
inline mlir::Value softplus(mlir::OpBuilder &b, mlir::Location loc,
                            mlir::Value x, mlir::Type elt) {
  mlir::Value sp =
      mlir::math::Log1pOp::create(b, loc, mlir::math::ExpOp::create(b, loc, x));
  mlir::Value big =
      mlir::arith::CmpFOp::create(b, loc, mlir::arith::CmpFPredicate::OGT, x,
                                  floatConstant(b, loc, elt, 20));
  return mlir::arith::SelectOp::create(b, loc, big, x, sp);
}

/// The output epilogue of selective_scan and ssd: y (+ D x) * silu(z), where
/// `args` holds y, x, then D if `hasD`, then z if `hasZ`.
inline mlir::Value skipAndGate(mlir::OpBuilder &b, mlir::Location loc,
                               mlir::ValueRange args, bool hasD, bool hasZ,
                               mlir::Type elt) {
  mlir::Value v = args[0];
  unsigned next = 2;
  if (hasD)
    v = mlir::math::FmaOp::create(b, loc, args[next++], args[1], v);
  if (hasZ) {
    mlir::Value zv = args[next];
    mlir::Value e = mlir::math::ExpOp::create(
        b, loc, mlir::arith::NegFOp::create(b, loc, zv));
    mlir::Value silu = mlir::arith::DivFOp::create(
        b, loc, zv,
        mlir::arith::AddFOp::create(b, loc, floatConstant(b, loc, elt, 1), e));
    v = mlir::arith::MulFOp::create(b, loc, v, silu);
  }
  return v;
}

} // namespace ssmc::decompose

#endif // SSMC_LIB_CONVERSION_SSMTOLOOPS_DECOMPOSEUTILS_H
