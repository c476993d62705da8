//===- HostAliases.h - which host buffers may share memory ------*- C++ -*-===//
//
// A host memref's root is the value its chain of views (subviews, casts,
// reshapes: ViewLikeOpInterface) starts from. A root made by memref.alloc
// or memref.alloca whose views are only ever accessed (loaded, stored,
// copied, freed, measured) and never handed on (to a call, a yield, a
// select, a pointer extraction, a memref result of another op) is private:
// no value with another root shares its memory. Every other root (a
// function or block argument, a call's result, a global) may share memory
// with any other such root, but for block arguments a pass marks private
// (staging's loop-carried buffers, CarriedBuffers.h, within their loop
// body). ssm-gpu-stage-buffers asks this to keep a kernel's result on the
// device until the host may touch it.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_GPU_TRANSFORMS_HOSTALIASES_H
#define SSMC_LIB_GPU_TRANSFORMS_HOSTALIASES_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"

namespace ssmc::gpu_transforms {

class HostAliases {
public:
  /// Decides privacy for every allocation in `scope` now, before passes
  /// hand buffers to ops of their own (staging selects between a buffer and
  /// its device copy).
  explicit HostAliases(mlir::Operation *scope) {
    if (auto f = llvm::dyn_cast<mlir::FunctionOpInterface>(scope))
      if (!f.getFunctionBody().empty())
        entry = &f.getFunctionBody().front();
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
  /// contiguous copy of a strided view), or a root it proved no other
  /// value in its scope can reach (a loop-carried buffer in its loop
  /// body), as private.
  void addPrivate(mlir::Value root) { privateRoots[root] = true; }

  /// Whether `root` is an allocation (or a root marked private) no value
  /// of another root can reach.
  bool isPrivate(mlir::Value root) {
    auto it = privateRoots.find(root);
    return it != privateRoots.end() && it->second;
  }

  /// Whether `v` (or a view of it) is handed on before `point`: by an op
  /// other than `point` and the ops after it in its block.
  static bool escapesBefore(mlir::Value v, mlir::Operation *point) {
    return escapes(v, [&](mlir::Operation *user) {
      mlir::Operation *at = point->getBlock()->findAncestorOpInBlock(*user);
      return at && (at == point || point->isBeforeInBlock(at));
    });
  }

  /// Calls `fn` on every user of `v` and of its views.
  static void forEachUse(mlir::Value v,
                         llvm::function_ref<void(mlir::Operation *)> fn) {
    for (mlir::OpOperand &use : v.getUses()) {
      mlir::Operation *user = use.getOwner();
      fn(user);
      if (auto view = llvm::dyn_cast<mlir::ViewLikeOpInterface>(user))
        if (view.getViewSource() == v)
          for (mlir::Value r : user->getResults())
            if (llvm::isa<mlir::BaseMemRefType>(r.getType()))
              forEachUse(r, fn);
    }
  }

  /// Records `root` (a loop result whose every value is an allocation of
  /// the function) as memory the function allocated.
  void addAllocated(mlir::Value root) { allocatedRoots.insert(root); }

  /// Whether `a` and `b` may name overlapping memory.
  bool mayAlias(mlir::Value a, mlir::Value b) {
    mlir::Value ra = root(a), rb = root(b);
    if (ra == rb)
      return true;
    if ((isAllocated(ra) && isArgument(rb)) ||
        (isAllocated(rb) && isArgument(ra)))
      return false;
    // Two allocations, both live where they are used.
    if (isAllocation(ra) && isAllocation(rb))
      return false;
    return !isPrivate(ra) && !isPrivate(rb);
  }

private:
  static bool isAllocation(mlir::Value root) {
    return root.getDefiningOp<mlir::memref::AllocOp>() ||
           root.getDefiningOp<mlir::memref::AllocaOp>();
  }

  bool isAllocated(mlir::Value root) {
    return isAllocation(root) || allocatedRoots.contains(root);
  }

  /// An argument of the function (its entry block's).
  bool isArgument(mlir::Value root) {
    auto arg = llvm::dyn_cast<mlir::BlockArgument>(root);
    return arg && entry && arg.getOwner() == entry;
  }

  /// Whether some use (but by the ops `ignore` picks) hands `v` (or a
  /// view of it) on to something that could access it under another name.
  static bool
  escapes(mlir::Value v,
          llvm::function_ref<bool(mlir::Operation *)> ignore = nullptr) {
    for (mlir::OpOperand &use : v.getUses()) {
      mlir::Operation *user = use.getOwner();
      if (ignore && ignore(user))
        continue;
      if (auto view = llvm::dyn_cast<mlir::ViewLikeOpInterface>(user)) {
        if (view.getViewSource() == v) {
          if (escapes(view.getViewDest(), ignore))
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
  llvm::DenseSet<mlir::Value> allocatedRoots;
  mlir::Block *entry = nullptr;
};

} // namespace ssmc::gpu_transforms

#endif // SSMC_LIB_GPU_TRANSFORMS_HOSTALIASES_H
