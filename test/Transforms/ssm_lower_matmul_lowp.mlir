// RUN: ssmc-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(ssm-lower-matmul{vector-bits=512 panel=64}))' | FileCheck %s --check-prefixes=CHECK,PORTABLE
// RUN: ssmc-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(ssm-lower-matmul{vector-bits=512 panel=64 cpu-features=avx2,avx512bf16}))' | FileCheck %s --check-prefixes=CHECK,DOT
// RUN: ssmc-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(ssm-lower-matmul{vector-bits=256 panel=64 cpu-features=avx512bf16,avx512vnni}))' | FileCheck %s --check-prefix=NARROW256
// RUN: ssmc-opt %s -split-input-file --pass-pipeline='builtin.module(func.func(ssm-lower-matmul{vector-bits=512 panel=64 cpu-features=avx512vnni}))' | FileCheck %s --check-prefix=VNNI

// Low-precision weights (A bf16 or i8; B and C f32).

// Decode with bf16 weights. Portable: the rows are read as bf16 vectors and
// widened in registers. With vdpbf16ps (avx512bf16, 16 lanes): the column
// is rounded to bf16 once, 32 products per x86vector.avx512.dot.
// CHECK-LABEL: func.func @narrow_bf16
// CHECK-NOT: linalg.matmul
// PORTABLE: %[[COL:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xf32>
// PORTABLE: scf.parallel
// PORTABLE: scf.for %{{.*}} iter_args
// PORTABLE: vector.load %[[COL]]
// PORTABLE: vector.load %{{.*}} : memref<96x40xbf16>, vector<16xbf16>
// PORTABLE: scf.if
// PORTABLE: vector.maskedload %[[COL]]
// PORTABLE-COUNT-4: vector.maskedload %{{.*}} : memref<96x40xbf16>, vector<16xi1>, vector<16xbf16> into vector<16xbf16>
// PORTABLE-NOT: x86vector
// PORTABLE: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// PORTABLE: math.fma
// DOT: %[[COL:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xbf16>
// DOT: arith.truncf %{{.*}} : f32 to bf16
// DOT: memref.store %{{.*}}, %[[COL]]
// DOT: scf.parallel
// DOT: scf.for %{{.*}} step %{{.*}} iter_args
// DOT: vector.load %[[COL]]{{.*}} vector<32xbf16>
// DOT-COUNT-4: x86vector.avx512.dot %{{.*}} : vector<32xbf16> -> vector<16xf32>
// DOT: scf.if
// DOT: vector.create_mask %{{.*}} : vector<32xi1>
// DOT: vector.maskedload %[[COL]]{{.*}} into vector<32xbf16>
// DOT-COUNT-4: x86vector.avx512.dot %{{.*}} : vector<32xbf16> -> vector<16xf32>
// DOT-NOT: math.fma
// CHECK-COUNT-4: vector.reduction <add>
// NARROW256-LABEL: func.func @narrow_bf16
// NARROW256-NOT: x86vector
// NARROW256: arith.extf %{{.*}} : vector<8xbf16> to vector<8xf32>
func.func @narrow_bf16(%a: memref<96x40xbf16>, %b: memref<40x1xf32>, %c: memref<96x1xf32>) {
  linalg.matmul ins(%a, %b : memref<96x40xbf16>, memref<40x1xf32>) outs(%c : memref<96x1xf32>)
  return
}

// -----

