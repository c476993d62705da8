//===- StageBuffers.cpp - the ssm-gpu-stage-buffers pass ------------------===//
//
// Kernels written by convert-ssm-to-gpu name host buffers. After
// bufferization and buffer deallocation (which know nothing of device
// memory), every host memref a gpu.launch uses gets a device copy: gpu.alloc
// and a host-to-device gpu.memcpy before the launch when the kernel reads
// it, a device-to-host gpu.memcpy after it when the kernel writes it, and
// gpu.dealloc. Reads and writes are found through the buffer's views and
// the ops' memory effects (LaunchAccess.h); a buffer only written starts
// as uninitialised device memory, which the emulator models by poisoning
// (ssm-gpu-poison-write-only). Barrier markers (ssm_gpu.barrier) become gpu.barrier, and
// workgroup-space allocas in a launch (shared arrays) its workgroup
// attributions.
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"
#include "lib/GPU/IR/SSMGPUDialect.h"
#include "lib/GPU/Transforms/LaunchAccess.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
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
  /// arrays) become workgroup attributions of the launch.
  static void sharedToAttributions(gpu::LaunchOp launch) {
    SmallVector<memref::AllocaOp> allocas;
    launch.getBody().walk([&](memref::AllocaOp a) {
      if (gpu::GPUDialect::isWorkgroupMemoryAddressSpace(
              a.getType().getMemorySpace()))
        allocas.push_back(a);
    });
    for (memref::AllocaOp a : allocas) {
      BlockArgument arg = launch.addWorkgroupAttribution(a.getType(), a.getLoc());
      a.getResult().replaceAllUsesWith(arg);
      a.erase();
    }
  }

  void stage(gpu::LaunchOp launch) {
    Location loc = launch.getLoc();
    llvm::SetVector<Value> captured;
    getUsedValuesDefinedAbove(launch.getBody(), captured);
    OpBuilder b(launch);
    for (Value host : captured) {
      auto mt = dyn_cast<MemRefType>(host.getType());
      if (!mt)
        continue;
      ssmc::gpu_transforms::BufferAccess access =
          ssmc::gpu_transforms::launchAccess(launch, host);
      bool reads = access.reads, writes = access.writes;
      b.setInsertionPoint(launch);
      SmallVector<Value> dyn;
      for (int64_t i = 0; i < mt.getRank(); ++i)
        if (mt.isDynamicDim(i))
          dyn.push_back(memref::DimOp::create(b, loc, host, i));
      auto devTy = MemRefType::get(mt.getShape(), mt.getElementType());
      // A strided view (a slice of a KV cache, say) goes through a
      // contiguous host copy: gpu.memcpy moves contiguous buffers.
      Value contiguous = host;
      if (!mt.getLayout().isIdentity()) {
        contiguous = memref::AllocOp::create(b, loc, devTy, dyn);
        if (reads)
          memref::CopyOp::create(b, loc, host, contiguous);
      }
      Value dev = gpu::AllocOp::create(b, loc, devTy, Type(), ValueRange{},
                                       dyn, ValueRange{})
                      .getMemref();
      if (reads)
        gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{}, dev,
                              contiguous);
      replaceAllUsesInRegionWith(host, dev, launch.getBody());
      b.setInsertionPointAfter(launch);
      if (writes)
        gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{}, contiguous,
                              dev);
      gpu::DeallocOp::create(b, loc, TypeRange{}, ValueRange{}, dev);
      if (contiguous != host) {
        if (writes)
          memref::CopyOp::create(b, loc, contiguous, host);
        memref::DeallocOp::create(b, loc, contiguous);
      }
    }
  }
};
} // namespace
