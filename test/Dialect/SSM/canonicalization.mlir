// Canonicalization drops constant-zero operands that change nothing.
// RUN: ssmc-opt %s -split-input-file -canonicalize | FileCheck %s

// CHECK-LABEL: func.func @selective_scan_zero_D_and_bias
// CHECK: ssm.selective_scan %arg0, %arg0, %arg1, %arg2, %arg2 z(%arg0) delta_softplus :
// CHECK-NOT: D(
// CHECK-NOT: delta_bias(
func.func @selective_scan_zero_D_and_bias(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>) -> tensor<1x4x8xf32> {
  %zero = arith.constant dense<0.0> : tensor<4xf32>
  %y = ssm.selective_scan %u, %u, %A, %B, %B D(%zero) z(%u) delta_bias(%zero) delta_softplus
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>,
         tensor<4xf32>, tensor<1x4x8xf32>, tensor<4xf32>) -> tensor<1x4x8xf32>
  return %y : tensor<1x4x8xf32>
}

// -----

// A non-zero D stays; the final state result is preserved.
// CHECK-LABEL: func.func @selective_scan_keeps_nonzero
// CHECK: %{{.*}}, %{{.*}} = ssm.selective_scan %arg0, %arg0, %arg1, %arg2, %arg2 D(%{{.*}}) :
func.func @selective_scan_keeps_nonzero(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>)
    -> (tensor<1x4x8xf32>, tensor<1x4x2xf32>) {
  %one = arith.constant dense<1.0> : tensor<4xf32>
  %zero = arith.constant dense<0.0> : tensor<4xf32>
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B D(%one) delta_bias(%zero)
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>,
         tensor<4xf32>, tensor<4xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x2xf32>)
  return %y, %h : tensor<1x4x8xf32>, tensor<1x4x2xf32>
}

// -----

// CHECK-LABEL: func.func @ssd_zero_D
// CHECK: ssm.ssd %arg0, %arg1, %arg2, %arg3, %arg3 : (tensor<1x4x2x3xf32>, tensor<1x4x2xf32>, tensor<2xf32>, tensor<1x4x1x5xf32>, tensor<1x4x1x5xf32>) -> tensor<1x4x2x3xf32>
func.func @ssd_zero_D(%x: tensor<1x4x2x3xf32>, %dt: tensor<1x4x2xf32>, %A: tensor<2xf32>, %B: tensor<1x4x1x5xf32>) -> tensor<1x4x2x3xf32> {
  %zero = arith.constant dense<0.0> : tensor<2xf32>
  %y = ssm.ssd %x, %dt, %A, %B, %B D(%zero) dt_bias(%zero)
      : (tensor<1x4x2x3xf32>, tensor<1x4x2xf32>, tensor<2xf32>, tensor<1x4x1x5xf32>, tensor<1x4x1x5xf32>,
         tensor<2xf32>, tensor<2xf32>) -> tensor<1x4x2x3xf32>
  return %y : tensor<1x4x2x3xf32>
}

// -----

// A log gate of 0 is a decay of exp(0) = 1: no gate.
// CHECK-LABEL: func.func @linear_attention_zero_log_gate
// CHECK: ssm.linear_attention %arg0, %arg0, %arg0 {feature_map = #ssm.feature_map<relu>} : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
func.func @linear_attention_zero_log_gate(%q: tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32> {
  %g = arith.constant dense<0.0> : tensor<1x2x8xf32>
  %o = ssm.linear_attention %q, %q, %q gate(%g) {feature_map = #ssm.feature_map<relu>}
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8xf32>) -> tensor<1x2x8x4xf32>
  return %o : tensor<1x2x8x4xf32>
}

// -----

// Dropping the gate keeps the normaliser's state, eps and reverse, and the
// final_z result without a final_state.
// CHECK-LABEL: func.func @linear_attention_zero_log_gate_keeps_normaliser
// CHECK: %{{.*}}, %[[Z:.*]] = ssm.linear_attention %arg0, %arg0, %arg0 z0(%arg1) normalize reverse {eps = 5.000000e-01 : f64} : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x4xf32>)
// CHECK: return %[[Z]]
func.func @linear_attention_zero_log_gate_keeps_normaliser(%q: tensor<1x2x8x4xf32>, %z0: tensor<1x2x4xf32>) -> tensor<1x2x4xf32> {
  %g = arith.constant dense<0.0> : tensor<1x2x8xf32>
  %o, %z = ssm.linear_attention %q, %q, %q gate(%g) z0(%z0) normalize reverse {eps = 0.5 : f64}
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8xf32>, tensor<1x2x4xf32>)
      -> (tensor<1x2x8x4xf32>, tensor<1x2x4xf32>)
  return %z : tensor<1x2x4xf32>
}

// -----

