// Sequence parallelism of ssm.attention without `causal` (the full ring:
// every rank's K/V block goes round all ranks, ssmc-run --shard-seq)
// against the double-precision reference and the one-process run: grouped
// KV heads (4 query heads on 2) at L = 7 on 2 ranks (4 + 3) and 3 ranks
// (3 + 2 + 2); a two-sided window (2 left, 1 right), softcap, explicit
// scale, ALiBi (|pos - j| on both sides) and sinks on 3 ranks at L = 8,
// where rank 0's rows see no key of rank 2 (its block still passes rank 0
// on the way to rank 1); more keys than queries (Lq = 5, Lk = 9, sliced
// 3 + 2 and 5 + 4) with a window around the bottom-right aligned
// position; seqused_k with an entry that uses no key (zero rows), without
// and with `causal` (causal with key counts also folds in the runtime on
// every rank).
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata attention --out %t/g --no-causal --batch 2 --heads 4 --kv-heads 2 --len 7 --head-dim 4 --value-dim 3 --seed 5
// RUN: ssmc-run %s --entry gqa --input %t/g/q.npy --input %t/g/k.npy --input %t/g/v.npy --output %t/g/o1.npy
// RUN: %mpirun 2 ssmc-run %s --entry gqa --shard-seq --threads 1 --input %t/g/q.npy --input %t/g/k.npy \
// RUN:   --input %t/g/v.npy --output %t/g/o2.npy
// RUN: %mpirun 3 ssmc-run %s --entry gqa --shard-seq --threads 1 --input %t/g/q.npy --input %t/g/k.npy \
// RUN:   --input %t/g/v.npy --output %t/g/o3.npy
// RUN: ssmc-testdata compare %t/g/o2.npy %t/g/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/g/o3.npy %t/g/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/g/o2.npy %t/g/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/g/o3.npy %t/g/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/w --no-causal --heads 4 --kv-heads 2 --len 8 --head-dim 4 --value-dim 3 \
// RUN:   --window-left 2 --window-right 1 --softcap 2 --scale 0.8 --alibi --sinks --seed 6
// RUN: ssmc-run %s --entry options --input %t/w/q.npy --input %t/w/k.npy --input %t/w/v.npy \
// RUN:   --input %t/w/alibi.npy --input %t/w/sinks.npy --output %t/w/o1.npy
// RUN: %mpirun 3 ssmc-run %s --entry options --shard-seq --threads 1 --input %t/w/q.npy --input %t/w/k.npy \
// RUN:   --input %t/w/v.npy --input %t/w/alibi.npy --input %t/w/sinks.npy --output %t/w/o3.npy
// RUN: ssmc-testdata compare %t/w/o3.npy %t/w/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/w/o3.npy %t/w/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/x --no-causal --heads 2 --len 5 --key-len 9 --head-dim 4 --value-dim 3 \
// RUN:   --window-left 1 --window-right 2 --seed 7
// RUN: %mpirun 2 ssmc-run %s --entry cross --shard-seq --threads 1 --input %t/x/q.npy --input %t/x/k.npy \
// RUN:   --input %t/x/v.npy --output %t/x/o2.npy
// RUN: ssmc-testdata compare %t/x/o2.npy %t/x/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/u --no-causal --batch 2 --heads 2 --len 6 --head-dim 4 --value-dim 3 \
// RUN:   --seqused-k 4,0 --seed 8
// RUN: %mpirun 2 ssmc-run %s --entry used --shard-seq --threads 1 --input %t/u/q.npy --input %t/u/k.npy \
// RUN:   --input %t/u/v.npy --input %t/u/used.npy --output %t/u/o2.npy
// RUN: ssmc-testdata compare %t/u/o2.npy %t/u/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/c --batch 2 --heads 2 --len 6 --head-dim 4 --value-dim 3 \
// RUN:   --seqused-k 5,0 --seed 9
// RUN: %mpirun 3 ssmc-run %s --entry used_causal --shard-seq --threads 1 --input %t/c/q.npy --input %t/c/k.npy \
// RUN:   --input %t/c/v.npy --input %t/c/used.npy --output %t/c/o3.npy
// RUN: ssmc-testdata compare %t/c/o3.npy %t/c/ref_out.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK
// Causal attention with Lq != Lk stops every rank with the reason: rank 0
// computes its rows with the op on its own slice, which is right only when
// its queries and keys are the same positions.
// RUN: not %mpirun 2 ssmc-run %s --entry causal_cross --shard-seq --threads 1 --input %t/x/q.npy \
// RUN:   --input %t/x/k.npy --input %t/x/v.npy --output %t/x/bad.npy 2> %t/err.txt
// RUN: FileCheck %s --check-prefix=CROSS < %t/err.txt
// RUN: not ls %t/x/bad.npy
// CROSS: error: ssmcMpiRingAttention: causal attention over ranks needs as many queries as keys (Lq = Lk), got 5 and 9

