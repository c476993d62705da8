// convert-ssm-to-loops on ssm.attention: the online-softmax (FlashAttention)
// recurrence with no L x L score matrix. Query ranges put a block of 16
// queries in the vector lanes and walk the keys in blocks of 16 (scores by
// broadcast FMAs, no horizontal sums); a decode step (static Lq below half
// a vector) keeps one query per task with the head dimension in the lanes.
// Causal masks and windows bound the key loop and mask it per lane.
// RUN: ssmc-opt %s --convert-ssm-to-loops | FileCheck %s

// Only the output is allocated (no score matrix); the scratch is on the stack.
// CHECK-LABEL: func.func @causal_window
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x4x16x16xf32>
// CHECK-NOT: memref.alloc()
// One task per (batch, head, block of 16 queries): 1 x 4 x 1.
// CHECK: scf.parallel (%[[B:.*]], %[[H:.*]], %[[QB:.*]]) = (%c0, %c0, %c0) to (%c1, %c4, %c1)
// CHECK: %[[HK:.*]] = arith.divui %[[H]], %c2 : index
// CHECK: vector.step : vector<16xindex>
// CHECK: memref.alloca(%c16) : memref<?xvector<16xf32>>
// The block's queries, transposed, with the scale folded in.
// CHECK: vector.transfer_read {{.*}} : memref<1x4x16x16xf32>, vector<16xf32>
// Key blocks of 16, carrying the lane-wise running max and sum.
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16 iter_args(%[[M:.*]] = %cst{{.*}}, %[[L:.*]] = %cst{{.*}}) -> (vector<16xf32>, vector<16xf32>)
// CHECK: arith.cmpi sle
// CHECK: arith.cmpi sge
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>
// CHECK-COUNT-16: math.fma
// CHECK-NOT: vector.reduction
// CHECK: arith.maximumf %[[M]]
// CHECK: math.exp
// CHECK: vector.transfer_write {{.*}} : vector<16xf32>, memref<1x4x16x16xf32>
func.func @causal_window(%q: tensor<1x4x16x16xf32>, %k: tensor<1x2x16x16xf32>) -> tensor<1x4x16x16xf32> {
  %o = ssm.attention %q, %k, %k causal {window = 5 : i64}
      : (tensor<1x4x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) -> tensor<1x4x16x16xf32>
  return %o : tensor<1x4x16x16xf32>
}

// A single query against 100 cached keys: one task per query, a horizontal
// sum per key.
// CHECK-LABEL: func.func @decode_query
// CHECK: scf.parallel (%{{.*}}, %{{.*}}, %{{.*}}) = (%c0, %c0, %c0) to (%c1, %c4, %c1)
// CHECK: scf.for %{{.*}} iter_args(%{{.*}} = %cst{{.*}}, %{{.*}} = %cst{{.*}}) -> (f32, f32)
// CHECK: vector.reduction <add>
func.func @decode_query(%q: tensor<1x4x1x16xf32>, %k: tensor<1x4x100x16xf32>) -> tensor<1x4x1x16xf32> {
  %o = ssm.attention %q, %k, %k causal
      : (tensor<1x4x1x16xf32>, tensor<1x4x100x16xf32>, tensor<1x4x100x16xf32>) -> tensor<1x4x1x16xf32>
  return %o : tensor<1x4x1x16xf32>
}

// flash-attention's score options on the query-block schedule: softcap
// (tanh after the scale), the ALiBi bias -slope |pos - j| per lane, the
// two-sided window as two lane masks, and a sink as the running max and sum
// the softmax starts from (sink, 1).
// CHECK-LABEL: func.func @options
// CHECK: %[[SLOPE:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<4xf32>
// CHECK: %[[SINK:.*]] = memref.load %{{.*}}[%{{.*}}] : memref<4xf32>
// CHECK: %[[M0:.*]] = vector.broadcast %[[SINK]] : f32 to vector<16xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16 iter_args(%{{.*}} = %[[M0]], %{{.*}} = %cst{{.*}}) -> (vector<16xf32>, vector<16xf32>)
// CHECK: arith.cmpi sle
// CHECK: arith.cmpi sge
// CHECK: math.tanh {{.*}} : vector<16xf32>
// CHECK: arith.maxsi {{.*}} : vector<16xindex>
// CHECK: arith.sitofp {{.*}} : vector<16xi64> to vector<16xf32>
func.func @options(%q: tensor<1x4x40x16xf32>, %k: tensor<1x2x40x16xf32>, %s: tensor<4xf32>) -> tensor<1x4x40x16xf32> {
  %o = ssm.attention %q, %k, %k alibi_slopes(%s) sinks(%s) {window_left = 5 : i64, window_right = 2 : i64, softcap = 20.0}
      : (tensor<1x4x40x16xf32>, tensor<1x2x40x16xf32>, tensor<1x2x40x16xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<1x4x40x16xf32>
  return %o : tensor<1x4x40x16xf32>
}

// Packed sequences: one task per query, which counts the offsets at or
// below it to find its sequence and reads that sequence's key range.
// CHECK-LABEL: func.func @packed
// CHECK: scf.parallel (%{{.*}}, %{{.*}}, %[[I:.*]]) = (%c0, %c0, %c0) to (%c1, %c4, %c30)
// CHECK: scf.for %{{.*}} = %c1 to %{{.*}} step %c1 iter_args(%{{.*}} = %c0) -> (index)
// CHECK: arith.cmpi sle, %{{.*}}, %[[I]] : index
// CHECK: vector.reduction <add>
func.func @packed(%q: tensor<1x4x30x16xf32>, %k: tensor<1x2x50x16xf32>, %cq: tensor<4xi32>, %ck: tensor<4xi32>) -> tensor<1x4x30x16xf32> {
  %o = ssm.attention %q, %k, %k causal cu_seqlens_q(%cq) cu_seqlens_k(%ck)
      : (tensor<1x4x30x16xf32>, tensor<1x2x50x16xf32>, tensor<1x2x50x16xf32>, tensor<4xi32>, tensor<4xi32>) -> tensor<1x4x30x16xf32>
  return %o : tensor<1x4x30x16xf32>
}
