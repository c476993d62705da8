// ssm-shard-sequence rejects, with the reason, every program it cannot
// distribute over the ranks.
// RUN: ssmc-opt %s --ssm-shard-sequence -split-input-file -verify-diagnostics

func.func @slice_used_elsewhere(%u: tensor<1x4x10xf32>, %dt: tensor<1x4x10xf32>, %A: tensor<4x3xf32>,
                                %B: tensor<1x3x10xf32>) -> tensor<1x4x10xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %B
      : (tensor<1x4x10xf32>, tensor<1x4x10xf32>, tensor<4x3xf32>, tensor<1x3x10xf32>, tensor<1x3x10xf32>) -> tensor<1x4x10xf32>
  // expected-error @+1 {{uses a slice of the sequence or a final state; under ssm-shard-sequence only the sequence ops and the return may}}
  %s = arith.addf %y, %u : tensor<1x4x10xf32>
  return %s : tensor<1x4x10xf32>
}

// -----

func.func @packed_gla(%q: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x3xf32>, %g: tensor<1x2x8x4xf32>,
                      %cu: tensor<3xi64>) -> tensor<1x2x8x3xf32> {
  // expected-error @+1 {{with cu_seqlens is distributed with an f32 scalar gate per step or none}}
  %o = ssm.linear_attention %q, %q, %v gate(%g) cu_seqlens(%cu)
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>, tensor<1x2x8x4xf32>, tensor<3xi64>) -> tensor<1x2x8x3xf32>
  return %o : tensor<1x2x8x3xf32>
}

// -----

func.func @packed_reverse(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x3xf32>,
                          %cu: tensor<3xi64>) -> tensor<1x2x8x3xf32> {
  // expected-error @+1 {{with reverse and cu_seqlens has no sequence-parallel form}}
  %o = ssm.linear_attention %q, %k, %v cu_seqlens(%cu) reverse
      : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>, tensor<3xi64>) -> tensor<1x2x8x3xf32>
  return %o : tensor<1x2x8x3xf32>
}

// -----

func.func @computed_input(%u: tensor<1x4x10xf32>, %dt: tensor<1x4x10xf32>, %A: tensor<4x3xf32>,
                          %B: tensor<1x3x10xf32>) -> tensor<1x4x10xf32> {
  %e = arith.mulf %u, %u : tensor<1x4x10xf32>
  // expected-error @+1 {{sequence operand must be a function argument or the output of a sequence op to be split}}
  %y = ssm.selective_scan %e, %dt, %A, %B, %B
      : (tensor<1x4x10xf32>, tensor<1x4x10xf32>, tensor<4x3xf32>, tensor<1x3x10xf32>, tensor<1x3x10xf32>) -> tensor<1x4x10xf32>
  return %y : tensor<1x4x10xf32>
}

// -----

func.func @state_reused(%u: tensor<1x4x10xf32>, %dt: tensor<1x4x10xf32>, %A: tensor<4x3xf32>,
                        %B: tensor<1x3x10xf32>) -> tensor<1x4x10xf32> {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %B
      : (tensor<1x4x10xf32>, tensor<1x4x10xf32>, tensor<4x3xf32>, tensor<1x3x10xf32>, tensor<1x3x10xf32>)
      -> (tensor<1x4x10xf32>, tensor<1x4x3xf32>)
  // expected-error @+1 {{uses a slice of the sequence or a final state as a non-sequence operand}}
  %y2 = ssm.selective_scan %y, %dt, %A, %B, %B h0(%h)
      : (tensor<1x4x10xf32>, tensor<1x4x10xf32>, tensor<4x3xf32>, tensor<1x3x10xf32>, tensor<1x3x10xf32>, tensor<1x4x3xf32>)
      -> tensor<1x4x10xf32>
  return %y2 : tensor<1x4x10xf32>
}

// -----

func.func @attention_bf16(%q: tensor<1x2x8x4xbf16>, %k: tensor<1x2x8x4xbf16>, %v: tensor<1x2x8x4xbf16>) -> tensor<1x2x8x4xbf16> {
  // expected-error @+1 {{sequence parallelism of attention needs f32 operands (the K/V blocks travel as f32)}}
  %o = ssm.attention %q, %k, %v causal : (tensor<1x2x8x4xbf16>, tensor<1x2x8x4xbf16>, tensor<1x2x8x4xbf16>) -> tensor<1x2x8x4xbf16>
  return %o : tensor<1x2x8x4xbf16>
}

