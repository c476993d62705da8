// convert-ssm-to-gpu: an f32 selective_scan with static N <= 32 becomes one
// gpu.launch of 128-thread blocks, each thread owning a (batch, channel) and
// one of C chunks of the sequence (C chosen at run time; a static shape
// folds it): phase 1 scans each chunk from zero into shared memory, phase 2
// scans over the chunks with barriers, phase 3 reruns every chunk from the
// state entering it with the state as N loop-carried scalars (registers; a
// private array above N = 32); bf16/f16 operands are widened to f32 on load
// and the output rounded on store; forms without a kernel (here f64) are
// left for convert-ssm-to-loops. ssm-gpu-stage-buffers then
// gives the launch device copies (in before, results out after) and makes
// the shared arrays workgroup attributions.
// RUN: ssmc-opt %s --convert-ssm-to-gpu | FileCheck %s
// RUN: ssmc-opt %s --convert-ssm-to-gpu --convert-ssm-to-loops --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ssm-gpu-stage-buffers | FileCheck %s --check-prefix=STAGED

// 16 channels, L = 5: one chunk per channel (phases 1 and 2 fold to
// `scf.if false`).
// CHECK-LABEL: func.func @f32
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x8x5xf32>
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// CHECK: scf.if %false
// CHECK: ssm_gpu.barrier
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, f32, f32, f32, f32)
// CHECK-COUNT-4: math.exp
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK: scf.yield
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor %[[OUT]]

// STAGED-LABEL: func.func @f32
// STAGED: %[[RAW:.*]] = gpu.alloc{{ +}}(%{{.*}}) : memref<?xi8>
// STAGED: memref.view %[[RAW]][%{{.*}}][] : memref<?xi8> to memref<8x4xf32>
// STAGED: gpu.memcpy
// STAGED: gpu.launch
// STAGED-SAME: workgroup(%{{.*}} : memref<128xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<512xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<2176xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<2176xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<2176xf32, #gpu.address_space<workgroup>>)
// STAGED-NOT: memref.alloca() : memref<{{.*}}workgroup
// STAGED: gpu.memcpy
// STAGED: gpu.dealloc
func.func @f32(%u: tensor<2x8x5xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4x5xf32>) -> tensor<2x8x5xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B delta_softplus
      : (tensor<2x8x5xf32>, tensor<2x8x5xf32>, tensor<8x4xf32>, tensor<2x4x5xf32>, tensor<2x4x5xf32>)
      -> tensor<2x8x5xf32>
  return %y : tensor<2x8x5xf32>
}

// CHECK-LABEL: func.func @bf16
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x8x5xbf16>
// CHECK: gpu.launch
// CHECK: %[[U:.*]] = memref.load %{{.*}} : memref<2x8x5xbf16, strided<[?, ?, 1], offset: ?>>
// CHECK: arith.extf %[[U]] : bf16 to f32
// CHECK: %[[Y:.*]] = arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.store %[[Y]], %[[OUT]]
func.func @bf16(%u: tensor<2x8x5xbf16>, %A: tensor<8x4xf32>, %B: tensor<2x4x5xbf16>) -> tensor<2x8x5xbf16> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<2x8x5xbf16>, tensor<2x8x5xbf16>, tensor<8x4xf32>, tensor<2x4x5xbf16>, tensor<2x4x5xbf16>)
      -> tensor<2x8x5xbf16>
  return %y : tensor<2x8x5xbf16>
}

// CHECK-LABEL: func.func @f64_stays
// CHECK-NOT: gpu.launch
// CHECK: ssm.selective_scan
func.func @f64_stays(%u: tensor<2x8x5xf64>, %A: tensor<8x4xf64>, %B: tensor<2x4x5xf64>) -> tensor<2x8x5xf64> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<2x8x5xf64>, tensor<2x8x5xf64>, tensor<8x4xf64>, tensor<2x4x5xf64>, tensor<2x4x5xf64>)
      -> tensor<2x8x5xf64>
  return %y : tensor<2x8x5xf64>
}

// A state of 40 elements stays in a private array (one thread's registers
// would not hold it next to everything else).
// CHECK-LABEL: func.func @large_state
// CHECK: memref.alloca() : memref<40xf32, #gpu.address_space<private>>
// CHECK: scf.for %{{.*}} = %c0 to %c40 step %c1 iter_args
func.func @large_state(%u: tensor<1x8x5xf32>, %A: tensor<8x40xf32>, %B: tensor<1x40x5xf32>) -> tensor<1x8x5xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x8x5xf32>, tensor<1x8x5xf32>, tensor<8x40xf32>, tensor<1x40x5xf32>, tensor<1x40x5xf32>)
      -> tensor<1x8x5xf32>
  return %y : tensor<1x8x5xf32>
}

