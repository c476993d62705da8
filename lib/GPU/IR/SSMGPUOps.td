//===- SSMGPUOps.td - the GPU pipeline's internal ops ---------------------===//
//
// Ops the GPU conversion emits for the GPU pipeline's own later passes,
// never written by users: kept out of the ssm dialect so that the
// user-facing dialect holds only the programs' ops.
//
//===----------------------------------------------------------------------===//

#ifndef SSM_GPU_OPS_TD
#define SSM_GPU_OPS_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def SSMGPU_Dialect : Dialect {
  let name = "ssm_gpu";
  let cppNamespace = "::mlir::ssm_gpu";
  let summary = "Internal ops of ssmc's GPU pipeline";
}

def SSMGPU_BarrierOp : Op<SSMGPU_Dialect, "barrier",
    [MemoryEffects<[MemRead, MemWrite]>]> {
  let summary = "A block-wide barrier in a GPU kernel, before bufferization";
  let description = [{
    GPU lowerings that run before bufferization mark block-wide barriers
    with this op (its declared memory effects let buffer deallocation
    analyse the kernel); `ssm-gpu-stage-buffers` turns each into
    `gpu.barrier` and `ssm-gpu-emulate` into `omp.barrier`.
  }];
  let assemblyFormat = "attr-dict";
}

def SSMGPU_IsResidentOp : Op<SSMGPU_Dialect, "is_resident", [Pure]> {
  let summary = "Whether a host buffer of a launch is device-resident memory";
  let description = [{
    `ssm-gpu-stage-buffers` asks, for each buffer a launch uses, whether it
    lies in device-resident memory (`ssmc::cuda::DeviceTensor`); such a
    buffer is used in place, without a device copy. Pure (the answer for a
    buffer cannot change while the program runs), so `gpu-async-region`
    keeps the launches of a function on one stream around it;
    `ssm-gpu-lower-residency` then makes it a call of the runtime's
    `ssmcCudaIsResident(address, bytes)`.
  }];
  let arguments = (ins AnyMemRef:$buffer);
  let results = (outs I1:$resident);
  let assemblyFormat = "$buffer attr-dict `:` type($buffer)";
}

#endif // SSM_GPU_OPS_TD
