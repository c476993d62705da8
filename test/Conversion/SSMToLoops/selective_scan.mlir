// convert-ssm-to-loops on ssm.selective_scan.
// RUN: ssmc-opt %s -split-input-file --convert-ssm-to-loops | FileCheck %s
// RUN: ssmc-opt %s -split-input-file --convert-ssm-to-loops="vector-bits=256 avx512=false" | FileCheck %s --check-prefix=W256
// RUN: ssmc-opt %s -split-input-file --convert-ssm-to-loops=fast-exp=false | FileCheck %s --check-prefix=MATHEXP

// Static shapes: no run-time checks, results allocated once, a parallel loop
// over (batch, channel blocks), 4 state vectors carried by the time loop.
// CHECK-LABEL: func.func @static
// CHECK-NOT: ssmcShapeError
// CHECK-DAG: %[[U:.*]] = bufferization.to_buffer %arg0 read_only : tensor<2x20x7xf32> to memref<2x20x7xf32>
// CHECK-DAG: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x20x7xf32>
// CHECK-DAG: %[[FS:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x20x4xf32>
// CHECK: scf.parallel (%[[B:.*]], %[[BLK:.*]]) = (%c0, %c0) to (%c2, %c2) step (%c1, %c1)
// CHECK: vector.create_mask %{{.*}} : vector<16xi1>
// CHECK: %[[R:.*]]:4 = scf.for %[[T:.*]] = %c0 to %c7 step %c1 iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: vector.gather %[[U]][%[[B]], %{{.*}}, %[[T]]]
// softplus: max(x, 0) + log1p(e), e = exp(-|x|) through exp2 (x log2 e,
// roundeven, polynomial, vscalefps), log1p(e) = e g(e) by a polynomial.
// CHECK: math.absf %{{.*}} : vector<16xf32>
// CHECK: math.roundeven %{{.*}} : vector<16xf32>
// CHECK: x86vector.avx512.mask.scalef
// CHECK-COUNT-8: math.fma
// CHECK: arith.maximumf
// CHECK-NOT: math.log1p
// Per state index exp2(dt * A log2 e): A was prescaled once, outside the loop.
// CHECK-COUNT-4: x86vector.avx512.mask.scalef
// CHECK-NOT: math.exp
// CHECK: math.fma
// CHECK: vector.scatter %[[OUT]]
// CHECK: scf.yield
// CHECK: vector.scatter %[[FS]]
// CHECK: bufferization.to_tensor %[[OUT]] restrict :
// CHECK: bufferization.to_tensor %[[FS]] restrict :
// W256-LABEL: func.func @static
// W256: scf.parallel (%{{.*}}, %{{.*}}) = (%c0, %c0) to (%c2, %c3)
// W256: vector<8xf32>
// Without AVX-512, 2^k is built from exponent bits.
// W256-NOT: x86vector
// W256: arith.shli %{{.*}} : vector<8xi32>
// W256: arith.bitcast %{{.*}} : vector<8xi32> to vector<8xf32>
// MATHEXP-LABEL: func.func @static
// MATHEXP-NOT: x86vector
// MATHEXP: math.exp %{{.*}} : vector<16xf32>
func.func @static(%u: tensor<2x20x7xf32>, %dt: tensor<2x20x7xf32>, %A: tensor<20x4xf32>,
                  %B: tensor<2x4x7xf32>, %C: tensor<2x4x7xf32>) -> (tensor<2x20x7xf32>, tensor<2x20x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C delta_softplus
      : (tensor<2x20x7xf32>, tensor<2x20x7xf32>, tensor<20x4xf32>, tensor<2x4x7xf32>,
         tensor<2x4x7xf32>) -> (tensor<2x20x7xf32>, tensor<2x20x4xf32>)
  return %y, %h : tensor<2x20x7xf32>, tensor<2x20x4xf32>
}

// -----

