// Sequence parallelism of ssm.linear_attention (ssmc-run --shard-seq) in
// each gate form, against the double-precision reference and the
// single-process run: a scalar gate per step with normalisation and
// initial states h0 and z0 on 2 ranks (L = 9: 5 + 4), a gate per key
// dimension (GLA) on 3 ranks, and no gate on 3 ranks (L = 10: 4 + 3 + 3).
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata linear-attention --out %t/s --batch 2 --heads 2 --len 9 --head-dim 4 --value-dim 3 --gate scalar --normalize --h0 --seed 2
// RUN: ssmc-run %s --entry scalar_normalized --input %t/s/q.npy --input %t/s/k.npy --input %t/s/v.npy --input %t/s/gate.npy \
// RUN:   --input %t/s/h0.npy --input %t/s/z0.npy --output %t/s/o1.npy --output %t/s/h1.npy --output %t/s/z1.npy
// RUN: %mpirun 2 ssmc-run %s --entry scalar_normalized --shard-seq --threads 1 --input %t/s/q.npy --input %t/s/k.npy \
// RUN:   --input %t/s/v.npy --input %t/s/gate.npy --input %t/s/h0.npy --input %t/s/z0.npy \
// RUN:   --output %t/s/o.npy --output %t/s/h.npy --output %t/s/z.npy
// RUN: ssmc-testdata compare %t/s/o.npy %t/s/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/h.npy %t/s/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/z.npy %t/s/ref_z.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/o.npy %t/s/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/h.npy %t/s/h1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata linear-attention --out %t/k --batch 1 --heads 2 --len 10 --head-dim 4 --value-dim 3 --gate key --seed 3
// RUN: %mpirun 3 ssmc-run %s --entry per_key --shard-seq --threads 1 --input %t/k/q.npy --input %t/k/k.npy \
// RUN:   --input %t/k/v.npy --input %t/k/gate.npy --output %t/k/o.npy --output %t/k/h.npy
// RUN: ssmc-testdata compare %t/k/o.npy %t/k/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/k/h.npy %t/k/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata linear-attention --out %t/n --batch 1 --heads 2 --len 10 --head-dim 4 --value-dim 3 --seed 4
// RUN: %mpirun 3 ssmc-run %s --entry ungated --shard-seq --threads 1 --input %t/n/q.npy --input %t/n/k.npy \
// RUN:   --input %t/n/v.npy --output %t/n/o.npy --output %t/n/h.npy
// RUN: ssmc-testdata compare %t/n/o.npy %t/n/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/n/h.npy %t/n/ref_state.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @scalar_normalized(%q: tensor<2x2x9x4xf32>, %k: tensor<2x2x9x4xf32>, %v: tensor<2x2x9x3xf32>,
                             %g: tensor<2x2x9xf32>, %h0: tensor<2x2x4x3xf32>, %z0: tensor<2x2x4xf32>)
    -> (tensor<2x2x9x3xf32>, tensor<2x2x4x3xf32>, tensor<2x2x4xf32>) {
  %o, %h, %z = ssm.linear_attention %q, %k, %v gate(%g) h0(%h0) z0(%z0) normalize
      : (tensor<2x2x9x4xf32>, tensor<2x2x9x4xf32>, tensor<2x2x9x3xf32>, tensor<2x2x9xf32>,
         tensor<2x2x4x3xf32>, tensor<2x2x4xf32>)
      -> (tensor<2x2x9x3xf32>, tensor<2x2x4x3xf32>, tensor<2x2x4xf32>)
  return %o, %h, %z : tensor<2x2x9x3xf32>, tensor<2x2x4x3xf32>, tensor<2x2x4xf32>
}

func.func @per_key(%q: tensor<1x2x10x4xf32>, %k: tensor<1x2x10x4xf32>, %v: tensor<1x2x10x3xf32>,
                   %g: tensor<1x2x10x4xf32>) -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v gate(%g)
      : (tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<1x2x10x3xf32>, tensor<1x2x10x4xf32>)
      -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>
}

func.func @ungated(%q: tensor<1x2x10x4xf32>, %k: tensor<1x2x10x4xf32>, %v: tensor<1x2x10x3xf32>)
    -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v
      : (tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<1x2x10x3xf32>)
      -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>
}
