// ssm-nvptx-pipeline: the attention kernel with flash-attention's options
// (a two-sided window, softcap, ALiBi slopes [B, H], sinks and per-entry
// key counts) stays within the budgets: ptxas for sm_90 accepts it within
// 255 registers at d = dv in {32, 64, 128, 256} (T = 1, 2, 4 threads per
// query), with no local-memory stack frame at d = 32, 64 and 256 (d = 128
// spills 12 bytes: the stack frame is printed, not a budget failure), and
// math.tanh is resolved (no extern function left in the PTX).
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: for n in 32 64 128 256; do sed -n -e "/^func.func @main/,/^}/{s/@main/@d$n/;s/77x128x/77x${n}x/g;p}" %s; done > %t/heads.mlir
// RUN: ssmc-run %t/heads.mlir --target cuda --emit=ptx > %t/k.ptx
// RUN: FileCheck %s --check-prefix=PTX < %t/k.ptx
// RUN: split-file %t/k.ptx %t/k
// RUN: ls %t/k/*.ptx | count 4
// RUN: for f in %t/k/*.ptx; do echo "$f"; %cuda_root/bin/ptxas -arch=sm_90 -v $f -o $f.cubin 2>&1 || echo "ptxas failed"; done > %t/ptxas.log
// RUN: FileCheck %s --implicit-check-not=error --implicit-check-not=failed < %t/ptxas.log
// PTX-NOT: .extern .func
// CHECK: d128_kernel.ptx
// CHECK: {{[0-9]+}} bytes stack frame
// CHECK: d256_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: d32_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: d64_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

func.func @main(%q: tensor<2x4x77x128xf32>, %k: tensor<2x2x77x128xf32>, %v: tensor<2x2x77x128xf32>,
                %al: tensor<2x4xf32>, %sk: tensor<4xf32>, %used: tensor<2xi32>) -> tensor<2x4x77x128xf32> {
  %o = ssm.attention %q, %k, %v alibi_slopes(%al) sinks(%sk) seqused_k(%used) {window_left = 9 : i64, window_right = 4 : i64, softcap = 30.0}
      : (tensor<2x4x77x128xf32>, tensor<2x2x77x128xf32>, tensor<2x2x77x128xf32>, tensor<2x4xf32>, tensor<4xf32>, tensor<2xi32>) -> tensor<2x4x77x128xf32>
  return %o : tensor<2x4x77x128xf32>
}
