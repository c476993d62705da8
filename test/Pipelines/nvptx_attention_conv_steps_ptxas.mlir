// Softmax attention (flash-style: a block of 128 queries, one thread each,
// walks tiles of K/V rows staged in shared memory between barriers, with an
// online softmax per tile; causal window and grouped KV heads), causal_conv1d (bias, initial state, SiLU, final state)
// and the decode steps (decomposed into the sequence ops, whose kernels run
// them; the attention step attends to a strided slice of its cache, staged
// through a contiguous copy) on the CUDA target: PTX for sm_90 that ptxas
// accepts, and the host program JIT-compiles.
// REQUIRES: ptxas
// RUN: rm -rf %t && ssmc-run %s --target cuda --emit=ptx > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: split-file %t.ptx %t
// RUN: for f in %t/*.ptx; do %cuda_root/bin/ptxas -arch=sm_90 $f -o $f.cubin || exit 1; done
// RUN: ls %t/*.cubin | count 5
// The attention kernel: 128-key tiles of K (d = 16) and V (dv = 8).
// CHECK: //--- main_kernel.ptx
// CHECK: .shared .align 4 .b8 {{.*}}[8192];
// CHECK: .shared .align 4 .b8 {{.*}}[4096];
// CHECK: bar.sync 0;
// CHECK: ld.shared.{{(v4.)?}}b32
// CHECK: bar.sync 0;
// CHECK-COUNT-4: //--- main_kernel
// CHECK-NOT: __nv_

func.func @main(%q: tensor<2x4x10x16xf32>, %k: tensor<2x2x12x16xf32>, %v: tensor<2x2x12x8xf32>,
                %x: tensor<2x6x9xf32>, %w: tensor<6x4xf32>, %b: tensor<6xf32>, %s0: tensor<2x6x3xf32>,
                %qs: tensor<1x2x16xf32>, %ks: tensor<1x2x16xf32>, %vs: tensor<1x2x8xf32>,
                %kc: tensor<1x2x5x16xf32>, %vc: tensor<1x2x5x8xf32>, %pos: index,
                %st: tensor<1x2x16x8xf32>)
    -> (tensor<2x4x10x8xf32>, tensor<2x6x9xf32>, tensor<2x6x3xf32>, tensor<1x2x8xf32>,
        tensor<1x2x5x16xf32>, tensor<1x2x8xf32>, tensor<1x2x16x8xf32>) {
  %o = ssm.attention %q, %k, %v causal {window = 5 : i64}
      : (tensor<2x4x10x16xf32>, tensor<2x2x12x16xf32>, tensor<2x2x12x8xf32>) -> tensor<2x4x10x8xf32>
  %y, %f = ssm.causal_conv1d %x, %w bias(%b) initial_state(%s0) silu
      : (tensor<2x6x9xf32>, tensor<6x4xf32>, tensor<6xf32>, tensor<2x6x3xf32>)
      -> (tensor<2x6x9xf32>, tensor<2x6x3xf32>)
  %ao, %k1, %v1 = ssm.attention_step %qs, %ks, %vs, %kc, %vc, %pos {ring}
      : (tensor<1x2x16xf32>, tensor<1x2x16xf32>, tensor<1x2x8xf32>, tensor<1x2x5x16xf32>,
         tensor<1x2x5x8xf32>, index) -> (tensor<1x2x8xf32>, tensor<1x2x5x16xf32>, tensor<1x2x5x8xf32>)
  %lo, %s1 = ssm.linear_attention_step %qs, %ks, %vs, %st
      : (tensor<1x2x16xf32>, tensor<1x2x16xf32>, tensor<1x2x8xf32>, tensor<1x2x16x8xf32>)
      -> (tensor<1x2x8xf32>, tensor<1x2x16x8xf32>)
  return %o, %y, %f, %ao, %k1, %lo, %s1 : tensor<2x4x10x8xf32>, tensor<2x6x9xf32>, tensor<2x6x3xf32>,
      tensor<1x2x8xf32>, tensor<1x2x5x16xf32>, tensor<1x2x8xf32>, tensor<1x2x16x8xf32>
}
