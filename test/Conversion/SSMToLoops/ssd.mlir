// convert-ssm-to-loops on ssm.ssd: the chunked kernel, one task per
// (batch, head). Per chunk of four steps: the rows of x and out two chunks
// ahead are prefetched, the C and B rows go to stack buffers, the 4 x 4
// lower-triangular dot products C_j . B_u are taken once, the rows are
// scaled by their decays, and one pass over the state rows per block of
// head channels does four read-outs and one update (a one-step remainder
// loop follows).
// RUN: ssmc-opt %s --convert-ssm-to-loops | FileCheck %s

// CHECK-LABEL: func.func @ssd
// CHECK: scf.parallel (%[[B:.*]], %[[H:.*]]) = (%c0, %c0) to (%c2, %c4) step (%c1, %c1)
// CHECK: %[[G:.*]] = arith.divui %[[H]], %c2 : index
// CHECK: %[[STATE:.*]] = memref.alloca(%c6) : memref<?xvector<16xf32>>
// CHECK: %[[QS:.*]] = memref.alloca(%c64) : memref<?xf32>
// CHECK: %[[KS:.*]] = memref.alloca(%c64) : memref<?xf32>
// CHECK: scf.for %[[T:.*]] = %c0 to %c16 step %c4 {
// CHECK: memref.prefetch %{{.*}}[%[[B]], %{{.*}}, %[[H]], %{{.*}}], read
// CHECK: memref.prefetch %{{.*}}[%[[B]], %{{.*}}, %[[H]], %{{.*}}], write
// CHECK: vector.maskedload %{{.*}}[%[[B]], %{{.*}}, %[[G]], %{{.*}}]
// CHECK: vector.store %{{.*}}, %[[QS]]
// CHECK: vector.store %{{.*}}, %[[KS]]
// CHECK-COUNT-10: vector.reduction <add>
// CHECK: scf.for %[[N:.*]] = %c0 to %c6 step %c1 iter_args(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: memref.load %[[STATE]]
// CHECK: memref.load %[[QS]][%[[N]]]
// CHECK-COUNT-4: math.fma
// CHECK: arith.mulf
// CHECK: memref.load %[[KS]][%[[N]]]
// CHECK-COUNT-4: math.fma
// CHECK: memref.store %{{.*}}, %[[STATE]]
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
