// Strong-scaling program of bench/mpi/shard_bench.sh: Gated DeltaNet
// (ssm.delta_rule with beta, a scalar log decay per step and head, l2norm,
// h0), 4 heads, K = V = 32; L dynamic (the chunked form).
func.func @main(%q: tensor<1x?x4x32xf32>, %k: tensor<1x?x4x32xf32>, %v: tensor<1x?x4x32xf32>,
                %beta: tensor<1x?x4xf32>, %g: tensor<1x?x4xf32>, %h0: tensor<1x4x32x32xf32>)
    -> (tensor<1x?x4x32xf32>, tensor<1x4x32x32xf32>) {
  %o, %h = ssm.delta_rule %q, %k, %v beta(%beta) gate(%g) h0(%h0) use_qk_l2norm
      : (tensor<1x?x4x32xf32>, tensor<1x?x4x32xf32>, tensor<1x?x4x32xf32>, tensor<1x?x4xf32>,
         tensor<1x?x4xf32>, tensor<1x4x32x32xf32>)
      -> (tensor<1x?x4x32xf32>, tensor<1x4x32x32xf32>)
  return %o, %h : tensor<1x?x4x32xf32>, tensor<1x4x32x32xf32>
}