// -----

func.func @attention_packed_f16(%q: tensor<1x2x8x4xf16>, %cu: tensor<3xi32>) -> tensor<1x2x8x4xf16> {
  // expected-error @+1 {{sequence parallelism of attention needs f32 operands (the K/V blocks travel as f32)}}
  %o = ssm.attention %q, %q, %q cu_seqlens_q(%cu) cu_seqlens_k(%cu)
      : (tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf16>, tensor<3xi32>, tensor<3xi32>) -> tensor<1x2x8x4xf16>
  return %o : tensor<1x2x8x4xf16>
}

// -----

func.func @attention_f64(%q: tensor<1x2x8x4xf64>, %s: tensor<2xf64>) -> tensor<1x2x8x4xf64> {
  // expected-error @+1 {{sequence parallelism of attention needs f32 operands}}
  %o = ssm.attention %q, %q, %q sinks(%s) {window_left = 1 : i64}
      : (tensor<1x2x8x4xf64>, tensor<1x2x8x4xf64>, tensor<1x2x8x4xf64>, tensor<2xf64>) -> tensor<1x2x8x4xf64>
  return %o : tensor<1x2x8x4xf64>
}

// -----

func.func @conv_bf16(%x: tensor<1x4x10xbf16>, %w: tensor<4x3xbf16>) -> tensor<1x4x10xbf16> {
  // expected-error @+1 {{sequence parallelism of the convolution needs f32 inputs}}
  %y = ssm.causal_conv1d %x, %w : (tensor<1x4x10xbf16>, tensor<4x3xbf16>) -> tensor<1x4x10xbf16>
  return %y : tensor<1x4x10xbf16>
}

// -----

func.func @packed_rows(%u: tensor<2x4x10xf32>, %dt: tensor<2x4x10xf32>, %A: tensor<4x3xf32>,
                       %B: tensor<2x3x10xf32>, %s: tensor<2x10xi64>) -> tensor<2x4x10xf32> {
  // expected-error @+1 {{with seq_idx has no sequence-parallel form}}
  %y = ssm.selective_scan %u, %dt, %A, %B, %B seq_idx(%s)
      : (tensor<2x4x10xf32>, tensor<2x4x10xf32>, tensor<4x3xf32>, tensor<2x3x10xf32>, tensor<2x3x10xf32>, tensor<2x10xi64>) -> tensor<2x4x10xf32>
  return %y : tensor<2x4x10xf32>
}

// -----

func.func @delta_rule_f64(%q: tensor<1x10x2x4xf64>, %v: tensor<1x10x2x3xf64>, %beta: tensor<1x10x2xf64>)
    -> tensor<1x10x2x3xf64> {
  // expected-error @+1 {{sequence parallelism needs f32 states (f64 programs keep an f64 state)}}
  %o = ssm.delta_rule %q, %q, %v beta(%beta)
      : (tensor<1x10x2x4xf64>, tensor<1x10x2x4xf64>, tensor<1x10x2x3xf64>, tensor<1x10x2xf64>)
      -> tensor<1x10x2x3xf64>
  return %o : tensor<1x10x2x3xf64>
}

// -----

func.func @delta_rule_state_reused(%q: tensor<1x10x2x4xf32>, %v: tensor<1x10x2x3xf32>, %beta: tensor<1x10x2xf32>)
    -> tensor<1x10x2x3xf32> {
  %o, %h = ssm.delta_rule %q, %q, %v beta(%beta)
      : (tensor<1x10x2x4xf32>, tensor<1x10x2x4xf32>, tensor<1x10x2x3xf32>, tensor<1x10x2xf32>)
      -> (tensor<1x10x2x3xf32>, tensor<1x2x4x3xf32>)
  // expected-error @+1 {{uses a slice of the sequence or a final state as a non-sequence operand}}
  %o2 = ssm.delta_rule %q, %q, %o beta(%beta) h0(%h)
      : (tensor<1x10x2x4xf32>, tensor<1x10x2x4xf32>, tensor<1x10x2x3xf32>, tensor<1x10x2xf32>, tensor<1x2x4x3xf32>)
      -> tensor<1x10x2x3xf32>
  return %o2 : tensor<1x10x2x3xf32>
}
