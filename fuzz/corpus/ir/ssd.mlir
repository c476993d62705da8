// ssm.ssd end to end on constants with values worked out by hand: one head,
// P = 2, N = 1, B = C = 1, A = -ln 2 and dt = 1, so the decay is 1/2 and
// h_t = h_{t-1} / 2 + x_t:  x = [[1, 10], [2, 20], [4, 40]] gives
// y = [[1, 10], [2.5, 25], [5.25, 52.5]]; with D = 1 each y adds x.
// RUN: ssmc-run %s | FileCheck %s
// RUN: ssmc-run %s --entry packed | FileCheck %s --check-prefix=PACKED
// The same programs rewritten as linear attention (ssm-decompose) give the
// same numbers.
// RUN: ssmc-opt %s --ssm-decompose -o %t.mlir
// RUN: ssmc-run %t.mlir | FileCheck %s
// RUN: ssmc-run %t.mlir --entry packed | FileCheck %s --check-prefix=PACKED

// CHECK: result #0: f32 [1, 3, 1, 2]
// CHECK-NEXT: 1 10
// CHECK-NEXT: 2.5 25
// CHECK-NEXT: 5.25 52.5
// CHECK: result #1: f32 [1, 3, 1, 2]
// CHECK-NEXT: 2 20
// CHECK-NEXT: 4.5 45
// CHECK-NEXT: 9.25 92.5
func.func @main() -> (tensor<1x3x1x2xf32>, tensor<1x3x1x2xf32>) {
  %x = arith.constant dense<[[[[1.0, 10.0]], [[2.0, 20.0]], [[4.0, 40.0]]]]> : tensor<1x3x1x2xf32>
  %dt = arith.constant dense<1.0> : tensor<1x3x1xf32>
  %A = arith.constant dense<-0.69314718055994530942> : tensor<1xf32>
  %B = arith.constant dense<1.0> : tensor<1x3x1x1xf32>
  %D = arith.constant dense<1.0> : tensor<1xf32>
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x3x1x2xf32>, tensor<1x3x1xf32>, tensor<1xf32>, tensor<1x3x1x1xf32>, tensor<1x3x1x1xf32>) -> tensor<1x3x1x2xf32>
  %yd = ssm.ssd %x, %dt, %A, %B, %B D(%D) : (tensor<1x3x1x2xf32>, tensor<1x3x1xf32>, tensor<1xf32>, tensor<1x3x1x1xf32>, tensor<1x3x1x1xf32>, tensor<1xf32>) -> tensor<1x3x1x2xf32>
  return %y, %yd : tensor<1x3x1x2xf32>, tensor<1x3x1x2xf32>
}

// Two packed sequences [0, 1) and [1, 3): the second restarts from zero, so
// y = [[1, 10], [2, 20], [5, 50]] and the final states are [1, 10] and [5, 50].
// PACKED: result #0: f32 [1, 3, 1, 2]
// PACKED-NEXT: 1 10
// PACKED-NEXT: 2 20
// PACKED-NEXT: 5 50
// PACKED: result #1: f32 [2, 1, 2, 1]
// PACKED-NEXT: 1
// PACKED-NEXT: 10
// PACKED-NEXT: 5
// PACKED-NEXT: 50
func.func @packed() -> (tensor<1x3x1x2xf32>, tensor<2x1x2x1xf32>) {
  %x = arith.constant dense<[[[[1.0, 10.0]], [[2.0, 20.0]], [[4.0, 40.0]]]]> : tensor<1x3x1x2xf32>
  %dt = arith.constant dense<1.0> : tensor<1x3x1xf32>
  %A = arith.constant dense<-0.69314718055994530942> : tensor<1xf32>
  %B = arith.constant dense<1.0> : tensor<1x3x1x1xf32>
  %cu = arith.constant dense<[0, 1, 3]> : tensor<3xi32>
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B cu_seqlens(%cu)
      : (tensor<1x3x1x2xf32>, tensor<1x3x1xf32>, tensor<1xf32>, tensor<1x3x1x1xf32>, tensor<1x3x1x1xf32>, tensor<3xi32>)
      -> (tensor<1x3x1x2xf32>, tensor<2x1x2x1xf32>)
  return %y, %h : tensor<1x3x1x2xf32>, tensor<2x1x2x1xf32>
}
