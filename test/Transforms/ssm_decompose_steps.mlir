// ssm-decompose-steps: each decode step is its sequence op with L = 1.
// RUN: ssmc-opt %s -split-input-file --ssm-decompose-steps | FileCheck %s

// CHECK-LABEL: func.func @selective_scan_step
// CHECK: %[[U:.*]] = tensor.expand_shape %arg0 {{\[\[}}0], [1, 2]] output_shape [2, 8, 1] : tensor<2x8xf32> into tensor<2x8x1xf32>
// CHECK: %[[B:.*]] = tensor.expand_shape %arg2 {{\[\[}}0], [1], [2, 3]] output_shape [2, 2, 4, 1] : tensor<2x2x4xf32> into tensor<2x2x4x1xf32>
// CHECK: %[[Y:.*]], %[[H:.*]] = ssm.selective_scan %[[U]], %{{.*}}, %arg1, %[[B]], %{{.*}} D(%arg5) h0(%arg4) delta_softplus
// CHECK: %[[OUT:.*]] = tensor.collapse_shape %[[Y]] {{\[\[}}0], [1, 2]] : tensor<2x8x1xf32> into tensor<2x8xf32>
// CHECK: return %[[OUT]], %[[H]]
func.func @selective_scan_step(%u: tensor<2x8xf32>, %A: tensor<8x4xf32>, %B: tensor<2x2x4xf32>, %C: tensor<2x4xf32>,
                               %h: tensor<2x8x4xf32>, %D: tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8x4xf32>) {
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %B, %C, %h D(%D) delta_softplus
      : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x2x4xf32>, tensor<2x4xf32>,
         tensor<2x8x4xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8x4xf32>)
  return %y, %h1 : tensor<2x8xf32>, tensor<2x8x4xf32>
}

// -----

// CHECK-LABEL: func.func @linear_attention_step
// CHECK: %[[G:.*]] = tensor.expand_shape %arg3 {{\[\[}}0], [1, 2], [3]] output_shape [1, 2, 1, 4] : tensor<1x2x4xf32> into tensor<1x2x1x4xf32>
// CHECK: ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} gate(%[[G]]) h0(%arg2) {feature_map = #ssm.feature_map<relu>} : (tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>) -> (tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>)
func.func @linear_attention_step(%q: tensor<1x2x4xf32>, %unused: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>, %g: tensor<1x2x4xf32>)
    -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>) {
  %o, %s1 = ssm.linear_attention_step %q, %q, %q, %s gate(%g) {feature_map = #ssm.feature_map<relu>}
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
      -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>)
  return %o, %s1 : tensor<1x2x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// With `normalize` the normaliser's state goes in as z0 and comes out as
// final_z; eps carries over.
// CHECK-LABEL: func.func @linear_attention_step_normalized
// CHECK: %{{.*}}, %[[FS:.*]], %[[FZ:.*]] = ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} h0(%arg1) z0(%arg2) normalize {eps = 5.000000e-01 : f64} : (tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) -> (tensor<1x2x1x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
// CHECK: return %{{.*}}, %[[FS]], %[[FZ]]
func.func @linear_attention_step_normalized(%q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>, %z: tensor<1x2x4xf32>)
    -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) {
  %o, %s1, %z1 = ssm.linear_attention_step %q, %q, %q, %s z(%z) normalize {eps = 0.5 : f64}
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
      -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
  return %o, %s1, %z1 : tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>
}

// -----

// The KV cache step: check position < C, insert the new k/v, attend to the
// window's slots with a non-causal attention of the single query. With a
// static capacity a failed check only redirects the write to slot 0 (the
// call reports the error), so the new caches never alias the inputs and
// bufferize into the caller's buffers.
// CHECK: ssm.runtime_checks = ["ssm.attention_step at {{.*}}: 'position' must be below the cache capacity C (reported: position, C)"]
// CHECK-LABEL: func.func @attention_step
// CHECK: %[[OK:.*]] = arith.cmpi ult, %arg4, %c16 : index
// CHECK: func.call @ssmcShapeError
// CHECK: %[[POS:.*]] = arith.select %[[OK]], %arg4, %c0 : index
// CHECK-NOT: scf.if
// CHECK: %[[K:.*]] = tensor.insert_slice %{{.*}} into %arg3[0, 0, %[[POS]], 0] [1, 2, 1, 8] [1, 1, 1, 1]
// CHECK: %[[LO:.*]] = arith.select
// CHECK: tensor.extract_slice %[[K]][0, 0, %[[LO]], 0] [1, 2, %{{.*}}, 8] [1, 1, 1, 1] : tensor<1x2x16x8xf32> to tensor<1x2x?x8xf32>
// CHECK: ssm.attention %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x4x1x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) -> tensor<1x4x1x8xf32>
func.func @attention_step(%q: tensor<1x4x8xf32>, %k: tensor<1x2x8xf32>, %unused: tensor<1x2x8xf32>,
                          %kc: tensor<1x2x16x8xf32>, %p: index)
    -> (tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>) {
  %o, %k1, %v1 = ssm.attention_step %q, %k, %k, %kc, %kc, %p {window = 4 : i64}
      : (tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index)
      -> (tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>)
  return %o, %k1, %v1 : tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>
}

