// ssm.causal_conv1d on constants, by hand: W = 3, weight [1, 2, 3], bias 1,
// x = [1, 2, 3, 4], initial state [10, 20] (the two inputs before x):
//   out = 1 + [1*10 + 2*20 + 3*1, 1*20 + 2*1 + 3*2, 1*1 + 2*2 + 3*3, 1*2 + 2*3 + 3*4]
//       = [54, 29, 15, 21];  final state = the last two inputs [3, 4].
// RUN: ssmc-run %s | FileCheck %s
// CHECK: result #0: f32 [1, 1, 4]
// CHECK-NEXT: 54 29 15 21
// CHECK: result #1: f32 [1, 1, 2]
// CHECK-NEXT: 3 4
func.func @main() -> (tensor<1x1x4xf32>, tensor<1x1x2xf32>) {
  %x = arith.constant dense<[[[1.0, 2.0, 3.0, 4.0]]]> : tensor<1x1x4xf32>
  %w = arith.constant dense<[[1.0, 2.0, 3.0]]> : tensor<1x3xf32>
  %b = arith.constant dense<1.0> : tensor<1xf32>
  %s = arith.constant dense<[[[10.0, 20.0]]]> : tensor<1x1x2xf32>
  %y, %f = ssm.causal_conv1d %x, %w bias(%b) initial_state(%s)
      : (tensor<1x1x4xf32>, tensor<1x3xf32>, tensor<1xf32>, tensor<1x1x2xf32>) -> (tensor<1x1x4xf32>, tensor<1x1x2xf32>)
  return %y, %f : tensor<1x1x4xf32>, tensor<1x1x2xf32>
}
