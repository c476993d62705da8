// ssm-shard-sequence: each sequence op runs over the rank's slice from a
// zero state, the slice's decay product is computed from the gates, the
// incoming state comes from ssmcMpiCombineAffine, and the op runs again
// from it; rank 0 runs its slice once, from h0. L becomes dynamic and the arguments and results say how they
// are split.
// RUN: ssmc-opt %s --ssm-shard-sequence -split-input-file | FileCheck %s
// RUN: ssmc-opt %s --ssm-shard-sequence="rescan=true" -split-input-file | FileCheck %s --check-prefix=RESCAN

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
// CHECK: %[[SUM:.*]] = bufferization.to_tensor %[[SUMB]] restrict :
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%[[A]], %[[SUM]]
// CHECK: math.exp
// CHECK: %[[SIN:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4x3xf32>
// CHECK: %[[PB:.*]] = bufferization.to_buffer %[[P]] read_only
// CHECK: call @ssmcMpiCombineAffine(
// CHECK: %[[SINT:.*]] = bufferization.to_tensor %[[SIN]] restrict :
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

// ssd: the decay is one value per (batch, head): exp(A[h] * sum_t dt). The
// ranks after the first correct their zero-state outputs instead of running
// the op again: the running sums of dt (ssmcMpiStepPrefixSums), their exp
// times A, Sin transposed, one linalg.matmul per (batch, head) of C and
// Sin^T into a zero gain, and y + E * gain.
// CHECK-LABEL: func.func @ssd(
// CHECK: scf.if
// CHECK: ssm.ssd
// CHECK: call @ssmcMpiCombineAffine
// CHECK: } else {
// CHECK: %[[Y0:.*]], %{{.*}} = ssm.ssd
// dt is [B, L, H]: the steps are dimension 1, no softplus here.
// CHECK: call @ssmcMpiStepSums({{.*}}, %c1_i64, %c0_i64{{.*}},
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<2x3xf32>)
// CHECK: call @ssmcMpiCombineAffine
// CHECK: call @ssmcMpiStepPrefixSums(
// CHECK: %[[E:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: } -> tensor<2x?x3xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<2x3x4x5xf32>) outs(%{{.*}} : tensor<2x3x5x4xf32>)
// CHECK: %[[GAIN:.*]] = scf.for
// CHECK: scf.for
// CHECK: linalg.matmul
// CHECK: tensor.insert_slice
// CHECK: %[[Y:.*]] = linalg.generic {{.*}} ins(%[[GAIN]], %[[E]] : tensor<2x?x3x4xf32>, tensor<2x?x3xf32>) outs(%[[Y0]] : tensor<2x?x3x4xf32>)
// CHECK-NOT: ssm.ssd
// CHECK: scf.yield %[[Y]]
// With rescan=true the others run the op again from Sin.
// RESCAN-LABEL: func.func @ssd(
// RESCAN-NOT: ssmcMpiStepPrefixSums
// RESCAN: %[[Y:.*]] = ssm.ssd {{.*}} h0(
// RESCAN-SAME: -> tensor<2x?x3x4xf32>
// RESCAN: scf.yield %[[Y]]
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

// linear_attention with a scalar gate, unnormalised: the ranks after the
// first scale q~ by exp of the gate's running sums, add q' Sin to their
// zero-state outputs (a linalg.matmul per (batch, head), accumulating into
// the output) and carry the final state as P Sin + Sloc; no second op.
// CHECK-LABEL: func.func @scalar_gate(
// CHECK: } else {
// CHECK: %[[O0:.*]], %[[LOC:.*]] = ssm.linear_attention
// CHECK: call @ssmcMpiCombineAffine
// CHECK: call @ssmcMpiStepPrefixSums(
// CHECK: %[[QD:.*]] = linalg.generic
// CHECK: math.exp
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[O0]])
// CHECK: linalg.matmul
// CHECK: linalg.generic {{.*}} outs(%[[LOC]] : tensor<1x2x4x3xf32>)
// CHECK-NOT: ssm.linear_attention
// CHECK: return
// RESCAN-LABEL: func.func @scalar_gate(
// RESCAN-NOT: linalg.matmul
// RESCAN: ssm.linear_attention {{.*}} h0(
func.func @scalar_gate(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x3xf32>,
                       %g: tensor<1x2x8xf32>) -> (tensor<1x2x8x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v gate(%g)
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>, tensor<1x2x8xf32>) -> (tensor<1x2x8x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x2x8x3xf32>, tensor<1x2x4x3xf32>
}

