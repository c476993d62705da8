// Not distributable: the scan's output slice is added to an input slice.
func.func @main(%u: tensor<1x3x8xf32>, %dt: tensor<1x3x8xf32>, %A: tensor<3x2xf32>,
                 %B: tensor<1x2x8xf32>, %C: tensor<1x2x8xf32>) -> tensor<1x3x8xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<3x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>)
      -> tensor<1x3x8xf32>
  %s = arith.addf %y, %u : tensor<1x3x8xf32>
  return %s : tensor<1x3x8xf32>
}
