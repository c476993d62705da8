// A rank that fails stops every rank within seconds, with a message naming
// it, and no output file is left behind: rank 1 of 2 (mpirun's MPMD form
// gives it a missing input) fails while rank 0 waits for its state in the
// combine. Also: a program that cannot be distributed is an error before
// anything runs (the same on every rank; checked on one).
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 1 --channels 3 --len 8 --state 2 --seed 1
// RUN: not %mpirun 1 ssmc-run %s --shard-seq --threads 1 --input %t/u.npy --input %t/dt.npy --input %t/A.npy \
// RUN:   --input %t/B.npy --input %t/C.npy --output %t/y.npy : \
// RUN:   -np 1 ssmc-run %s --shard-seq --threads 1 --input %t/u.npy --input %t/missing.npy --input %t/A.npy \
// RUN:   --input %t/B.npy --input %t/C.npy --output %t/y.npy 2> %t/err.txt
// RUN: FileCheck %s < %t/err.txt
// RUN: not ls %t/y.npy %t/y.npy.partial
// CHECK: ssmc: rank 1 of 2: error: ssmc-run: {{.*}}missing.npy
// RUN: not ssmc-run %S/Inputs/mixed.mlir --shard-seq --input %t/u.npy --input %t/dt.npy \
// RUN:   --input %t/A.npy --input %t/B.npy --input %t/C.npy 2>&1 | FileCheck %s --check-prefix=MIXED
// MIXED-DAG: uses a slice of the sequence or a final state; under ssm-shard-sequence only the sequence ops and the return may
// MIXED-DAG: cannot distribute the sequence over ranks

func.func @main(%u: tensor<1x3x8xf32>, %dt: tensor<1x3x8xf32>, %A: tensor<3x2xf32>,
                %B: tensor<1x2x8xf32>, %C: tensor<1x2x8xf32>) -> tensor<1x3x8xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<3x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>)
      -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}
