//===- Pipelines.h - registered ssmc compilation pipelines ------*- C++ -*-===//
//
// The three registered pipelines, built from typed passes (lib/Pipelines):
//  ssm-cpu-pipeline           ssm programs -> LLVM dialect for the host CPU,
//                             in two stages that tools can stop between
//                             (`ssmc-run --emit=loops`);
//  ssm-nvptx-pipeline         ops with a GPU kernel -> NVPTX kernels, the
//                             rest as on the CPU, host code calling mgpu*;
//  ssm-gpu-emulator-pipeline  the same kernels emulated on host threads.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_PIPELINES_H
#define SSMC_PIPELINES_H

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassOptions.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>

namespace ssmc {

struct CPUPipelineOptions
    : public mlir::PassPipelineOptions<CPUPipelineOptions> {
  Option<unsigned> threads{
      *this, "threads",
      llvm::cl::desc("OpenMP threads for parallel loops (0: the runtime's "
                     "default, one per core)"),
      llvm::cl::init(0)};
  Option<unsigned> vectorBits{
      *this, "vector-bits",
      llvm::cl::desc("Vector register width in bits the lowering fills"),
      llvm::cl::init(512)};
  Option<bool> avx512{
      *this, "avx512",
      llvm::cl::desc("The target has AVX-512 (x86vector ops may be used)"),
      llvm::cl::init(true)};
  Option<std::string> cpuFeatures{
      *this, "cpu-features",
      llvm::cl::desc("Comma-separated x86 features the matmul kernels may use "
                     "(avx512bf16: vdpbf16ps for bf16 weights; avx512vnni: "
                     "vpdpbusd for i8 weights)"),
      llvm::cl::init("")};
  Option<bool> openmp{
      *this, "openmp",
      llvm::cl::desc("Parallel loops through OpenMP (else sequential: code "
                     "that needs no OpenMP runtime, for ahead-of-time objects)"),
      llvm::cl::init(true)};
};

/// ssm ops -> fused loops on buffers (scf, vector, memref, arith, math),
/// with the whole function bufferized and deallocations inserted.
mlir::LogicalResult buildSSMToLoopsStage(mlir::OpPassManager &pm,
                                         const CPUPipelineOptions &options);
/// Loops on buffers -> LLVM dialect (OpenMP for scf.parallel, polynomial
/// math, C wrappers for every function).
mlir::LogicalResult buildLoopsToLLVMStage(mlir::OpPassManager &pm,
                                          const CPUPipelineOptions &options);
/// Both stages.
mlir::LogicalResult buildSSMCPUPipeline(mlir::OpPassManager &pm,
                                        const CPUPipelineOptions &options);

/// The GPU architectures the CUDA target compiles for, each with the PTX
/// ISA version its kernels are written in (the oldest that has the
/// architecture and everything the kernels use).
struct GPUArch {
  llvm::StringRef name;        ///< sm_XX, as ptxas' -arch takes it
  llvm::StringRef ptxFeatures; ///< the NVPTX backend's feature, e.g. +ptx80
};
llvm::ArrayRef<GPUArch> supportedGPUArchs();
/// The entry for `name`, or an error listing the valid ones.
llvm::Expected<GPUArch> lookupGPUArch(llvm::StringRef name);
/// "sm_80, sm_89, sm_90, sm_100", for help texts and errors.
std::string supportedGPUArchList();

/// What `gpu.binary` ops embed for each kernel module.
inline constexpr llvm::StringLiteral kGPUBinaryFatbin = "fatbin";
inline constexpr llvm::StringLiteral kGPUBinaryPTX = "ptx";

/// The CUDA toolkit directory whose bin/ holds both ptxas and fatbinary:
/// `explicitPath` when given (and nothing else), otherwise the first of
/// $CUDA_ROOT, $CUDA_PATH, /usr/local/cuda, and the directory above a
/// ptxas found on PATH. std::nullopt when there is none.
std::optional<std::string> findCUDAToolkit(llvm::StringRef explicitPath);

struct NVPTXPipelineOptions
    : public mlir::PassPipelineOptions<NVPTXPipelineOptions> {
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU architecture (sm_XX)"),
                           llvm::cl::init("sm_90")};
  Option<std::string> features{
      *this, "features",
      llvm::cl::desc("PTX features (the PTX ISA version, e.g. +ptx80); "
                     "empty: the version that goes with `chip`"),
      llvm::cl::init("")};
  Option<std::string> gpuBinary{
      *this, "gpu-binary",
      llvm::cl::desc(
          "What gpu.binary ops embed: `fatbin` (a cubin for `chip` that the "
          "CUDA toolkit's ptxas assembles at compile time, so a kernel the "
          "card would refuse is a compile error, plus the PTX for other "
          "cards' drivers to JIT-compile; where no toolkit is found, PTX "
          "only, with a warning) or `ptx` (PTX text only, compiled by the "
          "driver when the module loads)"),
      llvm::cl::init(kGPUBinaryFatbin.str())};
  Option<std::string> cudaToolkit{
      *this, "cuda-toolkit",
      llvm::cl::desc("CUDA toolkit directory with bin/ptxas and "
                     "bin/fatbinary (gpu-binary=fatbin); empty: $CUDA_ROOT, "
                     "$CUDA_PATH, /usr/local/cuda, then ptxas on PATH"),
      llvm::cl::init("")};
  Option<unsigned> threads{
      *this, "threads",
      llvm::cl::desc("OpenMP threads of host loops (ops without a GPU kernel)"),
      llvm::cl::init(0)};
  Option<int64_t> maxSharedBytes{
      *this, "max-shared-bytes",
      llvm::cl::desc("Most shared memory (bytes) a kernel's block may use: "
                     "the card's opt-in maximum of dynamic shared memory "
                     "(sm_90: 232448); tiles over 48 KB become dynamic "
                     "shared memory, which the runtime opts in to at "
                     "launch; 49152 keeps every kernel in static shared "
                     "memory"),
      llvm::cl::init(232448)};
  Option<bool> hostTwins{
      *this, "host-twins",
      llvm::cl::desc("Also compile every kernel for the host and register it "
                     "with the CUDA runtime (ssmcCudaRegisterHostTwin), so a "
                     "test driver without a GPU runs the whole host path; "
                     "the host code needs the OpenMP runtime"),
      llvm::cl::init(false)};
};

