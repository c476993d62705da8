// selective_scan's GPU kernel at the state sizes where its tiles outgrow
// static shared memory: with a z gate at N = 28..32 the register-state
// kernel's 16-step sub-tiles need 49.7-51.7 KB (dynamic shared memory on
// the GPU, within sm_90's 227 KB; host_twins.test runs them through the
// CUDA host path; under max-shared-bytes=49152 the kernel takes 8-step
// sub-tiles instead); N = 256 runs the private-state kernel. Every optional
// operand, 37 channels (3 blocks of 16) and L = 300 (8 chunks of 38 steps,
// 5 sub-tiles each, the last partial), on the GPU emulator against the
// double reference. The function below (N = 32) is copied for each N.
// RUN: rm -rf %t && mkdir -p %t
// RUN: for n in 28 29 30 31 32 256; do \
// RUN:   sed -e "s/37x32xf32/37x${n}xf32/g" -e "s/2x32x300/2x${n}x300/g" %s > %t/n$n.mlir && \
// RUN:   ssmc-testdata selective-scan --out %t/d$n --batch 2 --channels 37 --len 300 --state $n --full --seed $n && \
// RUN:   ssmc-run %t/n$n.mlir --target gpu-emulator --input %t/d$n/u.npy --input %t/d$n/dt.npy --input %t/d$n/A.npy \
// RUN:     --input %t/d$n/B.npy --input %t/d$n/C.npy --input D=%t/d$n/D.npy --input z=%t/d$n/z.npy \
// RUN:     --input bias=%t/d$n/bias.npy --input h0=%t/d$n/h0.npy --output %t/d$n/y.npy --output %t/d$n/h.npy && \
// RUN:   ssmc-testdata compare %t/d$n/y.npy %t/d$n/ref_out.npy --rtol 1e-4 && \
// RUN:   ssmc-testdata compare %t/d$n/h.npy %t/d$n/ref_state.npy --rtol 1e-4 || exit 1; \
// RUN: done | FileCheck %s
// CHECK-COUNT-12: OK

func.func @main(%u: tensor<2x37x300xf32>, %dt: tensor<2x37x300xf32>, %A: tensor<37x32xf32>,
                %B: tensor<2x32x300xf32>, %C: tensor<2x32x300xf32>,
                %D: tensor<37xf32> {ssm.name = "D"}, %z: tensor<2x37x300xf32> {ssm.name = "z"},
                %bias: tensor<37xf32> {ssm.name = "bias"}, %h0: tensor<2x37x32xf32> {ssm.name = "h0"})
    -> (tensor<2x37x300xf32>, tensor<2x37x32xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<2x37x300xf32>, tensor<2x37x300xf32>, tensor<37x32xf32>, tensor<2x32x300xf32>,
         tensor<2x32x300xf32>, tensor<37xf32>, tensor<2x37x300xf32>, tensor<37xf32>, tensor<2x37x32xf32>)
      -> (tensor<2x37x300xf32>, tensor<2x37x32xf32>)
  return %y, %h : tensor<2x37x300xf32>, tensor<2x37x32xf32>
}
