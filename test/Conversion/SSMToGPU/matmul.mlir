// convert-ssm-to-gpu on linalg.matmul: a static N <= 8 (decode) becomes the
// matrix-vector kernel (a warp per row of C, four rows per 128-thread
// block, lanes strided over K, an xor butterfly of gpu.shuffle); wider or
// dynamic N the tiled kernel (64 x 64 tiles of C, A and B staged 32 deep in
// shared memory with a padding column, between two barriers). Low-precision
// weights are widened as they are loaded (extf, sitofp), a transposed B is
// read as [N, K], a C0 that is a linalg.fill is not read (its value starts
// the sum), and forms without a kernel (f64, an unsigned i8 cast) stay for
// the host.
// RUN: ssmc-opt %s --convert-ssm-to-gpu --split-input-file | FileCheck %s
// RUN: ssmc-opt %s --convert-ssm-to-gpu --convert-ssm-to-loops --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ssm-gpu-stage-buffers --split-input-file | FileCheck %s --check-prefix=STAGED

// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%[[W:.*]]: tensor<37x64xbf16>, %[[X:.*]]: tensor<64x1xf32>)
// CHECK: %[[F:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[WB:.*]] = bufferization.to_buffer %[[W]] read_only
// CHECK-DAG: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK-NOT: bufferization.to_buffer
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<37x1xf32>
// CHECK: gpu.launch blocks(%[[BX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %{{.*}}, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads(%[[TX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %c128
// CHECK: %[[ROW:.*]] = arith.addi
// CHECK: %[[VALID:.*]] = arith.cmpi ult, %[[ROW]], %c37
// CHECK: %[[KEND:.*]] = arith.select %[[VALID]], %c64{{.*}}, %c0
// CHECK: scf.for %[[K:[a-z0-9]+]] = %{{.*}} to %[[KEND]] step %c32{{.*}} iter_args(%[[ACC:.*]] = %{{.*}}) -> (f32)
// CHECK: %[[A:.*]] = memref.load %[[WB]][%[[ROW]], %[[K]]] : memref<37x64xbf16, strided<[?, 1], offset: ?>>
// CHECK: arith.extf %[[A]] : bf16 to f32
// CHECK: memref.load %[[XB]][%[[K]], %c0{{.*}}] : memref<64x1xf32, strided<[?, 1], offset: ?>>
// CHECK: math.fma
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c8_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32, %c32_i32 : f32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32, %c32_i32 : f32
// CHECK: scf.if
// CHECK: %[[SUM:.*]] = arith.addf %{{.*}}, %[[F]] : f32
// CHECK: memref.store %[[SUM]], %[[OUT]]
// CHECK: gpu.terminator
// CHECK: bufferization.to_tensor %[[OUT]]
// CHECK-NOT: linalg.matmul

// The fill is not staged: the launch reads the weight and x only.
// STAGED-LABEL: func.func @decode
// STAGED-COUNT-2: gpu.memcpy {{.*}}memref<{{.*}}>, memref<{{.*}}>
// STAGED: gpu.launch
// STAGED: gpu.shuffle
// STAGED: gpu.memcpy
// STAGED-NOT: gpu.memcpy
// STAGED: return
func.func @decode(%w: tensor<37x64xbf16>, %x: tensor<64x1xf32>) -> tensor<37x1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<37x1xf32>
  %c = linalg.fill ins(%zero : f32) outs(%e : tensor<37x1xf32>) -> tensor<37x1xf32>
  %r = linalg.matmul ins(%w, %x : tensor<37x64xbf16>, tensor<64x1xf32>)
                     outs(%c : tensor<37x1xf32>) -> tensor<37x1xf32>
  return %r : tensor<37x1xf32>
}

// -----

// Three columns (the widest N decode batches): three accumulators per
// lane, each summed by its own butterfly; C0 is read.
// CHECK-LABEL: func.func @three_columns
// CHECK: gpu.launch
// CHECK: scf.for {{.*}} -> (f32, f32, f32)
// CHECK: arith.sitofp %{{.*}} : i8 to f32
// CHECK-COUNT-15: gpu.shuffle  xor
// CHECK: scf.if
// CHECK-COUNT-3: memref.load %{{.*}} : memref<5x3xf32, strided<[?, 1], offset: ?>>
// CHECK-NOT: linalg.matmul
func.func @three_columns(%w: tensor<5x40xi8>, %x: tensor<40x3xf32>, %c: tensor<5x3xf32>) -> tensor<5x3xf32> {
  %r = linalg.matmul ins(%w, %x : tensor<5x40xi8>, tensor<40x3xf32>)
                     outs(%c : tensor<5x3xf32>) -> tensor<5x3xf32>
  return %r : tensor<5x3xf32>
}

