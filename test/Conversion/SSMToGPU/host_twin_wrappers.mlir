// ssm-gpu-host-twin-wrappers: after LLVM lowering, each host twin gets a
// wrapper `void(void **args)` that unpacks cuLaunchKernel-style parameters
// (a pointer per LLVM-level kernel argument, then pointers to the int64
// grid and block sizes and the dynamic shared-memory size), and a global constructor registers every wrapper
// under the FNV-1a hash of its module's PTX text (up to the first NUL) and
// the kernel's name.
// RUN: ssmc-opt %s -ssm-gpu-host-twin-wrappers -split-input-file -verify-diagnostics | FileCheck %s

// FNV-1a-64 of ".entry k\n" (computed independently): 2418219391948713928;
// the bytes after the NUL do not count.
// CHECK: llvm.func internal @__ssmc_twin_m_k(%{{.*}}: !llvm.ptr, %{{.*}}: i64, %{{.*}}: f32,
// CHECK-NOT: ssm_gpu.host_twin
// CHECK: llvm.func internal @_mlir_ciface___ssmc_twin_m_k
// CHECK: llvm.func internal @__ssmc_twin_m_k_packed(%[[ARGS:.*]]: !llvm.ptr) {
// CHECK: %[[S0:.*]] = llvm.getelementptr %[[ARGS]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A0:.*]] = llvm.load %[[P0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[S1:.*]] = llvm.getelementptr %[[ARGS]][1]
// CHECK: %[[P1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A1:.*]] = llvm.load %[[P1]] : !llvm.ptr -> i64
// CHECK: %[[S2:.*]] = llvm.getelementptr %[[ARGS]][2]
// CHECK: %[[P2:.*]] = llvm.load %[[S2]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A2:.*]] = llvm.load %[[P2]] : !llvm.ptr -> f32
// CHECK: %[[S8:.*]] = llvm.getelementptr %[[ARGS]][8]
// CHECK: %[[P8:.*]] = llvm.load %[[S8]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A8:.*]] = llvm.load %[[P8]] : !llvm.ptr -> i64
// CHECK: %[[S9:.*]] = llvm.getelementptr %[[ARGS]][9]
// CHECK: %[[P9:.*]] = llvm.load %[[S9]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[A9:.*]] = llvm.load %[[P9]] : !llvm.ptr -> i64
// CHECK-NOT: llvm.getelementptr %[[ARGS]][10]
// CHECK: llvm.call @__ssmc_twin_m_k(%[[A0]], %[[A1]], %[[A2]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[A8]], %[[A9]])
// CHECK: llvm.return
// CHECK: llvm.func @ssmcCudaRegisterHostTwin(i64, !llvm.ptr, !llvm.ptr)
// CHECK: llvm.mlir.global internal constant @[[NAME:.*]]("k\00")
// CHECK: llvm.func internal @__ssmc_register_host_twins() {
// CHECK: %[[H:.*]] = llvm.mlir.constant(2418219391948713928 : i64) : i64
// CHECK: %[[N:.*]] = llvm.mlir.addressof @[[NAME]] : !llvm.ptr
// CHECK: %[[W:.*]] = llvm.mlir.addressof @__ssmc_twin_m_k_packed : !llvm.ptr
// CHECK: llvm.call @ssmcCudaRegisterHostTwin(%[[H]], %[[N]], %[[W]])
// CHECK: llvm.mlir.global_ctors ctors = [@__ssmc_register_host_twins], priorities = [65535 : i32]
module attributes {gpu.container_module} {
  gpu.binary @m [#gpu.object<#nvvm.target, assembly = ".entry k\0A\00ignored">]
  llvm.func @main(%p: !llvm.ptr, %n: i64, %s: f32) {
    %c = llvm.mlir.constant(1 : i64) : i64
    gpu.launch_func @m::@k blocks in (%c, %c, %c) threads in (%c, %c, %c) : i64
        args(%p : !llvm.ptr, %n : i64, %s : f32)
    llvm.return
  }
  llvm.func @__ssmc_twin_m_k(%p: !llvm.ptr, %n: i64, %s: f32, %gx: i64, %gy: i64,
                             %gz: i64, %bx: i64, %by: i64, %bz: i64, %smem: i64)
      attributes {ssm_gpu.host_twin = @m::@k} {
    llvm.return
  }
  llvm.func @_mlir_ciface___ssmc_twin_m_k(%p: !llvm.ptr, %n: i64, %s: f32, %gx: i64,
                                          %gy: i64, %gz: i64, %bx: i64, %by: i64, %bz: i64,
                                          %smem: i64)
      attributes {ssm_gpu.host_twin = @m::@k} {
    llvm.call @__ssmc_twin_m_k(%p, %n, %s, %gx, %gy, %gz, %bx, %by, %bz, %smem)
        : (!llvm.ptr, i64, f32, i64, i64, i64, i64, i64, i64, i64) -> ()
    llvm.return
  }
}

// -----

// Without twins the module is left alone.
// CHECK-LABEL: llvm.func @no_twins
// CHECK-NOT: ssmcCudaRegisterHostTwin
// CHECK-NOT: global_ctors
module {
  llvm.func @no_twins() {
    llvm.return
  }
}

// -----

// A launch that marshals other arguments than the twin unpacks.
module attributes {gpu.container_module} {
  gpu.binary @m [#gpu.object<#nvvm.target, assembly = ".entry k\0A">]
  llvm.func @main(%p: !llvm.ptr, %n: i64) {
    %c = llvm.mlir.constant(1 : i64) : i64
    // expected-error @+1 {{the launch passes 2 kernel arguments, its host twin @__ssmc_twin_m_k takes 1}}
    gpu.launch_func @m::@k blocks in (%c, %c, %c) threads in (%c, %c, %c) : i64
        args(%p : !llvm.ptr, %n : i64)
    llvm.return
  }
  llvm.func @__ssmc_twin_m_k(%p: !llvm.ptr, %gx: i64, %gy: i64, %gz: i64, %bx: i64,
                             %by: i64, %bz: i64, %smem: i64)
      attributes {ssm_gpu.host_twin = @m::@k} {
    llvm.return
  }
}

// -----

// Twins are keyed by PTX text: a cubin binary has none.
module attributes {gpu.container_module} {
  // expected-error @+1 {{the binary must be in format 'isa'}}
  gpu.binary @m [#gpu.object<#nvvm.target, bin = "\7FELF">]
  llvm.func @__ssmc_twin_m_k(%gx: i64, %gy: i64, %gz: i64, %bx: i64, %by: i64,
                             %bz: i64, %smem: i64)
      attributes {ssm_gpu.host_twin = @m::@k} {
    llvm.return
  }
}
