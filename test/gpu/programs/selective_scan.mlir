func.func @gpu_selective_scan(%u: tensor<2x37x300xf32>, %dt: tensor<2x37x300xf32>, %A: tensor<37x16xf32>,
                %B: tensor<2x16x300xf32>, %C: tensor<2x16x300xf32>, %D: tensor<37xf32>,
                %z: tensor<2x37x300xf32>, %bias: tensor<37xf32>, %h0: tensor<2x37x16xf32>)
    -> (tensor<2x37x300xf32>, tensor<2x37x16xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<2x37x300xf32>, tensor<2x37x300xf32>, tensor<37x16xf32>, tensor<2x16x300xf32>,
         tensor<2x16x300xf32>, tensor<37xf32>, tensor<2x37x300xf32>, tensor<37xf32>, tensor<2x37x16xf32>)
      -> (tensor<2x37x300xf32>, tensor<2x37x16xf32>)
  return %y, %h : tensor<2x37x300xf32>, tensor<2x37x16xf32>
}
