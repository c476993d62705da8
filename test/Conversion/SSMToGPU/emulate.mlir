// ssm-gpu-emulate: a launch becomes a loop over its blocks, each block an
// omp.parallel region of blockDim threads (which sleep at barriers); shared
// memory is one host buffer per block, private memory a stack allocation,
// barriers omp.barrier, shuffles a scratch array and one barrier.
// RUN: ssmc-opt %s -ssm-gpu-emulate -split-input-file | FileCheck %s

// CHECK: llvm.func @omp_get_thread_num() -> i32
// CHECK-LABEL: func.func @reverse_in_blocks
// CHECK-SAME: (%[[X:.*]]: memref<256xf32>)
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[C128:.*]] = arith.constant 128 : index
// CHECK: %[[N:.*]] = arith.index_cast %{{.*}} : index to i32
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for %[[BX:.*]] = %{{.*}} to %[[C2]]
// CHECK: %[[TILE:.*]] = memref.alloc() : memref<128xf32>
// CHECK: omp.parallel num_threads(%[[N]] : i32) {
// CHECK: %[[T32:.*]] = llvm.call @omp_get_thread_num() : () -> i32
// CHECK: %[[T:.*]] = arith.index_cast %[[T32]] : i32 to index
// CHECK: %[[TX:.*]] = arith.remui %[[T]], %[[C128]]
// CHECK: %[[PRIV:.*]] = memref.alloca() : memref<1xf32>
// CHECK: memref.store %{{.*}}, %[[TILE]][%[[TX]]] : memref<128xf32>
// CHECK: omp.barrier
// CHECK: memref.store %{{.*}}, %[[PRIV]]
// CHECK: omp.terminator
// CHECK: memref.dealloc %[[TILE]]
// CHECK-NOT: gpu.
func.func @reverse_in_blocks(%x: memref<256xf32>) {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c127 = arith.constant 127 : index
  %c128 = arith.constant 128 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c2, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1)
             workgroup(%tile : memref<128xf32, #gpu.address_space<workgroup>>)
             private(%p : memref<1xf32, #gpu.address_space<private>>) {
    %base = arith.muli %bx, %c128 : index
    %i = arith.addi %base, %tx : index
    %v = memref.load %x[%i] : memref<256xf32>
    memref.store %v, %tile[%tx] : memref<128xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %r = arith.subi %c127, %tx : index
    %w = memref.load %tile[%r] : memref<128xf32, #gpu.address_space<workgroup>>
    %c0 = arith.constant 0 : index
    memref.store %w, %p[%c0] : memref<1xf32, #gpu.address_space<private>>
    %w2 = memref.load %p[%c0] : memref<1xf32, #gpu.address_space<private>>
    memref.store %w2, %x[%i] : memref<256xf32>
    gpu.terminator
  }
  return
}

// -----

// Dynamic shared memory: a byte buffer per block of the launch's dynamic
// size, its views host views at the same offsets.
// CHECK-LABEL: func.func @dynamic_shared
// CHECK-SAME: (%[[X:.*]]: memref<128xf32>, %[[SMEM:.*]]: i32)
// CHECK: scf.for
// CHECK: %[[BYTES:.*]] = arith.index_castui %[[SMEM]] : i32 to index
// CHECK: %[[RAW:.*]] = memref.alloc(%[[BYTES]]) : memref<?xi8>
// CHECK: omp.parallel
// CHECK: %[[TILE:.*]] = memref.view %[[RAW]][%{{.*}}][] : memref<?xi8> to memref<128xf32>
// CHECK: memref.store %{{.*}}, %[[TILE]][%{{.*}}] : memref<128xf32>
// CHECK: omp.barrier
// CHECK: memref.load %[[TILE]]
// CHECK: omp.terminator
// CHECK: memref.dealloc %[[RAW]]
// CHECK-NOT: gpu.
func.func @dynamic_shared(%x: memref<128xf32>, %smem: i32) {
  %c1 = arith.constant 1 : index
  %c127 = arith.constant 127 : index
  %c128 = arith.constant 128 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c128, %sy = %c1, %sz = %c1)
             dynamic_shared_memory_size %smem {
    %raw = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
    %c64 = arith.constant 64 : index
    %tile = memref.view %raw[%c64][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<128xf32, #gpu.address_space<workgroup>>
    %v = memref.load %x[%tx] : memref<128xf32>
    memref.store %v, %tile[%tx] : memref<128xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    %r = arith.subi %c127, %tx : index
    %w = memref.load %tile[%r] : memref<128xf32, #gpu.address_space<workgroup>>
    gpu.barrier
    memref.store %w, %x[%tx] : memref<128xf32>
    gpu.terminator
  }
  return
}

