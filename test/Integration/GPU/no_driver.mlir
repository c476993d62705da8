// Without an NVIDIA driver the CUDA target still compiles (--emit works) and
// a run fails with a message naming what is missing, exit status 1.
// UNSUPPORTED: cuda-driver
// RUN: not ssmc-run %s --target cuda 2>&1 | FileCheck %s
// RUN: ssmc-run %s --target cuda 2>/dev/null || test $? -eq 1
// RUN: ssmc-run %s --target cuda --emit=ptx | FileCheck %s --check-prefix=PTX
// CHECK: ssmc-run: error: CUDA target unavailable: the NVIDIA driver library libcuda.so.1 cannot be loaded
// PTX: .entry main_kernel

func.func @main() -> tensor<1x2x3xf32> {
  %u = arith.constant dense<1.0> : tensor<1x2x3xf32>
  %A = arith.constant dense<-1.0> : tensor<2x4xf32>
  %B = arith.constant dense<0.5> : tensor<1x4x3xf32>
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x2x3xf32>, tensor<1x2x3xf32>, tensor<2x4xf32>, tensor<1x4x3xf32>, tensor<1x4x3xf32>)
      -> tensor<1x2x3xf32>
  return %y : tensor<1x2x3xf32>
}
