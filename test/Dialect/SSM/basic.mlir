// Round-trip: custom form -> custom form, and custom -> generic -> custom.
// RUN: ssmc-opt %s | ssmc-opt | FileCheck %s
// RUN: ssmc-opt %s -mlir-print-op-generic | ssmc-opt | FileCheck %s

// CHECK-LABEL: func.func @selective_scan_minimal
// CHECK: ssm.selective_scan %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
func.func @selective_scan_minimal(%u: tensor<1x4x8xf32>, %dt: tensor<1x4x8xf32>,
    %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %C: tensor<1x2x8xf32>) -> tensor<1x4x8xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>,
         tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// Every optional operand, the final state and softplus.
// CHECK-LABEL: func.func @selective_scan_full
// CHECK: %{{.*}}, %{{.*}} = ssm.selective_scan %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} D(%{{.*}}) z(%{{.*}}) delta_bias(%{{.*}}) h0(%{{.*}}) delta_softplus : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>, tensor<8xf32>, tensor<2x8x16xf32>, tensor<8xf32>, tensor<2x8x4xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>)
func.func @selective_scan_full(%u: tensor<2x8x16xf32>, %dt: tensor<2x8x16xf32>,
    %A: tensor<8x4xf32>, %B: tensor<2x4x16xf32>, %C: tensor<2x4x16xf32>,
    %D: tensor<8xf32>, %z: tensor<2x8x16xf32>, %bias: tensor<8xf32>,
    %h0: tensor<2x8x4xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x4x16xf32>,
         tensor<2x4x16xf32>, tensor<8xf32>, tensor<2x8x16xf32>, tensor<8xf32>,
         tensor<2x8x4xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>)
  return %y, %h : tensor<2x8x16xf32>, tensor<2x8x4xf32>
}

// A subset of the optional operands keeps its keywords (segment sizes).
// CHECK-LABEL: func.func @selective_scan_some_optionals
// CHECK: ssm.selective_scan %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} z(%{{.*}}) h0(%{{.*}}) :
// CHECK-NOT: D(
func.func @selective_scan_some_optionals(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>,
    %B: tensor<1x2x8xf32>, %h0: tensor<1x4x2xf32>) -> tensor<1x4x8xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B z(%u) h0(%h0)
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>,
         tensor<1x2x8xf32>, tensor<1x4x8xf32>, tensor<1x4x2xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// Grouped B/C ([B, G, N, L]) and mixed grouped/shared forms.
// CHECK-LABEL: func.func @selective_scan_grouped
// CHECK: ssm.selective_scan {{.*}} : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x8x16xf32>
func.func @selective_scan_grouped(%u: tensor<2x8x16xf32>, %A: tensor<8x4xf32>,
    %B: tensor<2x2x4x16xf32>, %C: tensor<2x4x16xf32>) -> tensor<2x8x16xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %C
      : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x2x4x16xf32>,
         tensor<2x4x16xf32>) -> tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// B and C fixed over time ([Dm, N]), each next to the other form.
// CHECK-LABEL: func.func @selective_scan_fixed
// CHECK: ssm.selective_scan {{.*}} D(%{{.*}}) delta_softplus : (tensor<2x7x13xbf16>, tensor<2x7x13xf32>, tensor<7x5xf32>, tensor<7x5xbf16>, tensor<2x5x13xbf16>, tensor<7xf32>) -> tensor<2x7x13xbf16>
// CHECK: ssm.selective_scan {{.*}} : (tensor<?x7x?xf32>, tensor<?x7x?xf32>, tensor<7x5xf32>, tensor<?x?x5x?xf32>, tensor<7x5xf32>) -> tensor<?x7x?xf32>
func.func @selective_scan_fixed(%u: tensor<2x7x13xbf16>, %dt: tensor<2x7x13xf32>,
    %A: tensor<7x5xf32>, %Bf: tensor<7x5xbf16>, %C: tensor<2x5x13xbf16>, %D: tensor<7xf32>,
    %v: tensor<?x7x?xf32>, %Bg: tensor<?x?x5x?xf32>, %Cf: tensor<7x5xf32>)
    -> (tensor<2x7x13xbf16>, tensor<?x7x?xf32>) {
  %y = ssm.selective_scan %u, %dt, %A, %Bf, %C D(%D) delta_softplus
      : (tensor<2x7x13xbf16>, tensor<2x7x13xf32>, tensor<7x5xf32>, tensor<7x5xbf16>,
         tensor<2x5x13xbf16>, tensor<7xf32>) -> tensor<2x7x13xbf16>
  %w = ssm.selective_scan %v, %v, %A, %Bg, %Cf
      : (tensor<?x7x?xf32>, tensor<?x7x?xf32>, tensor<7x5xf32>, tensor<?x?x5x?xf32>,
         tensor<7x5xf32>) -> tensor<?x7x?xf32>
  return %y, %w : tensor<2x7x13xbf16>, tensor<?x7x?xf32>
}

