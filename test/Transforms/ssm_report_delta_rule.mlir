// ssm-report on ssm.delta_rule and ssm.delta_rule_step. Expected numbers
// are counted by hand from the op's formula (docs/cost-model.md).
// RUN: ssmc-opt %s -split-input-file -ssm-report -verify-diagnostics

// Gated DeltaNet, B=1, T=16, Hk=2 query/key heads, H=4 value heads, K=8,
// V=6, f32, l2norm, h0 and final state:
//   state 4*8*6 = 192 elements, 768 bytes
//   flops per value head: KV*(6 + 1 decay) + 2K + 2V = 336 + 16 + 12 = 364,
//   times 4; per q/k head 6K = 48, times 2: 1456 + 96 = 1552
//   transcendentals: 4 decays + 2*2 rsqrt = 8
//   bytes: q, k 2*2*8*4 = 128; v, out, beta, gate 4*(2*6*4 + 4 + 4) = 224
//   params: h0 + final state 1536; total 16*352 + 1536 = 7168
func.func @gated(%q: tensor<1x16x2x8xf32>, %v: tensor<1x16x4x6xf32>, %beta: tensor<1x16x4xf32>,
                 %h0: tensor<1x4x8x6xf32>) -> (tensor<1x16x4x6xf32>, tensor<1x4x8x6xf32>) {
  // expected-remark @+1 {{ssm.delta_rule: state 192 elements (768 bytes, f32); per token 1552 flops, 8 transcendentals, 352 bytes; total over L=16: 24832 flops, 128 transcendentals, 7168 bytes}}
  %o, %s = ssm.delta_rule %q, %q, %v beta(%beta) gate(%beta) h0(%h0) use_qk_l2norm
      : (tensor<1x16x2x8xf32>, tensor<1x16x2x8xf32>, tensor<1x16x4x6xf32>, tensor<1x16x4xf32>,
         tensor<1x16x4xf32>, tensor<1x4x8x6xf32>) -> (tensor<1x16x4x6xf32>, tensor<1x4x8x6xf32>)
  return %o, %s : tensor<1x16x4x6xf32>, tensor<1x4x8x6xf32>
}

// -----

// RWKV-7 (DPLR), bf16 activations, f32 gate, B=1, T=4, H=Hk=2, K=V=4:
//   state 2*4*4 = 32 elements (f32)
//   flops per head KV*(8 + 1) + 2K = 152, times 2 = 304
//   transcendentals: one exp per key and head, 8
//   bytes: q, k 2*2*4*2 = 32; per head v, out 2*4*2 + gate 4*4 + a, b 2*4*2
//   = 48, times 2 = 96; 128 per token, 512 in total
func.func @rwkv7(%x: tensor<1x4x2x4xbf16>, %g: tensor<1x4x2x4xf32>) -> tensor<1x4x2x4xbf16> {
  // expected-remark @+1 {{ssm.delta_rule: state 32 elements (128 bytes, f32); per token 304 flops, 8 transcendentals, 128 bytes; total over L=4: 1216 flops, 32 transcendentals, 512 bytes}}
  %o = ssm.delta_rule %x, %x, %x gate(%g) a(%x) b(%x)
      : (tensor<1x4x2x4xbf16>, tensor<1x4x2x4xbf16>, tensor<1x4x2x4xbf16>, tensor<1x4x2x4xf32>,
         tensor<1x4x2x4xbf16>, tensor<1x4x2x4xbf16>) -> tensor<1x4x2x4xbf16>
  return %o : tensor<1x4x2x4xbf16>
}

// -----

// Packed sequences: one state per sequence (3), 3*2*4*4 = 96 elements.
func.func @varlen(%q: tensor<1x10x2x4xf32>, %beta: tensor<1x10x2xf32>, %cu: tensor<4xi32>) -> tensor<1x10x2x4xf32> {
  // expected-remark @+1 {{ssm.delta_rule: state 96 elements (384 bytes, f32)}}
  %o = ssm.delta_rule %q, %q, %q beta(%beta) cu_seqlens(%cu)
      : (tensor<1x10x2x4xf32>, tensor<1x10x2x4xf32>, tensor<1x10x2x4xf32>, tensor<1x10x2xf32>, tensor<4xi32>) -> tensor<1x10x2x4xf32>
  return %o : tensor<1x10x2x4xf32>
}

// -----

// The decode step costs one token: B=2, Hk=1, H=2, K=8, V=3, DeltaNet:
//   state 2*2*8*3 = 96; flops 2*2*(24*6 + 16 + 6) = 664; bytes
//   2*(2*8*4 + 2*(2*3*4 + 4)) = 240.
func.func @step(%q: tensor<2x1x8xf32>, %v: tensor<2x2x3xf32>, %s: tensor<2x2x8x3xf32>, %beta: tensor<2x2xf32>)
    -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>) {
  // expected-remark @+1 {{ssm.delta_rule_step: state 96 elements (384 bytes, f32); per token 664 flops, 0 transcendentals, 240 bytes}}
  %o, %s1 = ssm.delta_rule_step %q, %q, %v, %s beta(%beta)
      : (tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x2x3xf32>, tensor<2x2x8x3xf32>, tensor<2x2xf32>)
      -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>)
  return %o, %s1 : tensor<2x2x3xf32>, tensor<2x2x8x3xf32>
}
