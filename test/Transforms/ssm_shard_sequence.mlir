// ssm-shard-sequence: each sequence op runs over the rank's slice from a
// zero state, the slice's decay product is computed from the gates, the
// incoming state comes from ssmcMpiCombineAffine, and the op runs again
// from it; L becomes dynamic and the arguments and results say how they
// are split.
// RUN: ssmc-opt %s --ssm-shard-sequence -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @scan(
// CHECK-SAME: %[[U:.*]]: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, %[[DT:.*]]: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, %[[A:.*]]: tensor<4x3xf32>,
// CHECK-SAME: %[[H0:.*]]: tensor<1x4x3xf32>)
// CHECK-SAME: -> (tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, tensor<1x4x3xf32> {ssm.seq_last})
// CHECK: %{{.*}}, %[[LOC:.*]] = ssm.selective_scan %[[U]], %[[DT]], %[[A]], %{{[a-z0-9]*}}, %{{[a-z0-9]*}} delta_softplus :
// CHECK-SAME: -> (tensor<1x4x?xf32>, tensor<1x4x3xf32>)
// The decay: softplus(dt) summed over the slice, then exp(A * sum).
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]{{.*}} ins(%[[DT]]
// CHECK: math.log1p
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%[[A]], %[[SUM]]
// CHECK: math.exp
// CHECK: %[[SIN:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4x3xf32>
// CHECK: call @ssmcMpiCombineAffine({{.*}}) : (memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>) -> ()
// CHECK: %[[SINT:.*]] = bufferization.to_tensor %[[SIN]] restrict writable
// CHECK: %[[OUT:.*]], %[[FIN:.*]] = ssm.selective_scan %[[U]], %[[DT]], %[[A]], {{.*}} h0(%[[SINT]]) delta_softplus
// CHECK: return %[[OUT]], %[[FIN]]
// CHECK: func.func private @ssmcMpiCombineAffine(memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>) attributes {llvm.emit_c_interface}
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
// CHECK: #[[T:.*]] = affine_map<(d0, d1, d2) -> (d0, d2, d1)>
// CHECK-LABEL: func.func @ssd(
// CHECK: ssm.ssd
// CHECK: linalg.generic {indexing_maps = [#[[T]],
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<2x3xf32>)
// CHECK: call @ssmcMpiCombineAffine
// CHECK: %[[Y:.*]] = ssm.ssd {{.*}} h0(
// CHECK-SAME: -> tensor<2x?x3x4xf32>
// CHECK: return %[[Y]] : tensor<2x?x3x4xf32>
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
