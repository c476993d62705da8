// ssm-shard-sequence: each sequence op runs over the rank's slice from a
// zero state, the slice's decay product is computed from the gates, the
// incoming state comes from ssmcMpiCombineAffine, and the op runs again
// from it; rank 0 runs its slice once, from h0. L becomes dynamic and the arguments and results say how they
// are split.
// RUN: ssmc-opt %s --ssm-shard-sequence -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @scan(
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, %[[DT:[a-z0-9]+]]: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, %[[A:[a-z0-9]+]]: tensor<4x3xf32>,
// CHECK-SAME: %[[H0:[a-z0-9]+]]: tensor<1x4x3xf32>)
// CHECK-SAME: -> (tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, tensor<1x4x3xf32> {ssm.seq_last})
// CHECK: %[[RANK:.*]] = call @ssmcMpiRank() : () -> i64
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %[[RANK]], %{{.*}} : i64
// CHECK: %[[RES:.*]]:2 = scf.if %[[FIRST]] -> (tensor<1x4x?xf32>, tensor<1x4x3xf32>) {
// Rank 0: its slice from h0; its final state goes to the combine.
// CHECK: %[[Y0:.*]], %[[F0:.*]] = ssm.selective_scan %[[U]], %[[DT]], %[[A]], {{.*}} h0(%[[H0]]) delta_softplus
// CHECK: %[[F0B:.*]] = bufferization.to_buffer %[[F0]] read_only
// CHECK: %[[F0F:.*]] = memref.collapse_shape %[[F0B]]
// CHECK: %[[F0C:.*]] = memref.cast %[[F0F]]
// CHECK: call @ssmcMpiCombineAffine(%{{.*}}, %[[F0C]], %{{.*}}) : (memref<?xf32>, memref<?xf32>, memref<?xf32>) -> ()
// CHECK: scf.yield %[[Y0]], %[[F0]]
// CHECK: } else {
// The others: the slice from zero, sum_t softplus(dt), exp(A * sum), the
// combine, the slice again from the incoming state.
// CHECK: %{{.*}}, %[[LOC:.*]] = ssm.selective_scan %[[U]], %[[DT]], %[[A]], %{{[a-z0-9_]*}}, %{{[a-z0-9_]*}} delta_softplus :
// CHECK: %[[SUMB:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4xf32>
// CHECK: call @ssmcMpiStepSums({{.*}}, %c2_i64, %c1_i64, %{{.*}}, %{{.*}}) : (memref<?x?x?xf32>, memref<?xf32>, memref<?x?xf32>, i64, i64, f32, f32) -> ()
// CHECK: %[[SUM:.*]] = bufferization.to_tensor %[[SUMB]] restrict writable
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%[[A]], %[[SUM]]
// CHECK: math.exp
// CHECK: %[[SIN:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4x3xf32>
// CHECK: %[[PB:.*]] = bufferization.to_buffer %[[P]] read_only
// CHECK: call @ssmcMpiCombineAffine(
// CHECK: %[[SINT:.*]] = bufferization.to_tensor %[[SIN]] restrict writable
// CHECK: %[[OUT:.*]], %[[FIN:.*]] = ssm.selective_scan %[[U]], %[[DT]], %[[A]], {{.*}} h0(%[[SINT]]) delta_softplus
// CHECK: scf.yield %[[OUT]], %[[FIN]]
// CHECK: return %[[RES]]#0, %[[RES]]#1
// CHECK-DAG: func.func private @ssmcMpiCombineAffine(memref<?xf32>, memref<?xf32>, memref<?xf32>) attributes {llvm.emit_c_interface}
// CHECK-DAG: func.func private @ssmcMpiRank() -> i64
// CHECK-DAG: func.func private @ssmcMpiStepSums(memref<?x?x?xf32>, memref<?xf32>, memref<?x?xf32>, i64, i64, f32, f32) attributes {llvm.emit_c_interface}
func.func @scan(%u: tensor<1x4x10xf32>, %dt: tensor<1x4x10xf32>, %A: tensor<4x3xf32>,
                %B: tensor<1x3x10xf32>, %C: tensor<1x3x10xf32>, %h0: tensor<1x4x3xf32>)
    -> (tensor<1x4x10xf32>, tensor<1x4x3xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C h0(%h0) delta_softplus
      : (tensor<1x4x10xf32>, tensor<1x4x10xf32>, tensor<4x3xf32>, tensor<1x3x10xf32>, tensor<1x3x10xf32>, tensor<1x4x3xf32>)
      -> (tensor<1x4x10xf32>, tensor<1x4x3xf32>)
  return %y, %h : tensor<1x4x10xf32>, tensor<1x4x3xf32>
}

// -----

