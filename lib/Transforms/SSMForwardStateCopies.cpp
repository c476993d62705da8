//===- SSMForwardStateCopies.cpp - final states written where h0 lies -----===//
//
// A decoder's layer loop reads each layer's state as a slice of the lent
// state tensor and inserts the op's final state back into that slice:
// after bufferization the kernel writes a fresh buffer and a memref.copy
// moves it into the slice, three extra passes over the state per token
// (786 KB per Mamba-2 130M layer). A kernel marked ssm.in_place_final_state
// reads each element of h0 before writing the same element of the final
// state, so it can store into the h0 view itself; this pass does that when
// nothing else can tell the difference (see Passes.td). The SSD,
// selective_scan and causal_conv1d lowerings mark their kernels.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Transforms/Passes.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

#define DEBUG_TYPE "ssm-forward-state-copies"

namespace ssmc {
#define GEN_PASS_DEF_SSMFORWARDSTATECOPIES
#include "ssmc/Transforms/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {
constexpr llvm::StringLiteral kInPlace = "ssm.in_place_final_state";

/// The buffer `v` is a view of: through view-like ops to an allocation or
/// a block argument.
Value rootOf(Value v) {
  while (auto view = v.getDefiningOp<ViewLikeOpInterface>())
    v = view.getViewSource();
  return v;
}

/// Two subviews of the same source at the same offsets, sizes and strides.
bool sameView(Value a, Value b) {
  while (auto c = a.getDefiningOp<memref::CastOp>())
    a = c.getSource();
  while (auto c = b.getDefiningOp<memref::CastOp>())
    b = c.getSource();
  if (a == b)
    return true;
  auto sa = a.getDefiningOp<memref::SubViewOp>();
  auto sb = b.getDefiningOp<memref::SubViewOp>();
  return sa && sb && sa.getSource() == sb.getSource() &&
         sa.getType() == sb.getType() &&
         sa.getMixedOffsets() == sb.getMixedOffsets() &&
         sa.getMixedSizes() == sb.getMixedSizes() &&
         sa.getMixedStrides() == sb.getMixedStrides();
}

/// Calls `fn` on every value `op` and the ops nested in it read or write;
/// false when some effect is unknown (then nothing may be assumed).
bool forEachAccess(Operation *op,
                   llvm::function_ref<bool(Operation *, Value)> fn) {
  WalkResult r = op->walk([&](Operation *o) {
    auto iface = dyn_cast<MemoryEffectOpInterface>(o);
    if (!iface) {
      if (o->hasTrait<OpTrait::HasRecursiveMemoryEffects>() ||
          isa<ViewLikeOpInterface>(o))
        return WalkResult::advance();
      return WalkResult::interrupt();
    }
    SmallVector<MemoryEffects::EffectInstance> effects;
    iface.getEffects(effects);
    for (auto &e : effects) {
      if (isa<MemoryEffects::Allocate, MemoryEffects::Free>(e.getEffect()))
        continue;
      Value v = e.getValue();
      if (!v)
        return WalkResult::interrupt();
      if (!fn(o, v))
        return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return !r.wasInterrupted();
}

/// The memref operand a store writes through, if `op` is a plain store.
Value storedBase(Operation *op) {
  if (auto s = dyn_cast<memref::StoreOp>(op))
    return s.getMemRef();
  if (auto s = dyn_cast<vector::StoreOp>(op))
    return s.getBase();
  if (auto s = dyn_cast<vector::MaskedStoreOp>(op))
    return s.getBase();
  if (auto s = dyn_cast<vector::ScatterOp>(op))
    return s.getBase();
  return {};
}

/// The nearest ancestor of `op` (or `op`) marked in place.
Operation *markedAncestor(Operation *op) {
  while (op && !op->hasAttr(kInPlace))
    op = op->getParentOp();
  return op;
}

/// Forwards `copy`'s source into the h0 view when every condition holds.
bool forward(memref::CopyOp copy) {
  Value fresh = copy.getSource(), dst = copy.getTarget();
  auto alloc = fresh.getDefiningOp<memref::AllocOp>();
  if (!alloc || alloc->getBlock() != copy->getBlock())
    return false;
  Block *block = copy->getBlock();
  // Every other use is a store into the buffer inside one marked kernel
  // that precedes the copy in its block.
  Operation *kernel = nullptr;
  for (OpOperand &use : fresh.getUses()) {
    Operation *user = use.getOwner();
    if (user == copy)
      continue;
    if (storedBase(user) != fresh)
      return false;
    Operation *marked = markedAncestor(user);
    if (!marked)
      return false;
    Operation *top = block->findAncestorOpInBlock(*marked);
    if (!top || (kernel && kernel != top))
      return false;
    kernel = top;
  }
  if (!kernel || !kernel->isBeforeInBlock(copy))
    return false;
  // The kernel reaches the target's memory only through one view equal to
  // the target and defined before it: its h0.
  Value root = rootOf(dst), h0;
  bool ok = forEachAccess(kernel, [&](Operation *o, Value v) {
    if (v == fresh || rootOf(v) != root)
      return true;
    if (!markedAncestor(o))
      return false;
    Value view = v;
    if (!sameView(view, dst) || kernel->isAncestor(view.getParentRegion()->getParentOp()))
      return false;
    if (h0 && h0 != view)
      return false;
    h0 = view;
    return true;
  });
  if (!ok || !h0)
    return false;
  if (Operation *def = h0.getDefiningOp())
    if (def->getBlock() == block && !def->isBeforeInBlock(kernel))
      return false;
  // Nothing between the kernel and the copy reads or writes that memory.
  for (Operation *op = kernel->getNextNode(); op != copy;
       op = op->getNextNode()) {
    if (isa<ViewLikeOpInterface>(op))
      continue;
    if (!forEachAccess(op, [&](Operation *, Value v) {
          return v != fresh && rootOf(v) != root;
        }))
      return false;
  }
  // Every use left is a store's base operand, which takes any layout.
  for (OpOperand &use : llvm::make_early_inc_range(fresh.getUses()))
    if (use.getOwner() != copy)
      use.set(h0);
  copy->erase();
  alloc->erase();
  return true;
}

struct SSMForwardStateCopiesPass
    : public ssmc::impl::SSMForwardStateCopiesBase<SSMForwardStateCopiesPass> {
  void runOnOperation() override {
    SmallVector<memref::CopyOp> copies;
    getOperation()->walk([&](memref::CopyOp c) { copies.push_back(c); });
    for (memref::CopyOp c : copies)
      (void)forward(c);
  }
};
} // namespace
