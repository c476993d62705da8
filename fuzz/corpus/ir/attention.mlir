// ssm.attention end to end on constants with values worked out by hand:
// with q = 0 every visible key scores the same, so o_i is the mean of the
// visible values. v = [1, 2, 4, 8] (L = 4, dv = 1):
//   full:            3.75 for every query
//   causal:          1, 1.5, 2.333333, 3.75
//   causal, w = 2:   1, 1.5, 3, 6
// RUN: ssmc-run %s --entry main | FileCheck %s

// CHECK: result #0: f32 [1, 1, 4, 1]
// CHECK-NEXT: 3.75
// CHECK-NEXT: 3.75
// CHECK-NEXT: 3.75
// CHECK-NEXT: 3.75
// CHECK: result #1: f32 [1, 1, 4, 1]
// CHECK-NEXT: 1
// CHECK-NEXT: 1.5
// CHECK-NEXT: 2.33333
// CHECK-NEXT: 3.75
// CHECK: result #2: f32 [1, 1, 4, 1]
// CHECK-NEXT: 1
// CHECK-NEXT: 1.5
// CHECK-NEXT: 3
// CHECK-NEXT: 6
func.func @main() -> (tensor<1x1x4x1xf32>, tensor<1x1x4x1xf32>, tensor<1x1x4x1xf32>) {
  %q = arith.constant dense<0.0> : tensor<1x1x4x2xf32>
  %k = arith.constant dense<[[[[1.0, -1.0], [2.0, 0.5], [0.0, 3.0], [-2.0, 1.0]]]]> : tensor<1x1x4x2xf32>
  %v = arith.constant dense<[[[[1.0], [2.0], [4.0], [8.0]]]]> : tensor<1x1x4x1xf32>
  %full = ssm.attention %q, %k, %v : (tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>, tensor<1x1x4x1xf32>) -> tensor<1x1x4x1xf32>
  %causal = ssm.attention %q, %k, %v causal : (tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>, tensor<1x1x4x1xf32>) -> tensor<1x1x4x1xf32>
  %window = ssm.attention %q, %k, %v causal {window = 2 : i64} : (tensor<1x1x4x2xf32>, tensor<1x1x4x2xf32>, tensor<1x1x4x1xf32>) -> tensor<1x1x4x1xf32>
  return %full, %causal, %window : tensor<1x1x4x1xf32>, tensor<1x1x4x1xf32>, tensor<1x1x4x1xf32>
}
