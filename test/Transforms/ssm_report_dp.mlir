// --ssm-report on ssm.dp: the dependency window m (1..k for k-local 1-D
// DPs, T2 + 1 for edit distance, unbounded for LIS), the chain-of-thought
// state it implies, the work, the wavefront width and the stored cells.
// RUN: ssmc-opt %s --ssm-report=seq-len=1000 -o /dev/null 2>&1 | FileCheck %s
// RUN: ssmc-opt %s --ssm-report="seq-len=1000 json=- remarks=false" -o /dev/null | FileCheck %s --check-prefix=JSON

// CHECK: remark: ssm.dp: 1-D [1000] local; dependency window m = 1 cells (1 at these sizes); chain-of-thought state 1 elements (8 bytes, i64); work 1000 evaluations over 1000 cells; wavefront width 1 (sequential); lowering stores 1 cells
func.func @local1(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] {deps = [array<i64: -1>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %d1: i64):
      ssm.yield %d1 : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// CHECK: remark: ssm.dp: 1-D [1000] local; dependency window m = 2 cells (2 at these sizes); chain-of-thought state 2 elements (16 bytes, i64); work 1000 evaluations over 1000 cells; wavefront width 1 (sequential); lowering stores 2 cells
func.func @local2(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] {deps = [array<i64: -1>, array<i64: -2>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %d1: i64, %d2: i64):
      ssm.yield %d1 : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// CHECK: remark: ssm.dp: 1-D [1000] local; dependency window m = 3 cells (3 at these sizes); chain-of-thought state 3 elements (24 bytes, i64); work 1000 evaluations over 1000 cells; wavefront width 1 (sequential); lowering stores 3 cells
func.func @local3(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] {deps = [array<i64: -1>, array<i64: -2>, array<i64: -3>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %d1: i64, %d2: i64, %d3: i64):
      ssm.yield %d1 : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// CHECK: remark: ssm.dp: 1-D [1000] local; dependency window m = 4 cells (4 at these sizes); chain-of-thought state 4 elements (32 bytes, i64); work 1000 evaluations over 1000 cells; wavefront width 1 (sequential); lowering stores 4 cells
func.func @local4(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] {deps = [array<i64: -1>, array<i64: -2>, array<i64: -3>, array<i64: -4>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %d1: i64, %d2: i64, %d3: i64, %d4: i64):
      ssm.yield %d1 : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// CHECK: remark: ssm.dp: 1-D [1000] local; dependency window m = 5 cells (5 at these sizes); chain-of-thought state 5 elements (40 bytes, i64); work 1000 evaluations over 1000 cells; wavefront width 1 (sequential); lowering stores 5 cells
func.func @local5(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] {deps = [array<i64: -1>, array<i64: -2>, array<i64: -3>, array<i64: -4>, array<i64: -5>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %d1: i64, %d2: i64, %d3: i64, %d4: i64, %d5: i64):
      ssm.yield %d1 : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// A static 30 x 40 edit-distance-shaped table of f32 cells: m = T2 + 1 = 41.
// CHECK: remark: ssm.dp: 2-D [30, 40] local; dependency window m = T2 + 1 cells (41 at these sizes); chain-of-thought state 41 elements (164 bytes, f32); work 1200 evaluations over 1200 cells; wavefront width 30 (anti-diagonal wavefronts); lowering stores 90 cells
func.func @grid() -> tensor<f32> {
  %c30 = arith.constant 30 : index
  %c40 = arith.constant 40 : index
  %one = arith.constant 1.0 : f32
  %r = ssm.dp [%c30, %c40] {deps = [array<i64: -1, 0>, array<i64: 0, -1>, array<i64: -1, -1>], output = #ssm.dp_output<last>} : tensor<f32>
    cell {
    ^bb0(%i: index, %j: index, %u: f32, %l: f32, %d: f32):
      %s = arith.minimumf %u, %l : f32
      ssm.yield %s : f32
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %one : f32
    }
  return %r : tensor<f32>
}

// Knapsack-shaped: a fetch one row back spans up to 2 * T2 - 1 cells; rows
// run in order with their cells in parallel.
// CHECK: remark: ssm.dp: 2-D [1000, 1000] local; dependency window m = 2 * T2 - 1 cells (1999 at these sizes); chain-of-thought state 1999 elements (15992 bytes, i64); work 1000000 evaluations over 1000000 cells; wavefront width 1000 (rows, cells of a row in parallel); lowering stores 2000 cells
func.func @fetch(%n: index, %m: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%n, %m] {deps = [array<i64: -1, 0>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %up: i64):
      %f = ssm.dp_fetch %i row = -1 : i64
      ssm.yield %f : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// LIS-shaped: the prefix form has no bounded window.
// CHECK: remark: ssm.dp: 1-D [1000] prefix; dependency window unbounded (prefix aggregation: every earlier cell) (999 at these sizes); chain-of-thought state 999 elements (7992 bytes, i64); work 500500 evaluations over 1000 cells; wavefront width 1 (sequential cells, each folding its prefix); lowering stores 1000 cells
func.func @lis(%a: tensor<?xi64>, %T: index) -> tensor<?xi64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] inputs(%a : tensor<?xi64>) : tensor<?xi64>
    cell {
    ^bb0(%i: index, %acc: i64, %ai: i64):
      ssm.yield %acc : i64
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

// JSON: "window_cells": 3
// JSON-DAG: "window_unbounded": true
// JSON-DAG: "schedule": "anti-diagonal wavefronts"
// JSON-DAG: "cot_state_bytes": 164
// JSON-DAG: "stored_cells": 2000
