// ssm-gpu-poison-write-only: before a launch, the host buffers it writes and
// does not read are filled with quiet NaN (floats) or 0xA5 bytes (integers);
// buffers it reads keep their contents.
// RUN: ssmc-opt %s -ssm-gpu-poison-write-only | FileCheck %s

// CHECK-LABEL: func.func @kernel
// CHECK-SAME: (%[[IN:.*]]: memref<4xf32>, %[[OUT:.*]]: memref<2x?xf32>, %[[IDX:.*]]: memref<4xi32>, %[[ACC:.*]]: memref<4xf32>)
// CHECK: %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// CHECK: %[[C2:.*]] = arith.constant 2 : index
// CHECK: %[[N:.*]] = memref.dim %[[OUT]], %{{.*}} : memref<2x?xf32>
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[C2]]
// CHECK-NEXT: scf.for %[[J:.*]] = %{{.*}} to %[[N]]
// CHECK-NEXT: memref.store %[[NAN]], %[[OUT]][%[[I]], %[[J]]]
// CHECK: %[[PAT:.*]] = arith.constant -1515870811 : i32
// CHECK: scf.for %[[K:.*]] =
// CHECK-NEXT: memref.store %[[PAT]], %[[IDX]][%[[K]]]
// CHECK-NOT: memref.store {{.*}}, %[[IN]]
// CHECK-NOT: memref.store {{.*}}, %[[ACC]]
// CHECK: gpu.launch
func.func @kernel(%in: memref<4xf32>, %out: memref<2x?xf32>, %idx: memref<4xi32>, %acc: memref<4xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c4, %sy = %c1, %sz = %c1) {
    %v = memref.load %in[%tx] : memref<4xf32>
    memref.store %v, %out[%c0, %tx] : memref<2x?xf32>
    %i = arith.index_cast %tx : index to i32
    memref.store %i, %idx[%tx] : memref<4xi32>
    %a = memref.load %acc[%tx] : memref<4xf32>
    %s = arith.addf %a, %v : f32
    memref.store %s, %acc[%tx] : memref<4xf32>
    gpu.terminator
  }
  return
}
