// bf16 activations with f32 parameters and state: within 1e-2 relative of
// the double reference computed from the same bf16 inputs.
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --dtype bf16 --batch 1 --channels 24 --len 40 --state 16 --full --seed 8
// RUN: ssmc-run %s --input %t/u.safetensors --input %t/dt.safetensors --input %t/A.npy --input %t/B.safetensors:B \
// RUN:   --input %t/C.safetensors --input %t/D.npy --input %t/z.safetensors --input %t/bias.npy --input %t/h0.npy \
// RUN:   --output %t/y.safetensors
// RUN: ssmc-testdata compare %t/y.safetensors %t/ref_out.npy --rtol 1e-2 | FileCheck %s
// CHECK: OK

func.func @main(%u: tensor<1x24x40xbf16>, %dt: tensor<1x24x40xbf16>, %A: tensor<24x16xf32>,
                %B: tensor<1x16x40xbf16>, %C: tensor<1x16x40xbf16>, %D: tensor<24xf32>,
                %z: tensor<1x24x40xbf16>, %bias: tensor<24xf32>, %h0: tensor<1x24x16xf32>)
    -> tensor<1x24x40xbf16> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<1x24x40xbf16>, tensor<1x24x40xbf16>, tensor<24x16xf32>, tensor<1x16x40xbf16>,
         tensor<1x16x40xbf16>, tensor<24xf32>, tensor<1x24x40xbf16>, tensor<24xf32>, tensor<1x24x16xf32>)
      -> tensor<1x24x40xbf16>
  return %y : tensor<1x24x40xbf16>
}
