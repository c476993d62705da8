// The sequence mixer of one Mamba-1 layer (130M configuration: d_inner 1536,
// d_state 16) on a batch of 2 sequences of 2048 tokens: delta softplus with a
// bias, D skip, z gate, and the final state returned for decoding. Next to it,
// the same first-order recurrence written as a generic associative scan.
//
// Run: ssmc-opt examples/mamba_scan.mlir --ssm-report
func.func @mamba_mixer(%u: tensor<2x1536x2048xf32>, %delta: tensor<2x1536x2048xf32>,
                       %A: tensor<1536x16xf32>, %B: tensor<2x16x2048xf32>,
                       %C: tensor<2x16x2048xf32>, %D: tensor<1536xf32>,
                       %z: tensor<2x1536x2048xf32>, %dt_bias: tensor<1536xf32>)
    -> (tensor<2x1536x2048xf32>, tensor<2x1536x16xf32>) {
  %y, %h = ssm.selective_scan %u, %delta, %A, %B, %C D(%D) z(%z) delta_bias(%dt_bias) delta_softplus
      : (tensor<2x1536x2048xf32>, tensor<2x1536x2048xf32>, tensor<1536x16xf32>,
         tensor<2x16x2048xf32>, tensor<2x16x2048xf32>, tensor<1536xf32>,
         tensor<2x1536x2048xf32>, tensor<1536xf32>)
      -> (tensor<2x1536x2048xf32>, tensor<2x1536x16xf32>)
  return %y, %h : tensor<2x1536x2048xf32>, tensor<2x1536x16xf32>
}

// h_t = a_t * h_{t-1} + b_t for 1536 lanes, as a scan of (a, b) pairs.
func.func @linear_recurrence(%a: tensor<1536x2048xf32>, %b: tensor<1536x2048xf32>)
    -> tensor<1536x2048xf32> {
  %prod, %h = ssm.scan %a, %b axis = 1
      : (tensor<1536x2048xf32>, tensor<1536x2048xf32>)
      -> (tensor<1536x2048xf32>, tensor<1536x2048xf32>) {
  ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
    %p = arith.mulf %a1, %a2 : f32
    %m = arith.mulf %a2, %b1 : f32
    %s = arith.addf %m, %b2 : f32
    ssm.yield %p, %s : f32, f32
  }
  return %h : tensor<1536x2048xf32>
}
