// convert-ssm-to-loops on ssm.delta_rule and ssm.delta_rule_step.
// RUN: ssmc-opt %s -split-input-file --convert-ssm-to-loops -canonicalize | FileCheck %s

// Gated DeltaNet, grouped heads (Hk = 1, H = 2), l2norm: one task per
// (sequence, value head) reading q/k head h / 2; per step the key-sized rows
// (q~, k~, decay, read vector w k~) go to a stack buffer, then per block of
// 16 value columns (V = 20: a masked tail) one pass reads the prediction
// x^T S and one updates the state in place and accumulates S^T q~.
// CHECK-LABEL: func.func @gated
// CHECK: %[[STATE:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x2x5x20xf32>
// CHECK: scf.parallel (%[[S:.*]], %[[H:.*]]) = (%c0, %c0) to (%c2, %c2) step (%c1, %c1)
// CHECK: %[[HK:.*]] = arith.divui %[[H]], %c2 : index
// CHECK: %[[ROWS:.*]] = memref.alloca() : memref<5x5xf32>
// CHECK: scf.for %[[T:.*]] = %c0 to %c8 step %c1 {
// CHECK: math.rsqrt
// CHECK: math.rsqrt
// CHECK: math.exp
// CHECK: scf.for %{{.*}} = %c0 to %c20 step %c16 {
// CHECK: vector.create_mask
// CHECK: scf.for {{.*}} -> (vector<16xf32>) {
// CHECK: vector.maskedload %[[STATE]]
// CHECK: math.fma
// CHECK: scf.for {{.*}} -> (vector<16xf32>) {
// CHECK: vector.maskedstore %[[STATE]]
// CHECK: vector.maskedstore %{{.*}}[%[[S]], %[[T]], %[[H]], %{{.*}}]
// CHECK: return
func.func @gated(%q: tensor<2x8x1x5xf32>, %v: tensor<2x8x2x20xf32>, %beta: tensor<2x8x2xf32>, %g: tensor<2x8x2xf32>) -> (tensor<2x8x2x20xf32>, tensor<2x2x5x20xf32>) {
  %o, %s = ssm.delta_rule %q, %q, %v beta(%beta) gate(%g) use_qk_l2norm : (tensor<2x8x1x5xf32>, tensor<2x8x1x5xf32>, tensor<2x8x2x20xf32>, tensor<2x8x2xf32>, tensor<2x8x2xf32>) -> (tensor<2x8x2x20xf32>, tensor<2x2x5x20xf32>)
  return %o, %s : tensor<2x8x2x20xf32>, tensor<2x2x5x20xf32>
}

// -----

// Without a final_state result the state lives in a scratch buffer (freed
// by the pipeline's buffer deallocation); dynamic head counts get a
// run-time check that Hk divides H.
// CHECK: ssm.runtime_checks = [{{.*}}the value head count H (dimension 2 of 'v') must be a positive multiple of the query/key head count Hk
// CHECK-LABEL: func.func @dynamic_heads
// CHECK: %[[SCRATCH:.*]] = memref.alloc({{.*}}) {alignment = 64 : i64} : memref<1x?x8x8xf32>
// CHECK: arith.remui
// CHECK: scf.if
// CHECK: scf.parallel
// CHECK: vector.maskedstore %[[SCRATCH]]
func.func @dynamic_heads(%q: tensor<1x4x?x8xf32>, %v: tensor<1x4x?x8xf32>, %beta: tensor<1x4x?xf32>) -> tensor<1x4x?x8xf32> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) : (tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?x8xf32>, tensor<1x4x?xf32>) -> tensor<1x4x?x8xf32>
  return %o : tensor<1x4x?x8xf32>
}

// -----

// The DPLR form: pass 2 adds b p^T and k v^T.
// CHECK-LABEL: func.func @dplr
// CHECK: scf.for {{.*}} -> (vector<16xf32>) {
// CHECK: scf.for {{.*}} -> (vector<16xf32>) {
// CHECK: arith.mulf {{.*}} : vector<16xf32>
// CHECK: math.fma
// CHECK: math.fma
// CHECK: vector.maskedstore
func.func @dplr(%x: tensor<1x3x1x4xf32>) -> tensor<1x3x1x4xf32> {
  %o = ssm.delta_rule %x, %x, %x gate(%x) a(%x) b(%x) : (tensor<1x3x1x4xf32>, tensor<1x3x1x4xf32>, tensor<1x3x1x4xf32>, tensor<1x3x1x4xf32>, tensor<1x3x1x4xf32>, tensor<1x3x1x4xf32>) -> tensor<1x3x1x4xf32>
  return %o : tensor<1x3x1x4xf32>
}

// -----

// A decode step is the sequence op with T = 1 and h0 = state.
// CHECK-LABEL: func.func @step
// CHECK: tensor.expand_shape
// CHECK: scf.parallel
// CHECK: tensor.collapse_shape
func.func @step(%q: tensor<2x1x8xf32>, %v: tensor<2x2x3xf32>, %s: tensor<2x2x8x3xf32>, %beta: tensor<2x2xf32>) -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>) {
  %o, %s1 = ssm.delta_rule_step %q, %q, %v, %s beta(%beta) gate(%beta) : (tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x2x3xf32>, tensor<2x2x8x3xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>)
  return %o, %s1 : tensor<2x2x3xf32>, tensor<2x2x8x3xf32>
}

// -----