// -----

// Dynamic sizes: the tiled kernel, ceil(M / 64) * max(ceil(N / 64), 1)
// blocks; per 32-deep step of K both tiles are staged (zeros past the
// matrix), then 32 FMA steps into 4 x 8 accumulators per thread.
// CHECK-LABEL: func.func @prefill
// CHECK: gpu.launch
// CHECK: %[[SA:.*]] = memref.alloca() : memref<2112xf32, #gpu.address_space<workgroup>>
// CHECK: %[[SB:.*]] = memref.alloca() : memref<2080xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %{{.*}} step %c32{{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK: memref.store %{{.*}}, %[[SA]]
// CHECK: memref.store %{{.*}}, %[[SB]]
// CHECK: ssm_gpu.barrier
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c32{{.*}} step %c1{{.*}} iter_args
// CHECK-COUNT-32: math.fma
// CHECK: ssm_gpu.barrier
// CHECK-COUNT-32: scf.if
// CHECK: gpu.terminator
// CHECK-NOT: gpu.shuffle
// CHECK-NOT: linalg.matmul
func.func @prefill(%w: tensor<?x?xf32>, %x: tensor<?x?xf32>, %c: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %r = linalg.matmul ins(%w, %x : tensor<?x?xf32>, tensor<?x?xf32>)
                     outs(%c : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}

// -----

// B transposed ([N, K]): read at (n, k).
// CHECK-LABEL: func.func @transposed
// CHECK-SAME: %[[B:[a-z0-9]+]]: tensor<1x40xf32>
// CHECK: %[[BB:.*]] = bufferization.to_buffer %[[B]]
// CHECK: gpu.launch
// CHECK: scf.for %[[K:[a-z0-9]+]] = {{.*}} -> (f32)
// CHECK: memref.load %[[BB]][%c0{{.*}}, %[[K]]] : memref<1x40xf32, strided<[?, 1], offset: ?>>
// CHECK-NOT: linalg.matmul
func.func @transposed(%a: tensor<9x40xf32>, %b: tensor<1x40xf32>, %c: tensor<9x1xf32>) -> tensor<9x1xf32> {
  %r = linalg.matmul indexing_maps = [affine_map<(m, n, k) -> (m, k)>,
                                      affine_map<(m, n, k) -> (n, k)>,
                                      affine_map<(m, n, k) -> (m, n)>]
                     ins(%a, %b : tensor<9x40xf32>, tensor<1x40xf32>)
                     outs(%c : tensor<9x1xf32>) -> tensor<9x1xf32>
  return %r : tensor<9x1xf32>
}

// -----

// No kernel: f64, and an i8 weight with the unsigned cast.
// CHECK-LABEL: func.func @host
// CHECK-NOT: gpu.launch
// CHECK: linalg.matmul ins(%{{.*}}, %{{.*}} : tensor<4x4xf64>
// CHECK: linalg.matmul {cast = #linalg.type_fn<cast_unsigned>}
func.func @host(%a: tensor<4x4xf64>, %b: tensor<4x1xf64>, %c: tensor<4x1xf64>,
                %q: tensor<4x4xi8>, %x: tensor<4x1xf32>, %y: tensor<4x1xf32>)
    -> (tensor<4x1xf64>, tensor<4x1xf32>) {
  %r = linalg.matmul ins(%a, %b : tensor<4x4xf64>, tensor<4x1xf64>)
                     outs(%c : tensor<4x1xf64>) -> tensor<4x1xf64>
  %s = linalg.matmul {cast = #linalg.type_fn<cast_unsigned>}
                     ins(%q, %x : tensor<4x4xi8>, tensor<4x1xf32>)
                     outs(%y : tensor<4x1xf32>) -> tensor<4x1xf32>
  return %r, %s : tensor<4x1xf64>, tensor<4x1xf32>
}
