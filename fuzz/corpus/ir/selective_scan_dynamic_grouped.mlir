// Dynamic shapes with grouped B/C (G = 2) and a state too large for
// registers (N = 72, stack-buffer path), from a single .safetensors-free set
// of .npy inputs; L = 1 and L = 29 from the same compiled program.
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t/a --batch 3 --channels 20 --len 29 --state 72 --groups 2 --seed 5
// RUN: ssmc-run %s --input %t/a/u.npy --input %t/a/dt.npy --input %t/a/A.npy --input %t/a/B.npy --input %t/a/C.npy --output %t/a/y.npy
// RUN: ssmc-testdata compare %t/a/y.npy %t/a/ref_out.npy | FileCheck %s
// RUN: ssmc-testdata selective-scan --out %t/b --batch 1 --channels 4 --len 1 --state 72 --groups 2 --seed 6
// RUN: ssmc-run %s --input %t/b/u.npy --input %t/b/dt.npy --input %t/b/A.npy --input %t/b/B.npy --input %t/b/C.npy --output %t/b/y.npy
// RUN: ssmc-testdata compare %t/b/y.npy %t/b/ref_out.npy | FileCheck %s
// CHECK: OK

func.func @main(%u: tensor<?x?x?xf32>, %dt: tensor<?x?x?xf32>, %A: tensor<?x?xf32>,
                %B: tensor<?x?x?x?xf32>, %C: tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?x?x?xf32>,
         tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}
