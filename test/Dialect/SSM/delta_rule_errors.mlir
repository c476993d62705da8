// Invalid ssm.delta_rule and ssm.delta_rule_step programs: one case per
// verifier branch, with the diagnostic a user sees.
// RUN: ssmc-opt %s -split-input-file -verify-diagnostics

func.func @no_form(%q: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{needs 'beta' (DeltaNet, Gated DeltaNet, KDA) or 'a' and 'b' (the DPLR form of RWKV-7)}}
  %o = ssm.delta_rule %q, %q, %q : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @both_forms(%q: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf32>) {
  // expected-error @+1 {{'beta' (delta forms) and 'a', 'b' (DPLR form) exclude each other}}
  %o = ssm.delta_rule %q, %q, %q beta(%beta) a(%q) b(%q) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @a_without_b(%q: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{the DPLR form needs both 'a' and 'b', got only 'a'}}
  %o = ssm.delta_rule %q, %q, %q a(%q) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @q_rank(%q: tensor<4x2x8xf32>, %k: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf32>) {
  // expected-error @+1 {{operand 'q' must have rank 4 [B, T, Hk, K], got rank 3}}
  %o = ssm.delta_rule %q, %k, %k beta(%beta) : (tensor<4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @k_len(%q: tensor<1x4x2x8xf32>, %k: tensor<1x5x2x8xf32>, %beta: tensor<1x4x2xf32>) {
  // expected-error @+1 {{operand 'k' must have shape [B, T, Hk, K] = [1, 4, 2, 8], got [1, 5, 2, 8] (T = 4 from 'q')}}
  %o = ssm.delta_rule %q, %k, %q beta(%beta) : (tensor<1x4x2x8xf32>, tensor<1x5x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @heads_not_multiple(%q: tensor<1x4x2x8xf32>, %v: tensor<1x4x3x8xf32>, %beta: tensor<1x4x3xf32>) {
  // expected-error @+1 {{the value head count H = 3 must be a multiple of the query/key head count Hk = 2}}
  %o = ssm.delta_rule %q, %q, %v beta(%beta) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x3x8xf32>, tensor<1x4x3xf32>) -> tensor<1x4x3x8xf32>
  return
}

// -----

func.func @beta_heads(%q: tensor<1x4x2x8xf32>, %v: tensor<1x4x4x8xf32>, %beta: tensor<1x4x2xf32>) {
  // expected-error @+1 {{operand 'beta' must have shape [B, T, H] = [1, 4, 4], got [1, 4, 2] (H = 4 from 'v')}}
  %o = ssm.delta_rule %q, %q, %v beta(%beta) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x2xf32>) -> tensor<1x4x4x8xf32>
  return
}

// -----

func.func @gate_rank(%q: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf32>, %g: tensor<1x4xf32>) {
  // expected-error @+1 {{operand 'gate' must have rank 3 [B, T, H] (one log decay per head and step) or rank 4 [B, T, H, K] (one per key dimension), got rank 2}}
  %o = ssm.delta_rule %q, %q, %q beta(%beta) gate(%g) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>, tensor<1x4xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @dplr_scalar_gate(%q: tensor<1x4x2x8xf32>, %g: tensor<1x4x2xf32>) {
  // expected-error @+1 {{the DPLR form's 'gate' holds one log decay per key dimension and must have rank 4 [B, T, H, K], got rank 3}}
  %o = ssm.delta_rule %q, %q, %q gate(%g) a(%q) b(%q) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @key_gate_dim(%q: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf32>, %g: tensor<1x4x2x7xf32>) {
  // expected-error @+1 {{operand 'gate' must have shape [B, T, H, K] = [1, 4, 2, 8], got [1, 4, 2, 7] (K = 8 from 'q')}}
  %o = ssm.delta_rule %q, %q, %q beta(%beta) gate(%g) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>, tensor<1x4x2x7xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @h0_layout(%q: tensor<1x4x2x8xf32>, %v: tensor<1x4x2x3xf32>, %beta: tensor<1x4x2xf32>, %h0: tensor<1x2x3x8xf32>) {
  // expected-error @+1 {{operand 'h0' must have shape [B, H, K, V] = [1, 2, 8, 3], got [1, 2, 3, 8] (K = 8 from 'q')}}
  %o = ssm.delta_rule %q, %q, %v beta(%beta) h0(%h0) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x3xf32>, tensor<1x4x2xf32>, tensor<1x2x3x8xf32>) -> tensor<1x4x2x3xf32>
  return
}

// -----

func.func @packed_batch(%q: tensor<2x4x2x8xf32>, %beta: tensor<2x4x2xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{with 'cu_seqlens' the sequences are packed along L and the batch size must be 1, got 2}}
  %o = ssm.delta_rule %q, %q, %q beta(%beta) cu_seqlens(%cu) : (tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2x8xf32>, tensor<2x4x2xf32>, tensor<3xi32>) -> tensor<2x4x2x8xf32>
  return
}

// -----

func.func @packed_states(%q: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{'cu_seqlens' has 3 offsets, so the states must hold 2 sequences, got 1}}
  %o, %s = ssm.delta_rule %q, %q, %q beta(%beta) cu_seqlens(%cu) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>, tensor<3xi32>) -> (tensor<1x4x2x8xf32>, tensor<1x2x8x8xf32>)
  return
}

// -----

func.func @state_type(%q: tensor<1x4x2x8xbf16>, %beta: tensor<1x4x2xbf16>) {
  // expected-error @+1 {{'final_state' must have the accumulator element type 'f32' for inputs of type 'bf16', got 'bf16'}}
  %o, %s = ssm.delta_rule %q, %q, %q beta(%beta) : (tensor<1x4x2x8xbf16>, tensor<1x4x2x8xbf16>, tensor<1x4x2x8xbf16>, tensor<1x4x2xbf16>) -> (tensor<1x4x2x8xbf16>, tensor<1x2x8x8xbf16>)
  return
}

// -----

func.func @beta_type(%q: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf16>) {
  // expected-error @+1 {{operand 'beta' must have element type 'f32' or the accumulator type 'f32', got 'f16'}}
  %o = ssm.delta_rule %q, %q, %q beta(%beta) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf16>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @v_type(%q: tensor<1x4x2x8xf32>, %v: tensor<1x4x2x8xf16>, %beta: tensor<1x4x2xf32>) {
  // expected-error @+1 {{'v' must have element type 'f32' (the element type of the first operand), got 'f16'}}
  %o = ssm.delta_rule %q, %q, %v beta(%beta) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf16>, tensor<1x4x2xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @scale_nan(%q: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf32>) {
  // expected-error @+1 {{scale must be finite, got nan}}
  %o = ssm.delta_rule %q, %q, %q beta(%beta) {scale = 0x7FF8000000000000 : f64} : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @chunk_negative(%q: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf32>) {
  // expected-error @+1 {{'chunk_size' must be 0 (recurrent form) or positive (chunked form), got -4}}
  %o = ssm.delta_rule %q, %q, %q beta(%beta) {chunk_size = -4 : i64} : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2x8xf32>
  return
}

// -----

func.func @step_state(%q: tensor<2x2x8xf32>, %s: tensor<2x2x8x4xf32>, %beta: tensor<2x2xf32>) {
  // expected-error @+1 {{operand 'state' must have shape [B, H, K, V] = [2, 2, 8, 8], got [2, 2, 8, 4] (V = 8 from 'v')}}
  %o, %s1 = ssm.delta_rule_step %q, %q, %q, %s beta(%beta) : (tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8x4xf32>, tensor<2x2xf32>) -> (tensor<2x2x8xf32>, tensor<2x2x8x4xf32>)
  return
}

// -----

func.func @step_gate_rank(%q: tensor<2x2x8xf32>, %s: tensor<2x2x8x8xf32>, %g: tensor<2xf32>) {
  // expected-error @+1 {{the DPLR form's 'gate' holds one log decay per key dimension and must have rank 3 [B, H, K], got rank 1}}
  %o, %s1 = ssm.delta_rule_step %q, %q, %q, %s gate(%g) a(%q) b(%q) : (tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8x8xf32>, tensor<2xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>) -> (tensor<2x2x8xf32>, tensor<2x2x8x8xf32>)
  return
}

// -----

func.func @step_pool_indices(%q: tensor<2x2x8xf32>, %s: tensor<4x2x8x8xf32>, %beta: tensor<2x2xf32>, %idx: tensor<3xi32>) {
  // expected-error @+1 {{operand 'state_batch_indices' must have shape [B] = [2], got [3] (B = 2 from 'q')}}
  %o, %s1 = ssm.delta_rule_step %q, %q, %q, %s beta(%beta) state_batch_indices(%idx) : (tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<4x2x8x8xf32>, tensor<2x2xf32>, tensor<3xi32>) -> (tensor<2x2x8xf32>, tensor<4x2x8x8xf32>)
  return
}
