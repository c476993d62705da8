// ssmc-run reports every misuse with a message and a documented exit code
// (1: program, file or runtime error; 2: command line) and never crashes.
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata selective-scan --out %t --batch 1 --channels 4 --len 8 --state 2
// RUN: not ssmc-run %s --input %t/u.npy 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not ssmc-run %s --input %t/u.npy --input %t/u.npy --input %t/u.npy --input %t/B.npy --input %t/C.npy 2>&1 | FileCheck %s --check-prefix=SHAPE
// RUN: not ssmc-run %s --input nope=%t/u.npy 2>&1 | FileCheck %s --check-prefix=NAME
// RUN: not ssmc-run %s --entry other 2>&1 | FileCheck %s --check-prefix=ENTRY
// RUN: not ssmc-run %s --input %t/missing.npy 2>&1 | FileCheck %s --check-prefix=NOFILE
// RUN: head -c 150 %t/u.npy > %t/truncated.npy
// RUN: not ssmc-run %s --input %t/truncated.npy 2>&1 | FileCheck %s --check-prefix=TRUNC
// RUN: printf 'hello world' > %t/garbage.npy
// RUN: not ssmc-run %s --input %t/garbage.npy 2>&1 | FileCheck %s --check-prefix=MAGIC
// RUN: head -c 100 %t/u.npy > %t/header.npy
// RUN: not ssmc-run %s --input %t/header.npy 2>&1 | FileCheck %s --check-prefix=HEADER
// RUN: not ssmc-run %s --threads=abc 2>&1 | FileCheck %s --check-prefix=THREADS
// RUN: not ssmc-run %s --threads 100000 --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy 2>&1 | FileCheck %s --check-prefix=MANY
// RUN: not ssmc-run %s --target=tpu 2>&1 | FileCheck %s --check-prefix=TARGET
// RUN: not ssmc-run %s --target gpu-emulator --emit=object -o %t/x.o 2>&1 | FileCheck %s --check-prefix=EMUOBJ
// RUN: not ssmc-run %s --target=cuda 2>&1 | FileCheck %s --check-prefix=CUDA
// RUN: not ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output a.npy --output b.npy 2>&1 | FileCheck %s --check-prefix=OUTS
// RUN: ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --bench 3 | FileCheck %s --check-prefix=BENCH
// RUN: sh -c 'ssmc-run %s --input %t/u.npy 2>/dev/null; test $? -eq 2'
// RUN: sh -c 'ssmc-run %s --input %t/garbage.npy 2>/dev/null; test $? -eq 1'

// MISSING: ssmc-run: error: missing --input for argument 'arg1' (tensor<1x4x8xf32>) of 'main'
// SHAPE: ssmc-run: error: input #2 of 'main' (tensor<4x2xf32>) must have rank 2, got shape [1, 4, 8]
// NAME: ssmc-run: error: --input nope={{.*}}: 'main' has no argument named 'nope' (arguments: arg0, arg1, arg2, arg3, arg4)
// ENTRY: ssmc-run: error: no public function named 'other' (the program has: main)
// NOFILE: ssmc-run: error: {{.*}}missing.npy: cannot read
// TRUNC: ssmc-run: error: {{.*}}truncated.npy: truncated: shape [1, 4, 8] of f32 needs 128 bytes of data, the file has 22
// HEADER: ssmc-run: error: {{.*}}header.npy: header length 118 runs past the end of the file
// MAGIC: ssmc-run: error: {{.*}}garbage.npy: not a .npy file (bad magic)
// THREADS: ssmc-run: error: --threads must be a non-negative integer, got 'abc'
// MANY: ssmc-run: error: threads = 100000: more than the {{[0-9]+}} OpenMP threads a program may use (this machine has {{[0-9]+}} hardware threads; 0 uses one per hardware thread)
// MANY-NOT: OMP: Error
// TARGET: ssmc-run: error: --target must be cpu, cuda or gpu-emulator, got 'tpu'
// EMUOBJ: ssmc-run: error: ahead-of-time objects are for the cpu and cuda targets (the GPU emulator needs the OpenMP runtime)
// The CUDA target compiles anywhere; argument errors come before the
// driver is needed (Integration/GPU/no_driver.mlir covers a missing driver).
// CUDA: ssmc-run: error: missing --input for argument 'arg0' (tensor<1x4x8xf32>) of 'main'
// OUTS: ssmc-run: error: 'main' returns 1 results, got 2 --output files
// BENCH: bench: 3 runs, median {{[0-9.]+}} ms, min {{[0-9.]+}} ms
// BENCH: result #0: f32 [1, 4, 8]

func.func @main(%u: tensor<1x4x8xf32>, %dt: tensor<1x4x8xf32>, %A: tensor<4x2xf32>,
                %B: tensor<1x2x8xf32>, %C: tensor<1x2x8xf32>) -> tensor<1x4x8xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>,
         tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}