// Sequences packed per batch row (seq_idx [B, L]); states stay [B, Dm, N].
// CHECK-LABEL: func.func @selective_scan_seq_idx
// CHECK: ssm.selective_scan {{.*}} h0(%{{.*}}) seq_idx(%{{.*}}) delta_softplus : (tensor<3x4x9xf32>, tensor<3x4x9xf32>, tensor<4x2xf32>, tensor<3x2x9xf32>, tensor<3x2x9xf32>, tensor<3x4x2xf32>, tensor<3x9xi64>) -> (tensor<3x4x9xf32>, tensor<3x4x2xf32>)
func.func @selective_scan_seq_idx(%u: tensor<3x4x9xf32>, %A: tensor<4x2xf32>,
    %B: tensor<3x2x9xf32>, %h0: tensor<3x4x2xf32>, %s: tensor<3x9xi64>)
    -> (tensor<3x4x9xf32>, tensor<3x4x2xf32>) {
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B h0(%h0) seq_idx(%s) delta_softplus
      : (tensor<3x4x9xf32>, tensor<3x4x9xf32>, tensor<4x2xf32>, tensor<3x2x9xf32>,
         tensor<3x2x9xf32>, tensor<3x4x2xf32>, tensor<3x9xi64>) -> (tensor<3x4x9xf32>, tensor<3x4x2xf32>)
  return %y, %h : tensor<3x4x9xf32>, tensor<3x4x2xf32>
}

// Dynamic dimensions, and odd sizes: nothing about a size is special.
// CHECK-LABEL: func.func @selective_scan_dynamic
// CHECK: ssm.selective_scan {{.*}} : (tensor<?x7x?xf32>, tensor<?x7x?xf32>, tensor<7x13xf32>, tensor<?x?x13x?xf32>, tensor<?x13x?xf32>) -> tensor<?x7x?xf32>
func.func @selective_scan_dynamic(%u: tensor<?x7x?xf32>, %A: tensor<7x13xf32>,
    %B: tensor<?x?x13x?xf32>, %C: tensor<?x13x?xf32>) -> tensor<?x7x?xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %C
      : (tensor<?x7x?xf32>, tensor<?x7x?xf32>, tensor<7x13xf32>, tensor<?x?x13x?xf32>,
         tensor<?x13x?xf32>) -> tensor<?x7x?xf32>
  return %y : tensor<?x7x?xf32>
}

// Low-precision activations with f32 parameters and f32 state.
// CHECK-LABEL: func.func @selective_scan_bf16
// CHECK: ssm.selective_scan {{.*}} : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<1x2x8xbf16>, tensor<1x2x8xbf16>, tensor<4xbf16>, tensor<1x4x2xf32>) -> (tensor<1x4x8xbf16>, tensor<1x4x2xf32>)
func.func @selective_scan_bf16(%u: tensor<1x4x8xbf16>, %A: tensor<4x2xf32>,
    %B: tensor<1x2x8xbf16>, %D: tensor<4xbf16>, %h0: tensor<1x4x2xf32>)
    -> (tensor<1x4x8xbf16>, tensor<1x4x2xf32>) {
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B D(%D) h0(%h0)
      : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<1x2x8xbf16>,
         tensor<1x2x8xbf16>, tensor<4xbf16>, tensor<1x4x2xf32>)
      -> (tensor<1x4x8xbf16>, tensor<1x4x2xf32>)
  return %y, %h : tensor<1x4x8xbf16>, tensor<1x4x2xf32>
}

// CHECK-LABEL: func.func @selective_scan_f16
// CHECK: ssm.selective_scan {{.*}} : (tensor<1x4x8xf16>, tensor<1x4x8xf16>, tensor<4x2xf16>, tensor<1x2x8xf16>, tensor<1x2x8xf16>) -> tensor<1x4x8xf16>
func.func @selective_scan_f16(%u: tensor<1x4x8xf16>, %A: tensor<4x2xf16>,
    %B: tensor<1x2x8xf16>) -> tensor<1x4x8xf16> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x4x8xf16>, tensor<1x4x8xf16>, tensor<4x2xf16>, tensor<1x2x8xf16>,
         tensor<1x2x8xf16>) -> tensor<1x4x8xf16>
  return %y : tensor<1x4x8xf16>
}

// f64 reference programs keep their state in f64.
// CHECK-LABEL: func.func @selective_scan_f64
// CHECK: -> (tensor<1x4x8xf64>, tensor<1x4x2xf64>)
func.func @selective_scan_f64(%u: tensor<1x4x8xf64>, %A: tensor<4x2xf64>,
    %B: tensor<1x2x8xf64>) -> (tensor<1x4x8xf64>, tensor<1x4x2xf64>) {
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x4x8xf64>, tensor<1x4x8xf64>, tensor<4x2xf64>, tensor<1x2x8xf64>,
         tensor<1x2x8xf64>) -> (tensor<1x4x8xf64>, tensor<1x4x2xf64>)
  return %y, %h : tensor<1x4x8xf64>, tensor<1x4x2xf64>
}

// Zero-length sequences are legal.
// CHECK-LABEL: func.func @selective_scan_empty
// CHECK: ssm.selective_scan {{.*}} -> tensor<1x4x0xf32>
func.func @selective_scan_empty(%u: tensor<1x4x0xf32>, %A: tensor<4x2xf32>,
    %B: tensor<1x2x0xf32>) -> tensor<1x4x0xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x4x0xf32>, tensor<1x4x0xf32>, tensor<4x2xf32>, tensor<1x2x0xf32>,
         tensor<1x2x0xf32>) -> tensor<1x4x0xf32>
  return %y : tensor<1x4x0xf32>
}

