// ssd and linear_attention GPU kernels (the ColumnScan kernel: a block per
// (batch, head) and columns, each column's state split over threads as
// registers, tiles of T steps of B/C or phi(q)/phi(k) and gates staged in
// shared memory between block barriers): PTX for sm_90
// that ptxas accepts, no libdevice calls, f32 and bf16 operands (computed in
// f32); the CUDA target keeps packed sequences (cu_seqlens) on the host.
// REQUIRES: ptxas
// RUN: rm -rf %t && ssmc-run %s --target cuda --emit=ptx > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: split-file %t.ptx %t
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/main_kernel.ptx -o %t/a.cubin
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/main_kernel_0.ptx -o %t/b.cubin
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/main_kernel_1.ptx -o %t/c.cubin
// RUN: ssmc-opt %s --convert-ssm-to-gpu | FileCheck %s --check-prefix=KERNELS
// CHECK: //--- main_kernel.ptx
// CHECK: .shared .align 4 .b8 {{.*}}[2048];
// CHECK: .shared .align 4 .b8 {{.*}}[2048];
// CHECK: st.shared.b32
// CHECK: bar.sync 0;
// CHECK: ld.shared.b32
// CHECK: bar.sync 0;
// CHECK: //--- main_kernel_0.ptx
// CHECK: //--- main_kernel_1.ptx
// CHECK-DAG: cvt.f32.bf16
// CHECK-DAG: cvt.rn.bf16.f32
// CHECK-NOT: //--- main_kernel_2.ptx
// CHECK-NOT: __nv_
// ssd: B and C tiles of 32 steps x N = 16, dt and exp(dt A) per step, the
// per-step partial read-outs (32 x 128) and the exchange buffer of the scan
// over chunks (128 x 8; L = 9 is too short to split, so one chunk group);
// the state row (N = 16) as loop-carried registers, no private memory.
// KERNELS: gpu.launch
// KERNELS-NEXT: memref.alloca() : memref<512xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<512xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<32xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<32xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<4096xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<1024xf32, #gpu.address_space<workgroup>>
// KERNELS-NOT: address_space<private>
// KERNELS: ssm_gpu.barrier
// KERNELS: scf.for {{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32) {
// linear_attention with per-key gates and the normaliser: q, k and gate
// tiles, two partial read-outs (numerator, denominator).
// KERNELS: gpu.launch
// KERNELS-NEXT: memref.alloca() : memref<512xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<512xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<512xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<4096xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<4096xf32, #gpu.address_space<workgroup>>
// KERNELS-NEXT: memref.alloca() : memref<1024xf32, #gpu.address_space<workgroup>>
// KERNELS-NOT: address_space<private>
// KERNELS: ssm.linear_attention {{.*}} cu_seqlens
// KERNELS: gpu.launch
// KERNELS: arith.extf %{{.*}} : bf16 to f32
func.func @main(%x: tensor<2x9x4x8xf32>, %dt: tensor<2x9x4xf32>, %A: tensor<4xf32>,
                %B: tensor<2x9x2x16xf32>, %C: tensor<2x9x2x16xf32>, %D: tensor<4xf32>,
                %q: tensor<2x3x9x16xf32>, %v: tensor<2x3x9x24xf32>, %g: tensor<2x3x9x16xf32>,
      %cu: tensor<3xi32>, %xb: tensor<2x9x4x8xbf16>, %dtb: tensor<2x9x4xbf16>,
      %Bb: tensor<2x9x2x16xbf16>)
    -> (tensor<2x9x4x8xf32>, tensor<2x4x8x16xf32>, tensor<2x3x9x24xf32>, tensor<2x3x16x24xf32>, tensor<1x3x9x24xf32>,
        tensor<2x9x4x8xbf16>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %C D(%D) z(%x) dt_softplus
      : (tensor<2x9x4x8xf32>, tensor<2x9x4xf32>, tensor<4xf32>, tensor<2x9x2x16xf32>,
         tensor<2x9x2x16xf32>, tensor<4xf32>, tensor<2x9x4x8xf32>) -> (tensor<2x9x4x8xf32>, tensor<2x4x8x16xf32>)
  %o, %s = ssm.linear_attention %q, %q, %v gate(%g) normalize {feature_map = #ssm.feature_map<elu_plus_one>}
      : (tensor<2x3x9x16xf32>, tensor<2x3x9x16xf32>, tensor<2x3x9x24xf32>, tensor<2x3x9x16xf32>)
      -> (tensor<2x3x9x24xf32>, tensor<2x3x16x24xf32>)
  %q1 = tensor.extract_slice %q[0, 0, 0, 0] [1, 3, 9, 16] [1, 1, 1, 1] : tensor<2x3x9x16xf32> to tensor<1x3x9x16xf32>
  %v1 = tensor.extract_slice %v[0, 0, 0, 0] [1, 3, 9, 24] [1, 1, 1, 1] : tensor<2x3x9x24xf32> to tensor<1x3x9x24xf32>
  %p, %ps = ssm.linear_attention %q1, %q1, %v1 cu_seqlens(%cu)
      : (tensor<1x3x9x16xf32>, tensor<1x3x9x16xf32>, tensor<1x3x9x24xf32>, tensor<3xi32>)
      -> (tensor<1x3x9x24xf32>, tensor<2x3x16x24xf32>)
  %yb = ssm.ssd %xb, %dtb, %A, %Bb, %Bb D(%D) dt_softplus
      : (tensor<2x9x4x8xbf16>, tensor<2x9x4xbf16>, tensor<4xf32>, tensor<2x9x2x16xbf16>,
         tensor<2x9x2x16xbf16>, tensor<4xf32>) -> tensor<2x9x4x8xbf16>
  return %y, %h, %o, %s, %p, %yb : tensor<2x9x4x8xf32>, tensor<2x4x8x16xf32>, tensor<2x3x9x24xf32>, tensor<2x3x16x24xf32>, tensor<1x3x9x24xf32>, tensor<2x9x4x8xbf16>
}
