// Strong-scaling program of bench/mpi/shard_bench.sh: Mamba-2 SSD, 4 heads
// of 32 channels, N = 32, one B/C group; L dynamic.
func.func @main(%x: tensor<1x?x4x32xf32>, %dt: tensor<1x?x4xf32>, %A: tensor<4xf32>,
                %B: tensor<1x?x1x32xf32>, %C: tensor<1x?x1x32xf32>, %D: tensor<4xf32>,
                %z: tensor<1x?x4x32xf32>, %bias: tensor<4xf32>, %h0: tensor<1x4x32x32xf32>)
    -> (tensor<1x?x4x32xf32>, tensor<1x4x32x32xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %C D(%D) z(%z) dt_bias(%bias) h0(%h0) dt_softplus
      : (tensor<1x?x4x32xf32>, tensor<1x?x4xf32>, tensor<4xf32>, tensor<1x?x1x32xf32>,
         tensor<1x?x1x32xf32>, tensor<4xf32>, tensor<1x?x4x32xf32>, tensor<4xf32>, tensor<1x4x32x32xf32>)
      -> (tensor<1x?x4x32xf32>, tensor<1x4x32x32xf32>)
  return %y, %h : tensor<1x?x4x32xf32>, tensor<1x4x32x32xf32>
}
