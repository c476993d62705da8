func.func @gpu_causal_conv1d(%x: tensor<2x7x13xf32>, %w: tensor<7x4xf32>, %b: tensor<7xf32>,
                             %s: tensor<2x7x3xf32>) -> (tensor<2x7x13xf32>, tensor<2x7x3xf32>) {
  %y, %f = ssm.causal_conv1d %x, %w bias(%b) initial_state(%s) silu
      : (tensor<2x7x13xf32>, tensor<7x4xf32>, tensor<7xf32>, tensor<2x7x3xf32>)
      -> (tensor<2x7x13xf32>, tensor<2x7x3xf32>)
  return %y, %f : tensor<2x7x13xf32>, tensor<2x7x3xf32>
}
