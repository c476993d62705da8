// ssm-gpu-stage-buffers on strided views: a view whose type a contiguous
// buffer casts to (a slice at a dynamic offset) is asked about itself
// whether it is device-resident, and then used in place; its contiguous
// host copy is made, copied from and copied back only when it is not
// (scf.if), its bytes sized zero otherwise. A view a contiguous buffer does
// not have the layout of for every size (a static offset, a static stride
// other than the contiguous one) goes through an unconditional host copy.
// RUN: ssmc-opt %s -ssm-gpu-stage-buffers -split-input-file | FileCheck %s

// A kernel reads a layer's slice of a stacked weight and updates a
// layer's slice of a stacked state.
// CHECK-LABEL: func.func @slices
// CHECK-SAME: (%[[W:.*]]: memref<4x8xf32>, %[[S:.*]]: memref<4x8xf32>, %[[I:.*]]: index)
// CHECK: %[[WV:.*]] = memref.subview %[[W]][%[[I]], 0]
// CHECK: %[[SV:.*]] = memref.subview %[[S]][%[[I]], 0]
// The weight view: the query on the view itself, its host copy's bytes
// zero when resident, the copy into it only when not.
// CHECK: %[[WRES:.*]] = ssm_gpu.is_resident %[[WV]] : memref<8xf32, strided<[1], offset: ?>>
// CHECK: %[[WN:.*]] = arith.select %[[WRES]], %{{.*}}, %{{.*}} : index
// CHECK: %[[WB:.*]] = arith.muli %[[WN]], %{{.*}} : index
// CHECK: %[[WHOST:.*]] = memref.alloc(%[[WB]]) {alignment = 64 : i64} : memref<?xi8>
// CHECK: %[[WC:.*]] = memref.view %[[WHOST]][%{{.*}}][] : memref<?xi8> to memref<8xf32>
// CHECK: %[[WNOT:.*]] = arith.xori %[[WRES]], %{{.*}} : i1
// CHECK: scf.if %[[WNOT]] {
// CHECK-NEXT: memref.copy %[[WV]], %[[WC]]
// CHECK-NEXT: }
// CHECK: %[[SRES:.*]] = ssm_gpu.is_resident %[[SV]]
// CHECK: %[[SHOST:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xi8>
// CHECK: %[[SC:.*]] = memref.view %[[SHOST]]
// CHECK: scf.if
// CHECK-NEXT: memref.copy %[[SV]], %[[SC]]
// The kernel's weight: the view itself when resident, else the device
// copy cast to the view's type.
// CHECK: %[[WRAW:.*]] = gpu.alloc
// CHECK: %[[WF:.*]] = memref.view %[[WRAW]]
// CHECK: %[[WCAST:.*]] = memref.cast %[[WF]] : memref<8xf32> to memref<8xf32, strided<[1], offset: ?>>
// CHECK: %[[WDEV:.*]] = arith.select %[[WRES]], %[[WV]], %[[WCAST]] : memref<8xf32, strided<[1], offset: ?>>
// CHECK: %[[WSRC:.*]] = memref.reinterpret_cast %[[WC]]
// CHECK: gpu.memcpy %{{.*}}, %[[WSRC]]
// CHECK: %[[SRAW:.*]] = gpu.alloc
// CHECK: %[[SDEV:.*]] = arith.select %[[SRES]], %[[SV]], %{{.*}} : memref<8xf32, strided<[1], offset: ?>>
// CHECK: gpu.launch
// CHECK: memref.load %[[WDEV]]
// CHECK: memref.store %{{.*}}, %[[SDEV]]
// CHECK: gpu.terminator
// The state goes back through its host copy only when not resident.
// CHECK: %[[SBACK:.*]] = memref.reinterpret_cast %[[SC]]
// CHECK: gpu.memcpy %[[SBACK]]
// CHECK: gpu.dealloc %[[SRAW]]
// Device frees move up to the GPU op before them.
// CHECK-NEXT: gpu.dealloc %[[WRAW]]
// CHECK: %[[SNOT:.*]] = arith.xori %[[SRES]], %{{.*}} : i1
// CHECK: scf.if %[[SNOT]] {
// CHECK-NEXT: memref.copy %[[SC]], %[[SV]]
// CHECK-NEXT: }
// CHECK-NOT: memref.copy
// CHECK-DAG: memref.dealloc %[[SHOST]]
// CHECK-DAG: memref.dealloc %[[WHOST]]
// CHECK: return
func.func @slices(%w: memref<4x8xf32>, %s: memref<4x8xf32>, %i: index) {
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %wv = memref.subview %w[%i, 0] [1, 8] [1, 1] : memref<4x8xf32> to memref<8xf32, strided<[1], offset: ?>>
  %sv = memref.subview %s[%i, 0] [1, 8] [1, 1] : memref<4x8xf32> to memref<8xf32, strided<[1], offset: ?>>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %v = memref.load %wv[%tx] : memref<8xf32, strided<[1], offset: ?>>
    %o = memref.load %sv[%tx] : memref<8xf32, strided<[1], offset: ?>>
    %a = arith.addf %v, %o : f32
    memref.store %a, %sv[%tx] : memref<8xf32, strided<[1], offset: ?>>
    gpu.terminator
  }
  return
}

