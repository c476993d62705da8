// ssm-forward-state-copies: a decode step's final state, written to a fresh
// buffer and copied back into the slice its h0 came from, is stored over
// h0 instead when the kernel's loop is marked ssm.in_place_final_state and
// nothing between the kernel and the copy touches the slice.
// RUN: ssmc-opt %s --split-input-file --ssm-forward-state-copies | FileCheck %s
// The whole decode program: no copy of the [24, 64, 128] state remains.
// RUN: ssmc-opt %s --split-input-file --ssm-protect-inputs --convert-ssm-to-loops --canonicalize --cse --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ssm-forward-state-copies | FileCheck %s --check-prefix=PROG

// CHECK-LABEL: func.func @forwarded
// CHECK-SAME: (%[[S:.*]]: memref<4x8x16xf32>, %[[I:.*]]: index)
// CHECK-NOT: memref.alloc() {alignment = 64
// CHECK: %[[H0:.*]] = memref.subview %[[S]][%[[I]], 0, 0]
// CHECK: scf.parallel
// CHECK: scf.for
// CHECK: vector.load %[[H0]]
// CHECK: vector.store %{{.*}}, %[[H0]]
// CHECK: {ssm.in_place_final_state}
// CHECK-NOT: memref.copy
// CHECK: return
func.func @forwarded(%s: memref<4x8x16xf32>, %i: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %cst = arith.constant dense<2.0> : vector<16xf32>
  %h0 = memref.subview %s[%i, 0, 0] [1, 8, 16] [1, 1, 1] : memref<4x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  %fs = memref.alloc() {alignment = 64 : i64} : memref<1x8x16xf32>
  scf.parallel (%t) = (%c0) to (%c1) step (%c1) {
    scf.for %p = %c0 to %c8 step %c1 {
      %v = vector.load %h0[%c0, %p, %c0] : memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>, vector<16xf32>
      %w = arith.mulf %v, %cst : vector<16xf32>
      vector.store %w, %fs[%c0, %p, %c0] : memref<1x8x16xf32>, vector<16xf32>
    } {ssm.in_place_final_state}
    scf.reduce
  }
  %other = memref.alloc() : memref<16xf32>
  vector.store %cst, %other[%c0] : memref<16xf32>, vector<16xf32>
  %dst = memref.subview %s[%i, 0, 0] [1, 8, 16] [1, 1, 1] : memref<4x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  memref.copy %fs, %dst : memref<1x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  return
}

// -----

// The slice is read between the kernel and the copy: it must still see h0.
// CHECK-LABEL: func.func @read_between
// CHECK: memref.alloc
// CHECK: memref.copy
func.func @read_between(%s: memref<4x8x16xf32>, %i: index) -> vector<16xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %cst = arith.constant dense<2.0> : vector<16xf32>
  %h0 = memref.subview %s[%i, 0, 0] [1, 8, 16] [1, 1, 1] : memref<4x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  %fs = memref.alloc() {alignment = 64 : i64} : memref<1x8x16xf32>
  scf.for %p = %c0 to %c8 step %c1 {
    %v = vector.load %h0[%c0, %p, %c0] : memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>, vector<16xf32>
    %w = arith.mulf %v, %cst : vector<16xf32>
    vector.store %w, %fs[%c0, %p, %c0] : memref<1x8x16xf32>, vector<16xf32>
  } {ssm.in_place_final_state}
  %r = vector.load %s[%c0, %c0, %c0] : memref<4x8x16xf32>, vector<16xf32>
  %dst = memref.subview %s[%i, 0, 0] [1, 8, 16] [1, 1, 1] : memref<4x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  memref.copy %fs, %dst : memref<1x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  return %r : vector<16xf32>
}

// -----

// An unmarked kernel, or a copy into another slice than h0's, stays.
// CHECK-LABEL: func.func @unmarked_or_elsewhere
// CHECK-COUNT-2: memref.copy
func.func @unmarked_or_elsewhere(%s: memref<4x8x16xf32>, %i: index, %j: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %cst = arith.constant dense<2.0> : vector<16xf32>
  %h0 = memref.subview %s[%i, 0, 0] [1, 8, 16] [1, 1, 1] : memref<4x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  %fs = memref.alloc() {alignment = 64 : i64} : memref<1x8x16xf32>
  scf.for %p = %c0 to %c8 step %c1 {
    %v = vector.load %h0[%c0, %p, %c0] : memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>, vector<16xf32>
    vector.store %v, %fs[%c0, %p, %c0] : memref<1x8x16xf32>, vector<16xf32>
  }
  %dst = memref.subview %s[%i, 0, 0] [1, 8, 16] [1, 1, 1] : memref<4x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  memref.copy %fs, %dst : memref<1x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  %fs2 = memref.alloc() {alignment = 64 : i64} : memref<1x8x16xf32>
  scf.for %p = %c0 to %c8 step %c1 {
    %v = vector.load %h0[%c0, %p, %c0] : memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>, vector<16xf32>
    vector.store %v, %fs2[%c0, %p, %c0] : memref<1x8x16xf32>, vector<16xf32>
  } {ssm.in_place_final_state}
  %dst2 = memref.subview %s[%j, 0, 0] [1, 8, 16] [1, 1, 1] : memref<4x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  memref.copy %fs2, %dst2 : memref<1x8x16xf32> to memref<1x8x16xf32, strided<[128, 16, 1], offset: ?>>
  return
}