// The first-order linear recurrence as a scan of (a, b) pairs.
// CHECK-LABEL: func.func @scan_linear_recurrence
// CHECK: %{{.*}}:2 = ssm.scan %{{.*}}, %{{.*}} axis = 1 : (tensor<4x128xf32>, tensor<4x128xf32>) -> (tensor<4x128xf32>, tensor<4x128xf32>) {
// CHECK: ^bb0(%{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32, %{{.*}}: f32):
// CHECK: ssm.yield %{{.*}}, %{{.*}} : f32, f32
func.func @scan_linear_recurrence(%a: tensor<4x128xf32>, %b: tensor<4x128xf32>) -> tensor<4x128xf32> {
  %p, %h = ssm.scan %a, %b axis = 1
      : (tensor<4x128xf32>, tensor<4x128xf32>) -> (tensor<4x128xf32>, tensor<4x128xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = arith.mulf %a2, %b1 : f32
    %2 = arith.addf %1, %b2 : f32
    ssm.yield %0, %2 : f32, f32
  }
  return %h : tensor<4x128xf32>
}

// Exclusive reverse scan with init values, over integers, on a dynamic shape.
// CHECK-LABEL: func.func @scan_exclusive_reverse
// CHECK: ssm.scan %{{.*}} init(%{{.*}} : i32) axis = 0 reverse exclusive : (tensor<?x3xi32>) -> tensor<?x3xi32> {
func.func @scan_exclusive_reverse(%x: tensor<?x3xi32>, %zero: i32) -> tensor<?x3xi32> {
  %r = ssm.scan %x init(%zero : i32) axis = 0 reverse exclusive
      : (tensor<?x3xi32>) -> tensor<?x3xi32> {
  ^bb0(%acc: i32, %next: i32):
    %s = arith.addi %acc, %next : i32
    ssm.yield %s : i32
  }
  return %r : tensor<?x3xi32>
}

// Inclusive scan with a max combiner and an init value, index elements.
// CHECK-LABEL: func.func @scan_inclusive_init
// CHECK: ssm.scan %{{.*}} init(%{{.*}} : index) axis = 0 : (tensor<10xindex>) -> tensor<10xindex>
// CHECK: arith.maxui
func.func @scan_inclusive_init(%x: tensor<10xindex>, %i: index) -> tensor<10xindex> {
  %r = ssm.scan %x init(%i : index) axis = 0 : (tensor<10xindex>) -> tensor<10xindex> {
  ^bb0(%acc: index, %next: index):
    %m = arith.maxui %acc, %next : index
    ssm.yield %m : index
  }
  return %r : tensor<10xindex>
}

// CHECK-LABEL: func.func @linear_attention_minimal
// CHECK: ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x6xf32>) -> tensor<1x2x8x6xf32>
func.func @linear_attention_minimal(%q: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x6xf32>) -> tensor<1x2x8x6xf32> {
  %o = ssm.linear_attention %q, %q, %v
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x6xf32>) -> tensor<1x2x8x6xf32>
  return %o : tensor<1x2x8x6xf32>
}

// Per-key (GLA) gate, initial and final state, normalisation, feature map
// and scale.
// CHECK-LABEL: func.func @linear_attention_full
// CHECK: ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) h0(%{{.*}}) normalize {feature_map = #ssm.feature_map<elu_plus_one>, scale = 1.250000e-01 : f64} : (tensor<2x4x16x8xbf16>, tensor<2x4x16x8xbf16>, tensor<2x4x16x6xbf16>, tensor<2x4x16x8xf32>, tensor<2x4x8x6xf32>) -> (tensor<2x4x16x6xbf16>, tensor<2x4x8x6xf32>)
func.func @linear_attention_full(%q: tensor<2x4x16x8xbf16>, %v: tensor<2x4x16x6xbf16>,
    %g: tensor<2x4x16x8xf32>, %h0: tensor<2x4x8x6xf32>) -> (tensor<2x4x16x6xbf16>, tensor<2x4x8x6xf32>) {
  %o, %s = ssm.linear_attention %q, %q, %v gate(%g) h0(%h0) normalize {feature_map = #ssm.feature_map<elu_plus_one>, scale = 0.125}
      : (tensor<2x4x16x8xbf16>, tensor<2x4x16x8xbf16>, tensor<2x4x16x6xbf16>, tensor<2x4x16x8xf32>,
         tensor<2x4x8x6xf32>) -> (tensor<2x4x16x6xbf16>, tensor<2x4x8x6xf32>)
  return %o, %s : tensor<2x4x16x6xbf16>, tensor<2x4x8x6xf32>
}

// Packed variable-length sequences: one state per sequence.
// CHECK-LABEL: func.func @linear_attention_varlen
// CHECK: ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) cu_seqlens(%{{.*}}) : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?xf32>, tensor<4xi32>) -> (tensor<1x2x?x4xf32>, tensor<3x2x4x4xf32>)
func.func @linear_attention_varlen(%q: tensor<1x2x?x4xf32>, %g: tensor<1x2x?xf32>, %cu: tensor<4xi32>)
    -> (tensor<1x2x?x4xf32>, tensor<3x2x4x4xf32>) {
  %o, %s = ssm.linear_attention %q, %q, %q gate(%g) cu_seqlens(%cu)
      : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?xf32>, tensor<4xi32>)
      -> (tensor<1x2x?x4xf32>, tensor<3x2x4x4xf32>)
  return %o, %s : tensor<1x2x?x4xf32>, tensor<3x2x4x4xf32>
}

