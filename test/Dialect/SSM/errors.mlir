// Invalid ssm programs: one case per verifier branch, each with the exact
// diagnostic a user sees.
// RUN: ssmc-opt %s -split-input-file -verify-diagnostics

//===----------------------------------------------------------------------===//
// ssm.selective_scan: shapes
//===----------------------------------------------------------------------===//

func.func @u_rank(%u: tensor<4x8xf32>, %dt: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'u' must have rank 3 [B, Dm, L], got rank 2}}
  %y = ssm.selective_scan %u, %dt, %A, %B, %B : (tensor<4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @delta_shape(%u: tensor<2x8x16xf32>, %dt: tensor<2x8x15xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4x16xf32>) {
  // expected-error @+1 {{operand 'delta' must have shape [B, Dm, L] = [2, 8, 16], got [2, 8, 15] (L = 16 from 'u')}}
  %y = ssm.selective_scan %u, %dt, %A, %B, %B : (tensor<2x8x16xf32>, tensor<2x8x15xf32>, tensor<8x4xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @A_rank(%u: tensor<1x4x8xf32>, %A: tensor<4xf32>, %B: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'A' must have rank 2 [Dm, N], got rank 1}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @A_channels(%u: tensor<1x4x8xf32>, %A: tensor<5x2xf32>, %B: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'A' must have shape [Dm, N] = [4, ?], got [5, 2] (Dm = 4 from 'u')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<5x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @B_rank(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<8xf32>, %C: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'B' must have rank 3 [B, N, L], rank 4 [B, G, N, L] or rank 2 [Dm, N] (fixed over time), got rank 1}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

// A rank-2 B is fixed over time: [Dm, N], not [N, L].
func.func @B_fixed_shape(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<2x8xf32>, %C: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'B' must have shape [Dm, N] = [4, 2], got [2, 8] (Dm = 4 from 'u')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @C_fixed_state_size(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<4x2xf32>, %C: tensor<4x3xf32>) {
  // expected-error @+1 {{operand 'C' must have shape [Dm, N] = [4, 2], got [4, 3] (N = 2 from 'A')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<4x3xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @C_fixed_element_type(%u: tensor<1x4x8xbf16>, %A: tensor<4x2xf32>, %B: tensor<4x2xbf16>, %C: tensor<4x2xf32>) {
  // expected-error @+1 {{operand 'C' must have element type 'bf16' (the element type of 'u'), got 'f32'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<4x2xbf16>, tensor<4x2xf32>) -> tensor<1x4x8xbf16>
  return
}

// -----

func.func @seq_idx_rank(%u: tensor<2x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<2x2x8xf32>, %s: tensor<8xi32>) {
  // expected-error @+1 {{operand 'seq_idx' must have rank 2 [B, L], got rank 1}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B seq_idx(%s) : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<8xi32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @seq_idx_shape(%u: tensor<2x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<2x2x8xf32>, %s: tensor<2x7xi64>) {
  // expected-error @+1 {{operand 'seq_idx' must have shape [B, L] = [2, 8], got [2, 7] (L = 8 from 'u')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B seq_idx(%s) : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x7xi64>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @seq_idx_with_cu_seqlens(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %s: tensor<1x8xi32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{takes either 'cu_seqlens' (sequences packed into one batch entry) or 'seq_idx' (packed per batch row), not both}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B cu_seqlens(%cu) seq_idx(%s) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<3xi32>, tensor<1x8xi32>) -> tensor<1x4x8xf32>
  return
}

// -----

// With seq_idx the states stay per batch row.
func.func @seq_idx_state_rows(%u: tensor<2x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<2x2x8xf32>, %s: tensor<2x8xi32>) {
  // expected-error @+1 {{operand 'final_state' must have shape [B, Dm, N] = [2, 4, 2], got [3, 4, 2] (B = 2 from 'u')}}
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B seq_idx(%s) : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<2x8xi32>) -> (tensor<2x4x8xf32>, tensor<3x4x2xf32>)
  return
}

// -----

func.func @C_rank(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %C: tensor<1x1x1x2x8xf32>) {
  // expected-error @+1 {{operand 'C' must have rank 3 [B, N, L], rank 4 [B, G, N, L] or rank 2 [Dm, N] (fixed over time), got rank 5}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x1x1x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @B_state_size(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x3x8xf32>) {
  // expected-error @+1 {{operand 'B' must have shape [B, N, L] = [1, 2, 8], got [1, 3, 8] (N = 2 from 'A')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @C_batch(%u: tensor<2x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<2x2x8xf32>, %C: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'C' must have shape [B, N, L] = [2, 2, 8], got [1, 2, 8] (B = 2 from 'u')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<2x2x8xf32>, tensor<1x2x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @groups_disagree(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x2x8xf32>, %C: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{operand 'C' must have shape [B, G, N, L] = [1, 2, 2, 8], got [1, 4, 2, 8] (G = 2 from 'B')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @groups_zero(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x0x2x8xf32>) {
  // expected-error @+1 {{the group count G of 'B'/'C' must be positive, got 0}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x0x2x8xf32>, tensor<1x0x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @groups_divide_channels(%u: tensor<1x6x8xf32>, %A: tensor<6x2xf32>, %B: tensor<1x4x2x8xf32>) {
  // expected-error @+1 {{the channel count Dm = 6 must be divisible by the group count G = 4 of 'B'/'C'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x6x8xf32>, tensor<1x6x8xf32>, tensor<6x2xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>) -> tensor<1x6x8xf32>
  return
}

// -----

func.func @D_shape(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %D: tensor<8xf32>) {
  // expected-error @+1 {{operand 'D' must have shape [Dm] = [4], got [8] (Dm = 4 from 'u')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B D(%D) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @z_shape(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %z: tensor<1x4x9xf32>) {
  // expected-error @+1 {{operand 'z' must have shape [B, Dm, L] = [1, 4, 8], got [1, 4, 9] (L = 8 from 'u')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B z(%z) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x4x9xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @delta_bias_rank(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %bias: tensor<1x4xf32>) {
  // expected-error @+1 {{operand 'delta_bias' must have rank 1 [Dm], got rank 2}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B delta_bias(%bias) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x4xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @h0_shape(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %h0: tensor<1x4x3xf32>) {
  // expected-error @+1 {{operand 'h0' must have shape [B, Dm, N] = [1, 4, 2], got [1, 4, 3] (N = 2 from 'A')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B h0(%h0) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x4x3xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @out_shape(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'out' must have shape [B, Dm, L] = [1, 4, 8], got [1, 8, 4] (Dm = 4 from 'u')}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x8x4xf32>
  return
}

// -----

func.func @final_state_shape(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'final_state' must have shape [B, Dm, N] = [1, 4, 2], got [1, 4, 8] (N = 2 from 'A')}}
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x8xf32>)
  return
}

// -----

// Dynamic in 'u' but static and different in 'delta' and 'z': the first
// static size binds the dimension.
func.func @dynamic_conflict(%u: tensor<?x4x8xf32>, %dt: tensor<2x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<?x2x8xf32>, %z: tensor<3x4x8xf32>) {
  // expected-error @+1 {{operand 'z' must have shape [B, Dm, L] = [2, 4, 8], got [3, 4, 8] (B = 2 from 'delta')}}
  %y = ssm.selective_scan %u, %dt, %A, %B, %B z(%z) : (tensor<?x4x8xf32>, tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<?x2x8xf32>, tensor<?x2x8xf32>, tensor<3x4x8xf32>) -> tensor<?x4x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// ssm.selective_scan: element types
//===----------------------------------------------------------------------===//

// -----

func.func @int_elements(%u: tensor<1x4x8xi32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of 16-bit float or bfloat16 type or 32-bit float or 64-bit float values}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xi32>, tensor<1x4x8xi32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xi32>
  return
}

// -----

func.func @delta_type(%u: tensor<1x4x8xf32>, %dt: tensor<1x4x8xf16>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'delta' must have element type 'f32' or the accumulator type 'f32', got 'f16'}}
  %y = ssm.selective_scan %u, %dt, %A, %B, %B : (tensor<1x4x8xf32>, tensor<1x4x8xf16>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @B_type(%u: tensor<1x4x8xbf16>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>) {
  // expected-error @+1 {{operand 'B' must have element type 'bf16' (the element type of 'u'), got 'f32'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>) -> tensor<1x4x8xbf16>
  return
}

// -----

func.func @C_type(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %C: tensor<1x2x8xf64>) {
  // expected-error @+1 {{operand 'C' must have element type 'f32' (the element type of 'u'), got 'f64'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf64>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @z_type(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %z: tensor<1x4x8xbf16>) {
  // expected-error @+1 {{operand 'z' must have element type 'f32' (the element type of 'u'), got 'bf16'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B z(%z) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x4x8xbf16>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @A_type(%u: tensor<1x4x8xf16>, %A: tensor<4x2xf64>, %B: tensor<1x2x8xf16>) {
  // expected-error @+1 {{operand 'A' must have element type 'f16' or the accumulator type 'f32', got 'f64'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf16>, tensor<1x4x8xf16>, tensor<4x2xf64>, tensor<1x2x8xf16>, tensor<1x2x8xf16>) -> tensor<1x4x8xf16>
  return
}

// -----

func.func @D_type(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %D: tensor<4xbf16>) {
  // expected-error @+1 {{operand 'D' must have element type 'f32' or the accumulator type 'f32', got 'bf16'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B D(%D) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<4xbf16>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @delta_bias_type(%u: tensor<1x4x8xf64>, %A: tensor<4x2xf64>, %B: tensor<1x2x8xf64>, %bias: tensor<4xf32>) {
  // expected-error @+1 {{operand 'delta_bias' must have element type 'f64' or the accumulator type 'f64', got 'f32'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B delta_bias(%bias) : (tensor<1x4x8xf64>, tensor<1x4x8xf64>, tensor<4x2xf64>, tensor<1x2x8xf64>, tensor<1x2x8xf64>, tensor<4xf32>) -> tensor<1x4x8xf64>
  return
}

// -----

func.func @h0_type(%u: tensor<1x4x8xbf16>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xbf16>, %h0: tensor<1x4x2xbf16>) {
  // expected-error @+1 {{'h0' must have the accumulator element type 'f32' for inputs of type 'bf16', got 'bf16'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B h0(%h0) : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<1x2x8xbf16>, tensor<1x2x8xbf16>, tensor<1x4x2xbf16>) -> tensor<1x4x8xbf16>
  return
}

// -----

func.func @final_state_type(%u: tensor<1x4x8xf16>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf16>) {
  // expected-error @+1 {{'final_state' must have the accumulator element type 'f32' for inputs of type 'f16', got 'f16'}}
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xf16>, tensor<1x4x8xf16>, tensor<4x2xf32>, tensor<1x2x8xf16>, tensor<1x2x8xf16>) -> (tensor<1x4x8xf16>, tensor<1x4x2xf16>)
  return
}

