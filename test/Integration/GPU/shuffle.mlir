// gpu.shuffle on the GPU emulator: warps are 32 consecutive threads of the
// block (two warps here). An xor butterfly in a loop (one shuffle per
// iteration, so consecutive shuffles alternate between the scratch array's
// halves) sums each warp; down by one leaves the last lane its own value
// (source lane out of the width); idx broadcasts lane 3 of each warp.
// RUN: ssmc-run %s --target gpu-emulator | FileCheck %s
// CHECK: result #0: f32 [64]
// CHECK-NEXT: 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 496 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520 1520
// CHECK: result #1: f32 [64]
// CHECK-NEXT: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 31 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 63
// CHECK: result #2: i32 [64]
// CHECK-NEXT: 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 3 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35 35

func.func @main() -> (tensor<64xf32>, tensor<64xf32>, tensor<64xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %c64 = arith.constant 64 : index
  %sum = memref.alloc() : memref<64xf32>
  %down = memref.alloc() : memref<64xf32>
  %bcast = memref.alloc() : memref<64xi32>
  gpu.launch blocks(%bx, %by, %bz) in (%gx = %c1, %gy = %c1, %gz = %c1)
             threads(%tx, %ty, %tz) in (%sx = %c64, %sy = %c1, %sz = %c1) {
    %width = arith.constant 32 : i32
    %c16 = arith.constant 16 : i32
    %one = arith.constant 1 : i32
    %three = arith.constant 3 : i32
    %i = arith.index_cast %tx : index to i32
    %f = arith.sitofp %i : i32 to f32
    %s = scf.for %k = %c0 to %c5 step %c1 iter_args(%acc = %f) -> (f32) {
      %k32 = arith.index_cast %k : index to i32
      %off = arith.shrui %c16, %k32 : i32
      %o, %ov = gpu.shuffle xor %acc, %off, %width : f32
      %n = arith.addf %acc, %o : f32
      scf.yield %n : f32
    }
    memref.store %s, %sum[%tx] : memref<64xf32>
    %d, %dv = gpu.shuffle down %f, %one, %width : f32
    memref.store %d, %down[%tx] : memref<64xf32>
    %b, %bv = gpu.shuffle idx %i, %three, %width : i32
    memref.store %b, %bcast[%tx] : memref<64xi32>
    gpu.terminator
  }
  %r0 = bufferization.to_tensor %sum restrict : memref<64xf32> to tensor<64xf32>
  %r1 = bufferization.to_tensor %down restrict : memref<64xf32> to tensor<64xf32>
  %r2 = bufferization.to_tensor %bcast restrict : memref<64xi32> to tensor<64xi32>
  return %r0, %r1, %r2 : tensor<64xf32>, tensor<64xf32>, tensor<64xi32>
}
