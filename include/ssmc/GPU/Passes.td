//===- Passes.td - ssmc passes: GPU-pipeline passes on kernels after the ---===//
//
// The GPU-pipeline passes on kernels after the conversion (lib/GPU/Transforms).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_GPU_PASSES_TD
#define SSMC_GPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def SSMGPUStageBuffers : Pass<"ssm-gpu-stage-buffers", "::mlir::ModuleOp"> {
  let summary = "Give every gpu.launch device copies of the host buffers it uses";
  let description = [{
    After bufferization, each host memref a `gpu.launch` uses is replaced in
    the kernel by a `gpu.alloc` buffer, filled by a host-to-device
    `gpu.memcpy` when the kernel reads it and copied back after the launch
    when the kernel writes it, then freed with `gpu.dealloc`. Reads and
    writes are found through views and memory effects. A buffer that is
    device-resident memory (`ssm_gpu.is_resident`, answered at run time by
    the runtime after ssm-gpu-lower-residency) is used in place: its
    allocation and copies get zero bytes. A strided view (a slice at a
    dynamic offset) is asked about itself: resident when the span it
    covers lies in one resident allocation, then the kernel uses it in
    place; otherwise it goes through a contiguous host copy, made under an
    `scf.if` so that a resident view is never copied. Device copies are kept for the
    later launches of the same block (also through subviews, reshapes and
    casts of the buffer) and copied back only before a host op that may
    access the buffer, or before the block's terminator; a buffer the host
    frees is not copied back. An `scf.for` iter arg that only the loop
    body's kernels use keeps its device copy across the iterations (the
    loop carries the device buffer too); a host `memref.copy` between
    allocations whose source has a kept device copy is made on the device.
    Host ops that touch no host memory the
    pending GPU ops before them use move above those GPU ops, host
    allocations and frees out of the runs of GPU ops, and device frees up
    to the GPU op before them, so that gpu-async-region does not end a run
    at them nor start one after a block's last host op.

    ```mlir
    // before: %t written by one kernel, read by the next
    gpu.launch ... { memref.store %v, %t[%i] ... }
    gpu.launch ... { %w = memref.load %t[%i] ... }
    memref.dealloc %t
    // after: one device buffer, no copy of %t either way
    %raw = gpu.alloc(%bytes) : memref<?xi8>
    %dev = arith.select %resident, %t, %view
    gpu.launch ... { memref.store %v, %dev[%i] ... }
    gpu.launch ... { %w = memref.load %dev[%i] ... }
    gpu.dealloc %raw
    memref.dealloc %t
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
                           "::mlir::ssm_gpu::SSMGPUDialect"];
}

def SSMGPULowerResidency : Pass<"ssm-gpu-lower-residency", "::mlir::ModuleOp"> {
  let summary = "Turn ssm_gpu.is_resident into calls of the CUDA runtime";
  let description = [{
    After gpu-async-region: each `ssm_gpu.is_resident %buffer` becomes
    `ssmcCudaIsResident(address, bytes) != 0`, a call of the runtime
    declared as an `llvm.func`: the address of the buffer's first element
    (aligned pointer + offset) and the bytes of the span it covers
    ((sum over dims of (size - 1) * stride + 1) * element bytes, 0 when a
    size is 0), so that a strided view is asked about exactly the memory
    it may touch.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def SSMGPUEmulate : Pass<"ssm-gpu-emulate", "::mlir::ModuleOp"> {
  let summary = "Run gpu.launch kernels on the host CPU with thread-block semantics";
  let description = [{
    In place of ssm-gpu-stage-buffers (after bufferization): every
    `gpu.launch` becomes a sequential loop over its grid's blocks, each
    block an `omp.parallel` region of blockDim OpenMP threads (one per GPU
    thread, index from omp_get_thread_num), shared memory a host buffer per
    block, private memory the thread's stack, and barriers `omp.barrier`.
    The GPU kernels' numerical tests run through it where no GPU is present
    (`Target::GPUEmulator`, `ssmc-run --target gpu-emulator`). Warp-level
    behaviour, timing and the NVPTX backend are not modelled.
  }];
  let dependentDialects = ["::mlir::omp::OpenMPDialect", "::mlir::LLVM::LLVMDialect",
                           "::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def SSMGPUPoisonWriteOnly : Pass<"ssm-gpu-poison-write-only"> {
  let summary = "Fill the buffers a gpu.launch only writes with a poison pattern";
  let description = [{
    Run before ssm-gpu-emulate. On a GPU a buffer that a kernel writes and
    does not read is staged without a copy in, so the kernel starts from
    uninitialised device memory and an element it forgets to write comes
    back as garbage. The emulator works on the host buffers, where such an
    element would keep the host's value and hide the defect: this pass
    fills each such buffer (reads and writes found through views and memory
    effects, as ssm-gpu-stage-buffers finds them) with quiet NaN (floats)
    or 0xA5 bytes (integers) just before the launch.
  }];
  let dependentDialects = ["::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def SSMGPUReplaceLibdevice : Pass<"ssm-gpu-replace-libdevice"> {
  let summary = "Turn libdevice calls of GPU kernels back into LLVM intrinsics";
  let description = [{
    After convert-gpu-to-nvvm, replaces calls to __nv_fmaf, __nv_fabsf,
    __nv_floorf, ... by the LLVM intrinsics the NVPTX backend lowers
    natively, so kernel modules need no libdevice; any other libdevice call
    is an error naming the function.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def SSMGPUExternDynamicShared : Pass<"ssm-gpu-extern-dynamic-shared"> {
  let summary = "Make a kernel module's dynamic shared memory an extern array";
  let description = [{
    After convert-gpu-to-nvvm, which gives `gpu.dynamic_shared_memory` an
    internal zero-sized `llvm.mlir.global` in address space 3: makes every
    such global external (a declaration). The NVPTX backend would otherwise
    demote the internal global into the kernel as a 1-byte static
    `.shared` variable, and the kernel would index past it; an external one
    is `.extern .shared .align 16 .b8 name[]`, the window of dynamic shared
    memory the launch sizes.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def SSMGPUHostTwins : Pass<"ssm-gpu-host-twins", "::mlir::ModuleOp"> {
  let summary = "Give every outlined GPU kernel a host function running one launch of it";
  let description = [{
    After gpu-kernel-outlining, for each `gpu.func` kernel `@k` of
    `gpu.module @m`, adds a private host function
    `@__ssmc_twin_m_k(kernel arguments..., gridX, gridY, gridZ, blockX,
    blockY, blockZ, dynamicSharedBytes: index)` tagged
    `ssm_gpu.host_twin = @m::@k`, whose body is a `gpu.launch` of those
    sizes (and that much dynamic shared memory) holding a clone of the
    kernel's body:
    workgroup and private attributions become the launch's, `gpu.thread_id`,
    `gpu.block_id`, `gpu.block_dim` and `gpu.grid_dim` the launch's block
    arguments, `gpu.return` its terminator. ssm-gpu-emulate then turns the
    launch into host code, and ssm-gpu-host-twin-wrappers registers the twin
    after LLVM lowering, so a driver without a GPU (the test driver in
    test/fakecuda) can run the program's real CUDA host path.

    ```mlir
    gpu.module @m {
      gpu.func @k(%x: memref<?xf32>) kernel {
        %t = gpu.thread_id x
        ...
        gpu.return
      }
    }
    // becomes, in addition:
    func.func private @__ssmc_twin_m_k(%x: memref<?xf32>, %gx: index, ...,
                                       %bz: index, %smem: index)
        attributes {ssm_gpu.host_twin = @m::@k} {
      gpu.launch blocks(...) in (%a = %gx, ...) threads(%tx, ...) in (...) {
        ... uses %tx ...
        gpu.terminator
      }
      return
    }
    ```
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::func::FuncDialect",
                           "::mlir::arith::ArithDialect"];
}

def SSMGPUHostTwinWrappers : Pass<"ssm-gpu-host-twin-wrappers", "::mlir::ModuleOp"> {
  let summary = "Wrap and register host twins as a driver calls kernels";
  let description = [{
    After the host LLVM lowering (gpu-to-llvm included), for each host twin
    ssm-gpu-host-twins made (an `llvm.func` tagged `ssm_gpu.host_twin =
    @m::@k`): an internal `void <twin>_packed(ptr args)` that loads the
    twin's arguments from `args[i]` exactly as `cuLaunchKernel`'s
    kernelParams hold them (memrefs as expanded descriptors, as gpu-to-llvm
    marshals them), then the int64 grid and block sizes and the dynamic
    shared-memory size from the seven pointers after them; and a global constructor calling
    `ssmcCudaRegisterHostTwin(hash, "k", wrapper)`, where hash is the
    64-bit FNV-1a of the PTX text of `gpu.binary @m` up to its first NUL
    (the interface in runtime/cuda/HostTwin.h). Fails unless the binary
    holds one PTX (`isa`) object and every `gpu.launch_func` of `@m::@k`
    passes the argument types the twin takes.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // SSMC_GPU_PASSES_TD