// -----

func.func @out_type(%u: tensor<1x4x8xbf16>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xbf16>) {
  // expected-error @+1 {{result 'out' must have element type 'bf16' (the element type of 'u'), got 'f32'}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<1x2x8xbf16>, tensor<1x2x8xbf16>) -> tensor<1x4x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// ssm.scan
//===----------------------------------------------------------------------===//

// -----

func.func @scan_no_inputs() {
  // expected-error @+1 {{needs at least one input to scan}}
  ssm.scan axis = 0 : () -> () {
  ^bb0:
    ssm.yield
  }
  return
}

// -----

func.func @scan_rank0(%x: tensor<f32>) {
  // expected-error @+1 {{inputs must have rank >= 1 to scan along an axis, got a rank-0 tensor}}
  %r = ssm.scan %x axis = 0 : (tensor<f32>) -> tensor<f32> {
  ^bb0(%a: f32, %b: f32):
    ssm.yield %a : f32
  }
  return
}

// -----

func.func @scan_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for inputs of rank 2}}
  %r = ssm.scan %x axis = 2 : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    ssm.yield %a : f32
  }
  return
}

// -----

func.func @scan_negative_axis(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{attribute 'axis' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %r = ssm.scan %x axis = -1 : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    ssm.yield %a : f32
  }
  return
}

// -----

func.func @scan_input_shapes(%x: tensor<4x8xf32>, %y: tensor<4x9xf32>) {
  // expected-error @+1 {{input #1 has shape [4, 9], but all inputs must have the shape of input #0, [4, 8]}}
  %r:2 = ssm.scan %x, %y axis = 1 : (tensor<4x8xf32>, tensor<4x9xf32>) -> (tensor<4x8xf32>, tensor<4x9xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %d: f32):
    ssm.yield %a, %b : f32, f32
  }
  return
}

// -----

func.func @scan_result_count(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) {
  // expected-error @+1 {{must have one result per input: 2 inputs, 1 results}}
  %r = ssm.scan %x, %y axis = 1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32, %c: f32, %d: f32):
    ssm.yield %a, %b : f32, f32
  }
  return
}

// -----

func.func @scan_result_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{result #0 must have the type of input #0, 'tensor<4x8xf32>', got 'tensor<4x8xf64>'}}
  %r = ssm.scan %x axis = 1 : (tensor<4x8xf32>) -> tensor<4x8xf64> {
  ^bb0(%a: f32, %b: f32):
    ssm.yield %a : f32
  }
  return
}

// -----

func.func @scan_init_count(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>, %i: f32) {
  // expected-error @+1 {{'init' must give one value per input: 2 inputs, 1 init values}}
  %r:2 = ssm.scan %x, %y init(%i : f32) axis = 1 : (tensor<4x8xf32>, tensor<4x8xf32>) -> (tensor<4x8xf32>, tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32, %d: f32):
    ssm.yield %a, %b : f32, f32
  }
  return
}

// -----

func.func @scan_init_type(%x: tensor<4x8xf32>, %i: f64) {
  // expected-error @+1 {{'init' value #0 must have the element type of input #0, 'f32', got 'f64'}}
  %r = ssm.scan %x init(%i : f64) axis = 1 : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    ssm.yield %a : f32
  }
  return
}

// -----

func.func @scan_exclusive_needs_init(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{an exclusive scan needs 'init' values (the result at the first step)}}
  %r = ssm.scan %x axis = 1 exclusive : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    ssm.yield %a : f32
  }
  return
}

// -----

func.func @scan_region_arity(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{combiner region must take 2 arguments (1 accumulators then 1 elements), got 3}}
  %r = ssm.scan %x axis = 1 : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32, %c: f32):
    ssm.yield %a : f32
  }
  return
}

// -----

func.func @scan_region_arg_type(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{combiner argument #1 must have the element type of input #0, 'f32', got 'f16'}}
  %r = ssm.scan %x axis = 1 : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f16):
    ssm.yield %a : f32
  }
  return
}

// -----

func.func @scan_yield_count(%x: tensor<4x8xf32>) {
  %r = ssm.scan %x axis = 1 : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    // expected-error @+1 {{must yield 1 values (one per scanned input), got 2}}
    ssm.yield %a, %b : f32, f32
  }
  return
}

// -----

func.func @scan_yield_type(%x: tensor<4x8xi32>) {
  %r = ssm.scan %x axis = 1 : (tensor<4x8xi32>) -> tensor<4x8xi32> {
  ^bb0(%a: i32, %b: i32):
    %c = arith.extsi %a : i32 to i64
    // expected-error @+1 {{value #0 must have the element type of input #0, 'i32', got 'i64'}}
    ssm.yield %c : i64
  }
  return
}

// -----

func.func @scan_missing_terminator(%x: tensor<4x8xf32>) {
  %r = ssm.scan %x axis = 1 : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    // expected-error @+1 {{block with no terminator}}
    %c = arith.addf %a, %b : f32
  }
  return
}

// -----

func.func @scan_other_terminator(%x: tensor<4x8xf32>) {
  // expected-error @+1 {{combiner region must end with 'ssm.yield'}}
  %r = ssm.scan %x axis = 1 : (tensor<4x8xf32>) -> tensor<4x8xf32> {
  ^bb0(%a: f32, %b: f32):
    llvm.unreachable
  }
  return
}

// -----

func.func @yield_outside_scan(%x: f32) {
  // expected-error @+1 {{expects parent op to be one of 'ssm.scan, ssm.dp'}}
  ssm.yield %x : f32
}

//===----------------------------------------------------------------------===//
// ssm.linear_attention
//===----------------------------------------------------------------------===//

// -----

