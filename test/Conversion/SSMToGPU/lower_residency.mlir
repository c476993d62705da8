// ssm-gpu-lower-residency: ssm_gpu.is_resident becomes a call of the
// runtime's ssmcCudaIsResident(aligned address, bytes) != 0.
// RUN: ssmc-opt %s -ssm-gpu-lower-residency | FileCheck %s

// CHECK: llvm.func @ssmcCudaIsResident(i64, i64) -> i32
// CHECK-LABEL: func.func @query
// CHECK-SAME: (%[[X:.*]]: memref<?x3xbf16>)
// CHECK: %[[TWO:.*]] = arith.constant 2 : index
// CHECK: %[[N:.*]] = memref.dim %[[X]], %{{.*}} : memref<?x3xbf16>
// CHECK: %[[B1:.*]] = arith.muli %[[TWO]], %[[N]] : index
// CHECK: %[[C3:.*]] = arith.constant 3 : index
// CHECK: %[[B2:.*]] = arith.muli %[[B1]], %[[C3]] : index
// CHECK: %[[P:.*]] = memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: %[[P64:.*]] = arith.index_cast %[[P]] : index to i64
// CHECK: %[[B64:.*]] = arith.index_cast %[[B2]] : index to i64
// CHECK: %[[R:.*]] = llvm.call @ssmcCudaIsResident(%[[P64]], %[[B64]]) : (i64, i64) -> i32
// CHECK: %[[Z:.*]] = arith.constant 0 : i32
// CHECK: %[[I1:.*]] = arith.cmpi ne, %[[R]], %[[Z]] : i32
// CHECK: return %[[I1]] : i1
func.func @query(%x: memref<?x3xbf16>) -> i1 {
  %r = ssm_gpu.is_resident %x : memref<?x3xbf16>
  return %r : i1
}
