func.func @gpu_attention(%q: tensor<2x6x150x16xf32>, %k: tensor<2x2x200x16xf32>, %v: tensor<2x2x200x16xf32>)
    -> tensor<2x6x150x16xf32> {
  %o = ssm.attention %q, %k, %v causal {window = 4 : i64}
      : (tensor<2x6x150x16xf32>, tensor<2x2x200x16xf32>, tensor<2x2x200x16xf32>) -> tensor<2x6x150x16xf32>
  return %o : tensor<2x6x150x16xf32>
}