// -----

// reverse linear_attention runs right to left: the last rank
// (ssmcMpiSize() - 1) runs its slice from h0, the combine runs backwards
// (ssmcMpiCombineAffineReverse), the running sums start at the slice's end
// (the last argument, 1), and the final state (after step 0) is rank 0's:
// not marked ssm.seq_last.
// CHECK-LABEL: func.func @reverse(
// CHECK-SAME: -> (tensor<1x2x?x3xf32> {ssm.seq_dim = 2 : i64}, tensor<1x2x4x3xf32>) {
// CHECK: %[[R:.*]] = call @ssmcMpiRank()
// CHECK: %[[N:.*]] = call @ssmcMpiSize()
// CHECK: %[[LAST:.*]] = arith.subi %[[N]], %c1_i64
// CHECK: arith.cmpi eq, %[[R]], %[[LAST]]
// CHECK: ssm.linear_attention {{.*}} reverse
// CHECK: call @ssmcMpiCombineAffineReverse(
// CHECK: } else {
// CHECK: call @ssmcMpiCombineAffineReverse(
// CHECK: call @ssmcMpiStepPrefixSums(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[REV:.*]]) :
// CHECK-NOT: func.func private @ssmcMpiCombineAffine(
// CHECK: func.func private @ssmcMpiSize() -> i64
func.func @reverse(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x3xf32>,
                   %g: tensor<1x2x8xf32>) -> (tensor<1x2x8x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v gate(%g) reverse
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>, tensor<1x2x8xf32>) -> (tensor<1x2x8x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x2x8x3xf32>, tensor<1x2x4x3xf32>
}

// -----

// causal_conv1d: the halo of W - 1 steps before the slice becomes the
// op's initial state; no rescan.
// CHECK-LABEL: func.func @conv(
// CHECK-SAME: %[[X:[a-z0-9]+]]: tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}
// CHECK-SAME: -> (tensor<1x4x?xf32> {ssm.seq_dim = 2 : i64}, tensor<1x4x2xf32> {ssm.seq_last})
// CHECK: %[[HALO:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1x4x2xf32>
// CHECK: call @ssmcMpiHalo(
// CHECK: %[[H:.*]] = bufferization.to_tensor %[[HALO]] restrict :
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

