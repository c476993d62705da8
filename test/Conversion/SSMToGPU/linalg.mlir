// convert-ssm-to-gpu on the ops between a model's projections
// (LinalgToGPU.cpp): a parallel linalg.generic becomes a thread per point
// (grid-stride, at most 4096 blocks), its body cloned on values loaded
// from the operands' buffers; a reduction becomes a block of 128 threads
// per point (or 32 points per block from 1024 points on), partials combined
// as a tree in shared memory between barriers; tensor.extract becomes a
// load, linalg.index the point's index, elementwise ops on tensors and
// linalg.transpose/copy/fill kernels of their own. A fill that is another
// op's init is not a kernel (its value is used). f64, math without a
// kernel lowering and unknown combiners stay on the host, and so does
// everything with linalg-kernels=0.
// RUN: ssmc-opt %s --convert-ssm-to-gpu --split-input-file | FileCheck %s
// RUN: ssmc-opt %s --convert-ssm-to-gpu=linalg-kernels=0 --split-input-file | FileCheck %s --check-prefix=OFF
// RUN: ssmc-opt %s --convert-ssm-to-gpu --convert-ssm-to-loops --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" --ssm-gpu-stage-buffers --split-input-file | FileCheck %s --check-prefix=STAGED

// rmsnorm's sum of squares in decode: one point reducing 768 channels.
// CHECK-LABEL: func.func @sum_of_squares
// CHECK-SAME: (%[[X:.*]]: tensor<768x1xf32>)
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[XB:.*]] = bufferization.to_buffer %[[X]] read_only
// CHECK-NOT: bufferization.to_buffer
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<1xf32>
// CHECK: gpu.launch
// CHECK: %[[SH:.*]] = memref.alloca() : memref<128xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%[[ACC:.*]] = %cst{{.*}}) -> (f32)
// CHECK: %[[A:.*]] = memref.load %[[XB]]
// CHECK: %[[M:.*]] = arith.mulf %[[A]], %[[A]] : f32
// CHECK: %[[N:.*]] = arith.addf %[[ACC]], %[[M]] : f32
// CHECK: scf.yield %[[N]]
// CHECK: memref.store %{{.*}}, %[[SH]]
// CHECK: ssm_gpu.barrier
// CHECK-COUNT-7: ssm_gpu.barrier
// CHECK: scf.if
// CHECK: %[[T:.*]] = memref.load %[[SH]]
// CHECK: %[[R:.*]] = arith.addf %[[T]], %[[ZERO]] : f32
// CHECK: memref.store %[[R]], %[[OUT]]
// CHECK: gpu.terminator
// CHECK-NOT: linalg.
// CHECK: bufferization.to_tensor %[[OUT]]
// OFF-LABEL: func.func @sum_of_squares
// OFF-NOT: gpu.launch
// OFF: linalg.fill
// OFF: linalg.generic

// The fill is not staged: one copy in (x), one out.
// STAGED-LABEL: func.func @sum_of_squares
// STAGED-COUNT-1: gpu.memcpy
// STAGED: gpu.launch
// STAGED: gpu.barrier
// STAGED: gpu.memcpy
// STAGED-NOT: gpu.memcpy
// STAGED: return
func.func @sum_of_squares(%x: tensor<768x1xf32>) -> tensor<1xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<1xf32>) -> tensor<1xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, l)>, affine_map<(c, l) -> (l)>], iterator_types = ["reduction", "parallel"]} ins(%x : tensor<768x1xf32>) outs(%acc : tensor<1xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    %n = arith.addf %o, %m : f32
    linalg.yield %n : f32
  } -> tensor<1xf32>
  return %s : tensor<1xf32>
}

// -----

// A dynamic point count picks the points per block at run time (1 below
// 1024 points, else 32); the init is read from its buffer.
// CHECK-LABEL: func.func @dynamic_points
// CHECK: %[[FEW:.*]] = arith.cmpi ult, %{{.*}}, %c1024
// CHECK: %[[PER:.*]] = arith.select %[[FEW]], %c1{{.*}}, %c32
// CHECK: arith.ceildivui %{{.*}}, %[[PER]]
// CHECK: gpu.launch
// CHECK: arith.remui %{{.*}}, %[[PER]]
// CHECK: arith.maximumf
// CHECK: memref.load %{{.*}} : memref<?xf32, strided<[1], offset: ?>>
// CHECK: arith.maximumf
func.func @dynamic_points(%x: tensor<5x?xf32>, %init: tensor<?xf32>) -> tensor<?xf32> {
  %s = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, l)>, affine_map<(c, l) -> (l)>], iterator_types = ["reduction", "parallel"]} ins(%x : tensor<5x?xf32>) outs(%init : tensor<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.maximumf %a, %o : f32
    linalg.yield %n : f32
  } -> tensor<?xf32>
  return %s : tensor<?xf32>
}

// -----

