// The CUDA host path over the test-only fake driver (test/fakecuda; no GPU
// needed): each failure is reported with the driver's words, never a crash
// and never wrong numbers.
// REQUIRES: fake-cuda
//
// A GPU module that fails to load fails the compilation with the driver's
// error and its JIT log.
// RUN: env SSMC_FAKE_CUDA_FAIL=cuModuleLoadDataEx %fake_cuda_env not ssmc-run %s --target cuda 2>&1 | FileCheck %s --check-prefix=LOAD
// LOAD: ssmc-run: error: {{.*}}fake_driver_errors.mlir: loading the GPU module (kernels: main_kernel) failed: cuModuleLoadDataEx failed with CUDA error 218 (a PTX JIT compilation failed); JIT error log: ptxas fatal   : (fake JIT) failure injected by SSMC_FAKE_CUDA_FAIL into call 1 of cuModuleLoadDataEx
//
// A driver that loads but fails to initialise, and one without a device.
// RUN: env SSMC_FAKE_CUDA_FAIL=cuInit %fake_cuda_env not ssmc-run %s --target cuda 2>&1 | FileCheck %s --check-prefix=INIT
// INIT: ssmc-run: error: CUDA target unavailable: cuInit failed with CUDA error 999 (unknown error)
// RUN: env SSMC_FAKE_CUDA_DEVICES=0 %fake_cuda_env not ssmc-run %s --target cuda 2>&1 | FileCheck %s --check-prefix=NODEV
// NODEV: ssmc-run: error: CUDA target unavailable: the NVIDIA driver reports no CUDA device
//
// A failed allocation (every cuMemAlloc fails: the runtime retries one
// after emptying its cache) stops the run: no kernel runs on its pointer,
// and the error names the call.
// RUN: env SSMC_FAKE_CUDA_FAIL=cuMemAlloc_v2:* %fake_cuda_env not ssmc-run %s --target cuda 2>&1 | FileCheck %s --check-prefix=ALLOC
// ALLOC: ssmc-run: error: CUDA error while running 'main': cuMemAlloc failed with CUDA error 2 (out of memory)
// ALLOC-NOT: cuLaunchKernel

func.func @main() -> tensor<1x2x3xf32> {
  %u = arith.constant dense<1.0> : tensor<1x2x3xf32>
  %A = arith.constant dense<-1.0> : tensor<2x4xf32>
  %B = arith.constant dense<0.5> : tensor<1x4x3xf32>
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x2x3xf32>, tensor<1x2x3xf32>, tensor<2x4xf32>, tensor<1x4x3xf32>, tensor<1x4x3xf32>)
      -> tensor<1x2x3xf32>
  return %y : tensor<1x2x3xf32>
}
