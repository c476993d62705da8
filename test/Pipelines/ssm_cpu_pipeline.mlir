// ssm-cpu-pipeline from ssmc-opt: a program with an ssm op and upstream ops
// ends fully in the LLVM dialect, with OpenMP for the parallel loops, C
// wrappers, and no math or vector dialect ops left.
// RUN: ssmc-opt %s --ssm-cpu-pipeline | FileCheck %s
// RUN: ssmc-opt %s --ssm-cpu-pipeline='threads=2 vector-bits=256' | FileCheck %s --check-prefix=OPTS

// CHECK-NOT: ssm.
// CHECK-NOT: math.
// CHECK-NOT: vector.
// CHECK-NOT: scf.
// CHECK: llvm.func @main(
// CHECK: omp.parallel
// CHECK: llvm.intr.masked.gather
// CHECK: llvm.func @_mlir_ciface_main(
// OPTS: omp.parallel num_threads(%{{.*}} : i32)
// OPTS: vector<8xf32>
func.func @main(%u: tensor<1x32x8xf32>, %A: tensor<32x4xf32>, %B: tensor<1x4x8xf32>) -> tensor<1x32x8xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x32x8xf32>, tensor<1x32x8xf32>, tensor<32x4xf32>, tensor<1x4x8xf32>,
         tensor<1x4x8xf32>) -> tensor<1x32x8xf32>
  %e = math.exp %y : tensor<1x32x8xf32>
  return %e : tensor<1x32x8xf32>
}
