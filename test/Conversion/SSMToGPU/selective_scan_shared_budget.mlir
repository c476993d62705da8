// convert-ssm-to-gpu sizes selective_scan's shared sub-tiles against
// max-shared-bytes (default: sm_90's 227 KB opt-in maximum). With a z gate
// at N = 30 the 16-step sub-tiles (u, dt, y, z: 128 x 17 floats each) and
// the chunks' states take 50688 bytes, over the 48 KB of static shared
// memory: ssm-gpu-stage-buffers makes them views of dynamic shared memory
// and the launch asks for 50688 bytes. Under a 48 KB budget the kernel
// keeps 8-step sub-tiles (128 x 9) in static shared memory.
// RUN: ssmc-opt %s --convert-ssm-to-gpu | FileCheck %s --check-prefix=WIDE
// RUN: ssmc-opt %s --convert-ssm-to-gpu --convert-ssm-to-loops --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ssm-gpu-stage-buffers | FileCheck %s --check-prefix=DYN
// RUN: ssmc-opt %s --convert-ssm-to-gpu="max-shared-bytes=49152" --convert-ssm-to-loops --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ssm-gpu-stage-buffers | FileCheck %s --check-prefix=STATIC
// RUN: not ssmc-opt %s --convert-ssm-to-gpu="max-shared-bytes=1024" 2>&1 | FileCheck %s --check-prefix=SMALL

// WIDE: gpu.launch
// WIDE-COUNT-4: memref.alloca() : memref<2176xf32, #gpu.address_space<workgroup>>
// WIDE-NOT: memref<1152xf32

// DYN: %[[SIZE:.*]] = arith.constant 50688 : i32
// DYN: gpu.launch
// DYN-SAME: dynamic_shared_memory_size %[[SIZE]]
// DYN-NOT: workgroup(
// DYN: gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// DYN: memref.view {{.*}} to memref<128xf32, #gpu.address_space<workgroup>>
// DYN: memref.view {{.*}} to memref<3840xf32, #gpu.address_space<workgroup>>
// DYN-COUNT-4: memref.view {{.*}} to memref<2176xf32, #gpu.address_space<workgroup>>

// STATIC: gpu.launch
// STATIC-NOT: dynamic_shared_memory
// STATIC-SAME: workgroup(%{{.*}} : memref<128xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<3840xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<1152xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<1152xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<1152xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<1152xf32, #gpu.address_space<workgroup>>)

// SMALL: max-shared-bytes must be at least 49152 (the static shared memory every target has), got 1024

func.func @main(%u: tensor<2x64x300xf32>, %dt: tensor<2x64x300xf32>, %A: tensor<64x30xf32>,
                %B: tensor<2x30x300xf32>, %C: tensor<2x30x300xf32>, %D: tensor<64xf32>,
                %z: tensor<2x64x300xf32>, %bias: tensor<64xf32>, %h0: tensor<2x64x30xf32>)
    -> (tensor<2x64x300xf32>, tensor<2x64x30xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<2x64x300xf32>, tensor<2x64x300xf32>, tensor<64x30xf32>, tensor<2x30x300xf32>,
         tensor<2x30x300xf32>, tensor<64xf32>, tensor<2x64x300xf32>, tensor<64xf32>, tensor<2x64x30xf32>)
      -> (tensor<2x64x300xf32>, tensor<2x64x30xf32>)
  return %y, %h : tensor<2x64x300xf32>, tensor<2x64x30xf32>
}
