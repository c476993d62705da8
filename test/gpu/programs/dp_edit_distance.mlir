func.func @gpu_edit_distance(%x: tensor<300xi64>, %y: tensor<280xi64>) -> tensor<300x280xi64> {
  %n = arith.constant 300 : index
  %m = arith.constant 280 : index
  %d = ssm.dp [%n, %m] inputs(%x, %y : tensor<300xi64>, tensor<280xi64>)
      {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>],
       input_dims = array<i64: 0, 1>, output = #ssm.dp_output<table>} : tensor<300x280xi64>
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
  return %d : tensor<300x280xi64>
}
