// A call that moves little and computes little: a (1, 64, 256, W = 4)
// short convolution with bias and SiLU. Its call time is what a call costs
// beyond its kernels' work (staging, the launch, the wait); its output is
// checked against the double reference. The dry run of first-run.sh times
// only this one (the fake driver runs kernels on the host).
func.func @bench_call_overhead(%x: tensor<1x64x256xf32>, %w: tensor<64x4xf32>, %b: tensor<64xf32>)
    -> tensor<1x64x256xf32> {
  %y = ssm.causal_conv1d %x, %w bias(%b) silu
      : (tensor<1x64x256xf32>, tensor<64x4xf32>, tensor<64xf32>) -> tensor<1x64x256xf32>
  return %y : tensor<1x64x256xf32>
}
