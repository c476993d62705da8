// RUN: ssmc-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(ssm-lower-matmul{vector-bits=512 panel=64}))' | FileCheck %s
// RUN: not ssmc-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(ssm-lower-matmul{panel=40}))' 2>&1 | FileCheck %s --check-prefix=PANEL
// RUN: ssmc-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(ssm-lower-matmul{vector-bits=512 panel=64 prefetch-bytes=1024}))' | FileCheck %s --check-prefix=PREFETCH

// PANEL: ssm-lower-matmul: panel 40 is not a positive multiple of two vectors (32 columns)

// Wide kernel: panels of B's columns packed into 32-column tiles (rows
// consecutive), then 4-row blocks of C in parallel, a 4 x 2-vector register
// block over K per tile, masked column tails of C.
// CHECK-LABEL: func.func @wide
// CHECK-NOT: linalg.matmul
// CHECK-DAG: %[[STEP:.*]] = arith.constant 64 : index
// CHECK-DAG: %[[PACKED:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<2x?x32xf32>
// CHECK: scf.for %[[P0:.*]] = %{{.*}} to %{{.*}} step %[[STEP]]
// CHECK: scf.parallel
// CHECK-COUNT-2: vector.maskedload %{{.*}} : memref<5x37xf32>
// CHECK: vector.store %{{.*}}, %[[PACKED]]
// CHECK: scf.parallel
// CHECK-COUNT-8: vector.maskedload %{{.*}} : memref<7x37xf32>
// CHECK: scf.for %{{.*}} iter_args
// CHECK-COUNT-2: vector.load %[[PACKED]]
// CHECK: memref.load %{{.*}} : memref<7x5xf32>
// CHECK: vector.broadcast
// CHECK-COUNT-2: math.fma
// CHECK: scf.yield
// CHECK-COUNT-8: vector.maskedstore
// CHECK: memref.dealloc %[[PACKED]]
func.func @wide(%a: memref<7x5xf32>, %b: memref<5x37xf32>, %c: memref<7x37xf32>) {
  linalg.matmul ins(%a, %b : memref<7x5xf32>, memref<5x37xf32>) outs(%c : memref<7x37xf32>)
  return
}

// -----

// Narrow kernel (static N < 16): the column is copied once, rows are dotted
// with it along K (whole vectors with plain loads, then the K mod 16 tail
// once under a mask), one horizontal sum per result. No prefetch unless
// asked for; with prefetch-bytes each full step prefetches its 4 rows that
// far ahead (256 f32), clamped to the row.
// CHECK-LABEL: func.func @narrow
// CHECK-NOT: linalg.matmul
// CHECK: %[[COL:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xf32>
// CHECK: scf.for
// CHECK: memref.load %{{.*}} : memref<768x1xf32>
// CHECK: memref.store %{{.*}}, %[[COL]]
// CHECK: scf.parallel
// CHECK: scf.for %{{.*}} iter_args
// CHECK-NOT: vector.create_mask
// CHECK-NOT: memref.prefetch
// CHECK: vector.load %[[COL]]
// CHECK: vector.load %{{.*}} : memref<3072x768xf32>, vector<16xf32>
// CHECK-COUNT-4: math.fma
// CHECK: scf.yield
// CHECK: scf.if
// CHECK: vector.create_mask
// CHECK: vector.maskedload %[[COL]]
// CHECK-COUNT-4: math.fma
// CHECK-COUNT-4: vector.reduction <add>
// CHECK-COUNT-4: memref.store
// CHECK: memref.dealloc %[[COL]]
// PREFETCH-LABEL: func.func @narrow
// PREFETCH-DAG: %[[AHEAD:.*]] = arith.constant 256 : index
// PREFETCH: scf.for %[[K:.*]] = {{.*}} iter_args
// PREFETCH: %[[NEXT:.*]] = arith.addi %[[K]], %[[AHEAD]]
// PREFETCH: %[[AT:.*]] = arith.minsi %[[NEXT]]
// PREFETCH-COUNT-4: memref.prefetch %{{.*}}[%{{.*}}, %[[AT]]], read, locality<0>, data
// PREFETCH: vector.load
// PREFETCH: scf.if
// PREFETCH-NOT: memref.prefetch
// PREFETCH: scf.yield
func.func @narrow(%a: memref<3072x768xf32>, %b: memref<768x1xf32>, %c: memref<3072x1xf32>) {
  linalg.matmul ins(%a, %b : memref<3072x768xf32>, memref<768x1xf32>) outs(%c : memref<3072x1xf32>)
  return
}

// -----

// B transposed ([N, K], a row-major weight on token-major activations): the
// packing reads B's rows (a scalar copy per tile lane), the kernel is the
// same.
// CHECK-LABEL: func.func @transposed_b
// CHECK-NOT: linalg.matmul
// CHECK: scf.parallel
// CHECK: scf.for %[[J:.*]] = %c0 to %c32 step %c1 {
// CHECK: arith.minsi
// CHECK: memref.load %{{.*}} : memref<37x5xf32>
// CHECK: memref.store %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}, %[[J]]] : memref<2x?x32xf32>
// CHECK: math.fma
func.func @transposed_b(%a: memref<7x5xf32>, %b: memref<37x5xf32>, %c: memref<7x37xf32>) {
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>, affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%a, %b : memref<7x5xf32>, memref<37x5xf32>) outs(%c : memref<7x37xf32>)
  return
}

// -----

// Dynamic sizes take the wide kernel (N may be large at run time).
// CHECK-LABEL: func.func @dynamic
// CHECK-NOT: linalg.matmul
// CHECK: scf.parallel
// CHECK-NOT: vector.reduction
func.func @dynamic(%a: memref<?x?xf32>, %b: memref<?x?xf32>, %c: memref<?x?xf32>) {
  linalg.matmul ins(%a, %b : memref<?x?xf32>, memref<?x?xf32>) outs(%c : memref<?x?xf32>)
  return
}

// -----

// Left for convert-linalg-to-loops: f64, a strided last dimension, a
// transposed operand, and tensors.
// CHECK-LABEL: func.func @untouched
// CHECK-COUNT-3: linalg.matmul
// CHECK: return
func.func @untouched(%a: memref<4x4xf64>, %b: memref<4x4xf64>, %c: memref<4x4xf64>,
                     %s: memref<4x4xf32, strided<[8, 2]>>, %f: memref<4x4xf32>) {
  linalg.matmul ins(%a, %b : memref<4x4xf64>, memref<4x4xf64>) outs(%c : memref<4x4xf64>)
  linalg.matmul ins(%f, %s : memref<4x4xf32>, memref<4x4xf32, strided<[8, 2]>>) outs(%f : memref<4x4xf32>)
  linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (k, m)>, affine_map<(m, n, k) -> (k, n)>, affine_map<(m, n, k) -> (m, n)>]
      ins(%f, %f : memref<4x4xf32>, memref<4x4xf32>) outs(%f : memref<4x4xf32>)
  return
}

// CHECK-LABEL: func.func @tensors
// CHECK: linalg.matmul
func.func @tensors(%a: tensor<4x4xf32>, %b: tensor<4x4xf32>, %c: tensor<4x4xf32>) -> tensor<4x4xf32> {
  %r = linalg.matmul ins(%a, %b : tensor<4x4xf32>, tensor<4x4xf32>) outs(%c : tensor<4x4xf32>) -> tensor<4x4xf32>
  return %r : tensor<4x4xf32>
}
