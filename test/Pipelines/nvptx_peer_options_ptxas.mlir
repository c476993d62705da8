// GPU kernels with the peers' options: ssd with bf16 x and B/C next to f32
// dt, A and D, D per head channel [H, P], and dt clamped by dt_limit as the
// step sizes are staged (max with lo, min with hi); the causal conv with f32
// weights and bias next to bf16 inputs. PTX for sm_90 that ptxas accepts,
// without libdevice calls. A packed conv (cu_seqlens) stays on the host;
// the ssd step into slots of a state pool runs the ssd kernel on the
// gathered states; the conv decode step into a pool of ring buffers (bf16
// states) is its own two kernels: the pool copied at its type, then a
// thread per channel.
// REQUIRES: ptxas
// RUN: rm -rf %t && ssmc-run %s --target cuda --emit=ptx > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: split-file %t.ptx %t
// RUN: for f in %t/*.ptx; do %cuda_root/bin/ptxas -arch=sm_90 $f -o $f.cubin || exit 1; done
// RUN: ls %t/*.cubin | count 5
// RUN: ssmc-opt %s --convert-ssm-to-gpu | FileCheck %s --check-prefix=KERNEL
// CHECK: //--- main_kernel.ptx
// CHECK-DAG: cvt.f32.bf16
// CHECK-DAG: max.f32
// CHECK-DAG: min.f32
// CHECK-DAG: cvt.rn.bf16.f32
// CHECK: //--- main_kernel_0.ptx
// CHECK-DAG: cvt.f32.bf16
// CHECK-DAG: cvt.rn.bf16.f32
// CHECK: //--- main_kernel_1.ptx
// CHECK: //--- main_kernel_2.ptx
// CHECK-NOT: {{cvt.f32.bf16|cvt.rn.bf16.f32}}
// CHECK: //--- main_kernel_3.ptx
// CHECK-DAG: cvt.f32.bf16
// CHECK-DAG: cvt.rn.bf16.f32
// CHECK-NOT: //--- main_kernel_4.ptx
// CHECK-NOT: __nv_
// KERNEL: gpu.launch
// KERNEL: memref.load %{{.*}} : memref<2x9x4xf32, strided<[?, ?, 1], offset: ?>>
// KERNEL: arith.maxnumf %{{.*}}, %{{.*}} : f32
// KERNEL-NEXT: arith.minnumf %{{.*}}, %{{.*}} : f32
// KERNEL: memref.load %{{.*}}[%{{.*}}, %{{.*}}] : memref<4x8xf32, strided<[?, 1], offset: ?>>
// KERNEL: gpu.launch
// KERNEL: memref.load %{{.*}} : memref<6x4xf32, strided<[?, 1], offset: ?>>
// KERNEL: ssm.causal_conv1d {{.*}} cu_seqlens
// KERNEL-NOT: ssm.causal_conv1d_step
// KERNEL: gpu.launch
// KERNEL: memref.store %{{.*}} : memref<4x6x5xbf16>
// KERNEL: gpu.launch
// KERNEL: memref.load %{{.*}} : memref<4x6x5xbf16>
// KERNEL-NOT: ssm.causal_conv1d_step
func.func @main(%x: tensor<2x9x4x8xbf16>, %dt: tensor<2x9x4xf32>, %A: tensor<4xf32>,
                %B: tensor<2x9x2x16xbf16>, %D: tensor<4x8xf32>, %cx: tensor<2x6x11xbf16>,
                %w: tensor<6x4xf32>, %cb: tensor<6xf32>, %cu: tensor<3xi32>,
                %xs: tensor<2x4x8xbf16>, %dts: tensor<2x4xf32>, %Bs: tensor<2x2x16xbf16>,
                %pool: tensor<5x4x8x16xf32>, %slots: tensor<2xi32>, %cs: tensor<2x6xbf16>,
                %ring: tensor<4x6x5xbf16>)
    -> (tensor<2x9x4x8xbf16>, tensor<2x6x11xbf16>, tensor<1x6x11xbf16>, tensor<2x4x8xbf16>,
        tensor<5x4x8x16xf32>, tensor<2x6xbf16>, tensor<4x6x5xbf16>) {
  %y = ssm.ssd %x, %dt, %A, %B, %B D(%D) dt_softplus {dt_limit = array<f64: 0.001, 0.1>}
      : (tensor<2x9x4x8xbf16>, tensor<2x9x4xf32>, tensor<4xf32>, tensor<2x9x2x16xbf16>,
         tensor<2x9x2x16xbf16>, tensor<4x8xf32>) -> tensor<2x9x4x8xbf16>
  %c = ssm.causal_conv1d %cx, %w bias(%cb) silu
      : (tensor<2x6x11xbf16>, tensor<6x4xf32>, tensor<6xf32>) -> tensor<2x6x11xbf16>
  %c1 = tensor.extract_slice %cx[0, 0, 0] [1, 6, 11] [1, 1, 1] : tensor<2x6x11xbf16> to tensor<1x6x11xbf16>
  %p = ssm.causal_conv1d %c1, %w bias(%cb) cu_seqlens(%cu) silu
      : (tensor<1x6x11xbf16>, tensor<6x4xf32>, tensor<6xf32>, tensor<3xi32>) -> tensor<1x6x11xbf16>
  %ys, %pool1 = ssm.ssd_step %xs, %dts, %A, %Bs, %Bs, %pool D(%D) state_batch_indices(%slots) dt_softplus
      : (tensor<2x4x8xbf16>, tensor<2x4xf32>, tensor<4xf32>, tensor<2x2x16xbf16>, tensor<2x2x16xbf16>,
         tensor<5x4x8x16xf32>, tensor<4x8xf32>, tensor<2xi32>) -> (tensor<2x4x8xbf16>, tensor<5x4x8x16xf32>)
  %o, %ring1 = ssm.causal_conv1d_step %cs, %ring, %w bias(%cb) cache_seqlens(%slots) conv_state_indices(%slots) silu
      : (tensor<2x6xbf16>, tensor<4x6x5xbf16>, tensor<6x4xf32>, tensor<6xf32>, tensor<2xi32>, tensor<2xi32>)
      -> (tensor<2x6xbf16>, tensor<4x6x5xbf16>)
  return %y, %c, %p, %ys, %pool1, %o, %ring1 : tensor<2x9x4x8xbf16>, tensor<2x6x11xbf16>, tensor<1x6x11xbf16>,
      tensor<2x4x8xbf16>, tensor<5x4x8x16xf32>, tensor<2x6xbf16>, tensor<4x6x5xbf16>
}
