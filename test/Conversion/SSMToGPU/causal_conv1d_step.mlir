// convert-ssm-to-gpu writes ssm.causal_conv1d_step as kernels. Without
// conv_state_indices: one launch, a thread per (batch, channel), reading
// its state row's window and writing its new row (shifted by one with the
// token appended, or, with cache_seqlens, the row copied and the token
// stored at entry c mod S). With a pool of slots: a launch copies the pool
// into the new state (a thread per element), then a thread per channel
// walks the batch entries in order, a slot outside [0, P) writing a zero
// output. The run-time checks (slots below P, cache_seqlens >= 0) stay on
// the host and zero the lanes when they fail (static shapes and no index
// operands: nothing to check). f64 stays on the CPU loops.
// RUN: ssmc-opt %s --convert-ssm-to-gpu | FileCheck %s
// RUN: ssmc-opt %s --ssm-gpu-emulator-pipeline | FileCheck %s --check-prefix=EMU
// RUN: ssmc-opt %s --ssm-nvptx-pipeline 2>&1 | FileCheck %s --check-prefix=NVPTX

// EMU-LABEL: llvm.func @conv_step_shift
// EMU-NOT: ssm.causal_conv1d_step %
// EMU: omp.parallel
// EMU-LABEL: llvm.func @conv_step_pool_ring
// EMU: omp.parallel
// EMU: omp.parallel
// NVPTX-LABEL: llvm.func @conv_step_shift
// NVPTX-NOT: ssm.causal_conv1d_step %
// NVPTX: gpu.launch_func {{.*}} @conv_step_shift_kernel::
// NVPTX-NOT: gpu.launch_func
// NVPTX-LABEL: llvm.func @conv_step_pool_ring
// NVPTX: gpu.launch_func {{.*}} @conv_step_pool_ring_kernel::
// NVPTX: gpu.launch_func {{.*}} @conv_step_pool_ring_kernel_0::
// NVPTX-LABEL: llvm.func @conv_step_f64
// NVPTX-NOT: gpu.launch_func

// CHECK-LABEL: func.func @conv_step_shift
// CHECK-NOT: ssm.causal_conv1d_step
// CHECK: gpu.launch
// CHECK: arith.cmpi ult, %{{.*}}, %c15 : index
// CHECK: %[[D:.*]] = arith.remui %{{.*}}, %c5 : index
// CHECK: %[[B:.*]] = arith.divui %{{.*}}, %c5 : index
// CHECK: memref.load %{{.*}}[%[[B]], %[[D]]] : memref<3x5xbf16>
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: memref.load %{{.*}}[%[[D]]] : memref<5xf32>
// CHECK: scf.for {{.*}} = %c0 to %c2 step %c1 iter_args
// CHECK: memref.load %{{.*}}[%[[B]], %[[D]], %{{.*}}] : memref<3x5x4xf32>
// CHECK: math.fma
// CHECK: math.fma
// CHECK: math.exp
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[B]], %[[D]]] : memref<3x5xbf16>
// CHECK: scf.for %{{.*}} = %c0 to %c3 step %c1
// CHECK: memref.load %{{.*}}[%[[B]], %[[D]], %{{.*}}] : memref<3x5x4xf32>
// CHECK: memref.store
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[B]], %[[D]], %c3] : memref<3x5x4xf32>
// CHECK: gpu.terminator
// CHECK-NOT: gpu.launch
// CHECK: return
func.func @conv_step_shift(%x: tensor<3x5xbf16>, %s: tensor<3x5x4xf32>,
    %w: tensor<5x3xbf16>, %b: tensor<5xf32>)
    -> (tensor<3x5xbf16>, tensor<3x5x4xf32>) {
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w bias(%b) silu
      : (tensor<3x5xbf16>, tensor<3x5x4xf32>, tensor<5x3xbf16>, tensor<5xf32>)
      -> (tensor<3x5xbf16>, tensor<3x5x4xf32>)
  return %y, %s1 : tensor<3x5xbf16>, tensor<3x5x4xf32>
}

