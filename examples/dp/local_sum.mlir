// 3-local DP: dp_i = (dp_{i-1} + dp_{i-2} + dp_{i-3} + s_i) mod 11, with
// dp_k = 0 for k < 0. The dependency window is m = 3: @local_sum keeps a ring
// of 3 cells (O(m) memory for any T); @local_sum_table returns every cell.
func.func @local_sum(%s: tensor<?xi64> {ssm.name = "s"}) -> tensor<i64> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %s, %c0 : tensor<?xi64>
  %zero = arith.constant 0 : i64
  %p = arith.constant 11 : i64
  %last = ssm.dp [%T] inputs(%s : tensor<?xi64>)
      {deps = [array<i64: -1>, array<i64: -2>, array<i64: -3>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %d1: i64, %d2: i64, %d3: i64, %si: i64):
      %a = arith.addi %d1, %d2 : i64
      %b = arith.addi %a, %d3 : i64
      %c = arith.addi %b, %si : i64
      %r = arith.remui %c, %p : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %zero : i64
    }
  return %last : tensor<i64>
}

func.func @local_sum_table(%s: tensor<?xi64> {ssm.name = "s"}) -> tensor<?xi64> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %s, %c0 : tensor<?xi64>
  %zero = arith.constant 0 : i64
  %p = arith.constant 11 : i64
  %dp = ssm.dp [%T] inputs(%s : tensor<?xi64>)
      {deps = [array<i64: -1>, array<i64: -2>, array<i64: -3>]} : tensor<?xi64>
    cell {
    ^bb0(%i: index, %d1: i64, %d2: i64, %d3: i64, %si: i64):
      %a = arith.addi %d1, %d2 : i64
      %b = arith.addi %a, %d3 : i64
      %c = arith.addi %b, %si : i64
      %r = arith.remui %c, %p : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %zero : i64
    }
  return %dp : tensor<?xi64>
}
