// Packed sequences (cu_seqlens_q/k) through ssm.attention across ranks
// (ssmc-run --shard-seq) against the double-precision reference and the
// one-process run. 4 sequences in L = 11 with i64 offsets [0, 6, 6, 7, 11]:
// on 3 ranks (steps 0-3, 4-7, 8-10) sequence 0 crosses from rank 0 to 1,
// 1 is empty, 2 lies inside rank 1 and 3 crosses from 1 to 2; on 2 ranks
// (0-5, 6-10) a sequence ends at the boundary. Causal with grouped heads
// on 2 and 3 ranks; without causal with a window, softcap, ALiBi and sinks
// on 3 ranks (rank 0's block stops at rank 1, as rank 2's rows share no
// sequence with it; rank 2's block passes rank 0, which does not fold it,
// on its way to rank 1); 2 sequences on 3 ranks (i32 offsets [0, 1, 11], sequence 1 spans
// all three) with a causal window; query and key offsets that differ
// ([0, 2, 2, 5] and [0, 3, 4, 8]: Lq = 5, Lk = 8) with seqused_k [2, 1, 3]
// and no causal mask on 3 ranks.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata attention --out %t/p --heads 4 --kv-heads 2 --len 11 --head-dim 4 --value-dim 3 \
// RUN:   --cu-seqlens 0,6,6,7,11 --seed 11
// RUN: ssmc-run %s --entry causal --input %t/p/q.npy --input %t/p/k.npy --input %t/p/v.npy \
// RUN:   --input %t/p/cu_q.npy --output %t/p/o1.npy
// RUN: %mpirun 2 ssmc-run %s --entry causal --shard-seq --threads 1 --input %t/p/q.npy --input %t/p/k.npy \
// RUN:   --input %t/p/v.npy --input %t/p/cu_q.npy --output %t/p/o2.npy
// RUN: %mpirun 3 ssmc-run %s --entry causal --shard-seq --threads 1 --input %t/p/q.npy --input %t/p/k.npy \
// RUN:   --input %t/p/v.npy --input %t/p/cu_q.npy --output %t/p/o3.npy
// RUN: ssmc-testdata compare %t/p/o2.npy %t/p/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/p/o3.npy %t/p/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/p/o2.npy %t/p/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/p/o3.npy %t/p/o1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/w --no-causal --heads 2 --len 11 --head-dim 4 --value-dim 3 \
// RUN:   --cu-seqlens 0,6,6,7,11 --window-left 2 --window-right 3 --softcap 2 --alibi --sinks --seed 12
// RUN: %mpirun 3 ssmc-run %s --entry options --shard-seq --threads 1 --input %t/w/q.npy --input %t/w/k.npy \
// RUN:   --input %t/w/v.npy --input %t/w/alibi.npy --input %t/w/sinks.npy --input %t/w/cu_q.npy --output %t/w/o3.npy
// RUN: ssmc-testdata compare %t/w/o3.npy %t/w/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/f --heads 2 --len 11 --head-dim 4 --value-dim 3 \
// RUN:   --cu-seqlens 0,1,11 --offsets-i32 --window 3 --seed 13
// RUN: %mpirun 3 ssmc-run %s --entry fewer --shard-seq --threads 1 --input %t/f/q.npy --input %t/f/k.npy \
// RUN:   --input %t/f/v.npy --input %t/f/cu_q.npy --output %t/f/o3.npy
// RUN: ssmc-testdata compare %t/f/o3.npy %t/f/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata attention --out %t/x --no-causal --heads 2 --len 5 --key-len 8 --head-dim 4 --value-dim 3 \
// RUN:   --cu-seqlens 0,2,2,5 --cu-seqlens-k 0,3,4,8 --seqused-k 2,1,3 --seed 14
// RUN: ssmc-run %s --entry cross --input %t/x/q.npy --input %t/x/k.npy --input %t/x/v.npy \
// RUN:   --input %t/x/cu_q.npy --input %t/x/cu_k.npy --input %t/x/used.npy --output %t/x/o1.npy
// RUN: %mpirun 3 ssmc-run %s --entry cross --shard-seq --threads 1 --input %t/x/q.npy --input %t/x/k.npy \
// RUN:   --input %t/x/v.npy --input %t/x/cu_q.npy --input %t/x/cu_k.npy --input %t/x/used.npy --output %t/x/o3.npy
// RUN: ssmc-testdata compare %t/x/o3.npy %t/x/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/x/o3.npy %t/x/o1.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK
// Offsets that do not end at the sequence's length stop every rank with
// the reason.
// RUN: ssmc-testdata attention --out %t/bad --heads 2 --len 9 --head-dim 4 --value-dim 3 --cu-seqlens 0,6,6,7,9
// RUN: not %mpirun 2 ssmc-run %s --entry causal --shard-seq --threads 1 --input %t/p/q.npy --input %t/p/k.npy \
// RUN:   --input %t/p/v.npy --input %t/bad/cu_q.npy --output %t/p/bad.npy 2> %t/err.txt
// RUN: FileCheck %s --check-prefix=BAD < %t/err.txt
// BAD: error: ssmcMpiRingAttention: 'cu_seqlens_q' must start at 0, never decrease and end at the sequence's length 11 (got 9)

