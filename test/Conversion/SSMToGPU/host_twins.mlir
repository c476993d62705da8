// ssm-gpu-host-twins: every outlined kernel gets a private host function
// running one launch of it (a gpu.launch of its kernel body over grid and
// block sizes given as arguments), which ssm-gpu-emulate turns into block
// loops and OpenMP thread regions.
// RUN: ssmc-opt %s -ssm-gpu-host-twins -split-input-file -verify-diagnostics | FileCheck %s
// RUN: ssmc-opt %s -ssm-gpu-host-twins -ssm-gpu-emulate -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=EMU

// The kernel stays; non-kernel gpu.funcs get no twin.
// CHECK: gpu.func @reverse
// CHECK-NOT: __ssmc_twin_mods_helper
// CHECK-LABEL: func.func private @__ssmc_twin_mods_reverse
// CHECK-SAME: (%[[X:.*]]: memref<?xf32>, %[[N:.*]]: index, %[[GX:.*]]: index, %[[GY:.*]]: index, %[[GZ:.*]]: index, %[[BX:.*]]: index, %[[BY:.*]]: index, %[[BZ:.*]]: index, %[[SMEM:.*]]: index)
// CHECK-SAME: attributes {ssm_gpu.host_twin = @mods::@reverse}
// CHECK: gpu.launch blocks(%[[BIDX:.*]], %{{.*}}, %{{.*}}) in (%{{.*}} = %[[GX]], %[[GSY:.*]] = %[[GY]], %{{.*}} = %[[GZ]])
// CHECK-SAME: threads(%[[TIDX:.*]], %{{.*}}, %{{.*}}) in (%[[BSX:.*]] = %[[BX]], %{{.*}} = %[[BY]], %{{.*}} = %[[BZ]])
// CHECK-SAME: dynamic_shared_memory_size %{{.*}} workgroup(%[[TILE:.*]] : memref<128xf32, #gpu.address_space<workgroup>>)
// CHECK-NOT: gpu.thread_id
// CHECK-NOT: gpu.block_id
// CHECK: %[[BASE:.*]] = arith.muli %[[BIDX]], %[[BSX]] : index
// CHECK: %[[I:.*]] = arith.addi %[[BASE]], %[[TIDX]] : index
// CHECK: %[[V:.*]] = memref.load %[[X]][%[[I]]]
// CHECK: memref.store %[[V]], %[[TILE]][%[[TIDX]]]
// CHECK: gpu.barrier
// CHECK: %[[J:.*]] = arith.addi %[[I]], %[[GSY]] : index
// CHECK: %[[K:.*]] = arith.addi %[[J]], %[[N]] : index
// CHECK: memref.store %[[V]], %[[X]][%[[K]]]
// CHECK: gpu.terminator
// CHECK: return

// Emulated: the launch's sizes are the twin's arguments, the shared tile a
// host buffer per block, the thread index OpenMP's.
// EMU-LABEL: func.func private @__ssmc_twin_mods_reverse
// EMU-SAME: (%[[X:.*]]: memref<?xf32>, %[[N:.*]]: index, %[[GX:.*]]: index, %[[GY:.*]]: index, %[[GZ:.*]]: index, %[[BX:.*]]: index, %[[BY:.*]]: index, %[[BZ:.*]]: index, %[[SMEM:.*]]: index)
// EMU: scf.for %{{.*}} = %{{.*}} to %[[GZ]]
// EMU: scf.for %{{.*}} = %{{.*}} to %[[GY]]
// EMU: scf.for %[[B:.*]] = %{{.*}} to %[[GX]]
// EMU: %[[TILE:.*]] = memref.alloc() : memref<128xf32>
// EMU: omp.parallel
// EMU: %[[T:.*]] = arith.index_cast %{{.*}} : i32 to index
// EMU: %[[TX:.*]] = arith.remui %[[T]], %[[BX]]
// EMU: arith.muli %[[B]], %[[BX]]
// EMU: memref.store %{{.*}}, %[[TILE]][%[[TX]]] : memref<128xf32>
// EMU: omp.barrier
// EMU: arith.addi %{{.*}}, %[[GY]]
// EMU: omp.terminator
// EMU: memref.dealloc %[[TILE]]
// EMU-NOT: gpu.launch {
module attributes {gpu.container_module} {
  gpu.module @mods {
    gpu.func @reverse(%x: memref<?xf32>, %n: index)
        workgroup(%tile : memref<128xf32, #gpu.address_space<workgroup>>) kernel {
      %tx = gpu.thread_id x
      %bx = gpu.block_id x
      %bd = gpu.block_dim x
      %gd = gpu.grid_dim y
      %base = arith.muli %bx, %bd : index
      %i = arith.addi %base, %tx : index
      %v = memref.load %x[%i] : memref<?xf32>
      memref.store %v, %tile[%tx] : memref<128xf32, #gpu.address_space<workgroup>>
      gpu.barrier
      %j = arith.addi %i, %gd : index
      %k = arith.addi %j, %n : index
      memref.store %v, %x[%k] : memref<?xf32>
      gpu.return
    }
    gpu.func @helper(%a: index) {
      gpu.return
    }
  }
  func.func @main(%x: memref<?xf32>, %n: index) {
    %c1 = arith.constant 1 : index
    gpu.launch_func @mods::@reverse blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
        args(%x : memref<?xf32>, %n : index)
    return
  }
}