// The normaliser's state in and out, eps, right-to-left steps; a final_z
// without final_state (the result types' ranks tell the results apart).
// CHECK-LABEL: func.func @linear_attention_normaliser_state
// CHECK: ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} h0(%{{.*}}) z0(%{{.*}}) normalize reverse {eps = 2.500000e-01 : f64} : (tensor<2x3x7x5xf32>, tensor<2x3x7x5xf32>, tensor<2x3x7x6xf32>, tensor<2x3x5x6xf32>, tensor<2x3x5xf32>) -> (tensor<2x3x7x6xf32>, tensor<2x3x5x6xf32>, tensor<2x3x5xf32>)
// CHECK: ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} normalize : (tensor<2x3x7x5xf32>, tensor<2x3x7x5xf32>, tensor<2x3x7x6xf32>) -> (tensor<2x3x7x6xf32>, tensor<2x3x5xf32>)
// CHECK: ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) cu_seqlens(%{{.*}}) reverse : (tensor<1x3x?x5xf32>, tensor<1x3x?x5xf32>, tensor<1x3x?x6xf32>, tensor<1x3x?xf32>, tensor<4xi64>) -> (tensor<1x3x?x6xf32>, tensor<3x3x5x6xf32>)
func.func @linear_attention_normaliser_state(%q: tensor<2x3x7x5xf32>, %v: tensor<2x3x7x6xf32>,
    %h0: tensor<2x3x5x6xf32>, %z0: tensor<2x3x5xf32>, %pq: tensor<1x3x?x5xf32>,
    %pv: tensor<1x3x?x6xf32>, %pg: tensor<1x3x?xf32>, %cu: tensor<4xi64>)
    -> (tensor<2x3x7x6xf32>, tensor<2x3x5x6xf32>, tensor<2x3x5xf32>, tensor<2x3x5xf32>, tensor<3x3x5x6xf32>) {
  %o, %s, %z = ssm.linear_attention %q, %q, %v h0(%h0) z0(%z0) normalize reverse {eps = 0.25 : f64}
      : (tensor<2x3x7x5xf32>, tensor<2x3x7x5xf32>, tensor<2x3x7x6xf32>, tensor<2x3x5x6xf32>, tensor<2x3x5xf32>)
      -> (tensor<2x3x7x6xf32>, tensor<2x3x5x6xf32>, tensor<2x3x5xf32>)
  %o2, %z2 = ssm.linear_attention %q, %q, %v normalize {eps = 1.0e-10 : f64}
      : (tensor<2x3x7x5xf32>, tensor<2x3x7x5xf32>, tensor<2x3x7x6xf32>) -> (tensor<2x3x7x6xf32>, tensor<2x3x5xf32>)
  %o3, %s3 = ssm.linear_attention %pq, %pq, %pv gate(%pg) cu_seqlens(%cu) reverse
      : (tensor<1x3x?x5xf32>, tensor<1x3x?x5xf32>, tensor<1x3x?x6xf32>, tensor<1x3x?xf32>, tensor<4xi64>)
      -> (tensor<1x3x?x6xf32>, tensor<3x3x5x6xf32>)
  return %o, %s, %z, %z2, %s3 : tensor<2x3x7x6xf32>, tensor<2x3x5x6xf32>, tensor<2x3x5xf32>, tensor<2x3x5xf32>, tensor<3x3x5x6xf32>
}

// CHECK-LABEL: func.func @linear_attention_step_normalized
// CHECK: ssm.linear_attention_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) z(%{{.*}}) normalize {eps = 5.000000e-01 : f64} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x5xf32>, tensor<2x3x4x5xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> (tensor<2x3x5xf32>, tensor<2x3x4x5xf32>, tensor<2x3x4xf32>)
func.func @linear_attention_step_normalized(%q: tensor<2x3x4xf32>, %v: tensor<2x3x5xf32>,
    %s: tensor<2x3x4x5xf32>, %g: tensor<2x3x4xf32>, %z: tensor<2x3x4xf32>)
    -> (tensor<2x3x5xf32>, tensor<2x3x4x5xf32>, tensor<2x3x4xf32>) {
  %o, %s1, %z1 = ssm.linear_attention_step %q, %q, %v, %s gate(%g) z(%z) normalize {eps = 0.5 : f64}
      : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x5xf32>, tensor<2x3x4x5xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>)
      -> (tensor<2x3x5xf32>, tensor<2x3x4x5xf32>, tensor<2x3x4xf32>)
  return %o, %s1, %z1 : tensor<2x3x5xf32>, tensor<2x3x4x5xf32>, tensor<2x3x4xf32>
}

// CHECK-LABEL: func.func @attention_forms
// CHECK: ssm.attention %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
// CHECK: ssm.attention %{{.*}}, %{{.*}}, %{{.*}} causal {scale = 5.000000e-01 : f64, window = 4 : i64} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x6xf32>) -> tensor<2x4x16x6xf32>
// CHECK: ssm.attention %{{.*}}, %{{.*}}, %{{.*}} causal : (tensor<?x8x1x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?x1x?x64xbf16>) -> tensor<?x8x1x64xbf16>
func.func @attention_forms(%q: tensor<2x4x16x8xf32>, %k2: tensor<2x2x16x8xf32>, %v2: tensor<2x2x16x6xf32>,
    %qd: tensor<?x8x1x64xbf16>, %cache: tensor<?x1x?x64xbf16>) {
  %a = ssm.attention %q, %q, %q : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>) -> tensor<2x4x16x8xf32>
  %b = ssm.attention %q, %k2, %v2 causal {window = 4 : i64, scale = 0.5}
      : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x6xf32>) -> tensor<2x4x16x6xf32>
  // One decode query against a cache of any length (multi-query).
  %c = ssm.attention %qd, %cache, %cache causal
      : (tensor<?x8x1x64xbf16>, tensor<?x1x?x64xbf16>, tensor<?x1x?x64xbf16>) -> tensor<?x8x1x64xbf16>
  return
}

