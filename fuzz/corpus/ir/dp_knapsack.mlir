// 0/1 knapsack: cell (i, c) is the best value of items 0..i within capacity
// c, dp[i][c] = max(dp[i-1][c], dp[i-1][c - w_i] + v_i if w_i <= c). The
// column c - w_i depends on the input, so it is read with ssm.dp_fetch; the
// window is the previous row, rows run in order with their cells in
// parallel, and only two rows are stored.
func.func @knapsack(%w: tensor<?xi64> {ssm.name = "w"}, %v: tensor<?xi64> {ssm.name = "v"}, %capacity: i64 {ssm.name = "capacity"}) -> tensor<i64> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = tensor.dim %w, %c0 : tensor<?xi64>
  %cap = arith.index_cast %capacity : i64 to index
  %cols = arith.addi %cap, %c1 : index
  %zero = arith.constant 0 : i64
  %best = ssm.dp [%n, %cols] inputs(%w, %v : tensor<?xi64>, tensor<?xi64>)
      {deps = [array<i64: -1, 0>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %c: index, %skip: i64, %wi: i64, %vi: i64):
      %wix = arith.index_cast %wi : i64 to index
      %col = arith.subi %c, %wix : index
      %prev = ssm.dp_fetch %col row = -1 : i64
      %take = arith.addi %prev, %vi : i64
      %fits = arith.cmpi sge, %c, %wix : index
      %cand = arith.select %fits, %take, %skip : i64
      %r = arith.maxsi %cand, %skip : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %zero : i64
    }
  return %best : tensor<i64>
}
