// Codegen quality of the fused selective scan, as the JIT compiles it
// (ssmc-run --emit=llvm): the exps of dt * A, softplus and the SiLU gate are
// vector code (no scalar libm exp calls), and a destination-passing entry
// allocates nothing per call, let alone per step. Width-agnostic: the
// vector width follows the host.
// RUN: ssmc-run %s --emit=llvm | FileCheck %s --implicit-check-not=@expf --implicit-check-not='@exp(' --implicit-check-not=@malloc --implicit-check-not=@aligned_alloc --implicit-check-not=@log1pf

// CHECK: define void @mixer(
// CHECK: call <{{[0-9]+}} x float> @llvm.fma.v{{[0-9]+}}f32
func.func @mixer(%u: tensor<1x64x256xf32>, %delta: tensor<1x64x256xf32>,
                 %A: tensor<64x16xf32>, %B: tensor<1x16x256xf32>,
                 %C: tensor<1x16x256xf32>, %D: tensor<64xf32>,
                 %z: tensor<1x64x256xf32>, %bias: tensor<64xf32>)
    -> (tensor<1x64x256xf32>, tensor<1x64x16xf32>) {
  %y, %h = ssm.selective_scan %u, %delta, %A, %B, %C D(%D) z(%z) delta_bias(%bias) delta_softplus
      : (tensor<1x64x256xf32>, tensor<1x64x256xf32>, tensor<64x16xf32>,
         tensor<1x16x256xf32>, tensor<1x16x256xf32>, tensor<64xf32>,
         tensor<1x64x256xf32>, tensor<64xf32>)
      -> (tensor<1x64x256xf32>, tensor<1x64x16xf32>)
  return %y, %h : tensor<1x64x256xf32>, tensor<1x64x16xf32>
}
