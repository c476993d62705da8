// ssm-gpu-lower-residency: ssm_gpu.is_resident becomes a call of the
// runtime's ssmcCudaIsResident(address, bytes) != 0: the address of the
// buffer's first element (aligned pointer + offset) and the bytes of the
// span it covers, ((sum of (size - 1) * stride) + 1) * element bytes, 0
// when a size is 0.
// RUN: ssmc-opt %s -ssm-gpu-lower-residency -canonicalize -split-input-file | FileCheck %s

// An identity layout: offset 0, span the product of the sizes (3 * n + 0
// or 0 when n is 0), 2 bytes an element.
// CHECK: llvm.func @ssmcCudaIsResident(i64, i64) -> i32
// CHECK-LABEL: func.func @query
// CHECK-SAME: (%[[X:.*]]: memref<?x3xbf16>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK: %{{.*}}, %{{.*}}, %[[SIZES:.*]]:2, %{{.*}} = memref.extract_strided_metadata %[[X]]
// CHECK: %[[LAST:.*]] = arith.subi %[[SIZES]]#0, %[[C1]] : index
// CHECK: %[[SPAN:.*]] = arith.muli %[[LAST]], %[[C3]] : index
// CHECK: %[[EMPTY:.*]] = arith.cmpi eq, %[[SIZES]]#0, %[[C0]] : index
// CHECK: %[[ALL:.*]] = arith.addi %[[SPAN]], %[[C3]] : index
// CHECK: %[[E:.*]] = arith.select %[[EMPTY]], %[[C0]], %[[ALL]] : index
// CHECK: %[[B:.*]] = arith.muli %[[E]], %[[C2]] : index
// CHECK: %[[P:.*]] = memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: %[[P64:.*]] = arith.index_cast %[[P]] : index to i64
// CHECK: %[[B64:.*]] = arith.index_cast %[[B]] : index to i64
// CHECK: %[[R:.*]] = llvm.call @ssmcCudaIsResident(%[[P64]], %[[B64]]) : (i64, i64) -> i32
// CHECK: %[[I1:.*]] = arith.cmpi ne, %[[R]], %{{.*}} : i32
// CHECK: return %[[I1]] : i1
func.func @query(%x: memref<?x3xbf16>) -> i1 {
  %r = ssm_gpu.is_resident %x : memref<?x3xbf16>
  return %r : i1
}

// -----

// A strided view (a slice at a dynamic offset): the address is its first
// element's, the span (rows - 1) * row stride + columns elements.
// CHECK-LABEL: func.func @view
// CHECK-SAME: (%[[V:.*]]: memref<?x?xf32, strided<[?, 1], offset: ?>>)
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %{{.*}}, %[[OFF:.*]], %[[SIZES:.*]]:2, %[[STRIDES:.*]]:2 = memref.extract_strided_metadata %[[V]]
// CHECK: %[[R1:.*]] = arith.subi %[[SIZES]]#0, %[[C1]] : index
// CHECK: %[[ROWS:.*]] = arith.muli %[[R1]], %[[STRIDES]]#0 : index
// CHECK: %[[E0:.*]] = arith.cmpi eq, %[[SIZES]]#0, %[[C0]] : index
// CHECK: %[[C1S:.*]] = arith.subi %[[SIZES]]#1, %[[C1]] : index
// CHECK: %[[LAST:.*]] = arith.addi %[[ROWS]], %[[C1S]] : index
// CHECK: %[[E1:.*]] = arith.cmpi eq, %[[SIZES]]#1, %[[C0]] : index
// CHECK: %[[EMPTY:.*]] = arith.ori %[[E0]], %[[E1]] : i1
// CHECK: %[[N:.*]] = arith.addi %[[LAST]], %[[C1]] : index
// CHECK: %[[E:.*]] = arith.select %[[EMPTY]], %[[C0]], %[[N]] : index
// CHECK: %[[B:.*]] = arith.muli %[[E]], %[[C4]] : index
// CHECK: %[[P:.*]] = memref.extract_aligned_pointer_as_index %[[V]]
// CHECK: %[[OB:.*]] = arith.muli %[[OFF]], %[[C4]] : index
// CHECK: %[[A:.*]] = arith.addi %[[P]], %[[OB]] : index
// CHECK: %[[A64:.*]] = arith.index_cast %[[A]] : index to i64
// CHECK: %[[B64:.*]] = arith.index_cast %[[B]] : index to i64
// CHECK: llvm.call @ssmcCudaIsResident(%[[A64]], %[[B64]])
func.func @view(%x: memref<?x?xf32, strided<[?, 1], offset: ?>>) -> i1 {
  %r = ssm_gpu.is_resident %x : memref<?x?xf32, strided<[?, 1], offset: ?>>
  return %r : i1
}
