// Causal softmax attention: (B = 1, H = 16, L = 4096, d = dv = 64).
func.func @bench_attention(%q: tensor<1x16x4096x64xf32>, %k: tensor<1x16x4096x64xf32>,
                           %v: tensor<1x16x4096x64xf32>) -> tensor<1x16x4096x64xf32> {
  %o = ssm.attention %q, %k, %v causal
      : (tensor<1x16x4096x64xf32>, tensor<1x16x4096x64xf32>, tensor<1x16x4096x64xf32>) -> tensor<1x16x4096x64xf32>
  return %o : tensor<1x16x4096x64xf32>
}
