// ssm-shard-sequence{functions=...}: only the named functions, rewritten in
// place. The caller hands each rank its slice already, so the signature
// keeps its types and marks; other ops (the elementwise add) stay as they
// are; a sequence op inside a loop (a model's layers) is distributed where
// it is; the other functions (@decode) are untouched.
// RUN: ssmc-opt %s --ssm-shard-sequence="functions=prefill" -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @prefill(
// CHECK-SAME: %[[U:[a-z0-9]+]]: tensor<1x4x?xf32>, %{{.*}}: tensor<1x4x?xf32>, %{{.*}}: tensor<4x3xf32>, %{{.*}}: tensor<1x3x?xf32>, %{{.*}}: tensor<1x4x3xf32>)
// CHECK-SAME: -> (tensor<1x4x?xf32>, tensor<1x4x3xf32>) {
// CHECK-NOT: ssm.seq_dim
// CHECK: scf.for
// CHECK: %[[RANK:.*]] = func.call @ssmcMpiRank() : () -> i64
// CHECK: scf.if
// CHECK: ssm.selective_scan {{.*}} h0(
// CHECK: func.call @ssmcMpiCombineAffine(
// CHECK: } else {
// CHECK: ssm.selective_scan
// CHECK: func.call @ssmcMpiStepSums(
// CHECK: func.call @ssmcMpiCombineAffine(
// CHECK: ssm.selective_scan {{.*}} h0(
// CHECK: }
// CHECK: arith.addf
// CHECK: scf.yield
// CHECK-LABEL: func.func @decode(
// CHECK-NOT: ssmcMpi
// CHECK: ssm.selective_scan
// CHECK-NOT: ssmcMpi
// CHECK: return
func.func @prefill(%u: tensor<1x4x?xf32>, %dt: tensor<1x4x?xf32>, %A: tensor<4x3xf32>,
                   %B: tensor<1x3x?xf32>, %h0: tensor<1x4x3xf32>)
    -> (tensor<1x4x?xf32>, tensor<1x4x3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %r:2 = scf.for %i = %c0 to %c2 step %c1 iter_args(%x = %u, %s = %h0)
      -> (tensor<1x4x?xf32>, tensor<1x4x3xf32>) {
    %y, %h = ssm.selective_scan %x, %dt, %A, %B, %B h0(%s) delta_softplus
        : (tensor<1x4x?xf32>, tensor<1x4x?xf32>, tensor<4x3xf32>, tensor<1x3x?xf32>,
           tensor<1x3x?xf32>, tensor<1x4x3xf32>) -> (tensor<1x4x?xf32>, tensor<1x4x3xf32>)
    %n = arith.addf %x, %y : tensor<1x4x?xf32>
    scf.yield %n, %h : tensor<1x4x?xf32>, tensor<1x4x3xf32>
  }
  return %r#0, %r#1 : tensor<1x4x?xf32>, tensor<1x4x3xf32>
}

func.func @decode(%u: tensor<1x4x1xf32>, %dt: tensor<1x4x1xf32>, %A: tensor<4x3xf32>,
                  %B: tensor<1x3x1xf32>) -> tensor<1x4x1xf32> {
  %y = ssm.selective_scan %u, %dt, %A, %B, %B
      : (tensor<1x4x1xf32>, tensor<1x4x1xf32>, tensor<4x3xf32>, tensor<1x3x1xf32>, tensor<1x3x1xf32>) -> tensor<1x4x1xf32>
  return %y : tensor<1x4x1xf32>
}

// -----

// An op without a distributed form in a named function is an error naming it.
func.func @prefill(%q: tensor<1x2x5x4xbf16>) -> tensor<1x2x5x4xbf16> {
  // expected-error @+1 {{sequence parallelism of attention needs f32 operands}}
  %o = ssm.attention %q, %q, %q : (tensor<1x2x5x4xbf16>, tensor<1x2x5x4xbf16>, tensor<1x2x5x4xbf16>) -> tensor<1x2x5x4xbf16>
  return %o : tensor<1x2x5x4xbf16>
}

// -----

// expected-error @+1 {{ssm-shard-sequence: no function 'prefill' with a body to distribute}}
module {
  func.func @other() {
    return
  }
}

// -----

// A delta_rule in a layer loop (Gated DeltaNet's prefill) is rewritten in
// place too: the transition op, the dense combine and the correction.
// CHECK-LABEL: func.func @prefill(
// CHECK-SAME: -> (tensor<1x?x2x3xf32>, tensor<1x2x4x3xf32>) {
// CHECK: scf.for
// CHECK: scf.if
// CHECK: ssm.delta_rule {{.*}} h0(
// CHECK: func.call @ssmcMpiCombineMatrix(
// CHECK: } else {
// CHECK: ssm.delta_rule
// CHECK: ssm.delta_rule {{.*}} -> (tensor<1x?x2x4xf32>, tensor<1x2x4x4xf32>)
// CHECK: func.call @ssmcMpiCombineMatrix(
// CHECK: linalg.generic
// CHECK: linalg.generic
// CHECK: }
// CHECK: scf.yield
func.func @prefill(%q: tensor<1x?x1x4xf32>, %k: tensor<1x?x1x4xf32>, %v: tensor<1x?x2x3xf32>,
                   %beta: tensor<1x?x2xf32>, %g: tensor<1x?x2xf32>, %h0: tensor<1x2x4x3xf32>)
    -> (tensor<1x?x2x3xf32>, tensor<1x2x4x3xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %r:2 = scf.for %i = %c0 to %c2 step %c1 iter_args(%x = %v, %s = %h0)
      -> (tensor<1x?x2x3xf32>, tensor<1x2x4x3xf32>) {
    %o, %h = ssm.delta_rule %q, %k, %x beta(%beta) gate(%g) h0(%s) use_qk_l2norm
        : (tensor<1x?x1x4xf32>, tensor<1x?x1x4xf32>, tensor<1x?x2x3xf32>, tensor<1x?x2xf32>,
           tensor<1x?x2xf32>, tensor<1x2x4x3xf32>) -> (tensor<1x?x2x3xf32>, tensor<1x2x4x3xf32>)
    scf.yield %o, %h : tensor<1x?x2x3xf32>, tensor<1x2x4x3xf32>
  }
  return %r#0, %r#1 : tensor<1x?x2x3xf32>, tensor<1x2x4x3xf32>
}
