// --shard-seq without mpirun is one rank: no MPI is started, the incoming
// state is h0, and the results equal the plain run's bit for bit (the
// slice is the whole sequence; the extra zero-state scan is discarded).
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 1 --channels 5 --len 9 --state 3 --full --seed 4
// RUN: ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --input %t/D.npy --input %t/z.npy --input %t/bias.npy --input %t/h0.npy --output %t/y1.npy --output %t/h1.npy
// RUN: ssmc-run %s --shard-seq --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --input %t/D.npy --input %t/z.npy --input %t/bias.npy --input %t/h0.npy --output %t/y.npy --output %t/h.npy
// RUN: ssmc-testdata compare %t/y.npy %t/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h.npy %t/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: cmp %t/y.npy %t/y1.npy
// RUN: cmp %t/h.npy %t/h1.npy
// CHECK: OK
// The sharded program's entry: L dynamic, the split recorded.
// RUN: ssmc-run %s --shard-seq --emit=mlir | FileCheck %s --check-prefix=IR
// IR: func.func @main(%{{.*}}: tensor<1x5x?xf32> {ssm.seq_dim = 2 : i64}
// IR-SAME: -> (tensor<1x5x?xf32> {ssm.seq_dim = 2 : i64}, tensor<1x5x3xf32> {ssm.seq_last})
// Sequence parallelism is a CPU-target feature.
// RUN: not ssmc-run %s --shard-seq --target gpu-emulator 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: sequence parallelism (shardSequence) needs the CPU target

func.func @main(%u: tensor<1x5x9xf32>, %dt: tensor<1x5x9xf32>, %A: tensor<5x3xf32>,
                %B: tensor<1x3x9xf32>, %C: tensor<1x3x9xf32>, %D: tensor<5xf32>, %z: tensor<1x5x9xf32>,
                %bias: tensor<5xf32>, %h0: tensor<1x5x3xf32>)
    -> (tensor<1x5x9xf32>, tensor<1x5x3xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<1x5x9xf32>, tensor<1x5x9xf32>, tensor<5x3xf32>, tensor<1x3x9xf32>,
         tensor<1x3x9xf32>, tensor<5xf32>, tensor<1x5x9xf32>, tensor<5xf32>, tensor<1x5x3xf32>)
      -> (tensor<1x5x9xf32>, tensor<1x5x3xf32>)
  return %y, %h : tensor<1x5x9xf32>, tensor<1x5x3xf32>
}
