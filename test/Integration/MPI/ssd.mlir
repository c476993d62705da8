// Sequence parallelism of ssm.ssd (ssmc-run --shard-seq): D, z, dt bias,
// softplus, dt_limit and h0, L = 11 over 3 ranks (slices of 4+4+3, fewer
// steps than one chunk of the CPU kernel), against the double-precision
// reference and the single-process run.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && ssmc-testdata ssd --out %t --batch 2 --len 11 --heads 3 --head-dim 4 --state 5 --full --seed 5
// RUN: ssmc-run %s --input %t/x.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --input %t/D.npy --input %t/z.npy --input %t/bias.npy --input %t/h0.npy --output %t/y1.npy --output %t/h1.npy
// RUN: %mpirun 3 ssmc-run %s --shard-seq --threads 1 --input %t/x.npy --input %t/dt.npy --input %t/A.npy \
// RUN:   --input %t/B.npy --input %t/C.npy --input %t/D.npy --input %t/z.npy --input %t/bias.npy --input %t/h0.npy \
// RUN:   --output %t/y3.npy --output %t/h3.npy
// RUN: ssmc-testdata compare %t/y3.npy %t/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h3.npy %t/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/y3.npy %t/y1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h3.npy %t/h1.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @main(%x: tensor<2x11x3x4xf32>, %dt: tensor<2x11x3xf32>, %A: tensor<3xf32>,
                %B: tensor<2x11x1x5xf32>, %C: tensor<2x11x1x5xf32>, %D: tensor<3xf32>,
                %z: tensor<2x11x3x4xf32>, %bias: tensor<3xf32>, %h0: tensor<2x3x4x5xf32>)
    -> (tensor<2x11x3x4xf32>, tensor<2x3x4x5xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %C D(%D) z(%z) dt_bias(%bias) h0(%h0) dt_softplus {dt_limit = array<f64: 0.0, 2.0>}
      : (tensor<2x11x3x4xf32>, tensor<2x11x3xf32>, tensor<3xf32>, tensor<2x11x1x5xf32>,
         tensor<2x11x1x5xf32>, tensor<3xf32>, tensor<2x11x3x4xf32>, tensor<3xf32>, tensor<2x3x4x5xf32>)
      -> (tensor<2x11x3x4xf32>, tensor<2x3x4x5xf32>)
  return %y, %h : tensor<2x11x3x4xf32>, tensor<2x3x4x5xf32>
}