// The chunked (WY) form, forced with chunk_size = 8 (T = 40): per chunk the
// rows of q~, k~, W, U (T v), the decayed keys, the cumulative per-key log
// decays (9 rows: the chunk start and one per step), exp(G_C), beta and the
// 8 x 8 matrices T and q k^T live in stack buffers padded to whole vectors
// (K = 20 -> 32); the solve is a forward substitution; per block of value
// columns the next chunk's lines at that block are prefetched, 8 vectors
// of W S and of (exp(G) q) S are carried over the key rows, and the state
// is written once per chunk (the decay and 8 terms in two FMA chains).
// CHECK-LABEL: func.func @chunked
// CHECK-DAG: memref.alloca() : memref<9x32xf32>
// CHECK-DAG: memref.alloca() : memref<8x8xf32>
// CHECK-DAG: memref.alloca() : memref<8xf32>
// CHECK: scf.for %[[T0:.*]] = %c0 to %c40 step %c8 {
// CHECK: vector.reduction <add>, {{.*}} fastmath<reassoc>
// CHECK: vector.reduction <add>
// CHECK: memref.prefetch {{.*}}, read, locality<3>, data : memref<1x40x2x20xf32>
// CHECK: memref.prefetch {{.*}}, write, locality<3>, data : memref<1x40x2x20xf32>
// CHECK: memref.prefetch {{.*}}, read, locality<3>, data : memref<1x40x1x20xf32>
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK-COUNT-8: scf.if
// CHECK: scf.for
// CHECK-COUNT-7: math.fma
// CHECK-NEXT: arith.addf
// CHECK-NEXT: vector.maskedstore
func.func @chunked(%q: tensor<1x40x1x20xf32>, %v: tensor<1x40x2x20xf32>, %beta: tensor<1x40x2xf32>, %g: tensor<1x40x2x20xf32>) -> tensor<1x40x2x20xf32> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) gate(%g) {chunk_size = 8 : i64} : (tensor<1x40x1x20xf32>, tensor<1x40x1x20xf32>, tensor<1x40x2x20xf32>, tensor<1x40x2xf32>, tensor<1x40x2x20xf32>) -> tensor<1x40x2x20xf32>
  return %o : tensor<1x40x2x20xf32>
}

// -----

// Without chunk_size: a static T below 64 runs the recurrent form (no
// chunk buffers), T >= 64 the chunked form with chunks of 16.
// CHECK-LABEL: func.func @short_is_recurrent
// CHECK-NOT: memref<16x16xf32>
// CHECK: return
func.func @short_is_recurrent(%q: tensor<1x63x1x8xf32>, %beta: tensor<1x63x1xf32>) -> tensor<1x63x1x8xf32> {
  %o = ssm.delta_rule %q, %q, %q beta(%beta) : (tensor<1x63x1x8xf32>, tensor<1x63x1x8xf32>, tensor<1x63x1x8xf32>, tensor<1x63x1xf32>) -> tensor<1x63x1x8xf32>
  return %o : tensor<1x63x1x8xf32>
}

// -----

// CHECK-LABEL: func.func @long_is_chunked
// CHECK: memref.alloca() : memref<16x16xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c16 {
func.func @long_is_chunked(%q: tensor<1x64x1x8xf32>, %beta: tensor<1x64x1xf32>) -> tensor<1x64x1x8xf32> {
  %o = ssm.delta_rule %q, %q, %q beta(%beta) : (tensor<1x64x1x8xf32>, tensor<1x64x1x8xf32>, tensor<1x64x1x8xf32>, tensor<1x64x1xf32>) -> tensor<1x64x1x8xf32>
  return %o : tensor<1x64x1x8xf32>
}

// -----

// RWKV-7's DPLR form chunked (chunk_size = 8, T = 40): the a and b rows
// beside q~, k~ and v, four 8 x 8 matrices (a . k and a . b strictly
// lower, q . k and q . b lower) from one pass over the key vectors (four
// reductions), then per block of value columns 8 vectors of
// (exp(G_j) a_j)^T S and of (exp(G) q)^T S carried over the key rows, and
// the state written once per chunk (b p^T and k v^T in two FMA chains).
// CHECK-LABEL: func.func @dplr_chunked
// CHECK-COUNT-2: memref.alloca() : memref<8x8xf32>
// CHECK: memref.alloca() : memref<8x32xf32>
// CHECK: memref.alloca() : memref<8x32xf32>
// CHECK-COUNT-2: memref.alloca() : memref<8x8xf32>
// CHECK: scf.for %{{.*}} = %c0 to %c40 step %c8 {
// CHECK-COUNT-4: vector.reduction <add>
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK: scf.for {{.*}} -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK-COUNT-8: scf.if
// CHECK: scf.for
// CHECK-COUNT-15: math.fma
// CHECK-NEXT: arith.addf
// CHECK-NEXT: vector.maskedstore
func.func @dplr_chunked(%q: tensor<1x40x1x20xf32>, %v: tensor<1x40x2x20xf32>, %g: tensor<1x40x2x20xf32>) -> tensor<1x40x2x20xf32> {
  %o = ssm.delta_rule %q, %q, %v gate(%g) a(%g) b(%g) {chunk_size = 8 : i64} : (tensor<1x40x1x20xf32>, tensor<1x40x1x20xf32>, tensor<1x40x2x20xf32>, tensor<1x40x2x20xf32>, tensor<1x40x2x20xf32>, tensor<1x40x2x20xf32>) -> tensor<1x40x2x20xf32>
  return %o : tensor<1x40x2x20xf32>
}
