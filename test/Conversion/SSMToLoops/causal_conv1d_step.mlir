// convert-ssm-to-loops on ssm.causal_conv1d_step: the slot indices and
// cache positions are validated (below the pool size P, non-negative), the
// pool is copied into the new state, then parallel over channels with the
// batch entries in order: a negative slot writes a zero output; otherwise
// the W - 1 ring entries (c - (W - 1) + j) mod S, the taps (fma), SiLU, and
// the token stored at entry c mod S of its slot. Without cache_seqlens the
// slot shifts left by one and the token is appended.
// RUN: ssmc-opt %s --convert-ssm-to-loops | FileCheck %s

// CHECK-LABEL: func.func @conv_step_ring
// CHECK: scf.for {{.*}} -> (i1)
// CHECK: arith.cmpi slt, %{{.*}}, %c4 : index
// CHECK: arith.cmpi sge, %{{.*}}, %c0 : index
// CHECK: func.call @ssmcShapeError
// CHECK: memref.copy %{{.*}}, %[[NEW:.*]] : memref<4x5x6xf32> to memref<4x5x6xf32>
// CHECK: scf.parallel (%[[D:.*]]) = (%c0) to (%c5) step (%c1)
// CHECK: scf.for %[[B:.*]] = %c0 to %c2 step %c1
// CHECK: %[[SLOT:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: arith.cmpi sge, %[[SLOT]], %c0 : index
// CHECK: scf.if
// CHECK: %[[X:.*]] = arith.extf %{{.*}} : bf16 to f32
// CHECK: scf.for {{.*}} = %c0 to %c3 step %c1 iter_args
// CHECK: arith.remui %{{.*}}, %c6 : index
// CHECK: memref.load %[[NEW]][%[[SLOT]], %[[D]], %{{.*}}] : memref<4x5x6xf32>
// CHECK: math.fma
// CHECK: math.exp
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: %[[AT:.*]] = arith.remui %{{.*}}, %c6 : index
// CHECK: memref.store %[[X]], %[[NEW]][%[[SLOT]], %[[D]], %[[AT]]]
// CHECK: } else {
// CHECK: memref.store %cst, %{{.*}}[%[[B]], %[[D]]] : memref<2x5xbf16>
func.func @conv_step_ring(%x: tensor<2x5xbf16>, %s: tensor<4x5x6xf32>, %w: tensor<5x4xf32>, %b: tensor<5xf32>,
                          %c: tensor<2xi32>, %i: tensor<2xi64>) -> (tensor<2x5xbf16>, tensor<4x5x6xf32>) {
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w bias(%b) cache_seqlens(%c) conv_state_indices(%i) silu
      : (tensor<2x5xbf16>, tensor<4x5x6xf32>, tensor<5x4xf32>, tensor<5xf32>, tensor<2xi32>, tensor<2xi64>)
      -> (tensor<2x5xbf16>, tensor<4x5x6xf32>)
  return %y, %s1 : tensor<2x5xbf16>, tensor<4x5x6xf32>
}

// CHECK-LABEL: func.func @conv_step_shift
// CHECK: memref.copy
// CHECK: scf.parallel
// CHECK: math.fma
// The shift: entries 1..S-1 move down one, then the token goes last.
// CHECK: scf.for %[[J:.*]] = %c0 to %c2 step %c1 {
// CHECK: %[[NEXT:.*]] = arith.addi %[[J]], %c1 : index
// CHECK: memref.load %{{.*}}[%{{.*}}, %{{.*}}, %[[NEXT]]]
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}, %[[J]]]
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}, %c2] : memref<2x5x3xf32>
func.func @conv_step_shift(%x: tensor<2x5xf32>, %s: tensor<2x5x3xf32>, %w: tensor<5x4xf32>)
    -> (tensor<2x5xf32>, tensor<2x5x3xf32>) {
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w
      : (tensor<2x5xf32>, tensor<2x5x3xf32>, tensor<5x4xf32>) -> (tensor<2x5xf32>, tensor<2x5x3xf32>)
  return %y, %s1 : tensor<2x5xf32>, tensor<2x5x3xf32>
}