// flash-attention's options: a two-sided window, softcap, ALiBi, sinks,
// packed sequences and per-entry key counts; a step with a position per
// batch entry.
// CHECK-LABEL: func.func @attention_options
// CHECK: ssm.attention %{{.*}}, %{{.*}}, %{{.*}} alibi_slopes(%{{.*}}) sinks(%{{.*}}) {softcap = 3.000000e+01 : f64, window_left = 3 : i64, window_right = 2 : i64} : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x6xf32>, tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4x16x6xf32>
// CHECK: ssm.attention %{{.*}}, %{{.*}}, %{{.*}} causal cu_seqlens_q(%{{.*}}) cu_seqlens_k(%{{.*}}) seqused_k(%{{.*}}) {window_left = 0 : i64} : (tensor<1x4x?x8xbf16>, tensor<1x4x?x8xbf16>, tensor<1x4x?x8xbf16>, tensor<?xi32>, tensor<?xi32>, tensor<?xi64>) -> tensor<1x4x?x8xbf16>
// CHECK: ssm.attention_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} positions(%{{.*}}) alibi_slopes(%{{.*}}) sinks(%{{.*}}) {softcap = 5.000000e+00 : f64, window = 8 : i64} : (tensor<2x4x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x32x8xf32>, tensor<2x2x32x8xf32>, tensor<2xi32>, tensor<4xf32>, tensor<4xf32>) -> (tensor<2x4x8xf32>, tensor<2x2x32x8xf32>, tensor<2x2x32x8xf32>)
func.func @attention_options(%q: tensor<2x4x16x8xf32>, %k: tensor<2x2x16x8xf32>, %v: tensor<2x2x16x6xf32>,
    %slopes: tensor<2x4xf32>, %sinks: tensor<4xf32>, %pq: tensor<1x4x?x8xbf16>, %cu: tensor<?xi32>,
    %used: tensor<?xi64>, %sq: tensor<2x4x8xf32>, %sk: tensor<2x2x8xf32>, %cache: tensor<2x2x32x8xf32>,
    %pos: tensor<2xi32>) {
  %a = ssm.attention %q, %k, %v alibi_slopes(%slopes) sinks(%sinks) {window_left = 3 : i64, window_right = 2 : i64, softcap = 30.0}
      : (tensor<2x4x16x8xf32>, tensor<2x2x16x8xf32>, tensor<2x2x16x6xf32>, tensor<2x4xf32>, tensor<4xf32>) -> tensor<2x4x16x6xf32>
  %b = ssm.attention %pq, %pq, %pq causal cu_seqlens_q(%cu) cu_seqlens_k(%cu) seqused_k(%used) {window_left = 0 : i64}
      : (tensor<1x4x?x8xbf16>, tensor<1x4x?x8xbf16>, tensor<1x4x?x8xbf16>, tensor<?xi32>, tensor<?xi32>, tensor<?xi64>) -> tensor<1x4x?x8xbf16>
  %o, %k1, %v1 = ssm.attention_step %sq, %sk, %sk, %cache, %cache positions(%pos) alibi_slopes(%sinks) sinks(%sinks) {window = 8 : i64, softcap = 5.0}
      : (tensor<2x4x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x32x8xf32>, tensor<2x2x32x8xf32>, tensor<2xi32>, tensor<4xf32>, tensor<4xf32>)
      -> (tensor<2x4x8xf32>, tensor<2x2x32x8xf32>, tensor<2x2x32x8xf32>)
  return
}

// Decode steps.
// CHECK-LABEL: func.func @steps
// CHECK: ssm.selective_scan_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} D(%{{.*}}) z(%{{.*}}) delta_bias(%{{.*}}) delta_softplus : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x2x4xf32>, tensor<2x4xf32>, tensor<2x8x4xf32>, tensor<8xf32>, tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8x4xf32>)
// CHECK: ssm.linear_attention_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) {feature_map = #ssm.feature_map<relu>, scale = 1.000000e+00 : f64} : (tensor<2x3x4xbf16>, tensor<2x3x4xbf16>, tensor<2x3x5xbf16>, tensor<2x3x4x5xf32>, tensor<2x3xf32>) -> (tensor<2x3x5xbf16>, tensor<2x3x4x5xf32>)
// CHECK: ssm.attention_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} {window = 8 : i64} : (tensor<1x4x16xf32>, tensor<1x1x16xf32>, tensor<1x1x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>, index) -> (tensor<1x4x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>)
func.func @steps(%u: tensor<2x8xf32>, %A: tensor<8x4xf32>, %Bg: tensor<2x2x4xf32>, %C: tensor<2x4xf32>,
                 %h: tensor<2x8x4xf32>, %D: tensor<8xf32>,
                 %q: tensor<2x3x4xbf16>, %v: tensor<2x3x5xbf16>, %s: tensor<2x3x4x5xf32>, %g: tensor<2x3xf32>,
                 %aq: tensor<1x4x16xf32>, %ak: tensor<1x1x16xf32>, %cache: tensor<1x1x?x16xf32>, %pos: index) {
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %Bg, %C, %h D(%D) z(%u) delta_bias(%D) delta_softplus
      : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x2x4xf32>, tensor<2x4xf32>,
         tensor<2x8x4xf32>, tensor<8xf32>, tensor<2x8xf32>, tensor<8xf32>) -> (tensor<2x8xf32>, tensor<2x8x4xf32>)
  %o, %s1 = ssm.linear_attention_step %q, %q, %v, %s gate(%g) {feature_map = #ssm.feature_map<relu>, scale = 1.0}
      : (tensor<2x3x4xbf16>, tensor<2x3x4xbf16>, tensor<2x3x5xbf16>, tensor<2x3x4x5xf32>, tensor<2x3xf32>)
      -> (tensor<2x3x5xbf16>, tensor<2x3x4x5xf32>)
  %ao, %k1, %v1 = ssm.attention_step %aq, %ak, %ak, %cache, %cache, %pos {window = 8 : i64}
      : (tensor<1x4x16xf32>, tensor<1x1x16xf32>, tensor<1x1x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>, index)
      -> (tensor<1x4x16xf32>, tensor<1x1x?x16xf32>, tensor<1x1x?x16xf32>)
  return
}

