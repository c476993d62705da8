// The ssm-report pass: state size and per-token cost as remarks.
// Expected numbers are counted by hand from the ops' formulas (see
// docs/cost-model.md), not read back from the implementation.
// RUN: ssmc-opt %s -split-input-file -ssm-report -verify-diagnostics

// B=2, Dm=8, N=4, L=16, f32, with D, z, softplus:
//   state 2*8*4 = 64 elements, 256 bytes
//   flops/token 2*8*(1 + 1 + 2 + 3 + 6*4) = 496, transcendentals 2*8*(2+1+4) = 112
//   bytes/token 2*8*4 streams*4 B + 2 batches*(1+1) groups*4*4 B = 320
//   params: A 128 B + D 32 B + final state 256 B = 416; total bytes 16*320+416 = 5536
func.func @mamba(%u: tensor<2x8x16xf32>, %dt: tensor<2x8x16xf32>, %A: tensor<8x4xf32>,
                 %B: tensor<2x4x16xf32>, %C: tensor<2x4x16xf32>, %D: tensor<8xf32>,
                 %z: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>) {
  // expected-remark @+1 {{ssm.selective_scan: state 64 elements (256 bytes, f32); per token 496 flops, 112 transcendentals, 320 bytes; total over L=16: 7936 flops, 1792 transcendentals, 5536 bytes}}
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_softplus
      : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x4x16xf32>,
         tensor<2x4x16xf32>, tensor<8xf32>, tensor<2x8x16xf32>)
      -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>)
  return %y, %h : tensor<2x8x16xf32>, tensor<2x8x4xf32>
}

// -----

// bf16 activations, grouped B (G=2), f32 state: state bytes use f32;
// flops/token 1*4*(1 + 6*2) = 52; transcendentals 4*2 = 8;
// bytes/token 1*4*3*2 + 1*(2+1)*2*2 = 36.
func.func @bf16_grouped(%u: tensor<1x4x8xbf16>, %A: tensor<4x2xf32>,
    %B: tensor<1x2x2x8xbf16>, %C: tensor<1x2x8xbf16>) -> tensor<1x4x8xbf16> {
  // expected-remark @+1 {{ssm.selective_scan: state 8 elements (32 bytes, f32); per token 52 flops, 8 transcendentals, 36 bytes; total over L=8: 416 flops, 64 transcendentals, 320 bytes}}
  %y = ssm.selective_scan %u, %u, %A, %B, %C
      : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<1x2x2x8xbf16>,
         tensor<1x2x8xbf16>) -> tensor<1x4x8xbf16>
  return %y : tensor<1x4x8xbf16>
}

// -----

// Dynamic batch and length: sizes that depend on them are unknown.
func.func @dynamic(%u: tensor<?x4x?xf32>, %A: tensor<4x2xf32>, %B: tensor<?x2x?xf32>)
    -> tensor<?x4x?xf32> {
  // expected-remark @+1 {{ssm.selective_scan: state ? elements (? bytes, f32); per token ? flops, ? transcendentals, ? bytes; total over L=?: ? flops, ? transcendentals, ? bytes}}
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<?x4x?xf32>, tensor<?x4x?xf32>, tensor<4x2xf32>, tensor<?x2x?xf32>,
         tensor<?x2x?xf32>) -> tensor<?x4x?xf32>
  return %y : tensor<?x4x?xf32>
}

// -----