/// ssm ops -> GPU kernels (serialised to a fatbin or PTX in gpu.binary ops,
/// see `gpu-binary`; a kernel ptxas rejects fails the pipeline with its
/// message) and host loops on buffers: the NVPTX counterpart of
/// buildSSMToLoopsStage.
mlir::LogicalResult buildSSMToKernelsStage(mlir::OpPassManager &pm,
                                           const NVPTXPipelineOptions &options,
                                           const CPUPipelineOptions &host);
/// ssm ops -> the same GPU kernels, emulated on the host (ssm-gpu-emulate:
/// a block per OpenMP parallel region, a thread per GPU thread), and host
/// loops on buffers. Followed by buildLoopsToLLVMStage with OpenMP on.
mlir::LogicalResult
buildSSMToEmulatedKernelsStage(mlir::OpPassManager &pm,
                               const CPUPipelineOptions &host);
/// Both emulator stages: ssm-gpu-emulator-pipeline.
mlir::LogicalResult
buildSSMGPUEmulatorPipeline(mlir::OpPassManager &pm,
                            const CPUPipelineOptions &options);
/// Host loops and gpu launches/copies on buffers -> LLVM dialect calling
/// the mgpu* runtime; `hostTwins` (with the kernels stage's host-twins on)
/// adds the twins' driver-style wrappers and their registration.
mlir::LogicalResult buildGPUHostToLLVMStage(mlir::OpPassManager &pm,
                                            const CPUPipelineOptions &host,
                                            bool hostTwins = false);

/// ssm programs -> LLVM dialect for the host with GPU kernels embedded as
/// a fatbin or PTX (`gpu.binary`, loaded through the mgpu* runtime ABI at
/// run time): convert-ssm-to-gpu for the ops with a kernel, the CPU
/// lowering for the rest, kernel outlining, NVVM, a fatbin or PTX, host
/// lowering with gpu-to-llvm.
mlir::LogicalResult buildSSMNVPTXPipeline(mlir::OpPassManager &pm,
                                          const NVPTXPipelineOptions &options);

/// Registers `ssm-cpu-pipeline`, `ssm-nvptx-pipeline` and
/// `ssm-gpu-emulator-pipeline` with the global pipeline registry.
void registerSSMCPipelines();

} // namespace ssmc

#endif // SSMC_PIPELINES_H
