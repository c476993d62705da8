// The decomposition into ssm.scan computes the same selective scan: the
// rewritten program, compiled and run, matches the double reference (and so
// the fused lowering, which test/Integration/CPU/selective_scan.mlir checks
// against the same reference).
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 2 --channels 7 --len 11 --state 5 --full --seed 4
// RUN: ssmc-opt %s --ssm-decompose -o %t/decomposed.mlir
// RUN: FileCheck %s --check-prefix=IR < %t/decomposed.mlir
// RUN: ssmc-run %t/decomposed.mlir --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --input %t/D.npy --input %t/z.npy --input %t/bias.npy --input %t/h0.npy --output %t/y.npy --output %t/h.npy
// RUN: ssmc-testdata compare %t/y.npy %t/ref_out.npy | FileCheck %s
// RUN: ssmc-testdata compare %t/h.npy %t/ref_state.npy | FileCheck %s
// RUN: ssmc-testdata selective-scan --out %t/dyn --batch 3 --channels 4 --len 6 --state 3 --seed 5
// RUN: ssmc-opt %S/selective_scan_dynamic_plain.mlir.inc --ssm-decompose -o %t/dyn/decomposed.mlir
// RUN: ssmc-run %t/dyn/decomposed.mlir --input %t/dyn/u.npy --input %t/dyn/dt.npy --input %t/dyn/A.npy --input %t/dyn/B.npy --input %t/dyn/C.npy --output %t/dyn/y.npy
// RUN: ssmc-testdata compare %t/dyn/y.npy %t/dyn/ref_out.npy | FileCheck %s
// IR-NOT: ssm.selective_scan
// IR: ssm.scan
// CHECK: OK

func.func @main(%u: tensor<2x7x11xf32>, %dt: tensor<2x7x11xf32>, %A: tensor<7x5xf32>,
                %B: tensor<2x5x11xf32>, %C: tensor<2x5x11xf32>, %D: tensor<7xf32>, %z: tensor<2x7x11xf32>,
                %bias: tensor<7xf32>, %h0: tensor<2x7x5xf32>) -> (tensor<2x7x11xf32>, tensor<2x7x5xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<2x7x11xf32>, tensor<2x7x11xf32>, tensor<7x5xf32>, tensor<2x5x11xf32>, tensor<2x5x11xf32>,
         tensor<7xf32>, tensor<2x7x11xf32>, tensor<7xf32>, tensor<2x7x5xf32>) -> (tensor<2x7x11xf32>, tensor<2x7x5xf32>)
  return %y, %h : tensor<2x7x11xf32>, tensor<2x7x5xf32>
}
