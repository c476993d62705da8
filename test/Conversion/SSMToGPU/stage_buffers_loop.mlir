// ssm-gpu-stage-buffers keeps a loop-carried buffer that only the loop
// body's kernels use on the device across the iterations: its device copy
// is an iter arg of the loop, copied in once before the loop and back once
// after it, where the host reads the result. Where the host touches the
// carried buffer in the body, the body stages it as before (copies in and
// back in every iteration).
// RUN: ssmc-opt %s -ssm-gpu-stage-buffers -split-input-file | FileCheck %s

// The residual stream of a layer loop, as bufferization leaves it: a fresh
// allocation each iteration (%next), the previous one freed when the loop
// owns it. No copy inside the loop; the result comes back before the host
// copies it into the caller's %y.
// CHECK-LABEL: func.func @carried_fresh
// CHECK: %[[INIT:.*]] = memref.alloc()
// CHECK: memref.copy %{{.*}}, %[[INIT]]
// CHECK: %[[RAW0:.*]] = gpu.alloc
// CHECK: %[[V0:.*]] = memref.view %[[RAW0]]
// CHECK: %[[D0:.*]] = memref.reinterpret_cast %[[V0]]
// CHECK: %[[S0:.*]] = memref.reinterpret_cast %[[INIT]]
// CHECK: gpu.memcpy %[[D0]], %[[S0]]
// CHECK-NEXT: %[[R:.*]]:3 = scf.for {{.*}} iter_args(%[[H:.*]] = %[[INIT]], %{{.*}} = %{{.*}}, %[[HRAW:.*]] = %[[RAW0]]) -> (memref<16xf32>, i1, memref<?xi8>)
// CHECK: %[[HDEV:.*]] = memref.view %[[HRAW]]
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: memref.load %[[HDEV]]
// CHECK: gpu.terminator
// CHECK-NOT: gpu.memcpy
// CHECK: %[[NRAW:.*]] = gpu.alloc
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: memref.load %[[HDEV]]
// CHECK: gpu.terminator
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.dealloc %[[HRAW]]
// CHECK-NOT: gpu.memcpy
// CHECK: scf.yield %{{.*}}, %{{.*}}, %[[NRAW]] : memref<16xf32>, i1, memref<?xi8>
// CHECK: %[[RDEV:.*]] = memref.view %[[R]]#2
// CHECK: %[[RH:.*]] = memref.reinterpret_cast %[[R]]#0
// CHECK: %[[RD:.*]] = memref.reinterpret_cast %[[RDEV]]
// CHECK: gpu.memcpy %[[RH]], %[[RD]]
// CHECK-NEXT: gpu.dealloc %[[R]]#2
// CHECK-NEXT: memref.copy %[[R]]#0
// CHECK-NOT: gpu.memcpy
// CHECK: return
func.func @carried_fresh(%x: memref<16xf32>, %n: index, %y: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c16 = arith.constant 16 : index
  %false = arith.constant false
  %true = arith.constant true
  %init = memref.alloc() : memref<16xf32>
  memref.copy %x, %init : memref<16xf32> to memref<16xf32>
  %r:2 = scf.for %i = %c0 to %n step %c1 iter_args(%h = %init, %owned = %false) -> (memref<16xf32>, i1) {
    %t = memref.alloc() : memref<16xf32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %v = memref.load %h[%tx] : memref<16xf32>
      %s = arith.mulf %v, %v : f32
      memref.store %s, %t[%tx] : memref<16xf32>
      gpu.terminator
    }
    %next = memref.alloc() : memref<16xf32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %a = memref.load %h[%tx] : memref<16xf32>
      %b = memref.load %t[%tx] : memref<16xf32>
      %s = arith.addf %a, %b : f32
      memref.store %s, %next[%tx] : memref<16xf32>
      gpu.terminator
    }
    memref.dealloc %t : memref<16xf32>
    %base, %offset, %size, %stride = memref.extract_strided_metadata %h : memref<16xf32> -> memref<f32>, index, index, index
    scf.if %owned {
      memref.dealloc %base : memref<f32>
    }
    scf.yield %next, %true : memref<16xf32>, i1
  }
  memref.copy %r#0, %y : memref<16xf32> to memref<16xf32>
  return
}