// Mamba-2 SSD: minimal and with every option (grouped B/C).
// CHECK-LABEL: func.func @ssd_forms
// CHECK: ssm.ssd %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x16x4x8xf32>, tensor<2x16x4xf32>, tensor<4xf32>, tensor<2x16x1x6xf32>, tensor<2x16x1x6xf32>) -> tensor<2x16x4x8xf32>
// CHECK: ssm.ssd %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} D(%{{.*}}) z(%{{.*}}) dt_bias(%{{.*}}) h0(%{{.*}}) dt_softplus : (tensor<?x?x4x8xbf16>, tensor<?x?x4xbf16>, tensor<4xf32>, tensor<?x?x2x6xbf16>, tensor<?x?x2x6xbf16>, tensor<4xf32>, tensor<?x?x4x8xbf16>, tensor<4xf32>, tensor<?x4x8x6xf32>) -> (tensor<?x?x4x8xbf16>, tensor<?x4x8x6xf32>)
func.func @ssd_forms(%x: tensor<2x16x4x8xf32>, %dt: tensor<2x16x4xf32>, %A: tensor<4xf32>, %B: tensor<2x16x1x6xf32>,
                     %xb: tensor<?x?x4x8xbf16>, %dtb: tensor<?x?x4xbf16>, %Bb: tensor<?x?x2x6xbf16>, %h0: tensor<?x4x8x6xf32>) {
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<2x16x4x8xf32>, tensor<2x16x4xf32>, tensor<4xf32>, tensor<2x16x1x6xf32>, tensor<2x16x1x6xf32>) -> tensor<2x16x4x8xf32>
  %y2, %h = ssm.ssd %xb, %dtb, %A, %Bb, %Bb D(%A) z(%xb) dt_bias(%A) h0(%h0) dt_softplus
      : (tensor<?x?x4x8xbf16>, tensor<?x?x4xbf16>, tensor<4xf32>, tensor<?x?x2x6xbf16>, tensor<?x?x2x6xbf16>,
         tensor<4xf32>, tensor<?x?x4x8xbf16>, tensor<4xf32>, tensor<?x4x8x6xf32>) -> (tensor<?x?x4x8xbf16>, tensor<?x4x8x6xf32>)
  return
}

// CHECK-LABEL: func.func @causal_conv1d_forms
// CHECK: ssm.causal_conv1d %{{.*}}, %{{.*}} : (tensor<2x8x16xf32>, tensor<8x4xf32>) -> tensor<2x8x16xf32>
// CHECK: ssm.causal_conv1d %{{.*}}, %{{.*}} bias(%{{.*}}) initial_state(%{{.*}}) silu : (tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<2x8x3xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x3xf32>)
func.func @causal_conv1d_forms(%x: tensor<2x8x16xf32>, %w: tensor<8x4xf32>, %b: tensor<8xf32>, %s: tensor<2x8x3xf32>) {
  %y = ssm.causal_conv1d %x, %w : (tensor<2x8x16xf32>, tensor<8x4xf32>) -> tensor<2x8x16xf32>
  %y2, %f = ssm.causal_conv1d %x, %w bias(%b) initial_state(%s) silu
      : (tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<2x8x3xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x3xf32>)
  return
}

// CHECK-LABEL: func.func @ssd_step
// CHECK: ssm.ssd_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} D(%{{.*}}) z(%{{.*}}) dt_bias(%{{.*}}) dt_softplus : (tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x2x6xf32>, tensor<2x2x6xf32>, tensor<2x4x8x6xf32>, tensor<4xf32>, tensor<2x4x8xf32>, tensor<4xf32>) -> (tensor<2x4x8xf32>, tensor<2x4x8x6xf32>)
func.func @ssd_step(%x: tensor<2x4x8xf32>, %dt: tensor<2x4xf32>, %A: tensor<4xf32>, %B: tensor<2x2x6xf32>, %h: tensor<2x4x8x6xf32>) {
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h D(%A) z(%x) dt_bias(%A) dt_softplus
      : (tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x2x6xf32>, tensor<2x2x6xf32>, tensor<2x4x8x6xf32>,
         tensor<4xf32>, tensor<2x4x8xf32>, tensor<4xf32>) -> (tensor<2x4x8xf32>, tensor<2x4x8x6xf32>)
  return
}