func.func @la_q_rank(%q: tensor<2x8x4xf32>, %v: tensor<1x2x8x6xf32>) {
  // expected-error @+1 {{operand 'q' must have rank 4 [B, H, L, K], got rank 3}}
  %o = ssm.linear_attention %q, %q, %v : (tensor<2x8x4xf32>, tensor<2x8x4xf32>, tensor<1x2x8x6xf32>) -> tensor<1x2x8x6xf32>
  return
}

// -----

func.func @la_k_shape(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x5xf32>, %v: tensor<1x2x8x6xf32>) {
  // expected-error @+1 {{operand 'k' must have shape [B, H, L, K] = [1, 2, 8, 4], got [1, 2, 8, 5] (K = 4 from 'q')}}
  %o = ssm.linear_attention %q, %k, %v : (tensor<1x2x8x4xf32>, tensor<1x2x8x5xf32>, tensor<1x2x8x6xf32>) -> tensor<1x2x8x6xf32>
  return
}

// -----

func.func @la_v_shape(%q: tensor<1x2x8x4xf32>, %v: tensor<1x3x8x6xf32>) {
  // expected-error @+1 {{operand 'v' must have shape [B, H, L, V] = [1, 2, 8, ?], got [1, 3, 8, 6] (H = 2 from 'q')}}
  %o = ssm.linear_attention %q, %q, %v : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x3x8x6xf32>) -> tensor<1x2x8x6xf32>
  return
}

// -----

func.func @la_gate_rank(%q: tensor<1x2x8x4xf32>, %g: tensor<1x2xf32>) {
  // expected-error @+1 {{operand 'gate' must have rank 3 [B, H, L] (one decay per step) or rank 4 [B, H, L, K] (one per key dimension), got rank 2}}
  %o = ssm.linear_attention %q, %q, %q gate(%g) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2xf32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

func.func @la_gate_shape(%q: tensor<1x2x8x4xf32>, %g: tensor<1x2x8x3xf32>) {
  // expected-error @+1 {{operand 'gate' must have shape [B, H, L, K] = [1, 2, 8, 4], got [1, 2, 8, 3] (K = 4 from 'q')}}
  %o = ssm.linear_attention %q, %q, %q gate(%g) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

func.func @la_cu_rank(%q: tensor<1x2x8x4xf32>, %cu: tensor<2x2xi32>) {
  // expected-error @+1 {{operand 'cu_seqlens' must have rank 1 [S + 1], got rank 2}}
  %o = ssm.linear_attention %q, %q, %q cu_seqlens(%cu) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<2x2xi32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

func.func @la_cu_size(%q: tensor<1x2x8x4xf32>, %cu: tensor<1xi64>) {
  // expected-error @+1 {{operand 'cu_seqlens' must hold at least 2 offsets (one sequence), got 1}}
  %o = ssm.linear_attention %q, %q, %q cu_seqlens(%cu) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1xi64>) -> tensor<1x2x8x4xf32>
  return
}

// -----

func.func @la_cu_batch(%q: tensor<2x2x8x4xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{with 'cu_seqlens' the sequences are packed along L and the batch size must be 1, got 2}}
  %o = ssm.linear_attention %q, %q, %q cu_seqlens(%cu) : (tensor<2x2x8x4xf32>, tensor<2x2x8x4xf32>, tensor<2x2x8x4xf32>, tensor<3xi32>) -> tensor<2x2x8x4xf32>
  return
}

// -----

func.func @la_cu_states(%q: tensor<1x2x8x4xf32>, %cu: tensor<4xi32>) {
  // expected-error @+1 {{'cu_seqlens' has 4 offsets, so the states must hold 3 sequences, got 2}}
  %o, %s = ssm.linear_attention %q, %q, %q cu_seqlens(%cu) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<4xi32>) -> (tensor<1x2x8x4xf32>, tensor<2x2x4x4xf32>)
  return
}

// -----

func.func @la_cu_type(%q: tensor<1x2x8x4xf32>, %cu: tensor<3xf32>) {
  // expected-error @+1 {{operand #3 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %o = ssm.linear_attention %q, %q, %q cu_seqlens(%cu) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<3xf32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

func.func @la_h0_shape(%q: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x6xf32>, %h0: tensor<1x2x6x4xf32>) {
  // expected-error @+1 {{operand 'h0' must have shape [B, H, K, V] = [1, 2, 4, 6], got [1, 2, 6, 4] (K = 4 from 'q')}}
  %o = ssm.linear_attention %q, %q, %v h0(%h0) : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x6xf32>, tensor<1x2x6x4xf32>) -> tensor<1x2x8x6xf32>
  return
}

// -----