func.func @gqa(%q: tensor<2x4x7x4xf32>, %k: tensor<2x2x7x4xf32>, %v: tensor<2x2x7x3xf32>)
    -> tensor<2x4x7x3xf32> {
  %o = ssm.attention %q, %k, %v
      : (tensor<2x4x7x4xf32>, tensor<2x2x7x4xf32>, tensor<2x2x7x3xf32>) -> tensor<2x4x7x3xf32>
  return %o : tensor<2x4x7x3xf32>
}

func.func @options(%q: tensor<1x4x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x3xf32>,
                   %slopes: tensor<4xf32>, %sinks: tensor<4xf32>) -> tensor<1x4x8x3xf32> {
  %o = ssm.attention %q, %k, %v alibi_slopes(%slopes) sinks(%sinks)
      {window_left = 2 : i64, window_right = 1 : i64, softcap = 2.0 : f64, scale = 0.8 : f64}
      : (tensor<1x4x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>, tensor<4xf32>, tensor<4xf32>)
      -> tensor<1x4x8x3xf32>
  return %o : tensor<1x4x8x3xf32>
}

func.func @cross(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x9x4xf32>, %v: tensor<1x2x9x3xf32>)
    -> tensor<1x2x5x3xf32> {
  %o = ssm.attention %q, %k, %v {window_left = 1 : i64, window_right = 2 : i64}
      : (tensor<1x2x5x4xf32>, tensor<1x2x9x4xf32>, tensor<1x2x9x3xf32>) -> tensor<1x2x5x3xf32>
  return %o : tensor<1x2x5x3xf32>
}

func.func @used(%q: tensor<2x2x6x4xf32>, %k: tensor<2x2x6x4xf32>, %v: tensor<2x2x6x3xf32>,
                %n: tensor<2xi64>) -> tensor<2x2x6x3xf32> {
  %o = ssm.attention %q, %k, %v seqused_k(%n)
      : (tensor<2x2x6x4xf32>, tensor<2x2x6x4xf32>, tensor<2x2x6x3xf32>, tensor<2xi64>) -> tensor<2x2x6x3xf32>
  return %o : tensor<2x2x6x3xf32>
}

func.func @used_causal(%q: tensor<2x2x6x4xf32>, %k: tensor<2x2x6x4xf32>, %v: tensor<2x2x6x3xf32>,
                       %n: tensor<2xi64>) -> tensor<2x2x6x3xf32> {
  %o = ssm.attention %q, %k, %v causal seqused_k(%n)
      : (tensor<2x2x6x4xf32>, tensor<2x2x6x4xf32>, tensor<2x2x6x3xf32>, tensor<2xi64>) -> tensor<2x2x6x3xf32>
  return %o : tensor<2x2x6x3xf32>
}

func.func @causal_cross(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x9x4xf32>, %v: tensor<1x2x9x3xf32>)
    -> tensor<1x2x5x3xf32> {
  %o = ssm.attention %q, %k, %v causal
      : (tensor<1x2x5x4xf32>, tensor<1x2x9x4xf32>, tensor<1x2x9x3xf32>) -> tensor<1x2x5x3xf32>
  return %o : tensor<1x2x5x3xf32>
}