// delta_rule (Gated DeltaNet, grouped heads): the slice's transition is a
// dense K x K matrix per head, the same op with v = 0 (K columns) from the
// identity state; the combine multiplies by it (ssmcMpiCombineMatrix, with
// K). With f32 outputs the other ranks correct their zero-state outputs by
// S_in^T (P_t^T q_t), the transition op's outputs, and carry the final
// state as P S_in + S_loc: no rescan.
// CHECK-DAG: #[[OP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[OS:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d4, d3)>
// CHECK-DAG: #[[OO:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[FS:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
// CHECK-LABEL: func.func @delta_rule(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x?x1x4xf32> {ssm.seq_dim = 1 : i64}, %[[K:[a-z0-9]+]]: tensor<1x?x1x4xf32> {ssm.seq_dim = 1 : i64}, %[[V:[a-z0-9]+]]: tensor<1x?x2x3xf32> {ssm.seq_dim = 1 : i64}, %[[BETA:[a-z0-9]+]]: tensor<1x?x2xf32> {ssm.seq_dim = 1 : i64}, %[[G:[a-z0-9]+]]: tensor<1x?x2xf32> {ssm.seq_dim = 1 : i64}, %[[H0:[a-z0-9]+]]: tensor<1x2x4x3xf32>)
// CHECK-SAME: -> (tensor<1x?x2x3xf32> {ssm.seq_dim = 1 : i64}, tensor<1x2x4x3xf32> {ssm.seq_last})
// CHECK: %[[KD:.*]] = tensor.dim %[[K]], %c3
// CHECK: %[[KI:.*]] = arith.index_cast %[[KD]] : index to i64
// CHECK: scf.if
// CHECK: ssm.delta_rule %[[Q]], %[[K]], %[[V]] beta(%[[BETA]]) gate(%[[G]]) h0(%[[H0]]) use_qk_l2norm {chunk_size = 16 : i64}
// CHECK: linalg.fill {{.*}} -> tensor<1x2x4x4xf32>
// CHECK: call @ssmcMpiCombineMatrix({{.*}}, %[[KI]])
// CHECK: } else {
// CHECK: %[[OUT:.*]], %[[SLOC:.*]] = ssm.delta_rule %[[Q]], %[[K]], %[[V]] beta(%[[BETA]]) gate(%[[G]]) use_qk_l2norm {chunk_size = 16 : i64}
// CHECK: %[[VZ:.*]] = linalg.fill {{.*}} -> tensor<1x?x2x4xf32>
// CHECK: %[[EYE:.*]] = linalg.generic
// CHECK: linalg.index 2
// CHECK: linalg.index 3
// CHECK: arith.cmpi eq
// CHECK: %[[OTR:.*]], %[[P:.*]] = ssm.delta_rule %[[Q]], %[[K]], %[[VZ]] beta(%[[BETA]]) gate(%[[G]]) h0(%[[EYE]]) use_qk_l2norm {chunk_size = 16 : i64}
// CHECK-SAME: -> (tensor<1x?x2x4xf32>, tensor<1x2x4x4xf32>)
// CHECK: bufferization.to_buffer %[[P]]
// CHECK: bufferization.to_buffer %[[SLOC]]
// CHECK: call @ssmcMpiCombineMatrix({{.*}}, %[[KI]]) : (memref<?xf32>, memref<?xf32>, memref<?xf32>, i64) -> ()
// CHECK: %[[SIN:.*]] = bufferization.to_tensor
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#[[OP]], #[[OS]], #[[OO]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[OTR]], %[[SIN]] : {{.*}}) outs(%[[OUT]] : tensor<1x?x2x3xf32>)
// CHECK: %[[F:.*]] = linalg.generic {indexing_maps = [#[[OP]], #[[FS]], #[[OO]]], {{.*}} ins(%[[P]], %[[SIN]] : {{.*}}) outs(%[[SLOC]] : tensor<1x2x4x3xf32>)
// CHECK-NOT: ssm.delta_rule
// CHECK: scf.yield %[[Y]], %[[F]]
// CHECK: func.func private @ssmcMpiCombineMatrix(memref<?xf32>, memref<?xf32>, memref<?xf32>, i64) attributes {llvm.emit_c_interface}
func.func @delta_rule(%q: tensor<1x8x1x4xf32>, %k: tensor<1x8x1x4xf32>, %v: tensor<1x8x2x3xf32>,
                      %beta: tensor<1x8x2xf32>, %g: tensor<1x8x2xf32>, %h0: tensor<1x2x4x3xf32>)
    -> (tensor<1x8x2x3xf32>, tensor<1x2x4x3xf32>) {
  %o, %h = ssm.delta_rule %q, %k, %v beta(%beta) gate(%g) h0(%h0) use_qk_l2norm {chunk_size = 16 : i64}
      : (tensor<1x8x1x4xf32>, tensor<1x8x1x4xf32>, tensor<1x8x2x3xf32>, tensor<1x8x2xf32>,
         tensor<1x8x2xf32>, tensor<1x2x4x3xf32>) -> (tensor<1x8x2x3xf32>, tensor<1x2x4x3xf32>)
  return %o, %h : tensor<1x8x2x3xf32>, tensor<1x2x4x3xf32>
}