// -----

// Dynamic outer strides (toStridedBuffer's views) cast from a contiguous
// buffer too: asked about in place, the copy conditional.
// CHECK-LABEL: func.func @dynamic_strides
// CHECK-SAME: (%[[X:.*]]: memref<?x8xf32, strided<[?, 1], offset: ?>>, %[[Y:.*]]: memref<8xf32>)
// CHECK: %[[RES:.*]] = ssm_gpu.is_resident %[[X]] : memref<?x8xf32, strided<[?, 1], offset: ?>>
// CHECK: scf.if
// CHECK-NEXT: memref.copy %[[X]]
// CHECK: memref.cast %{{.*}} : memref<?x8xf32> to memref<?x8xf32, strided<[?, 1], offset: ?>>
// CHECK: %[[DEV:.*]] = arith.select %[[RES]], %[[X]], %{{.*}} : memref<?x8xf32, strided<[?, 1], offset: ?>>
// CHECK: gpu.launch
// CHECK: memref.load %[[DEV]]
func.func @dynamic_strides(%x: memref<?x8xf32, strided<[?, 1], offset: ?>>, %y: memref<8xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %v = memref.load %x[%c0, %tx] : memref<?x8xf32, strided<[?, 1], offset: ?>>
    memref.store %v, %y[%tx] : memref<8xf32>
    gpu.terminator
  }
  return
}

// -----

// A column slice (static stride 4 where a contiguous buffer has 1): no
// cast reaches it, so it goes through an unconditional contiguous host
// copy whose residency is asked (and never holds), as before.
// CHECK-LABEL: func.func @column
// CHECK-SAME: (%[[X:.*]]: memref<8x4xf32>
// CHECK: %[[COL:.*]] = memref.subview %[[X]]
// CHECK: %[[C:.*]] = memref.alloc() : memref<8xf32>
// CHECK-NEXT: memref.copy %[[COL]], %[[C]]
// CHECK-NEXT: ssm_gpu.is_resident %[[C]] : memref<8xf32>
// CHECK-NOT: scf.if
// CHECK: gpu.launch
func.func @column(%x: memref<8x4xf32>, %y: memref<8xf32>, %j: index) {
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %col = memref.subview %x[0, %j] [8, 1] [1, 1] : memref<8x4xf32> to memref<8xf32, strided<[4], offset: ?>>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %v = memref.load %col[%tx] : memref<8xf32, strided<[4], offset: ?>>
    memref.store %v, %y[%tx] : memref<8xf32>
    gpu.terminator
  }
  return
}

// -----

// A KV cache's filled prefix: static strides next to a dynamic size. A
// contiguous copy of it has other strides (they follow the size), so it
// cannot stand in for the view: unconditional host copy.
// CHECK-LABEL: func.func @prefix
// CHECK-SAME: (%[[X:.*]]: memref<2x16xf32>
// CHECK: %[[P:.*]] = memref.subview %[[X]]
// CHECK: %[[C:.*]] = memref.alloc(%{{.*}}) : memref<2x?xf32>
// CHECK-NEXT: memref.copy %[[P]], %[[C]]
// CHECK-NEXT: ssm_gpu.is_resident %[[C]] : memref<2x?xf32>
// CHECK-NOT: scf.if
// CHECK-NOT: memref.cast
// CHECK: gpu.launch
func.func @prefix(%x: memref<2x16xf32>, %y: memref<2xf32>, %n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %p = memref.subview %x[0, 0] [2, %n] [1, 1] : memref<2x16xf32> to memref<2x?xf32, strided<[16, 1]>>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c2, %sy = %c1, %sz = %c1) {
    %v = memref.load %p[%tx, %c0] : memref<2x?xf32, strided<[16, 1]>>
    memref.store %v, %y[%tx] : memref<2xf32>
    gpu.terminator
  }
  return
}
