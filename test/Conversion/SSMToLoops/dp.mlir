// convert-ssm-to-loops on ssm.dp: storage and schedule follow the dependency
// shape. A 1-D m-local DP keeps a ring of m cells; a 2-D DP with quadrant
// offsets runs anti-diagonal wavefronts (parallel when wide) over a ring of
// w + 1 diagonals; a fetch forces row order over a ring of rows; the prefix
// form folds every earlier cell under the predicate.
// RUN: ssmc-opt %s --convert-ssm-to-loops --canonicalize | FileCheck %s

// CHECK-LABEL: func @ring_of_m_cells
// CHECK: memref.alloc() {alignment = 64 : i64} : memref<i64>
// CHECK: %[[RING:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4xi64>
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %{{.*}} step
// CHECK: arith.remui %{{.*}}, %c4
// CHECK: memref.load %[[RING]]
// CHECK: %[[SLOT:.*]] = arith.remui %[[I]], %c4
// CHECK: memref.store %{{.*}}, %[[RING]][%[[SLOT]]]
// CHECK-NOT: scf.parallel
// CHECK: return
func.func @ring_of_m_cells(%s: tensor<?xi64>) -> tensor<i64> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %s, %c0 : tensor<?xi64>
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] inputs(%s : tensor<?xi64>) {deps = [array<i64: -1>, array<i64: -4>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %a: i64, %b: i64, %x: i64):
      %m = arith.addi %a, %b : i64
      %n = arith.addi %m, %x : i64
      ssm.yield %n : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// CHECK-LABEL: func @wavefront
// CHECK: memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<3x?xf32>
// CHECK: scf.for %[[D:.*]] =
// CHECK: %[[WIDE:.*]] = arith.cmpi sge, %{{.*}}, %c512
// CHECK: scf.if %[[WIDE]]
// CHECK: scf.parallel
// CHECK: } else {
// CHECK: scf.for
func.func @wavefront(%n: index, %m: index) -> tensor<f32> {
  %one = arith.constant 1.0 : f32
  %r = ssm.dp [%n, %m] {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>], output = #ssm.dp_output<last>} : tensor<f32>
    cell {
    ^bb0(%i: index, %j: index, %u: f32, %l: f32, %d: f32):
      %s = arith.addf %u, %l : f32
      %t = arith.addf %s, %d : f32
      ssm.yield %t : f32
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %one : f32
    }
  return %r : tensor<f32>
}

// A fetch two rows back: three rows are kept, rows run in order and the
// cells of a row in parallel (no dependency stays in the row).
// CHECK-LABEL: func @rows_with_fetch
// CHECK: memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<3x?xi64>
// CHECK: scf.for
// CHECK: scf.parallel
// CHECK: arith.remui %{{.*}}, %c3
func.func @rows_with_fetch(%n: index, %m: index) -> tensor<?xi64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%n, %m] {deps = [array<i64: -1, 0>], output = #ssm.dp_output<last_row>} : tensor<?xi64>
    cell {
    ^bb0(%i: index, %j: index, %up: i64):
      %c0 = arith.constant 0 : index
      %f = ssm.dp_fetch %c0 row = -2 : i64
      %s = arith.addi %up, %f : i64
      ssm.yield %s : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<?xi64>
}

// An offset to the upper right rules out wavefronts: row order, and the
// same-row dependency makes each row sequential.
// CHECK-LABEL: func @upper_right
// CHECK-NOT: scf.parallel
// CHECK: return
func.func @upper_right(%n: index, %m: index) -> tensor<?x?xi64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%n, %m] {deps = [array<i64: -1, 1>, array<i64: 0, -1>]} : tensor<?x?xi64>
    cell {
    ^bb0(%i: index, %j: index, %ur: i64, %l: i64):
      %s = arith.addi %ur, %l : i64
      ssm.yield %s : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<?x?xi64>
}

// CHECK-LABEL: func @prefix
// CHECK: %[[TABLE:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xi64>
// CHECK: scf.for %[[I:.*]] = %{{.*}} to
// CHECK: scf.for %[[J:.*]] = %{{.*}} to %[[I]] step {{.*}} iter_args
// CHECK: arith.cmpi slt
// CHECK: scf.if
// CHECK: memref.load %[[TABLE]][%[[J]]]
// CHECK: arith.maxsi
// CHECK: memref.store %{{.*}}, %[[TABLE]][%[[I]]]
func.func @prefix(%a: tensor<?xi64>) -> tensor<?xi64> {
  %c0 = arith.constant 0 : index
  %T = tensor.dim %a, %c0 : tensor<?xi64>
  %z = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %r = ssm.dp [%T] inputs(%a : tensor<?xi64>) : tensor<?xi64>
    cell {
    ^bb0(%i: index, %acc: i64, %ai: i64):
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
    ^bb0(%aj: i64, %ai: i64):
      %lt = arith.cmpi slt, %aj, %ai : i64
      ssm.yield %lt : i1
    }
  return %r : tensor<?xi64>
}
