// Sequence parallelism of ssm.ssd with the output correction (ranks after
// the first add C_t . (exp(A sum_{s<=t} dt) Sin), times silu(z), to their
// zero-state outputs instead of rescanning): grouped B/C (4 heads in 2
// groups) with D, z, dt bias, softplus, dt_limit and h0 on 3 ranks
// (L = 11: slices of 4 + 4 + 3, shorter than a chunk of the CPU kernel);
// the plain op (no D, z, bias or h0) on 2 ranks (L = 9: 5 + 4); the same
// grouped program with --shard-rescan (the rescan) on 2 ranks. Each against
// the double-precision reference and the one-process run.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata ssd --out %t/g --batch 2 --len 11 --heads 4 --head-dim 3 --state 5 --groups 2 --full --seed 7
// RUN: ssmc-run %s --entry grouped --input %t/g/x.npy --input %t/g/dt.npy --input %t/g/A.npy --input %t/g/B.npy \
// RUN:   --input %t/g/C.npy --input %t/g/D.npy --input %t/g/z.npy --input %t/g/bias.npy --input %t/g/h0.npy \
// RUN:   --output %t/g/y1.npy --output %t/g/h1.npy
// RUN: %mpirun 3 ssmc-run %s --entry grouped --shard-seq --threads 1 --input %t/g/x.npy --input %t/g/dt.npy \
// RUN:   --input %t/g/A.npy --input %t/g/B.npy --input %t/g/C.npy --input %t/g/D.npy --input %t/g/z.npy \
// RUN:   --input %t/g/bias.npy --input %t/g/h0.npy --output %t/g/y3.npy --output %t/g/h3.npy
// RUN: ssmc-testdata compare %t/g/y3.npy %t/g/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/g/h3.npy %t/g/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/g/y3.npy %t/g/y1.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/g/h3.npy %t/g/h1.npy --rtol 1e-4 | FileCheck %s
// RUN: %mpirun 2 ssmc-run %s --entry grouped --shard-seq --shard-rescan --threads 1 --input %t/g/x.npy \
// RUN:   --input %t/g/dt.npy --input %t/g/A.npy --input %t/g/B.npy --input %t/g/C.npy --input %t/g/D.npy \
// RUN:   --input %t/g/z.npy --input %t/g/bias.npy --input %t/g/h0.npy --output %t/g/y2.npy --output %t/g/h2.npy
// RUN: ssmc-testdata compare %t/g/y2.npy %t/g/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/g/h2.npy %t/g/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata ssd --out %t/p --batch 1 --len 9 --heads 2 --head-dim 4 --state 3 --seed 8
// RUN: ssmc-run %s --entry plain --input %t/p/x.npy --input %t/p/dt.npy --input %t/p/A.npy --input %t/p/B.npy \
// RUN:   --input %t/p/C.npy --output %t/p/y1.npy --output %t/p/h1.npy
// RUN: %mpirun 2 ssmc-run %s --entry plain --shard-seq --threads 1 --input %t/p/x.npy --input %t/p/dt.npy \
// RUN:   --input %t/p/A.npy --input %t/p/B.npy --input %t/p/C.npy --output %t/p/y2.npy --output %t/p/h2.npy
// RUN: ssmc-testdata compare %t/p/y2.npy %t/p/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/p/h2.npy %t/p/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/p/y2.npy %t/p/y1.npy --rtol 1e-4 | FileCheck %s
// CHECK: OK

func.func @grouped(%x: tensor<2x11x4x3xf32>, %dt: tensor<2x11x4xf32>, %A: tensor<4xf32>,
                   %B: tensor<2x11x2x5xf32>, %C: tensor<2x11x2x5xf32>, %D: tensor<4xf32>,
                   %z: tensor<2x11x4x3xf32>, %bias: tensor<4xf32>, %h0: tensor<2x4x3x5xf32>)
    -> (tensor<2x11x4x3xf32>, tensor<2x4x3x5xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %C D(%D) z(%z) dt_bias(%bias) h0(%h0) dt_softplus {dt_limit = array<f64: 0.0, 2.0>}
      : (tensor<2x11x4x3xf32>, tensor<2x11x4xf32>, tensor<4xf32>, tensor<2x11x2x5xf32>,
         tensor<2x11x2x5xf32>, tensor<4xf32>, tensor<2x11x4x3xf32>, tensor<4xf32>, tensor<2x4x3x5xf32>)
      -> (tensor<2x11x4x3xf32>, tensor<2x4x3x5xf32>)
  return %y, %h : tensor<2x11x4x3xf32>, tensor<2x4x3x5xf32>
}

func.func @plain(%x: tensor<1x9x2x4xf32>, %dt: tensor<1x9x2xf32>, %A: tensor<2xf32>,
                 %B: tensor<1x9x1x3xf32>, %C: tensor<1x9x1x3xf32>)
    -> (tensor<1x9x2x4xf32>, tensor<1x2x4x3xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %C
      : (tensor<1x9x2x4xf32>, tensor<1x9x2xf32>, tensor<2xf32>, tensor<1x9x1x3xf32>, tensor<1x9x1x3xf32>)
      -> (tensor<1x9x2x4xf32>, tensor<1x2x4x3xf32>)
  return %y, %h : tensor<1x9x2x4xf32>, tensor<1x2x4x3xf32>
}
