func.func @gpu_linear_attention(%q: tensor<2x3x1100x8xf32>, %k: tensor<2x3x1100x8xf32>, %v: tensor<2x3x1100x16xf32>,
                                %g: tensor<2x3x1100x8xf32>, %h0: tensor<2x3x8x16xf32>)
    -> (tensor<2x3x1100x16xf32>, tensor<2x3x8x16xf32>) {
  %o, %s = ssm.linear_attention %q, %k, %v gate(%g) h0(%h0) {scale = 0.5}
      : (tensor<2x3x1100x8xf32>, tensor<2x3x1100x8xf32>, tensor<2x3x1100x16xf32>, tensor<2x3x1100x8xf32>,
         tensor<2x3x8x16xf32>) -> (tensor<2x3x1100x16xf32>, tensor<2x3x8x16xf32>)
  return %o, %s : tensor<2x3x1100x16xf32>, tensor<2x3x8x16xf32>
}
