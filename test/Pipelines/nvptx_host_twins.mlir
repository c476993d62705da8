// ssm-nvptx-pipeline{host-twins=1}: every outlined kernel also gets a host
// twin, wrapped as a driver calls kernels and registered from a global
// constructor; the PTX is the same as without twins (the twins are keyed by
// its hash), and ahead-of-time objects keep the twins internal.
// RUN: ssmc-opt %s --ssm-nvptx-pipeline=host-twins=1 | FileCheck %s
// RUN: ssmc-opt %s --ssm-nvptx-pipeline | FileCheck %s --check-prefix=PLAIN
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-run %s --target cuda --emit=ptx > %t/plain.ptx
// RUN: ssmc-run %s --target cuda --host-twins --emit=ptx > %t/twins.ptx
// RUN: cmp %t/plain.ptx %t/twins.ptx
// RUN: ssmc-run %s --target cuda --host-twins --emit=object -o %t/twins.o
// RUN: llvm-nm %t/twins.o | FileCheck %s --check-prefix=NM
// RUN: not ssmc-run %s --target cpu --host-twins 2>&1 | FileCheck %s --check-prefix=ERR

// Two kernels (selective_scan and causal_conv1d), each with its twin.
// CHECK-DAG: gpu.binary @main_kernel
// CHECK-DAG: gpu.binary @main_kernel_0
// CHECK-DAG: llvm.func internal @__ssmc_twin_main_kernel_main_kernel(
// CHECK-DAG: llvm.func internal @__ssmc_twin_main_kernel_0_main_kernel(
// CHECK-DAG: llvm.func internal @__ssmc_twin_main_kernel_main_kernel_packed(%{{.*}}: !llvm.ptr)
// CHECK-DAG: llvm.func internal @__ssmc_twin_main_kernel_0_main_kernel_packed(%{{.*}}: !llvm.ptr)
// The twins' thread blocks are OpenMP parallel regions.
// CHECK-DAG: omp.parallel num_threads
// CHECK-DAG: llvm.func @ssmcCudaRegisterHostTwin(i64, !llvm.ptr, !llvm.ptr)
// CHECK: llvm.func internal @__ssmc_register_host_twins()
// CHECK-COUNT-2: llvm.call @ssmcCudaRegisterHostTwin
// CHECK: llvm.mlir.global_ctors ctors = [@__ssmc_register_host_twins]
// PLAIN-NOT: __ssmc_twin
// PLAIN-NOT: ssmcCudaRegisterHostTwin

// NM-NOT: {{ [TD] }}__ssmc_twin
// NM-DAG: U ssmcCudaRegisterHostTwin
// NM-DAG: t __ssmc_register_host_twins
// NM-DAG: U mgpuLaunchKernel
// ERR: ssmc-run: error: --host-twins needs --target cuda

func.func @main(%u: tensor<1x20x7xf32>, %dt: tensor<1x20x7xf32>, %A: tensor<20x4xf32>,
                %B: tensor<1x4x7xf32>, %C: tensor<1x4x7xf32>, %w: tensor<20x3xf32>)
    -> (tensor<1x20x7xf32>, tensor<1x20x7xf32>) {
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<1x20x7xf32>, tensor<1x20x7xf32>, tensor<20x4xf32>, tensor<1x4x7xf32>,
         tensor<1x4x7xf32>) -> tensor<1x20x7xf32>
  %c = ssm.causal_conv1d %u, %w : (tensor<1x20x7xf32>, tensor<20x3xf32>) -> tensor<1x20x7xf32>
  return %y, %c : tensor<1x20x7xf32>, tensor<1x20x7xf32>
}
