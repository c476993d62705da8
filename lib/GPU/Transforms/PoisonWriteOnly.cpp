//===- PoisonWriteOnly.cpp - the ssm-gpu-poison-write-only pass -----------===//
//
// On a GPU, a buffer a kernel only writes is staged without a copy in
// (ssm-gpu-stage-buffers): the kernel starts from uninitialised device
// memory and the whole buffer is copied back, so an element the kernel
// forgets to write returns garbage. The emulator runs kernels on the host
// buffers themselves, where such an element keeps whatever the host had
// (often zeros) and the defect stays hidden. This pass, run before
// ssm-gpu-emulate, fills every buffer a launch writes and does not read
// with a poison pattern (quiet NaN for floats, 0xA5 bytes for integers)
// just before the launch, so a missed write shows up in the results.
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"
#include "lib/GPU/Transforms/LaunchAccess.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/Transforms/RegionUtils.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPUPOISONWRITEONLY
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

/// The poison value of `type`, or null for element types not poisoned.
Value poisonValue(OpBuilder &b, Location loc, Type type) {
  if (auto ft = dyn_cast<FloatType>(type))
    return arith::ConstantOp::create(
        b, loc, b.getFloatAttr(ft, APFloat::getQNaN(ft.getFloatSemantics())));
  if (auto it = dyn_cast<IntegerType>(type)) {
    APInt bits = APInt::getSplat(it.getWidth(), APInt(8, 0xA5));
    if (it.getWidth() < 8)
      bits = APInt::getAllOnes(it.getWidth());
    return arith::ConstantOp::create(b, loc, b.getIntegerAttr(it, bits));
  }
  return nullptr;
}

/// Stores `value` into every element of `buffer` with a loop nest.
void fill(OpBuilder &b, Location loc, Value buffer, Value value) {
  auto type = cast<MemRefType>(buffer.getType());
  Value zero = arith::ConstantIndexOp::create(b, loc, 0);
  Value one = arith::ConstantIndexOp::create(b, loc, 1);
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    sizes.push_back(
        type.isDynamicDim(d)
            ? Value(memref::DimOp::create(b, loc, buffer, d))
            : Value(arith::ConstantIndexOp::create(b, loc, type.getDimSize(d))));
  SmallVector<Value> ivs;
  OpBuilder::InsertionGuard guard(b);
  for (Value size : sizes) {
    auto loop = scf::ForOp::create(b, loc, zero, size, one);
    ivs.push_back(loop.getInductionVar());
    b.setInsertionPointToStart(loop.getBody());
  }
  memref::StoreOp::create(b, loc, value, buffer, ivs);
}

struct PoisonWriteOnlyPass
    : public ssmc::impl::SSMGPUPoisonWriteOnlyBase<PoisonWriteOnlyPass> {
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation()->walk([&](gpu::LaunchOp l) { launches.push_back(l); });
    for (gpu::LaunchOp launch : launches) {
      llvm::SetVector<Value> captured;
      getUsedValuesDefinedAbove(launch.getBody(), captured);
      OpBuilder b(launch);
      for (Value buffer : captured) {
        auto type = dyn_cast<MemRefType>(buffer.getType());
        if (!type || type.getMemorySpace())
          continue; // device-side (workgroup, private) memory
        ssmc::gpu_transforms::BufferAccess access =
            ssmc::gpu_transforms::launchAccess(launch, buffer);
        if (!access.writes || access.reads)
          continue;
        if (Value poison = poisonValue(b, launch.getLoc(), type.getElementType()))
          fill(b, launch.getLoc(), buffer, poison);
      }
    }
  }
};

} // namespace
