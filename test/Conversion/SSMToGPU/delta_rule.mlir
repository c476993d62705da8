// convert-ssm-to-gpu writes ssm.delta_rule as its recurrent kernel (and
// its decode step, once ssm-decompose-steps made it the sequence op with
// T = 1) or, at a static T >= 64, a dynamic T or a chunk_size > 0, as the
// chunked kernel (the delta forms' and the DPLR form's phases): a block of
// 128 threads per (sequence,
// head, tile of value columns), the tile's state and the step's (chunk's)
// vectors in shared memory. f64 programs and a dynamic K stay on the CPU
// lowering.
// RUN: ssmc-opt %s --ssm-decompose-steps --convert-ssm-to-gpu | FileCheck %s
// RUN: ssmc-opt %s --ssm-gpu-emulator-pipeline | FileCheck %s --check-prefix=EMU
// RUN: ssmc-opt %s --ssm-nvptx-pipeline 2>&1 | FileCheck %s --check-prefix=NVPTX

// NVPTX-NOT: ssm.delta_rule
// NVPTX: llvm.func @gated
// NVPTX: gpu.launch_func
// NVPTX: llvm.func @step
// NVPTX: gpu.launch_func
// NVPTX: llvm.func @kda_chunked
// NVPTX: gpu.launch_func
// NVPTX: llvm.func @rwkv7_chunked
// NVPTX: gpu.launch_func
// NVPTX: llvm.func @rwkv7_recurrent
// NVPTX: gpu.launch_func

// K = 5, V = 20: tiles of 16 columns (the next power of two of V, at most
// 16), 8 parts per column; the state tile [5 x 16] and q, k staged.
// CHECK-LABEL: func.func @gated
// CHECK-NOT: ssm.delta_rule
// CHECK: gpu.launch
// CHECK-DAG: memref.alloca() : memref<80xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<5xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<128xf32, #gpu.address_space<workgroup>>
// CHECK: math.exp
// CHECK: ssm_gpu.barrier
// CHECK: ssm_gpu.barrier
// CHECK: ssm_gpu.barrier
// CHECK: gpu.terminator
// EMU-LABEL: llvm.func @gated
// EMU-NOT: ssm.delta_rule
func.func @gated(%q: tensor<1x8x1x5xf32>, %v: tensor<1x8x2x20xf32>, %beta: tensor<1x8x2xf32>) -> tensor<1x8x2x20xf32> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) gate(%beta) : (tensor<1x8x1x5xf32>, tensor<1x8x1x5xf32>, tensor<1x8x2x20xf32>, tensor<1x8x2xf32>, tensor<1x8x2xf32>) -> tensor<1x8x2x20xf32>
  return %o : tensor<1x8x2x20xf32>
}

// V = 3: tiles of 4 columns, 32 parts per column.
// CHECK-LABEL: func.func @step
// CHECK-NOT: ssm.delta_rule
// CHECK: gpu.launch
// CHECK: memref.alloca() : memref<32xf32, #gpu.address_space<workgroup>>
// EMU-LABEL: llvm.func @step
func.func @step(%q: tensor<2x1x8xf32>, %v: tensor<2x2x3xf32>, %s: tensor<2x2x8x3xf32>, %beta: tensor<2x2xf32>) -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>) {
  %o, %s1 = ssm.delta_rule_step %q, %q, %v, %s beta(%beta) : (tensor<2x1x8xf32>, tensor<2x1x8xf32>, tensor<2x2x3xf32>, tensor<2x2x8x3xf32>, tensor<2x2xf32>) -> (tensor<2x2x3xf32>, tensor<2x2x8x3xf32>)
  return %o, %s1 : tensor<2x2x3xf32>, tensor<2x2x8x3xf32>
}

// T = 64 (the chunked kernel's shortest static length), KDA with l2norm,
// K = 6, V = 7: chunks of 16 steps, tiles of 8 columns. Shared: the state
// tile [6 x 8], q~ and k~ [16 x 6], beta [16], A, Aq and T [16 x 16], P, O
// and V' [16 x 8], the cumulative log decays [17 x 6], the inverse norms
// [2 x 16]; seven barriers per chunk (stage, norms and prefix sums,
// normalise, products, UT solve, V' = T P, outputs and state).
// CHECK-LABEL: func.func @kda_chunked
// CHECK-NOT: ssm.delta_rule
// CHECK: gpu.launch
// CHECK-DAG: memref.alloca() : memref<48xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<96xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<256xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<128xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<102xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<32xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c16
// CHECK-COUNT-7: ssm_gpu.barrier
// CHECK-NOT: ssm_gpu.barrier
// CHECK: gpu.terminator
// EMU-LABEL: llvm.func @kda_chunked
func.func @kda_chunked(%q: tensor<1x64x1x6xf32>, %v: tensor<1x64x2x7xf32>, %beta: tensor<1x64x2xf32>, %g: tensor<1x64x2x6xf32>) -> tensor<1x64x2x7xf32> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) gate(%g) use_qk_l2norm : (tensor<1x64x1x6xf32>, tensor<1x64x1x6xf32>, tensor<1x64x2x7xf32>, tensor<1x64x2xf32>, tensor<1x64x2x6xf32>) -> tensor<1x64x2x7xf32>
  return %o : tensor<1x64x2x7xf32>
}

