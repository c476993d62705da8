// Models mix ssm ops with upstream tensor ops; the CPU pipeline lowers
// elementwise arith/math on tensors, linalg.matmul, tensor.empty/fill and
// casts. Values worked out by hand:
//   [[1,2],[3,4]] x [[5,6],[7,8]] = [[19,22],[43,50]]; + 1 -> [[20,23],[44,51]]
//   exp(0) = 1, max(x, 0) on [-1, 2] = [0, 2]
// RUN: ssmc-run %s --entry matmul_plus_one | FileCheck %s --check-prefix=MM
// RUN: ssmc-run %s --entry elementwise | FileCheck %s --check-prefix=EW

// MM: result #0: f32 [2, 2]
// MM-NEXT: 20 23
// MM-NEXT: 44 51
func.func @matmul_plus_one() -> tensor<2x2xf32> {
  %a = arith.constant dense<[[1.0, 2.0], [3.0, 4.0]]> : tensor<2x2xf32>
  %b = arith.constant dense<[[5.0, 6.0], [7.0, 8.0]]> : tensor<2x2xf32>
  %one = arith.constant dense<1.0> : tensor<2x2xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x2xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<2x2xf32>) -> tensor<2x2xf32>
  %mm = linalg.matmul ins(%a, %b : tensor<2x2xf32>, tensor<2x2xf32>) outs(%acc : tensor<2x2xf32>) -> tensor<2x2xf32>
  %r = arith.addf %mm, %one : tensor<2x2xf32>
  return %r : tensor<2x2xf32>
}

// EW: result #0: f32 [2]
// EW-NEXT: 1 1
// EW: result #1: f64 [2]
// EW-NEXT: 0 2
func.func @elementwise() -> (tensor<2xf32>, tensor<2xf64>) {
  %z = arith.constant dense<0.0> : tensor<2xf32>
  %x = arith.constant dense<[-1.0, 2.0]> : tensor<2xf32>
  %zero = arith.constant dense<0.0> : tensor<2xf32>
  %e = math.exp %z : tensor<2xf32>
  %m = arith.maximumf %x, %zero : tensor<2xf32>
  %d = arith.extf %m : tensor<2xf32> to tensor<2xf64>
  return %e, %d : tensor<2xf32>, tensor<2xf64>
}