// 8 channels, L = 4096: 32 chunks of 128 steps, four channels per block.
// CHECK-LABEL: func.func @chunked
// CHECK: gpu.launch blocks(%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}} = %c2{{.*}}, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads
// CHECK: %[[S:.*]] = memref.alloca() : memref<128xf32, #gpu.address_space<workgroup>>
// CHECK: %[[H:.*]] = memref.alloca() : memref<512xf32, #gpu.address_space<workgroup>>
// Phase 1: the chunk from zero, without the read-out.
// CHECK: scf.for
// CHECK-NOT: memref.store {{.*}} : memref<1x8x4096xf32>
// CHECK: memref.store %{{.*}}, %[[S]]
// CHECK-COUNT-4: memref.store %{{.*}}, %[[H]]
// CHECK: ssm_gpu.barrier
// Phase 2: log2(32) = 5 rounds over the chunks.
// CHECK: scf.for %{{.*}} = %c0 to %c5 step %c1 {
// CHECK: scf.if %{{.*}} -> (f32, f32, f32, f32, f32)
// CHECK: ssm_gpu.barrier
// CHECK: ssm_gpu.barrier
// Phase 3: from the previous chunk's state, writing y.
// CHECK: memref.load %[[H]]
// CHECK: scf.for
// CHECK: memref.store %{{.*}} : memref<1x8x4096xf32>
func.func @chunked(%u: tensor<1x8x4096xf32>, %A: tensor<8x4xf32>, %B: tensor<1x4x4096xf32>) -> tensor<1x8x4096xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B
      : (tensor<1x8x4096xf32>, tensor<1x8x4096xf32>, tensor<8x4xf32>, tensor<1x4x4096xf32>, tensor<1x4x4096xf32>)
      -> tensor<1x8x4096xf32>
  return %y : tensor<1x8x4096xf32>
}

// B fixed over time ([Dm, N]) next to a grouped C: every step of the
// thread's channel d reads B[d, n] (the channel's row) and C[b, g, n, t].
// CHECK-LABEL: func.func @fixed_b
// CHECK: %[[BF:.*]] = bufferization.to_buffer %arg2 read_only : tensor<8x4xf32> to memref<8x4xf32, strided<[?, 1], offset: ?>>
// CHECK: %[[CG:.*]] = bufferization.to_buffer %arg3 read_only : tensor<2x2x4x5xf32> to memref<2x2x4x5xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: gpu.launch
// Phase 3's step (the first to read C): per state index dt u B[d, n],
// then C[b, g, n, t].
// CHECK: memref.load %[[CG]][%{{.*}}, %{{.*}}, %c0, %[[T:.*]]] : memref<2x2x4x5xf32, strided<[?, ?, ?, 1], offset: ?>>
// CHECK: memref.load %[[BF]][%{{.*}}, %c1] : memref<8x4xf32, strided<[?, 1], offset: ?>>
// CHECK-NEXT: arith.mulf
// CHECK-NEXT: math.fma
// CHECK-NEXT: memref.load %[[CG]][%{{.*}}, %{{.*}}, %c1, %[[T]]] : memref<2x2x4x5xf32, strided<[?, ?, ?, 1], offset: ?>>
func.func @fixed_b(%u: tensor<2x8x5xf32>, %A: tensor<8x4xf32>, %B: tensor<8x4xf32>, %C: tensor<2x2x4x5xf32>) -> tensor<2x8x5xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %C
      : (tensor<2x8x5xf32>, tensor<2x8x5xf32>, tensor<8x4xf32>, tensor<8x4xf32>, tensor<2x2x4x5xf32>)
      -> tensor<2x8x5xf32>
  return %y : tensor<2x8x5xf32>
}

// Sequences packed per batch row (seq_idx) are left to the host loops.
// CHECK-LABEL: func.func @seq_idx_stays
// CHECK-NOT: gpu.launch
// CHECK: ssm.selective_scan {{.*}} seq_idx
func.func @seq_idx_stays(%u: tensor<2x8x5xf32>, %A: tensor<8x4xf32>, %B: tensor<2x4x5xf32>, %s: tensor<2x5xi32>) -> tensor<2x8x5xf32> {
  %y = ssm.selective_scan %u, %u, %A, %B, %B seq_idx(%s)
      : (tensor<2x8x5xf32>, tensor<2x8x5xf32>, tensor<8x4xf32>, tensor<2x4x5xf32>, tensor<2x4x5xf32>, tensor<2x5xi32>)
      -> tensor<2x8x5xf32>
  return %y : tensor<2x8x5xf32>
}
