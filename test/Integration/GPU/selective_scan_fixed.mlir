// selective_scan with B fixed over time ([Dm, N], mamba_ssm's non-selective
// B) next to a variable C, every optional operand, odd Dm and N, prime L:
// the fused CPU loops and the GPU kernel (on the GPU emulator everywhere,
// on the GPU where a CUDA driver is) against the double reference.
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 2 --channels 21 --len 29 --state 13 --full --fixed-b --seed 8
// RUN: ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --input D=%t/D.npy --input z=%t/z.npy --input bias=%t/bias.npy --input h0=%t/h0.npy \
// RUN:   --output %t/cy.npy --output %t/ch.npy
// RUN: ssmc-testdata compare %t/cy.npy %t/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/ch.npy %t/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-run %s --target gpu-emulator --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --input D=%t/D.npy --input z=%t/z.npy --input bias=%t/bias.npy --input h0=%t/h0.npy \
// RUN:   --output %t/y.npy --output %t/h.npy
// RUN: ssmc-testdata compare %t/y.npy %t/ref_out.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/h.npy %t/ref_state.npy --rtol 1e-4 | FileCheck %s
// RUN: %if cuda-driver %{ ssmc-run %s --target cuda --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --input D=%t/D.npy --input z=%t/z.npy --input bias=%t/bias.npy --input h0=%t/h0.npy --output %t/gy.npy --output %t/gh.npy %}
// RUN: %if cuda-driver %{ ssmc-testdata compare %t/gy.npy %t/ref_out.npy --rtol 1e-4 | FileCheck %s %}
// RUN: %if cuda-driver %{ ssmc-testdata compare %t/gh.npy %t/ref_state.npy --rtol 1e-4 | FileCheck %s %}
// CHECK: OK

func.func @main(%u: tensor<2x21x29xf32>, %dt: tensor<2x21x29xf32>, %A: tensor<21x13xf32>,
                %B: tensor<21x13xf32>, %C: tensor<2x13x29xf32>,
                %D: tensor<21xf32> {ssm.name = "D"}, %z: tensor<2x21x29xf32> {ssm.name = "z"},
                %bias: tensor<21xf32> {ssm.name = "bias"}, %h0: tensor<2x21x13xf32> {ssm.name = "h0"})
    -> (tensor<2x21x29xf32>, tensor<2x21x13xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<2x21x29xf32>, tensor<2x21x29xf32>, tensor<21x13xf32>, tensor<21x13xf32>,
         tensor<2x13x29xf32>, tensor<21xf32>, tensor<2x21x29xf32>, tensor<21xf32>, tensor<2x21x13xf32>)
      -> (tensor<2x21x29xf32>, tensor<2x21x13xf32>)
  return %y, %h : tensor<2x21x29xf32>, tensor<2x21x13xf32>
}
