// ssm-nvptx-pipeline: the attention kernel keeps the query row and the
// output accumulator in registers at the common head sizes: ptxas reports
// no local-memory stack frame and no spills (before, d = dv = 128 kept both
// in private arrays: a 1152-byte stack frame). The key tiles fill the
// share of an SM that 4 blocks of 128 registers leave: 48 KB of static
// shared memory at d = dv = 64, 96 and 128, 56 KB of dynamic shared memory
// (an extern array) at 112 (with 28 KB tiles it spilled 4 bytes). The
// function below (d = dv = 128) is copied for d = dv in {32, 64, 80, 96,
// 112, 128, 256}; d = 128 with dv = 64 is its own. The kernels' constants
// (the column offsets among them) are sunk into the kernel before it is
// outlined: as kernel parameters they held a register each through the
// kernel, and ptxas spilled 4-8 bytes at its 128-register mark at the
// three shapes below (the sweep's options at d = 50 and 220, all sizes
// dynamic at d = 136), which the larger key tiles had pushed over.
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: for n in 32 64 80 96 112 128 256; do sed -n -e "/^func.func @main/,/^}/{s/@main/@d$n/;s/200x128x/200x${n}x/g;p}" %s; done > %t/heads.mlir
// RUN: sed -n -e "/^func.func @mixed/,/^}/p" -e "/^func.func @opts/,/^}/p" -e "/^func.func @dyn/,/^}/p" %s >> %t/heads.mlir
// RUN: ssmc-run %t/heads.mlir --target cuda --emit=ptx > %t/k.ptx
// RUN: split-file %t/k.ptx %t/k
// RUN: ls %t/k/*.ptx | count 11
// RUN: FileCheck %s --check-prefix=PTX < %t/k/d112_kernel.ptx
// RUN: for f in %t/k/*.ptx; do echo "$f"; %cuda_root/bin/ptxas -arch=sm_90 -v $f -o $f.cubin 2>&1 || echo "ptxas failed"; done > %t/ptxas.log
// RUN: FileCheck %s --implicit-check-not=error --implicit-check-not=failed < %t/ptxas.log
// PTX: .extern .shared .align 16 .b8
// CHECK: d112_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: d128_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NEXT: 49152 bytes smem
// CHECK: d256_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: d32_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: d64_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NEXT: 49152 bytes smem
// CHECK: d80_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: d96_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK-NEXT: 49152 bytes smem
// CHECK: dyn136_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: mixed_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: opts220_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: opts50_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads

func.func @main(%q: tensor<1x4x200x128xf32>, %k: tensor<1x2x200x128xf32>, %v: tensor<1x2x200x128xf32>) -> tensor<1x4x200x128xf32> {
  %o = ssm.attention %q, %k, %v causal : (tensor<1x4x200x128xf32>, tensor<1x2x200x128xf32>, tensor<1x2x200x128xf32>) -> tensor<1x4x200x128xf32>
  return %o : tensor<1x4x200x128xf32>
}

func.func @mixed(%q: tensor<1x4x200x128xf32>, %k: tensor<1x2x200x128xf32>, %v: tensor<1x2x200x64xf32>) -> tensor<1x4x200x64xf32> {
  %o = ssm.attention %q, %k, %v : (tensor<1x4x200x128xf32>, tensor<1x2x200x128xf32>, tensor<1x2x200x64xf32>) -> tensor<1x4x200x64xf32>
  return %o : tensor<1x4x200x64xf32>
}

func.func @opts220(%q: tensor<1x4x23x220xf32>, %k: tensor<1x2x23x220xf32>, %v: tensor<1x2x23x220xf32>, %al: tensor<1x4xf32>, %sk: tensor<4xf32>, %used: tensor<1xi32>) -> (tensor<1x4x23x220xf32>) {
  %o = ssm.attention %q, %k, %v alibi_slopes(%al) sinks(%sk) seqused_k(%used) {window_left = 6 : i64, window_right = 3 : i64, softcap = 30.0} : (tensor<1x4x23x220xf32>, tensor<1x2x23x220xf32>, tensor<1x2x23x220xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1xi32>) -> (tensor<1x4x23x220xf32>)
  return %o : tensor<1x4x23x220xf32>
}

func.func @opts50(%q: tensor<1x4x23x50xf32>, %k: tensor<1x2x23x50xf32>, %v: tensor<1x2x23x50xf32>, %al: tensor<1x4xf32>, %sk: tensor<4xf32>, %used: tensor<1xi32>) -> (tensor<1x4x23x50xf32>) {
  %o = ssm.attention %q, %k, %v alibi_slopes(%al) sinks(%sk) seqused_k(%used) {window_left = 6 : i64, window_right = 3 : i64, softcap = 30.0} : (tensor<1x4x23x50xf32>, tensor<1x2x23x50xf32>, tensor<1x2x23x50xf32>, tensor<1x4xf32>, tensor<4xf32>, tensor<1xi32>) -> (tensor<1x4x23x50xf32>)
  return %o : tensor<1x4x23x50xf32>
}

func.func @dyn136(%q: tensor<?x?x?x136xf32>, %k: tensor<?x?x?x136xf32>, %v: tensor<?x?x?x136xf32>) -> (tensor<?x?x?x136xf32>) {
  %o = ssm.attention %q, %k, %v causal {window = 5 : i64} : (tensor<?x?x?x136xf32>, tensor<?x?x?x136xf32>, tensor<?x?x?x136xf32>) -> (tensor<?x?x?x136xf32>)
  return %o : tensor<?x?x?x136xf32>
}
