// Sequence parallelism of unnormalised ssm.linear_attention with the
// output correction (ranks after the first add (q~_t * exp(sum_{s<=t}
// gate_s))^T Sin to their zero-state outputs instead of rescanning), in
// each gate form, with h0: a scalar gate per step on 2 ranks (L = 9:
// 5 + 4), a gate per key dimension (GLA) with elu+1 features on 3 ranks
// and no gate with relu features and a scale on 3 ranks (L = 10:
// 4 + 3 + 3). Each against the double-precision reference and the
// one-process run.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata linear-attention --out %t/s --batch 2 --heads 2 --len 9 --head-dim 4 --value-dim 3 --gate scalar --h0 --seed 11
// RUN: ssmc-run %s --entry scalar --input %t/s/q.npy --input %t/s/k.npy --input %t/s/v.npy --input %t/s/gate.npy \
// RUN:   --input %t/s/h0.npy --output %t/s/o1.npy --output %t/s/h1.npy
// RUN: %mpirun 2 ssmc-run %s --entry scalar --shard-seq --threads 1 --input %t/s/q.npy --input %t/s/k.npy \
// RUN:   --input %t/s/v.npy --input %t/s/gate.npy --input %t/s/h0.npy --output %t/s/o.npy --output %t/s/h.npy
// RUN: ssmc-testdata compare %t/s/o.npy %t/s/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/h.npy %t/s/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/o.npy %t/s/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/s/h.npy %t/s/h1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata linear-attention --out %t/k --batch 1 --heads 2 --len 10 --head-dim 4 --value-dim 3 --gate key --h0 --feature-map elu_plus_one --seed 12
// RUN: ssmc-run %s --entry per_key_elu --input %t/k/q.npy --input %t/k/k.npy --input %t/k/v.npy --input %t/k/gate.npy \
// RUN:   --input %t/k/h0.npy --output %t/k/o1.npy --output %t/k/h1.npy
// RUN: %mpirun 3 ssmc-run %s --entry per_key_elu --shard-seq --threads 1 --input %t/k/q.npy --input %t/k/k.npy \
// RUN:   --input %t/k/v.npy --input %t/k/gate.npy --input %t/k/h0.npy --output %t/k/o.npy --output %t/k/h.npy
// RUN: ssmc-testdata compare %t/k/o.npy %t/k/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/k/h.npy %t/k/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/k/o.npy %t/k/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata linear-attention --out %t/n --batch 1 --heads 2 --len 10 --head-dim 4 --value-dim 3 --h0 --feature-map relu --seed 13
// RUN: %mpirun 3 ssmc-run %s --entry ungated_relu --shard-seq --threads 1 --input %t/n/q.npy --input %t/n/k.npy \
// RUN:   --input %t/n/v.npy --input %t/n/h0.npy --output %t/n/o.npy --output %t/n/h.npy
// RUN: ssmc-testdata compare %t/n/o.npy %t/n/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/n/h.npy %t/n/ref_state.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @scalar(%q: tensor<2x2x9x4xf32>, %k: tensor<2x2x9x4xf32>, %v: tensor<2x2x9x3xf32>,
                  %g: tensor<2x2x9xf32>, %h0: tensor<2x2x4x3xf32>)
    -> (tensor<2x2x9x3xf32>, tensor<2x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v gate(%g) h0(%h0)
      : (tensor<2x2x9x4xf32>, tensor<2x2x9x4xf32>, tensor<2x2x9x3xf32>, tensor<2x2x9xf32>, tensor<2x2x4x3xf32>)
      -> (tensor<2x2x9x3xf32>, tensor<2x2x4x3xf32>)
  return %o, %h : tensor<2x2x9x3xf32>, tensor<2x2x4x3xf32>
}

func.func @per_key_elu(%q: tensor<1x2x10x4xf32>, %k: tensor<1x2x10x4xf32>, %v: tensor<1x2x10x3xf32>,
                       %g: tensor<1x2x10x4xf32>, %h0: tensor<1x2x4x3xf32>)
    -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v gate(%g) h0(%h0) {feature_map = #ssm.feature_map<elu_plus_one>}
      : (tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<1x2x10x3xf32>, tensor<1x2x10x4xf32>, tensor<1x2x4x3xf32>)
      -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>
}

func.func @ungated_relu(%q: tensor<1x2x10x4xf32>, %k: tensor<1x2x10x4xf32>, %v: tensor<1x2x10x3xf32>,
                        %h0: tensor<1x2x4x3xf32>) -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v h0(%h0) {feature_map = #ssm.feature_map<relu>}
      : (tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>)
      -> (tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x2x10x3xf32>, tensor<1x2x4x3xf32>
}