// -----

// delta_rule with packed sequences: the offsets clipped to the slice
// (ssmcMpiLocalSeqlens, before the ranks branch) go to every run of the
// op; the transition is one K x K matrix per sequence and head (the
// identity as every sequence's h0), and each sequence's steps are
// corrected with that sequence's incoming state (an scf.for over the
// sequences, each contracting the slice of its steps).
// CHECK-DAG: #[[OP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d4)>
// CHECK-DAG: #[[OS:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d4, d3)>
// CHECK-DAG: #[[OO:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[FS:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d4, d3)>
// CHECK-LABEL: func.func @packed_delta_rule(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x?x1x4xf32> {ssm.seq_dim = 1 : i64}, %[[V:[a-z0-9]+]]: tensor<1x?x2x3xf32> {ssm.seq_dim = 1 : i64}, %[[BETA:[a-z0-9]+]]: tensor<1x?x2xf32> {ssm.seq_dim = 1 : i64},
// CHECK-SAME: %[[H0:[a-z0-9]+]]: tensor<3x2x4x3xf32>, %[[CU:[a-z0-9]+]]: tensor<4xi64>)
// CHECK-SAME: -> (tensor<1x?x2x3xf32> {ssm.seq_dim = 1 : i64}, tensor<3x2x4x3xf32> {ssm.seq_last})
// CHECK: call @ssmcMpiLocalSeqlens(%{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xi64>, i64, memref<?xi64>) -> ()
// CHECK: %[[LCU:.*]] = bufferization.to_tensor %{{.*}} : memref<4xi64> to tensor<4xi64>
// CHECK: call @ssmcMpiRank()
// CHECK: ssm.delta_rule %[[Q]], %[[Q]], %[[V]] beta(%[[BETA]]) h0(%[[H0]]) cu_seqlens(%[[LCU]])
// CHECK: linalg.fill {{.*}} -> tensor<3x2x4x4xf32>
// CHECK: call @ssmcMpiCombineMatrix
// CHECK: } else {
// CHECK: %[[OUT:.*]], %[[SLOC:.*]] = ssm.delta_rule %[[Q]], %[[Q]], %[[V]] beta(%[[BETA]]) cu_seqlens(%[[LCU]])
// CHECK: %[[VZ:.*]] = linalg.fill {{.*}} -> tensor<1x?x2x4xf32>
// CHECK: %[[EYE:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<3x2x4x4xf32>)
// CHECK: %[[OTR:.*]], %[[P:.*]] = ssm.delta_rule %[[Q]], %[[Q]], %[[VZ]] beta(%[[BETA]]) h0(%[[EYE]]) cu_seqlens(%[[LCU]])
// CHECK-SAME: -> (tensor<1x?x2x4xf32>, tensor<3x2x4x4xf32>)
// CHECK: call @ssmcMpiCombineMatrix
// CHECK: %[[SIN:.*]] = bufferization.to_tensor %{{.*}} : memref<3x2x4x3xf32> to tensor<3x2x4x3xf32>
// CHECK: %[[Y:.*]] = scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step %[[ONE:.*]] iter_args(%[[ACC:.*]] = %[[OUT]]) -> (tensor<1x?x2x3xf32>) {
// CHECK: %[[LO:.*]] = tensor.extract %[[LCU]][%[[I]]]
// CHECK: %[[LOI:.*]] = arith.index_cast %[[LO]] : i64 to index
// CHECK: %[[NEXT:.*]] = arith.addi %[[I]], %[[ONE]]
// CHECK: %[[HI:.*]] = tensor.extract %[[LCU]][%[[NEXT]]]
// CHECK: %[[HII:.*]] = arith.index_cast %[[HI]] : i64 to index
// CHECK: %[[N:.*]] = arith.subi %[[HII]], %[[LOI]]
// CHECK: %[[TS:.*]] = tensor.extract_slice %[[OTR]][0, %[[LOI]], 0, 0] [1, %[[N]], 2, 4]
// CHECK: %[[SI:.*]] = tensor.extract_slice %[[SIN]][%[[I]], 0, 0, 0] [1, 2, 4, 3]
// CHECK: %[[OSL:.*]] = tensor.extract_slice %[[ACC]][0, %[[LOI]], 0, 0] [1, %[[N]], 2, 3]
// CHECK: %[[C:.*]] = linalg.generic {indexing_maps = [#[[OP]], #[[OS]], #[[OO]]], {{.*}} ins(%[[TS]], %[[SI]] : {{.*}}) outs(%[[OSL]] : tensor<1x?x2x3xf32>)
// CHECK: %[[INS:.*]] = tensor.insert_slice %[[C]] into %[[ACC]][0, %[[LOI]], 0, 0] [1, %[[N]], 2, 3]
// CHECK: scf.yield %[[INS]]
// CHECK: %[[F:.*]] = linalg.generic {indexing_maps = [#[[OP]], #[[FS]], #[[OO]]], {{.*}} ins(%[[P]], %[[SIN]] : {{.*}}) outs(%[[SLOC]] : tensor<3x2x4x3xf32>)
// CHECK: scf.yield %[[Y]], %[[F]]
func.func @packed_delta_rule(%q: tensor<1x10x1x4xf32>, %v: tensor<1x10x2x3xf32>, %beta: tensor<1x10x2xf32>,
                             %h0: tensor<3x2x4x3xf32>, %cu: tensor<4xi64>)
    -> (tensor<1x10x2x3xf32>, tensor<3x2x4x3xf32>) {
  %o, %h = ssm.delta_rule %q, %q, %v beta(%beta) h0(%h0) cu_seqlens(%cu)
      : (tensor<1x10x1x4xf32>, tensor<1x10x1x4xf32>, tensor<1x10x2x3xf32>, tensor<1x10x2xf32>,
         tensor<3x2x4x3xf32>, tensor<4xi64>) -> (tensor<1x10x2x3xf32>, tensor<3x2x4x3xf32>)
  return %o, %h : tensor<1x10x2x3xf32>, tensor<3x2x4x3xf32>
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

// The DPLR form (RWKV-7): a and b are split with the sequence; v = 0 also
// removes its k v^T term, so the transition is again the op from the
// identity. Without a final state only the outputs are corrected.
// CHECK-LABEL: func.func @rwkv7(
// CHECK: } else {
// CHECK: ssm.delta_rule %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) a(%{{.*}}) b(%{{.*}}) h0(%{{.*}}) {scale = 1.000000e+00 : f64}
// CHECK-SAME: -> (tensor<2x?x2x5xf32>, tensor<2x2x5x5xf32>)
// CHECK: call @ssmcMpiCombineMatrix
// CHECK: linalg.generic
// CHECK-NOT: linalg.generic
// CHECK: scf.yield
func.func @rwkv7(%q: tensor<2x9x2x5xf32>, %k: tensor<2x9x2x5xf32>, %v: tensor<2x9x2x3xf32>,
                 %w: tensor<2x9x2x5xf32>, %a: tensor<2x9x2x5xf32>, %b: tensor<2x9x2x5xf32>)
    -> tensor<2x9x2x3xf32> {
  %o = ssm.delta_rule %q, %k, %v gate(%w) a(%a) b(%b) {scale = 1.0 : f64}
      : (tensor<2x9x2x5xf32>, tensor<2x9x2x5xf32>, tensor<2x9x2x3xf32>, tensor<2x9x2x5xf32>,
         tensor<2x9x2x5xf32>, tensor<2x9x2x5xf32>) -> tensor<2x9x2x3xf32>
  return %o : tensor<2x9x2x3xf32>
}

// -----

// f16 outputs: a correction would round them once more, so the other
// ranks run the slice again from S_in (the rescan).
// CHECK-LABEL: func.func @delta_rule_f16(
// CHECK: } else {
// CHECK: ssm.delta_rule %{{.*}}, %{{.*}}, %{{.*}} beta(%{{.*}}) use_qk_l2norm
// CHECK: linalg.fill {{.*}} -> tensor<1x?x2x4xf16>
// CHECK: ssm.delta_rule {{.*}} h0(%{{.*}}) use_qk_l2norm
// CHECK-SAME: -> (tensor<1x?x2x4xf16>, tensor<1x2x4x4xf32>)
// CHECK: call @ssmcMpiCombineMatrix
// CHECK: %[[SIN:.*]] = bufferization.to_tensor
// CHECK-NOT: linalg.generic
// CHECK: ssm.delta_rule {{.*}} h0(%[[SIN]]) use_qk_l2norm
// CHECK-SAME: -> tensor<1x?x2x3xf16>
func.func @delta_rule_f16(%q: tensor<1x8x1x4xf16>, %v: tensor<1x8x2x3xf16>, %beta: tensor<1x8x2xf32>)
    -> tensor<1x8x2x3xf16> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) use_qk_l2norm
      : (tensor<1x8x1x4xf16>, tensor<1x8x1x4xf16>, tensor<1x8x2x3xf16>, tensor<1x8x2xf32>) -> tensor<1x8x2x3xf16>
  return %o : tensor<1x8x2x3xf16>
}