// chunk_size = 4 asks for the chunked kernel at T = 8 (chunks of 4; the
// scalar gate's log decays [5]).
// CHECK-LABEL: func.func @gated_chunk4
// CHECK: gpu.launch
// CHECK-DAG: memref.alloca() : memref<5xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<16xf32, #gpu.address_space<workgroup>>
// CHECK: step %c4
// CHECK: gpu.terminator
func.func @gated_chunk4(%q: tensor<1x8x1x5xf32>, %v: tensor<1x8x2x20xf32>, %beta: tensor<1x8x2xf32>) -> tensor<1x8x2x20xf32> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) gate(%beta) {chunk_size = 4 : i64} : (tensor<1x8x1x5xf32>, tensor<1x8x1x5xf32>, tensor<1x8x2x20xf32>, tensor<1x8x2xf32>, tensor<1x8x2xf32>) -> tensor<1x8x2x20xf32>
  return %o : tensor<1x8x2x20xf32>
}

// RWKV-7's DPLR form at T = 64 (per-key gate, a, b), K = 6, V = 7: chunks
// of 16 steps, tiles of 8 columns. Shared: the state tile [6 x 8]; q~, k~,
// a and b [16 x 6]; A (a . k), Ab (a . b), Aq (q . k) and Qb (q . b)
// [16 x 16]; P (the reads, then p), O and V' [16 x 8]; the cumulative log
// decays [17 x 6]. Five barriers per chunk (stage, prefix sums, products,
// forward substitution of the reads, outputs and state).
// CHECK-LABEL: func.func @rwkv7_chunked
// CHECK-NOT: ssm.delta_rule
// CHECK: gpu.launch
// CHECK-DAG: memref.alloca() : memref<48xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<96xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<256xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<128xf32, #gpu.address_space<workgroup>>
// CHECK-DAG: memref.alloca() : memref<102xf32, #gpu.address_space<workgroup>>
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c16
// CHECK-COUNT-5: ssm_gpu.barrier
// CHECK-NOT: ssm_gpu.barrier
// CHECK: gpu.terminator
// EMU-LABEL: llvm.func @rwkv7_chunked
func.func @rwkv7_chunked(%q: tensor<1x64x1x6xf32>, %v: tensor<1x64x2x7xf32>, %w: tensor<1x64x2x6xf32>, %a: tensor<1x64x2x6xf32>, %b: tensor<1x64x2x6xf32>) -> tensor<1x64x2x7xf32> {
  %o = ssm.delta_rule %q, %q, %v gate(%w) a(%a) b(%b) {scale = 1.0 : f64} : (tensor<1x64x1x6xf32>, tensor<1x64x1x6xf32>, tensor<1x64x2x7xf32>, tensor<1x64x2x6xf32>, tensor<1x64x2x6xf32>, tensor<1x64x2x6xf32>) -> tensor<1x64x2x7xf32>
  return %o : tensor<1x64x2x7xf32>
}

// chunk_size = 0 asks for the recurrent kernel at any T: one step per
// iteration, three barriers per step.
// CHECK-LABEL: func.func @rwkv7_recurrent
// CHECK: gpu.launch
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c64{{.*}} step %c1
// CHECK-COUNT-3: ssm_gpu.barrier
// CHECK-NOT: ssm_gpu.barrier
// CHECK: gpu.terminator
func.func @rwkv7_recurrent(%q: tensor<1x64x1x6xf32>, %v: tensor<1x64x2x7xf32>, %w: tensor<1x64x2x6xf32>, %a: tensor<1x64x2x6xf32>, %b: tensor<1x64x2x6xf32>) -> tensor<1x64x2x7xf32> {
  %o = ssm.delta_rule %q, %q, %v gate(%w) a(%a) b(%b) {chunk_size = 0 : i64, scale = 1.0 : f64} : (tensor<1x64x1x6xf32>, tensor<1x64x1x6xf32>, tensor<1x64x2x7xf32>, tensor<1x64x2x6xf32>, tensor<1x64x2x6xf32>, tensor<1x64x2x6xf32>) -> tensor<1x64x2x7xf32>
  return %o : tensor<1x64x2x7xf32>
}

// CHECK-LABEL: func.func @f64_stays
// CHECK-NOT: gpu.launch
// CHECK: ssm.delta_rule
func.func @f64_stays(%q: tensor<1x4x1x5xf64>, %v: tensor<1x4x1x6xf64>, %beta: tensor<1x4x1xf64>) -> tensor<1x4x1x6xf64> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) : (tensor<1x4x1x5xf64>, tensor<1x4x1x5xf64>, tensor<1x4x1x6xf64>, tensor<1x4x1xf64>) -> tensor<1x4x1x6xf64>
  return %o : tensor<1x4x1x6xf64>
}
