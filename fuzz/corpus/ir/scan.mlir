// ssm.scan end to end on constants, results checked against values worked
// out by hand: prefix sums, a reverse exclusive scan with init, and the
// linear recurrence h_t = a_t h_{t-1} + b_t with a = 0.5, b = 1, 2, 3, 4:
// h = 1, 2.5, 4.25, 6.125.
// RUN: ssmc-run %s --entry sums | FileCheck %s --check-prefix=SUMS
// RUN: ssmc-run %s --entry recurrence | FileCheck %s --check-prefix=REC
// RUN: ssmc-run %s --entry scaled --input 10 | FileCheck %s --check-prefix=SCALED

// SUMS: result #0: i32 [2, 4]
// SUMS-NEXT: 1 3 6 10
// SUMS-NEXT: 5 11 18 26
// SUMS: result #1: i32 [2, 4]
// SUMS-NEXT: 109 107 104 100
// SUMS-NEXT: 121 115 108 100
func.func @sums() -> (tensor<2x4xi32>, tensor<2x4xi32>) {
  %x = arith.constant dense<[[1, 2, 3, 4], [5, 6, 7, 8]]> : tensor<2x4xi32>
  %c100 = arith.constant 100 : i32
  %inc = ssm.scan %x axis = 1 : (tensor<2x4xi32>) -> tensor<2x4xi32> {
  ^bb0(%a: i32, %b: i32):
    %s = arith.addi %a, %b : i32
    ssm.yield %s : i32
  }
  %exc = ssm.scan %x init(%c100 : i32) axis = 1 reverse exclusive : (tensor<2x4xi32>) -> tensor<2x4xi32> {
  ^bb0(%a: i32, %b: i32):
    %s = arith.addi %a, %b : i32
    ssm.yield %s : i32
  }
  return %inc, %exc : tensor<2x4xi32>, tensor<2x4xi32>
}

// REC: result #0: f32 [4]
// REC-NEXT: 1 2.5 4.25 6.125
func.func @recurrence() -> tensor<4xf32> {
  %a = arith.constant dense<0.5> : tensor<4xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %p, %h = ssm.scan %a, %b axis = 0 : (tensor<4xf32>, tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = arith.mulf %a2, %b1 : f32
    %2 = arith.addf %1, %b2 : f32
    ssm.yield %0, %2 : f32, f32
  }
  return %h : tensor<4xf32>
}

// A scalar argument (--input 10) as the init of a running max along axis 0.
// SCALED: result #0: f64 [3, 2]
// SCALED-NEXT: 10 12
// SCALED-NEXT: 11 12
// SCALED-NEXT: 11 13
func.func @scaled(%init: f64) -> tensor<3x2xf64> {
  %x = arith.constant dense<[[3.0, 12.0], [11.0, -1.0], [4.0, 13.0]]> : tensor<3x2xf64>
  %r = ssm.scan %x init(%init : f64) axis = 0 : (tensor<3x2xf64>) -> tensor<3x2xf64> {
  ^bb0(%a: f64, %b: f64):
    %m = arith.maximumf %a, %b : f64
    ssm.yield %m : f64
  }
  return %r : tensor<3x2xf64>
}
