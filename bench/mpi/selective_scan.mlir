// Strong-scaling program of bench/mpi/shard_bench.sh: Mamba-1 scan with
// softplus, bias, D and gate; L dynamic.
func.func @main(%u: tensor<1x64x?xf32>, %dt: tensor<1x64x?xf32>, %A: tensor<64x16xf32>,
                %B: tensor<1x16x?xf32>, %C: tensor<1x16x?xf32>, %D: tensor<64xf32>, %z: tensor<1x64x?xf32>,
                %bias: tensor<64xf32>, %h0: tensor<1x64x16xf32>)
    -> (tensor<1x64x?xf32>, tensor<1x64x16xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<1x64x?xf32>, tensor<1x64x?xf32>, tensor<64x16xf32>, tensor<1x16x?xf32>,
         tensor<1x16x?xf32>, tensor<64xf32>, tensor<1x64x?xf32>, tensor<64xf32>, tensor<1x64x16xf32>)
      -> (tensor<1x64x?xf32>, tensor<1x64x16xf32>)
  return %y, %h : tensor<1x64x?xf32>, tensor<1x64x16xf32>
}
