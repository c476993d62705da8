//===- NVPTXPipeline.cpp - ssm-nvptx-pipeline -----------------------------===//
//
// Ops with a GPU kernel become gpu.launch kernels, the rest the CPU's fused
// loops; kernels are outlined, lowered to NVVM and serialised in gpu.binary
// ops (a fatbin: the cubin ptxas assembles for the target, and the PTX),
// and the host side calls the mgpu* runtime. Math in the kernels becomes
// polynomials and LLVM intrinsics the NVPTX backend lowers natively
// (convert-gpu-to-nvvm maps the rest to libdevice calls, which
// ssm-gpu-replace-libdevice turns back into intrinsics): kernels need no
// libdevice.
//
// With host-twins, every outlined kernel also gets a host copy (emulated as
// on the GPU emulator) registered with the CUDA runtime under its PTX
// image's hash and its name: a test driver without a GPU (test/fakecuda)
// runs kernels through them, so the whole host path executes in CI.
//
//===----------------------------------------------------------------------===//

#include "Stages.h"
#include "ssmc/Passes.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/raw_ostream.h"

#include <mutex>

using namespace mlir;

namespace ssmc {

namespace {

/// gpu-module-to-binary's format for `gpu-binary`: "fatbin" has MLIR's NVVM
/// target run the toolkit's ptxas (a cubin for `chip`; ptxas' errors, such
/// as a kernel over the shared-memory or register limit, fail the pass at
/// the kernel module's location) and fatbinary (the cubin plus the PTX);
/// "isa" is the PTX text alone, for the driver to compile at load time.
FailureOr<GpuModuleToBinaryPassOptions>
binaryOptions(const NVPTXPipelineOptions &options) {
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  // Host twins are registered by the PTX's hash, which the test driver
  // reads: their programs keep PTX.
  if (options.gpuBinary == kGPUBinaryPTX || options.hostTwins)
    return binary;
  if (options.gpuBinary != kGPUBinaryFatbin) {
    llvm::errs() << "ssm-nvptx-pipeline: gpu-binary must be "
                 << kGPUBinaryFatbin << " or " << kGPUBinaryPTX << ", got '"
                 << options.gpuBinary << "'\n";
    return failure();
  }
  std::optional<std::string> toolkit = findCUDAToolkit(options.cudaToolkit);
  if (!toolkit) {
    // Said once per process: a JIT compiling many programs warns once.
    static std::once_flag warned;
    std::call_once(warned, [&] {
      llvm::errs() << "ssmc: warning: no CUDA toolkit with bin/ptxas and "
                      "bin/fatbinary found ("
                   << (options.cudaToolkit.empty()
                           ? std::string("$CUDA_ROOT, $CUDA_PATH, "
                                         "/usr/local/cuda, PATH")
                           : "'" + options.cudaToolkit + "'")
                   << "); GPU kernels are embedded as PTX only, and one the "
                      "card cannot run fails only when the driver loads it\n";
    });
    return binary;
  }
  binary.compilationTarget = "fatbin";
  binary.toolkitPath = *toolkit;
  return binary;
}

} // namespace

LogicalResult buildSSMToKernelsStage(OpPassManager &pm,
                                     const NVPTXPipelineOptions &options,
                                     const CPUPipelineOptions &host) {
  // Decode steps become the sequence ops whose kernels run them.
  pm.addPass(createSSMDecomposeSteps());
  ConvertSSMToGPUOptions kernelOptions;
  kernelOptions.maxSharedBytes = options.maxSharedBytes;
  pm.addPass(createConvertSSMToGPU(kernelOptions));
  pipelines::addSSMToLoopsPasses(pm, host);
  pm.addPass(createSSMGPUStageBuffers());
  // The canonicalizer hoists a kernel's constants out of its gpu.launch
  // (not isolated from above); outlined, each would be a kernel parameter,
  // live in a register through the kernel (the attention kernel's column
  // offsets: 128 registers and spills where 80 do). Sunk back, they fold
  // into immediates.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  if (options.hostTwins) {
    // Host copies of the outlined kernels, emulated as on the GPU emulator.
    pm.addPass(createSSMGPUHostTwins());
    pm.addPass(createSSMGPUEmulate());
  }
  pm.addNestedPass<func::FuncOp>(createGpuAsyncRegionPass());
  pm.addPass(createSSMGPULowerResidency());
  GpuNVVMAttachTargetOptions target;
  target.chip = options.chip;
  target.features = options.features;
  if (target.features.empty()) {
    llvm::Expected<GPUArch> arch = lookupGPUArch(options.chip);
    if (!arch) {
      llvm::errs() << "ssm-nvptx-pipeline: " << llvm::toString(arch.takeError())
                   << " (or give `features` explicitly)\n";
      return failure();
    }
    target.features = arch->ptxFeatures.str();
  }
  target.optLevel = 3;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &kernels = pm.nest<gpu::GPUModuleOp>();
  kernels.addPass(createSSMApproximateMath());
  kernels.addPass(createSCFToControlFlowPass());
  kernels.addPass(createConvertGpuOpsToNVVMOps());
  kernels.addPass(createSSMGPUReplaceLibdevice());
  kernels.addPass(createSSMGPUExternDynamicShared());
  kernels.addPass(createCanonicalizerPass());
  kernels.addPass(createCSEPass());
  kernels.addPass(createReconcileUnrealizedCastsPass());
  FailureOr<GpuModuleToBinaryPassOptions> binary = binaryOptions(options);
  if (failed(binary))
    return failure();
  pm.addPass(createGpuModuleToBinaryPass(*binary));
  return success();
}

LogicalResult buildGPUHostToLLVMStage(OpPassManager &pm,
                                      const CPUPipelineOptions &host,
                                      bool hostTwins) {
  pipelines::addLoopsToLLVMPasses(pm, host, /*gpuHost=*/true);
  if (!hostTwins)
    return success();
  // The twins' thread regions are OpenMP even where the host loops are not.
  if (!host.openmp) {
    pm.addPass(createConvertOpenMPToLLVMPass());
    pm.addPass(createReconcileUnrealizedCastsPass());
  }
  pm.addPass(createSSMGPUHostTwinWrappers());
  return success();
}

LogicalResult buildSSMNVPTXPipeline(OpPassManager &pm,
                                    const NVPTXPipelineOptions &options) {
  CPUPipelineOptions host;
  host.threads = options.threads;
  if (failed(buildSSMToKernelsStage(pm, options, host)))
    return failure();
  return buildGPUHostToLLVMStage(pm, host, options.hostTwins);
}

} // namespace ssmc
