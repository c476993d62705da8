//===- ExternDynamicShared.cpp - ssm-gpu-extern-dynamic-shared ------------===//
//
// convert-gpu-to-nvvm lowers gpu.dynamic_shared_memory to the address of an
// internal zero-sized global in address space 3. The NVPTX backend demotes
// an internal global used by one kernel into that kernel as a static
// `.shared` variable, here of one byte (ptxas: "1 bytes smem"), so the
// kernel's views of dynamic shared memory would index past it. As a
// declaration (external linkage) the global is printed as
// `.extern .shared .align 16 .b8 name[]`: the launch's dynamic window.
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPUEXTERNDYNAMICSHARED
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

constexpr unsigned kSharedAddressSpace = 3;

struct ExternDynamicSharedPass
    : public ssmc::impl::SSMGPUExternDynamicSharedBase<
          ExternDynamicSharedPass> {
  void runOnOperation() override {
    getOperation()->walk([](LLVM::GlobalOp global) {
      auto array = dyn_cast<LLVM::LLVMArrayType>(global.getGlobalType());
      if (global.getAddrSpace() != kSharedAddressSpace || !array ||
          array.getNumElements() != 0 || !global.getInitializerRegion().empty() ||
          global.getValueAttr())
        return;
      global.setLinkage(LLVM::Linkage::External);
    });
  }
};

} // namespace
