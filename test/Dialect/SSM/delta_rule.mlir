// Round-trip of ssm.delta_rule and ssm.delta_rule_step in each form:
// custom -> custom, and custom -> generic -> custom.
// RUN: ssmc-opt %s | ssmc-opt | FileCheck %s
// RUN: ssmc-opt %s -mlir-print-op-generic | ssmc-opt | FileCheck %s

// CHECK-LABEL: func.func @deltanet
// CHECK: ssm.delta_rule %{{.*}}, %{{.*}}, %{{.*}} beta(%{{.*}}) : (tensor<2x7x3x5xf32>, tensor<2x7x3x5xf32>, tensor<2x7x3x6xf32>, tensor<2x7x3xf32>) -> tensor<2x7x3x6xf32>
func.func @deltanet(%q: tensor<2x7x3x5xf32>, %v: tensor<2x7x3x6xf32>, %beta: tensor<2x7x3xf32>) -> tensor<2x7x3x6xf32> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) : (tensor<2x7x3x5xf32>, tensor<2x7x3x5xf32>, tensor<2x7x3x6xf32>, tensor<2x7x3xf32>) -> tensor<2x7x3x6xf32>
  return %o : tensor<2x7x3x6xf32>
}

// Gated DeltaNet with grouped heads (Hk = 2 query/key heads, H = 4 value
// heads), l2norm in the op, bf16 activations with an f32 gate, h0 and the
// final state.
// CHECK-LABEL: func.func @gated_grouped
// CHECK: ssm.delta_rule %{{.*}}, %{{.*}}, %{{.*}} beta(%{{.*}}) gate(%{{.*}}) h0(%{{.*}}) use_qk_l2norm {scale = 5.000000e-01 : f64} : (tensor<1x9x2x8xbf16>, tensor<1x9x2x8xbf16>, tensor<1x9x4x3xbf16>, tensor<1x9x4xbf16>, tensor<1x9x4xf32>, tensor<1x4x8x3xf32>) -> (tensor<1x9x4x3xbf16>, tensor<1x4x8x3xf32>)
func.func @gated_grouped(%q: tensor<1x9x2x8xbf16>, %v: tensor<1x9x4x3xbf16>, %beta: tensor<1x9x4xbf16>,
                         %g: tensor<1x9x4xf32>, %h0: tensor<1x4x8x3xf32>) -> (tensor<1x9x4x3xbf16>, tensor<1x4x8x3xf32>) {
  %o, %s = ssm.delta_rule %q, %q, %v beta(%beta) gate(%g) h0(%h0) use_qk_l2norm {scale = 0.5 : f64}
      : (tensor<1x9x2x8xbf16>, tensor<1x9x2x8xbf16>, tensor<1x9x4x3xbf16>, tensor<1x9x4xbf16>, tensor<1x9x4xf32>, tensor<1x4x8x3xf32>)
      -> (tensor<1x9x4x3xbf16>, tensor<1x4x8x3xf32>)
  return %o, %s : tensor<1x9x4x3xbf16>, tensor<1x4x8x3xf32>
}

// KDA: one log decay per key dimension; packed sequences, chunked form.
// CHECK-LABEL: func.func @kda_packed
// CHECK: ssm.delta_rule %{{.*}}, %{{.*}}, %{{.*}} beta(%{{.*}}) gate(%{{.*}}) cu_seqlens(%{{.*}}) {chunk_size = 16 : i64} : (tensor<1x20x2x8xf32>, tensor<1x20x2x8xf32>, tensor<1x20x2x8xf32>, tensor<1x20x2xf32>, tensor<1x20x2x8xf32>, tensor<4xi32>) -> (tensor<1x20x2x8xf32>, tensor<3x2x8x8xf32>)
func.func @kda_packed(%q: tensor<1x20x2x8xf32>, %beta: tensor<1x20x2xf32>, %g: tensor<1x20x2x8xf32>,
                      %cu: tensor<4xi32>) -> (tensor<1x20x2x8xf32>, tensor<3x2x8x8xf32>) {
  %o, %s = ssm.delta_rule %q, %q, %q beta(%beta) gate(%g) cu_seqlens(%cu) {chunk_size = 16 : i64}
      : (tensor<1x20x2x8xf32>, tensor<1x20x2x8xf32>, tensor<1x20x2x8xf32>, tensor<1x20x2xf32>, tensor<1x20x2x8xf32>, tensor<4xi32>)
      -> (tensor<1x20x2x8xf32>, tensor<3x2x8x8xf32>)
  return %o, %s : tensor<1x20x2x8xf32>, tensor<3x2x8x8xf32>
}

// RWKV-7: the DPLR form, dynamic T.
// CHECK-LABEL: func.func @rwkv7
// CHECK: ssm.delta_rule %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) a(%{{.*}}) b(%{{.*}}) {scale = 1.000000e+00 : f64} : (tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>) -> tensor<1x?x2x4xf32>
func.func @rwkv7(%x: tensor<1x?x2x4xf32>) -> tensor<1x?x2x4xf32> {
  %o = ssm.delta_rule %x, %x, %x gate(%x) a(%x) b(%x) {scale = 1.0 : f64}
      : (tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>, tensor<1x?x2x4xf32>) -> tensor<1x?x2x4xf32>
  return %o : tensor<1x?x2x4xf32>
}

// CHECK-LABEL: func.func @step_gated
// CHECK: ssm.delta_rule_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} beta(%{{.*}}) gate(%{{.*}}) use_qk_l2norm : (tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x2x3xf32>, tensor<2x2x8x3xf32>, tensor<2x2xf32>, tensor<2x2xf32>) -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>)
func.func @step_gated(%q: tensor<2x1x8xf32>, %v: tensor<2x2x3xf32>, %s: tensor<2x2x8x3xf32>, %beta: tensor<2x2xf32>)
    -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>) {
  %o, %s1 = ssm.delta_rule_step %q, %q, %v, %s beta(%beta) gate(%beta) use_qk_l2norm
      : (tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x2x3xf32>, tensor<2x2x8x3xf32>, tensor<2x2xf32>, tensor<2x2xf32>)
      -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>)
  return %o, %s1 : tensor<2x2x3xf32>, tensor<2x2x8x3xf32>
}

// CHECK-LABEL: func.func @step_dplr_pool
// CHECK: ssm.delta_rule_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} a(%{{.*}}) b(%{{.*}}) state_batch_indices(%{{.*}}) : (tensor<2x2x4xf32>, tensor<2x2x4xf32>, tensor<2x2x4xf32>, tensor<5x2x4x4xf32>, tensor<2x2x4xf32>, tensor<2x2x4xf32>, tensor<2xi32>) -> (tensor<2x2x4xf32>, tensor<5x2x4x4xf32>)
func.func @step_dplr_pool(%x: tensor<2x2x4xf32>, %pool: tensor<5x2x4x4xf32>, %idx: tensor<2xi32>)
    -> (tensor<2x2x4xf32>, tensor<5x2x4x4xf32>) {
  %o, %p = ssm.delta_rule_step %x, %x, %x, %pool a(%x) b(%x) state_batch_indices(%idx)
      : (tensor<2x2x4xf32>, tensor<2x2x4xf32>, tensor<2x2x4xf32>, tensor<5x2x4x4xf32>, tensor<2x2x4xf32>, tensor<2x2x4xf32>, tensor<2xi32>)
      -> (tensor<2x2x4xf32>, tensor<5x2x4x4xf32>)
  return %o, %p : tensor<2x2x4xf32>, tensor<5x2x4x4xf32>
}
