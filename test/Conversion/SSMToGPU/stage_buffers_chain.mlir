// ssm-gpu-stage-buffers keeps a launch's device copy of a buffer for the
// next launches of the block that use it (or a view of it): no copy in, no
// copy back in between. The copy back happens where the host (or the
// caller) may read the buffer; a buffer the host frees is not copied back.
// RUN: ssmc-opt %s -ssm-gpu-stage-buffers -split-input-file | FileCheck %s

// Two kernels in a row: %t, written by the first and read by the second,
// gets one device buffer, no copy either way, and is freed on the device
// where the host frees it; %y (the caller's) comes back before the return.
// The host allocation between the launches moves above them, so that no
// host op separates them.
// CHECK-LABEL: func.func @two_kernels
// CHECK-SAME: (%[[X:.*]]: memref<16xf32>, %[[Y:.*]]: memref<16xf32>)
// CHECK: %[[T:.*]] = memref.alloc() : memref<16xf32>
// CHECK: %[[U:.*]] = memref.alloc() : memref<16xf32>
// CHECK: %[[XS:.*]] = memref.reinterpret_cast %[[X]]
// CHECK: gpu.memcpy %{{.*}}, %[[XS]]
// CHECK: %[[TRAW:.*]] = gpu.alloc
// CHECK: %[[TVIEW:.*]] = memref.view %[[TRAW]]
// CHECK: %[[TDEV:.*]] = arith.select %{{.*}}, %[[T]], %[[TVIEW]]
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: memref.store %{{.*}}, %[[TDEV]]
// CHECK: gpu.terminator
// CHECK-NOT: gpu.memcpy
// CHECK-NOT: ssm_gpu.is_resident %[[T]]
// CHECK: gpu.launch
// CHECK: memref.load %[[TDEV]]
// CHECK: gpu.terminator
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.dealloc %[[TRAW]]
// CHECK-NOT: gpu.memcpy
// CHECK: %[[YS:.*]] = memref.reinterpret_cast %[[Y]]
// CHECK: gpu.memcpy %[[YS]]
// CHECK-NOT: gpu.memcpy
// CHECK-DAG: memref.dealloc %[[T]]
// CHECK-DAG: memref.dealloc %[[U]]
// CHECK: return
func.func @two_kernels(%x: memref<16xf32>, %y: memref<16xf32>) {
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %t = memref.alloc() : memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<16xf32>
    memref.store %v, %t[%tx] : memref<16xf32>
    gpu.terminator
  }
  %u = memref.alloc() : memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %t[%tx] : memref<16xf32>
    memref.store %v, %y[%tx] : memref<16xf32>
    gpu.terminator
  }
  memref.dealloc %t : memref<16xf32>
  memref.dealloc %u : memref<16xf32>
  return
}

// -----

// A host read between the kernels: %t comes back before it and its device
// copy stays valid (the host only reads), so the second kernel copies
// nothing in; a host write: the host already has %t, whose device copy
// is freed (no copy back), and the third kernel copies the host's buffer in.
// CHECK-LABEL: func.func @host_between
// CHECK-SAME: (%[[X:.*]]: memref<16xf32>, %[[Y:.*]]: memref<16xf32>)
// CHECK: %[[T:.*]] = memref.alloc()
// CHECK: %[[TRAW:.*]] = gpu.alloc
// CHECK: %[[TVIEW:.*]] = memref.view %[[TRAW]]
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK: %[[TS:.*]] = memref.reinterpret_cast %[[T]]
// CHECK: %[[TD:.*]] = memref.reinterpret_cast %[[TVIEW]]
// CHECK: gpu.memcpy %[[TS]], %[[TD]]
// CHECK-NEXT: gpu.dealloc
// CHECK-NEXT: memref.load %[[T]]
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.dealloc %[[TRAW]]
// CHECK-NEXT: memref.store %{{.*}}, %[[T]]
// CHECK: %[[T2RAW:.*]] = gpu.alloc
// CHECK: %[[T2S:.*]] = memref.reinterpret_cast %[[T]]
// CHECK: gpu.memcpy %{{.*}}, %[[T2S]]
// CHECK: gpu.launch
// CHECK: gpu.dealloc %[[T2RAW]]
// CHECK: memref.dealloc %[[T]]
func.func @host_between(%x: memref<16xf32>, %y: memref<16xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %t = memref.alloc() : memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<16xf32>
    memref.store %v, %t[%tx] : memref<16xf32>
    gpu.terminator
  }
  %r = memref.load %t[%c0] : memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %t[%tx] : memref<16xf32>
    memref.store %v, %y[%tx] : memref<16xf32>
    gpu.terminator
  }
  memref.store %r, %t[%c1] : memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %t[%tx] : memref<16xf32>
    memref.store %v, %y[%tx] : memref<16xf32>
    gpu.terminator
  }
  memref.dealloc %t : memref<16xf32>
  return %r : f32
}

