//===- ReplaceLibdevice.cpp - the ssm-gpu-replace-libdevice pass ----------===//
//
// convert-gpu-to-nvvm maps math ops to libdevice calls (__nv_fmaf, ...),
// which would need libdevice linked into every kernel module. The ssm
// kernels only use math the NVPTX backend lowers natively once the
// transcendental functions are approximated by polynomials; this pass turns
// those calls back into LLVM intrinsics and reports any other libdevice
// function as an error naming it.
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPUREPLACELIBDEVICE
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {
struct ReplaceLibdevicePass
    : public ssmc::impl::SSMGPUReplaceLibdeviceBase<ReplaceLibdevicePass> {
  void runOnOperation() override {
    SmallVector<LLVM::CallOp> calls;
    getOperation()->walk([&](LLVM::CallOp c) {
      if (auto callee = c.getCallee(); callee && callee->starts_with("__nv_"))
        calls.push_back(c);
    });
    for (LLVM::CallOp call : calls) {
      OpBuilder b(call);
      StringRef name = *call.getCallee();
      Location loc = call.getLoc();
      ValueRange args = call.getArgOperands();
      Value r;
      if (name == "__nv_fmaf" || name == "__nv_fma")
        r = LLVM::FMAOp::create(b, loc, args[0], args[1], args[2]);
      else if (name == "__nv_fabsf" || name == "__nv_fabs")
        r = LLVM::FAbsOp::create(b, loc, args[0]);
      else if (name == "__nv_floorf" || name == "__nv_floor")
        r = LLVM::FFloorOp::create(b, loc, args[0]);
      else if (name == "__nv_ceilf" || name == "__nv_ceil")
        r = LLVM::FCeilOp::create(b, loc, args[0]);
      else if (name == "__nv_fminf" || name == "__nv_fmin")
        r = LLVM::MinNumOp::create(b, loc, args[0], args[1]);
      else if (name == "__nv_fmaxf" || name == "__nv_fmax")
        r = LLVM::MaxNumOp::create(b, loc, args[0], args[1]);
      else if (name == "__nv_rintf" || name == "__nv_rint")
        r = LLVM::RoundEvenOp::create(b, loc, args[0]);
      else if (name == "__nv_sqrtf" || name == "__nv_sqrt")
        r = LLVM::SqrtOp::create(b, loc, args[0]);
      if (!r) {
        call.emitError() << "GPU kernel needs libdevice function '" << name
                         << "', which ssmc does not link";
        return signalPassFailure();
      }
      call.getResult().replaceAllUsesWith(r);
      call.erase();
    }
    // Declarations left without callers.
    SmallVector<LLVM::LLVMFuncOp> dead;
    getOperation()->walk([&](LLVM::LLVMFuncOp f) {
      if (f.isExternal() && f.getName().starts_with("__nv_"))
        dead.push_back(f);
    });
    for (LLVM::LLVMFuncOp f : dead)
      if (f.getSymbolUses(getOperation()).value_or(
              SymbolTable::UseRange({})).empty())
        f.erase();
  }
};
} // namespace
