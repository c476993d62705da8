// Mamba-2 130M layer: (1, L = 2048, H = 24, P = 64, G = 1, N = 128), D, z, dt_bias, softplus.
func.func @bench_ssd(%x: tensor<1x2048x24x64xf32>, %dt: tensor<1x2048x24xf32>, %A: tensor<24xf32>,
                   %B: tensor<1x2048x1x128xf32>, %C: tensor<1x2048x1x128xf32>, %D: tensor<24xf32>,
                   %z: tensor<1x2048x24x64xf32>, %bias: tensor<24xf32>) -> tensor<1x2048x24x64xf32> {
  %y = ssm.ssd %x, %dt, %A, %B, %C D(%D) z(%z) dt_bias(%bias) dt_softplus
      : (tensor<1x2048x24x64xf32>, tensor<1x2048x24xf32>, tensor<24xf32>, tensor<1x2048x1x128xf32>,
         tensor<1x2048x1x128xf32>, tensor<24xf32>, tensor<1x2048x24x64xf32>, tensor<24xf32>) -> tensor<1x2048x24x64xf32>
  return %y : tensor<1x2048x24x64xf32>
}
