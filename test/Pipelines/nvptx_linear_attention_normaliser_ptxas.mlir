// The linear_attention GPU kernel with the normaliser's state in and out
// (z0, final_z), a non-default eps and right-to-left steps (reverse): PTX
// for sm_90 that ptxas accepts, no libdevice calls. The kernel seeds the
// normaliser's registers from z0, adds eps to q . z before the division,
// mirrors the step index (L - 1 - t) in every load and store of a step, and
// stores final_z from value column 0 only.
// REQUIRES: ptxas
// RUN: rm -rf %t && ssmc-run %s --target cuda --emit=ptx > %t.ptx
// RUN: FileCheck %s < %t.ptx
// RUN: split-file %t.ptx %t
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/main_kernel.ptx -o %t/a.cubin
// RUN: ssmc-opt %s --convert-ssm-to-gpu | FileCheck %s --check-prefix=KERNELS
// CHECK: //--- main_kernel.ptx
// CHECK: bar.sync 0;
// CHECK-NOT: //--- main_kernel_0.ptx
// CHECK-NOT: __nv_
// KERNELS: %[[EPS:.*]] = arith.constant 2.500000e-01 : f32
// KERNELS: gpu.launch
// KERNELS: memref.load %{{.*}} : memref<2x3x16xf32>
// KERNELS: arith.subi %c8, %{{.*}} : index
// KERNELS: %[[DEN:.*]] = arith.addf %{{.*}}, %[[EPS]] : f32
// KERNELS-NEXT: arith.divf %{{.*}}, %[[DEN]] : f32
// KERNELS: arith.cmpi eq, %{{.*}}, %c0 : index
// KERNELS: memref.store %{{.*}} : memref<2x3x16xf32>
func.func @main(%q: tensor<2x3x9x16xf32>, %v: tensor<2x3x9x24xf32>, %g: tensor<2x3x9xf32>,
                %h0: tensor<2x3x16x24xf32>, %z0: tensor<2x3x16xf32>)
    -> (tensor<2x3x9x24xf32>, tensor<2x3x16x24xf32>, tensor<2x3x16xf32>) {
  %o, %s, %z = ssm.linear_attention %q, %q, %v gate(%g) h0(%h0) z0(%z0) normalize reverse
      {feature_map = #ssm.feature_map<elu_plus_one>, eps = 0.25 : f64}
      : (tensor<2x3x9x16xf32>, tensor<2x3x9x16xf32>, tensor<2x3x9x24xf32>, tensor<2x3x9xf32>,
         tensor<2x3x16x24xf32>, tensor<2x3x16xf32>)
      -> (tensor<2x3x9x24xf32>, tensor<2x3x16x24xf32>, tensor<2x3x16xf32>)
  return %o, %s, %z : tensor<2x3x9x24xf32>, tensor<2x3x16x24xf32>, tensor<2x3x16xf32>
}
