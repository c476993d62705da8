// Packed sequences across ranks with fewer sequences than ranks (see
// packed.mlir): 2 sequences, i32 offsets [0, 1, 11], on 3 ranks; sequence 1
// spans all three. Outputs and both final states of the four ops equal
// the one-process run's.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t && %python %S/Inputs/packed_inputs.py %t
// RUN: ssmc-run %s --threads 1 --input %t/u.npy --input %t/delta.npy --input %t/A.npy --input \
// RUN:   %t/B.npy --input %t/C.npy --input %t/bias.npy --input %t/x.npy --input %t/dt.npy --input \
// RUN:   %t/Ah.npy --input %t/Bs.npy --input %t/Cs.npy --input %t/q.npy --input %t/k.npy --input %t/v.npy \
// RUN:   --input %t/g.npy --input %t/h2.npy --input %t/s2.npy --input %t/l2.npy --input %t/cu2.npy --input %t/w.npy --input %t/c2.npy \
// RUN:   --output %t/y_t1.npy --output %t/h_t1.npy --output %t/ys_t1.npy --output %t/hs_t1.npy --output \
// RUN:   %t/o_t1.npy --output %t/hl_t1.npy --output %t/co_t1.npy --output %t/cf_t1.npy
// RUN: %mpirun 3 ssmc-run %s --shard-seq --threads 1 --input %t/u.npy --input %t/delta.npy \
// RUN:   --input %t/A.npy --input %t/B.npy --input %t/C.npy --input %t/bias.npy --input %t/x.npy --input \
// RUN:   %t/dt.npy --input %t/Ah.npy --input %t/Bs.npy --input %t/Cs.npy --input %t/q.npy --input %t/k.npy \
// RUN:   --input %t/v.npy --input %t/g.npy --input %t/h2.npy --input %t/s2.npy --input %t/l2.npy --input \
// RUN:   %t/cu2.npy --input %t/w.npy --input %t/c2.npy --output %t/y_t3.npy --output %t/h_t3.npy --output %t/ys_t3.npy --output %t/hs_t3.npy \
// RUN:   --output %t/o_t3.npy --output %t/hl_t3.npy --output %t/co_t3.npy --output %t/cf_t3.npy
// RUN: ssmc-testdata compare %t/y_t3.npy %t/y_t1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h_t3.npy %t/h_t1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/ys_t3.npy %t/ys_t1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/hs_t3.npy %t/hs_t1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/o_t3.npy %t/o_t1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/hl_t3.npy %t/hl_t1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/co_t3.npy %t/co_t1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/cf_t3.npy %t/cf_t1.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @main(%u: tensor<1x3x11xf32>,
    %delta: tensor<1x3x11xf32>,
    %A: tensor<3x2xf32>,
    %B: tensor<1x2x11xf32>,
    %C: tensor<1x2x11xf32>,
    %bias: tensor<3xf32>,
    %x: tensor<1x11x2x2xf32>,
    %dt: tensor<1x11x2xf32>,
    %Ah: tensor<2xf32>,
    %Bs: tensor<1x11x1x3xf32>,
    %Cs: tensor<1x11x1x3xf32>,
    %q: tensor<1x2x11x2xf32>,
    %k: tensor<1x2x11x2xf32>,
    %v: tensor<1x2x11x3xf32>,
    %g: tensor<1x2x11xf32>,
    %h0: tensor<2x3x2xf32>,
    %s0: tensor<2x2x2x3xf32>,
    %l0: tensor<2x2x2x3xf32>,
    %cu: tensor<3xi32>,
    %w: tensor<3x3xf32>, %c0: tensor<2x3x2xf32>)
    -> (tensor<1x3x11xf32>, tensor<2x3x2xf32>, tensor<1x11x2x2xf32>, tensor<2x2x2x3xf32>, tensor<1x2x11x3xf32>, tensor<2x2x2x3xf32>, tensor<1x3x11xf32>, tensor<2x3x2xf32>) {
  %y, %h = ssm.selective_scan %u, %delta, %A, %B, %C delta_bias(%bias) h0(%h0) cu_seqlens(%cu) delta_softplus
      : (tensor<1x3x11xf32>, tensor<1x3x11xf32>, tensor<3x2xf32>, tensor<1x2x11xf32>, tensor<1x2x11xf32>, tensor<3xf32>, tensor<2x3x2xf32>, tensor<3xi32>) -> (tensor<1x3x11xf32>, tensor<2x3x2xf32>)
  %ys, %hs = ssm.ssd %x, %dt, %Ah, %Bs, %Cs h0(%s0) cu_seqlens(%cu) dt_softplus
      : (tensor<1x11x2x2xf32>, tensor<1x11x2xf32>, tensor<2xf32>, tensor<1x11x1x3xf32>, tensor<1x11x1x3xf32>, tensor<2x2x2x3xf32>, tensor<3xi32>) -> (tensor<1x11x2x2xf32>, tensor<2x2x2x3xf32>)
  %o, %hl = ssm.linear_attention %q, %k, %v gate(%g) h0(%l0) cu_seqlens(%cu)
      : (tensor<1x2x11x2xf32>, tensor<1x2x11x2xf32>, tensor<1x2x11x3xf32>, tensor<1x2x11xf32>, tensor<2x2x2x3xf32>, tensor<3xi32>) -> (tensor<1x2x11x3xf32>, tensor<2x2x2x3xf32>)
  %co, %cf = ssm.causal_conv1d %u, %w initial_state(%c0) cu_seqlens(%cu) silu
      : (tensor<1x3x11xf32>, tensor<3x3xf32>, tensor<2x3x2xf32>, tensor<3xi32>) -> (tensor<1x3x11xf32>, tensor<2x3x2xf32>)
  return %y, %h, %ys, %hs, %o, %hl, %co, %cf : tensor<1x3x11xf32>, tensor<2x3x2xf32>, tensor<1x11x2x2xf32>, tensor<2x2x2x3xf32>, tensor<1x2x11x3xf32>, tensor<2x2x2x3xf32>, tensor<1x3x11xf32>, tensor<2x3x2xf32>
}