// -----

// gpu.shuffle: a scratch array of two halves of blockDim values per block
// and type; the thread's count of shuffles picks the half, so one barrier
// per shuffle suffices. The block's threads sleep at barriers.
// CHECK: llvm.func @kmp_set_blocktime(i32)
// CHECK-LABEL: func.func @shuffle_in_a_loop
// CHECK: arith.muli
// CHECK-NEXT: %[[N:.*]] = arith.muli %{{.*}}, %{{.*}} : index
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for
// CHECK: %[[HALVES:.*]] = arith.muli %[[N]], %{{.*}} : index
// CHECK: %[[SCRATCH:.*]] = memref.alloc(%[[HALVES]]) : memref<?xf32>
// CHECK: omp.parallel
// CHECK-NEXT: %[[ZERO:.*]] = arith.constant 0 : i32
// CHECK-NEXT: llvm.call @kmp_set_blocktime(%[[ZERO]]) : (i32) -> ()
// CHECK: %[[COUNT:.*]] = memref.alloca() : memref<1xi32>
// CHECK: memref.store %{{.*}}, %[[COUNT]]
// CHECK: scf.for
// CHECK: %[[K:.*]] = memref.load %[[COUNT]]
// CHECK: %[[K1:.*]] = arith.addi %[[K]], %{{.*}} : i32
// CHECK: memref.store %[[K1]], %[[COUNT]]
// CHECK: %[[PARITY:.*]] = arith.andi %[[K]], %{{.*}} : i32
// CHECK: %[[HALF:.*]] = arith.index_cast %[[PARITY]] : i32 to index
// CHECK: %[[BASE:.*]] = arith.muli %[[HALF]], %[[N]] : index
// CHECK: %[[AT:.*]] = arith.addi %[[BASE]], %{{.*}} : index
// CHECK: memref.store %{{.*}}, %[[SCRATCH]][%[[AT]]]
// CHECK-NEXT: omp.barrier
// CHECK: arith.xori
// CHECK: %[[FROM:.*]] = arith.addi %[[BASE]], %{{.*}} : index
// CHECK: memref.load %[[SCRATCH]][%[[FROM]]]
// CHECK-NOT: omp.barrier
// CHECK: scf.yield
// CHECK: omp.terminator
// CHECK: memref.dealloc %[[SCRATCH]]
func.func @shuffle_in_a_loop(%x: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %c64 = arith.constant 64 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %width = arith.constant 32 : i32
    %c16 = arith.constant 16 : i32
    %v = memref.load %x[%tx] : memref<64xf32>
    %s = scf.for %k = %c0 to %c5 step %c1 iter_args(%acc = %v) -> (f32) {
      %k32 = arith.index_cast %k : index to i32
      %off = arith.shrui %c16, %k32 : i32
      %o, %ov = gpu.shuffle xor %acc, %off, %width : f32
      %n = arith.addf %acc, %o : f32
      scf.yield %n : f32
    }
    memref.store %s, %x[%tx] : memref<64xf32>
    gpu.terminator
  }
  return
}

// -----

// A module without launches is left as it is.
// CHECK-LABEL: func.func @no_launch
// CHECK-NOT: {{omp_get_thread_num|kmp_set_blocktime}}
func.func @no_launch() {
  return
}