// Packed sequences in SSD.
// CHECK-LABEL: func.func @ssd_peer_options
// CHECK: ssm.ssd %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} D(%{{.*}}) dt_softplus {dt_limit = array<f64: 0.000000e+00, 0x7FF0000000000000>} : (tensor<2x16x4x8xbf16>, tensor<2x16x4xf32>, tensor<4xf32>, tensor<2x16x1x6xbf16>, tensor<2x16x1x6xbf16>, tensor<4x8xf32>) -> tensor<2x16x4x8xbf16>
// CHECK: ssm.ssd_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} D(%{{.*}}) {dt_limit = array<f64: 1.000000e-03, 1.000000e-01>} : (tensor<2x4x8xbf16>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x1x6xbf16>, tensor<2x1x6xbf16>, tensor<2x4x8x6xf32>, tensor<4x8xf32>) -> (tensor<2x4x8xbf16>, tensor<2x4x8x6xf32>)
func.func @ssd_peer_options(%x: tensor<2x16x4x8xbf16>, %dt: tensor<2x16x4xf32>, %A: tensor<4xf32>, %B: tensor<2x16x1x6xbf16>,
                            %D: tensor<4x8xf32>, %xs: tensor<2x4x8xbf16>, %dts: tensor<2x4xf32>, %Bs: tensor<2x1x6xbf16>,
                            %h: tensor<2x4x8x6xf32>) {
  %y = ssm.ssd %x, %dt, %A, %B, %B D(%D) dt_softplus {dt_limit = array<f64: 0.0, 0x7FF0000000000000>}
      : (tensor<2x16x4x8xbf16>, tensor<2x16x4xf32>, tensor<4xf32>, tensor<2x16x1x6xbf16>, tensor<2x16x1x6xbf16>, tensor<4x8xf32>) -> tensor<2x16x4x8xbf16>
  %ys, %h1 = ssm.ssd_step %xs, %dts, %A, %Bs, %Bs, %h D(%D) {dt_limit = array<f64: 0.001, 0.1>}
      : (tensor<2x4x8xbf16>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x1x6xbf16>, tensor<2x1x6xbf16>, tensor<2x4x8x6xf32>, tensor<4x8xf32>) -> (tensor<2x4x8xbf16>, tensor<2x4x8x6xf32>)
  return
}

// CHECK-LABEL: func.func @peer_decode_and_packing
// CHECK: ssm.selective_scan_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} state_batch_indices(%{{.*}}) delta_softplus : (tensor<2x8xbf16>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x4xbf16>, tensor<2x4xbf16>, tensor<5x8x4xf32>, tensor<2xi32>) -> (tensor<2x8xbf16>, tensor<5x8x4xf32>)
// CHECK: ssm.ssd_step %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} state_batch_indices(%{{.*}}) : (tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x1x6xf32>, tensor<2x1x6xf32>, tensor<3x4x8x6xf32>, tensor<2xi64>) -> (tensor<2x4x8xf32>, tensor<3x4x8x6xf32>)
// CHECK: ssm.causal_conv1d %{{.*}}, %{{.*}} bias(%{{.*}}) initial_state(%{{.*}}) cu_seqlens(%{{.*}}) silu : (tensor<1x8x16xbf16>, tensor<8x4xf32>, tensor<8xf32>, tensor<3x8x3xbf16>, tensor<4xi32>) -> (tensor<1x8x16xbf16>, tensor<3x8x3xbf16>)
// CHECK: ssm.causal_conv1d_step %{{.*}}, %{{.*}}, %{{.*}} bias(%{{.*}}) cache_seqlens(%{{.*}}) conv_state_indices(%{{.*}}) silu : (tensor<2x8xbf16>, tensor<6x8x5xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<2x8xbf16>, tensor<6x8x5xf32>)
// CHECK: ssm.causal_conv1d_step %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x8xf32>, tensor<2x8x3xf32>, tensor<8x4xf32>) -> (tensor<2x8xf32>, tensor<2x8x3xf32>)
func.func @peer_decode_and_packing(%u: tensor<2x8xbf16>, %dt: tensor<2x8xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4xbf16>,
                                   %pool: tensor<5x8x4xf32>, %i: tensor<2xi32>, %x: tensor<2x4x8xf32>, %dts: tensor<2x4xf32>,
                                   %Ah: tensor<4xf32>, %Bs: tensor<2x1x6xf32>, %hp: tensor<3x4x8x6xf32>, %i64: tensor<2xi64>,
                                   %cx: tensor<1x8x16xbf16>, %w: tensor<8x4xf32>, %b: tensor<8xf32>, %cs: tensor<3x8x3xbf16>,
                                   %cu: tensor<4xi32>, %xs: tensor<2x8xbf16>, %ring: tensor<6x8x5xf32>, %xf: tensor<2x8xf32>,
                                   %st: tensor<2x8x3xf32>) {
  %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %B, %pool state_batch_indices(%i) delta_softplus
      : (tensor<2x8xbf16>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x4xbf16>, tensor<2x4xbf16>, tensor<5x8x4xf32>, tensor<2xi32>) -> (tensor<2x8xbf16>, tensor<5x8x4xf32>)
  %y2, %h2 = ssm.ssd_step %x, %dts, %Ah, %Bs, %Bs, %hp state_batch_indices(%i64)
      : (tensor<2x4x8xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x1x6xf32>, tensor<2x1x6xf32>, tensor<3x4x8x6xf32>, tensor<2xi64>) -> (tensor<2x4x8xf32>, tensor<3x4x8x6xf32>)
  %c, %cf = ssm.causal_conv1d %cx, %w bias(%b) initial_state(%cs) cu_seqlens(%cu) silu
      : (tensor<1x8x16xbf16>, tensor<8x4xf32>, tensor<8xf32>, tensor<3x8x3xbf16>, tensor<4xi32>) -> (tensor<1x8x16xbf16>, tensor<3x8x3xbf16>)
  %o, %r1 = ssm.causal_conv1d_step %xs, %ring, %w bias(%b) cache_seqlens(%i) conv_state_indices(%i) silu
      : (tensor<2x8xbf16>, tensor<6x8x5xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<2xi32>, tensor<2xi32>) -> (tensor<2x8xbf16>, tensor<6x8x5xf32>)
  %o2, %s2 = ssm.causal_conv1d_step %xf, %st, %w
      : (tensor<2x8xf32>, tensor<2x8x3xf32>, tensor<8x4xf32>) -> (tensor<2x8xf32>, tensor<2x8x3xf32>)
  return
}

