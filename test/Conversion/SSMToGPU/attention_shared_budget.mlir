// convert-ssm-to-gpu sizes attention's key tile (Tk rows of K and of V in
// shared memory) against max-shared-bytes (default: sm_90's 227 KB opt-in
// maximum) and the share of an SM that still holds the blocks the kernel's
// registers allow (4 blocks of about 128 registers: 56 KB each). At
// d = dv = 112 that is 64 keys (two arrays of 64 x 112 floats, 57344
// bytes): over the 48 KB of static shared memory, so ssm-gpu-stage-buffers
// makes them views of dynamic shared memory and the launch asks for 57344
// bytes; under a 48 KB budget the tile keeps 48 keys in static shared
// memory. d = dv = 128 takes 48 keys (48 KB, static) and d = dv = 32 128
// keys (32 KB) under either budget.
// RUN: ssmc-opt %s --convert-ssm-to-gpu | FileCheck %s --check-prefix=WIDE
// RUN: ssmc-opt %s --convert-ssm-to-gpu --convert-ssm-to-loops --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ssm-gpu-stage-buffers | FileCheck %s --check-prefix=DYN
// RUN: ssmc-opt %s --convert-ssm-to-gpu="max-shared-bytes=49152" | FileCheck %s --check-prefix=NARROW
// RUN: ssmc-opt %s --convert-ssm-to-gpu="max-shared-bytes=49152" --convert-ssm-to-loops --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ssm-gpu-stage-buffers | FileCheck %s --check-prefix=STATIC

// WIDE-LABEL: func.func @d112
// WIDE: gpu.launch
// WIDE-COUNT-2: memref.alloca() : memref<7168xf32, #gpu.address_space<workgroup>>
// WIDE-LABEL: func.func @d128
// WIDE: gpu.launch
// WIDE-COUNT-2: memref.alloca() : memref<6144xf32, #gpu.address_space<workgroup>>
// WIDE-LABEL: func.func @d32
// WIDE: gpu.launch
// WIDE-COUNT-2: memref.alloca() : memref<4096xf32, #gpu.address_space<workgroup>>

// DYN-LABEL: func.func @d112
// DYN: %[[SIZE:.*]] = arith.constant 57344 : i32
// DYN: gpu.launch
// DYN-SAME: dynamic_shared_memory_size %[[SIZE]]
// DYN-NOT: workgroup(
// DYN: gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
// DYN-COUNT-2: memref.view {{.*}} to memref<7168xf32, #gpu.address_space<workgroup>>
// DYN-LABEL: func.func @d128
// DYN: gpu.launch
// DYN-NOT: dynamic_shared_memory
// DYN-SAME: workgroup(%{{.*}} : memref<6144xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<6144xf32, #gpu.address_space<workgroup>>)
// DYN-LABEL: func.func @d32
// DYN: gpu.launch
// DYN-NOT: dynamic_shared_memory
// DYN-SAME: workgroup(%{{.*}} : memref<4096xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<4096xf32, #gpu.address_space<workgroup>>)

// NARROW-LABEL: func.func @d112
// NARROW-COUNT-2: memref.alloca() : memref<5376xf32, #gpu.address_space<workgroup>>
// NARROW-LABEL: func.func @d128
// NARROW-COUNT-2: memref.alloca() : memref<6144xf32, #gpu.address_space<workgroup>>
// NARROW-LABEL: func.func @d32
// NARROW-COUNT-2: memref.alloca() : memref<4096xf32, #gpu.address_space<workgroup>>

// STATIC-NOT: dynamic_shared_memory
// STATIC-LABEL: func.func @d112
// STATIC: gpu.launch
// STATIC-SAME: workgroup(%{{.*}} : memref<5376xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<5376xf32, #gpu.address_space<workgroup>>)
// STATIC-LABEL: func.func @d128
// STATIC: gpu.launch
// STATIC-SAME: workgroup(%{{.*}} : memref<6144xf32, #gpu.address_space<workgroup>>, %{{.*}} : memref<6144xf32, #gpu.address_space<workgroup>>)
// STATIC-NOT: dynamic_shared_memory

func.func @d112(%q: tensor<1x4x200x112xf32>, %k: tensor<1x2x200x112xf32>, %v: tensor<1x2x200x112xf32>) -> tensor<1x4x200x112xf32> {
  %o = ssm.attention %q, %k, %v causal : (tensor<1x4x200x112xf32>, tensor<1x2x200x112xf32>, tensor<1x2x200x112xf32>) -> tensor<1x4x200x112xf32>
  return %o : tensor<1x4x200x112xf32>
}

func.func @d128(%q: tensor<1x4x200x128xf32>, %k: tensor<1x2x200x128xf32>, %v: tensor<1x2x200x128xf32>) -> tensor<1x4x200x128xf32> {
  %o = ssm.attention %q, %k, %v causal : (tensor<1x4x200x128xf32>, tensor<1x2x200x128xf32>, tensor<1x2x200x128xf32>) -> tensor<1x4x200x128xf32>
  return %o : tensor<1x4x200x128xf32>
}

func.func @d32(%q: tensor<1x4x200x32xf32>, %k: tensor<1x2x200x32xf32>, %v: tensor<1x2x200x32xf32>) -> tensor<1x4x200x32xf32> {
  %o = ssm.attention %q, %k, %v causal : (tensor<1x4x200x32xf32>, tensor<1x2x200x32xf32>, tensor<1x2x200x32xf32>) -> tensor<1x4x200x32xf32>
  return %o : tensor<1x4x200x32xf32>
}