func.func @causal(%q: tensor<1x4x11x4xf32>, %k: tensor<1x2x11x4xf32>, %v: tensor<1x2x11x3xf32>,
                  %cu: tensor<5xi64>) -> tensor<1x4x11x3xf32> {
  %o = ssm.attention %q, %k, %v causal cu_seqlens_q(%cu) cu_seqlens_k(%cu)
      : (tensor<1x4x11x4xf32>, tensor<1x2x11x4xf32>, tensor<1x2x11x3xf32>, tensor<5xi64>, tensor<5xi64>)
      -> tensor<1x4x11x3xf32>
  return %o : tensor<1x4x11x3xf32>
}

func.func @options(%q: tensor<1x2x11x4xf32>, %k: tensor<1x2x11x4xf32>, %v: tensor<1x2x11x3xf32>,
                   %slopes: tensor<2xf32>, %sinks: tensor<2xf32>, %cu: tensor<5xi64>) -> tensor<1x2x11x3xf32> {
  %o = ssm.attention %q, %k, %v alibi_slopes(%slopes) sinks(%sinks) cu_seqlens_q(%cu) cu_seqlens_k(%cu)
      {window_left = 2 : i64, window_right = 3 : i64, softcap = 2.0 : f64}
      : (tensor<1x2x11x4xf32>, tensor<1x2x11x4xf32>, tensor<1x2x11x3xf32>, tensor<2xf32>, tensor<2xf32>,
         tensor<5xi64>, tensor<5xi64>) -> tensor<1x2x11x3xf32>
  return %o : tensor<1x2x11x3xf32>
}

func.func @fewer(%q: tensor<1x2x11x4xf32>, %k: tensor<1x2x11x4xf32>, %v: tensor<1x2x11x3xf32>,
                 %cu: tensor<3xi32>) -> tensor<1x2x11x3xf32> {
  %o = ssm.attention %q, %k, %v causal cu_seqlens_q(%cu) cu_seqlens_k(%cu) {window = 3 : i64}
      : (tensor<1x2x11x4xf32>, tensor<1x2x11x4xf32>, tensor<1x2x11x3xf32>, tensor<3xi32>, tensor<3xi32>)
      -> tensor<1x2x11x3xf32>
  return %o : tensor<1x2x11x3xf32>
}

func.func @cross(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x3xf32>,
                 %cuq: tensor<4xi64>, %cuk: tensor<4xi64>, %n: tensor<3xi64>) -> tensor<1x2x5x3xf32> {
  %o = ssm.attention %q, %k, %v cu_seqlens_q(%cuq) cu_seqlens_k(%cuk) seqused_k(%n)
      : (tensor<1x2x5x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>, tensor<4xi64>, tensor<4xi64>,
         tensor<3xi64>) -> tensor<1x2x5x3xf32>
  return %o : tensor<1x2x5x3xf32>
}
