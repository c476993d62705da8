// Dynamic dimensions that disagree at run time are reported as errors naming
// the op, its location, the dimension and both sizes; the loops never run on
// inconsistent buffers.
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t/a --channels 8 --len 12 --state 4 --seed 1
// RUN: ssmc-testdata selective-scan --out %t/b --channels 8 --len 13 --state 4 --seed 1
// RUN: ssmc-testdata selective-scan --out %t/c --channels 6 --len 12 --state 4 --groups 4 --seed 1
// RUN: not ssmc-run %s --input %t/a/u.npy --input %t/b/dt.npy --input %t/a/A.npy --input %t/a/B.npy --input %t/a/C.npy 2>&1 | FileCheck %s --check-prefix=DELTA
// RUN: not ssmc-run %s --input %t/a/u.npy --input %t/a/dt.npy --input %t/a/A.npy --input %t/a/B.npy --input %t/b/C.npy 2>&1 | FileCheck %s --check-prefix=CL
// RUN: not ssmc-run %s --entry grouped --input %t/c/u.npy --input %t/c/dt.npy --input %t/c/A.npy --input %t/c/B.npy --input %t/c/C.npy 2>&1 | FileCheck %s --check-prefix=GROUPS
// RUN: not ssmc-run %s --entry static_out --input %t/b/u.npy --input %t/b/dt.npy --input %t/b/A.npy --input %t/b/B.npy --input %t/b/C.npy 2>&1 | FileCheck %s --check-prefix=OUT
// RUN: not ssmc-run %s --entry scan --input %t/a/u.npy --input %t/b/u.npy 2>&1 | FileCheck %s --check-prefix=SCAN

// DELTA: ssmc-run: error: run-time shape mismatch in 'main': ssm.selective_scan at {{.*}}runtime_shape_checks.mlir:[[@LINE+4]]:8: dimension 2 (L) of 'delta' must equal dimension 2 of 'u' (got 13, expected 12)
// CL: ssmc-run: error: run-time shape mismatch in 'main': ssm.selective_scan at {{.*}}: dimension 2 (L) of 'C' must equal dimension 2 of 'u' (got 13, expected 12)
func.func @main(%u: tensor<?x?x?xf32>, %dt: tensor<?x?x?xf32>, %A: tensor<?x?xf32>,
                %B: tensor<?x?x?xf32>, %C: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>,
         tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// GROUPS: ssmc-run: error: run-time shape mismatch in 'grouped': ssm.selective_scan at {{.*}}: the channel count Dm must be divisible by the group count G (reported: Dm mod G) (got 2, expected 0)
func.func @grouped(%u: tensor<?x?x?xf32>, %dt: tensor<?x?x?xf32>, %A: tensor<?x?xf32>,
                   %B: tensor<?x?x?x?xf32>, %C: tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?x?x?xf32>,
         tensor<?x?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// A static result shape is a promise about the dynamic inputs.
// OUT: ssmc-run: error: run-time shape mismatch in 'static_out': ssm.selective_scan at {{.*}}: dimension 2 (L) of result 'out' must equal dimension 2 of 'u' (got 12, expected 13)
func.func @static_out(%u: tensor<?x?x?xf32>, %dt: tensor<?x?x?xf32>, %A: tensor<?x?xf32>,
                      %B: tensor<?x?x?xf32>, %C: tensor<?x?x?xf32>) -> tensor<1x8x12xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>,
         tensor<?x?x?xf32>) -> tensor<1x8x12xf32>
  return %y : tensor<1x8x12xf32>
}

// SCAN: ssmc-run: error: run-time shape mismatch in 'scan': ssm.scan at {{.*}}: dimension 2 of input #1 must equal dimension 2 of input #0 (got 13, expected 12)
func.func @scan(%a: tensor<?x?x?xf32>, %b: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %p, %h = ssm.scan %a, %b axis = 2
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> (tensor<?x?x?xf32>, tensor<?x?x?xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = arith.mulf %a2, %b1 : f32
    %2 = arith.addf %1, %b2 : f32
    ssm.yield %0, %2 : f32, f32
  }
  return %h : tensor<?x?x?xf32>
}
