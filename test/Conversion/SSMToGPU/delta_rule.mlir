// ssm.delta_rule has no GPU kernel: convert-ssm-to-gpu leaves it (and its
// decode step, once ssm-decompose-steps made it the sequence op) for the
// CPU lowering, which the GPU pipelines run next on the host.
// RUN: ssmc-opt %s --ssm-decompose-steps --convert-ssm-to-gpu | FileCheck %s
// RUN: ssmc-opt %s --ssm-gpu-emulator-pipeline | FileCheck %s --check-prefix=EMU
// RUN: ssmc-opt %s --ssm-nvptx-pipeline 2>&1 | FileCheck %s --check-prefix=NVPTX

// The NVPTX pipeline compiles the program with no kernel to launch.
// NVPTX-NOT: gpu.launch_func
// NVPTX-NOT: ssm.delta_rule
// NVPTX: llvm.func @gated
// NVPTX-NOT: gpu.launch_func
// NVPTX: llvm.func @step

// CHECK-LABEL: func.func @gated
// CHECK-NOT: gpu.launch
// CHECK: ssm.delta_rule %{{.*}}, %{{.*}}, %{{.*}} beta(%{{.*}}) gate(%{{.*}})
// EMU-LABEL: llvm.func @gated
// EMU-NOT: ssm.delta_rule
func.func @gated(%q: tensor<1x8x1x5xf32>, %v: tensor<1x8x2x20xf32>, %beta: tensor<1x8x2xf32>) -> tensor<1x8x2x20xf32> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) gate(%beta) : (tensor<1x8x1x5xf32>, tensor<1x8x1x5xf32>, tensor<1x8x2x20xf32>, tensor<1x8x2xf32>, tensor<1x8x2xf32>) -> tensor<1x8x2x20xf32>
  return %o : tensor<1x8x2x20xf32>
}

// CHECK-LABEL: func.func @step
// CHECK-NOT: gpu.launch
// CHECK: ssm.delta_rule
// EMU-LABEL: llvm.func @step
func.func @step(%q: tensor<2x1x8xf32>, %v: tensor<2x2x3xf32>, %s: tensor<2x2x8x3xf32>, %beta: tensor<2x2xf32>) -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>) {
  %o, %s1 = ssm.delta_rule_step %q, %q, %v, %s beta(%beta) : (tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x2x3xf32>, tensor<2x2x8x3xf32>, tensor<2x2xf32>) -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>)
  return %o, %s1 : tensor<2x2x3xf32>, tensor<2x2x8x3xf32>
}
