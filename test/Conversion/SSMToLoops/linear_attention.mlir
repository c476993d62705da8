// convert-ssm-to-loops on ssm.linear_attention.
// RUN: ssmc-opt %s -split-input-file --convert-ssm-to-loops | FileCheck %s

// A scalar gate (or none): the chunked kernel, one task per (sequence,
// head). Per chunk of four steps the q and k rows go to stack buffers, the
// 4 x 4 lower-triangular dot products q_j . k_u are taken once, the rows are
// scaled by their decays (exp of the chunk-local cumulative gates), and one
// pass over the K state rows per block of value columns does four
// read-outs and one update.
// CHECK-LABEL: func.func @gated
// CHECK: scf.parallel (%[[S:.*]], %[[H:.*]]) = (%c0, %c0) to (%c2, %c4) step (%c1, %c1)
// CHECK: %[[STATE:.*]] = memref.alloca(%c16) : memref<?xvector<16xf32>>
// CHECK: %[[QS:.*]] = memref.alloca(%c64) : memref<?xf32>
// CHECK: %[[KS:.*]] = memref.alloca(%c64) : memref<?xf32>
// CHECK: scf.for %[[T:.*]] = %c0 to %c16 step %c4 {
// CHECK: memref.load %{{.*}}[%[[S]], %[[H]], %[[T]]] : memref<2x4x16xf32>
// CHECK: vector.maskedload %{{.*}}[%[[S]], %[[H]], %[[T]], %{{.*}}]
// CHECK: vector.store %{{.*}}, %[[QS]]
// CHECK: vector.store %{{.*}}, %[[KS]]
// CHECK-COUNT-10: vector.reduction <add>
// CHECK: scf.for %[[BLK:.*]] = %c0 to %c2 step %c1 {
// CHECK: %[[V0:.*]] = vector.maskedload %{{.*}}[%[[S]], %[[H]], %[[T]], %{{.*}}]
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1 iter_args(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: memref.load %[[STATE]]
// CHECK: memref.load %[[QS]][%[[I]]]
// CHECK-COUNT-4: math.fma
// CHECK: arith.mulf
// CHECK: memref.load %[[KS]][%[[I]]]
// CHECK: math.fma %{{.*}}, %[[V0]], %{{.*}} : vector<16xf32>
// CHECK-COUNT-3: math.fma
// CHECK: memref.store %{{.*}}, %[[STATE]]
// CHECK-COUNT-4: vector.maskedstore
// CHECK: scf.for %{{.*}} = %c16 to %c16 step %c1 {
func.func @gated(%q: tensor<2x4x16x8xf32>, %v: tensor<2x4x16x20xf32>, %g: tensor<2x4x16xf32>) -> tensor<2x4x16x20xf32> {
  %o = ssm.linear_attention %q, %q, %v gate(%g)
      : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x20xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16x20xf32>
  return %o : tensor<2x4x16x20xf32>
}

// -----

// Without a gate there is no decay: no exp, no row scaling, no multiply of
// the state before the update.
// CHECK-LABEL: func.func @ungated
// CHECK-NOT: math.exp
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args
// CHECK-NOT: arith.mulf
// CHECK: memref.store
// CHECK-NOT: math.exp
// CHECK: return
func.func @ungated(%q: tensor<1x1x9x8xf32>) -> tensor<1x1x9x8xf32> {
  %o = ssm.linear_attention %q, %q, %q {scale = 1.0}
      : (tensor<1x1x9x8xf32>, tensor<1x1x9x8xf32>, tensor<1x1x9x8xf32>) -> tensor<1x1x9x8xf32>
  return %o : tensor<1x1x9x8xf32>
}

// -----

// A key gate (a log decay per key row): the chunked kernel with per-row
// cumulative decays in a third stack buffer, exps of their differences
// inside the intra-chunk dot products, and exp(c_{T-1}[n]) per row (a
// fourth buffer) scaling the state rows in the update.
// CHECK-LABEL: func.func @key_gated
// CHECK: scf.parallel (%{{.*}}, %{{.*}}) = (%c0, %c0) to (%c2, %c4) step (%c1, %c1)
// CHECK: %[[STATE:.*]] = memref.alloca(%c16) : memref<?xvector<16xf32>>
// CHECK: %[[QS:.*]] = memref.alloca(%c64) : memref<?xf32>
// CHECK: %[[KS:.*]] = memref.alloca(%c64) : memref<?xf32>
// CHECK: %[[CUM:.*]] = memref.alloca(%c64) : memref<?xf32>
// CHECK: %[[TOT:.*]] = memref.alloca(%c16) : memref<?xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c16 step %c4 {
// CHECK: vector.store %{{.*}}, %[[CUM]]
// The dot product q_0 . k_0 needs no decay, q_1 . k_0 does.
// CHECK: vector.reduction <add>
// CHECK: vector.load %[[CUM]]
// CHECK: x86vector.avx512.mask.scalef
// CHECK: vector.reduction <add>
// CHECK: vector.store %{{.*}}, %[[TOT]]
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1 iter_args
// CHECK: memref.load %[[TOT]][%[[I]]]
// CHECK: memref.store %{{.*}}, %[[STATE]]
func.func @key_gated(%q: tensor<2x4x16x8xf32>, %v: tensor<2x4x16x20xf32>) -> tensor<2x4x16x20xf32> {
  %o = ssm.linear_attention %q, %q, %v gate(%q)
      : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x20xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x20xf32>
  return %o : tensor<2x4x16x20xf32>
}

// -----

// Normalisation: the normaliser z_t = decay z_{t-1} + k_t is the state of
// one more value column, of ones (K vectors, zeroed first); its pass per
// chunk gives den_j in every lane, and each output vector is divided by it.
// CHECK-LABEL: func.func @normalized
// CHECK: scf.parallel (%{{.*}}, %{{.*}}) = (%c0, %c0) to (%c2, %c4) step (%c1, %c1)
// CHECK: %[[STATE:.*]] = memref.alloca(%c16) : memref<?xvector<16xf32>>
// CHECK: %[[Z:.*]] = memref.alloca(%c8) : memref<?xvector<16xf32>>
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1 {
// CHECK: memref.store %{{.*}}, %[[Z]][%[[I]]]
// CHECK: scf.for %{{.*}} = %c0 to %c16 step %c4 {
// The normaliser's pass, then the value blocks' passes.
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args
// CHECK: memref.store %{{.*}}, %[[Z]]
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1 {
// CHECK: scf.for %{{.*}} = %c0 to %c8 step %c1 iter_args
// CHECK: memref.store %{{.*}}, %[[STATE]]
// CHECK: arith.divf
// CHECK: vector.maskedstore
func.func @normalized(%q: tensor<2x4x16x8xf32>, %v: tensor<2x4x16x20xf32>) -> tensor<2x4x16x20xf32> {
  %o = ssm.linear_attention %q, %q, %v gate(%q) normalize
      : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x20xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x20xf32>
  return %o : tensor<2x4x16x20xf32>
}

// -----

// Packed sequences: the offsets are validated before the loops, each task
// walks [cu[s], cu[s+1]) of batch entry 0.
// CHECK: ssm.runtime_checks = ["ssm.linear_attention at {{.*}}: 'cu_seqlens' must start at 0, never decrease and end at L (reported: its last offset)"]
// CHECK-LABEL: func.func @varlen
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (i1)
// CHECK: func.call @ssmcShapeError
// CHECK: scf.parallel (%[[S:.*]], %{{.*}}) = (%c0, %c0) to (%c3, %c2)
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

// -----

// The normaliser's state in and out, eps and right-to-left steps: z0[s, h, n]
// seeds normaliser row n in every lane, eps is added to each den_j before
// the division, every load of a step reads step 15 - t (begin + end - 1 -
// t), and lane 0 of each normaliser row is stored to final_z.
// CHECK-LABEL: func.func @state_reverse
// CHECK: %[[EPS:.*]] = arith.constant dense<5.000000e-01> : vector<16xf32>
// CHECK: %[[FZ:.*]] = memref.alloc() {{.*}} : memref<2x4x8xf32>
// CHECK: scf.parallel (%[[S:.*]], %[[H:.*]]) = (%c0, %c0) to (%c2, %c4) step (%c1, %c1)
// CHECK: %[[Z0:.*]] = memref.load %{{.*}}[%[[S]], %[[H]], %{{.*}}] : memref<2x4x8xf32>
// CHECK: vector.broadcast %[[Z0]] : f32 to vector<16xf32>
// CHECK: scf.for %[[T:.*]] = %c0 to %c16 step %c4 {
// CHECK: %[[REV:.*]] = arith.subi %c15, %[[T]] : index
// CHECK: vector.maskedload %{{.*}}[%[[S]], %[[H]], %[[REV]], %{{.*}}]
// CHECK: %[[DEN:.*]] = arith.addf %{{.*}}, %[[EPS]] : vector<16xf32>
// CHECK: arith.divf %{{.*}}, %[[DEN]] : vector<16xf32>
// CHECK: %[[LANE0:.*]] = vector.extract %{{.*}}[0] : f32 from vector<16xf32>
// CHECK: memref.store %[[LANE0]], %[[FZ]][%[[S]], %[[H]], %{{.*}}] : memref<2x4x8xf32>
func.func @state_reverse(%q: tensor<2x4x16x8xf32>, %v: tensor<2x4x16x20xf32>, %z0: tensor<2x4x8xf32>) -> (tensor<2x4x16x20xf32>, tensor<2x4x8xf32>) {
  %o, %z = ssm.linear_attention %q, %q, %v z0(%z0) normalize reverse {eps = 0.5 : f64}
      : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x20xf32>, tensor<2x4x8xf32>) -> (tensor<2x4x16x20xf32>, tensor<2x4x8xf32>)
  return %o, %z : tensor<2x4x16x20xf32>, tensor<2x4x8xf32>
}
