//===- Registration.cpp - the pipelines in the global registry ------------===//

#include "ssmc/Pipelines.h"

#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

void ssmc::registerSSMCPipelines() {
  // Built from typed passes, the CPU builders cannot fail; they return
  // LogicalResult only because their public signatures predate that.
  PassPipelineRegistration<CPUPipelineOptions>(
      "ssm-cpu-pipeline",
      "Lower ssm programs to LLVM dialect for the host CPU: fused, "
      "vectorised, OpenMP-parallel loops",
      [](OpPassManager &pm, const CPUPipelineOptions &options) {
        (void)buildSSMCPUPipeline(pm, options);
      });
  PassPipelineRegistration<CPUPipelineOptions>(
      "ssm-gpu-emulator-pipeline",
      "Lower ssm programs to LLVM dialect for the host CPU, running the ops "
      "that have a GPU kernel as that kernel emulated on OpenMP threads (a "
      "test target for the kernels where no GPU is present)",
      [](OpPassManager &pm, const CPUPipelineOptions &options) {
        (void)buildSSMGPUEmulatorPipeline(pm, options);
      });
  // The NVPTX builder checks `chip` and `gpu-binary` (printing what is
  // wrong): a bad value fails the pipeline's parsing, not a later pass.
  registerPassPipeline(
      "ssm-nvptx-pipeline",
      "Lower ssm programs to LLVM dialect for the host with NVPTX kernels "
      "(a fatbin or PTX in gpu.binary) for the ops that have one",
      [](OpPassManager &pm, StringRef optionsText,
         function_ref<LogicalResult(const Twine &)> errorHandler) {
        NVPTXPipelineOptions options;
        if (failed(options.parseFromString(optionsText)))
          return failure();
        if (failed(buildSSMNVPTXPipeline(pm, options)))
          return errorHandler("ssm-nvptx-pipeline: invalid options");
        return success();
      },
      [](function_ref<void(const detail::PassOptions &)> optHandler) {
        optHandler(NVPTXPipelineOptions());
      });
}