// -----

// Causal attention (ring attention): rank 0 runs the op on its slice as it
// is after passing its K/V on (ssmcMpiRingAttention without output); the
// other ranks get their rows from the ring, with the op's options: scale
// 0.5, softcap 0 (none), window 4 (left 3, right 0: causal), the ALiBi
// slopes, no sinks, no packed offsets or key counts (empty i64 buffers).
// CHECK-LABEL: func.func @attention(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x4x?x8xf32> {ssm.seq_dim = 2 : i64}, %[[K:[a-z0-9]+]]: tensor<1x2x?x8xf32> {ssm.seq_dim = 2 : i64}, %[[V:[a-z0-9]+]]: tensor<1x2x?x6xf32> {ssm.seq_dim = 2 : i64}, %[[S:[a-z0-9]+]]: tensor<4xf32>)
// CHECK-SAME: -> (tensor<1x4x?x6xf32> {ssm.seq_dim = 2 : i64})
// CHECK: %[[RANK:.*]] = call @ssmcMpiRank()
// CHECK: scf.if
// CHECK: %[[NONE:.*]] = memref.alloca() : memref<0x0x0x0xf32>
// CHECK: memref.alloca() : memref<0xi64>
// CHECK: %[[L0:.*]] = arith.constant 3 : i64
// CHECK-NEXT: %[[R0:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[C0:.*]] = arith.constant 0 : i64
// CHECK-NEXT: call @ssmcMpiRingAttention({{.*}}, %[[L0]], %[[R0]], %[[C0]])
// CHECK: ssm.attention %[[Q]], %[[K]], %[[V]] causal alibi_slopes(%[[S]]) {scale = 5.000000e-01 : f64, window = 4 : i64}
// CHECK: } else {
// CHECK: %[[SCALE:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-NEXT: %[[CAP:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-NEXT: %[[LEFT:.*]] = arith.constant 3 : i64
// CHECK-NEXT: %[[RIGHT:.*]] = arith.constant 0 : i64
// CHECK-NEXT: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-NEXT: call @ssmcMpiRingAttention({{.*}}, %[[SCALE]], %[[CAP]], %[[LEFT]], %[[RIGHT]], %[[C1]])
// CHECK-NOT: ssm.attention
// CHECK: func.func private @ssmcMpiRingAttention(memref<?x?x?x?xf32>, memref<?x?x?x?xf32>, memref<?x?x?x?xf32>, memref<?xf32>, memref<?xf32>, memref<?xi64>, memref<?xi64>, memref<?xi64>, memref<?x?x?x?xf32>, f32, f32, i64, i64, i64) attributes {llvm.emit_c_interface}
func.func @attention(%q: tensor<1x4x10x8xf32>, %k: tensor<1x2x10x8xf32>, %v: tensor<1x2x10x6xf32>,
                     %slopes: tensor<4xf32>) -> tensor<1x4x10x6xf32> {
  %o = ssm.attention %q, %k, %v causal alibi_slopes(%slopes) {window = 4 : i64, scale = 0.5 : f64}
      : (tensor<1x4x10x8xf32>, tensor<1x2x10x8xf32>, tensor<1x2x10x6xf32>, tensor<4xf32>) -> tensor<1x4x10x6xf32>
  return %o : tensor<1x4x10x6xf32>
}

