// ssm.dp end to end on constants, values worked out by hand:
//   LIS table of [3, 1, 2, 5, 4]:                 1 1 2 3 3
//   edit distance([1, 2, 3], [1, 3]), indel 2:     2 (delete the 2)
//   knapsack w = [1, 3, 4], v = [15, 20, 30], C = 4: 35 (items 0 and 1)
//   dp_i = (dp_{i-1} + dp_{i-2} + dp_{i-3} + s_i) mod 11, s = [5, 7, 9, 10]:
//     5, 12 mod 11 = 1, 15 mod 11 = 4, 20 mod 11 = 9; the last cell is 9
// RUN: ssmc-run %s --entry main | FileCheck %s

// CHECK: result #0: i64 [5]
// CHECK-NEXT: {{^}}1 1 2 3 3{{ *$}}
// CHECK: result #1: i64 []
// CHECK-NEXT: {{^}}2{{ *$}}
// CHECK: result #2: i64 []
// CHECK-NEXT: {{^}}35{{ *$}}
// CHECK: result #3: i64 [4]
// CHECK-NEXT: {{^}}5 1 4 9{{ *$}}
// CHECK: result #4: i64 []
// CHECK-NEXT: {{^}}9{{ *$}}
func.func @main() -> (tensor<5xi64>, tensor<i64>, tensor<i64>, tensor<4xi64>, tensor<i64>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %z = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %a = arith.constant dense<[3, 1, 2, 5, 4]> : tensor<5xi64>
  %lis = ssm.dp [%c5] inputs(%a : tensor<5xi64>) : tensor<5xi64>
    cell {
    ^bb0(%i: index, %best: i64, %ai: i64):
      %n = arith.addi %best, %one : i64
      ssm.yield %n : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } aggregate {
    ^bb0(%acc: i64, %dj: i64):
      %m = arith.maxsi %acc, %dj : i64
      ssm.yield %m : i64
    } where {
    ^bb0(%aj: i64, %ai: i64):
      %lt = arith.cmpi slt, %aj, %ai : i64
      ssm.yield %lt : i1
    }

  %x = arith.constant dense<[1, 2, 3]> : tensor<3xi64>
  %y = arith.constant dense<[1, 3]> : tensor<2xi64>
  %ed = ssm.dp [%c3, %c2] inputs(%x, %y : tensor<3xi64>, tensor<2xi64>)
      {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>],
       input_dims = array<i64: 0, 1>, output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %up: i64, %left: i64, %diag: i64, %xi: i64, %yj: i64):
      %indel = arith.constant 2 : i64
      %sub = arith.constant 3 : i64
      %p = arith.addi %up, %indel : i64
      %q = arith.addi %left, %indel : i64
      %eq = arith.cmpi eq, %xi, %yj : i64
      %cost = arith.select %eq, %z, %sub : i64
      %r = arith.addi %diag, %cost : i64
      %pq = arith.minsi %p, %q : i64
      %m = arith.minsi %pq, %r : i64
      ssm.yield %m : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      %s = arith.addi %i, %j : index
      %s2 = arith.addi %s, %c2 : index
      %t = arith.muli %s2, %c2 : index
      %v = arith.index_cast %t : index to i64
      ssm.yield %v : i64
    }

  %w = arith.constant dense<[1, 3, 4]> : tensor<3xi64>
  %val = arith.constant dense<[15, 20, 30]> : tensor<3xi64>
  %ks = ssm.dp [%c3, %c5] inputs(%w, %val : tensor<3xi64>, tensor<3xi64>)
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
      ssm.yield %z : i64
    }

  %s = arith.constant dense<[5, 7, 9, 10]> : tensor<4xi64>
  %p11 = arith.constant 11 : i64
  %table = ssm.dp [%c4] inputs(%s : tensor<4xi64>)
      {deps = [array<i64: -1>, array<i64: -2>, array<i64: -3>]} : tensor<4xi64>
    cell {
    ^bb0(%i: index, %d1: i64, %d2: i64, %d3: i64, %si: i64):
      %u = arith.addi %d1, %d2 : i64
      %v = arith.addi %u, %d3 : i64
      %t = arith.addi %v, %si : i64
      %r = arith.remui %t, %p11 : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  %last = ssm.dp [%c4] inputs(%s : tensor<4xi64>)
      {deps = [array<i64: -1>, array<i64: -2>, array<i64: -3>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %d1: i64, %d2: i64, %d3: i64, %si: i64):
      %u = arith.addi %d1, %d2 : i64
      %v = arith.addi %u, %d3 : i64
      %t = arith.addi %v, %si : i64
      %r = arith.remui %t, %p11 : i64
      ssm.yield %r : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %lis, %ed, %ks, %table, %last : tensor<5xi64>, tensor<i64>, tensor<i64>, tensor<4xi64>, tensor<i64>
}
