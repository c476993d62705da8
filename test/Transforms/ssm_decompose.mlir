// ssm-decompose: selective_scan as an ssm.scan of the linear recurrence.
// RUN: ssmc-opt %s -split-input-file --ssm-decompose | FileCheck %s

// CHECK-LABEL: func.func @full
// CHECK-NOT: ssm.selective_scan
// dt = softplus(delta + bias)
// CHECK: %[[DT:.*]] = linalg.generic {{.*}} ins(%arg1, %arg6 : tensor<1x4x8xf32>, tensor<4xf32>)
// CHECK: math.log1p
// a = exp(dt A) over [B, D, N, L]
// CHECK: %[[A:.*]] = linalg.generic {{.*}} ins(%[[DT]], %arg2 : tensor<1x4x8xf32>, tensor<4x2xf32>) outs(%{{.*}} : tensor<1x4x2x8xf32>)
// CHECK: math.exp
// b = dt B u, with h0 folded into the first step
// CHECK: %[[BU:.*]] = linalg.generic {{.*}} ins(%[[DT]], %arg3, %arg0, %[[A]], %arg7 :
// CHECK: linalg.index 3
// CHECK: %[[S:.*]]:2 = ssm.scan %[[A]], %[[BU]] axis = 3
// CHECK: ^bb0(%[[A1:.*]]: f32, %[[B1:.*]]: f32, %[[A2:.*]]: f32, %[[B2:.*]]: f32):
// CHECK: arith.mulf %[[A1]], %[[A2]]
// CHECK: math.fma %[[A2]], %[[B1]], %[[B2]]
// y = sum_n C h (a reduction over n), then D and the gate
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction", "parallel"]{{.*}} ins(%arg4, %[[S]]#1
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %arg0, %arg5, %arg0 :
// final state = the last scan element
// CHECK: tensor.extract_slice %[[S]]#1[0, 0, 0, 7] [1, 4, 2, 1] [1, 1, 1, 1] : tensor<1x4x2x8xf32> to tensor<1x4x2xf32>
func.func @full(%u: tensor<1x4x8xf32>, %dt: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %B: tensor<1x2x8xf32>,
                %C: tensor<1x2x8xf32>, %D: tensor<4xf32>, %bias: tensor<4xf32>, %h0: tensor<1x4x2xf32>)
    -> (tensor<1x4x8xf32>, tensor<1x4x2xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%u) delta_bias(%bias) h0(%h0) delta_softplus
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>,
         tensor<4xf32>, tensor<1x4x8xf32>, tensor<4xf32>, tensor<1x4x2xf32>) -> (tensor<1x4x8xf32>, tensor<1x4x2xf32>)
  return %y, %h : tensor<1x4x8xf32>, tensor<1x4x2xf32>
}

// -----

// B or C fixed over time ([Dm, N]) enters the linalg ops through the map
// (b, d, n, l) -> (d, n): dt B u reads B[d, n], the read-out C[d, n].
// CHECK-DAG: #[[BDL:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[DN:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d2)>
// CHECK-DAG: #[[ALL:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[BNL:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-LABEL: func.func @fixed
// CHECK: linalg.generic {indexing_maps = [#[[BDL]], #[[DN]], #[[BDL]], #[[ALL]]]{{.*}} ins(%{{.*}}, %arg2, %arg0 : tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<2x4x8xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[BNL]], #[[ALL]], #[[BDL]]]{{.*}} ins(%arg3,
// CHECK: linalg.generic {indexing_maps = [#[[BDL]], #[[BNL]], #[[BDL]], #[[ALL]]]{{.*}} ins(%{{.*}}, %arg3, %arg0 :
// CHECK: linalg.generic {indexing_maps = [#[[DN]], #[[ALL]], #[[BDL]]]{{.*}} ins(%arg2,
func.func @fixed(%u: tensor<2x4x8xf32>, %A: tensor<4x2xf32>, %Bf: tensor<4x2xf32>, %C: tensor<2x2x8xf32>)
    -> (tensor<2x4x8xf32>, tensor<2x4x8xf32>) {
  %y = ssm.selective_scan %u, %u, %A, %Bf, %C : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<4x2xf32>, tensor<2x2x8xf32>) -> tensor<2x4x8xf32>
  %w = ssm.selective_scan %u, %u, %A, %C, %Bf : (tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<4x2xf32>, tensor<2x2x8xf32>, tensor<4x2xf32>) -> tensor<2x4x8xf32>
  return %y, %w : tensor<2x4x8xf32>, tensor<2x4x8xf32>
}

// -----