// The embedding gather: a thread per output element, the table and the
// token ids loaded where the body extracts them; the output's init (an
// empty tensor) is not read.
// CHECK-LABEL: func.func @embed
// CHECK-SAME: (%[[TOK:.*]]: tensor<1xi64>, %[[EMB:.*]]: tensor<50x64xf32>)
// CHECK-DAG: %[[TB:.*]] = bufferization.to_buffer %[[TOK]] read_only
// CHECK-DAG: %[[EB:.*]] = bufferization.to_buffer %[[EMB]] read_only
// CHECK: %[[OUT:.*]] = memref.alloc() {alignment = 64 : i64} : memref<64x1xf32>
// CHECK: gpu.launch blocks({{.*}}) in (%{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}, %{{.*}} = %c1{{.*}}) threads
// CHECK: scf.for %[[P:.*]] = %{{.*}} to %c64{{.*}} step %c128
// CHECK: %[[T:.*]] = memref.load %[[TB]][%c0{{.*}}] : memref<1xi64, strided<[1], offset: ?>>
// CHECK: arith.index_cast %[[T]]
// CHECK: %[[V:.*]] = memref.load %[[EB]][%{{.*}}, %{{.*}}] : memref<50x64xf32, strided<[?, 1], offset: ?>>
// CHECK: memref.store %[[V]], %[[OUT]]
// CHECK-NOT: linalg.generic
func.func @embed(%tok: tensor<1xi64>, %emb: tensor<50x64xf32>) -> tensor<64x1xf32> {
  %e = tensor.empty() : tensor<64x1xf32>
  %x = linalg.generic {indexing_maps = [affine_map<(d, l) -> (d, l)>], iterator_types = ["parallel", "parallel"]} outs(%e : tensor<64x1xf32>) {
  ^bb0(%o: f32):
    %d = linalg.index 0 : index
    %l = linalg.index 1 : index
    %t = tensor.extract %tok[%l] : tensor<1xi64>
    %ti = arith.index_cast %t : i64 to index
    %v = tensor.extract %emb[%ti, %d] : tensor<50x64xf32>
    linalg.yield %v : f32
  } -> tensor<64x1xf32>
  return %x : tensor<64x1xf32>
}

// -----

// Elementwise ops on tensors, a transpose (written along the output), a
// bf16 rounding and a fill that nothing accumulates into: a kernel each.
// CHECK-LABEL: func.func @elementwise
// CHECK: gpu.launch
// CHECK: math.exp
// CHECK: gpu.launch
// CHECK: arith.addf
// CHECK: gpu.launch
// CHECK: memref.load %{{.*}} : memref<7x3xf32, strided<[?, 1], offset: ?>>
// CHECK: memref.store %{{.*}} : memref<3x7xf32>
// CHECK: gpu.launch
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.store %{{.*}} : memref<7x3xbf16>
// CHECK: gpu.launch
// CHECK: memref.store %cst{{.*}} : memref<4xf32>
// CHECK-NOT: linalg.
// CHECK-NOT: math.exp {{.*}}tensor
// OFF-LABEL: func.func @elementwise
// OFF-NOT: gpu.launch
// OFF: math.exp %{{.*}} : tensor<7x3xf32>
func.func @elementwise(%x: tensor<7x3xf32>, %y: tensor<7x3xf32>) -> (tensor<7x3xf32>, tensor<3x7xf32>, tensor<7x3xbf16>, tensor<4xf32>) {
  %a = math.exp %x : tensor<7x3xf32>
  %b = arith.addf %a, %y : tensor<7x3xf32>
  %e = tensor.empty() : tensor<3x7xf32>
  %t = linalg.transpose ins(%b : tensor<7x3xf32>) outs(%e : tensor<3x7xf32>) permutation = [1, 0]
  %h = arith.truncf %b : tensor<7x3xf32> to tensor<7x3xbf16>
  %one = arith.constant 1.0 : f32
  %e4 = tensor.empty() : tensor<4xf32>
  %f = linalg.fill ins(%one : f32) outs(%e4 : tensor<4xf32>) -> tensor<4xf32>
  return %b, %t, %h, %f : tensor<7x3xf32>, tensor<3x7xf32>, tensor<7x3xbf16>, tensor<4xf32>
}

// -----

// Left for the host: f64 operands, f64 math in the body (RoPE's angles),
// a combiner that is not addf/mulf/min/max, and an i1 output.
// CHECK-LABEL: func.func @host
// CHECK-NOT: gpu.launch
// CHECK-COUNT-4: linalg.generic
func.func @host(%x: tensor<8xf64>, %y: tensor<8xf32>, %init: tensor<f32>) -> (tensor<8xf64>, tensor<8xf32>, tensor<f32>, tensor<8xi1>) {
  %a = math.exp %x : tensor<8xf64>
  %e = tensor.empty() : tensor<8xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%y : tensor<8xf32>) outs(%e : tensor<8xf32>) {
  ^bb0(%v: f32, %o: f32):
    %w = arith.extf %v : f32 to f64
    %c = math.cos %w : f64
    %r = arith.truncf %c : f64 to f32
    linalg.yield %r : f32
  } -> tensor<8xf32>
  %s = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> ()>], iterator_types = ["reduction"]} ins(%y : tensor<8xf32>) outs(%init : tensor<f32>) {
  ^bb0(%v: f32, %o: f32):
    %d = arith.subf %o, %v : f32
    linalg.yield %d : f32
  } -> tensor<f32>
  %z = arith.constant dense<0.0> : tensor<8xf32>
  %m = arith.cmpf olt, %y, %z : tensor<8xf32>
  return %a, %b, %s, %m : tensor<8xf64>, tensor<8xf32>, tensor<f32>, tensor<8xi1>
}
