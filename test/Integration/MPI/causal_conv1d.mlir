// Sequence parallelism of ssm.causal_conv1d (ssmc-run --shard-seq): each
// rank's initial state is the halo of W - 1 = 3 steps before its slice.
// L = 11 on 3 ranks (4 + 4 + 3), and L = 4 on 3 ranks (2 + 1 + 1: rank 2's
// halo spans ranks 1 and 0 and, one step before the sequence, the
// program's initial state), against the double-precision reference; then
// a convolution feeding a scan.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && ssmc-testdata causal-conv1d --out %t/a --batch 2 --channels 3 --len 11 --width 4 --seed 1
// RUN: %mpirun 3 ssmc-run %s --shard-seq --threads 1 --input %t/a/x.npy --input %t/a/weight.npy --input %t/a/bias.npy \
// RUN:   --input %t/a/init.npy --output %t/a/y.npy --output %t/a/h.npy
// RUN: ssmc-testdata compare %t/a/y.npy %t/a/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/a/h.npy %t/a/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata causal-conv1d --out %t/b --batch 2 --channels 3 --len 4 --width 4 --seed 2
// RUN: %mpirun 3 ssmc-run %s --shard-seq --threads 1 --input %t/b/x.npy --input %t/b/weight.npy --input %t/b/bias.npy \
// RUN:   --input %t/b/init.npy --output %t/b/y.npy --output %t/b/h.npy
// RUN: ssmc-testdata compare %t/b/y.npy %t/b/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/b/h.npy %t/b/ref_state.npy --rtol 1e-4 | FileCheck %s
// A Mamba block's chain, the convolution's output into the scan (both
// split the same way), on 3 ranks against the one-process run.
// RUN: ssmc-testdata selective-scan --out %t/s --batch 2 --channels 3 --len 11 --state 4 --seed 3
// RUN: ssmc-run %s --entry block --input %t/a/x.npy --input %t/a/weight.npy --input %t/s/dt.npy --input %t/s/A.npy \
// RUN:   --input %t/s/B.npy --input %t/s/C.npy --output %t/s/y1.npy --output %t/s/h1.npy
// RUN: %mpirun 3 ssmc-run %s --entry block --shard-seq --threads 1 --input %t/a/x.npy --input %t/a/weight.npy \
// RUN:   --input %t/s/dt.npy --input %t/s/A.npy --input %t/s/B.npy --input %t/s/C.npy --output %t/s/y.npy --output %t/s/h.npy
// RUN: ssmc-testdata compare %t/s/y.npy %t/s/y1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/h.npy %t/s/h1.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @main(%x: tensor<2x3x?xf32>, %w: tensor<3x4xf32>, %b: tensor<3xf32>, %h0: tensor<2x3x3xf32>)
    -> (tensor<2x3x?xf32>, tensor<2x3x3xf32>) {
  %y, %h = ssm.causal_conv1d %x, %w bias(%b) initial_state(%h0) silu
      : (tensor<2x3x?xf32>, tensor<3x4xf32>, tensor<3xf32>, tensor<2x3x3xf32>) -> (tensor<2x3x?xf32>, tensor<2x3x3xf32>)
  return %y, %h : tensor<2x3x?xf32>, tensor<2x3x3xf32>
}

func.func @block(%x: tensor<2x3x11xf32>, %w: tensor<3x4xf32>, %dt: tensor<2x3x11xf32>, %A: tensor<3x4xf32>,
                 %B: tensor<2x4x11xf32>, %C: tensor<2x4x11xf32>) -> (tensor<2x3x11xf32>, tensor<2x3x4xf32>) {
  %u = ssm.causal_conv1d %x, %w silu : (tensor<2x3x11xf32>, tensor<3x4xf32>) -> tensor<2x3x11xf32>
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<2x3x11xf32>, tensor<2x3x11xf32>, tensor<3x4xf32>, tensor<2x4x11xf32>, tensor<2x4x11xf32>)
      -> (tensor<2x3x11xf32>, tensor<2x3x4xf32>)
  return %y, %h : tensor<2x3x11xf32>, tensor<2x3x4xf32>
}
