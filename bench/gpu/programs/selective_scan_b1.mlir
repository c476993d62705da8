// Mamba-1 130M layer: (1, 1536, L = 2048, N = 16), D, z, delta_bias, softplus.
func.func @bench_selective_scan_b1(%u: tensor<1x1536x2048xf32>, %dt: tensor<1x1536x2048xf32>, %A: tensor<1536x16xf32>,
                %B: tensor<1x16x2048xf32>, %C: tensor<1x16x2048xf32>, %D: tensor<1536xf32>,
                %z: tensor<1x1536x2048xf32>, %bias: tensor<1536xf32>) -> tensor<1x1536x2048xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) delta_softplus
      : (tensor<1x1536x2048xf32>, tensor<1x1536x2048xf32>, tensor<1536x16xf32>, tensor<1x16x2048xf32>,
         tensor<1x16x2048xf32>, tensor<1536xf32>, tensor<1x1536x2048xf32>, tensor<1536xf32>) -> tensor<1x1536x2048xf32>
  return %y : tensor<1x1536x2048xf32>
}