// -----

// A dynamic capacity may be 0: a failed check skips the step entirely.
// CHECK-LABEL: func.func @attention_step_dynamic
// CHECK: %[[OK:.*]] = arith.cmpi ult, %arg4, %{{.*}} : index
// CHECK: scf.if %[[OK]] -> (tensor<1x4x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
// CHECK: tensor.insert_slice %{{.*}} into %arg3[0, 0, %arg4, 0]
// CHECK: } else {
// CHECK: tensor.empty() : tensor<1x4x8xf32>
func.func @attention_step_dynamic(%q: tensor<1x4x8xf32>, %k: tensor<1x2x8xf32>, %unused: tensor<1x2x8xf32>,
                                  %kc: tensor<1x2x?x8xf32>, %p: index)
    -> (tensor<1x4x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>) {
  %o, %k1, %v1 = ssm.attention_step %q, %k, %k, %kc, %kc, %p
      : (tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>, index)
      -> (tensor<1x4x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>)
  return %o, %k1, %v1 : tensor<1x4x8xf32>, tensor<1x2x?x8xf32>, tensor<1x2x?x8xf32>
}

// -----

// CHECK-LABEL: func.func @ssd_step
// CHECK: %[[X:.*]] = tensor.expand_shape %arg0 {{\[\[}}0, 1], [2], [3]] output_shape [2, 1, 4, 8] : tensor<2x4x8xf32> into tensor<2x1x4x8xf32>
// CHECK: %[[Y:.*]], %[[H:.*]] = ssm.ssd %[[X]], %{{.*}}, %arg2, %{{.*}}, %{{.*}} h0(%arg4) :
// CHECK: tensor.collapse_shape %[[Y]] {{\[\[}}0, 1], [2], [3]] : tensor<2x1x4x8xf32> into tensor<2x4x8xf32>
func.func @ssd_step(%x: tensor<2x4x8xf32>, %dt: tensor<2x4xf32>, %A: tensor<4xf32>, %B: tensor<2x2x6xf32>, %h: tensor<2x4x8x6xf32>)
    -> (tensor<2x4x8xf32>, tensor<2x4x8x6xf32>) {
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h
      : (tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x2x6xf32>, tensor<2x2x6xf32>, tensor<2x4x8x6xf32>)
      -> (tensor<2x4x8xf32>, tensor<2x4x8x6xf32>)
  return %y, %h1 : tensor<2x4x8xf32>, tensor<2x4x8x6xf32>
}

// -----

// D per head channel, f32 dt next to bf16 x and dt_limit carry over.
// CHECK-LABEL: func.func @ssd_step_peer_options
// CHECK: ssm.ssd %{{.*}}, %{{.*}}, %arg2, %{{.*}}, %{{.*}} D(%arg5) h0(%arg4) dt_softplus {dt_limit = array<f64: 0.000000e+00, 1.000000e+00>} : (tensor<2x1x4x8xbf16>, tensor<2x1x4xf32>, tensor<4xf32>, tensor<2x1x2x6xbf16>, tensor<2x1x2x6xbf16>, tensor<4x8xf32>, tensor<2x4x8x6xf32>)
func.func @ssd_step_peer_options(%x: tensor<2x4x8xbf16>, %dt: tensor<2x4xf32>, %A: tensor<4xf32>, %B: tensor<2x2x6xbf16>,
                                 %h: tensor<2x4x8x6xf32>, %D: tensor<4x8xf32>)
    -> (tensor<2x4x8xbf16>, tensor<2x4x8x6xf32>) {
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h D(%D) dt_softplus {dt_limit = array<f64: 0.0, 1.0>}
      : (tensor<2x4x8xbf16>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x2x6xbf16>, tensor<2x2x6xbf16>, tensor<2x4x8x6xf32>, tensor<4x8xf32>)
      -> (tensor<2x4x8xbf16>, tensor<2x4x8x6xf32>)
  return %y, %h1 : tensor<2x4x8xbf16>, tensor<2x4x8x6xf32>
}