// -----

// Views: the second kernel reads a subview and a reshape of %t, which are
// made of the device copy (same types, no copy).
// CHECK-LABEL: func.func @views
// CHECK: %[[T:.*]] = memref.alloc() : memref<4x8xf32>
// CHECK: %[[TRAW:.*]] = gpu.alloc
// CHECK: %[[TDEV:.*]] = arith.select %{{.*}}, %[[T]], %{{.*}} : memref<4x8xf32>
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK-NOT: gpu.memcpy
// CHECK-DAG: %[[SUB:.*]] = memref.subview %[[TDEV]][1, 0] [2, 8] [1, 1] : memref<4x8xf32> to memref<2x8xf32, strided<[8, 1], offset: 8>>
// CHECK-DAG: %[[FLAT:.*]] = memref.collapse_shape %[[TDEV]] {{\[}}[0, 1]] : memref<4x8xf32> into memref<32xf32>
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK-DAG: memref.load %[[SUB]]
// CHECK-DAG: memref.load %[[FLAT]]
// CHECK: gpu.terminator
// CHECK: gpu.dealloc %[[TRAW]]
func.func @views(%x: memref<4x8xf32>, %y: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %t = memref.alloc() : memref<4x8xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%c0, %tx] : memref<4x8xf32>
    memref.store %v, %t[%c1, %tx] : memref<4x8xf32>
    gpu.terminator
  }
  %sub = memref.subview %t[1, 0] [2, 8] [1, 1] : memref<4x8xf32> to memref<2x8xf32, strided<[8, 1], offset: 8>>
  %flat = memref.collapse_shape %t [[0, 1]] : memref<4x8xf32> into memref<32xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %a = memref.load %sub[%c0, %tx] : memref<2x8xf32, strided<[8, 1], offset: 8>>
    %b = memref.load %flat[%tx] : memref<32xf32>
    %s = arith.addf %a, %b : f32
    memref.store %s, %y[%tx] : memref<8xf32>
    gpu.terminator
  }
  memref.dealloc %t : memref<4x8xf32>
  return
}

// -----

// The caller's buffers may share memory: %a, written by the first kernel,
// comes back before the second kernel copies %b in (no chain between two
// arguments).
// CHECK-LABEL: func.func @arguments_may_alias
// CHECK-SAME: (%[[A:.*]]: memref<16xf32>, %[[B:.*]]: memref<16xf32>)
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK: %[[AS:.*]] = memref.reinterpret_cast %[[A]]
// CHECK: gpu.memcpy %[[AS]]
// CHECK: gpu.dealloc
// CHECK: %[[BS:.*]] = memref.reinterpret_cast %[[B]]
// CHECK: gpu.memcpy %{{.*}}, %[[BS]]
// CHECK: gpu.launch
func.func @arguments_may_alias(%a: memref<16xf32>, %b: memref<16xf32>) {
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %f = arith.constant 1.0 : f32
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    memref.store %f, %a[%tx] : memref<16xf32>
    gpu.terminator
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %b[%tx] : memref<16xf32>
    %w = arith.addf %v, %v : f32
    memref.store %w, %b[%tx] : memref<16xf32>
    gpu.terminator
  }
  return
}