// CHECK-LABEL: func.func @ssd_varlen
// CHECK: ssm.ssd %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} h0(%{{.*}}) cu_seqlens(%{{.*}}) dt_softplus : (tensor<1x?x4x8xf32>, tensor<1x?x4xf32>, tensor<4xf32>, tensor<1x?x1x6xf32>, tensor<1x?x1x6xf32>, tensor<3x4x8x6xf32>, tensor<4xi64>) -> (tensor<1x?x4x8xf32>, tensor<3x4x8x6xf32>)
func.func @ssd_varlen(%x: tensor<1x?x4x8xf32>, %dt: tensor<1x?x4xf32>, %A: tensor<4xf32>, %B: tensor<1x?x1x6xf32>,
                      %h0: tensor<3x4x8x6xf32>, %cu: tensor<4xi64>) -> (tensor<1x?x4x8xf32>, tensor<3x4x8x6xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B h0(%h0) cu_seqlens(%cu) dt_softplus
      : (tensor<1x?x4x8xf32>, tensor<1x?x4xf32>, tensor<4xf32>, tensor<1x?x1x6xf32>, tensor<1x?x1x6xf32>,
         tensor<3x4x8x6xf32>, tensor<4xi64>) -> (tensor<1x?x4x8xf32>, tensor<3x4x8x6xf32>)
  return %y, %h : tensor<1x?x4x8xf32>, tensor<3x4x8x6xf32>
}

// CHECK-LABEL: func.func @ssd_seq_idx
// CHECK: ssm.ssd %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} seq_idx(%{{.*}}) : (tensor<2x?x4x8xf32>, tensor<2x?x4xf32>, tensor<4xf32>, tensor<2x?x1x6xf32>, tensor<2x?x1x6xf32>, tensor<2x?xi32>) -> (tensor<2x?x4x8xf32>, tensor<2x4x8x6xf32>)
func.func @ssd_seq_idx(%x: tensor<2x?x4x8xf32>, %dt: tensor<2x?x4xf32>, %A: tensor<4xf32>, %B: tensor<2x?x1x6xf32>,
                       %s: tensor<2x?xi32>) -> (tensor<2x?x4x8xf32>, tensor<2x4x8x6xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B seq_idx(%s)
      : (tensor<2x?x4x8xf32>, tensor<2x?x4xf32>, tensor<4xf32>, tensor<2x?x1x6xf32>, tensor<2x?x1x6xf32>,
         tensor<2x?xi32>) -> (tensor<2x?x4x8xf32>, tensor<2x4x8x6xf32>)
  return %y, %h : tensor<2x?x4x8xf32>, tensor<2x4x8x6xf32>
}

// Packed sequences in the selective scan.
// CHECK-LABEL: func.func @selective_scan_varlen
// CHECK: ssm.selective_scan %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} h0(%{{.*}}) cu_seqlens(%{{.*}}) delta_softplus : (tensor<1x8x?xf32>, tensor<1x8x?xf32>, tensor<8x4xf32>, tensor<1x4x?xf32>, tensor<1x4x?xf32>, tensor<3x8x4xf32>, tensor<4xi32>) -> (tensor<1x8x?xf32>, tensor<3x8x4xf32>)
func.func @selective_scan_varlen(%u: tensor<1x8x?xf32>, %A: tensor<8x4xf32>, %B: tensor<1x4x?xf32>,
                                 %h0: tensor<3x8x4xf32>, %cu: tensor<4xi32>) -> (tensor<1x8x?xf32>, tensor<3x8x4xf32>) {
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B h0(%h0) cu_seqlens(%cu) delta_softplus
      : (tensor<1x8x?xf32>, tensor<1x8x?xf32>, tensor<8x4xf32>, tensor<1x4x?xf32>, tensor<1x4x?xf32>,
         tensor<3x8x4xf32>, tensor<4xi32>) -> (tensor<1x8x?xf32>, tensor<3x8x4xf32>)
  return %y, %h : tensor<1x8x?xf32>, tensor<3x8x4xf32>
}
