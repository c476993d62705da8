// ssm.linear_attention end to end through ssmc-run on constants, checked
// against values worked out by hand. With K = 1, q = k = 1 and scale 1 the
// state is a running (decayed) sum of v:
//   no gate:         o_t = v_1 + ... + v_t
//   gate log(1/2):   o_t = o_{t-1} / 2 + v_t
// v = [[1, 10], [2, 20], [4, 40]] (L = 3, V = 2).
// RUN: ssmc-run %s --entry plain | FileCheck %s --check-prefix=PLAIN
// RUN: ssmc-run %s --entry decayed | FileCheck %s --check-prefix=DECAY
// RUN: ssmc-run %s --entry packed | FileCheck %s --check-prefix=PACKED

// PLAIN: result #0: f32 [1, 1, 3, 2]
// PLAIN-NEXT: 1 10
// PLAIN-NEXT: 3 30
// PLAIN-NEXT: 7 70
func.func @plain() -> tensor<1x1x3x2xf32> {
  %q = arith.constant dense<1.0> : tensor<1x1x3x1xf32>
  %v = arith.constant dense<[[[[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]]]]> : tensor<1x1x3x2xf32>
  %o = ssm.linear_attention %q, %q, %v {scale = 1.0}
      : (tensor<1x1x3x1xf32>, tensor<1x1x3x1xf32>, tensor<1x1x3x2xf32>) -> tensor<1x1x3x2xf32>
  return %o : tensor<1x1x3x2xf32>
}

// DECAY: result #0: f32 [1, 1, 3, 2]
// DECAY-NEXT: 1 10
// DECAY-NEXT: 2.5 25
// DECAY-NEXT: 5.25 52.5
// DECAY: result #1: f32 [1, 1, 1, 2]
// DECAY-NEXT: 5.25 52.5
func.func @decayed() -> (tensor<1x1x3x2xf32>, tensor<1x1x1x2xf32>) {
  %q = arith.constant dense<1.0> : tensor<1x1x3x1xf32>
  %v = arith.constant dense<[[[[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]]]]> : tensor<1x1x3x2xf32>
  %g = arith.constant dense<-0.69314718055994530942> : tensor<1x1x3xf32>
  %o, %s = ssm.linear_attention %q, %q, %v gate(%g) {scale = 1.0}
      : (tensor<1x1x3x1xf32>, tensor<1x1x3x1xf32>, tensor<1x1x3x2xf32>, tensor<1x1x3xf32>)
      -> (tensor<1x1x3x2xf32>, tensor<1x1x1x2xf32>)
  return %o, %s : tensor<1x1x3x2xf32>, tensor<1x1x1x2xf32>
}

// Two packed sequences [0, 1) and [1, 3): the second restarts from zero.
// PACKED: result #0: f32 [1, 1, 3, 2]
// PACKED-NEXT: 1 10
// PACKED-NEXT: 2 20
// PACKED-NEXT: 6 60
// PACKED: result #1: f32 [2, 1, 1, 2]
// PACKED-NEXT: 1 10
// PACKED-NEXT: 6 60
func.func @packed() -> (tensor<1x1x3x2xf32>, tensor<2x1x1x2xf32>) {
  %q = arith.constant dense<1.0> : tensor<1x1x3x1xf32>
  %v = arith.constant dense<[[[[1.0, 10.0], [2.0, 20.0], [4.0, 40.0]]]]> : tensor<1x1x3x2xf32>
  %cu = arith.constant dense<[0, 1, 3]> : tensor<3xi64>
  %o, %s = ssm.linear_attention %q, %q, %v cu_seqlens(%cu) {scale = 1.0}
      : (tensor<1x1x3x1xf32>, tensor<1x1x3x1xf32>, tensor<1x1x3x2xf32>, tensor<3xi64>)
      -> (tensor<1x1x3x2xf32>, tensor<2x1x1x2xf32>)
  return %o, %s : tensor<1x1x3x2xf32>, tensor<2x1x1x2xf32>
}
