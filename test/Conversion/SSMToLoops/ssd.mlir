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

// seq_idx [B, L]: one task per (batch row, head) walks the row's segments
// (a scf.while finding each segment's end), running the chunked kernel per
// segment inside an alloca_scope; h0 enters only the first segment, the
// final state leaves only the last.
// CHECK-LABEL: func.func @ssd_seq_idx
// CHECK: scf.parallel (%[[ROW:.*]], %[[HD:.*]]) = (%c0, %c0) to (%c2, %c2)
// CHECK: scf.while (%{{.*}} = %c0, %{{.*}} = %true) : (index, i1) -> (index, i1)
// CHECK: memref.load %{{.*}}[%[[ROW]], %{{.*}}] : memref<2x19xi32>
// CHECK: memref.alloca_scope
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c0 : index
// CHECK: %[[ENDS:.*]] = arith.cmpi eq, %{{.*}}, %c19 : index
// CHECK: %[[H0:.*]] = vector.gather %{{.*}}[%[[ROW]], %[[HD]], %{{.*}}] {{.*}} : memref<2x2x9x5xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: arith.select %[[FIRST]], %[[H0]], %{{.*}} : vector<16xf32>
// CHECK: %[[LANES:.*]] = vector.broadcast %[[ENDS]] : i1 to vector<16xi1>
// CHECK: %[[MASK:.*]] = arith.andi %{{.*}}, %[[LANES]] : vector<16xi1>
// CHECK: vector.scatter %{{.*}}[%[[ROW]], %[[HD]], %{{.*}}, %{{.*}}] [%{{.*}}], %[[MASK]]
func.func @ssd_seq_idx(%x: tensor<2x19x2x9xf32>, %dt: tensor<2x19x2xf32>, %A: tensor<2xf32>, %B: tensor<2x19x1x5xf32>,
                       %h0: tensor<2x2x9x5xf32>, %s: tensor<2x19xi32>) -> (tensor<2x19x2x9xf32>, tensor<2x2x9x5xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B h0(%h0) seq_idx(%s)
      : (tensor<2x19x2x9xf32>, tensor<2x19x2xf32>, tensor<2xf32>, tensor<2x19x1x5xf32>, tensor<2x19x1x5xf32>,
         tensor<2x2x9x5xf32>, tensor<2x19xi32>) -> (tensor<2x19x2x9xf32>, tensor<2x2x9x5xf32>)
  return %y, %h : tensor<2x19x2x9xf32>, tensor<2x2x9x5xf32>
}

// A decode step (static L = 1): per head channel p the state row h0[p, :]
// is read along N with contiguous masked loads, updated and stored once,
// and C . h is one horizontal sum per channel; no gathers or scatters.
// CHECK-LABEL: func.func @ssd_single_step
// CHECK: scf.parallel (%[[S:.*]], %[[H:.*]]) =
// CHECK: math.exp %{{.*}} : f32
// CHECK: scf.for %[[P:.*]] = %c0 to %c8 step %c1 {
// CHECK: scf.for %[[N:.*]] = %c0 to %c20 step %c16 iter_args(%{{.*}} = %{{.*}}) -> (vector<16xf32>) {
// CHECK: vector.create_mask
// CHECK: vector.maskedload %{{.*}}[%[[S]], %[[H]], %[[P]], %[[N]]]
// CHECK: math.fma
// CHECK: vector.maskedstore %{{.*}}[%[[S]], %[[H]], %[[P]], %[[N]]]
// CHECK: math.fma
// CHECK: vector.reduction <add>
// CHECK: memref.store %{{.*}}[%{{.*}}, %c0, %[[H]], %[[P]]]
// CHECK-NOT: vector.gather
// CHECK-NOT: vector.scatter
func.func @ssd_single_step(%x: tensor<2x1x4x8xf32>, %dt: tensor<2x1x4xf32>, %A: tensor<4xf32>,
                           %B: tensor<2x1x2x20xf32>, %h0: tensor<2x4x8x20xf32>, %D: tensor<4xf32>)
    -> (tensor<2x1x4x8xf32>, tensor<2x4x8x20xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B D(%D) h0(%h0) dt_softplus
      : (tensor<2x1x4x8xf32>, tensor<2x1x4xf32>, tensor<4xf32>, tensor<2x1x2x20xf32>, tensor<2x1x2x20xf32>,
         tensor<4xf32>, tensor<2x4x8x20xf32>)
      -> (tensor<2x1x4x8xf32>, tensor<2x4x8x20xf32>)
  return %y, %h : tensor<2x1x4x8xf32>, tensor<2x4x8x20xf32>
}
