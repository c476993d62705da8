// Longest increasing subsequence: dp_i = 1 + max{dp_j : j < i, a_j < a_i}.
// A prefix aggregation: cell i depends on every earlier cell, so the
// dependency window is unbounded (a chain-of-thought model needs O(T) state).
// The LIS length is the maximum of the returned table.
func.func @lis(%a: tensor<?xi64> {ssm.name = "a"}) -> tensor<?xi64> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %a, %c0 : tensor<?xi64>
  %zero = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %dp = ssm.dp [%T] inputs(%a : tensor<?xi64>) : tensor<?xi64>
    cell {
    ^bb0(%i: index, %best: i64, %ai: i64):
      %n = arith.addi %best, %one : i64
      ssm.yield %n : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %zero : i64
    } aggregate {
    ^bb0(%acc: i64, %dj: i64):
      %m = arith.maxsi %acc, %dj : i64
      ssm.yield %m : i64
    } where {
    ^bb0(%aj: i64, %ai: i64):
      %lt = arith.cmpi slt, %aj, %ai : i64
      ssm.yield %lt : i1
    }
  return %dp : tensor<?xi64>
}
