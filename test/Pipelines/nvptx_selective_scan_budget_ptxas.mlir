// ssm-nvptx-pipeline: the selective_scan kernel fits an H100's per-block
// limits at every state size N = 1..256 with every optional operand (D, z,
// delta_bias, softplus, h0, final state): ptxas rejects more than 48 KB of
// static shared memory, which the register-state kernel's 16-step sub-tiles
// need with a z gate at N = 28..32 (0xc200-0xca00 bytes): they are dynamic
// shared memory there (an extern array; the launch asks for the bytes, the
// runtime opts in). The function below (N = 32) is copied for the sizes
// around the tile edges (1, 16, 27, 28, 32, 33, 64, 255, 256); the ptxas
// sweep (nvptx_sweep_ptxas.test) assembles every N in 1..256 with the same
// operands.
// REQUIRES: ptxas
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t
// RUN: for n in 1 16 27 28 32 33 64 255 256; do sed -e "s/@main/@s$n/" -e "s/64x32xf32/64x${n}xf32/g" -e "s/2x32x300/2x${n}x300/g" %s; done > %t/sweep.mlir
// RUN: ssmc-run %t/sweep.mlir --target cuda --emit=ptx > %t/k.ptx
// RUN: split-file %t/k.ptx %t/k
// RUN: ls %t/k/*.ptx | count 9
// RUN: for f in %t/k/*.ptx; do echo "$f"; %cuda_root/bin/ptxas -arch=sm_90 -v $f -o $f.cubin 2>&1 || echo "ptxas failed"; done > %t/ptxas.log
// RUN: FileCheck %s --implicit-check-not=error --implicit-check-not=failed < %t/ptxas.log
// RUN: ls %t/k/*.cubin | count 9
// N = 27 keeps its 16-step sub-tiles in exactly 48 KB of static shared
// memory; at N = 28 and 32 the kernel declares none (its 49.7 and 51.7 KB
// are dynamic).
// CHECK: s27_kernel.ptx
// CHECK: Used {{[0-9]+}} registers, used 1 barriers, {{.*}}49152 bytes smem
// CHECK: s28_kernel.ptx
// CHECK: Used {{[0-9]+}} registers, used 1 barriers{{(, [0-9]+ bytes cumulative stack size)?}}{{$}}
// CHECK: s32_kernel.ptx
// CHECK: Used {{[0-9]+}} registers, used 1 barriers{{(, [0-9]+ bytes cumulative stack size)?}}{{$}}

func.func @main(%u: tensor<2x64x300xf32>, %dt: tensor<2x64x300xf32>, %A: tensor<64x32xf32>,
                %B: tensor<2x32x300xf32>, %C: tensor<2x32x300xf32>, %D: tensor<64xf32>,
                %z: tensor<2x64x300xf32>, %bias: tensor<64xf32>, %h0: tensor<2x64x32xf32>)
    -> (tensor<2x64x300xf32>, tensor<2x64x32xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<2x64x300xf32>, tensor<2x64x300xf32>, tensor<64x32xf32>, tensor<2x32x300xf32>,
         tensor<2x32x300xf32>, tensor<64xf32>, tensor<2x64x300xf32>, tensor<64xf32>, tensor<2x64x32xf32>)
      -> (tensor<2x64x300xf32>, tensor<2x64x32xf32>)
  return %y, %h : tensor<2x64x300xf32>, tensor<2x64x32xf32>
}
