//===- LowerResidency.cpp - the ssm-gpu-lower-residency pass --------------===//
//
// ssm_gpu.is_resident %buffer becomes a call of the runtime's
// `int32_t ssmcCudaIsResident(int64_t address, int64_t bytes)`
// (runtime/cuda/Residency.h) on the address of the buffer's first element
// and the bytes of the span it covers (a strided view's too), compared with
// zero. Runs after gpu-async-region, which keeps the
// pure ssm_gpu op off its list of host synchronisation points.
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"
#include "lib/GPU/IR/SSMGPUDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPULOWERRESIDENCY
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kIsResident = "ssmcCudaIsResident";

struct LowerResidencyPass
    : public ssmc::impl::SSMGPULowerResidencyBase<LowerResidencyPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<ssm_gpu::IsResidentOp> queries;
    module.walk([&](ssm_gpu::IsResidentOp op) { queries.push_back(op); });
    if (queries.empty())
      return;
    LLVM::LLVMFuncOp callee = declare(module);
    DataLayout layout(module);
    for (ssm_gpu::IsResidentOp op : queries) {
      OpBuilder b(op);
      Location loc = op.getLoc();
      Value buffer = op.getBuffer();
      auto [address, bytes] = span(b, loc, buffer, layout);
      auto i64 = b.getI64Type();
      Value answer =
          LLVM::CallOp::create(
              b, loc, callee,
              ValueRange{arith::IndexCastOp::create(b, loc, i64, address),
                         arith::IndexCastOp::create(b, loc, i64, bytes)})
              .getResult();
      Value resident = arith::CmpIOp::create(
          b, loc, arith::CmpIPredicate::ne, answer,
          arith::ConstantIntOp::create(b, loc, b.getI32Type(), 0));
      op.getResident().replaceAllUsesWith(resident);
      op.erase();
    }
  }

  /// The address of `buffer`'s first element (aligned pointer + offset)
  /// and the bytes from it to past its last: ((sum over dims of
  /// (size - 1) * stride) + 1) * element bytes, 0 when a size is 0. For an
  /// identity layout, the product of the sizes; for a strided view, the
  /// span it covers, which must lie in one resident allocation.
  static std::pair<Value, Value> span(OpBuilder &b, Location loc, Value buffer,
                                      DataLayout &layout) {
    auto type = cast<MemRefType>(buffer.getType());
    auto meta = memref::ExtractStridedMetadataOp::create(b, loc, buffer);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    Value elementBytes = arith::ConstantIndexOp::create(
        b, loc, layout.getTypeSize(type.getElementType()).getFixedValue());
    Value last = zero;
    Value empty = arith::ConstantIntOp::create(b, loc, 0, 1);
    for (int64_t d = 0; d < type.getRank(); ++d) {
      Value size = meta.getSizes()[d];
      last = arith::AddIOp::create(
          b, loc, last,
          arith::MulIOp::create(b, loc,
                                arith::SubIOp::create(b, loc, size, one),
                                meta.getStrides()[d]));
      empty = arith::OrIOp::create(
          b, loc, empty,
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, size, zero));
    }
    Value elements = arith::SelectOp::create(
        b, loc, empty, zero, arith::AddIOp::create(b, loc, last, one));
    Value bytes = arith::MulIOp::create(b, loc, elements, elementBytes);
    Value address = arith::AddIOp::create(
        b, loc, memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer),
        arith::MulIOp::create(b, loc, meta.getOffset(), elementBytes));
    return {address, bytes};
  }

  /// `llvm.func @ssmcCudaIsResident(i64, i64) -> i32`: an LLVM declaration
  /// of the C function (no C-interface wrapper).
  static LLVM::LLVMFuncOp declare(ModuleOp module) {
    if (auto f = module.lookupSymbol<LLVM::LLVMFuncOp>(kIsResident))
      return f;
    OpBuilder b = OpBuilder::atBlockBegin(module.getBody());
    auto i64 = b.getI64Type();
    return LLVM::LLVMFuncOp::create(
        b, module.getLoc(), kIsResident,
        LLVM::LLVMFunctionType::get(b.getI32Type(), {i64, i64}));
  }
};

} // namespace