// ssd: the decay is one value per (batch, head): exp(A[h] * sum_t dt).
// CHECK-LABEL: func.func @ssd(
// CHECK: scf.if
// CHECK: ssm.ssd
// CHECK: call @ssmcMpiCombineAffine
// CHECK: } else {
// CHECK: ssm.ssd
// dt is [B, L, H]: the steps are dimension 1, no softplus here.
// CHECK: call @ssmcMpiStepSums({{.*}}, %c1_i64, %c0_i64{{.*}},
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<2x3xf32>)
// CHECK: call @ssmcMpiCombineAffine
// CHECK: %[[Y:.*]] = ssm.ssd {{.*}} h0(
// CHECK-SAME: -> tensor<2x?x3x4xf32>
// CHECK: scf.yield %[[Y]]
func.func @ssd(%x: tensor<2x11x3x4xf32>, %dt: tensor<2x11x3xf32>, %A: tensor<3xf32>,
                         %B: tensor<2x11x1x5xf32>) -> tensor<2x11x3x4xf32> {
  %y = ssm.ssd %x, %dt, %A, %B, %B
      : (tensor<2x11x3x4xf32>, tensor<2x11x3xf32>, tensor<3xf32>, tensor<2x11x1x5xf32>, tensor<2x11x1x5xf32>)
      -> tensor<2x11x3x4xf32>
  return %y : tensor<2x11x3x4xf32>
}

// -----

// linear_attention without a gate: the decay is the identity (an empty P)
// and the normaliser is combined like the state.
// CHECK-LABEL: func.func @ungated_normalized(
// CHECK-NOT: linalg.generic
// CHECK-NOT: ssmcMpiStepSums
// CHECK: } else {
// CHECK: memref.alloca() : memref<0xf32>
// CHECK: call @ssmcMpiCombineAffine
// CHECK: call @ssmcMpiCombineAffine
// CHECK: ssm.linear_attention {{.*}} h0(%{{.*}}) z0(%{{.*}}) normalize
func.func @ungated_normalized(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x3xf32>)
    -> tensor<1x2x8x3xf32> {
  %o = ssm.linear_attention %q, %k, %v normalize
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>) -> tensor<1x2x8x3xf32>
  return %o : tensor<1x2x8x3xf32>
}

// -----

// A gate per key dimension (GLA): the decay is [B, H, K], summed over t.
// CHECK: #[[T:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>
// CHECK-LABEL: func.func @per_key_gate(
// CHECK: linalg.generic {indexing_maps = [#[[T]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK-SAME: outs(%{{.*}} : tensor<1x2x4xf32>)
// CHECK: call @ssmcMpiCombineAffine
func.func @per_key_gate(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x3xf32>,
                        %g: tensor<1x2x8x4xf32>) -> tensor<1x2x8x3xf32> {
  %o = ssm.linear_attention %q, %k, %v gate(%g)
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x3xf32>
  return %o : tensor<1x2x8x3xf32>
}

// -----

// causal_conv1d: the halo of W - 1 steps before the slice becomes the
// op's initial state; no rescan.
// CHECK-LABEL: func.func @conv(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}
// CHECK-SAME: -> (tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, tensor<1x4x2xf32> {ssm.seq_last})
// CHECK: %[[HALO:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4x2xf32>
// CHECK: call @ssmcMpiHalo(
// CHECK: %[[H:.*]] = bufferization.to_tensor %[[HALO]] restrict writable
// CHECK: %[[Y:.*]], %[[F:.*]] = ssm.causal_conv1d %[[X]], %{{.*}} initial_state(%[[H]]) silu
// CHECK-NOT: ssm.causal_conv1d
// CHECK: return %[[Y]], %[[F]]
func.func @conv(%x: tensor<1x4x10xf32>, %w: tensor<4x3xf32>) -> (tensor<1x4x10xf32>, tensor<1x4x2xf32>) {
  %y, %h = ssm.causal_conv1d %x, %w silu : (tensor<1x4x10xf32>, tensor<4x3xf32>) -> (tensor<1x4x10xf32>, tensor<1x4x2xf32>)
  return %y, %h : tensor<1x4x10xf32>, tensor<1x4x2xf32>
}

// -----

// B and C fixed over time ([Dm, N]) are read whole by every rank: only u
// and delta are split.
// CHECK-LABEL: func.func @scan_fixed_bc(
// CHECK-SAME: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, %{{[a-z0-9]+}}: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, %{{[a-z0-9]+}}: tensor<4x3xf32>, %{{[a-z0-9]+}}: tensor<4x3xf32>, %{{[a-z0-9]+}}: tensor<4x3xf32>)
// CHECK: ssm.selective_scan
func.func @scan_fixed_bc(%u: tensor<1x4x10xf32>, %dt: tensor<1x4x10xf32>, %A: tensor<4x3xf32>,
                         %B: tensor<4x3xf32>, %C: tensor<4x3xf32>) -> tensor<1x4x10xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x4x10xf32>, tensor<1x4x10xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>) -> tensor<1x4x10xf32>
  return %y : tensor<1x4x10xf32>
}

