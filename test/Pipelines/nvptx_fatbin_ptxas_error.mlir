// A kernel the card would refuse -- here over the 48 KB of static shared
// memory a block may declare -- is a compile error when the CUDA target
// assembles its fatbin: ptxas' message, at the launch (for an ssm op, the
// op) whose kernel it is. As PTX alone (gpu-binary=ptx, what the target
// embedded before it ran ptxas) the same program compiles, and would fail
// only when the driver loads it on the GPU machine. The block size is an
// argument: with a constant one (sunk into the kernel) LLVM folds the
// array's two accesses and drops the array.
// REQUIRES: ptxas
// RUN: rm -rf %t && split-file %s %t
// RUN: not ssmc-opt %t/launch.mlir --ssm-nvptx-pipeline 2>&1 | FileCheck %s --check-prefix=LAUNCH
// RUN: ssmc-opt %t/launch.mlir --ssm-nvptx-pipeline="gpu-binary=ptx" | FileCheck %s --check-prefix=PTX
// A shared array written as a workgroup alloca (as the ssm kernels write
// theirs) over 48 KB is not static: ssm-gpu-stage-buffers makes it dynamic
// shared memory, which ptxas accepts and the runtime opts in to at launch.
// RUN: ssmc-run %t/scan.mlir --target cuda --emit=object -o %t/scan.o
// RUN: ssmc-run %t/scan.mlir --target cuda --emit=ptx | FileCheck %s --check-prefix=SCAN
// RUN: ssmc-run %t/scan.mlir --target cuda --gpu-arch sm_80 --emit=object -o %t/scan80.o

// LAUNCH: launch.mlir:5:3: error: `ptxas` invocation failed
// LAUNCH: ptxas error   : Entry function 'main_kernel' uses too much shared data (0x10000 bytes, 0xc000 max)
// PTX: gpu.binary @main_kernel {{.*}}assembly = "{{.*}}.shared .align 4 .b8 tile[65536]

// SCAN: .extern .shared .align 16 .b8 __dynamic_shmem__0[];
// SCAN-NOT: .shared .align 4 .b8

//--- launch.mlir
module attributes {gpu.container_module} {
  memref.global "private" @tile : memref<16384xf32, #gpu.address_space<workgroup>>
  func.func @main(%out: memref<256xf32>, %n: index) {
  %c1 = arith.constant 1 : index
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %n, %sy = %c1, %sz = %c1) {
    %buf = memref.get_global @tile : memref<16384xf32, #gpu.address_space<workgroup>>
    %c64 = arith.constant 64 : index
    %i = arith.muli %tx, %c64 : index
    %f = arith.constant 1.0 : f32
    memref.store %f, %buf[%i] : memref<16384xf32, #gpu.address_space<workgroup>>
    %c16383 = arith.constant 16383 : index
    %j = arith.subi %c16383, %i : index
    %w = memref.load %buf[%j] : memref<16384xf32, #gpu.address_space<workgroup>>
    memref.store %w, %out[%tx] : memref<256xf32>
    gpu.terminator
  }
  return
  }
}

//--- scan.mlir
func.func @scan() -> tensor<256xf32> {
  %c1 = arith.constant 1 : index
  %c256 = arith.constant 256 : index
  %out = memref.alloc() : memref<256xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c256, %sy = %c1, %sz = %c1) {
    %buf = memref.alloca() : memref<16384xf32, #gpu.address_space<workgroup>>
    %c64 = arith.constant 64 : index
    %i = arith.muli %tx, %c64 : index
    %f = arith.constant 1.0 : f32
    memref.store %f, %buf[%i] : memref<16384xf32, #gpu.address_space<workgroup>>
    %c16383 = arith.constant 16383 : index
    %j = arith.subi %c16383, %i : index
    %w = memref.load %buf[%j] : memref<16384xf32, #gpu.address_space<workgroup>>
    memref.store %w, %out[%tx] : memref<256xf32>
    gpu.terminator
  }
  %r = bufferization.to_tensor %out restrict : memref<256xf32> to tensor<256xf32>
  return %r : tensor<256xf32>
}
