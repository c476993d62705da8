// ssm-nvptx-pipeline: selective_scan with dynamic shapes keeps all three
// phases of the chunked kernel (the chunk count is chosen at run time):
// two shared arrays (the chunks' step-size sums and N x 128 end states),
// block barriers between the phases and rounds, and the state still in
// registers (no stack frame). ptxas accepts it for sm_90.
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t && ssmc-run %s --target cuda --emit=ptx > %t/k.ptx
// RUN: FileCheck %s < %t/k.ptx
// RUN: %cuda_root/bin/ptxas -arch=sm_90 -v %t/k.ptx -o %t/k.cubin 2>&1 | FileCheck %s --check-prefix=REGS
// CHECK: .visible .entry main_kernel(
// CHECK: .shared .align 4 .b8 {{.*}}[512];
// CHECK: .shared .align 4 .b8 {{.*}}[8192];
// CHECK: bar.sync 0;
// CHECK: bar.sync 0;
// CHECK: bar.sync 0;
// CHECK: ld.shared.b32
// REGS: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// REGS: used 1 barriers, 8704 bytes smem
func.func @main(%u: tensor<?x?x?xf32>, %A: tensor<?x16xf32>, %B: tensor<?x16x?xf32>, %h0: tensor<?x?x16xf32>) -> (tensor<?x?x?xf32>, tensor<?x?x16xf32>) {
  %y, %h = ssm.selective_scan %u, %u, %A, %B, %B h0(%h0) delta_softplus
      : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x16xf32>, tensor<?x16x?xf32>, tensor<?x16x?xf32>, tensor<?x?x16xf32>)
      -> (tensor<?x?x?xf32>, tensor<?x?x16xf32>)
  return %y, %h : tensor<?x?x?xf32>, tensor<?x?x16xf32>
}
