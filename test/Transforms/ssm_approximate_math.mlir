// ssm-approximate-math: f32 exp/log1p become FMA polynomials; f64 is left
// for libm.
// RUN: ssmc-opt %s --ssm-approximate-math | FileCheck %s

// CHECK-LABEL: func.func @vector_exp
// CHECK-NOT: math.exp
// CHECK: math.fma
// CHECK-NOT: math.exp
func.func @vector_exp(%x: vector<16xf32>) -> vector<16xf32> {
  %e = math.exp %x : vector<16xf32>
  return %e : vector<16xf32>
}

// CHECK-LABEL: func.func @log1p_f32
// CHECK-NOT: math.log1p
func.func @log1p_f32(%x: f32) -> f32 {
  %e = math.log1p %x : f32
  return %e : f32
}

// CHECK-LABEL: func.func @f64_untouched
// CHECK: math.exp %{{.*}} : f64
func.func @f64_untouched(%x: f64) -> f64 {
  %e = math.exp %x : f64
  return %e : f64
}
