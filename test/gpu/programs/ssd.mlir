func.func @gpu_ssd(%x: tensor<2x1100x4x21xf32>, %dt: tensor<2x1100x4xf32>, %A: tensor<4xf32>,
                   %B: tensor<2x1100x2x5xf32>, %C: tensor<2x1100x2x5xf32>, %D: tensor<4xf32>,
                   %z: tensor<2x1100x4x21xf32>, %bias: tensor<4xf32>, %h0: tensor<2x4x21x5xf32>)
    -> (tensor<2x1100x4x21xf32>, tensor<2x4x21x5xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %C D(%D) z(%z) dt_bias(%bias) h0(%h0) dt_softplus
      : (tensor<2x1100x4x21xf32>, tensor<2x1100x4xf32>, tensor<4xf32>, tensor<2x1100x2x5xf32>,
         tensor<2x1100x2x5xf32>, tensor<4xf32>, tensor<2x1100x4x21xf32>, tensor<4xf32>, tensor<2x4x21x5xf32>)
      -> (tensor<2x1100x4x21xf32>, tensor<2x4x21x5xf32>)
  return %y, %h : tensor<2x1100x4x21xf32>, tensor<2x4x21x5xf32>
}
