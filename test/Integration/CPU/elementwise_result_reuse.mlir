// An elementwise op on tensors whose operand is a lowered op's result, read
// again by a later op: convert-elementwise-to-linalg makes the operand the
// elementwise op's destination, and the lowered result's buffer must not be
// written in place while the later reader (here the scan, which reads the
// buffer itself) still needs it. @shared computes v = u + u and v = u * dt
// between the conv and the scan that reads u; @alone has the same conv and
// scan without them. The scans' outputs must be equal (before the fix, the
// scan in @shared read 2u and the outputs differed by up to 1.22), and v
// must be what it says against the conv output of @alone.
//
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 2 --channels 37 --len 13 --state 16 --seed 3
// RUN: ssmc-run %s --entry shared --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --output %t/y_shared.npy --output %t/v_sum.npy --output %t/v_prod.npy
// RUN: ssmc-run %s --entry alone --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --output %t/y_alone.npy --output %t/u_conv.npy
// RUN: ssmc-testdata compare %t/y_shared.npy %t/y_alone.npy --rtol 1e-6 | FileCheck %s
// RUN: ssmc-run %s --entry twice --input %t/u_conv.npy --output %t/u_twice.npy
// RUN: ssmc-testdata compare %t/v_sum.npy %t/u_twice.npy --rtol 1e-6 | FileCheck %s
// CHECK: OK

func.func @shared(%x: tensor<2x37x13xf32>, %dt: tensor<2x37x13xf32>, %A: tensor<37x16xf32>,
                  %B: tensor<2x16x13xf32>, %C: tensor<2x16x13xf32>)
    -> (tensor<2x37x13xf32>, tensor<2x37x13xf32>, tensor<2x37x13xf32>) {
  %weight = arith.constant dense<0.4> : tensor<37x4xf32>
  %u = ssm.causal_conv1d %x, %weight : (tensor<2x37x13xf32>, tensor<37x4xf32>) -> tensor<2x37x13xf32>
  %v = arith.addf %u, %u : tensor<2x37x13xf32>
  %w = arith.mulf %u, %dt : tensor<2x37x13xf32>
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<2x37x13xf32>, tensor<2x37x13xf32>, tensor<37x16xf32>, tensor<2x16x13xf32>, tensor<2x16x13xf32>)
      -> tensor<2x37x13xf32>
  return %y, %v, %w : tensor<2x37x13xf32>, tensor<2x37x13xf32>, tensor<2x37x13xf32>
}

func.func @alone(%x: tensor<2x37x13xf32>, %dt: tensor<2x37x13xf32>, %A: tensor<37x16xf32>,
                 %B: tensor<2x16x13xf32>, %C: tensor<2x16x13xf32>)
    -> (tensor<2x37x13xf32>, tensor<2x37x13xf32>) {
  %weight = arith.constant dense<0.4> : tensor<37x4xf32>
  %u = ssm.causal_conv1d %x, %weight : (tensor<2x37x13xf32>, tensor<37x4xf32>) -> tensor<2x37x13xf32>
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<2x37x13xf32>, tensor<2x37x13xf32>, tensor<37x16xf32>, tensor<2x16x13xf32>, tensor<2x16x13xf32>)
      -> tensor<2x37x13xf32>
  return %y, %u : tensor<2x37x13xf32>, tensor<2x37x13xf32>
}

func.func @twice(%u: tensor<2x37x13xf32>) -> tensor<2x37x13xf32> {
  %two = arith.constant dense<2.0> : tensor<2x37x13xf32>
  %v = arith.mulf %u, %two : tensor<2x37x13xf32>
  return %v : tensor<2x37x13xf32>
}
