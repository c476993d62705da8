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

// The peers' options: dt read as f32 next to bf16 x, clamped to dt_limit
// after softplus (max with lo, min with hi) once per step and head; D [H, P]
// loaded as a vector of the head's row with the output lanes.
// CHECK-LABEL: func.func @ssd_peer_options
// CHECK: scf.parallel (%[[S:.*]], %[[H:.*]]) =
// CHECK: memref.load %{{.*}}[%[[S]], %{{.*}}, %[[H]]] : memref<1x8x2xf32>
// CHECK: math.log1p
// CHECK: arith.maxnumf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT: arith.minnumf %{{.*}}, %{{.*}} : f32
// CHECK: vector.maskedload %{{.*}}[%[[H]], %{{.*}}], %{{.*}}, %{{.*}} : memref<2x16xf32>, vector<16xi1>, vector<16xf32> into vector<16xf32>
// CHECK: math.fma
func.func @ssd_peer_options(%x: tensor<1x8x2x16xbf16>, %dt: tensor<1x8x2xf32>, %A: tensor<2xf32>, %B: tensor<1x8x1x4xbf16>,
                            %D: tensor<2x16xf32>) -> tensor<1x8x2x16xbf16> {
  %y = ssm.ssd %x, %dt, %A, %B, %B D(%D) dt_softplus {dt_limit = array<f64: 0.001, 0.1>}
      : (tensor<1x8x2x16xbf16>, tensor<1x8x2xf32>, tensor<2xf32>, tensor<1x8x1x4xbf16>, tensor<1x8x1x4xbf16>,
         tensor<2x16xf32>) -> tensor<1x8x2x16xbf16>
  return %y : tensor<1x8x2x16xbf16>
}
