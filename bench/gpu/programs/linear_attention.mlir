// Gated linear attention: (B = 4, H = 32, L = 2048, K = 64, V = 128), a decay per step.
func.func @bench_linear_attention(%q: tensor<4x32x2048x64xf32>, %k: tensor<4x32x2048x64xf32>,
                                  %v: tensor<4x32x2048x128xf32>, %g: tensor<4x32x2048xf32>)
    -> tensor<4x32x2048x128xf32> {
  %o = ssm.linear_attention %q, %k, %v gate(%g)
      : (tensor<4x32x2048x64xf32>, tensor<4x32x2048x64xf32>, tensor<4x32x2048x128xf32>,
         tensor<4x32x2048xf32>) -> tensor<4x32x2048x128xf32>
  return %o : tensor<4x32x2048x128xf32>
}