// CHECK-LABEL: func.func @conv_step_pool_ring
// CHECK: scf.for {{.*}} -> (i1)
// CHECK: arith.cmpi slt, %{{.*}}, %c4 : index
// CHECK: arith.cmpi sge, %{{.*}}, %c0 : index
// CHECK: func.call @ssmcShapeError
// CHECK: %[[NEW:.*]] = memref.alloc() {{.*}} : memref<4x5x6xf32>
// CHECK: %[[COPY:.*]] = arith.select %{{.*}}, %c120, %c0 : index
// CHECK: gpu.launch
// CHECK: arith.cmpi ult, %{{.*}}, %[[COPY]] : index
// CHECK: %[[V:.*]] = memref.load %{{.*}} : memref<4x5x6xf32>
// CHECK: memref.store %[[V]], %[[NEW]]
// CHECK: gpu.terminator
// CHECK: %[[CH:.*]] = arith.select %{{.*}}, %c5, %c0 : index
// CHECK: gpu.launch
// CHECK: arith.cmpi ult, %[[D:.*]], %[[CH]] : index
// CHECK: scf.for %[[B:.*]] = %c0 to %c2 step %c1
// CHECK: %[[SLOT:.*]] = arith.index_cast %{{.*}} : i32 to index
// CHECK: arith.cmpi sge, %[[SLOT]], %c0 : index
// CHECK: arith.cmpi slt, %[[SLOT]], %c4 : index
// CHECK: scf.if
// CHECK: arith.index_cast %{{.*}} : i64 to index
// CHECK: scf.for {{.*}} = %c0 to %c3 step %c1 iter_args
// CHECK: arith.remui %{{.*}}, %c6 : index
// CHECK: memref.load %[[NEW]][%[[SLOT]], %[[D]], %{{.*}}] : memref<4x5x6xf32>
// CHECK: math.fma
// CHECK-NOT: math.exp
// CHECK: %[[AT:.*]] = arith.remui %{{.*}}, %c6 : index
// CHECK: memref.store %{{.*}}, %[[NEW]][%[[SLOT]], %[[D]], %[[AT]]]
// CHECK: } else {
// CHECK: memref.store %{{.*}}, %{{.*}}[%[[B]], %[[D]]] : memref<2x5xf32>
// CHECK: gpu.terminator
func.func @conv_step_pool_ring(%x: tensor<2x5xf32>, %s: tensor<4x5x6xf32>,
    %w: tensor<5x4xf32>, %c: tensor<2xi64>, %i: tensor<2xi32>)
    -> (tensor<2x5xf32>, tensor<4x5x6xf32>) {
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w cache_seqlens(%c)
      conv_state_indices(%i)
      : (tensor<2x5xf32>, tensor<4x5x6xf32>, tensor<5x4xf32>, tensor<2xi64>,
         tensor<2xi32>) -> (tensor<2x5xf32>, tensor<4x5x6xf32>)
  return %y, %s1 : tensor<2x5xf32>, tensor<4x5x6xf32>
}

// f64 stays on the CPU lowering.
// CHECK-LABEL: func.func @conv_step_f64
// CHECK: ssm.causal_conv1d_step
// CHECK-NOT: gpu.launch
func.func @conv_step_f64(%x: tensor<1x2xf64>, %s: tensor<1x2x1xf64>,
    %w: tensor<2x2xf64>) -> (tensor<1x2xf64>, tensor<1x2x1xf64>) {
  %y, %s1 = ssm.causal_conv1d_step %x, %s, %w
      : (tensor<1x2xf64>, tensor<1x2x1xf64>, tensor<2x2xf64>)
      -> (tensor<1x2xf64>, tensor<1x2x1xf64>)
  return %y, %s1 : tensor<1x2xf64>, tensor<1x2x1xf64>
}