// A non-zero gate stays.
// CHECK-LABEL: func.func @linear_attention_keeps_gate
// CHECK: gate(
func.func @linear_attention_keeps_gate(%q: tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32> {
  %g = arith.constant dense<-0.5> : tensor<1x2x8xf32>
  %o = ssm.linear_attention %q, %q, %q gate(%g)
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8xf32>) -> tensor<1x2x8x4xf32>
  return %o : tensor<1x2x8x4xf32>
}

// -----

// Ops whose results are unused are removed (they have no side effects).
// CHECK-LABEL: func.func @dead_ops
// CHECK-NOT: ssm.
func.func @dead_ops(%q: tensor<1x2x8x4xf32>, %x: tensor<1x4x8xf32>, %w: tensor<4x2xf32>) {
  %o = ssm.linear_attention %q, %q, %q : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
  %a = ssm.attention %q, %q, %q causal : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
  %c = ssm.causal_conv1d %x, %w : (tensor<1x4x8xf32>, tensor<4x2xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

// A zero z gate zeroes the output (silu(0) = 0); the final state is still
// computed, without the gate.
// CHECK-LABEL: func.func @zero_gate
// CHECK-DAG: %[[ZERO:.*]] = arith.constant dense<0.000000e+00> : tensor<1x4x8xf32>
// CHECK-DAG: %{{.*}}, %[[H:.*]] = ssm.selective_scan %arg0, %arg0, %arg1, %arg2, %arg2 : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x2xf32>)
// CHECK: return %[[ZERO]], %[[H]], %[[ZERO2:.*]] :
func.func @zero_gate(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>,
                     %x: tensor<1x6x2x3xf32>, %dt: tensor<1x6x2xf32>, %a: tensor<2xf32>, %Bs: tensor<1x6x1x5xf32>)
    -> (tensor<1x4x8xf32>, tensor<1x4x2xf32>, tensor<1x6x2x3xf32>) {
  %z = arith.constant dense<0.0> : tensor<1x4x8xf32>
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B z(%z)
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x4x8xf32>)
      -> (tensor<1x4x8xf32>, tensor<1x4x2xf32>)
  %zs = arith.constant dense<0.0> : tensor<1x6x2x3xf32>
  %ys = ssm.ssd %x, %dt, %a, %Bs, %Bs z(%zs)
      : (tensor<1x6x2x3xf32>, tensor<1x6x2xf32>, tensor<2xf32>, tensor<1x6x1x5xf32>, tensor<1x6x1x5xf32>, tensor<1x6x2x3xf32>)
      -> tensor<1x6x2x3xf32>
  return %y, %h, %ys : tensor<1x4x8xf32>, tensor<1x4x2xf32>, tensor<1x6x2x3xf32>
}

// -----

// A scan of (exp(x), b) pairs with the linear-recurrence combiner, whose
// running product is unused, is linear attention with one key and one value
// per lane (q = k = 1, v = b, log gate = x).
// CHECK-LABEL: func.func @linear_recurrence_scan
// CHECK-NOT: ssm.scan
// CHECK: ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) {scale = 1.000000e+00 : f64} : (tensor<1x6x16x1xf32>, tensor<1x6x16x1xf32>, tensor<1x6x16x1xf32>, tensor<1x6x16xf32>) -> tensor<1x6x16x1xf32>
func.func @linear_recurrence_scan(%x: tensor<2x3x16xf32>, %b: tensor<2x3x16xf32>) -> tensor<2x3x16xf32> {
  %a = math.exp %x : tensor<2x3x16xf32>
  %p, %h = ssm.scan %a, %b axis = 2 : (tensor<2x3x16xf32>, tensor<2x3x16xf32>) -> (tensor<2x3x16xf32>, tensor<2x3x16xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = arith.mulf %b1, %a2 : f32
    %2 = arith.addf %b2, %1 : f32
    ssm.yield %0, %2 : f32, f32
  }
  return %h : tensor<2x3x16xf32>
}

// -----

// Not merged: decays that are not exp(x) (their log may not exist), the
// running product in use, or another combiner.
// CHECK-LABEL: func.func @not_merged
// CHECK-COUNT-3: ssm.scan
func.func @not_merged(%a: tensor<4x8xf32>, %x: tensor<4x8xf32>, %b: tensor<4x8xf32>)
    -> (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) {
  %p0, %h0 = ssm.scan %a, %b axis = 1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = math.fma %a2, %b1, %b2 : f32
    ssm.yield %0, %1 : f32, f32
  }
  %e = math.exp %x : tensor<4x8xf32>
  %p1, %h1 = ssm.scan %e, %b axis = 1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = math.fma %a2, %b1, %b2 : f32
    ssm.yield %0, %1 : f32, f32
  }
  %p2, %h2 = ssm.scan %e, %b axis = 1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %0 = arith.mulf %a1, %a2 : f32
    %1 = arith.addf %b1, %b2 : f32
    ssm.yield %0, %1 : f32, f32
  }
  return %h0, %p1, %h1, %h2 : tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>
}
