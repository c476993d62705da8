// Strong-scaling program of bench/mpi/shard_bench.sh: gated linear
// attention (a scalar log decay per step and head), 4 heads, K = V = 32;
// L dynamic.
func.func @main(%q: tensor<1x4x?x32xf32>, %k: tensor<1x4x?x32xf32>, %v: tensor<1x4x?x32xf32>,
                %g: tensor<1x4x?xf32>) -> (tensor<1x4x?x32xf32>, tensor<1x4x32x32xf32>) {
  %o, %h = ssm.linear_attention %q, %k, %v gate(%g)
      : (tensor<1x4x?x32xf32>, tensor<1x4x?x32xf32>, tensor<1x4x?x32xf32>, tensor<1x4x?xf32>)
      -> (tensor<1x4x?x32xf32>, tensor<1x4x32x32xf32>)
  return %o, %h : tensor<1x4x?x32xf32>, tensor<1x4x32x32xf32>
}
