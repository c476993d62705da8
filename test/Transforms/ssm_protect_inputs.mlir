// ssm-protect-inputs: tensor arguments of public functions become read-only
// for bufferization, so compiled code never writes into a caller's input.
// RUN: ssmc-opt %s --ssm-protect-inputs | FileCheck %s
// RUN: ssmc-opt %s --ssm-protect-inputs --one-shot-bufferize=bufferize-function-boundaries | FileCheck %s --check-prefix=BUF

// CHECK: func.func @main(%arg0: tensor<8xf32> {bufferization.writable = false}, %arg1: f32)
// CHECK: func.func private @helper(%arg0: tensor<8xf32>)
// With the mark, exp gets its own buffer instead of overwriting %x.
// BUF-LABEL: func.func @main
// BUF: memref.alloc
// BUF: linalg.generic
func.func @main(%x: tensor<8xf32>, %s: f32) -> tensor<8xf32> {
  %e = math.exp %x : tensor<8xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} outs(%x : tensor<8xf32>) {
  ^bb0(%o: f32):
    %m = math.exp %o : f32
    linalg.yield %m : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}
func.func private @helper(%x: tensor<8xf32>) -> tensor<8xf32> {
  return %x : tensor<8xf32>
}

// An argument the program marks writable itself is lent for in-place
// update and keeps the mark; bufferization then writes into it.
// CHECK: func.func @lent(%arg0: tensor<8xf32> {bufferization.writable = true}, %arg1: tensor<8xf32> {bufferization.writable = false})
// BUF-LABEL: func.func @lent
// BUF-NOT: memref.alloc
// BUF: linalg.generic
// BUF-SAME: outs(%arg0 : memref<8xf32
func.func @lent(%state: tensor<8xf32> {bufferization.writable = true}, %x: tensor<8xf32>) -> tensor<8xf32> {
  %r = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%x : tensor<8xf32>) outs(%state : tensor<8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.addf %a, %o : f32
    linalg.yield %m : f32
  } -> tensor<8xf32>
  return %r : tensor<8xf32>
}
