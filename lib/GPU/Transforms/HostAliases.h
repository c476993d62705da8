//===- HostAliases.h - which host buffers may share memory ------*- C++ -*-===//
//
// A host memref's root is the value its chain of views (subviews, casts,
// reshapes: ViewLikeOpInterface) starts from. A root made by memref.alloc
// or memref.alloca whose views are only ever accessed (loaded, stored,
// copied, freed, measured) and never handed on (to a call, a yield, a
// select, a pointer extraction, a memref result of another op) is private:
// no value with another root shares its memory. Every other root (a
// function or block argument, a call's result, a global) may share memory
// with any other such root. ssm-gpu-stage-buffers asks this to keep a
// kernel's result on the device until the host may touch it.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_GPU_TRANSFORMS_HOSTALIASES_H
#define SSMC_LIB_GPU_TRANSFORMS_HOSTALIASES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "llvm/ADT/DenseMap.h"

namespace ssmc::gpu_transforms {

class HostAliases {
public:
  /// Decides privacy for every allocation in `scope` now, before passes
  /// hand buffers to ops of their own (staging selects between a buffer and
  /// its device copy).
  explicit HostAliases(mlir::Operation *scope) {
    scope->walk([&](mlir::Operation *op) {
      if (llvm::isa<mlir::memref::AllocOp, mlir::memref::AllocaOp>(op))
        privateRoots[op->getResult(0)] = !escapes(op->getResult(0));
    });
  }

  /// The value `v`'s chain of views starts from.
  static mlir::Value root(mlir::Value v) {
    while (mlir::Operation *def = v.getDefiningOp()) {
      auto view = llvm::dyn_cast<mlir::ViewLikeOpInterface>(def);
      if (!view || view.getViewDest() != v)
        break;
      v = view.getViewSource();
    }
    return v;
  }

  /// Records an allocation a pass made whose uses it controls (staging's
  /// contiguous copy of a strided view) as private.
  void addPrivate(mlir::Value alloc) { privateRoots[alloc] = true; }

  /// Whether `root` is an allocation no value of another root can reach.
  bool isPrivate(mlir::Value root) {
    if (!root.getDefiningOp<mlir::memref::AllocOp>() &&
        !root.getDefiningOp<mlir::memref::AllocaOp>())
      return false;
    auto it = privateRoots.find(root);
    return it != privateRoots.end() && it->second;
  }

  /// Whether `a` and `b` may name overlapping memory.
  bool mayAlias(mlir::Value a, mlir::Value b) {
    mlir::Value ra = root(a), rb = root(b);
    if (ra == rb)
      return true;
    return !isPrivate(ra) && !isPrivate(rb);
  }

private:
  /// Whether some use hands `v` (or a view of it) on to something that
  /// could access it under another name.
  static bool escapes(mlir::Value v) {
    for (mlir::OpOperand &use : v.getUses()) {
      mlir::Operation *user = use.getOwner();
      if (auto view = llvm::dyn_cast<mlir::ViewLikeOpInterface>(user)) {
        if (view.getViewSource() == v) {
          if (escapes(view.getViewDest()))
            return true;
          continue;
        }
      }
      // Leaving the function: the caller gets it after the last host wait.
      if (llvm::isa<mlir::func::ReturnOp>(user))
        continue;
      if (llvm::isa<mlir::memref::ExtractAlignedPointerAsIndexOp>(user) ||
          user->hasTrait<mlir::OpTrait::IsTerminator>() ||
          !llvm::isa<mlir::MemoryEffectOpInterface>(user))
        return true;
      if (auto store = llvm::dyn_cast<mlir::memref::StoreOp>(user))
        if (store.getValueToStore() == v)
          return true;
      for (mlir::Type t : user->getResultTypes())
        if (!t.isIntOrIndexOrFloat() && !llvm::isa<mlir::VectorType>(t))
          return true;
    }
    return false;
  }

  llvm::DenseMap<mlir::Value, bool> privateRoots;
};

} // namespace ssmc::gpu_transforms

#endif // SSMC_LIB_GPU_TRANSFORMS_HOSTALIASES_H