// -----

// Attention without causal (the full ring): no rank runs the op; every rank
// gets its rows from ssmcMpiRingAttention, with the two-sided window (2
// left, 5 right) and the softcap. q and k may differ in length (each is
// split along its own L).
// CHECK-LABEL: func.func @attention_full(
// CHECK-SAME: tensor<1x2x?x4xf32> {ssm.seq_dim = 2 : i64}, %{{.*}}: tensor<1x2x?x4xf32> {ssm.seq_dim = 2 : i64}, %{{.*}}: tensor<1x2x?x3xf32> {ssm.seq_dim = 2 : i64})
// CHECK-SAME: -> (tensor<1x2x?x3xf32> {ssm.seq_dim = 2 : i64})
// CHECK-NOT: ssmcMpiRank
// CHECK-NOT: scf.if
// CHECK: %[[CAP:.*]] = arith.constant 1.500000e+00 : f32
// CHECK-NEXT: %[[LEFT:.*]] = arith.constant 2 : i64
// CHECK-NEXT: %[[RIGHT:.*]] = arith.constant 5 : i64
// CHECK-NEXT: %[[C1:.*]] = arith.constant 1 : i64
// CHECK-NEXT: call @ssmcMpiRingAttention({{.*}}, %[[CAP]], %[[LEFT]], %[[RIGHT]], %[[C1]])
// CHECK-NOT: ssm.attention
func.func @attention_full(%q: tensor<1x2x6x4xf32>, %k: tensor<1x2x9x4xf32>, %v: tensor<1x2x9x3xf32>)
    -> tensor<1x2x6x3xf32> {
  %o = ssm.attention %q, %k, %v {window_left = 2 : i64, window_right = 5 : i64, softcap = 1.5 : f64}
      : (tensor<1x2x6x4xf32>, tensor<1x2x9x4xf32>, tensor<1x2x9x3xf32>) -> tensor<1x2x6x3xf32>
  return %o : tensor<1x2x6x3xf32>
}

