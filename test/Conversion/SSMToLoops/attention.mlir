// convert-ssm-to-loops on ssm.attention: one online-softmax pass over the
// visible keys per (batch, head, query); causal masks and windows are the
// key loop's bounds; no L x L score matrix.
// RUN: ssmc-opt %s --convert-ssm-to-loops | FileCheck %s

// Only the output is allocated (no score matrix).
// CHECK-LABEL: func.func @causal_window
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<1x4x16x16xf32>
// CHECK-NOT: memref.alloc()
// CHECK: scf.parallel (%[[B:.*]], %[[H:.*]], %[[I:.*]]) = (%c0, %c0, %c0) to (%c1, %c4, %c16)
// CHECK: %[[HK:.*]] = arith.divui %[[H]], %c2 : index
// CHECK: %[[END:.*]] = arith.addi %[[I]], %c1 : index
// CHECK: %[[HI:.*]] = arith.maxsi
// CHECK: %[[LO:.*]] = arith.maxsi %{{.*}}, %c0
// CHECK: memref.alloca(%c1) : memref<?xvector<16xf32>>
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %[[HI]] step %c1 iter_args(%[[M:.*]] = %cst{{.*}}, %[[L:.*]] = %cst{{.*}}) -> (f32, f32)
// CHECK: vector.reduction <add>
// CHECK: arith.maximumf %[[M]]
// CHECK: math.exp
// CHECK: math.exp
// CHECK: vector.maskedstore
func.func @causal_window(%q: tensor<1x4x16x16xf32>, %k: tensor<1x2x16x16xf32>) -> tensor<1x4x16x16xf32> {
  %o = ssm.attention %q, %k, %k causal {window = 5 : i64}
      : (tensor<1x4x16x16xf32>, tensor<1x2x16x16xf32>, tensor<1x2x16x16xf32>) -> tensor<1x4x16x16xf32>
  return %o : tensor<1x4x16x16xf32>
}