// Dynamic shapes: every relation the verifier could not see becomes a
// run-time check whose message is recorded on the module; the loops run only
// when all hold. Dynamic N keeps the state in a stack buffer of vectors.
// CHECK: module attributes {ssm.runtime_checks = ["ssm.selective_scan at {{.*}}: dimension 0 (B) of 'delta' must equal dimension 0 of 'u'"
// CHECK-SAME: "ssm.selective_scan at {{.*}}: dimension 1 (N) of 'B' must equal dimension 1 of 'A'"
// CHECK: func.func private @ssmcShapeError(i64, i64, i64)
// CHECK-LABEL: func.func @dynamic
// CHECK: %[[OK:.*]] = arith.cmpi eq
// CHECK: scf.if
// CHECK: func.call @ssmcShapeError(%c0_i64
// CHECK: scf.if %{{.*}} {
// CHECK: scf.parallel
// CHECK: memref.alloca(%{{.*}}) : memref<?xvector<16xf32>>
func.func @dynamic(%u: tensor<?x?x?xf32>, %A: tensor<?x?xf32>, %B: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?xf32>, tensor<?x?x?xf32>,
         tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

// bf16 activations: gathered as bf16, widened to f32, narrowed on store;
// grouped B is read with a per-lane group offset.
// CHECK-LABEL: func.func @bf16_grouped
// CHECK: arith.divui %{{.*}} : vector<16xi64>
// CHECK: vector.gather {{.*}} : memref<1x8x4xbf16>, vector<16xi64>, vector<16xi1>, vector<16xbf16> into vector<16xbf16>
// CHECK: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// CHECK: arith.truncf %{{.*}} : vector<16xf32> to vector<16xbf16>
// CHECK: vector.scatter
func.func @bf16_grouped(%u: tensor<1x8x4xbf16>, %A: tensor<8x2xf32>, %B: tensor<1x2x2x4xbf16>)
    -> tensor<1x8x4xbf16> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x8x4xbf16>, tensor<1x8x4xbf16>, tensor<8x2xf32>, tensor<1x2x2x4xbf16>,
         tensor<1x2x2x4xbf16>) -> tensor<1x8x4xbf16>
  return %y : tensor<1x8x4xbf16>
}

// -----

// L >= 16: tiles of 16 steps (the next tile's rows prefetched). dt (bias,
// softplus) and dt*u are computed on the [channel x 16 steps] rows of u and
// delta as they lie, then transposed in registers into per-step vectors and
// staged on the stack; the recurrence runs as a loop over the tile's steps
// (one exp2 per state index, state in registers as loop-carried vectors).
// The outputs are transposed back, and the D skip (one scalar per channel
// row) and z gate (z rows as they lie) are applied to each row as it is
// stored; the last L mod 16 steps run one at a time.
// CHECK-LABEL: func.func @tiled
// CHECK: %[[DT:.*]] = memref.alloca() : memref<16xvector<16xf32>>
// CHECK: %[[Y:.*]] = memref.alloca() : memref<16xvector<16xf32>>
// CHECK-NOT: memref.alloca
// CHECK: %[[H:.*]]:4 = scf.for %{{.*}} = %c0 to %c2 step %c1 iter_args
// The next tile's rows (16 streams per operand) are prefetched.
// CHECK-COUNT-48: memref.prefetch %{{.*}}, read, locality<3>, data
// CHECK-COUNT-16: memref.prefetch %{{.*}}, write, locality<3>, data
// Row 0 of u and delta, its softplus; then the other 15 rows.
// CHECK: vector.transfer_read
// CHECK: vector.transfer_read
// CHECK: math.absf
// CHECK-COUNT-15: math.absf
// CHECK: vector.shuffle
// CHECK: memref.store %{{.*}}, %[[DT]][%c0]
// CHECK: memref.store %{{.*}}, %[[Y]][%c0]
// CHECK: scf.for %[[K2:.*]] = %c0 to %c16 step %c1 iter_args(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>) {
// CHECK: memref.load %[[DT]][%[[K2]]]
// CHECK-COUNT-4: x86vector.avx512.mask.scalef
// CHECK: memref.store %{{.*}}, %[[Y]][%[[K2]]]
// CHECK: scf.yield
// CHECK-NOT: scf.for
// CHECK: memref.load %[[Y]][%c0]
// CHECK: vector.shuffle
// Row 0: D[row], the u and z rows, silu, the masked store.
// CHECK: memref.load %{{.*}}[%[[ROW:.*]]] : memref<16xf32>
// CHECK: vector.transfer_read %{{.*}}[%{{.*}}, %[[ROW]], %{{.*}}]
// CHECK: vector.transfer_read %{{.*}}[%{{.*}}, %[[ROW]], %{{.*}}]
// CHECK: math.fma
// CHECK: arith.divf
// CHECK: vector.maskedstore %{{.*}}[%{{.*}}, %[[ROW]], %{{.*}}]
// CHECK-COUNT-15: vector.maskedstore
// CHECK: scf.for %{{.*}} = %{{.*}} to %c35 step %c1 iter_args
func.func @tiled(%u: tensor<1x16x35xf32>, %A: tensor<16x4xf32>, %B: tensor<1x4x35xf32>, %D: tensor<16xf32>) -> tensor<1x16x35xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B D(%D) z(%u) delta_softplus
      : (tensor<1x16x35xf32>, tensor<1x16x35xf32>, tensor<16x4xf32>, tensor<1x4x35xf32>, tensor<1x4x35xf32>, tensor<16xf32>, tensor<1x16x35xf32>) -> tensor<1x16x35xf32>
  return %y : tensor<1x16x35xf32>
}