// -----

// A kernel updating the carried buffer in place, the loop yielding it:
// the same device buffer goes round, and the host frees its buffer after
// the copy back.
// CHECK-LABEL: func.func @in_place
// CHECK: %[[INIT:.*]] = memref.alloc()
// CHECK: %[[RAW0:.*]] = gpu.alloc
// CHECK: gpu.memcpy
// CHECK-NEXT: %[[R:.*]]:2 = scf.for {{.*}} iter_args(%[[H:.*]] = %[[INIT]], %[[HRAW:.*]] = %[[RAW0]]) -> (memref<16xf32>, memref<?xi8>)
// CHECK: %[[HDEV:.*]] = memref.view %[[HRAW]]
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: memref.load %[[HDEV]]
// CHECK: memref.store %{{.*}}, %[[HDEV]]
// CHECK-NOT: gpu.memcpy
// CHECK-NOT: gpu.dealloc
// CHECK: scf.yield %[[H]], %[[HRAW]] : memref<16xf32>, memref<?xi8>
// CHECK: gpu.memcpy
// CHECK-NEXT: gpu.dealloc %[[R]]#1
// CHECK-NEXT: memref.copy %[[R]]#0
// CHECK-NEXT: memref.dealloc %[[INIT]]
func.func @in_place(%x: memref<16xf32>, %y: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %init = memref.alloc() : memref<16xf32>
  memref.copy %x, %init : memref<16xf32> to memref<16xf32>
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%h = %init) -> (memref<16xf32>) {
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %v = memref.load %h[%tx] : memref<16xf32>
      %s = arith.mulf %v, %v : f32
      memref.store %s, %h[%tx] : memref<16xf32>
      gpu.terminator
    }
    scf.yield %h : memref<16xf32>
  }
  memref.copy %r, %y : memref<16xf32> to memref<16xf32>
  memref.dealloc %init : memref<16xf32>
  return
}


// -----

// The host reads the carried buffer in the body: the loop is left as it
// was, and the body copies the buffer in and back in every iteration.
// CHECK-LABEL: func.func @host_read
// CHECK: scf.for {{.*}} -> (memref<16xf32>) {
// CHECK: gpu.memcpy
// CHECK: gpu.launch
// CHECK: gpu.memcpy
// CHECK-NEXT: gpu.dealloc
// CHECK-NEXT: memref.load
// CHECK: scf.yield %{{.*}} : memref<16xf32>
func.func @host_read(%x: memref<16xf32>, %y: memref<16xf32>, %out: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %init = memref.alloc() : memref<16xf32>
  memref.copy %x, %init : memref<16xf32> to memref<16xf32>
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%h = %init) -> (memref<16xf32>) {
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %v = memref.load %h[%tx] : memref<16xf32>
      %s = arith.mulf %v, %v : f32
      memref.store %s, %h[%tx] : memref<16xf32>
      gpu.terminator
    }
    %first = memref.load %h[%c0] : memref<16xf32>
    memref.store %first, %out[%i] : memref<4xf32>
    scf.yield %h : memref<16xf32>
  }
  memref.copy %r, %y : memref<16xf32> to memref<16xf32>
  memref.dealloc %init : memref<16xf32>
  return
}


// -----

// A kernel in a nested block of the body (scf.if): not carried, staged in
// the nested block as before.
// CHECK-LABEL: func.func @nested_if
// CHECK: scf.for {{.*}} -> (memref<16xf32>) {
// CHECK: scf.if
// CHECK: gpu.memcpy
// CHECK: gpu.launch
// CHECK: gpu.memcpy
// CHECK: scf.yield %{{.*}} : memref<16xf32>
func.func @nested_if(%x: memref<16xf32>, %y: memref<16xf32>, %odd: i1) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %init = memref.alloc() : memref<16xf32>
  memref.copy %x, %init : memref<16xf32> to memref<16xf32>
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%h = %init) -> (memref<16xf32>) {
    scf.if %odd {
      gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
                 threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
        %v = memref.load %h[%tx] : memref<16xf32>
        %s = arith.mulf %v, %v : f32
        memref.store %s, %h[%tx] : memref<16xf32>
        gpu.terminator
      }
    }
    scf.yield %h : memref<16xf32>
  }
  memref.copy %r, %y : memref<16xf32> to memref<16xf32>
  memref.dealloc %init : memref<16xf32>
  return
}