// -----

// state_batch_indices: the batch's states gathered from the pool's slots,
// the sequence op on them, the new states written back into the pool and
// the rows of padding entries (negative slots) zeroed.
// CHECK-LABEL: func.func @ssd_step_slots
// CHECK: scf.for {{.*}} -> (i1)
// CHECK: func.call @ssmcShapeError
// CHECK: %[[GATHERED:.*]] = scf.for {{.*}} -> (tensor<2x4x8x6xf32>)
// CHECK: tensor.extract_slice %arg4[
// CHECK: ssm.ssd %{{.*}}, %{{.*}}, %arg2, %{{.*}}, %{{.*}} h0(%[[GATHERED]]) : {{.*}} -> (tensor<2x1x4x8xf32>, tensor<2x4x8x6xf32>)
// CHECK: scf.for {{.*}} -> (tensor<2x4x8xf32>)
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[%{{.*}}, 0, 0] [1, 4, 8] [1, 1, 1] : tensor<1x4x8xf32> into tensor<2x4x8xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %arg4) -> (tensor<5x4x8x6xf32>)
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[%{{.*}}, 0, 0, 0] [1, 4, 8, 6] [1, 1, 1, 1] : tensor<1x4x8x6xf32> into tensor<5x4x8x6xf32>
func.func @ssd_step_slots(%x: tensor<2x4x8xf32>, %dt: tensor<2x4xf32>, %A: tensor<4xf32>, %B: tensor<2x2x6xf32>,
                          %h: tensor<5x4x8x6xf32>, %i: tensor<2xi32>)
    -> (tensor<2x4x8xf32>, tensor<5x4x8x6xf32>) {
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h state_batch_indices(%i)
      : (tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x2x6xf32>, tensor<2x2x6xf32>, tensor<5x4x8x6xf32>, tensor<2xi32>)
      -> (tensor<2x4x8xf32>, tensor<5x4x8x6xf32>)
  return %y, %h1 : tensor<2x4x8xf32>, tensor<5x4x8x6xf32>
}

// -----

// A position per batch entry (continuous batching): the largest position
// is checked against C, each entry's token goes to its own slot, and one
// causal ssm.attention over the whole caches sees each entry's position + 1
// keys (seqused_k), with the step's window, softcap, ALiBi and sinks.
// CHECK-LABEL: func.func @attention_step_positions
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %c0) -> (index)
// CHECK: arith.maxui
// CHECK: arith.cmpi ult, %{{.*}}, %c16 : index
// CHECK: func.call @ssmcShapeError
// CHECK: %[[E:.*]]:3 = scf.for %[[B:.*]] = %c0 to %c2 step %c1 iter_args(%{{.*}} = %arg3, %{{.*}} = %arg3, %{{.*}} = %{{.*}}) -> (tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2xi32>)
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[%[[B]], 0, %{{.*}}, 0] [1, 2, 1, 8] [1, 1, 1, 1]
// CHECK: tensor.insert %{{.*}} into %{{.*}}[%[[B]]] : tensor<2xi32>
// CHECK: ssm.attention %{{.*}}, %[[E]]#0, %[[E]]#1 causal alibi_slopes(%arg5) sinks(%arg5) seqused_k(%[[E]]#2) {softcap = 2.000000e+00 : f64, window = 4 : i64}
func.func @attention_step_positions(%q: tensor<2x4x8xf32>, %k: tensor<2x2x8xf32>, %unused: tensor<2x2x8xf32>,
                                    %kc: tensor<2x2x16x8xf32>, %p: tensor<2xi32>, %s: tensor<4xf32>)
    -> (tensor<2x4x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>) {
  %o, %k1, %v1 = ssm.attention_step %q, %k, %k, %kc, %kc positions(%p) alibi_slopes(%s) sinks(%s) {window = 4 : i64, softcap = 2.0}
      : (tensor<2x4x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2xi32>, tensor<4xf32>, tensor<4xf32>)
      -> (tensor<2x4x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>)
  return %o, %k1, %v1 : tensor<2x4x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x8xf32>
}
