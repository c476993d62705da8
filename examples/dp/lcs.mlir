// Longest common subsequence: cell (i, j) = LCS of x[0..i] and y[0..j];
// cells outside the table are 0. Only the last row is kept (rolling storage).
func.func @lcs(%x: tensor<?xi64> {ssm.name = "x"}, %y: tensor<?xi64> {ssm.name = "y"}) -> tensor<?xi64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xi64>
  %m = tensor.dim %y, %c0 : tensor<?xi64>
  %zero = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %row = ssm.dp [%n, %m] inputs(%x, %y : tensor<?xi64>, tensor<?xi64>)
      {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>],
       input_dims = array<i64: 0, 1>, output = #ssm.dp_output<last_row>} : tensor<?xi64>
    cell {
    ^bb0(%i: index, %j: index, %up: i64, %left: i64, %diag: i64, %xi: i64, %yj: i64):
      %eq = arith.cmpi eq, %xi, %yj : i64
      %grow = arith.addi %diag, %one : i64
      %keep = arith.maxsi %up, %left : i64
      %r = arith.select %eq, %grow, %keep : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %zero : i64
    }
  return %row : tensor<?xi64>
}