// -----

// A buffer handed to a call may be reached under another name: the call
// gets it back first. A loop whose body touches a kept buffer gets it back
// too; the copies inside the loop body are staged in its own block.
// CHECK-LABEL: func.func @escapes
// CHECK: %[[T:.*]] = memref.alloc()
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK: %[[TS:.*]] = memref.reinterpret_cast %[[T]]
// CHECK: gpu.memcpy %[[TS]]
// CHECK-NEXT: gpu.dealloc
// CHECK-NEXT: call @use(%[[T]])
// CHECK: %[[TS2:.*]] = memref.reinterpret_cast %[[T]]
// CHECK: gpu.memcpy %{{.*}}, %[[TS2]]
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK: gpu.memcpy
// CHECK-NEXT: gpu.dealloc
// CHECK-NEXT: scf.for
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK: gpu.memcpy
// CHECK-NEXT: gpu.dealloc
// CHECK-NEXT: }
// CHECK-NEXT: memref.dealloc
func.func private @use(memref<16xf32>)
func.func @escapes() {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %f = arith.constant 1.0 : f32
  %t = memref.alloc() : memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    memref.store %f, %t[%tx] : memref<16xf32>
    gpu.terminator
  }
  call @use(%t) : (memref<16xf32>) -> ()
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %t[%tx] : memref<16xf32>
    memref.store %v, %t[%tx] : memref<16xf32>
    gpu.terminator
  }
  scf.for %i = %c0 to %c4 step %c1 {
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %v = memref.load %t[%tx] : memref<16xf32>
      %w = arith.addf %v, %v : f32
      memref.store %w, %t[%tx] : memref<16xf32>
      gpu.terminator
    }
  }
  memref.dealloc %t : memref<16xf32>
  return
}

// -----

// Host work between two launches that touches no host memory the first
// launch's GPU ops use (the copy of a weight's slice into a fresh buffer)
// moves above them, with the view and allocation it needs: the two
// launches stay one run of GPU ops without a host wait between them.
// CHECK-LABEL: func.func @hoist
// CHECK-SAME: (%[[X:.*]]: memref<16xf32>, %[[W:.*]]: memref<2x16xf32>, %[[Y:.*]]: memref<16xf32>)
// CHECK: %[[S:.*]] = memref.subview %[[W]]
// CHECK-NEXT: %[[C:.*]] = memref.alloc()
// CHECK-NEXT: memref.copy %[[S]], %[[C]]
// CHECK: gpu.launch
// CHECK: gpu.terminator
// CHECK-NOT: memref.copy
// CHECK: gpu.launch
// A host op that reads what a pending copy back writes stays after it.
// CHECK: %[[YS:.*]] = memref.reinterpret_cast %[[Y]]
// CHECK: gpu.memcpy %[[YS]]
// CHECK: memref.load %[[Y]]
func.func @hoist(%x: memref<16xf32>, %w: memref<2x16xf32>, %y: memref<16xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %t = memref.alloc() : memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<16xf32>
    memref.store %v, %t[%tx] : memref<16xf32>
    gpu.terminator
  }
  %s = memref.subview %w[1, 0] [1, 16] [1, 1] : memref<2x16xf32> to memref<16xf32, strided<[1], offset: 16>>
  %c = memref.alloc() : memref<16xf32>
  memref.copy %s, %c : memref<16xf32, strided<[1], offset: 16>> to memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %t[%tx] : memref<16xf32>
    %u = memref.load %c[%tx] : memref<16xf32>
    %z = arith.addf %u, %v : f32
    memref.store %z, %y[%tx] : memref<16xf32>
    gpu.terminator
  }
  %r = memref.load %y[%c0] : memref<16xf32>
  memref.dealloc %t : memref<16xf32>
  memref.dealloc %c : memref<16xf32>
  return %r : f32
}
