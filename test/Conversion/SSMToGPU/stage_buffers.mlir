// ssm-gpu-stage-buffers: a host buffer the kernel reads is copied in, one it
// writes is copied back, through its views and by the ops' memory effects;
// a buffer that is device-resident memory (asked of the runtime at run
// time, before the launch's first gpu op) is used in place, its allocation
// and copies sized zero.
// RUN: ssmc-opt %s -ssm-gpu-stage-buffers -split-input-file | FileCheck %s

// The residency query and the in-place choice, for one read-only buffer.
// CHECK-LABEL: func.func @residency
// CHECK-SAME: (%[[X:.*]]: memref<?x3xf32>, %[[Y:.*]]: memref<4xf32>)
// CHECK: %[[N:.*]] = memref.dim %[[X]], %c0
// CHECK: %[[E:.*]] = arith.muli %{{.*}}, %c3 : index
// CHECK: %[[RES:.*]] = ssm_gpu.is_resident %[[X]] : memref<?x3xf32>
// The second buffer's query also comes before any gpu op.
// CHECK: ssm_gpu.is_resident %[[Y]] : memref<4xf32>
// CHECK: %[[COUNT:.*]] = arith.select %[[RES]], %{{.*}}, %[[E]] : index
// CHECK: %[[AB:.*]] = arith.muli %[[COUNT]]
// CHECK: %[[RAW:.*]] = gpu.alloc{{ +}}(%[[AB]]) : memref<?xi8>
// CHECK: %[[VIEW:.*]] = memref.view %[[RAW]][%{{.*}}][%[[N]]] : memref<?xi8> to memref<?x3xf32>
// CHECK: %[[DEV:.*]] = arith.select %[[RES]], %[[X]], %[[VIEW]] : memref<?x3xf32>
// CHECK: %[[DST:.*]] = memref.reinterpret_cast %[[VIEW]] to offset: [0], sizes: [%[[COUNT]]], strides: [1]
// CHECK: %[[SRC:.*]] = memref.reinterpret_cast %[[X]] to offset: [0], sizes: [%[[COUNT]]], strides: [1]
// CHECK: gpu.memcpy  %[[DST]], %[[SRC]] : memref<?xf32>, memref<?xf32>
// CHECK: gpu.launch
// CHECK: memref.load %[[DEV]]
// CHECK: gpu.terminator
// CHECK-NOT: gpu.memcpy %[[SRC]]
// CHECK: gpu.dealloc  %[[RAW]] : memref<?xi8>
func.func @residency(%x: memref<?x3xf32>, %y: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c1, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%c0, %c0] : memref<?x3xf32>
    memref.store %v, %y[%c0] : memref<4xf32>
    gpu.terminator
  }
  return
}

// -----

// A store into a subview made in the kernel is a write: the buffer is copied
// back and, never read, not copied in.
// CHECK-LABEL: func.func @store_through_subview
// CHECK-SAME: (%[[X:.*]]: memref<16xf32>)
// CHECK: %[[RAW:.*]] = gpu.alloc
// CHECK: %[[D:.*]] = memref.view %[[RAW]]
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: memref.subview
// CHECK: %[[H:.*]] = memref.reinterpret_cast %[[X]]
// CHECK: %[[DF:.*]] = memref.reinterpret_cast %[[D]]
// CHECK: gpu.memcpy  %[[H]], %[[DF]]
// CHECK: gpu.dealloc  %[[RAW]]
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

// vector.store writes; memref.load reads: x is copied in only, y back only.
// CHECK-LABEL: func.func @vector_store
// CHECK-SAME: (%[[X:.*]]: memref<16xf32>, %[[Y:.*]]: memref<16xf32>)
// CHECK: %[[XS:.*]] = memref.reinterpret_cast %[[X]]
// CHECK-NEXT: gpu.memcpy  %{{.*}}, %[[XS]]
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: vector.store
// CHECK: %[[YS:.*]] = memref.reinterpret_cast %[[Y]]
// CHECK: gpu.memcpy  %[[YS]], %{{.*}}
// CHECK-NOT: gpu.memcpy
// CHECK: return
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
// CHECK: gpu.memcpy
// CHECK: gpu.launch
// CHECK: memref.atomic_rmw addf
// CHECK: %[[XS:.*]] = memref.reinterpret_cast %[[X]]
// CHECK: gpu.memcpy  %[[XS]], %{{.*}}
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
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: %[[YS:.*]] = memref.reinterpret_cast %[[Y]]
// CHECK: gpu.memcpy  %[[YS]]
// CHECK-NOT: gpu.memcpy
// CHECK: return
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

// -----

// Shared arrays (workgroup allocas) within the 48 KB of static shared
// memory become workgroup attributions: here exactly 49152 bytes.
// CHECK-LABEL: func.func @static_shared
// CHECK: gpu.launch
// CHECK-SAME: workgroup(%{{.*}} : memref<8192xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<4096xf32, #gpu.address_space<workgroup>>)
// CHECK-NOT: dynamic_shared_memory
// CHECK-NOT: memref.alloca
// CHECK: gpu.terminator
func.func @static_shared(%x: memref<128xf32>) {
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1) {
    %a = memref.alloca() : memref<8192xf32, #gpu.address_space<workgroup>>
    %b = memref.alloca() : memref<4096xf32, #gpu.address_space<workgroup>>
    %v = memref.load %x[%tx] : memref<128xf32>
    memref.store %v, %a[%tx] : memref<8192xf32, #gpu.address_space<workgroup>>
    memref.store %v, %b[%tx] : memref<4096xf32, #gpu.address_space<workgroup>>
    gpu.terminator
  }
  return
}

// -----

// Over 48 KB they become views of the launch's dynamic shared memory, each
// at a 16-byte aligned offset (the 5-float array takes 32 bytes), and the
// launch asks for their total: 32 + 49152 = 49184 bytes.
// CHECK-LABEL: func.func @dynamic_shared
// CHECK: %[[SIZE:.*]] = arith.constant 49184 : i32
// CHECK: gpu.launch
// CHECK-SAME: dynamic_shared_memory_size %[[SIZE]]
// CHECK-NOT: workgroup(
// CHECK: %[[RAW:.*]] = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// CHECK: %[[O0:.*]] = arith.constant 0 : index
// CHECK: %[[A:.*]] = memref.view %[[RAW]][%[[O0]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<5xf32, #gpu.address_space<workgroup>>
// CHECK: %[[O1:.*]] = arith.constant 32 : index
// CHECK: %[[B:.*]] = memref.view %[[RAW]][%[[O1]]][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<12288xf32, #gpu.address_space<workgroup>>
// CHECK-NOT: memref.alloca
// CHECK: memref.store %{{.*}}, %[[A]]
// CHECK: memref.store %{{.*}}, %[[B]]
func.func @dynamic_shared(%x: memref<128xf32>) {
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1) {
    %a = memref.alloca() : memref<5xf32, #gpu.address_space<workgroup>>
    %b = memref.alloca() : memref<12288xf32, #gpu.address_space<workgroup>>
    %v = memref.load %x[%tx] : memref<128xf32>
    %c0 = arith.constant 0 : index
    memref.store %v, %a[%c0] : memref<5xf32, #gpu.address_space<workgroup>>
    memref.store %v, %b[%tx] : memref<12288xf32, #gpu.address_space<workgroup>>
    gpu.terminator
  }
  return
}