// -----

// B fixed over time ([Dm, N]): its block of columns is gathered once per
// block into a stack buffer of N vectors, which the time loop loads (no
// per-step gather of B); the shared C is still staged per tile. seq_idx:
// per (batch row, block) a scf.while over the row's segments, each in an
// alloca_scope; h0 only on the first segment (select), the final state only
// from the last (the scatter mask and'ed with "ends the row").
// CHECK-LABEL: func.func @fixed_b_seq_idx
// CHECK: scf.parallel (%[[ROW:.*]], %{{.*}}) = (%c0, %c0) to (%c3, %c2)
// CHECK: %[[COLS:.*]] = memref.alloca(%c4) : memref<?xvector<16xf32>>
// CHECK: scf.for
// CHECK: %[[COL:.*]] = vector.gather %{{.*}} : memref<20x4xf32>
// CHECK: memref.store %[[COL]], %[[COLS]]
// CHECK: scf.while (%[[BEGIN:.*]] = %c0, %{{.*}} = %true) : (index, i1) -> (index, i1)
// CHECK: memref.load %{{.*}}[%[[ROW]], %{{.*}}] : memref<3x23xi64>
// CHECK: scf.while
// CHECK: memref.alloca_scope
// CHECK: %[[FIRST:.*]] = arith.cmpi eq, %{{.*}}, %c0 : index
// CHECK: %[[ENDS:.*]] = arith.cmpi eq, %{{.*}}, %c23 : index
// CHECK: %[[H0:.*]] = vector.gather %{{.*}}[%[[ROW]], %{{.*}}, %c0]{{.*}} : memref<3x20x4xf32, strided<[?, 4, 1], offset: ?>>
// CHECK: arith.select %[[FIRST]], %[[H0]], %{{.*}} : vector<16xf32>
// CHECK: memref.alloca() : memref<4x16xf32>
// CHECK: memref.load %[[COLS]][%c0] : memref<?xvector<16xf32>>
// CHECK: %[[LANES:.*]] = vector.broadcast %[[ENDS]] : i1 to vector<16xi1>
// CHECK: %[[MASK:.*]] = arith.andi %{{.*}}, %[[LANES]] : vector<16xi1>
// CHECK: vector.scatter %{{.*}}[%[[ROW]], %{{.*}}, %c0] [%{{.*}}], %[[MASK]]
func.func @fixed_b_seq_idx(%u: tensor<3x20x23xf32>, %A: tensor<20x4xf32>, %Bf: tensor<20x4xf32>,
                           %C: tensor<3x4x23xf32>, %h0: tensor<3x20x4xf32>, %s: tensor<3x23xi64>)
    -> (tensor<3x20x23xf32>, tensor<3x20x4xf32>) {
  %y, %h = ssm.selective_scan %u, %u, %A, %Bf, %C h0(%h0) seq_idx(%s)
      : (tensor<3x20x23xf32>, tensor<3x20x23xf32>, tensor<20x4xf32>, tensor<20x4xf32>,
         tensor<3x4x23xf32>, tensor<3x20x4xf32>, tensor<3x23xi64>) -> (tensor<3x20x23xf32>, tensor<3x20x4xf32>)
  return %y, %h : tensor<3x20x23xf32>, tensor<3x20x4xf32>
}
