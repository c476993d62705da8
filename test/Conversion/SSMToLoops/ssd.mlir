// convert-ssm-to-loops on ssm.ssd: parallel over (batch, head, block of head
// channels); one scalar decay per step; the state rows are vectors over p.
// RUN: ssmc-opt %s --convert-ssm-to-loops | FileCheck %s

// CHECK-LABEL: func.func @ssd
// CHECK: scf.parallel (%[[B:.*]], %[[H:.*]], %{{.*}}) = (%c0, %c0, %c0) to (%c2, %c4, %c1)
// CHECK: %[[G:.*]] = arith.divui %[[H]], %c2 : index
// CHECK: memref.alloca(%c6) : memref<?xvector<16xf32>>
// CHECK: scf.for %[[T:.*]] = %c0 to %c16 step %c1 {
// CHECK: %[[DECAY:.*]] = math.exp %{{.*}} : f32
// CHECK: vector.maskedload
// CHECK: scf.for %[[N:.*]] = %c0 to %c6 step %c1 iter_args
// CHECK: memref.load %{{.*}}[%[[B]], %[[T]], %[[G]], %[[N]]]
// CHECK: math.fma
// CHECK: vector.maskedstore
// CHECK: vector.scatter
func.func @ssd(%x: tensor<2x16x4x8xf32>, %dt: tensor<2x16x4xf32>, %A: tensor<4xf32>, %B: tensor<2x16x2x6xf32>)
    -> (tensor<2x16x4x8xf32>, tensor<2x4x8x6xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B
      : (tensor<2x16x4x8xf32>, tensor<2x16x4xf32>, tensor<4xf32>, tensor<2x16x2x6xf32>, tensor<2x16x2x6xf32>)
      -> (tensor<2x16x4x8xf32>, tensor<2x4x8x6xf32>)
  return %y, %h : tensor<2x16x4x8xf32>, tensor<2x4x8x6xf32>
}
