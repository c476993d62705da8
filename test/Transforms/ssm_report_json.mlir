// The ssm-report pass: the JSON document and the seq-len option.
// Expected numbers are counted by hand from the ops' formulas (see
// docs/cost-model.md), not read back from the implementation.
// RUN: ssmc-opt %s -split-input-file -ssm-report='remarks=false json=-' | FileCheck %s --check-prefix=JSON
// RUN: ssmc-opt %s -split-input-file -ssm-report='remarks=false seq-len=1000 json=-' | FileCheck %s --check-prefix=LEN
// RUN: not ssmc-opt %s -split-input-file -ssm-report='remarks=false json=%s/x.json' 2>&1 | FileCheck %s --check-prefix=BADFILE

// B=2, Dm=8, N=4, L=16, f32, with D, z, softplus:
//   state 2*8*4 = 64 elements, 256 bytes
//   flops/token 2*8*(1 + 1 + 2 + 3 + 6*4) = 496, transcendentals 2*8*(2+1+4) = 112
//   bytes/token 2*8*4 streams*4 B + 2 batches*(1+1) groups*4*4 B = 320
//   params: A 128 B + D 32 B + final state 256 B = 416; total bytes 16*320+416 = 5536
func.func @mamba(%u: tensor<2x8x16xf32>, %dt: tensor<2x8x16xf32>, %A: tensor<8x4xf32>,
                 %B: tensor<2x4x16xf32>, %C: tensor<2x4x16xf32>, %D: tensor<8xf32>,
                 %z: tensor<2x8x16xf32>) -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_softplus
      : (tensor<2x8x16xf32>, tensor<2x8x16xf32>, tensor<8x4xf32>, tensor<2x4x16xf32>,
         tensor<2x4x16xf32>, tensor<8xf32>, tensor<2x8x16xf32>)
      -> (tensor<2x8x16xf32>, tensor<2x8x4xf32>)
  return %y, %h : tensor<2x8x16xf32>, tensor<2x8x4xf32>
}
// JSON: "op": "ssm.selective_scan"
// JSON: "state_bytes": 256
// JSON: "state_elements": 64
// JSON: "total_flops": 7936
// LEN: "seq_len": 1000
// LEN: "total_flops": 496000
// BADFILE: error: ssm-report: cannot open JSON output

// -----

// bf16 activations, grouped B (G=2), f32 state: state bytes use f32;
// flops/token 1*4*(1 + 6*2) = 52; transcendentals 4*2 = 8;
// bytes/token 1*4*3*2 + 1*(2+1)*2*2 = 36.
func.func @bf16_grouped(%u: tensor<1x4x8xbf16>, %A: tensor<4x2xf32>,
    %B: tensor<1x2x2x8xbf16>, %C: tensor<1x2x8xbf16>) -> tensor<1x4x8xbf16> {
  %y = ssm.selective_scan %u, %u, %A, %B, %C
      : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<1x2x2x8xbf16>,
         tensor<1x2x8xbf16>) -> tensor<1x4x8xbf16>
  return %y : tensor<1x4x8xbf16>
}
// JSON: "state_bytes": 32
// LEN: "total_flops": 52000

// -----

// Dynamic batch and length: sizes that depend on them are unknown.
func.func @dynamic(%u: tensor<?x4x?xf32>, %A: tensor<4x2xf32>, %B: tensor<?x2x?xf32>)
    -> tensor<?x4x?xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<?x4x?xf32>, tensor<?x4x?xf32>, tensor<4x2xf32>, tensor<?x2x?xf32>,
         tensor<?x2x?xf32>) -> tensor<?x4x?xf32>
  return %y : tensor<?x4x?xf32>
}
// JSON: "state_elements": null
// LEN: "seq_len": 1000

// -----

// Linear-recurrence scan over 4 lanes of 128 steps: state 4 lanes * 2 values,
// 3 arith ops per lane and step, 2 f32 read + 2 written per lane and step.
func.func @scan(%a: tensor<4x128xf32>, %b: tensor<4x128xf32>) -> tensor<4x128xf32> {
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
// JSON: "op": "ssm.scan"
// JSON: "state_elements": 8

// -----

// A log-sum-exp scan along axis 0 with an init value: one transcendental per
// lane and step counted from the math ops.
func.func @logcumsumexp(%x: tensor<10x3xf64>, %init: f64) -> tensor<10x3xf64> {
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
