// ssm-gpu-stage-buffers: a host buffer the kernel reads is copied in, one it
// writes is copied back, through its views and by the ops' memory effects.
// RUN: ssmc-opt %s -ssm-gpu-stage-buffers -split-input-file | FileCheck %s

// A store into a subview made in the kernel is a write: the buffer is copied
// back and, never read, not copied in.
// CHECK-LABEL: func.func @store_through_subview
// CHECK-SAME: (%[[X:.*]]: memref<16xf32>)
// CHECK: %[[D:.*]] = gpu.alloc{{ +}}() : memref<16xf32>
// CHECK-NOT: gpu.memcpy %[[D]], %[[X]]
// CHECK: gpu.launch
// CHECK: memref.subview %[[D]]
// CHECK: gpu.memcpy  %[[X]], %[[D]]
// CHECK: gpu.dealloc  %[[D]]
func.func @store_through_subview(%x: memref<16xf32>) {
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %v = memref.subview %x[8] [8] [1] : memref<16xf32> to memref<8xf32, strided<[1], offset: 8>>
    memref.store %f, %v[%tx] : memref<8xf32, strided<[1], offset: 8>>
    gpu.terminator
  }
  return
}

// -----

// vector.store writes; memref.load reads.
// CHECK-LABEL: func.func @vector_store
// CHECK-SAME: (%[[X:.*]]: memref<16xf32>, %[[Y:.*]]: memref<16xf32>)
// CHECK-DAG: %[[DX:.*]] = gpu.alloc{{ +}}() : memref<16xf32>
// CHECK-DAG: gpu.memcpy  %[[DX]], %[[X]]
// CHECK-DAG: %[[DY:.*]] = gpu.alloc{{ +}}() : memref<16xf32>
// CHECK-NOT: gpu.memcpy  %[[DY]], %[[Y]]
// CHECK: gpu.launch
// CHECK-NOT: gpu.memcpy  %[[X]], %[[DX]]
// CHECK: gpu.memcpy  %[[Y]], %[[DY]]
func.func @vector_store(%x: memref<16xf32>, %y: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %a = memref.load %x[%c0] : memref<16xf32>
    %v = vector.broadcast %a : f32 to vector<16xf32>
    vector.store %v, %y[%c0] : memref<16xf32>, vector<16xf32>
    gpu.terminator
  }
  return
}

// -----

// An atomic update reads and writes: copied in and back.
// CHECK-LABEL: func.func @atomic
// CHECK-SAME: (%[[X:.*]]: memref<4xf32>)
// CHECK: %[[D:.*]] = gpu.alloc{{ +}}() : memref<4xf32>
// CHECK: gpu.memcpy  %[[D]], %[[X]]
// CHECK: gpu.launch
// CHECK: memref.atomic_rmw addf
// CHECK: gpu.memcpy  %[[X]], %[[D]]
func.func @atomic(%x: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c32 = arith.constant 32 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c32, %sy = %c1, %sz = %c1) {
    %old = memref.atomic_rmw addf %f, %x[%c0] : (f32, memref<4xf32>) -> f32
    gpu.terminator
  }
  return
}

// -----

// Only a size query: no copy either way.
// CHECK-LABEL: func.func @dim_only
// CHECK-SAME: (%[[X:.*]]: memref<?xf32>, %[[Y:.*]]: memref<?xindex>)
// CHECK-NOT: gpu.memcpy  %{{.*}}, %[[X]]
// CHECK: gpu.launch
// CHECK-NOT: gpu.memcpy  %[[X]]
// CHECK: gpu.memcpy  %[[Y]]
func.func @dim_only(%x: memref<?xf32>, %y: memref<?xindex>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %n = memref.dim %x, %c0 : memref<?xf32>
    memref.store %n, %y[%c0] : memref<?xindex>
    gpu.terminator
  }
  return
}
