//===- StageBuffers.cpp - the ssm-gpu-stage-buffers pass ------------------===//
//
// Kernels written by convert-ssm-to-gpu name host buffers. After
// bufferization and buffer deallocation (which know nothing of device
// memory), every host memref a gpu.launch uses gets a device copy: gpu.alloc
// and a host-to-device gpu.memcpy before the launch when the kernel reads
// it, a device-to-host gpu.memcpy after it when the kernel writes it, and
// gpu.dealloc, unless the buffer is device-resident memory
// (ssmc::cuda::DeviceTensor; ssm_gpu.is_resident, which becomes a call of
// the runtime's ssmcCudaIsResident): then the kernel uses it in place. Reads and writes are found through the buffer's views and
// the ops' memory effects (LaunchAccess.h); a buffer only written starts
// as uninitialised device memory, which the emulator models by poisoning
// (ssm-gpu-poison-write-only). Barrier markers (ssm_gpu.barrier) become gpu.barrier, and
// workgroup-space allocas in a launch (shared arrays) its workgroup
// attributions, or, where together they exceed the 48 KB of static shared
// memory, views (16-byte aligned) into the launch's dynamic shared memory
// (gpu.dynamic_shared_memory; the launch's dynamic size is their total).
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"
#include "lib/GPU/IR/SSMGPUDialect.h"
#include "lib/GPU/Transforms/LaunchAccess.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "mlir/IR/Builders.h"
#include "mlir/Transforms/RegionUtils.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPUSTAGEBUFFERS
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {
struct StageBuffersPass
    : public ssmc::impl::SSMGPUStageBuffersBase<StageBuffersPass> {
  void runOnOperation() override {
    SmallVector<gpu::LaunchOp> launches;
    getOperation()->walk([&](gpu::LaunchOp l) { launches.push_back(l); });
    for (gpu::LaunchOp launch : launches) {
      stage(launch);
      sharedToAttributions(launch);
    }
    SmallVector<ssm_gpu::BarrierOp> barriers;
    getOperation()->walk([&](ssm_gpu::BarrierOp b) { barriers.push_back(b); });
    for (ssm_gpu::BarrierOp b : barriers) {
      OpBuilder builder(b);
      gpu::BarrierOp::create(builder, b.getLoc());
      b.erase();
    }
  }

  /// Workgroup-space allocas in the launch body (the kernels' shared
  /// arrays) become workgroup attributions of the launch (static shared
  /// memory) when they fit its 48 KB, and views into the launch's dynamic
  /// shared memory when not.
  static void sharedToAttributions(gpu::LaunchOp launch) {
    SmallVector<memref::AllocaOp> allocas;
    launch.getBody().walk([&](memref::AllocaOp a) {
      if (gpu::GPUDialect::isWorkgroupMemoryAddressSpace(
              a.getType().getMemorySpace()))
        allocas.push_back(a);
    });
    DataLayout layout = DataLayout::closest(launch);
    int64_t bytes = 0;
    bool allStatic = true;
    for (memref::AllocaOp a : allocas) {
      allStatic &= a.getType().hasStaticShape() &&
                   a.getType().getLayout().isIdentity();
      bytes += arrayBytes(layout, a.getType());
    }
    if (allStatic && bytes > kStaticSharedBytes) {
      sharedToDynamic(launch, allocas, layout);
      return;
    }
    for (memref::AllocaOp a : allocas) {
      BlockArgument arg = launch.addWorkgroupAttribution(a.getType(), a.getLoc());
      a.getResult().replaceAllUsesWith(arg);
      a.erase();
    }
  }

  /// Static shared memory a kernel may declare (ptxas' limit).
  static constexpr int64_t kStaticSharedBytes = 48 * 1024;
  /// Alignment of each array in dynamic shared memory.
  static constexpr int64_t kDynamicArrayAlign = 16;

  static int64_t arrayBytes(DataLayout &layout, MemRefType t) {
    if (!t.hasStaticShape())
      return 0;
    return t.getNumElements() *
           int64_t(layout.getTypeSize(t.getElementType()).getFixedValue());
  }

  /// The shared arrays as views of one gpu.dynamic_shared_memory buffer,
  /// each at an offset aligned to kDynamicArrayAlign, and the launch's
  /// dynamic shared-memory size their total (the runtime opts in to it
  /// above 48 KB; the card's limit was the kernel's budget at rewrite).
  static void sharedToDynamic(gpu::LaunchOp launch,
                              ArrayRef<memref::AllocaOp> allocas,
                              DataLayout &layout) {
    Location loc = launch.getLoc();
    MLIRContext *ctx = launch.getContext();
    OpBuilder b(launch.getContext());
    b.setInsertionPointToStart(&launch.getBody().front());
    auto bytesTy = MemRefType::get(
        {ShapedType::kDynamic}, IntegerType::get(ctx, 8), AffineMap(),
        gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
    auto raw = gpu::DynamicSharedMemoryOp::create(b, loc, bytesTy);
    int64_t offset = 0;
    for (memref::AllocaOp a : allocas) {
      Value at = arith::ConstantIndexOp::create(b, a.getLoc(), offset);
      Value view = memref::ViewOp::create(b, a.getLoc(), a.getType(), raw, at,
                                          ValueRange{});
      offset += llvm::alignTo(arrayBytes(layout, a.getType()),
                              kDynamicArrayAlign);
      a.getResult().replaceAllUsesWith(view);
    }
    // Erased only now: the insertion point may be before the first alloca.
    b.setInsertionPoint(launch);
    for (memref::AllocaOp a : allocas)
      a.erase();
    Value size = arith::ConstantIntOp::create(b, loc, b.getI32Type(), offset);
    launch.getDynamicSharedMemorySizeMutable().assign(size);
  }

  /// One host buffer a launch uses, and what staging made of it.
  struct Staged {
    Value host;
    bool reads, writes;
    SmallVector<Value> dynamicSizes;
    Value contiguous; ///< `host`, or a contiguous host copy of a strided view
    Value resident;   ///< i1: the buffer is device-resident memory
    Value elements;   ///< its number of elements
  };

  void stage(gpu::LaunchOp launch) {
    Location loc = launch.getLoc();
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(launch.getBody(), captured);
    OpBuilder b(launch);
    DataLayout layout = DataLayout::closest(launch);
    Value zero = arith::ConstantIndexOp::create(b, loc, 0);
    Value one = arith::ConstantIndexOp::create(b, loc, 1);
    // First every buffer's residency query (host calls, before the first
    // gpu op of the launch, so they do not split its stream of copies).
    SmallVector<Staged> buffers;
    for (Value host : captured) {
      auto mt = dyn_cast<MemRefType>(host.getType());
      if (!mt)
        continue;
      ssmc::gpu_transforms::BufferAccess access =
          ssmc::gpu_transforms::launchAccess(launch, host);
      Staged s{host, access.reads, access.writes, {}, host, {}, {}};
      s.elements = one;
      for (int64_t i = 0; i < mt.getRank(); ++i) {
        Value size = mt.isDynamicDim(i)
                         ? Value(memref::DimOp::create(b, loc, host, i))
                         : Value(arith::ConstantIndexOp::create(
                               b, loc, mt.getDimSize(i)));
        if (mt.isDynamicDim(i))
          s.dynamicSizes.push_back(size);
        s.elements = arith::MulIOp::create(b, loc, s.elements, size);
      }
      // A strided view (a slice of a KV cache, say) goes through a
      // contiguous host copy: gpu.memcpy moves contiguous buffers.
      auto devTy = MemRefType::get(mt.getShape(), mt.getElementType());
      if (!mt.getLayout().isIdentity()) {
        s.contiguous = memref::AllocOp::create(b, loc, devTy, s.dynamicSizes);
        if (s.reads)
          memref::CopyOp::create(b, loc, host, s.contiguous);
      }
      s.resident =
          ssm_gpu::IsResidentOp::create(b, loc, b.getI1Type(), s.contiguous);
      buffers.push_back(std::move(s));
    }
    // Then the device copies: a resident buffer is used in place (a
    // 0-byte allocation and 0-element copies), any other gets gpu.alloc,
    // a copy in when the kernel reads it and a copy back when it writes it.
    for (Staged &s : buffers) {
      auto mt = cast<MemRefType>(s.host.getType());
      auto devTy = MemRefType::get(mt.getShape(), mt.getElementType());
      auto flatTy =
          MemRefType::get({ShapedType::kDynamic}, mt.getElementType());
      int64_t elementBytes =
          layout.getTypeSize(mt.getElementType()).getFixedValue();
      b.setInsertionPoint(launch);
      Value count = arith::SelectOp::create(b, loc, s.resident, zero, s.elements);
      Value allocBytes = arith::MulIOp::create(
          b, loc, count, arith::ConstantIndexOp::create(b, loc, elementBytes));
      Value raw =
          gpu::AllocOp::create(b, loc,
                               MemRefType::get({ShapedType::kDynamic},
                                               b.getI8Type()),
                               Type(), ValueRange{}, ValueRange{allocBytes},
                               ValueRange{})
              .getMemref();
      Value fresh = memref::ViewOp::create(b, loc, devTy, raw, zero, s.dynamicSizes);
      Value dev = arith::SelectOp::create(b, loc, s.resident, s.contiguous, fresh);
      auto flat = [&](Value m) -> Value {
        return memref::ReinterpretCastOp::create(
            b, loc, flatTy, m, OpFoldResult(b.getIndexAttr(0)),
            ArrayRef<OpFoldResult>{count},
            ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
      };
      if (s.reads)
        gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{}, flat(fresh),
                              flat(s.contiguous));
      replaceAllUsesInRegionWith(s.host, dev, launch.getBody());
      b.setInsertionPointAfter(launch);
      if (s.writes)
        gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{},
                              flat(s.contiguous), flat(fresh));
      gpu::DeallocOp::create(b, loc, TypeRange{}, ValueRange{}, raw);
      if (s.contiguous != s.host) {
        if (s.writes)
          memref::CopyOp::create(b, loc, s.contiguous, s.host);
        memref::DeallocOp::create(b, loc, s.contiguous);
      }
    }
  }
};
} // namespace
