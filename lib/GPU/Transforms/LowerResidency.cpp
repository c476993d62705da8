//===- LowerResidency.cpp - the ssm-gpu-lower-residency pass --------------===//
//
// ssm_gpu.is_resident %buffer becomes a call of the runtime's
// `int32_t ssmcCudaIsResident(int64_t address, int64_t bytes)`
// (runtime/cuda/Residency.h) on the buffer's aligned address and size in
// bytes, compared with zero. Runs after gpu-async-region, which keeps the
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
      auto type = cast<MemRefType>(buffer.getType());
      Value bytes = arith::ConstantIndexOp::create(
          b, loc, layout.getTypeSize(type.getElementType()).getFixedValue());
      for (int64_t d = 0; d < type.getRank(); ++d)
        bytes = arith::MulIOp::create(
            b, loc, bytes,
            type.isDynamicDim(d)
                ? Value(memref::DimOp::create(b, loc, buffer, d))
                : Value(arith::ConstantIndexOp::create(b, loc,
                                                       type.getDimSize(d))));
      Value address =
          memref::ExtractAlignedPointerAsIndexOp::create(b, loc, buffer);
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
