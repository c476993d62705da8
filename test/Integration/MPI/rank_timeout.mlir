// A rank that hangs makes the others stop within the time-out: rank 1 of 2
// (mpirun's MPMD form) blocks reading an input from a FIFO that nobody
// writes, while rank 0 waits for it in the state combine; with
// SSMC_MPI_TIMEOUT=2 rank 0 gives up after 2 s with a message naming the
// wait, MPI_Abort stops rank 1, and no output file is left behind (the
// outer `timeout` turns a hang into a failure: it would print no message).
// A bad SSMC_MPI_TIMEOUT is an error.
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 1 --channels 3 --len 8 --state 2 --seed 1
// RUN: mkfifo %t/hang.npy
// RUN: not timeout 120 env SSMC_MPI_TIMEOUT=2 %mpirun 1 ssmc-run %s --shard-seq --threads 1 --input %t/u.npy \
// RUN:   --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/y.npy : \
// RUN:   -np 1 ssmc-run %s --shard-seq --threads 1 --input %t/u.npy --input %t/hang.npy --input %t/A.npy \
// RUN:   --input %t/B.npy --input %t/C.npy --output %t/y.npy 2> %t/err.txt
// RUN: FileCheck %s < %t/err.txt
// RUN: not ls %t/y.npy %t/y.npy.partial
// CHECK: ssmc: rank 0 of 2: error: MPI_Allgather (states) timed out: no answer from the other ranks within 2 s (SSMC_MPI_TIMEOUT); a rank is hung, died, or is slower than that
// RUN: not env SSMC_MPI_TIMEOUT=soon %mpirun 1 ssmc-run %s --shard-seq --input %t/u.npy --input %t/dt.npy \
// RUN:   --input %t/A.npy --input %t/B.npy --input %t/C.npy 2>&1 | FileCheck %s --check-prefix=BAD
// BAD: SSMC_MPI_TIMEOUT must be a number of seconds >= 0 (0: no limit), got 'soon'

func.func @main(%u: tensor<1x3x8xf32>, %dt: tensor<1x3x8xf32>, %A: tensor<3x2xf32>,
                %B: tensor<1x2x8xf32>, %C: tensor<1x2x8xf32>) -> tensor<1x3x8xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<3x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x3x8xf32>
  return %y : tensor<1x3x8xf32>
}