// Linear-recurrence scan over 4 lanes of 128 steps: state 4 lanes * 2 values,
// 3 arith ops per lane and step, 2 f32 read + 2 written per lane and step.
func.func @scan(%a: tensor<4x128xf32>, %b: tensor<4x128xf32>) -> tensor<4x128xf32> {
  // expected-remark @+1 {{ssm.scan: state 8 elements (32 bytes, f32); per token 12 flops, 0 transcendentals, 64 bytes; total over L=128: 1536 flops, 0 transcendentals, 8192 bytes}}
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

// -----

// A log-sum-exp scan along axis 0 with an init value: one transcendental per
// lane and step counted from the math ops.
func.func @logcumsumexp(%x: tensor<10x3xf64>, %init: f64) -> tensor<10x3xf64> {
  // expected-remark @+1 {{ssm.scan: state 3 elements (24 bytes, f64); per token 6 flops, 6 transcendentals, 48 bytes; total over L=10: 60 flops, 60 transcendentals, 488 bytes}}
  %r = ssm.scan %x init(%init : f64) axis = 0 : (tensor<10x3xf64>) -> tensor<10x3xf64> {
  ^bb0(%acc: f64, %next: f64):
    %m = arith.maximumf %acc, %next : f64
    %d = arith.subf %acc, %next : f64
    %e = math.exp %d : f64
    %l = math.log1p %e : f64
    ssm.yield %l : f64
  }
  return %r : tensor<10x3xf64>
}

// -----

// Linear attention, B=2, H=4, L=16, K=8, V=6, per-step gate, normalised,
// elu+1: state 2*4*(8*6 + 8) = 448 f32; per head and step 5KV + K + 2K +
// 4K + V = 302 flops, 1 + 2K = 17 transcendentals; (2K + 2V) * 4 + 4 = 116
// bytes; h0 and final state 2 * 1536 bytes are touched once.
func.func @linear_attention(%q: tensor<2x4x16x8xf32>, %v: tensor<2x4x16x6xf32>, %g: tensor<2x4x16xf32>,
                            %h0: tensor<2x4x8x6xf32>) -> (tensor<2x4x16x6xf32>, tensor<2x4x8x6xf32>) {
  // expected-remark @+1 {{ssm.linear_attention: state 448 elements (1792 bytes, f32); per token 2416 flops, 136 transcendentals, 928 bytes; total over L=16: 38656 flops, 2176 transcendentals, 17920 bytes}}
  %o, %s = ssm.linear_attention %q, %q, %v gate(%g) h0(%h0) normalize {feature_map = #ssm.feature_map<elu_plus_one>, scale = 0.5}
      : (tensor<2x4x16x8xf32>, tensor<2x4x16x8xf32>, tensor<2x4x16x6xf32>, tensor<2x4x16xf32>,
         tensor<2x4x8x6xf32>) -> (tensor<2x4x16x6xf32>, tensor<2x4x8x6xf32>)
  return %o, %s : tensor<2x4x16x6xf32>, tensor<2x4x8x6xf32>
}

// -----

// Packed sequences: the state count follows cu_seqlens (3 sequences).
func.func @linear_attention_varlen(%q: tensor<1x2x10x4xf32>, %cu: tensor<4xi32>) -> tensor<1x2x10x4xf32> {
  // expected-remark @+1 {{ssm.linear_attention: state 96 elements (384 bytes, f32)}}
  %o = ssm.linear_attention %q, %q, %q cu_seqlens(%cu)
      : (tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<1x2x10x4xf32>, tensor<4xi32>) -> tensor<1x2x10x4xf32>
  return %o : tensor<1x2x10x4xf32>
}

// -----

// Attention's state is its KV cache: all keys, or the window's. B=1, H=4,
// Hkv=2, L=8, d=dv=16, window 3: cache 2*3*32 = 192; the last query sees 3
// keys at 2d + 2dv + 5 = 69 flops each, on 4 heads: 828; in total the
// queries see 1+2+3*6 = 21 keys: 21*69*4 = 5796 flops; bytes (4*32 + 2*3*32)*4
// per token and (4*8*32 + 2*21*32)*4 in total.
func.func @attention(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32> {
  // expected-remark @+1 {{ssm.attention: state 192 elements (768 bytes, f32); per token 828 flops, 24 transcendentals, 1280 bytes; total over L=8: 5796 flops, 168 transcendentals, 9472 bytes}}
  %o = ssm.attention %q, %k, %k causal {window = 3 : i64}
      : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x4x8x16xf32>
  return %o : tensor<1x4x8x16xf32>
}

// -----

// A two-sided window (left 1, right 2) without causal, with a softcap.
// B=1, H=2, Hkv=1, L=6, d=dv=4: query i sees [i-1, i+2] within [0, 6):
// 3+4+4+4+3+2 = 20 keys, the last query 2. Per key 2d + 2dv + 5 = 21 flops
// and 3 transcendentals (2 exps, tanh). Cache: left + 1 = 2 keys, 2*8 = 16
// values; bytes (2*8 + 2*8)*4 per token and (2*6*8 + 20*8)*4 in total.
func.func @attention_two_sided(%q: tensor<1x2x6x4xf32>, %k: tensor<1x1x6x4xf32>) -> tensor<1x2x6x4xf32> {
  // expected-remark @+1 {{ssm.attention: state 16 elements (64 bytes, f32); per token 84 flops, 12 transcendentals, 128 bytes; total over L=6: 840 flops, 120 transcendentals, 1024 bytes}}
  %o = ssm.attention %q, %k, %k {window_left = 1 : i64, window_right = 2 : i64, softcap = 50.0}
      : (tensor<1x2x6x4xf32>, tensor<1x1x6x4xf32>, tensor<1x1x6x4xf32>) -> tensor<1x2x6x4xf32>
  return %o : tensor<1x2x6x4xf32>
}

// -----

// Without a window the cache (and the per-token cost) grows with L.
func.func @attention_full_cache(%q: tensor<1x1x100x8xf32>) -> tensor<1x1x100x8xf32> {
  // expected-remark @+1 {{ssm.attention: state 1600 elements (6400 bytes, f32); per token 3700 flops}}
  %o = ssm.attention %q, %q, %q causal
      : (tensor<1x1x100x8xf32>, tensor<1x1x100x8xf32>, tensor<1x1x100x8xf32>) -> tensor<1x1x100x8xf32>
  return %o : tensor<1x1x100x8xf32>
}

// -----

// SSD, B=1, L=16, H=4, P=8, G=1, N=6, plain: state 1*4*8*6 = 192 f32;
// per head 1 + P*(1 + 5N) = 249 flops, 1 exp; bytes (4*(8*2 + 1) + 2*1*6)*4.
func.func @ssd(%x: tensor<1x16x4x8xf32>, %dt: tensor<1x16x4xf32>, %A: tensor<4xf32>, %B: tensor<1x16x1x6xf32>) -> tensor<1x16x4x8xf32> {
  // expected-remark @+1 {{ssm.ssd: state 192 elements (768 bytes, f32); per token 996 flops, 4 transcendentals, 320 bytes; total over L=16: 15936 flops, 64 transcendentals, 5136 bytes}}
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x16x4x8xf32>, tensor<1x16x4xf32>, tensor<4xf32>, tensor<1x16x1x6xf32>, tensor<1x16x1x6xf32>) -> tensor<1x16x4x8xf32>
  return %y : tensor<1x16x4x8xf32>
}

// -----

// Causal conv: state = the last W - 1 inputs of every channel (2*8*3 = 48);
// per token 2*8*(2W + 3) flops with silu, 16 exps, 2*8*2*4 bytes.
func.func @causal_conv1d(%x: tensor<2x8x16xf32>, %w: tensor<8x4xf32>) -> tensor<2x8x16xf32> {
  // expected-remark @+1 {{ssm.causal_conv1d: state 48 elements (192 bytes, f32); per token 176 flops, 16 transcendentals, 128 bytes}}
  %y = ssm.causal_conv1d %x, %w silu : (tensor<2x8x16xf32>, tensor<8x4xf32>) -> tensor<2x8x16xf32>
  return %y : tensor<2x8x16xf32>
}

// -----

// Decode steps cost one token of the sequence op they equal: constant state
// for the recurrent steps, the KV cache (or the window's part) for attention.
// selective_scan_step: state 1*20*4 = 80; 20 * (1 + 1 + 6*4) = 520 flops.
// attention_step, cache 16 slots, window 4: 2*4*(8+8) = 128 cached values;
// 4 heads * 4 keys * (2*8 + 2*8 + 5) = 592 flops.
func.func @steps(%u: tensor<1x20xf32>, %A: tensor<20x4xf32>, %B: tensor<1x4xf32>, %h: tensor<1x20x4xf32>,
                 %q: tensor<1x4x8xf32>, %k: tensor<1x2x8xf32>, %kc: tensor<1x2x16x8xf32>, %p: index)
    -> (tensor<1x20xf32>, tensor<1x20x4xf32>, tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>) {
  // expected-remark @+1 {{ssm.selective_scan_step: state 80 elements (320 bytes, f32); per token 520 flops, 120 transcendentals}}
  %y, %h1 = ssm.selective_scan_step %u, %u, %A, %B, %B, %h delta_softplus
      : (tensor<1x20xf32>, tensor<1x20xf32>, tensor<20x4xf32>, tensor<1x4xf32>, tensor<1x4xf32>, tensor<1x20x4xf32>)
      -> (tensor<1x20xf32>, tensor<1x20x4xf32>)
  // expected-remark @+1 {{ssm.attention_step: state 128 elements (512 bytes, f32); per token 592 flops, 32 transcendentals}}
  %o, %k1, %v1 = ssm.attention_step %q, %k, %k, %kc, %kc, %p {window = 4 : i64}
      : (tensor<1x4x8xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>, index)
      -> (tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>)
  return %y, %h1, %o, %k1, %v1 : tensor<1x20xf32>, tensor<1x20x4xf32>, tensor<1x4x8xf32>, tensor<1x2x16x8xf32>, tensor<1x2x16x8xf32>
}

// -----

// ssd_step and linear_attention_step: the state of one token's update.
// ssd_step: 1*4*8*6 = 192; linear_attention_step: 1*2*4*4 = 32.
func.func @more_steps(%x: tensor<1x4x8xf32>, %dt: tensor<1x4xf32>, %A: tensor<4xf32>, %B: tensor<1x1x6xf32>,
                      %h: tensor<1x4x8x6xf32>, %q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>)
    -> (tensor<1x4x8xf32>, tensor<1x4x8x6xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>) {
  // expected-remark @+1 {{ssm.ssd_step: state 192 elements (768 bytes, f32)}}
  %y, %h1 = ssm.ssd_step %x, %dt, %A, %B, %B, %h
      : (tensor<1x4x8xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1x1x6xf32>, tensor<1x1x6xf32>, tensor<1x4x8x6xf32>)
      -> (tensor<1x4x8xf32>, tensor<1x4x8x6xf32>)
  // expected-remark @+1 {{ssm.linear_attention_step: state 32 elements (128 bytes, f32)}}
  %o, %s1 = ssm.linear_attention_step %q, %q, %q, %s
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>) -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>)
  return %y, %h1, %o, %s1 : tensor<1x4x8xf32>, tensor<1x4x8x6xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>
}

// -----

// A normalised linear_attention_step carries the normaliser too: 1*2*(4*4 + 4) = 40.
func.func @normalized_step(%q: tensor<1x2x4xf32>, %s: tensor<1x2x4x4xf32>, %z: tensor<1x2x4xf32>)
    -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>) {
  // expected-remark @+1 {{ssm.linear_attention_step: state 40 elements (160 bytes, f32)}}
  %o, %s1, %z1 = ssm.linear_attention_step %q, %q, %q, %s z(%z) normalize
      : (tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
      -> (tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>)
  return %o, %s1, %z1 : tensor<1x2x4xf32>, tensor<1x2x4x4xf32>, tensor<1x2x4xf32>
}
