// ssm-static-results-to-out-params: public functions with static result
// shapes write into trailing out-parameters (fresh result allocations are
// replaced by the parameter); dynamic results and private functions keep
// returning buffers.
// RUN: ssmc-opt %s --ssm-static-results-to-out-params | FileCheck %s

// CHECK-LABEL: func.func @static(%arg0: memref<4xf32>, %arg1: memref<4xf32>) attributes {ssm.out_params} {
// CHECK-NOT: memref.alloc
// CHECK: linalg.add ins(%arg0, %arg0 : memref<4xf32>, memref<4xf32>) outs(%arg1 : memref<4xf32>)
// CHECK: return{{$}}
func.func @static(%a: memref<4xf32>) -> memref<4xf32> {
  %r = memref.alloc() : memref<4xf32>
  linalg.add ins(%a, %a : memref<4xf32>, memref<4xf32>) outs(%r : memref<4xf32>)
  return %r : memref<4xf32>
}

// Returning an argument copies it into the out-parameter -- unless the
// caller passed the same buffer as both (a state updated in place).
// CHECK-LABEL: func.func @passthrough(%arg0: memref<2x3xi32>, %arg1: memref<2x3xi32>) attributes {ssm.out_params}
// CHECK: %[[SRC:.*]] = memref.extract_aligned_pointer_as_index %arg0
// CHECK: %[[DST:.*]] = memref.extract_aligned_pointer_as_index %arg1
// CHECK: %[[DIFF:.*]] = arith.cmpi ne, %[[SRC]], %[[DST]] : index
// CHECK: scf.if %[[DIFF]] {
// CHECK-NEXT: memref.copy %arg0, %arg1
func.func @passthrough(%a: memref<2x3xi32>) -> memref<2x3xi32> {
  return %a : memref<2x3xi32>
}

// CHECK-LABEL: func.func @dynamic(%arg0: memref<?xf32>) -> memref<?xf32> {
// CHECK-NOT: ssm.out_params
func.func @dynamic(%a: memref<?xf32>) -> memref<?xf32> {
  return %a : memref<?xf32>
}

// CHECK-LABEL: func.func private @helper(%arg0: memref<4xf32>) -> memref<4xf32>
func.func private @helper(%a: memref<4xf32>) -> memref<4xf32> {
  return %a : memref<4xf32>
}