// -----

// Two modules, private attributions, and twins named after both symbols.
// CHECK-LABEL: func.func private @__ssmc_twin_a_k
// CHECK-SAME: attributes {ssm_gpu.host_twin = @a::@k}
// CHECK: private(%[[P:.*]] : memref<2xf32, #gpu.address_space<private>>)
// CHECK: memref.store %{{.*}}, %[[P]]
// CHECK-LABEL: func.func private @__ssmc_twin_b_k
// CHECK-SAME: (%{{.*}}: f32, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index)
// CHECK-SAME: attributes {ssm_gpu.host_twin = @b::@k}
module attributes {gpu.container_module} {
  gpu.module @a {
    gpu.func @k(%x: memref<4xf32>)
        private(%p : memref<2xf32, #gpu.address_space<private>>) kernel {
      %c0 = arith.constant 0 : index
      %v = memref.load %x[%c0] : memref<4xf32>
      memref.store %v, %p[%c0] : memref<2xf32, #gpu.address_space<private>>
      gpu.return
    }
  }
  gpu.module @b {
    gpu.func @k(%s: f32) kernel {
      gpu.return
    }
  }
}

// -----

// Dynamic shared memory: the twin's launch gets the size the driver passes
// (its last argument), emulated as a byte buffer per block of that size.
// CHECK-LABEL: func.func private @__ssmc_twin_d_k
// CHECK-SAME: %[[DSMEM:[^:]*]]: index) attributes
// CHECK: %[[DBYTES:.*]] = arith.index_castui %[[DSMEM]] : index to i32
// CHECK: gpu.launch
// CHECK-SAME: dynamic_shared_memory_size %[[DBYTES]]
// CHECK: gpu.dynamic_shared_memory
// EMU-LABEL: func.func private @__ssmc_twin_d_k
// EMU-SAME: %[[DSMEM:[^:]*]]: index) attributes
// EMU: %[[DBYTES:.*]] = arith.index_castui %[[DSMEM]] : index to i32
// EMU: %[[DIDX:.*]] = arith.index_castui %[[DBYTES]] : i32 to index
// EMU: %[[RAW:.*]] = memref.alloc(%[[DIDX]]) : memref<?xi8>
// EMU: omp.parallel
// EMU: memref.view %[[RAW]]
module attributes {gpu.container_module} {
  gpu.module @d {
    gpu.func @k(%x: memref<32xf32>) kernel {
      %raw = gpu.dynamic_shared_memory : memref<?xi8, #gpu.address_space<workgroup>>
      %c0 = arith.constant 0 : index
      %tile = memref.view %raw[%c0][] : memref<?xi8, #gpu.address_space<workgroup>> to memref<32xf32, #gpu.address_space<workgroup>>
      %t = gpu.thread_id x
      %v = memref.load %x[%t] : memref<32xf32>
      memref.store %v, %tile[%t] : memref<32xf32, #gpu.address_space<workgroup>>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    gpu.func @k(%x: memref<32xf32>) kernel {
      // expected-error @+1 {{ssm-gpu-host-twins: 'gpu.lane_id' has no host twin}}
      %l = gpu.lane_id
      %v = arith.constant 1.0 : f32
      memref.store %v, %x[%l] : memref<32xf32>
      gpu.return
    }
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @m {
    // expected-error @+1 {{ssm-gpu-host-twins: a kernel body with more than one block}}
    gpu.func @k(%x: memref<32xf32>) kernel {
      cf.br ^bb1
    ^bb1:
      gpu.return
    }
  }
}
