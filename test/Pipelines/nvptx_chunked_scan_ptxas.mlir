// ssm-nvptx-pipeline: selective_scan over 8 channels and L = 4096 takes all
// three phases of the chunked kernel (32 chunks of 128 steps): shared
// arrays for the chunks' step-size sums and N x 128 end states and three
// sub-tile rows (u, dt; y out) of 128 x 17, block barriers between the
// phases, rounds and sub-tiles, and the state still in registers (no stack
// frame). ptxas accepts it for sm_90; the dynamic-shape form too.
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t && ssmc-run %s --target cuda --emit=ptx > %t/k.ptx
// RUN: FileCheck %s < %t/k.ptx
// RUN: %cuda_root/bin/ptxas -arch=sm_90 -v %t/k.ptx -o %t/k.cubin 2>&1 | FileCheck %s --check-prefix=REGS
// RUN: sed 's/1x8x4096/?x?x?/g; s/8x16xf32/?x16xf32/g; s/1x16x4096/?x16x?/g; s/1x8x16/?x?x16/g' %s > %t/dyn.mlir
// RUN: ssmc-run %t/dyn.mlir --target cuda --emit=ptx > %t/dyn.ptx
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/dyn.ptx -o %t/dyn.cubin
// CHECK: .visible .entry main_kernel(
// CHECK: .shared .align 4 .b8 {{.*}}[512];
// CHECK: .shared .align 4 .b8 {{.*}}[8192];
// CHECK-COUNT-3: .shared .align 4 .b8 {{.*}}[8704];
// CHECK: bar.sync 0;
// CHECK: bar.sync 0;
// CHECK: bar.sync 0;
// CHECK: ld.shared.b32
// REGS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// REGS: used 1 barriers, 34816 bytes smem
func.func @main(%u: tensor<1x8x4096xf32>, %A: tensor<8x16xf32>, %B: tensor<1x16x4096xf32>, %h0: tensor<1x8x16xf32>) -> (tensor<1x8x4096xf32>, tensor<1x8x16xf32>) {
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B h0(%h0) delta_softplus
      : (tensor<1x8x4096xf32>, tensor<1x8x4096xf32>, tensor<8x16xf32>, tensor<1x16x4096xf32>, tensor<1x16x4096xf32>, tensor<1x8x16xf32>)
      -> (tensor<1x8x4096xf32>, tensor<1x8x16xf32>)
  return %y, %h : tensor<1x8x4096xf32>, tensor<1x8x16xf32>
}