// -----

// The init a kernel's result that the host copies into a fresh buffer (as
// bufferization copies a loop's init): the copy is made on the device,
// whose buffer enters the loop; nothing goes back to the host before the
// loop (the host does not read the init after it), and the loop's result
// stays on the device for the kernel after the loop.
// CHECK-LABEL: func.func @init_from_kernel
// CHECK: %[[E:.*]] = memref.alloc()
// CHECK: %[[INIT:.*]] = memref.alloc()
// CHECK: gpu.memcpy
// CHECK: %[[ERAW:.*]] = gpu.alloc
// CHECK: %[[EV:.*]] = memref.view %[[ERAW]]
// CHECK: gpu.launch
// CHECK-NOT: memref.copy
// CHECK: %[[IRAW:.*]] = gpu.alloc
// CHECK: %[[IV:.*]] = memref.view %[[IRAW]]
// CHECK: %[[ID:.*]] = memref.reinterpret_cast %[[IV]]
// CHECK: %[[ES:.*]] = memref.reinterpret_cast %[[EV]]
// CHECK: gpu.memcpy %[[ID]], %[[ES]]
// CHECK-NOT: gpu.memcpy
// CHECK: %[[R:.*]]:2 = scf.for {{.*}} iter_args(%{{.*}} = %[[INIT]], %{{.*}} = %[[IRAW]])
// CHECK-NOT: gpu.memcpy
// CHECK: scf.yield
// CHECK: %[[RDEV:.*]] = memref.view %[[R]]#1
// CHECK-NOT: gpu.memcpy
// CHECK: gpu.launch
// CHECK: memref.load %[[RDEV]]
func.func @init_from_kernel(%x: memref<16xf32>, %y: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %e = memref.alloc() : memref<16xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%tx] : memref<16xf32>
    memref.store %v, %e[%tx] : memref<16xf32>
    gpu.terminator
  }
  %init = memref.alloc() : memref<16xf32>
  memref.copy %e, %init : memref<16xf32> to memref<16xf32>
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%h = %init) -> (memref<16xf32>) {
    %next = memref.alloc() : memref<16xf32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %v = memref.load %h[%tx] : memref<16xf32>
      %s = arith.addf %v, %v : f32
      memref.store %s, %next[%tx] : memref<16xf32>
      gpu.terminator
    }
    scf.yield %next : memref<16xf32>
  }
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
    %v = memref.load %r[%tx] : memref<16xf32>
    memref.store %v, %y[%tx] : memref<16xf32>
    gpu.terminator
  }
  memref.dealloc %e : memref<16xf32>
  memref.dealloc %init : memref<16xf32>
  return
}


// -----

// The init a caller's buffer: not carried (the caller may read it).
// CHECK-LABEL: func.func @init_argument
// CHECK: scf.for {{.*}} -> (memref<16xf32>) {
// CHECK: gpu.memcpy
// CHECK: gpu.launch
// CHECK: scf.yield %{{.*}} : memref<16xf32>
func.func @init_argument(%x: memref<16xf32>, %y: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %c16 = arith.constant 16 : index
  %r = scf.for %i = %c0 to %c4 step %c1 iter_args(%h = %x) -> (memref<16xf32>) {
    %next = memref.alloc() : memref<16xf32>
    gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
               threads(%tx, %ty, %tz) in (%sx = %c16, %sy = %c1, %sz = %c1) {
      %v = memref.load %h[%tx] : memref<16xf32>
      %s = arith.addf %v, %v : f32
      memref.store %s, %next[%tx] : memref<16xf32>
      gpu.terminator
    }
    scf.yield %next : memref<16xf32>
  }
  memref.copy %r, %y : memref<16xf32> to memref<16xf32>
  return
}
