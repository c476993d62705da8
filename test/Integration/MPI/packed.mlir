// Packed sequences (cu_seqlens) across ranks (ssmc-run --shard-seq): one
// program runs selective_scan (delta bias, softplus), ssd (softplus),
// linear_attention (scalar gate) and causal_conv1d (width 3, silu), each
// with one initial state per sequence; outputs and the final state of
// every sequence equal the one-process run's. 4 sequences packed into
// L = 11 with i64 offsets [0, 6, 6, 7, 11]: on 3 ranks (steps 0-3, 4-7,
// 8-10) sequence 0 crosses from rank 0 to 1, 1 is empty, 2 lies inside
// rank 1 and 3 crosses from 1 to 2; on 2 ranks (0-5, 6-10) a sequence ends
// at the boundary. A sequence start inside a rank's slice restarts from
// the sequence's own initial state (the convolution's halo stops there),
// and a sequence that ended on an earlier rank hands its final state on
// unchanged (packed_fewer_sequences.mlir: fewer sequences than ranks).
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t && %python %S/Inputs/packed_inputs.py %t
// RUN: ssmc-run %s --entry four --threads 1 --input %t/u.npy --input %t/delta.npy --input %t/A.npy --input \
// RUN:   %t/B.npy --input %t/C.npy --input %t/bias.npy --input %t/x.npy --input %t/dt.npy --input \
// RUN:   %t/Ah.npy --input %t/Bs.npy --input %t/Cs.npy --input %t/q.npy --input %t/k.npy --input %t/v.npy \
// RUN:   --input %t/g.npy --input %t/h4.npy --input %t/s4.npy --input %t/l4.npy --input %t/cu4.npy --input %t/w.npy --input %t/c4.npy \
// RUN:   --output %t/y_f1.npy --output %t/h_f1.npy --output %t/ys_f1.npy --output %t/hs_f1.npy --output \
// RUN:   %t/o_f1.npy --output %t/hl_f1.npy --output %t/co_f1.npy --output %t/cf_f1.npy
// RUN: %mpirun 2 ssmc-run %s --entry four --shard-seq --threads 1 --input %t/u.npy --input %t/delta.npy \
// RUN:   --input %t/A.npy --input %t/B.npy --input %t/C.npy --input %t/bias.npy --input %t/x.npy --input \
// RUN:   %t/dt.npy --input %t/Ah.npy --input %t/Bs.npy --input %t/Cs.npy --input %t/q.npy --input %t/k.npy \
// RUN:   --input %t/v.npy --input %t/g.npy --input %t/h4.npy --input %t/s4.npy --input %t/l4.npy --input \
// RUN:   %t/cu4.npy --input %t/w.npy --input %t/c4.npy --output %t/y_f2.npy --output %t/h_f2.npy --output %t/ys_f2.npy --output %t/hs_f2.npy \
// RUN:   --output %t/o_f2.npy --output %t/hl_f2.npy --output %t/co_f2.npy --output %t/cf_f2.npy
// RUN: %mpirun 3 ssmc-run %s --entry four --shard-seq --threads 1 --input %t/u.npy --input %t/delta.npy \
// RUN:   --input %t/A.npy --input %t/B.npy --input %t/C.npy --input %t/bias.npy --input %t/x.npy --input \
// RUN:   %t/dt.npy --input %t/Ah.npy --input %t/Bs.npy --input %t/Cs.npy --input %t/q.npy --input %t/k.npy \
// RUN:   --input %t/v.npy --input %t/g.npy --input %t/h4.npy --input %t/s4.npy --input %t/l4.npy --input \
// RUN:   %t/cu4.npy --input %t/w.npy --input %t/c4.npy --output %t/y_f3.npy --output %t/h_f3.npy --output %t/ys_f3.npy --output %t/hs_f3.npy \
// RUN:   --output %t/o_f3.npy --output %t/hl_f3.npy --output %t/co_f3.npy --output %t/cf_f3.npy
// RUN: ssmc-testdata compare %t/y_f2.npy %t/y_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/y_f3.npy %t/y_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h_f2.npy %t/h_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h_f3.npy %t/h_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/ys_f2.npy %t/ys_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/ys_f3.npy %t/ys_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/hs_f2.npy %t/hs_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/hs_f3.npy %t/hs_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/o_f2.npy %t/o_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/o_f3.npy %t/o_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/hl_f2.npy %t/hl_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/co_f2.npy %t/co_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/cf_f2.npy %t/cf_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/hl_f3.npy %t/hl_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/co_f3.npy %t/co_f1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/cf_f3.npy %t/cf_f1.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @four(%u: tensor<1x3x11xf32>,
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
    %h0: tensor<4x3x2xf32>,
    %s0: tensor<4x2x2x3xf32>,
    %l0: tensor<4x2x2x3xf32>,
    %cu: tensor<5xi64>,
    %w: tensor<3x3xf32>, %c0: tensor<4x3x2xf32>)
    -> (tensor<1x3x11xf32>, tensor<4x3x2xf32>, tensor<1x11x2x2xf32>, tensor<4x2x2x3xf32>, tensor<1x2x11x3xf32>, tensor<4x2x2x3xf32>, tensor<1x3x11xf32>, tensor<4x3x2xf32>) {
  %y, %h = ssm.selective_scan %u, %delta, %A, %B, %C delta_bias(%bias) h0(%h0) cu_seqlens(%cu) delta_softplus
      : (tensor<1x3x11xf32>, tensor<1x3x11xf32>, tensor<3x2xf32>, tensor<1x2x11xf32>, tensor<1x2x11xf32>, tensor<3xf32>, tensor<4x3x2xf32>, tensor<5xi64>) -> (tensor<1x3x11xf32>, tensor<4x3x2xf32>)
  %ys, %hs = ssm.ssd %x, %dt, %Ah, %Bs, %Cs h0(%s0) cu_seqlens(%cu) dt_softplus
      : (tensor<1x11x2x2xf32>, tensor<1x11x2xf32>, tensor<2xf32>, tensor<1x11x1x3xf32>, tensor<1x11x1x3xf32>, tensor<4x2x2x3xf32>, tensor<5xi64>) -> (tensor<1x11x2x2xf32>, tensor<4x2x2x3xf32>)
  %o, %hl = ssm.linear_attention %q, %k, %v gate(%g) h0(%l0) cu_seqlens(%cu)
      : (tensor<1x2x11x2xf32>, tensor<1x2x11x2xf32>, tensor<1x2x11x3xf32>, tensor<1x2x11xf32>, tensor<4x2x2x3xf32>, tensor<5xi64>) -> (tensor<1x2x11x3xf32>, tensor<4x2x2x3xf32>)
  %co, %cf = ssm.causal_conv1d %u, %w initial_state(%c0) cu_seqlens(%cu) silu
      : (tensor<1x3x11xf32>, tensor<3x3xf32>, tensor<4x3x2xf32>, tensor<5xi64>) -> (tensor<1x3x11xf32>, tensor<4x3x2xf32>)
  return %y, %h, %ys, %hs, %o, %hl, %co, %cf : tensor<1x3x11xf32>, tensor<4x3x2xf32>, tensor<1x11x2x2xf32>, tensor<4x2x2x3xf32>, tensor<1x2x11x3xf32>, tensor<4x2x2x3xf32>, tensor<1x3x11xf32>, tensor<4x3x2xf32>
}
