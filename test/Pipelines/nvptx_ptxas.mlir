// ssm-nvptx-pipeline: the selective_scan kernel becomes PTX for sm_90 that
// ptxas accepts, shared and grouped B/C, f32 and bf16 operands (the kernels
// compute in f32 and convert on load and store); an f16 ssm.causal_conv1d
// gets a kernel too, while an f64 one (the kernels take f32, f16 or bf16)
// stays on the host in the same program.
// REQUIRES: ptxas
// RUN: rm -rf %t && ssmc-run %s --target cuda --emit=ptx > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: split-file %t.ptx %t
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/main_kernel.ptx -o %t/a.cubin
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/main_kernel_0.ptx -o %t/b.cubin
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/main_kernel_1.ptx -o %t/c.cubin
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/main_kernel_2.ptx -o %t/d.cubin
// The state (N = 16) stays in registers: no local-memory stack frame.
// RUN: %cuda_root/bin/ptxas -arch=sm_90 -v %t/main_kernel.ptx -o %t/e.cubin 2>&1 | FileCheck %s --check-prefix=REGS
// REGS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// RUN: ssmc-opt %s --ssm-nvptx-pipeline | FileCheck %s --check-prefix=HOST
// CHECK: //--- main_kernel.ptx
// CHECK: .target sm_90
// CHECK: .visible .entry main_kernel(
// CHECK: //--- main_kernel_0.ptx
// CHECK: .target sm_90
// CHECK: .visible .entry main_kernel(
// The bf16 selective_scan: bf16 loads widened, the output rounded to bf16.
// CHECK: //--- main_kernel_1.ptx
// CHECK: .visible .entry main_kernel(
// CHECK: ld.global.b16
// CHECK: cvt.f32.bf16
// CHECK: cvt.rn.bf16.f32
// CHECK: st.global.b16
// The f16 causal_conv1d.
// CHECK: //--- main_kernel_2.ptx
// CHECK: .visible .entry main_kernel(
// CHECK: cvt.f32.f16
// CHECK: cvt.rn.f16.f32
// CHECK-NOT: __nv_
// HOST-DAG: gpu.binary @main_kernel
// HOST-DAG: gpu.binary @main_kernel_0
// HOST-DAG: gpu.binary @main_kernel_1
// HOST-DAG: gpu.binary @main_kernel_2
// HOST-DAG: llvm.call @mgpuMemAlloc
// HOST-DAG: llvm.call @mgpuMemcpy
// HOST-DAG: llvm.call @mgpuStreamSynchronize
// HOST-NOT: ssm.causal_conv1d
// HOST-NOT: gpu.binary @main_kernel_3

func.func @main(%u: tensor<2x64x33xf32>, %dt: tensor<2x64x33xf32>, %A: tensor<64x16xf32>,
                %B: tensor<2x16x33xf32>, %C: tensor<2x16x33xf32>, %D: tensor<64xf32>,
                %z: tensor<2x64x33xf32>, %Bg: tensor<2x4x16x33xf32>,
                %ub: tensor<2x64x33xbf16>, %dtb: tensor<2x64x33xbf16>, %Bb: tensor<2x16x33xbf16>,
                %uh: tensor<2x64x33xf16>, %ud: tensor<2x64x33xf64>)
    -> (tensor<2x64x33xf32>, tensor<2x64x33xf32>, tensor<2x64x16xf32>, tensor<2x64x33xbf16>,
        tensor<2x64x33xf16>, tensor<2x64x33xf64>) {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_softplus
      : (tensor<2x64x33xf32>, tensor<2x64x33xf32>, tensor<64x16xf32>, tensor<2x16x33xf32>,
         tensor<2x16x33xf32>, tensor<64xf32>, tensor<2x64x33xf32>) -> tensor<2x64x33xf32>
  %y2, %h = ssm.selective_scan %u, %dt, %A, %Bg, %Bg
      : (tensor<2x64x33xf32>, tensor<2x64x33xf32>, tensor<64x16xf32>, tensor<2x4x16x33xf32>,
         tensor<2x4x16x33xf32>) -> (tensor<2x64x33xf32>, tensor<2x64x16xf32>)
  %yb = ssm.selective_scan %ub, %dtb, %A, %Bb, %Bb D(%D) delta_softplus
      : (tensor<2x64x33xbf16>, tensor<2x64x33xbf16>, tensor<64x16xf32>, tensor<2x16x33xbf16>,
         tensor<2x16x33xbf16>, tensor<64xf32>) -> tensor<2x64x33xbf16>
  %w = arith.constant dense<0.5> : tensor<64x4xf16>
  %ch = ssm.causal_conv1d %uh, %w : (tensor<2x64x33xf16>, tensor<64x4xf16>) -> tensor<2x64x33xf16>
  %wd = arith.constant dense<0.5> : tensor<64x4xf64>
  %cd = ssm.causal_conv1d %ud, %wd : (tensor<2x64x33xf64>, tensor<64x4xf64>) -> tensor<2x64x33xf64>
  return %y, %y2, %h, %yb, %ch, %cd : tensor<2x64x33xf32>, tensor<2x64x33xf32>, tensor<2x64x16xf32>,
      tensor<2x64x33xbf16>, tensor<2x64x33xf16>, tensor<2x64x33xf64>
}
