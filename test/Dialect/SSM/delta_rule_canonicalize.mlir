// Canonicalization of ssm.delta_rule: a zero log gate is dropped; a delta
// form with beta = 0 and no h0 never writes its zero state.
// RUN: ssmc-opt %s -split-input-file -canonicalize | FileCheck %s

// CHECK-LABEL: func.func @zero_gate
// CHECK: ssm.delta_rule %{{.*}}, %{{.*}}, %{{.*}} beta(%{{.*}}) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>) -> tensor<1x4x2x8xf32>
func.func @zero_gate(%q: tensor<1x4x2x8xf32>, %beta: tensor<1x4x2xf32>) -> tensor<1x4x2x8xf32> {
  %g = arith.constant dense<0.0> : tensor<1x4x2x8xf32>
  %o = ssm.delta_rule %q, %q, %q beta(%beta) gate(%g) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>, tensor<1x4x2x8xf32>) -> tensor<1x4x2x8xf32>
  return %o : tensor<1x4x2x8xf32>
}

// -----

// CHECK-LABEL: func.func @zero_beta
// CHECK-NOT: ssm.delta_rule
// CHECK-DAG: arith.constant dense<0.000000e+00> : tensor<1x4x2x8xf32>
// CHECK-DAG: arith.constant dense<0.000000e+00> : tensor<1x2x8x8xf32>
func.func @zero_beta(%q: tensor<1x4x2x8xf32>, %g: tensor<1x4x2xf32>) -> (tensor<1x4x2x8xf32>, tensor<1x2x8x8xf32>) {
  %beta = arith.constant dense<0.0> : tensor<1x4x2xf32>
  %o, %s = ssm.delta_rule %q, %q, %q beta(%beta) gate(%g) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>, tensor<1x4x2xf32>) -> (tensor<1x4x2x8xf32>, tensor<1x2x8x8xf32>)
  return %o, %s : tensor<1x4x2x8xf32>, tensor<1x2x8x8xf32>
}

// -----

// With h0 the state decays but is not zero: kept.
// CHECK-LABEL: func.func @zero_beta_with_h0
// CHECK: ssm.delta_rule
func.func @zero_beta_with_h0(%q: tensor<1x4x2x8xf32>, %h0: tensor<1x2x8x8xf32>) -> tensor<1x4x2x8xf32> {
  %beta = arith.constant dense<0.0> : tensor<1x4x2xf32>
  %o = ssm.delta_rule %q, %q, %q beta(%beta) h0(%h0) : (tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2xf32>, tensor<1x2x8x8xf32>) -> tensor<1x4x2x8xf32>
  return %o : tensor<1x4x2x8xf32>
}
