// ssm-gpu-extern-dynamic-shared: the zero-sized shared global that
// convert-gpu-to-nvvm gives gpu.dynamic_shared_memory becomes a declaration
// (external), which the NVPTX backend prints as an extern array instead of
// demoting it to a 1-byte static variable; other globals keep their linkage.
// RUN: ssmc-opt %s --pass-pipeline='builtin.module(gpu.module(convert-gpu-to-nvvm,ssm-gpu-extern-dynamic-shared))' | FileCheck %s

// CHECK: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64} : !llvm.array<0 x i8>
// CHECK: llvm.mlir.global internal @table(dense<1.000000e+00> : tensor<4xf32>) {addr_space = 3 : i32} : !llvm.array<4 x f32>
// CHECK: llvm.func @k
// CHECK: llvm.mlir.addressof @__dynamic_shmem__0
module attributes {gpu.container_module} {
  gpu.module @m {
    llvm.mlir.global internal @table(dense<1.0> : tensor<4xf32>) {addr_space = 3 : i32} : !llvm.array<4 x f32>
    gpu.func @k(%x: memref<4xf32>) kernel {
      %raw = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
      %c0 = arith.constant 0 : index
      %v = memref.view %raw[%c0][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<4xf32, #gpu.address_space<workgroup>>
      %e = memref.load %v[%c0] : memref<4xf32, #gpu.address_space<workgroup>>
      memref.store %e, %x[%c0] : memref<4xf32>
      gpu.return
    }
  }
}
