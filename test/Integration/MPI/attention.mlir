// Sequence parallelism of causal ssm.attention (ring attention, ssmc-run
// --shard-seq) against the double-precision reference and the
// single-process run: grouped KV heads (4 query heads on 2) with L = 7 on
// 2 ranks (4 + 3); a sliding window, softcap, explicit scale, ALiBi and
// sinks on 3 ranks (3 + 2 + 2: the last rank's window skips rank 0's
// block); one row per rank (L = R = 3). A rank that fails stops the others
// while they wait in the ring.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata attention --out %t/g --batch 2 --heads 4 --kv-heads 2 --len 7 --head-dim 4 --value-dim 3 --seed 5
// RUN: ssmc-run %s --entry gqa --input %t/g/q.npy --input %t/g/k.npy --input %t/g/v.npy --output %t/g/o1.npy
// RUN: %mpirun 2 ssmc-run %s --entry gqa --shard-seq --threads 1 --input %t/g/q.npy --input %t/g/k.npy \
// RUN:   --input %t/g/v.npy --output %t/g/o.npy
// RUN: ssmc-testdata compare %t/g/o.npy %t/g/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/g/o.npy %t/g/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/w --heads 4 --kv-heads 2 --len 7 --head-dim 4 --value-dim 3 \
// RUN:   --window 3 --softcap 2 --scale 0.8 --alibi --sinks --seed 6
// RUN: %mpirun 3 ssmc-run %s --entry options --shard-seq --threads 1 --input %t/w/q.npy --input %t/w/k.npy \
// RUN:   --input %t/w/v.npy --input %t/w/alibi.npy --input %t/w/sinks.npy --output %t/w/o.npy
// RUN: ssmc-testdata compare %t/w/o.npy %t/w/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/r --heads 2 --len 3 --head-dim 4 --value-dim 4 --seed 7
// RUN: %mpirun 3 ssmc-run %s --entry one_row --shard-seq --threads 1 --input %t/r/q.npy --input %t/r/k.npy \
// RUN:   --input %t/r/v.npy --output %t/r/o.npy
// RUN: ssmc-testdata compare %t/r/o.npy %t/r/ref_out.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK
// RUN: not %mpirun 1 ssmc-run %s --entry gqa --shard-seq --threads 1 --input %t/g/q.npy --input %t/g/k.npy \
// RUN:   --input %t/g/v.npy --output %t/g/f.npy : \
// RUN:   -np 1 ssmc-run %s --entry gqa --shard-seq --threads 1 --input %t/g/q.npy --input %t/g/missing.npy \
// RUN:   --input %t/g/v.npy --output %t/g/f.npy 2> %t/err.txt
// RUN: FileCheck %s --check-prefix=FAIL < %t/err.txt
// RUN: not ls %t/g/f.npy %t/g/f.npy.partial
// FAIL: ssmc: rank 1 of 2: error: ssmc-run: {{.*}}missing.npy

func.func @gqa(%q: tensor<2x4x7x4xf32>, %k: tensor<2x2x7x4xf32>, %v: tensor<2x2x7x3xf32>)
    -> tensor<2x4x7x3xf32> {
  %o = ssm.attention %q, %k, %v causal
      : (tensor<2x4x7x4xf32>, tensor<2x2x7x4xf32>, tensor<2x2x7x3xf32>) -> tensor<2x4x7x3xf32>
  return %o : tensor<2x4x7x3xf32>
}

func.func @options(%q: tensor<1x4x7x4xf32>, %k: tensor<1x2x7x4xf32>, %v: tensor<1x2x7x3xf32>,
                   %slopes: tensor<4xf32>, %sinks: tensor<4xf32>) -> tensor<1x4x7x3xf32> {
  %o = ssm.attention %q, %k, %v causal alibi_slopes(%slopes) sinks(%sinks)
      {window = 3 : i64, softcap = 2.0 : f64, scale = 0.8 : f64}
      : (tensor<1x4x7x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x3xf32>, tensor<4xf32>, tensor<4xf32>)
      -> tensor<1x4x7x3xf32>
  return %o : tensor<1x4x7x3xf32>
}

func.func @one_row(%q: tensor<1x2x3x4xf32>, %k: tensor<1x2x3x4xf32>, %v: tensor<1x2x3x4xf32>)
    -> tensor<1x2x3x4xf32> {
  %o = ssm.attention %q, %k, %v causal
      : (tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>) -> tensor<1x2x3x4xf32>
  return %o : tensor<1x2x3x4xf32>
}
