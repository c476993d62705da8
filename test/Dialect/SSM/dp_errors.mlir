// Invalid ssm.dp / ssm.dp_fetch programs: one case per verifier branch,
// with the exact diagnostic.
// RUN: ssmc-opt %s -split-input-file -verify-diagnostics


// Three index dimensions.
func.func @f(%s: tensor<?xi64>, %T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op index space must have 1 or 2 dimensions ([T] or [T1, T2]), got 3 sizes}}
  %r = ssm.dp [%T, %T, %T] : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %k: index):
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index, %j: index, %k: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A negative constant size.
func.func @f(%s: tensor<?xi64>) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %m = arith.constant -3 : index
  // expected-error @+1 {{'ssm.dp' op size #0 of the index space is -3, must be non-negative}}
  %r = ssm.dp [%m] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// input_dims of the wrong length.
func.func @f(%s: tensor<?xi64>, %T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op 'input_dims' must give one index dimension per input: 1 inputs, 2 entries}}
  %r = ssm.dp [%T] inputs(%s : tensor<?xi64>) {input_dims = array<i64: 0, 0>, output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %x: i64):
      ssm.yield %x : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A 2-D input.
func.func @f(%s: tensor<?x?xi64>, %T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op input #0 must be a 1-D tensor (one value per row or column of the index space), got 'tensor<?x?xi64>'}}
  %r = ssm.dp [%T] inputs(%s : tensor<?x?xi64>) {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %x: i64):
      ssm.yield %x : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// input_dims naming a dimension the index space lacks.
func.func @f(%s: tensor<?xi64>, %T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op 'input_dims' entry #0 is 1, must name an index dimension in [0, 1)}}
  %r = ssm.dp [%T] inputs(%s : tensor<?xi64>) {input_dims = array<i64: 1>, output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %x: i64):
      ssm.yield %x : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// An input whose length differs from the constant size.
func.func @f(%s: tensor<5xi64>) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %c4 = arith.constant 4 : index
  // expected-error @+1 {{'ssm.dp' op input #0 has 5 elements, but index dimension 0 has size 4}}
  %r = ssm.dp [%c4] inputs(%s : tensor<5xi64>) {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %x: i64):
      ssm.yield %x : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// last_row of a 1-D DP.
func.func @f(%T: index) -> tensor<?xi64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op output "last_row" needs a 2-D index space}}
  %r = ssm.dp [%T] {output = #ssm.dp_output<last_row>} : tensor<?xi64>
    cell {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<?xi64>
}

// -----

// An unknown output kind.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+2 {{expected ::mlir::ssm::DPOutput to be one of: table, last_row, last}}
  // expected-error @+1 {{failed to parse SSM_DPOutputAttr parameter 'value'}}
  %r = ssm.dp [%T] {output = #ssm.dp_output<answer>} : tensor<i64>
    cell {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A table of the wrong rank.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op result of output "table" must have rank 1, got 'tensor<i64>'}}
  %r = ssm.dp [%T] : tensor<i64>
    cell {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A table whose static size differs from the constant size.
func.func @f() -> tensor<3xi64> {
  %z = arith.constant 0 : i64
  %c4 = arith.constant 4 : index
  // expected-error @+1 {{'ssm.dp' op result dimension 0 is 3, but index dimension 0 has size 4}}
  %r = ssm.dp [%c4] : tensor<3xi64>
    cell {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<3xi64>
}

// -----

// An aggregate without a where region (generic form).
func.func @f(%T: index) -> tensor<?xi64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op the prefix form needs both an 'aggregate' and a 'where' region}}
  %r = "ssm.dp"(%T) <{operandSegmentSizes = array<i32: 1, 0>, output = #ssm.dp_output<table>}> ({
    ^bb0(%i: index, %a: i64):
      ssm.yield %a : i64
  }, {
    ^bb0(%i: index):
      ssm.yield %z : i64
  }, {
    ^bb0(%a: i64, %b: i64):
      ssm.yield %a : i64
  }, {
  }) : (index) -> tensor<?xi64>
  return %r : tensor<?xi64>
}

// -----

// The prefix form in 2-D.
func.func @f(%s: tensor<?xi64>, %T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op the prefix form is 1-D only, got a 2-D index space}}
  %r = ssm.dp [%T, %T] inputs(%s : tensor<?xi64>) {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %a: i64, %x: i64):
      ssm.yield %a : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    } aggregate {
    ^bb0(%a: i64, %b: i64):
      ssm.yield %a : i64
    } where {
    ^bb0(%x: i64, %y: i64):
      %t = arith.cmpi slt, %x, %y : i64
      ssm.yield %t : i1
    }
  return %r : tensor<i64>
}

// -----

// The prefix form with constant dependencies.
func.func @f(%s: tensor<?xi64>, %T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op the prefix form takes no constant 'deps' (cell i depends on every earlier cell the 'where' region selects)}}
  %r = ssm.dp [%T] inputs(%s : tensor<?xi64>) {deps = [array<i64: -1>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %a: i64, %x: i64):
      ssm.yield %a : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } aggregate {
    ^bb0(%a: i64, %b: i64):
      ssm.yield %a : i64
    } where {
    ^bb0(%x: i64, %y: i64):
      %t = arith.cmpi slt, %x, %y : i64
      ssm.yield %t : i1
    }
  return %r : tensor<i64>
}

// -----