// -----

// Packed sequences: the program's offsets stay whole on every rank; each
// rank clips them to its slice (ssmcMpiLocalSeqlens, before the rank
// branches: a collective), runs the op on its slice with them, and sums
// the steps of each sequence (ssmcMpiSegmentSums) for one decay per
// sequence; the states are per sequence, [S, D, N].
// CHECK-LABEL: func.func @packed_scan(
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, %[[DT:[a-z0-9]+]]: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, %[[A:[a-z0-9]+]]: tensor<4x3xf32>,
// CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<1x3x?xf32> {ssm.seq_dim = 2 : i64}, %[[H0:[a-z0-9]+]]: tensor<2x4x3xf32>, %[[CU:[a-z0-9]+]]: tensor<3xi32>)
// CHECK-SAME: -> (tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, tensor<2x4x3xf32> {ssm.seq_last})
// CHECK: arith.extsi {{.*}} : i32 to i64
// CHECK: call @ssmcMpiLocalSeqlens(%{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi64>, i64, memref<?xi64>) -> ()
// CHECK: %[[LCU:.*]] = bufferization.to_tensor %{{.*}} : memref<3xi64> to tensor<3xi64>
// CHECK: call @ssmcMpiRank()
// CHECK: ssm.selective_scan %[[U]], %[[DT]], %[[A]], %[[B]], %[[B]] h0(%[[H0]]) cu_seqlens(%[[LCU]])
// CHECK: } else {
// CHECK: ssm.selective_scan %[[U]], %[[DT]], %[[A]], %[[B]], %[[B]] cu_seqlens(%[[LCU]])
// CHECK: call @ssmcMpiSegmentSums({{.*}}) : (memref<?x?x?xf32>, memref<?xf32>, memref<?x?xf32>, memref<?xi64>, i64, i64, f32, f32) -> ()
// CHECK: call @ssmcMpiCombineAffine
// CHECK: ssm.selective_scan %[[U]], %[[DT]], %[[A]], %[[B]], %[[B]] h0(%{{.*}}) cu_seqlens(%[[LCU]])
func.func @packed_scan(%u: tensor<1x4x10xf32>, %dt: tensor<1x4x10xf32>, %A: tensor<4x3xf32>,
                       %B: tensor<1x3x10xf32>, %h0: tensor<2x4x3xf32>, %cu: tensor<3xi32>)
    -> (tensor<1x4x10xf32>, tensor<2x4x3xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %B h0(%h0) cu_seqlens(%cu)
      : (tensor<1x4x10xf32>, tensor<1x4x10xf32>, tensor<4x3xf32>, tensor<1x3x10xf32>, tensor<1x3x10xf32>,
         tensor<2x4x3xf32>, tensor<3xi32>) -> (tensor<1x4x10xf32>, tensor<2x4x3xf32>)
  return %y, %h : tensor<1x4x10xf32>, tensor<2x4x3xf32>
}

// -----

// A packed convolution: each sequence's initial state from
// ssmcMpiPackedHalo (the steps before the slice for a sequence running
// through its start, the program's initial state otherwise), the op on the
// slice with the clipped offsets, and each sequence's final state from the
// rank holding its last step (ssmcMpiPackedFinals).
// CHECK-LABEL: func.func @packed_conv(
// CHECK: call @ssmcMpiLocalSeqlens
// CHECK: %[[LCU:.*]] = bufferization.to_tensor %{{.*}} : memref<3xi64> to tensor<3xi64>
// CHECK: call @ssmcMpiPackedHalo(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?x?x?xf32>, memref<?x?x?xf32>, memref<?xi64>, memref<?x?x?xf32>) -> ()
// CHECK: %[[HALO:.*]] = bufferization.to_tensor %{{.*}} : memref<2x4x2xf32> to tensor<2x4x2xf32>
// CHECK: %{{.*}}, %[[F:.*]] = ssm.causal_conv1d %{{.*}}, %{{.*}} initial_state(%[[HALO]]) cu_seqlens(%[[LCU]])
// CHECK: call @ssmcMpiPackedFinals(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xf32>, memref<?xi64>, i64, memref<?xf32>) -> ()
func.func @packed_conv(%x: tensor<1x4x10xf32>, %w: tensor<4x3xf32>, %init: tensor<2x4x2xf32>,
                       %cu: tensor<3xi64>) -> (tensor<1x4x10xf32>, tensor<2x4x2xf32>) {
  %y, %f = ssm.causal_conv1d %x, %w initial_state(%init) cu_seqlens(%cu)
      : (tensor<1x4x10xf32>, tensor<4x3xf32>, tensor<2x4x2xf32>, tensor<3xi64>) -> (tensor<1x4x10xf32>, tensor<2x4x2xf32>)
  return %y, %f : tensor<1x4x10xf32>, tensor<2x4x2xf32>
}
