// Sequence parallelism of ssm.selective_scan (ssmc-run --shard-seq): every
// optional operand, L = 13 split over 2 and 3 ranks (slices of 7+6 and
// 5+4+4: L not divisible by R), the outputs gathered on rank 0
// and the final state taken from the last rank, compared with the
// double-precision reference and with the single-process run at
// DESIGN.md's f32 tolerance (3 ranks: the chain combine). Then L = 2 on 3
// ranks with the exscan combine: rank 2's slice is
// empty and the state passes through it.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 2 --channels 5 --len 13 --state 4 --full --seed 7
// RUN: ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --input %t/D.npy --input %t/z.npy --input %t/bias.npy --input %t/h0.npy --output %t/y1.npy --output %t/h1.npy
// RUN: %mpirun 2 ssmc-run %s --shard-seq --threads 1 --input %t/u.npy --input %t/dt.npy --input %t/A.npy \
// RUN:   --input %t/B.npy --input %t/C.npy --input %t/D.npy --input %t/z.npy --input %t/bias.npy --input %t/h0.npy \
// RUN:   --output %t/y2.npy --output %t/h2.npy
// RUN: ssmc-testdata compare %t/y2.npy %t/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h2.npy %t/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/y2.npy %t/y1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h2.npy %t/h1.npy --rtol 1e-4 | FileCheck %s
// RUN: env SSMC_MPI_COMBINE=chain %mpirun 3 ssmc-run %s --shard-seq --threads 1 --input %t/u.npy --input %t/dt.npy \
// RUN:   --input %t/A.npy --input %t/B.npy --input %t/C.npy --input %t/D.npy --input %t/z.npy --input %t/bias.npy \
// RUN:   --input %t/h0.npy --output %t/y3.npy --output %t/h3.npy
// RUN: ssmc-testdata compare %t/y3.npy %t/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h3.npy %t/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: rm -rf %t.short && ssmc-testdata selective-scan --out %t.short --batch 1 --channels 3 --len 2 --state 2 --full --seed 8
// RUN: env SSMC_MPI_COMBINE=exscan %mpirun 3 ssmc-run %s --shard-seq --threads 1 --input %t.short/u.npy --input %t.short/dt.npy \
// RUN:   --input %t.short/A.npy --input %t.short/B.npy --input %t.short/C.npy --input %t.short/D.npy \
// RUN:   --input %t.short/z.npy --input %t.short/bias.npy --input %t.short/h0.npy --output %t.short/y.npy --output %t.short/h.npy
// RUN: ssmc-testdata compare %t.short/y.npy %t.short/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t.short/h.npy %t.short/ref_state.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @main(%u: tensor<?x?x?xf32>, %dt: tensor<?x?x?xf32>, %A: tensor<?x?xf32>,
                %B: tensor<?x?x?xf32>, %C: tensor<?x?x?xf32>, %D: tensor<?xf32>, %z: tensor<?x?x?xf32>,
                %bias: tensor<?xf32>, %h0: tensor<?x?x?xf32>)
    -> (tensor<?x?x?xf32>, tensor<?x?x?xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>,
         tensor<?x?x?xf32>, tensor<?xf32>, tensor<?x?x?xf32>, tensor<?xf32>, tensor<?x?x?xf32>)
      -> (tensor<?x?x?xf32>, tensor<?x?x?xf32>)
  return %y, %h : tensor<?x?x?xf32>, tensor<?x?x?xf32>
}