// A dependency with the wrong number of components.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op dependency #1 (-1) must have 2 component(s), one per index dimension}}
  %r = ssm.dp [%T, %T] {deps = [array<i64: -1, 0>, array<i64: -1>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %a: i64, %b: i64):
      ssm.yield %a : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A cell depending on itself.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op dependency #0 (0, 0) is the cell itself: a cell cannot depend on its own value}}
  %r = ssm.dp [%T, %T] {deps = [array<i64: 0, 0>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %a: i64):
      ssm.yield %a : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A dependency on a later cell of the same row.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op dependency #1 (0, 1) reaches cell (i, j + 1), which is not computed yet (cells are computed in row-major order; every offset must be lexicographically negative)}}
  %r = ssm.dp [%T, %T] {deps = [array<i64: -1, 0>, array<i64: 0, 1>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index, %a: i64, %b: i64):
      ssm.yield %a : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A positive 1-D offset.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op dependency #0 (2) reaches cell (i + 2), which is not computed yet}}
  %r = ssm.dp [%T] {deps = [array<i64: 2>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %a: i64):
      ssm.yield %a : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A cell region missing the dependency argument.
func.func @f(%s: tensor<?xi64>, %T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op 'cell' region must take 3 arguments (the index i, 1 dependency value(s), 1 input value(s)), got 2}}
  %r = ssm.dp [%T] inputs(%s : tensor<?xi64>) {deps = [array<i64: -1>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %x: i64):
      ssm.yield %x : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A cell-region argument of the wrong type.
func.func @f(%s: tensor<?xi32>, %T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op 'cell' region argument #2 must be 'i32' (the index i, 1 dependency value(s), 1 input value(s)), got 'i64'}}
  %r = ssm.dp [%T] inputs(%s : tensor<?xi32>) {deps = [array<i64: -1>], output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %d: i64, %x: i64):
      ssm.yield %d : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A cell region ending in another terminator.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op 'cell' region must end with 'ssm.yield'}}
  %r = ssm.dp [%T] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index):
      llvm.unreachable
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A cell region yielding the wrong type.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %f = arith.constant 0.0 : f32
  %r = ssm.dp [%T] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index):
      // expected-error @+1 {{'ssm.yield' op in the 'cell' region must yield one 'i64' value, got 'f32'}}
      ssm.yield %f : f32
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A cell region yielding two values.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index):
      // expected-error @+1 {{'ssm.yield' op in the 'cell' region must yield one 'i64' value, got 2 values}}
      ssm.yield %z, %z : i64, i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A boundary region taking one index in 2-D.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op 'boundary' region must take 2 arguments (the indices i, j), got 1}}
  %r = ssm.dp [%T, %T] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// An aggregate region of the wrong arity.
func.func @f(%s: tensor<?xi64>, %T: index) -> tensor<?xi64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp' op 'aggregate' region must take 2 arguments (the accumulator, then dp[j]), got 1}}
  %r = ssm.dp [%T] inputs(%s : tensor<?xi64>) : tensor<?xi64>
    cell {
    ^bb0(%i: index, %a: i64, %x: i64):
      ssm.yield %a : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } aggregate {
    ^bb0(%a: i64):
      ssm.yield %a : i64
    } where {
    ^bb0(%x: i64, %y: i64):
      %t = arith.cmpi slt, %x, %y : i64
      ssm.yield %t : i1
    }
  return %r : tensor<?xi64>
}

// -----

// A where region yielding a non-i1.
func.func @f(%s: tensor<?xi64>, %T: index) -> tensor<?xi64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] inputs(%s : tensor<?xi64>) : tensor<?xi64>
    cell {
    ^bb0(%i: index, %a: i64, %x: i64):
      ssm.yield %a : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    } aggregate {
    ^bb0(%a: i64, %b: i64):
      ssm.yield %a : i64
    } where {
    ^bb0(%x: i64, %y: i64):
      // expected-error @+1 {{'ssm.yield' op in the 'where' region must yield one 'i1' value, got 'i64'}}
      ssm.yield %x : i64
    }
  return %r : tensor<?xi64>
}

// -----

// A fetch outside ssm.dp.
func.func @f(%c: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  // expected-error @+1 {{'ssm.dp_fetch' op must be inside the 'cell' region of an 'ssm.dp'}}
  %v = ssm.dp_fetch %c row = -1 : i64
  %r = tensor.from_elements %v : tensor<i64>
  return %r : tensor<i64>
}

// -----

// A fetch in the boundary region.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T, %T] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      // expected-error @+1 {{'ssm.dp_fetch' op must be inside the 'cell' region of an 'ssm.dp'}}
      %v = ssm.dp_fetch %j row = -1 : i64
      ssm.yield %v : i64
    }
  return %r : tensor<i64>
}

// -----

// A fetch in a 1-D DP.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index):
      // expected-error @+1 {{'ssm.dp_fetch' op reads a column of an earlier row, so it needs a 2-D 'ssm.dp', got a 1-D one}}
      %v = ssm.dp_fetch %i row = -1 : i64
      ssm.yield %v : i64
    } boundary {
    ^bb0(%i: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A fetch of the current row.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T, %T] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index):
      // expected-error @+1 {{'ssm.dp_fetch' op row offset must be negative (an earlier row), got 0}}
      %v = ssm.dp_fetch %j row = 0 : i64
      ssm.yield %v : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}

// -----

// A fetch of the wrong type.
func.func @f(%T: index) -> tensor<i64> {
  %z = arith.constant 0 : i64
  %r = ssm.dp [%T, %T] {output = #ssm.dp_output<last>} : tensor<i64>
    cell {
    ^bb0(%i: index, %j: index):
      // expected-error @+1 {{'ssm.dp_fetch' op must have the cell type of the enclosing 'ssm.dp', 'i64', got 'i32'}}
      %v = ssm.dp_fetch %j row = -1 : i32
      ssm.yield %z : i64
    } boundary {
    ^bb0(%i: index, %j: index):
      ssm.yield %z : i64
    }
  return %r : tensor<i64>
}
