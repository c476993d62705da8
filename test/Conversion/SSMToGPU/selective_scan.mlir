// convert-ssm-to-gpu: an f32 selective_scan with static N becomes one
// gpu.launch of 128-thread blocks over B * Dm channels, each thread walking
// the sequence with its state as N loop-carried scalars (registers; a
// private array above N = 32); bf16/f16 operands are widened to f32 on load
// and the output rounded on store; forms without a kernel (here f64) are
// left for convert-ssm-to-loops. ssm-gpu-stage-buffers then
// gives the launch device copies (in before, results out after).
// RUN: ssmc-opt %s --convert-ssm-to-gpu | FileCheck %s
// RUN: ssmc-opt %s --convert-ssm-to-gpu --convert-ssm-to-loops --one-shot-bufferize="bufferize-function-boundaries" --ssm-gpu-stage-buffers | FileCheck %s --check-prefix=STAGED

// CHECK-LABEL: func.func @f32
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<2x8x5xf32>
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// CHECK-NOT: memref.alloca
// CHECK: scf.for %{{.*}} = %c0 to %c5 step %c1 iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (f32, f32, f32, f32)
// CHECK-COUNT-4: math.exp
// CHECK: memref.store %{{.*}}, %[[OUT]]
// CHECK: scf.yield
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor %[[OUT]]

// STAGED-LABEL: func.func @f32
// STAGED: gpu.alloc () : memref<2x8x5xf32>
// STAGED: gpu.memcpy
// STAGED: gpu.launch
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
// CHECK: %[[U:.*]] = memref.load %{{.*}} : memref<2x8x5xbf16>
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
