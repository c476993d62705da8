//===- CPUPipeline.cpp - ssm-cpu-pipeline ---------------------------------===//
//
// The pass order matters in three places (each found the hard way):
//  - finalize-memref-to-llvm runs before convert-scf-to-cf because
//    convert-scf-to-openmp wraps parallel bodies in memref.alloca_scope;
//  - n-D vector transfers are fully unrolled to 1-D before
//    convert-vector-to-llvm;
//  - math is approximated before vectors reach LLVM, or vector exp becomes
//    per-lane libm calls.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Pipelines.h"

#include "mlir/Pass/PassRegistry.h"

#include <string>

using namespace mlir;

namespace ssmc {

LogicalResult buildSSMToLoopsStage(OpPassManager &pm,
                                   const CPUPipelineOptions &options);

namespace {
/// The loops-to-LLVM pass list; `gpuHost` adds the lowering of host-side
/// gpu ops (launches, allocations, copies) to mgpu* runtime calls.
std::string loopsToLLVMPasses(const CPUPipelineOptions &options, bool gpuHost) {
  return std::string("func.func(llvm-request-c-wrappers),ssm-approximate-math,"
                     "func.func(convert-vector-to-scf{full-unroll=true}),") +
      (options.openmp ? "convert-scf-to-openmp{num-threads=" +
                            std::to_string(options.threads) + "},"
                      : std::string()) +
      "expand-strided-metadata,lower-affine,finalize-memref-to-llvm,"
      "convert-scf-to-cf,convert-vector-to-llvm{enable-x86vector=" +
      std::string(options.avx512 ? "true" : "false") +
      " vector-transpose-lowering=shuffle16x16},convert-math-to-llvm,"
      "convert-math-to-libm,convert-arith-to-llvm,convert-index-to-llvm,"
      "convert-func-to-llvm,convert-cf-to-llvm,convert-ub-to-llvm," +
      std::string(options.openmp ? "convert-openmp-to-llvm," : "") +
      std::string(gpuHost ? "gpu-to-llvm," : "") + "reconcile-unrealized-casts";
}

std::string ssmToLoopsPasses(const CPUPipelineOptions &options) {
  return "ssm-protect-inputs,convert-ssm-to-loops{vector-bits=" +
         std::to_string(options.vectorBits) +
         " avx512=" + (options.avx512 ? "true" : "false") +
         "},canonicalize,cse,"
         "func.func(convert-elementwise-to-linalg),empty-tensor-to-alloc-tensor,"
         "one-shot-bufferize{bufferize-function-boundaries "
         "function-boundary-type-conversion=identity-layout-map},"
         "ssm-static-results-to-out-params,"
         "buffer-deallocation-pipeline,convert-bufferization-to-memref,"
         "func.func(ssm-lower-matmul{vector-bits=" +
         std::to_string(options.vectorBits ? options.vectorBits : 128) +
         "}),func.func(convert-linalg-to-loops),canonicalize,cse";
}
} // namespace

LogicalResult buildSSMToLoopsStage(OpPassManager &pm,
                                   const CPUPipelineOptions &options) {
  return parsePassPipeline(ssmToLoopsPasses(options), pm);
}

LogicalResult buildLoopsToLLVMStage(OpPassManager &pm,
                                    const CPUPipelineOptions &options) {
  return parsePassPipeline(loopsToLLVMPasses(options, /*gpuHost=*/false), pm);
}

LogicalResult buildSSMToKernelsStage(OpPassManager &pm,
                                     const NVPTXPipelineOptions &options,
                                     const CPUPipelineOptions &host) {
  std::string p =
      // Decode steps become the sequence ops whose kernels run them.
      "ssm-decompose-steps,convert-ssm-to-gpu," + ssmToLoopsPasses(host) +
      ",func.func(ssm-gpu-stage-buffers),gpu-kernel-outlining,"
      "func.func(gpu-async-region),"
      "nvvm-attach-target{chip=" + options.chip + " features=" +
      options.features + " O=3},"
      // Math becomes polynomials and LLVM intrinsics the NVPTX backend
      // lowers natively (convert-gpu-to-nvvm maps the rest to libdevice
      // calls, which ssm-gpu-replace-libdevice turns back into
      // intrinsics): kernels need no libdevice.
      "gpu.module(ssm-approximate-math,convert-scf-to-cf,"
      "convert-gpu-to-nvvm,ssm-gpu-replace-libdevice,canonicalize,cse,"
      "reconcile-unrealized-casts),"
      "gpu-module-to-binary{format=isa}";
  return parsePassPipeline(p, pm);
}

LogicalResult buildSSMToEmulatedKernelsStage(OpPassManager &pm,
                                             const CPUPipelineOptions &host) {
  return parsePassPipeline("ssm-decompose-steps,convert-ssm-to-gpu," +
                               ssmToLoopsPasses(host) + ",ssm-gpu-emulate",
                           pm);
}

LogicalResult buildGPUHostToLLVMStage(OpPassManager &pm,
                                      const CPUPipelineOptions &host) {
  return parsePassPipeline(loopsToLLVMPasses(host, /*gpuHost=*/true), pm);
}

LogicalResult buildSSMNVPTXPipeline(OpPassManager &pm,
                                    const NVPTXPipelineOptions &options) {
  CPUPipelineOptions host;
  host.threads = options.threads;
  if (failed(buildSSMToKernelsStage(pm, options, host)))
    return failure();
  return buildGPUHostToLLVMStage(pm, host);
}

LogicalResult buildSSMCPUPipeline(OpPassManager &pm,
                                  const CPUPipelineOptions &options) {
  if (failed(buildSSMToLoopsStage(pm, options)))
    return failure();
  return buildLoopsToLLVMStage(pm, options);
}

void registerSSMCPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "ssm-cpu-pipeline",
      "Lower ssm programs to LLVM dialect for the host CPU: fused, "
      "vectorised, OpenMP-parallel loops",
      [](OpPassManager &pm, const CPUPipelineOptions &options) {
        // Registered pipeline strings are fixed at build time; a failure
        // here is a build defect the lit tests catch.
        (void)buildSSMCPUPipeline(pm, options);
      });
  PassPipelineRegistration<CPUPipelineOptions>(
      "ssm-gpu-emulator-pipeline",
      "Lower ssm programs to LLVM dialect for the host CPU, running the ops "
      "that have a GPU kernel as that kernel emulated on OpenMP threads (a "
      "test target for the kernels where no GPU is present)",
      [](OpPassManager &pm, const CPUPipelineOptions &options) {
        CPUPipelineOptions host;
        host.threads = options.threads;
        host.vectorBits = options.vectorBits;
        host.avx512 = options.avx512;
        (void)buildSSMToEmulatedKernelsStage(pm, host);
        (void)buildLoopsToLLVMStage(pm, host);
      });
  PassPipelineRegistration<NVPTXPipelineOptions>(
      "ssm-nvptx-pipeline",
      "Lower ssm programs to LLVM dialect for the host with NVPTX kernels "
      "(PTX in gpu.binary) for the ops that have one",
      [](OpPassManager &pm, const NVPTXPipelineOptions &options) {
        (void)buildSSMNVPTXPipeline(pm, options);
      });
}

} // namespace ssmc
