// Edit distance with insert/delete cost 2 and substitution cost 3. Cell
// (i, j) is the distance between x[0..i] and y[0..j]; the row and column
// before the table are 2 * (number of characters), i.e. 2 * (i + j + 2) at
// i = -1 or j = -1. Local dependencies (-1, 0), (0, -1), (-1, -1): the
// lowering runs anti-diagonal wavefronts.
func.func @edit_distance(%x: tensor<?xi64> {ssm.name = "x"}, %y: tensor<?xi64> {ssm.name = "y"}) -> tensor<i64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xi64>
  %m = tensor.dim %y, %c0 : tensor<?xi64>
  %d = ssm.dp [%n, %m] inputs(%x, %y : tensor<?xi64>, tensor<?xi64>)
      {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>],
       input_dims = array<i64: 0, 1>, output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %up: i64, %left: i64, %diag: i64, %xi: i64, %yj: i64):
      %indel = arith.constant 2 : i64
      %sub = arith.constant 3 : i64
      %zero = arith.constant 0 : i64
      %a = arith.addi %up, %indel : i64
      %b = arith.addi %left, %indel : i64
      %eq = arith.cmpi eq, %xi, %yj : i64
      %cost = arith.select %eq, %zero, %sub : i64
      %c = arith.addi %diag, %cost : i64
      %ab = arith.minsi %a, %b : i64
      %r = arith.minsi %ab, %c : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      %c2 = arith.constant 2 : index
      %s = arith.addi %i, %j : index
      %s2 = arith.addi %s, %c2 : index
      %t = arith.muli %s2, %c2 : index
      %v = arith.index_cast %t : index to i64
      ssm.yield %v : i64
    }
  return %d : tensor<i64>
}

// The whole table (row-major), for checking every cell.
func.func @edit_distance_table(%x: tensor<?xi64> {ssm.name = "x"}, %y: tensor<?xi64> {ssm.name = "y"}) -> tensor<?x?xi64> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xi64>
  %m = tensor.dim %y, %c0 : tensor<?xi64>
  %d = ssm.dp [%n, %m] inputs(%x, %y : tensor<?xi64>, tensor<?xi64>)
      {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>],
       input_dims = array<i64: 0, 1>, output = #ssm.dp_output<table>} : tensor<?x?xi64>
    cell {
    ^bb0(%i: index, %j: index, %up: i64, %left: i64, %diag: i64, %xi: i64, %yj: i64):
      %indel = arith.constant 2 : i64
      %sub = arith.constant 3 : i64
      %zero = arith.constant 0 : i64
      %a = arith.addi %up, %indel : i64
      %b = arith.addi %left, %indel : i64
      %eq = arith.cmpi eq, %xi, %yj : i64
      %cost = arith.select %eq, %zero, %sub : i64
      %c = arith.addi %diag, %cost : i64
      %ab = arith.minsi %a, %b : i64
      %r = arith.minsi %ab, %c : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      %c2 = arith.constant 2 : index
      %s = arith.addi %i, %j : index
      %s2 = arith.addi %s, %c2 : index
      %t = arith.muli %s2, %c2 : index
      %v = arith.index_cast %t : index to i64
      ssm.yield %v : i64
    }
  return %d : tensor<?x?xi64>
}
