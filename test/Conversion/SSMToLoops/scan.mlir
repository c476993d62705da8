// convert-ssm-to-loops on ssm.scan: lanes in parallel, one sequential walk
// per lane with the combiner inlined.
// RUN: ssmc-opt %s -split-input-file --convert-ssm-to-loops | FileCheck %s

// CHECK-LABEL: func.func @inclusive
// CHECK-DAG: %[[A:.*]] = bufferization.to_buffer %arg0 read_only
// CHECK-DAG: %[[OA:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x9xf32>
// CHECK: scf.parallel (%[[I:.*]]) = (%c0) to (%c4) step (%c1)
// Without init the first element starts the accumulators (when L > 0).
// CHECK: scf.if %{{.*}} {
// CHECK: memref.load %[[A]][%[[I]], %c0]
// CHECK: scf.for %[[S:.*]] = %c1 to %c9 step %c1 iter_args(%[[X:.*]] = %{{.*}}, %[[Y:.*]] = %{{.*}}) -> (f32, f32)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: memref.store %{{.*}}, %[[OA]][%[[I]], %[[S]]]
// CHECK: bufferization.to_tensor %[[OA]] restrict :
func.func @inclusive(%a: tensor<4x9xf32>, %b: tensor<4x9xf32>) -> (tensor<4x9xf32>, tensor<4x9xf32>) {
  %p, %h = ssm.scan %a, %b axis = 1
      : (tensor<4x9xf32>, tensor<4x9xf32>) -> (tensor<4x9xf32>, tensor<4x9xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = arith.mulf %a2, %b1 : f32
    %2 = arith.addf %1, %b2 : f32
    ssm.yield %0, %2 : f32, f32
  }
  return %p, %h : tensor<4x9xf32>, tensor<4x9xf32>
}

// -----

// Exclusive reverse scan: stores the accumulator before combining, walks
// position L-1-s.
// CHECK-LABEL: func.func @exclusive_reverse
// CHECK: scf.for %[[S:.*]] = %c0 to %c5 step %c1 iter_args(%[[ACC:.*]] = %arg1) -> (i32)
// CHECK: %[[T:.*]] = arith.subi %c4, %[[S]]
// CHECK: memref.store %[[ACC]], %{{.*}}[%[[T]]]
// CHECK: arith.addi %[[ACC]]
func.func @exclusive_reverse(%x: tensor<5xi32>, %init: i32) -> tensor<5xi32> {
  %r = ssm.scan %x init(%init : i32) axis = 0 reverse exclusive : (tensor<5xi32>) -> tensor<5xi32> {
  ^bb0(%acc: i32, %next: i32):
    %s = arith.addi %acc, %next : i32
    ssm.yield %s : i32
  }
  return %r : tensor<5xi32>
}