// -----

// Packed causal attention: the offsets (replicated, not split) reach the
// runtime as i64 (i32 ones extended), with the key counts; every rank's
// rows come from the ring, rank 0's too (the runtime places each row in
// its sequence from the whole sequence's offsets).
// CHECK-LABEL: func.func @attention_packed(
// CHECK-SAME: %[[CU:[a-z0-9]+]]: tensor<3xi32>, %[[N:[a-z0-9]+]]: tensor<2xi64>)
// CHECK-NOT: scf.if
// CHECK: linalg.generic {{.*}} ins(%[[CU]] : tensor<3xi32>)
// CHECK: arith.extsi %{{.*}} : i32 to i64
// CHECK: linalg.generic {{.*}} ins(%[[CU]] : tensor<3xi32>)
// CHECK: bufferization.to_buffer %[[N]]
// CHECK: call @ssmcMpiRingAttention(
// CHECK-NOT: ssm.attention
func.func @attention_packed(%q: tensor<1x2x8x4xf32>, %cu: tensor<3xi32>, %n: tensor<2xi64>) -> tensor<1x2x8x4xf32> {
  %o = ssm.attention %q, %q, %q causal cu_seqlens_q(%cu) cu_seqlens_k(%cu) seqused_k(%n)
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<3xi32>, tensor<3xi32>, tensor<2xi64>)
      -> tensor<1x2x8x4xf32>
  return %o : tensor<1x2x8x4xf32>
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
