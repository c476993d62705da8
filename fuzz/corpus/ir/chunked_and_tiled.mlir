func.func @main(%u: tensor<1x20x35xf32>, %A: tensor<20x4xf32>, %B: tensor<1x4x35xf32>, %D: tensor<20xf32>,
                %q: tensor<1x2x11x5xf32>, %v: tensor<1x2x11x19xf32>, %g: tensor<1x2x11xf32>,
                %x: tensor<1x11x2x7xbf16>, %dt: tensor<1x11x2xbf16>, %Ah: tensor<2xf32>, %Bs: tensor<1x11x1x9xbf16>)
    -> (tensor<1x20x35xf32>, tensor<1x2x11x19xf32>, tensor<1x2x5x19xf32>, tensor<1x11x2x7xbf16>) {
  %y = ssm.selective_scan %u, %u, %A, %B, %B D(%D) z(%u) delta_bias(%D) delta_softplus
      : (tensor<1x20x35xf32>, tensor<1x20x35xf32>, tensor<20x4xf32>, tensor<1x4x35xf32>, tensor<1x4x35xf32>, tensor<20xf32>, tensor<1x20x35xf32>, tensor<20xf32>) -> tensor<1x20x35xf32>
  %o, %s = ssm.linear_attention %q, %q, %v gate(%g) {feature_map = #ssm.feature_map<elu_plus_one>}
      : (tensor<1x2x11x5xf32>, tensor<1x2x11x5xf32>, tensor<1x2x11x19xf32>, tensor<1x2x11xf32>) -> (tensor<1x2x11x19xf32>, tensor<1x2x5x19xf32>)
  %yb = ssm.ssd %x, %dt, %Ah, %Bs, %Bs D(%Ah) z(%x) dt_softplus
      : (tensor<1x11x2x7xbf16>, tensor<1x11x2xbf16>, tensor<2xf32>, tensor<1x11x1x9xbf16>, tensor<1x11x1x9xbf16>, tensor<2xf32>, tensor<1x11x2x7xbf16>) -> tensor<1x11x2x7xbf16>
  return %y, %o, %s, %yb : tensor<1x20x35xf32>, tensor<1x2x11x19xf32>, tensor<1x2x5x19xf32>, tensor<1x11x2x7xbf16>
}
