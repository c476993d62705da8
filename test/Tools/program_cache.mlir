// The tools' disk cache of compiled programs (JitOptions::cacheDir,
// SSMC_CACHE_DIR): a second run loads the first run's program instead of
// compiling, with the same results; options that change the code get
// their own entry; a damaged entry is compiled again and replaced; an
// unusable folder or SSMC_NO_DISK_CACHE only means compiling every time.
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-testdata selective-scan --out %t --batch 1 --channels 4 --len 8 --state 2
// RUN: env SSMC_CACHE_DIR=%t/cache ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/y1.npy --bench 1 | FileCheck %s --check-prefix=FIRST
// FIRST: bench: compiled in {{[0-9.]+}} ms
// RUN: ls %t/cache | count 1
// RUN: ls %t/cache | FileCheck %s --check-prefix=ENTRY
// ENTRY: {{^[0-9a-f]{64}\.ssmco$}}
// RUN: env SSMC_CACHE_DIR=%t/cache ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/y2.npy --bench 1 | FileCheck %s --check-prefix=CACHED
// CACHED: bench: loaded from the program cache in {{[0-9.]+}} ms
// RUN: ssmc-testdata compare %t/y2.npy %t/ref_out.npy
// RUN: cmp %t/y1.npy %t/y2.npy
//
// Another thread count is another program: a second entry.
// RUN: env SSMC_CACHE_DIR=%t/cache ssmc-run %s --threads 1 --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/y3.npy --bench 1 | FileCheck %s --check-prefix=FIRST
// RUN: ls %t/cache | count 2
//
// Damaged entries (truncated to 100 bytes) are compiled again and replaced.
// RUN: for f in %t/cache/*.ssmco; do head -c 100 $f > %t/cut && mv %t/cut $f; done
// RUN: env SSMC_CACHE_DIR=%t/cache ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/y4.npy --bench 1 | FileCheck %s --check-prefix=FIRST
// RUN: cmp %t/y1.npy %t/y4.npy
// RUN: env SSMC_CACHE_DIR=%t/cache ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/y5.npy --bench 1 | FileCheck %s --check-prefix=CACHED
// RUN: ls %t/cache | count 2
//
// Off, or a folder that cannot be created: compiled, nothing written.
// RUN: env SSMC_CACHE_DIR=%t/off SSMC_NO_DISK_CACHE=1 ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/y6.npy --bench 1 | FileCheck %s --check-prefix=FIRST
// RUN: not ls %t/off
// RUN: touch %t/file
// RUN: env SSMC_CACHE_DIR=%t/file/cache ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/y7.npy --bench 1 | FileCheck %s --check-prefix=FIRST
// RUN: cmp %t/y1.npy %t/y7.npy
//
// --emit prints the compiler's IR: never served from the cache.
// RUN: env SSMC_CACHE_DIR=%t/cache ssmc-run %s --emit=loops | FileCheck %s --check-prefix=LOOPS
// LOOPS: scf.for

func.func @main(%u: tensor<1x4x8xf32>, %dt: tensor<1x4x8xf32>, %A: tensor<4x2xf32>,
                %B: tensor<1x2x8xf32>, %C: tensor<1x2x8xf32>) -> tensor<1x4x8xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>,
         tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}