// Decode with i8 weights: read as i8 vectors, widened with sitofp. With
// vpdpbusd (avx512vnni, 16 lanes): the column quantized to int8 (scale
// max |b| / 127, its sum kept), 64 byte products per instruction on A's
// bytes offset to unsigned (xor -128), the offset's 128 * sum(q) removed.
// CHECK-LABEL: func.func @narrow_i8
// CHECK-NOT: linalg.matmul
// CHECK-NOT: x86vector
// CHECK: vector.maskedload %{{.*}} : memref<96x40xi8>, vector<16xi1>, vector<16xi8> into vector<16xi8>
// CHECK: arith.sitofp %{{.*}} : vector<16xi8> to vector<16xf32>
// CHECK: math.fma
// NARROW256-LABEL: func.func @narrow_i8
// NARROW256-NOT: llvm.call_intrinsic
// NARROW256: arith.sitofp %{{.*}} : vector<8xi8> to vector<8xf32>
// VNNI-LABEL: func.func @narrow_i8
// VNNI: %[[COL:.*]] = memref.alloc(%{{.*}}) {alignment = 64 : i64} : memref<?xi8>
// VNNI: %[[AMAX:.*]] = scf.for {{.*}} -> (f32)
// VNNI: math.absf
// VNNI: arith.maximumf
// VNNI: %[[SCALE:.*]] = arith.divf %[[AMAX]], %{{.*}} : f32
// VNNI: %[[SUM:.*]] = scf.for {{.*}} -> (i32)
// VNNI: math.roundeven
// VNNI: arith.fptosi
// VNNI: memref.store %{{.*}}, %[[COL]]
// VNNI: %[[BIAS:.*]] = arith.muli %[[SUM]], %{{.*}} : i32
// VNNI: scf.parallel
// VNNI: scf.for %{{.*}} iter_args
// VNNI: vector.load %[[COL]]{{.*}} vector<64xi8>
// VNNI-COUNT-4: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// VNNI: scf.if
// VNNI: vector.create_mask %{{.*}} : vector<64xi1>
// VNNI: vector.maskedload %[[COL]]{{.*}} into vector<64xi8>
// VNNI-COUNT-4: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// VNNI-NOT: math.fma
// VNNI: vector.reduction <add>, %{{.*}} : vector<16xi32> into i32
// VNNI: arith.subi %{{.*}}, %[[BIAS]] : i32
// VNNI: arith.sitofp
// VNNI: arith.mulf %{{.*}}, %[[SCALE]] : f32
func.func @narrow_i8(%a: memref<96x40xi8>, %b: memref<40x1xf32>, %c: memref<96x1xf32>) {
  linalg.matmul ins(%a, %b : memref<96x40xi8>, memref<40x1xf32>) outs(%c : memref<96x1xf32>)
  return
}

// -----

// Prefill with bf16 and i8 weights: the wide kernel broadcasts each weight,
// read as a scalar and widened.
// CHECK-LABEL: func.func @wide_lowp
// CHECK-NOT: linalg.matmul
// CHECK: memref.load %{{.*}} : memref<7x5xbf16>
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: vector.broadcast
// CHECK: math.fma
// CHECK: memref.load %{{.*}} : memref<7x5xi8>
// CHECK: arith.sitofp %{{.*}} : i8 to f32
// CHECK: vector.broadcast
// CHECK: math.fma
func.func @wide_lowp(%a: memref<7x5xbf16>, %q: memref<7x5xi8>, %b: memref<5x37xf32>, %c: memref<7x37xf32>) {
  linalg.matmul ins(%a, %b : memref<7x5xbf16>, memref<5x37xf32>) outs(%c : memref<7x37xf32>)
  linalg.matmul ins(%q, %b : memref<7x5xi8>, memref<5x37xf32>) outs(%c : memref<7x37xf32>)
  return
}

// -----

// Left for convert-linalg-to-loops: unsigned casts of i8 weights, a bf16
// B, and i16 weights.
// CHECK-LABEL: func.func @untouched_lowp
// CHECK-COUNT-3: linalg.matmul
// CHECK: return
func.func @untouched_lowp(%q: memref<4x4xi8>, %h: memref<4x4xbf16>, %w: memref<4x4xi16>, %f: memref<4x4xf32>) {
  linalg.matmul {cast = #linalg.type_fn<cast_unsigned>} ins(%q, %f : memref<4x4xi8>, memref<4x4xf32>) outs(%f : memref<4x4xf32>)
  linalg.matmul ins(%f, %h : memref<4x4xf32>, memref<4x4xbf16>) outs(%f : memref<4x4xf32>)
  linalg.matmul ins(%w, %f : memref<4x4xi16>, memref<4x4xf32>) outs(%f : memref<4x4xf32>)
  return
}