// -----

// A decoder's layer loop over ssm.ssd steps on slices of a lent state.
// PROG-LABEL: func.func @decode_layers
// PROG: scf.for
// PROG: scf.parallel
// PROG: {ssm.in_place_final_state}
// PROG-NOT: memref.copy
// PROG: scf.yield
func.func @decode_layers(%x: tensor<1x1x4x8xf32>, %dt: tensor<1x1x4xf32>, %A: tensor<4xf32>,
                         %B: tensor<1x1x1x16xf32>,
                         %S: tensor<3x1x4x8x16xf32> {bufferization.writable = true})
    -> tensor<3x1x4x8x16xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %r = scf.for %i = %c0 to %c3 step %c1 iter_args(%s = %S) -> (tensor<3x1x4x8x16xf32>) {
    %h0 = tensor.extract_slice %s[%i, 0, 0, 0, 0] [1, 1, 4, 8, 16] [1, 1, 1, 1, 1] : tensor<3x1x4x8x16xf32> to tensor<1x4x8x16xf32>
    %y, %h = ssm.ssd %x, %dt, %A, %B, %B h0(%h0)
        : (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>, tensor<4xf32>, tensor<1x1x1x16xf32>, tensor<1x1x1x16xf32>, tensor<1x4x8x16xf32>)
        -> (tensor<1x1x4x8xf32>, tensor<1x4x8x16xf32>)
    %s2 = tensor.insert_slice %h into %s[%i, 0, 0, 0, 0] [1, 1, 4, 8, 16] [1, 1, 1, 1, 1] : tensor<1x4x8x16xf32> into tensor<3x1x4x8x16xf32>
    scf.yield %s2 : tensor<3x1x4x8x16xf32>
  }
  return %r : tensor<3x1x4x8x16xf32>
}

// -----

// Mamba-1's decode layer loop: ssm.causal_conv1d and ssm.selective_scan
// (L = 1) on slices of lent conv and SSM states store their final states
// over the slices their initial states came from (the scatters of the
// scan's final state included): no copy of either state is left.
// PROG-LABEL: func.func @mamba1_decode_layers
// PROG: scf.for
// PROG-NOT: memref.copy
// PROG: %[[CS:.*]] = memref.subview
// PROG-NOT: memref.copy
// PROG: memref.load %[[CS]]
// PROG: } {ssm.in_place_final_state}
// PROG-NOT: memref.copy
// PROG: memref.store %{{.*}}, %[[CS]]{{.*}} {ssm.in_place_final_state}
// PROG-NOT: memref.copy
// PROG: memref.subview
// PROG: %[[H0:.*]] = memref.cast
// PROG-NOT: memref.copy
// PROG: vector.gather %[[H0]]{{.*}} {ssm.in_place_final_state}
// PROG-NOT: memref.copy
// PROG: vector.scatter %[[H0]]{{.*}} {ssm.in_place_final_state}
// PROG-NOT: memref.copy
// PROG: scf.yield
func.func @mamba1_decode_layers(%x: tensor<1x32x1xf32>, %w: tensor<32x4xf32>,
                                %A: tensor<32x4xf32>, %B: tensor<1x4x1xf32>,
                                %C: tensor<3x32x3xf32> {bufferization.writable = true},
                                %S: tensor<3x32x4xf32> {bufferization.writable = true})
    -> (tensor<3x32x3xf32>, tensor<3x32x4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %r:2 = scf.for %i = %c0 to %c3 step %c1 iter_args(%cs = %C, %s = %S)
      -> (tensor<3x32x3xf32>, tensor<3x32x4xf32>) {
    %cs0 = tensor.extract_slice %cs[%i, 0, 0] [1, 32, 3] [1, 1, 1] : tensor<3x32x3xf32> to tensor<1x32x3xf32>
    %xc, %csn = ssm.causal_conv1d %x, %w initial_state(%cs0) silu
        : (tensor<1x32x1xf32>, tensor<32x4xf32>, tensor<1x32x3xf32>)
        -> (tensor<1x32x1xf32>, tensor<1x32x3xf32>)
    %h0 = tensor.extract_slice %s[%i, 0, 0] [1, 32, 4] [1, 1, 1] : tensor<3x32x4xf32> to tensor<1x32x4xf32>
    %y, %h = ssm.selective_scan %xc, %xc, %A, %B, %B h0(%h0) delta_softplus
        : (tensor<1x32x1xf32>, tensor<1x32x1xf32>, tensor<32x4xf32>, tensor<1x4x1xf32>, tensor<1x4x1xf32>, tensor<1x32x4xf32>)
        -> (tensor<1x32x1xf32>, tensor<1x32x4xf32>)
    %cs2 = tensor.insert_slice %csn into %cs[%i, 0, 0] [1, 32, 3] [1, 1, 1] : tensor<1x32x3xf32> into tensor<3x32x3xf32>
    %s2 = tensor.insert_slice %h into %s[%i, 0, 0] [1, 32, 4] [1, 1, 1] : tensor<1x32x4xf32> into tensor<3x32x4xf32>
    scf.yield %cs2, %s2 : tensor<3x32x3xf32>, tensor<3x32x4xf32>
  }
  return %r#0, %r#1 : tensor<3x32x3xf32>, tensor<3x32x4xf32>
}
