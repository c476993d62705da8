//===- CarriedBuffers.h - loop-carried buffers only kernels use -*- C++ -*-===//
//
// Which memref iter args of an scf.for ssm-gpu-stage-buffers may keep on
// the device across the iterations: those whose value, in every iteration,
// only the kernels of the loop body read and write. The rule is
// conservative and checked on the IR alone:
//  - the iter arg's type has the identity layout (gpu.memcpy moves
//    contiguous buffers), and its init is a memref.alloc that is an
//    operand of the loop once, that nothing inside the loop names, and that
//    is not handed on (HostAliases' escape rule) before the loop;
//  - the body's block argument and the value the body yields for it are
//    used, through views (subviews, reshapes, casts, strided metadata),
//    only by ops inside gpu.launch ops of the body's own block, by
//    memref.dealloc (the host frees them: no access), and by the body's
//    yield at the iter arg's position, once;
//  - the yielded value is that block argument (updated in place) or a
//    memref.alloc of the body's block (a fresh buffer each iteration).
// So no host op of the body touches the buffer, and no other value the
// body names shares its memory: the body's stager may treat the block
// argument and the yielded buffer as private allocations.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_GPU_TRANSFORMS_CARRIEDBUFFERS_H
#define SSMC_LIB_GPU_TRANSFORMS_CARRIEDBUFFERS_H

#include "lib/GPU/Transforms/HostAliases.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace ssmc::gpu_transforms {

namespace detail {
/// Whether every use of `v` (through views) in `body` is an op inside a
/// gpu.launch of `body`'s block, a memref.dealloc, or (for `v` itself,
/// not a view of it) the terminator's operand `index`, whose uses are
/// counted in `yields`.
inline bool onlyKernelUses(mlir::Value v, mlir::Block &body, unsigned index,
                           bool isView, unsigned &yields) {
  for (mlir::OpOperand &use : v.getUses()) {
    mlir::Operation *user = use.getOwner();
    if (user == body.getTerminator()) {
      if (isView || use.getOperandNumber() != index)
        return false;
      ++yields;
      continue;
    }
    if (llvm::isa<mlir::memref::DeallocOp>(user))
      continue;
    if (auto view = llvm::dyn_cast<mlir::ViewLikeOpInterface>(user)) {
      if (view.getViewSource() == v) {
        for (mlir::Value r : user->getResults())
          if (llvm::isa<mlir::BaseMemRefType>(r.getType()) &&
              !onlyKernelUses(r, body, index, /*isView=*/true, yields))
            return false;
        continue;
      }
    }
    auto launch = user->getParentOfType<mlir::gpu::LaunchOp>();
    if (!launch || launch->getBlock() != &body)
      return false;
  }
  return true;
}
} // namespace detail

/// The positions of `loop`'s iter args that only the body's kernels use
/// (the rule above).
inline llvm::SmallVector<unsigned> kernelCarriedIterArgs(mlir::scf::ForOp loop,
                                                         HostAliases &aliases) {
  llvm::SmallVector<unsigned> carried;
  mlir::Block &body = *loop.getBody();
  auto yield = llvm::cast<mlir::scf::YieldOp>(body.getTerminator());
  for (auto [i, init] : llvm::enumerate(loop.getInitArgs())) {
    auto type = llvm::dyn_cast<mlir::MemRefType>(init.getType());
    if (!type || !type.getLayout().isIdentity() || type.getMemorySpace())
      continue;
    auto alloc = init.getDefiningOp<mlir::memref::AllocOp>();
    if (!alloc || llvm::count(loop.getInitArgs(), init) != 1 ||
        aliases.escapesBefore(init, loop))
      continue;
    // Nothing inside the loop names the init (its first iteration's value).
    bool namedInside = false;
    HostAliases::forEachUse(init, [&](mlir::Operation *user) {
      namedInside |= user != loop.getOperation() && loop->isAncestor(user);
    });
    if (namedInside)
      continue;
    mlir::BlockArgument arg = loop.getRegionIterArgs()[i];
    mlir::Value yielded = yield.getOperand(i);
    unsigned argYields = 0, freshYields = 0;
    if (!detail::onlyKernelUses(arg, body, i, /*isView=*/false, argYields))
      continue;
    if (yielded == arg) {
      if (argYields == 1)
        carried.push_back(i);
      continue;
    }
    auto fresh = yielded.getDefiningOp<mlir::memref::AllocOp>();
    if (argYields == 0 && fresh && fresh->getBlock() == &body &&
        detail::onlyKernelUses(yielded, body, i, /*isView=*/false,
                               freshYields) &&
        freshYields == 1)
      carried.push_back(i);
  }
  return carried;
}

} // namespace ssmc::gpu_transforms

#endif // SSMC_LIB_GPU_TRANSFORMS_CARRIEDBUFFERS_H
