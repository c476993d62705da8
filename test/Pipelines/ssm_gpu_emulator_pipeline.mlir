// ssm-gpu-emulator-pipeline: the ops with a GPU kernel become that kernel,
// run on host threads (a block per omp.parallel region of blockDim threads,
// barriers as omp.barrier), lowered to the LLVM dialect with no gpu op left;
// an f64 op stays on the CPU lowering in the same program.
// RUN: ssmc-opt %s --ssm-gpu-emulator-pipeline | FileCheck %s
// CHECK: llvm.func @omp_get_thread_num() -> i32
// CHECK-LABEL: llvm.func @main
// CHECK: omp.parallel
// CHECK: llvm.call @omp_get_thread_num()
// CHECK: omp.barrier
// CHECK: omp.terminator
// CHECK-NOT: gpu.
func.func @main(%u: tensor<1x4x256xf32>, %A: tensor<4x16xf32>, %B: tensor<1x16x256xf32>,
                %u64: tensor<1x2x3xf64>, %A64: tensor<2x4xf64>, %B64: tensor<1x4x3xf64>)
    -> (tensor<1x4x256xf32>, tensor<1x2x3xf64>) {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x4x256xf32>, tensor<1x4x256xf32>, tensor<4x16xf32>, tensor<1x16x256xf32>, tensor<1x16x256xf32>)
      -> tensor<1x4x256xf32>
  %y64 = ssm.selective_scan %u64, %u64, %A64, %B64, %B64
      : (tensor<1x2x3xf64>, tensor<1x2x3xf64>, tensor<2x4xf64>, tensor<1x4x3xf64>, tensor<1x4x3xf64>)
      -> tensor<1x2x3xf64>
  return %y, %y64 : tensor<1x4x256xf32>, tensor<1x2x3xf64>
}