// Forms the rewrite does not handle are left alone: grouped B/C, bf16
// activations, a final state with a dynamic L, and packed sequences
// (seq_idx).
// CHECK-LABEL: func.func @unchanged
// CHECK-COUNT-4: ssm.selective_scan
func.func @unchanged(%u: tensor<1x4x8xf32>, %A: tensor<4x2xf32>, %Bg: tensor<1x2x2x8xf32>,
                     %ub: tensor<1x4x8xbf16>, %Bb: tensor<1x2x8xbf16>,
                     %ud: tensor<1x4x?xf32>, %Bd: tensor<1x2x?xf32>, %B: tensor<1x2x8xf32>,
                     %s: tensor<1x8xi32>)
    -> (tensor<1x4x8xf32>, tensor<1x4x8xbf16>, tensor<1x4x?xf32>, tensor<1x4x2xf32>, tensor<1x4x8xf32>) {
  %p = ssm.selective_scan %u, %u, %A, %B, %B seq_idx(%s) : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<1x8xi32>) -> tensor<1x4x8xf32>
  %a = ssm.selective_scan %u, %u, %A, %Bg, %Bg : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<4x2xf32>, tensor<1x2x2x8xf32>, tensor<1x2x2x8xf32>) -> tensor<1x4x8xf32>
  %b = ssm.selective_scan %ub, %ub, %A, %Bb, %Bb : (tensor<1x4x8xbf16>, tensor<1x4x8xbf16>, tensor<4x2xf32>, tensor<1x2x8xbf16>, tensor<1x2x8xbf16>) -> tensor<1x4x8xbf16>
  %c, %h = ssm.selective_scan %ud, %ud, %A, %Bd, %Bd : (tensor<1x4x?xf32>, tensor<1x4x?xf32>, tensor<4x2xf32>, tensor<1x2x?xf32>, tensor<1x2x?xf32>) -> (tensor<1x4x?xf32>, tensor<1x4x2xf32>)
  return %a, %b, %c, %h, %p : tensor<1x4x8xf32>, tensor<1x4x8xbf16>, tensor<1x4x?xf32>, tensor<1x4x2xf32>, tensor<1x4x8xf32>
}

// -----

// SSD as linear attention: q = C, k = B (grouped: head h reads group
// h floordiv (H / G)), v = dt x, log gate = dt A, states transposed.
// CHECK-DAG: #[[GROUP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d1 floordiv 2, d3)>
// CHECK-LABEL: func.func @ssd
// CHECK-NOT: ssm.ssd
// CHECK: linalg.generic {indexing_maps = [#[[GROUP]], {{.*}}} ins(%arg4 : tensor<1x6x2x3xf32>) outs(%{{.*}} : tensor<1x4x6x3xf32>)
// CHECK: %[[O:.*]], %[[S:.*]] = ssm.linear_attention %{{.*}}, %{{.*}}, %{{.*}} gate(%{{.*}}) h0(%{{.*}}) {scale = 1.000000e+00 : f64} : (tensor<1x4x6x3xf32>, tensor<1x4x6x3xf32>, tensor<1x4x6x5xf32>, tensor<1x4x6xf32>, tensor<1x4x3x5xf32>) -> (tensor<1x4x6x5xf32>, tensor<1x4x3x5xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[O]], %arg0, %arg5 :
// CHECK: linalg.generic {{.*}} ins(%[[S]] : tensor<1x4x3x5xf32>) outs(%{{.*}} : tensor<1x4x5x3xf32>)
func.func @ssd(%x: tensor<1x6x4x5xf32>, %dt: tensor<1x6x4xf32>, %A: tensor<4xf32>, %B: tensor<1x6x2x3xf32>,
               %C: tensor<1x6x2x3xf32>, %D: tensor<4xf32>, %h0: tensor<1x4x5x3xf32>)
    -> (tensor<1x6x4x5xf32>, tensor<1x4x5x3xf32>) {
  %y, %h = ssm.ssd %x, %dt, %A, %B, %C D(%D) h0(%h0) dt_softplus
      : (tensor<1x6x4x5xf32>, tensor<1x6x4xf32>, tensor<4xf32>, tensor<1x6x2x3xf32>, tensor<1x6x2x3xf32>,
         tensor<4xf32>, tensor<1x4x5x3xf32>) -> (tensor<1x6x4x5xf32>, tensor<1x4x5x3xf32>)
  return %y, %h : tensor<1x6x4x5xf32>, tensor<1x4x5x3xf32>
}

// -----

// A dynamic group count cannot be mapped to heads statically: unchanged.
// CHECK-LABEL: func.func @ssd_dynamic_groups
// CHECK: ssm.ssd
func.func @ssd_dynamic_groups(%x: tensor<1x6x4x5xf32>, %dt: tensor<1x6x4xf32>, %A: tensor<4xf32>, %B: tensor<1x6x?x3xf32>)
    -> tensor<1x6x4x5xf32> {
  %y = ssm.ssd %x, %dt, %A, %B, %B : (tensor<1x6x4x5xf32>, tensor<1x6x4xf32>, tensor<4xf32>, tensor<1x6x?x3xf32>, tensor<1x6x?x3xf32>) -> tensor<1x6x4x5xf32>
  return %y : tensor<1x6x4x5xf32>
}
