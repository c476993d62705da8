// Mamba-1 130M short convolution: (1, 1536, L = 2048, W = 4), bias, SiLU.
func.func @bench_causal_conv1d(%x: tensor<1x1536x2048xf32>, %w: tensor<1536x4xf32>, %b: tensor<1536xf32>)
    -> tensor<1x1536x2048xf32> {
  %y = ssm.causal_conv1d %x, %w bias(%b) silu
      : (tensor<1x1536x2048xf32>, tensor<1536x4xf32>, tensor<1536xf32>) -> tensor<1x1536x2048xf32>
  return %y : tensor<1x1536x2048xf32>
}
