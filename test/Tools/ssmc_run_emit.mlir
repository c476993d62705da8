// ssmc-run's emit ladder: each stage prints the IR it stops at.
// RUN: ssmc-run %s --emit=mlir | FileCheck %s --check-prefix=MLIR
// RUN: ssmc-run %s --emit=loops | FileCheck %s --check-prefix=LOOPS
// RUN: ssmc-run %s --emit=llvm-dialect | FileCheck %s --check-prefix=LLVMD
// RUN: ssmc-run %s --emit=llvm | FileCheck %s --check-prefix=LLVM
// RUN: ssmc-run %s --emit=loops --vector-bits=256 | FileCheck %s --check-prefix=AVX2

// MLIR: func.func @main
// MLIR: ssm.selective_scan

// The fused loop nest: parallel over (batch, channel block), one time loop
// carrying the 16 state vectors, vector exp, no ssm ops left.
// LOOPS-NOT: ssm.selective_scan
// LOOPS: func.func @main(%{{.*}}: memref<2x40x33xf32>
// LOOPS: scf.parallel (%{{.*}}, %{{.*}}) = (%c0, %c0) to (%c2, %c3)
// LOOPS: scf.for {{.*}} -> ({{(vector<16xf32>, ){15}vector<16xf32>}})
// LOOPS: vector.gather
// LOOPS: x86vector.avx512.mask.scalef
// LOOPS: math.fma {{.*}} : vector<16xf32>
// LOOPS: vector.scatter

// LLVMD: llvm.func @main({{.*}}) attributes {{{.*}}ssm.out_params
// LLVMD: omp.parallel
// LLVMD: llvm.func @_mlir_ciface_main

// The hot loop has no scalar exp/expf calls (exp is a polynomial) and, with
// static result shapes, nothing is allocated: results are written into the
// caller's buffers (trailing out-parameters).
// LLVM-NOT: call {{.*}}@expf
// LLVM-NOT: call {{.*}}@exp(
// LLVM-NOT: @malloc
// LLVM: define {{.*}}@main(
// LLVM: call {{.*}}@__kmpc_fork_call
// LLVM-NOT: @malloc
// LLVM-NOT: call {{.*}}@expf

// 256-bit vectors hold 8 f32 lanes: 40 channels are 5 blocks.
// AVX2: scf.parallel (%{{.*}}, %{{.*}}) = (%c0, %c0) to (%c2, %c5)
// AVX2: vector<8xf32>

func.func @main(%u: tensor<2x40x33xf32>, %dt: tensor<2x40x33xf32>, %A: tensor<40x16xf32>,
                %B: tensor<2x16x33xf32>, %C: tensor<2x16x33xf32>, %D: tensor<40xf32>,
                %z: tensor<2x40x33xf32>) -> (tensor<2x40x33xf32>, tensor<2x40x16xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_softplus
      : (tensor<2x40x33xf32>, tensor<2x40x33xf32>, tensor<40x16xf32>, tensor<2x16x33xf32>,
         tensor<2x16x33xf32>, tensor<40xf32>, tensor<2x40x33xf32>) -> (tensor<2x40x33xf32>, tensor<2x40x16xf32>)
  return %y, %h : tensor<2x40x33xf32>, tensor<2x40x16xf32>
}
