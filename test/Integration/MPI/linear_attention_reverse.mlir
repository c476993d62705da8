// Sequence parallelism of reverse ssm.linear_attention (right to left):
// the last rank runs its slice from h0, the combine carries states from
// the last rank towards rank 0, and rank 0 ends with the final state (the
// state after step 0). With the output correction: a scalar gate with h0
// on 3 ranks (L = 10: 4 + 3 + 3), a gate per key dimension on 2 ranks
// (L = 9) and no gate on 3 ranks; the same scalar program with
// --shard-rescan on 2 ranks; normalised with h0 and z0 (which rescans) on
// 3 ranks. Each against the double-precision reference.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata linear-attention --out %t/s --batch 2 --heads 2 --len 10 --head-dim 4 --value-dim 3 --gate scalar --h0 --reverse --seed 21
// RUN: %mpirun 3 ssmc-run %s --entry scalar --shard-seq --threads 1 --input %t/s/q.npy --input %t/s/k.npy \
// RUN:   --input %t/s/v.npy --input %t/s/gate.npy --input %t/s/h0.npy --output %t/s/o.npy --output %t/s/h.npy
// RUN: ssmc-testdata compare %t/s/o.npy %t/s/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/h.npy %t/s/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: %mpirun 2 ssmc-run %s --entry scalar --shard-seq --shard-rescan --threads 1 --input %t/s/q.npy \
// RUN:   --input %t/s/k.npy --input %t/s/v.npy --input %t/s/gate.npy --input %t/s/h0.npy --output %t/s/o2.npy \
// RUN:   --output %t/s/h2.npy
// RUN: ssmc-testdata compare %t/s/o2.npy %t/s/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/h2.npy %t/s/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata linear-attention --out %t/k --batch 1 --heads 2 --len 9 --head-dim 4 --value-dim 3 --gate key --reverse --seed 22
// RUN: %mpirun 2 ssmc-run %s --entry per_key --shard-seq --threads 1 --input %t/k/q.npy --input %t/k/k.npy \
// RUN:   --input %t/k/v.npy --input %t/k/gate.npy --output %t/k/o.npy --output %t/k/h.npy
// RUN: ssmc-testdata compare %t/k/o.npy %t/k/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/k/h.npy %t/k/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata linear-attention --out %t/n --batch 1 --heads 2 --len 10 --head-dim 4 --value-dim 3 --reverse --seed 23
// RUN: %mpirun 3 ssmc-run %s --entry ungated --shard-seq --threads 1 --input %t/n/q.npy --input %t/n/k.npy \
// RUN:   --input %t/n/v.npy --output %t/n/o.npy --output %t/n/h.npy
// RUN: ssmc-testdata compare %t/n/o.npy %t/n/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/n/h.npy %t/n/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata linear-attention --out %t/z --batch 1 --heads 2 --len 10 --head-dim 4 --value-dim 3 --gate scalar --normalize --h0 --reverse --seed 24
// RUN: %mpirun 3 ssmc-run %s --entry normalized --shard-seq --threads 1 --input %t/z/q.npy --input %t/z/k.npy \
// RUN:   --input %t/z/v.npy --input %t/z/gate.npy --input %t/z/h0.npy --input %t/z/z0.npy --output %t/z/o.npy \
// RUN:   --output %t/z/h.npy --output %t/z/z.npy
// RUN: ssmc-testdata compare %t/z/o.npy %t/z/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/z/h.npy %t/z/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/z/z.npy %t/z/ref_z.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @scalar(%q: tensor<2x2x10x4xf32>, %k: tensor<2x2x10x4xf32>, %v: tensor<2x2x10x3xf32>,
                  %g: tensor<2x2x10xf32>, %h0: tensor<2x2x4x3xf32>)
    -> (tensor<2x2x10x3xf32>, tensor<2x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v gate(%g) h0(%h0) reverse
      : (tensor<2x2x10x4xf32>, tensor<2x2x10x4xf32>, tensor<2x2x10x3xf32>, tensor<2x2x10xf32>, tensor<2x2x4x3xf32>)
      -> (tensor<2x2x10x3xf32>, tensor<2x2x4x3xf32>)
  return %o, %h : tensor<2x2x10x3xf32>, tensor<2x2x4x3xf32>
}

func.func @per_key(%q: tensor<1x2x9x4xf32>, %k: tensor<1x2x9x4xf32>, %v: tensor<1x2x9x3xf32>,
                   %g: tensor<1x2x9x4xf32>) -> (tensor<1x2x9x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v gate(%g) reverse
      : (tensor<1x2x9x4xf32>, tensor<1x2x9x4xf32>, tensor<1x2x9x3xf32>, tensor<1x2x9x4xf32>)
      -> (tensor<1x2x9x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x2x9x3xf32>, tensor<1x2x4x3xf32>
}

func.func @ungated(%q: tensor<1x2x10x4xf32>, %k: tensor<1x2x10x4xf32>, %v: tensor<1x2x10x3xf32>)
    -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v reverse
      : (tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<1x2x10x3xf32>)
      -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>
}

func.func @normalized(%q: tensor<1x2x10x4xf32>, %k: tensor<1x2x10x4xf32>, %v: tensor<1x2x10x3xf32>,
                      %g: tensor<1x2x10xf32>, %h0: tensor<1x2x4x3xf32>, %z0: tensor<1x2x4xf32>)
    -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>, tensor<1x2x4xf32>) {
  %o, %h, %z = ssm.linear_attention %q, %k, %v gate(%g) h0(%h0) z0(%z0) normalize reverse
      : (tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<1x2x10x3xf32>, tensor<1x2x10xf32>,
         tensor<1x2x4x3xf32>, tensor<1x2x4xf32>)
      -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>, tensor<1x2x4xf32>)
  return %o, %h, %z : tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>, tensor<1x2x4xf32>
}