func.func @la_out_shape(%q: tensor<1x2x8x4xf32>, %v: tensor<1x2x8x6xf32>) {
  // expected-error @+1 {{operand 'out' must have shape [B, H, L, V] = [1, 2, 8, 6], got [1, 2, 8, 4] (V = 6 from 'v')}}
  %o = ssm.linear_attention %q, %q, %v : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x6xf32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

func.func @la_final_shape(%q: tensor<1x2x8x4xf32>) {
  // expected-error @+1 {{operand 'final_state' must have shape [B, H, K, V] = [1, 2, 4, 4], got [1, 2, 4, 8] (V = 4 from 'v')}}
  %o, %s = ssm.linear_attention %q, %q, %q : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> (tensor<1x2x8x4xf32>, tensor<1x2x4x8xf32>)
  return
}

// -----

func.func @la_k_type(%q: tensor<1x2x8x4xf32>, %k: tensor<1x2x8x4xf16>) {
  // expected-error @+1 {{operand 'k' must have element type 'f32' (the element type of 'q'), got 'f16'}}
  %o = ssm.linear_attention %q, %k, %q : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf16>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

func.func @la_gate_type(%q: tensor<1x2x8x4xbf16>, %g: tensor<1x2x8xf64>) {
  // expected-error @+1 {{operand 'gate' must have element type 'bf16' or the accumulator type 'f32', got 'f64'}}
  %o = ssm.linear_attention %q, %q, %q gate(%g) : (tensor<1x2x8x4xbf16>, tensor<1x2x8x4xbf16>, tensor<1x2x8x4xbf16>, tensor<1x2x8xf64>) -> tensor<1x2x8x4xbf16>
  return
}

// -----

func.func @la_h0_type(%q: tensor<1x2x8x4xbf16>, %h0: tensor<1x2x4x4xbf16>) {
  // expected-error @+1 {{'h0' must have the accumulator element type 'f32' for inputs of type 'bf16', got 'bf16'}}
  %o = ssm.linear_attention %q, %q, %q h0(%h0) : (tensor<1x2x8x4xbf16>, tensor<1x2x8x4xbf16>, tensor<1x2x8x4xbf16>, tensor<1x2x4x4xbf16>) -> tensor<1x2x8x4xbf16>
  return
}

// -----

func.func @la_out_type(%q: tensor<1x2x8x4xf32>) {
  // expected-error @+1 {{result 'out' must have element type 'f32' (the element type of 'q'), got 'f16'}}
  %o = ssm.linear_attention %q, %q, %q : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf16>
  return
}

// -----

func.func @la_feature_map(%q: tensor<1x2x8x4xf32>) {
  // expected-error @+2 {{expected ::mlir::ssm::FeatureMap to be one of: identity, elu_plus_one, relu}}
  // expected-error @+1 {{failed to parse SSM_FeatureMapAttr parameter 'value'}}
  %o = ssm.linear_attention %q, %q, %q {feature_map = #ssm.feature_map<softmax>} : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

// The feature map is an enum attribute: a string is rejected.
func.func @la_feature_map_string(%q: tensor<1x2x8x4xf32>) {
  // expected-error @+1 {{attribute 'feature_map' failed to satisfy constraint: feature map phi applied to the queries and keys of linear attention}}
  %o = ssm.linear_attention %q, %q, %q {feature_map = "relu"} : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
  return
}

// -----

func.func @la_scale(%q: tensor<1x2x8x4xf32>) {
  // expected-error @+1 {{scale must be finite, got INF}}
  %o = ssm.linear_attention %q, %q, %q {scale = 0x7FF0000000000000 : f64} : (tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x4xf32>
  return
}

//===----------------------------------------------------------------------===//
// ssm.attention
//===----------------------------------------------------------------------===//

// -----

func.func @att_q_rank(%q: tensor<4x16x8xf32>, %k: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{operand 'q' must have rank 4 [B, H, Lq, d], got rank 3}}
  %o = ssm.attention %q, %k, %k : (tensor<4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_k_dim(%q: tensor<1x4x16x8xf32>, %k: tensor<1x4x16x7xf32>) {
  // expected-error @+1 {{operand 'k' must have shape [B, Hkv, Lk, d] = [1, ?, ?, 8], got [1, 4, 16, 7] (d = 8 from 'q')}}
  %o = ssm.attention %q, %k, %k : (tensor<1x4x16x8xf32>, tensor<1x4x16x7xf32>, tensor<1x4x16x7xf32>) -> tensor<1x4x16x7xf32>
  return
}

// -----

func.func @att_v_len(%q: tensor<1x4x16x8xf32>, %k: tensor<1x4x16x8xf32>, %v: tensor<1x4x15x8xf32>) {
  // expected-error @+1 {{operand 'v' must have shape [B, Hkv, Lk, dv] = [1, 4, 16, ?], got [1, 4, 15, 8] (Lk = 16 from 'k')}}
  %o = ssm.attention %q, %k, %v : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x15x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_out(%q: tensor<1x4x16x8xf32>, %k: tensor<1x4x16x8xf32>, %v: tensor<1x4x16x6xf32>) {
  // expected-error @+1 {{operand 'out' must have shape [B, H, Lq, dv] = [1, 4, 16, 6], got [1, 4, 16, 8] (dv = 6 from 'v')}}
  %o = ssm.attention %q, %k, %v : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x6xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_groups(%q: tensor<1x6x16x8xf32>, %k: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{the query head count H = 6 must be a multiple of the key/value head count Hkv = 4}}
  %o = ssm.attention %q, %k, %k : (tensor<1x6x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x6x16x8xf32>
  return
}

// -----

func.func @att_zero_kv_heads(%q: tensor<1x6x16x8xf32>, %k: tensor<1x0x16x8xf32>) {
  // expected-error @+1 {{the key/value head count Hkv must be positive}}
  %o = ssm.attention %q, %k, %k : (tensor<1x6x16x8xf32>, tensor<1x0x16x8xf32>, tensor<1x0x16x8xf32>) -> tensor<1x6x16x8xf32>
  return
}

// -----

func.func @att_window_needs_causal(%q: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{a sliding 'window' needs 'causal' (it keeps the w most recent keys of a causal mask); without 'causal' use 'window_left'/'window_right'}}
  %o = ssm.attention %q, %q, %q {window = 4 : i64} : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_window_positive(%q: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{attribute 'window' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %o = ssm.attention %q, %q, %q causal {window = 0 : i64} : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_window_and_left(%q: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{'window' is 'window_left' + 1: give one of them}}
  %o = ssm.attention %q, %q, %q causal {window = 4 : i64, window_left = 3 : i64} : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_causal_right(%q: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{'causal' sees no key right of the query: 'window_right' must be absent or 0 with it}}
  %o = ssm.attention %q, %q, %q causal {window_right = 2 : i64} : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_window_left_negative(%q: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{attribute 'window_left' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %o = ssm.attention %q, %q, %q {window_left = -1 : i64} : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_softcap(%q: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{'softcap' must be positive (absent: no capping), got 0.000000e+00}}
  %o = ssm.attention %q, %q, %q {softcap = 0.0} : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_alibi_shape(%q: tensor<1x4x16x8xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{operand 'alibi_slopes' must have shape [H] = [4], got [3] (H = 4 from 'q')}}
  %o = ssm.attention %q, %q, %q alibi_slopes(%s)  : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<3xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_alibi_type(%q: tensor<1x4x16x8xf32>, %s: tensor<4xf16>) {
  // expected-error @+1 {{'alibi_slopes' must have element type 'f32' (f32, or f64 in an f64 program), got 'f16'}}
  %o = ssm.attention %q, %q, %q alibi_slopes(%s)  : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<4xf16>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_sinks_shape(%q: tensor<1x4x16x8xf32>, %s: tensor<1x4xf32>) {
  // expected-error @+1 {{operand 'sinks' must have rank 1 [H], got rank 2}}
  %o = ssm.attention %q, %q, %q sinks(%s)  : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4xf32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_packed_one_side(%q: tensor<1x4x16x8xf32>, %c: tensor<3xi32>) {
  // expected-error @+1 {{packed sequences need both 'cu_seqlens_q' and 'cu_seqlens_k'}}
  %o = ssm.attention %q, %q, %q cu_seqlens_q(%c)  : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<3xi32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_packed_counts(%q: tensor<1x4x16x8xf32>, %c: tensor<3xi32>, %d: tensor<4xi32>) {
  // expected-error @+1 {{'cu_seqlens_q' and 'cu_seqlens_k' must hold the same number of offsets, got 3 and 4}}
  %o = ssm.attention %q, %q, %q cu_seqlens_q(%c) cu_seqlens_k(%d)  : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<3xi32>, tensor<4xi32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_seqused_shape(%q: tensor<1x4x16x8xf32>, %u: tensor<2xi32>) {
  // expected-error @+1 {{operand 'seqused_k' must have shape [B] = [1], got [2] (B = 1 from 'q')}}
  %o = ssm.attention %q, %q, %q seqused_k(%u)  : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<2xi32>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_type(%q: tensor<1x4x16x8xf32>, %k: tensor<1x4x16x8xbf16>) {
  // expected-error @+1 {{'k' must have element type 'f32' (the element type of 'q'), got 'bf16'}}
  %o = ssm.attention %q, %k, %k : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xbf16>, tensor<1x4x16x8xbf16>) -> tensor<1x4x16x8xf32>
  return
}

// -----

func.func @att_scale(%q: tensor<1x4x16x8xf32>) {
  // expected-error @+1 {{scale must be finite, got nan}}
  %o = ssm.attention %q, %q, %q {scale = 0x7FF8000000000000 : f64} : (tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>, tensor<1x4x16x8xf32>) -> tensor<1x4x16x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// decode steps
//===----------------------------------------------------------------------===//

// -----

func.func @sss_u_rank(%u: tensor<2x8x1xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4xf32>, %h: tensor<2x8x4xf32>) {
  // expected-error @+1 {{operand 'u' must have rank 2 [B, Dm], got rank 3}}
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %B, %B, %h : (tensor<2x8x1xf32>, tensor<2x8x1xf32>, tensor<8x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x8x4xf32>) -> (tensor<2x8xf32>, tensor<2x8x4xf32>)
  return
}

// -----

func.func @sss_B_rank(%u: tensor<2x8xf32>, %A: tensor<8x4xf32>, %B: tensor<4xf32>, %h: tensor<2x8x4xf32>) {
  // expected-error @+1 {{operand 'B' must have rank 2 [B, N] or rank 3 [B, G, N], got rank 1}}
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %B, %B, %h : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x8x4xf32>) -> (tensor<2x8xf32>, tensor<2x8x4xf32>)
  return
}

// -----

func.func @sss_state(%u: tensor<2x8xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4xf32>, %h: tensor<2x8x5xf32>) {
  // expected-error @+1 {{operand 'state' must have shape [B, Dm, N] = [2, 8, 4], got [2, 8, 5] (N = 4 from 'A')}}
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %B, %B, %h : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x8x5xf32>) -> (tensor<2x8xf32>, tensor<2x8x5xf32>)
  return
}

// -----

func.func @sss_groups(%u: tensor<2x6xf32>, %A: tensor<6x4xf32>, %B: tensor<2x4x4xf32>, %h: tensor<2x6x4xf32>) {
  // expected-error @+1 {{the channel count Dm = 6 must be divisible by the group count G = 4 of 'B'/'C'}}
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %B, %B, %h : (tensor<2x6xf32>, tensor<2x6xf32>, tensor<6x4xf32>, tensor<2x4x4xf32>, tensor<2x4x4xf32>, tensor<2x6x4xf32>) -> (tensor<2x6xf32>, tensor<2x6x4xf32>)
  return
}

// -----

func.func @sss_zero_groups(%u: tensor<2x6xf32>, %A: tensor<6x4xf32>, %B: tensor<2x0x4xf32>, %h: tensor<2x6x4xf32>) {
  // expected-error @+1 {{the group count G of 'B'/'C' must be positive, got 0}}
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %B, %B, %h : (tensor<2x6xf32>, tensor<2x6xf32>, tensor<6x4xf32>, tensor<2x0x4xf32>, tensor<2x0x4xf32>, tensor<2x6x4xf32>) -> (tensor<2x6xf32>, tensor<2x6x4xf32>)
  return
}

// -----

func.func @sss_types(%u: tensor<2x8xbf16>, %dt: tensor<2x8xf16>, %A: tensor<8x4xf32>, %B: tensor<2x4xbf16>, %h: tensor<2x8x4xf32>) {
  // expected-error @+1 {{operand 'delta' must have element type 'bf16' or the accumulator type 'f32', got 'f16'}}
  %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %B, %h : (tensor<2x8xbf16>, tensor<2x8xf16>, tensor<8x4xf32>, tensor<2x4xbf16>, tensor<2x4xbf16>, tensor<2x8x4xf32>) -> (tensor<2x8xbf16>, tensor<2x8x4xf32>)
  return
}

// -----

func.func @sss_B_type(%u: tensor<2x8xbf16>, %dt: tensor<2x8xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4xf32>, %h: tensor<2x8x4xf32>) {
  // expected-error @+1 {{'B' must have element type 'bf16' (the element type of the first operand), got 'f32'}}
  %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %B, %h : (tensor<2x8xbf16>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x8x4xf32>) -> (tensor<2x8xbf16>, tensor<2x8x4xf32>)
  return
}

// -----

func.func @sss_indices_shape(%u: tensor<2x8xf32>, %dt: tensor<2x8xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4xf32>, %h: tensor<5x8x4xf32>, %i: tensor<3xi32>) {
  // expected-error @+1 {{operand 'state_batch_indices' must have shape [B] = [2], got [3] (B = 2 from 'u')}}
  %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %B, %h state_batch_indices(%i) : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<5x8x4xf32>, tensor<3xi32>) -> (tensor<2x8xf32>, tensor<5x8x4xf32>)
  return
}

// -----

func.func @sss_pool_size(%u: tensor<2x8xf32>, %dt: tensor<2x8xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4xf32>, %h: tensor<5x8x4xf32>, %i: tensor<2xi32>) {
  // expected-error @+1 {{operand 'new_state' must have shape [P, Dm, N] = [5, 8, 4], got [2, 8, 4] (P = 5 from 'state')}}
  %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %B, %h state_batch_indices(%i) : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<5x8x4xf32>, tensor<2xi32>) -> (tensor<2x8xf32>, tensor<2x8x4xf32>)
  return
}

// -----

func.func @sss_state_without_indices(%u: tensor<2x8xf32>, %dt: tensor<2x8xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4xf32>, %h: tensor<5x8x4xf32>) {
  // expected-error @+1 {{operand 'state' must have shape [B, Dm, N] = [2, 8, 4], got [5, 8, 4] (B = 2 from 'u')}}
  %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %B, %h : (tensor<2x8xf32>, tensor<2x8xf32>, tensor<8x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<5x8x4xf32>) -> (tensor<2x8xf32>, tensor<5x8x4xf32>)
  return
}

// -----

func.func @sss_state_type(%u: tensor<2x8xbf16>, %A: tensor<8x4xf32>, %B: tensor<2x4xbf16>, %h: tensor<2x8x4xbf16>) {
  // expected-error @+1 {{'state' must have the accumulator element type 'f32' for inputs of type 'bf16', got 'bf16'}}
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %B, %B, %h : (tensor<2x8xbf16>, tensor<2x8xbf16>, tensor<8x4xf32>, tensor<2x4xbf16>, tensor<2x4xbf16>, tensor<2x8x4xbf16>) -> (tensor<2x8xbf16>, tensor<2x8x4xbf16>)
  return
}

// -----

func.func @la_z0_needs_normalize(%q: tensor<1x2x4x4xf32>, %z: tensor<1x2x4xf32>) {
  // expected-error @+1 {{'z0' is the normaliser's state and needs 'normalize'}}
  %o = ssm.linear_attention %q, %q, %q z0(%z) : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4x4xf32>
  return
}

// -----

func.func @la_final_z_needs_normalize(%q: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{'final_z' is the normaliser's state and needs 'normalize'}}
  %o, %z = ssm.linear_attention %q, %q, %q : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
  return
}

// -----

func.func @la_z0_shape(%q: tensor<1x2x4x4xf32>, %z: tensor<1x2x3xf32>) {
  // expected-error @+1 {{operand 'z0' must have shape [B, H, K] = [1, 2, 4], got [1, 2, 3] (K = 4 from 'q')}}
  %o = ssm.linear_attention %q, %q, %q z0(%z) normalize : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x3xf32>) -> tensor<1x2x4x4xf32>
  return
}

// -----

func.func @la_final_z_per_sequence(%q: tensor<1x2x?x4xf32>, %cu: tensor<4xi32>) {
  // expected-error @+1 {{'cu_seqlens' has 4 offsets, so the states must hold 3 sequences, got 1}}
  %o, %z = ssm.linear_attention %q, %q, %q cu_seqlens(%cu) normalize : (tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<1x2x?x4xf32>, tensor<4xi32>) -> (tensor<1x2x?x4xf32>, tensor<1x2x4xf32>)
  return
}

// -----

func.func @la_z_type(%q: tensor<1x2x4x4xbf16>, %z: tensor<1x2x4xbf16>) {
  // expected-error @+1 {{'z0' must have the accumulator element type 'f32' for inputs of type 'bf16', got 'bf16'}}
  %o = ssm.linear_attention %q, %q, %q z0(%z) normalize : (tensor<1x2x4x4xbf16>, tensor<1x2x4x4xbf16>, tensor<1x2x4x4xbf16>, tensor<1x2x4xbf16>) -> tensor<1x2x4x4xbf16>
  return
}

// -----

func.func @la_eps(%q: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{eps must be finite and non-negative, got -1.000000e+00}}
  %o = ssm.linear_attention %q, %q, %q normalize {eps = -1.0 : f64} : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<1x2x4x4xf32>
  return
}

// -----

func.func @la_result_order(%q: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{the results after 'out' are 'final_state' (rank 4) then 'final_z' (rank 3), each at most once; got 'tensor<1x2x4x4xf32>'}}
  %o, %z, %s = ssm.linear_attention %q, %q, %q normalize : (tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4x4xf32>) -> (tensor<1x2x4x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>)
  return
}

// -----

func.func @las_normalize_needs_z(%q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{the normaliser's state 'z' and the result 'new_z' must be present exactly when 'normalize' is (got normalize = true, z absent, new_z absent)}}
  %o, %s1 = ssm.linear_attention_step %q, %q, %q, %s normalize : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>)
  return
}

// -----

func.func @las_z_shape(%q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>, %z: tensor<1x3x4xf32>) {
  // expected-error @+1 {{operand 'z' must have shape [B, H, K] = [1, 2, 4], got [1, 3, 4] (H = 2 from 'q')}}
  %o, %s1, %z1 = ssm.linear_attention_step %q, %q, %q, %s z(%z) normalize : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x3x4xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x3x4xf32>)
  return
}

// -----

func.func @las_gate_rank(%q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>, %g: tensor<1xf32>) {
  // expected-error @+1 {{operand 'gate' must have rank 2 [B, H] or rank 3 [B, H, K], got rank 1}}
  %o, %s1 = ssm.linear_attention_step %q, %q, %q, %s gate(%g) : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>)
  return
}

// -----

func.func @las_state(%q: tensor<1x2x4xf32>, %v: tensor<1x2x6xf32>, %s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{operand 'state' must have shape [B, H, K, V] = [1, 2, 4, 6], got [1, 2, 4, 4] (V = 6 from 'v')}}
  %o, %s1 = ssm.linear_attention_step %q, %q, %v, %s : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x6xf32>, tensor<1x2x4x4xf32>) -> (tensor<1x2x6xf32>, tensor<1x2x4x4xf32>)
  return
}

// -----

func.func @las_map(%q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>) {
  // expected-error @+2 {{expected ::mlir::ssm::FeatureMap to be one of: identity, elu_plus_one, relu}}
  // expected-error @+1 {{failed to parse SSM_FeatureMapAttr parameter 'value'}}
  %o, %s1 = ssm.linear_attention_step %q, %q, %q, %s {feature_map = #ssm.feature_map<tanh>} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>)
  return
}

// -----

func.func @las_scale(%q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{scale must be finite, got INF}}
  %o, %s1 = ssm.linear_attention_step %q, %q, %q, %s {scale = 0x7FF0000000000000 : f64} : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>)
  return
}

// -----

func.func @las_types(%q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf16>) {
  // expected-error @+1 {{'state' must have the accumulator element type 'f32' for inputs of type 'f32', got 'f16'}}
  %o, %s1 = ssm.linear_attention_step %q, %q, %q, %s : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf16>) -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf16>)
  return
}

// -----

func.func @as_cache(%q: tensor<1x4x8xf32>, %k: tensor<1x2x8xf32>, %kc: tensor<1x2x16x7xf32>, %p: index) {
  // expected-error @+1 {{operand 'k_cache' must have shape [B, Hkv, C, d] = [1, 2, ?, 8], got [1, 2, 16, 7] (d = 8 from 'q')}}
  %o, %k1, %v1 = ssm.attention_step %q, %k, %k, %kc, %kc, %p : (tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x16x7xf32>, tensor<1x2x16x7xf32>, index) -> (tensor<1x4x8xf32>, tensor<1x2x16x7xf32>, tensor<1x2x16x7xf32>)
  return
}

// -----

func.func @as_heads(%q: tensor<1x3x8xf32>, %k: tensor<1x2x8xf32>, %kc: tensor<1x2x16x8xf32>, %p: index) {
  // expected-error @+1 {{the query head count H = 3 must be a multiple of the key/value head count Hkv = 2}}
  %o, %k1, %v1 = ssm.attention_step %q, %k, %k, %kc, %kc, %p : (tensor<1x3x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index) -> (tensor<1x3x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>)
  return
}

// -----

func.func @as_zero_heads(%q: tensor<1x3x8xf32>, %k: tensor<1x0x8xf32>, %kc: tensor<1x0x16x8xf32>, %p: index) {
  // expected-error @+1 {{the key/value head count Hkv must be positive}}
  %o, %k1, %v1 = ssm.attention_step %q, %k, %k, %kc, %kc, %p : (tensor<1x3x8xf32>, tensor<1x0x8xf32>, tensor<1x0x8xf32>, tensor<1x0x16x8xf32>, tensor<1x0x16x8xf32>, index) -> (tensor<1x3x8xf32>, tensor<1x0x16x8xf32>, tensor<1x0x16x8xf32>)
  return
}

// -----

func.func @as_capacity(%q: tensor<1x2x8xf32>, %k: tensor<1x2x8xf32>, %kc: tensor<1x2x0x8xf32>, %p: index) {
  // expected-error @+1 {{the cache capacity C must be positive (the new token is written into it)}}
  %o, %k1, %v1 = ssm.attention_step %q, %k, %k, %kc, %kc, %p : (tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x0x8xf32>, tensor<1x2x0x8xf32>, index) -> (tensor<1x2x8xf32>, tensor<1x2x0x8xf32>, tensor<1x2x0x8xf32>)
  return
}

// -----

func.func @as_scale(%q: tensor<1x2x8xf32>, %kc: tensor<1x2x4x8xf32>, %p: index) {
  // expected-error @+1 {{scale must be finite, got INF}}
  %o, %k1, %v1 = ssm.attention_step %q, %q, %q, %kc, %kc, %p {scale = 0x7FF0000000000000 : f64} : (tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, index) -> (tensor<1x2x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>)
  return
}

// -----

func.func @as_types(%q: tensor<1x2x8xf32>, %kc: tensor<1x2x4x8xbf16>, %p: index) {
  // expected-error @+1 {{'k_cache' must have element type 'f32' (the element type of the first operand), got 'bf16'}}
  %o, %k1, %v1 = ssm.attention_step %q, %q, %q, %kc, %kc, %p : (tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x4x8xbf16>, tensor<1x2x4x8xbf16>, index) -> (tensor<1x2x8xf32>, tensor<1x2x4x8xbf16>, tensor<1x2x4x8xbf16>)
  return
}

//===----------------------------------------------------------------------===//
// ssm.ssd
//===----------------------------------------------------------------------===//

// -----

func.func @ssd_x_rank(%x: tensor<16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>) {
  // expected-error @+1 {{operand 'x' must have rank 4 [B, L, H, P], got rank 3}}
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>) -> tensor<16x4x8xf32>
  return
}

// -----

func.func @ssd_seq_idx_shape(%x: tensor<2x16x4x8xf32>, %dt: tensor<2x16x4xf32>, %A: tensor<4xf32>, %B: tensor<2x16x1x6xf32>, %s: tensor<1x16xi32>) {
  // expected-error @+1 {{operand 'seq_idx' must have shape [B, L] = [2, 16], got [1, 16] (B = 2 from 'x')}}
  %y = ssm.ssd %x, %dt, %A, %B, %B seq_idx(%s) : (tensor<2x16x4x8xf32>, tensor<2x16x4xf32>, tensor<4xf32>, tensor<2x16x1x6xf32>, tensor<2x16x1x6xf32>, tensor<1x16xi32>) -> tensor<2x16x4x8xf32>
  return
}

// -----

func.func @ssd_seq_idx_with_cu_seqlens(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %s: tensor<1x16xi32>, %cu: tensor<2xi64>) {
  // expected-error @+1 {{takes either 'cu_seqlens' (sequences packed into one batch entry) or 'seq_idx' (packed per batch row), not both}}
  %y = ssm.ssd %x, %dt, %A, %B, %B cu_seqlens(%cu) seq_idx(%s) : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>, tensor<2xi64>, tensor<1x16xi32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_dt(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x3xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>) {
  // expected-error @+1 {{operand 'dt' must have shape [B, L, H] = [1, 16, 4], got [1, 16, 3] (H = 4 from 'x')}}
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x16x4x8xf32>, tensor<1x16x3xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_C(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %C: tensor<1x16x1x5xf32>) {
  // expected-error @+1 {{operand 'C' must have shape [B, L, G, N] = [1, 16, 1, 6], got [1, 16, 1, 5] (N = 6 from 'B')}}
  %y = ssm.ssd %x, %dt, %A, %B, %C : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x5xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_groups(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x3x6xf32>) {
  // expected-error @+1 {{the head count H = 4 must be divisible by the group count G = 3 of 'B'/'C'}}
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x3x6xf32>, tensor<1x16x3x6xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_zero_groups(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x0x6xf32>) {
  // expected-error @+1 {{the group count G of 'B'/'C' must be positive, got 0}}
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x0x6xf32>, tensor<1x16x0x6xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_h0(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %h0: tensor<1x4x6x8xf32>) {
  // expected-error @+1 {{operand 'h0' must have shape [B, H, P, N] = [1, 4, 8, 6], got [1, 4, 6, 8] (P = 8 from 'x')}}
  %y = ssm.ssd %x, %dt, %A, %B, %B h0(%h0) : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>, tensor<1x4x6x8xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_D(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %D: tensor<8xf32>) {
  // expected-error @+1 {{operand 'D' must have shape [H] = [4], got [8] (H = 4 from 'x')}}
  %y = ssm.ssd %x, %dt, %A, %B, %B D(%D) : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>, tensor<8xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_type(%x: tensor<1x16x4x8xbf16>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>) {
  // expected-error @+1 {{'B' must have element type 'bf16' (the element type of 'x'), got 'f32'}}
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x16x4x8xbf16>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>) -> tensor<1x16x4x8xbf16>
  return
}

// -----

func.func @ssd_dt_type(%x: tensor<1x16x4x8xbf16>, %dt: tensor<1x16x4xf16>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xbf16>) {
  // expected-error @+1 {{operand 'dt' must have element type 'bf16' or the accumulator type 'f32', got 'f16'}}
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x16x4x8xbf16>, tensor<1x16x4xf16>, tensor<4xf32>, tensor<1x16x1x6xbf16>, tensor<1x16x1x6xbf16>) -> tensor<1x16x4x8xbf16>
  return
}

// -----

func.func @ssd_D_head_dim(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %D: tensor<4x6xf32>) {
  // expected-error @+1 {{operand 'D' must have shape [H, P] = [4, 8], got [4, 6] (P = 8 from 'x')}}
  %y = ssm.ssd %x, %dt, %A, %B, %B D(%D) : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>, tensor<4x6xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_D_rank(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %D: tensor<1x4x8xf32>) {
  // expected-error @+1 {{operand 'D' must have rank 1 [H] or rank 2 [H, P], got rank 3}}
  %y = ssm.ssd %x, %dt, %A, %B, %B D(%D) : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>, tensor<1x4x8xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_dt_limit_size(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>) {
  // expected-error @+1 {{'dt_limit' must hold two values [lo, hi], got 3}}
  %y = ssm.ssd %x, %dt, %A, %B, %B {dt_limit = array<f64: 0.0, 1.0, 2.0>} : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_dt_limit_order(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>) {
  // expected-error @+1 {{'dt_limit' must satisfy lo <= hi, got [5.000000e-01, 2.500000e-01]}}
  %y = ssm.ssd %x, %dt, %A, %B, %B {dt_limit = array<f64: 0.5, 0.25>} : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_step_dt_limit(%x: tensor<1x4x8xf32>, %dt: tensor<1x4xf32>, %A: tensor<4xf32>, %B: tensor<1x1x6xf32>, %h: tensor<1x4x8x6xf32>) {
  // expected-error @+1 {{'dt_limit' must hold two values [lo, hi], got 1}}
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h {dt_limit = array<f64: 0.5>} : (tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1x1x6xf32>, tensor<1x1x6xf32>, tensor<1x4x8x6xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x8x6xf32>)
  return
}

// -----

func.func @ssd_step_D_head_dim(%x: tensor<1x4x8xf32>, %dt: tensor<1x4xf32>, %A: tensor<4xf32>, %B: tensor<1x1x6xf32>, %h: tensor<1x4x8x6xf32>, %D: tensor<8x4xf32>) {
  // expected-error @+1 {{operand 'D' must have shape [H, P] = [4, 8], got [8, 4] (H = 4 from 'x')}}
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h D(%D) : (tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1x1x6xf32>, tensor<1x1x6xf32>, tensor<1x4x8x6xf32>, tensor<8x4xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x8x6xf32>)
  return
}

// -----

func.func @ssd_param_type(%x: tensor<1x16x4x8xf16>, %dt: tensor<1x16x4xf16>, %A: tensor<4xf64>, %B: tensor<1x16x1x6xf16>) {
  // expected-error @+1 {{operand 'A' must have element type 'f16' or the accumulator type 'f32', got 'f64'}}
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x16x4x8xf16>, tensor<1x16x4xf16>, tensor<4xf64>, tensor<1x16x1x6xf16>, tensor<1x16x1x6xf16>) -> tensor<1x16x4x8xf16>
  return
}

// -----

func.func @ssd_state_type(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>) {
  // expected-error @+1 {{'final_state' must have the accumulator element type 'f32' for inputs of type 'f32', got 'f64'}}
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>) -> (tensor<1x16x4x8xf32>, tensor<1x4x8x6xf64>)
  return
}

//===----------------------------------------------------------------------===//
// ssm.causal_conv1d
//===----------------------------------------------------------------------===//

// -----

func.func @conv_weight(%x: tensor<2x8x16xf32>, %w: tensor<6x4xf32>) {
  // expected-error @+1 {{operand 'weight' must have shape [D, W] = [8, ?], got [6, 4] (D = 8 from 'x')}}
  %y = ssm.causal_conv1d %x, %w : (tensor<2x8x16xf32>, tensor<6x4xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @conv_width(%x: tensor<2x8x16xf32>, %w: tensor<8x0xf32>) {
  // expected-error @+1 {{the kernel width W must be at least 1, got 0}}
  %y = ssm.causal_conv1d %x, %w : (tensor<2x8x16xf32>, tensor<8x0xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @conv_state_rank(%x: tensor<2x8x16xf32>, %w: tensor<8x4xf32>, %s: tensor<2x8xf32>) {
  // expected-error @+1 {{'initial_state' must have rank 3 [B, D, W - 1], got rank 2}}
  %y = ssm.causal_conv1d %x, %w initial_state(%s) : (tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x8xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @conv_state_width(%x: tensor<2x8x16xf32>, %w: tensor<8x4xf32>, %s: tensor<2x8x4xf32>) {
  // expected-error @+1 {{'initial_state' must hold W - 1 = 3 inputs per channel, got 4}}
  %y = ssm.causal_conv1d %x, %w initial_state(%s) : (tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x8x4xf32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @conv_final_batch(%x: tensor<2x8x16xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{operand 'final_state' must have shape [B, D] = [2, 8], got [1, 8] (B = 2 from 'x')}}
  %y, %f = ssm.causal_conv1d %x, %w : (tensor<2x8x16xf32>, tensor<8x4xf32>) -> (tensor<2x8x16xf32>, tensor<1x8x3xf32>)
  return
}

// -----

func.func @conv_type(%x: tensor<2x8x16xbf16>, %w: tensor<8x4xf16>) {
  // expected-error @+1 {{operand 'weight' must have element type 'bf16' or the accumulator type 'f32', got 'f16'}}
  %y = ssm.causal_conv1d %x, %w : (tensor<2x8x16xbf16>, tensor<8x4xf16>) -> tensor<2x8x16xbf16>
  return
}

// -----

func.func @conv_state_type(%x: tensor<2x8x16xbf16>, %w: tensor<8x4xf32>, %s: tensor<2x8x3xf32>) {
  // expected-error @+1 {{'initial_state' must have element type 'bf16' (the element type of 'x'), got 'f32'}}
  %y = ssm.causal_conv1d %x, %w initial_state(%s) : (tensor<2x8x16xbf16>, tensor<8x4xf32>, tensor<2x8x3xf32>) -> tensor<2x8x16xbf16>
  return
}

// -----

func.func @conv_packed_batch(%x: tensor<2x8x16xf32>, %w: tensor<8x4xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{with 'cu_seqlens' the sequences are packed along L and the batch size must be 1, got 2}}
  %y = ssm.causal_conv1d %x, %w cu_seqlens(%cu) : (tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<3xi32>) -> tensor<2x8x16xf32>
  return
}

// -----

func.func @conv_packed_states(%x: tensor<1x8x16xf32>, %w: tensor<8x4xf32>, %cu: tensor<4xi32>, %s: tensor<2x8x3xf32>) {
  // expected-error @+1 {{'cu_seqlens' has 4 offsets, so the states must hold 3 sequences, got 2}}
  %y = ssm.causal_conv1d %x, %w initial_state(%s) cu_seqlens(%cu) : (tensor<1x8x16xf32>, tensor<8x4xf32>, tensor<2x8x3xf32>, tensor<4xi32>) -> tensor<1x8x16xf32>
  return
}

// -----

func.func @convs_state_short(%x: tensor<2x8xf32>, %s: tensor<2x8x2xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{the state must hold at least W - 1 = 3 inputs per channel, got 2}}
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w : (tensor<2x8xf32>, tensor<2x8x2xf32>, tensor<8x4xf32>) -> (tensor<2x8xf32>, tensor<2x8x2xf32>)
  return
}

// -----

func.func @convs_empty_ring(%x: tensor<2x8xf32>, %s: tensor<2x8x0xf32>, %w: tensor<8x1xf32>, %c: tensor<2xi32>) {
  // expected-error @+1 {{'cache_seqlens' needs a ring buffer of at least one entry, got a state of length 0}}
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w cache_seqlens(%c) : (tensor<2x8xf32>, tensor<2x8x0xf32>, tensor<8x1xf32>, tensor<2xi32>) -> (tensor<2x8xf32>, tensor<2x8x0xf32>)
  return
}

// -----

func.func @convs_indices(%x: tensor<2x8xf32>, %s: tensor<6x8x3xf32>, %w: tensor<8x4xf32>, %i: tensor<6xi32>) {
  // expected-error @+1 {{operand 'conv_state_indices' must have shape [B] = [2], got [6] (B = 2 from 'x')}}
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w conv_state_indices(%i) : (tensor<2x8xf32>, tensor<6x8x3xf32>, tensor<8x4xf32>, tensor<6xi32>) -> (tensor<2x8xf32>, tensor<6x8x3xf32>)
  return
}

// -----

func.func @convs_pool_without_indices(%x: tensor<2x8xf32>, %s: tensor<6x8x3xf32>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{operand 'state' must have shape [B, D, S] = [2, 8, ?], got [6, 8, 3] (B = 2 from 'x')}}
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w : (tensor<2x8xf32>, tensor<6x8x3xf32>, tensor<8x4xf32>) -> (tensor<2x8xf32>, tensor<6x8x3xf32>)
  return
}

// -----

func.func @convs_new_state_type(%x: tensor<2x8xbf16>, %s: tensor<2x8x3xbf16>, %w: tensor<8x4xf32>) {
  // expected-error @+1 {{'new_state' must have the element type of 'state' ('bf16'), got 'f32'}}
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w : (tensor<2x8xbf16>, tensor<2x8x3xbf16>, tensor<8x4xf32>) -> (tensor<2x8xbf16>, tensor<2x8x3xf32>)
  return
}

// -----

func.func @ssds_state(%x: tensor<1x4x8xf32>, %dt: tensor<1x4xf32>, %A: tensor<4xf32>, %B: tensor<1x1x6xf32>, %h: tensor<1x4x6x8xf32>) {
  // expected-error @+1 {{operand 'state' must have shape [B, H, P, N] = [1, 4, 8, 6], got [1, 4, 6, 8] (P = 8 from 'x')}}
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h : (tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1x1x6xf32>, tensor<1x1x6xf32>, tensor<1x4x6x8xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x6x8xf32>)
  return
}

// -----

func.func @ssds_groups(%x: tensor<1x4x8xf32>, %dt: tensor<1x4xf32>, %A: tensor<4xf32>, %B: tensor<1x3x6xf32>, %h: tensor<1x4x8x6xf32>) {
  // expected-error @+1 {{the head count H = 4 must be divisible by the group count G = 3 of 'B'/'C'}}
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h : (tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1x3x6xf32>, tensor<1x3x6xf32>, tensor<1x4x8x6xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x8x6xf32>)
  return
}

// -----

func.func @ssds_zero_groups(%x: tensor<1x4x8xf32>, %dt: tensor<1x4xf32>, %A: tensor<4xf32>, %B: tensor<1x0x6xf32>, %h: tensor<1x4x8x6xf32>) {
  // expected-error @+1 {{the group count G of 'B'/'C' must be positive, got 0}}
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h : (tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1x0x6xf32>, tensor<1x0x6xf32>, tensor<1x4x8x6xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x8x6xf32>)
  return
}

// -----

func.func @ssd_cu_batch(%x: tensor<2x16x4x8xf32>, %dt: tensor<2x16x4xf32>, %A: tensor<4xf32>, %B: tensor<2x16x1x6xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{with 'cu_seqlens' the sequences are packed along L and the batch size must be 1, got 2}}
  %y = ssm.ssd %x, %dt, %A, %B, %B cu_seqlens(%cu) : (tensor<2x16x4x8xf32>, tensor<2x16x4xf32>, tensor<4xf32>, tensor<2x16x1x6xf32>, tensor<2x16x1x6xf32>, tensor<3xi32>) -> tensor<2x16x4x8xf32>
  return
}

// -----

func.func @ssd_cu_rank(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %cu: tensor<1x3xi32>) {
  // expected-error @+1 {{operand 'cu_seqlens' must have rank 1 [S + 1], got rank 2}}
  %y = ssm.ssd %x, %dt, %A, %B, %B cu_seqlens(%cu) : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>, tensor<1x3xi32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_cu_size(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %cu: tensor<1xi32>) {
  // expected-error @+1 {{operand 'cu_seqlens' must hold at least 2 offsets (one sequence), got 1}}
  %y = ssm.ssd %x, %dt, %A, %B, %B cu_seqlens(%cu) : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>, tensor<1xi32>) -> tensor<1x16x4x8xf32>
  return
}

// -----

func.func @ssd_cu_states(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{'cu_seqlens' has 3 offsets, so the states must hold 2 sequences, got 1}}
  %y, %h = ssm.ssd %x, %dt, %A, %B, %B cu_seqlens(%cu) : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>, tensor<3xi32>) -> (tensor<1x16x4x8xf32>, tensor<1x4x8x6xf32>)
  return
}

// -----

func.func @ss_cu_batch(%u: tensor<2x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<2x2x8xf32>, %cu: tensor<3xi32>) {
  // expected-error @+1 {{with 'cu_seqlens' the sequences are packed along L and the batch size must be 1, got 2}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B cu_seqlens(%cu) : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<2x2x8xf32>, tensor<2x2x8xf32>, tensor<3xi32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @ss_cu_rank(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %cu: tensor<1x3xi32>) {
  // expected-error @+1 {{operand 'cu_seqlens' must have rank 1 [S + 1], got rank 2}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B cu_seqlens(%cu) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x3xi32>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @ss_cu_size(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %cu: tensor<1xi64>) {
  // expected-error @+1 {{operand 'cu_seqlens' must hold at least 2 offsets (one sequence), got 1}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B cu_seqlens(%cu) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1xi64>) -> tensor<1x4x8xf32>
  return
}

// -----

func.func @ss_cu_states(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>, %cu: tensor<4xi32>) {
  // expected-error @+1 {{'cu_seqlens' has 4 offsets, so the states must hold 3 sequences, got 1}}
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B cu_seqlens(%cu) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<4xi32>) -> (tensor<1x4x8xf32>, tensor<1x4x2xf32>)
  return
}

// -----

func.func @attention_step_ring_and_window(%q: tensor<1x2x4xf32>, %kc: tensor<1x2x3x4xf32>, %pos: index) -> tensor<1x2x4xf32> {
  // expected-error @+1 {{a ring cache is its own window (the C most recent tokens); 'window' must be absent with 'ring'}}
  %o, %k1, %v1 = ssm.attention_step %q, %q, %q, %kc, %kc, %pos {ring, window = 2 : i64}
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x3x4xf32>,
         tensor<1x2x3x4xf32>, index) -> (tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o : tensor<1x2x4xf32>
}

// -----

func.func @attention_step_two_positions(%q: tensor<1x2x4xf32>, %kc: tensor<1x2x3x4xf32>, %pos: index, %ps: tensor<1xi32>) -> tensor<1x2x4xf32> {
  // expected-error @+1 {{needs exactly one of 'position' (one for the batch) and 'positions' (one per batch entry)}}
  %o, %k1, %v1 = ssm.attention_step %q, %q, %q, %kc, %kc, %pos positions(%ps)
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x3x4xf32>,
         tensor<1x2x3x4xf32>, index, tensor<1xi32>) -> (tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o : tensor<1x2x4xf32>
}

// -----

func.func @attention_step_no_position(%q: tensor<1x2x4xf32>, %kc: tensor<1x2x3x4xf32>) -> tensor<1x2x4xf32> {
  // expected-error @+1 {{needs exactly one of 'position' (one for the batch) and 'positions' (one per batch entry)}}
  %o, %k1, %v1 = ssm.attention_step %q, %q, %q, %kc, %kc
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x3x4xf32>,
         tensor<1x2x3x4xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o : tensor<1x2x4xf32>
}

// -----

func.func @attention_step_positions_shape(%q: tensor<1x2x4xf32>, %kc: tensor<1x2x3x4xf32>, %ps: tensor<2xi64>) -> tensor<1x2x4xf32> {
  // expected-error @+1 {{operand 'positions' must have shape [B] = [1], got [2] (B = 1 from 'q')}}
  %o, %k1, %v1 = ssm.attention_step %q, %q, %q, %kc, %kc positions(%ps)
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x3x4xf32>,
         tensor<1x2x3x4xf32>, tensor<2xi64>) -> (tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o : tensor<1x2x4xf32>
}

// -----

func.func @attention_step_ring_alibi(%q: tensor<1x2x4xf32>, %kc: tensor<1x2x3x4xf32>, %pos: index, %s: tensor<2xf32>) -> tensor<1x2x4xf32> {
  // expected-error @+1 {{ALiBi needs each slot's distance from the query, which a 'ring' cache does not keep}}
  %o, %k1, %v1 = ssm.attention_step %q, %q, %q, %kc, %kc, %pos alibi_slopes(%s) {ring}
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x3x4xf32>,
         tensor<1x2x3x4xf32>, index, tensor<2xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o : tensor<1x2x4xf32>
}

// -----

func.func @attention_step_softcap(%q: tensor<1x2x4xf32>, %kc: tensor<1x2x3x4xf32>, %pos: index) -> tensor<1x2x4xf32> {
  // expected-error @+1 {{'softcap' must be positive (absent: no capping), got -1.000000e+00}}
  %o, %k1, %v1 = ssm.attention_step %q, %q, %q, %kc, %kc, %pos {softcap = -1.0}
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x3x4xf32>,
         tensor<1x2x3x4xf32>, index) -> (tensor<1x2x4xf32>, tensor<1x2x3x4xf32>, tensor<1x2x3x4xf32>)
  return %o : tensor<1x2x4xf32>
}
