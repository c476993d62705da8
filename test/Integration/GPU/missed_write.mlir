// A kernel that forgets to write an element of its result: on a GPU that
// element is uninitialised device memory copied back; on the GPU emulator it
// is NaN (ssm-gpu-poison-write-only), not the zero of fresh host memory that
// would hide the defect.
// RUN: ssmc-run %s --target gpu-emulator | FileCheck %s
// CHECK: result #0: f32 [8]
// CHECK-NEXT: 0 1 2 nan 4 5 6 7

func.func @main() -> tensor<8xf32> {
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %c8 = arith.constant 8 : index
  %out = memref.alloc() : memref<8xf32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c8, %sy = %c1, %sz = %c1) {
    %skip = arith.cmpi eq, %tx, %c3 : index
    scf.if %skip {
    } else {
      %i = arith.index_cast %tx : index to i32
      %f = arith.sitofp %i : i32 to f32
      memref.store %f, %out[%tx] : memref<8xf32>
    }
    gpu.terminator
  }
  %r = bufferization.to_tensor %out restrict : memref<8xf32> to tensor<8xf32>
  return %r : tensor<8xf32>
}
