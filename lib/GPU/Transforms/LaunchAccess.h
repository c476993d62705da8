//===- LaunchAccess.h - how a gpu.launch uses a host buffer -----*- C++ -*-===//
//
// Whether the ops inside a gpu.launch read or write a memref captured from
// above, through every alias they make of it (subviews, casts, reshapes:
// ViewLikeOpInterface) and by their declared memory effects, so that a
// vector.store, an atomic, a memref.copy or a store into a subview counts
// as a write. An op that declares no effects (a call, a region op taking
// the buffer) counts as both. Staging (copy in / copy back) and the
// emulator's poisoning of device memory read the same answer.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_GPU_TRANSFORMS_LAUNCHACCESS_H
#define SSMC_LIB_GPU_TRANSFORMS_LAUNCHACCESS_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace ssmc::gpu_transforms {

struct BufferAccess {
  bool reads = false;
  bool writes = false;
};

namespace detail {
inline void accumulateAccess(mlir::Value value, mlir::gpu::LaunchOp launch,
                             BufferAccess &access) {
  for (mlir::OpOperand &use : value.getUses()) {
    mlir::Operation *user = use.getOwner();
    if (!launch->isProperAncestor(user))
      continue;
    if (auto view = llvm::dyn_cast<mlir::ViewLikeOpInterface>(user)) {
      if (view.getViewSource() == value) {
        for (mlir::Value alias : user->getResults())
          accumulateAccess(alias, launch, access);
        continue;
      }
    }
    auto effects = llvm::dyn_cast<mlir::MemoryEffectOpInterface>(user);
    if (!effects) {
      access.reads = access.writes = true;
      continue;
    }
    llvm::SmallVector<mlir::MemoryEffects::EffectInstance> list;
    effects.getEffectsOnValue(value, list);
    for (const mlir::MemoryEffects::EffectInstance &e : list) {
      if (llvm::isa<mlir::MemoryEffects::Read>(e.getEffect()))
        access.reads = true;
      else if (llvm::isa<mlir::MemoryEffects::Write>(e.getEffect()))
        access.writes = true;
    }
  }
}
} // namespace detail

/// How the body of `launch` accesses `buffer` (a memref defined above it).
inline BufferAccess launchAccess(mlir::gpu::LaunchOp launch,
                                 mlir::Value buffer) {
  BufferAccess access;
  detail::accumulateAccess(buffer, launch, access);
  return access;
}

} // namespace ssmc::gpu_transforms

#endif // SSMC_LIB_GPU_TRANSFORMS_LAUNCHACCESS_H
