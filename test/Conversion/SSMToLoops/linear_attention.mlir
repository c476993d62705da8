// convert-ssm-to-loops on ssm.linear_attention: parallel over (sequence,
// head, block of value columns); the K state rows live in a stack buffer of
// vectors; v and o move as contiguous masked vectors; four steps share one
// pass over the rows (each loaded and stored once per four steps).
// RUN: ssmc-opt %s -split-input-file --convert-ssm-to-loops | FileCheck %s

// CHECK-LABEL: func.func @gated
// CHECK: scf.parallel (%[[S:.*]], %[[H:.*]], %[[BLK:.*]]) = (%c0, %c0, %c0) to (%c2, %c4, %c2) step (%c1, %c1, %c1)
// CHECK: %[[STATE:.*]] = memref.alloca(%c8) : memref<?xvector<16xf32>>
// CHECK: scf.for %[[T:.*]] = %c0 to %c16 step %c4 {
// CHECK: %[[VT:.*]] = vector.maskedload %{{.*}}[%[[S]], %[[H]], %[[T]], %{{.*}}]
// CHECK: math.exp %{{.*}} : f32
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1 iter_args(%[[O:.*]] = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, f32, f32, f32, f32)
// CHECK: memref.load %[[STATE]][%[[I]]]
// CHECK: math.fma %{{.*}}, %[[VT]], %{{.*}} : vector<16xf32>
// CHECK: math.fma %{{.*}}, %{{.*}}, %[[O]] : vector<16xf32>
// CHECK: memref.store %{{.*}}, %[[STATE]][%[[I]]]
// CHECK-COUNT-4: vector.maskedstore
func.func @gated(%q: tensor<2x4x16x8xf32>, %v: tensor<2x4x16x20xf32>, %g: tensor<2x4x16xf32>) -> tensor<2x4x16x20xf32> {
  %o = ssm.linear_attention %q, %q, %v gate(%g)
      : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x20xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16x20xf32>
  return %o : tensor<2x4x16x20xf32>
}

// -----

// Packed sequences: the offsets are validated before the loops, each lane
// walks [cu[s], cu[s+1]) of batch entry 0.
// CHECK: ssm.runtime_checks = ["ssm.linear_attention at {{.*}}: 'cu_seqlens' must start at 0, never decrease and end at L (reported: its last offset)"]
// CHECK-LABEL: func.func @varlen
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (i1)
// CHECK: func.call @ssmcShapeError
// CHECK: scf.parallel (%[[S:.*]], %{{.*}}, %{{.*}}) = (%c0, %c0, %c0) to (%c3, %c2, %c1)
// CHECK: %[[BEGIN:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: %[[END:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: %[[MID:.*]] = arith.addi %[[BEGIN]]
// CHECK: scf.for %{{.*}} = %[[BEGIN]] to %[[MID]] step %c4 {
// CHECK: scf.for %{{.*}} = %[[MID]] to %[[END]] step %c1 {
func.func @varlen(%q: tensor<1x2x10x4xf32>, %cu: tensor<4xi32>) -> (tensor<1x2x10x4xf32>, tensor<3x2x4x4xf32>) {
  %o, %s = ssm.linear_attention %q, %q, %q cu_seqlens(%cu)
      : (tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<4xi32>)
      -> (tensor<1x2x10x4xf32>, tensor<3x2x4x4xf32>)
  return %o, %s : tensor<1x2x10x4xf32>, tensor<3x2x4x4xf32>
}
