// ssm.dp and ssm.dp_fetch round-trip: local 1-D and 2-D forms, the prefix
// form, fetches, every output kind, integer and float cells.
// RUN: ssmc-opt %s | ssmc-opt | FileCheck %s
// RUN: ssmc-opt %s -mlir-print-op-generic | ssmc-opt | FileCheck %s

// CHECK-LABEL: func @local_1d
// CHECK: ssm.dp [%{{.*}}] inputs(%{{.*}} : tensor<?xi32>) {deps = [array<i64: -1>, array<i64: -4>], output = #ssm.dp_output<last>} : tensor<i32> cell {
// CHECK: ^bb0(%{{.*}}: index, %{{.*}}: i32, %{{.*}}: i32, %{{.*}}: i32):
// CHECK: } boundary {
func.func @local_1d(%s: tensor<?xi32>, %T: index) -> tensor<i32> {
  %z = arith.constant 0 : i32
  %r = ssm.dp [%T] inputs(%s : tensor<?xi32>) {deps = [array<i64: -1>, array<i64: -4>], output = #ssm.dp_output<last>} : tensor<i32>
    cell {
    ^bb0(%i: index, %a: i32, %b: i32, %x: i32):
      %m = arith.maxsi %a, %b : i32
      %n = arith.addi %m, %x : i32
      ssm.yield %n : i32
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i32
    }
  return %r : tensor<i32>
}

// CHECK-LABEL: func @float_table_2d
// CHECK: ssm.dp [%{{.*}}, %{{.*}}] {deps = [array<i64: -1, 1>, array<i64: 0, -1>]} : tensor<4x5xf32> cell {
func.func @float_table_2d() -> tensor<4x5xf32> {
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %one = arith.constant 1.0 : f32
  %r = ssm.dp [%c4, %c5] {deps = [array<i64: -1, 1>, array<i64: 0, -1>]} : tensor<4x5xf32>
    cell {
    ^bb0(%i: index, %j: index, %ur: f32, %l: f32):
      %s = arith.addf %ur, %l : f32
      ssm.yield %s : f32
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %one : f32
    }
  return %r : tensor<4x5xf32>
}

// CHECK-LABEL: func @prefix
// CHECK: ssm.dp [%{{.*}}] inputs(%{{.*}} : tensor<?xf64>) : tensor<?xi64> cell {
// CHECK: } aggregate {
// CHECK: } where {
func.func @prefix(%a: tensor<?xf64>, %T: index) -> tensor<?xi64> {
  %z = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %r = ssm.dp [%T] inputs(%a : tensor<?xf64>) : tensor<?xi64>
    cell {
    ^bb0(%i: index, %acc: i64, %ai: f64):
      %n = arith.addi %acc, %one : i64
      ssm.yield %n : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } aggregate {
    ^bb0(%acc: i64, %d: i64):
      %m = arith.maxsi %acc, %d : i64
      ssm.yield %m : i64
    } where {
    ^bb0(%aj: f64, %ai: f64):
      %lt = arith.cmpf olt, %aj, %ai : f64
      ssm.yield %lt : i1
    }
  return %r : tensor<?xi64>
}

// CHECK-LABEL: func @fetch_last_row
// CHECK: {deps = [array<i64: -1, 0>], input_dims = array<i64: 0>, output = #ssm.dp_output<last_row>} : tensor<?xi64>
// CHECK: ssm.dp_fetch %{{.*}} row = -2 : i64
func.func @fetch_last_row(%w: tensor<?xi64>, %n: index, %m: index) -> tensor<?xi64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%n, %m] inputs(%w : tensor<?xi64>) {deps = [array<i64: -1, 0>], input_dims = array<i64: 0>, output = #ssm.dp_output<last_row>} : tensor<?xi64>
    cell {
    ^bb0(%i: index, %j: index, %up: i64, %wi: i64):
      %c = arith.index_cast %wi : i64 to index
      %f = ssm.dp_fetch %c row = -2 : i64
      %s = arith.addi %up, %f : i64
      ssm.yield %s : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<?xi64>
}
