// convert-ssm-to-loops on ssm.ssd: parallel over (batch, head, block of head
// channels); one scalar decay per step; the state rows are vectors over p;
// four steps share one pass over the state (then a one-step remainder loop).
// RUN: ssmc-opt %s --convert-ssm-to-loops | FileCheck %s

// CHECK-LABEL: func.func @ssd
// CHECK: scf.parallel (%[[B:.*]], %[[H:.*]], %{{.*}}) = (%c0, %c0, %c0) to (%c2, %c4, %c1)
// CHECK: %[[G:.*]] = arith.divui %[[H]], %c2 : index
// CHECK: memref.alloca(%c6) : memref<?xvector<16xf32>>
// CHECK: scf.for %[[T:.*]] = %c0 to %c16 step %c4 {
// CHECK-COUNT-4: math.exp %{{.*}} : f32
// CHECK: scf.for %[[N:.*]] = %c0 to %c6 step %c1 iter_args(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: memref.load %{{.*}}[%[[N]]] : memref<?xvector<16xf32>>
// CHECK: memref.load %{{.*}}[%[[B]], %[[T]], %[[G]], %[[N]]]
// CHECK-COUNT-8: math.fma
// CHECK: memref.store
// CHECK-COUNT-4: vector.maskedstore
// Remainder: one step at a time.
// CHECK: scf.for %{{.*}} = %c16 to %c16 step %c1 {
// CHECK: vector.scatter
func.func @ssd(%x: tensor<2x16x4x8xf32>, %dt: tensor<2x16x4xf32>, %A: tensor<4xf32>, %B: tensor<2x16x2x6xf32>)
    -> (tensor<2x16x4x8xf32>, tensor<2x4x8x6xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B
      : (tensor<2x16x4x8xf32>, tensor<2x16x4xf32>, tensor<4xf32>, tensor<2x16x2x6xf32>, tensor<2x16x2x6xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x6xf32>)
  return %y, %h : tensor<2x16x4x8xf32>, tensor<2x4x8x6xf32>
}
