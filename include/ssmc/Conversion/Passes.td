//===- Passes.td - ssmc passes: the conversions of ssm ops to fused CPU  ---===//
//
// The the conversions of ssm ops to fused CPU loops and to GPU kernels (lib/Conversion).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_CONVERSION_PASSES_TD
#define SSMC_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertSSMToLoops : Pass<"convert-ssm-to-loops", "::mlir::ModuleOp"> {
  let summary = "Lower ssm ops to fused, vectorised, parallel loop nests";
  let description = [{
    Rewrites every ssm op on tensors into one fused loop nest over buffers:
    `scf.parallel` over independent lanes (batch x channel blocks for
    `ssm.selective_scan`, non-scanned positions for `ssm.scan`), `scf.for`
    over the sequence with the recurrent state loop-carried, and
    vector-dialect arithmetic over a block of channels. Inputs enter through
    `bufferization.to_buffer`, results leave through `bufferization.to_tensor`
    of fresh buffers, so `one-shot-bufferize` lowers the rest of the program.

    Input:

    ```mlir
    %y = ssm.selective_scan %u, %dt, %A, %B, %C : (...) -> tensor<1x32x8xf32>
    ```

    Output (abridged):

    ```mlir
    %out = memref.alloc() {alignment = 64 : i64} : memref<1x32x8xf32>
    scf.parallel (%b, %blk) = (%c0, %c0) to (%c1, %c2) step (%c1, %c1) {
      %r:16 = scf.for %t = %c0 to %c8 step %c1 iter_args(%h0 = ..., ...) {
        %u = vector.gather ... : vector<16xf32>
        %dA = math.exp ... : vector<16xf32>
        ...
        vector.scatter %out[...] ...
      }
    }
    %y = bufferization.to_tensor %out restrict writable
    ```
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "unsigned", /*default=*/"512",
           "Vector register width in bits (lanes = bits / accumulator bits)">,
    Option<"maxRegisterState", "max-register-state", "int64_t", /*default=*/"64",
           "Largest static state size N kept in registers">,
    Option<"fastExp", "fast-exp", "bool", /*default=*/"true",
           "f32 exp through ssmc's short exp2 (else math.exp)">,
    Option<"avx512", "avx512", "bool", /*default=*/"true",
           "Target has AVX-512: scale 2^k with vscalefps">,
  ];
  let dependentDialects = [
    "::mlir::x86vector::X86VectorDialect", "::mlir::func::FuncDialect",
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::math::MathDialect", "::mlir::memref::MemRefDialect",
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
    "::mlir::tensor::TensorDialect",
  ];
}

def ConvertSSMToGPU : Pass<"convert-ssm-to-gpu", "::mlir::ModuleOp"> {
  let summary = "Lower ssm ops that have a GPU kernel to gpu.launch";
  let description = [{
    Rewrites the ssm ops that have a GPU kernel into `gpu.launch` regions on
    device buffers: operands are copied to `gpu.alloc` buffers, the kernel
    runs, results are copied back to host buffers handed on as tensors.
    Ops (or forms) without a GPU kernel are left for `convert-ssm-to-loops`,
    so a program always compiles; `ssm-nvptx-pipeline` runs both. Kernels:
    every ssm op family (docs/gpu.md lists them), and `linalg.matmul` on
    tensors with an f32 result (a warp per row of C for static N <= 8,
    shared-memory tiles otherwise; a C that is a `linalg.fill` is not
    read). With `linalg-kernels` (the default), also the ops between
    them: `linalg.generic` (parallel, or a reduction whose body combines
    the output by addf, mulf, min or max: a block tree reduction in shared
    memory), `linalg.transpose`, `linalg.copy`, `linalg.fill` and
    elementwise arith/math ops on tensors, with f32/f16/bf16 outputs and
    bodies of arith, f32 math, `linalg.index` and `tensor.extract` (f64
    stays on the host):

    ```mlir
    %r = linalg.matmul ins(%w, %x : tensor<64x32xbf16>, tensor<32x1xf32>)
           outs(%zero : tensor<64x1xf32>) -> tensor<64x1xf32>
    // becomes
    %out = memref.alloc() : memref<64x1xf32>
    gpu.launch blocks(...) in (%gx = %c16, ...) threads(...) in (%tx = %c128, ...) {
      ... scf.for over k (lane, lane + 32, ..), gpu.shuffle xor ...
    }
    %r = bufferization.to_tensor %out
    ```

    Kernels size their shared-memory tiles at rewrite time against
    `max-shared-bytes`, the most shared memory one block may use on the
    target: the card's opt-in maximum of dynamic shared memory (sm_90:
    227 KB, the default). A kernel whose shared arrays exceed the 48 KB of
    static shared memory gets them as dynamic shared memory
    (`ssm-gpu-stage-buffers`), which the runtime opts in to at launch;
    49152 keeps every kernel within static shared memory.
  }];
  let options = [
    Option<"maxSharedBytes", "max-shared-bytes", "int64_t",
           /*default=*/"232448",
           "Most shared memory (bytes) a kernel's block may use: the "
           "target's opt-in maximum of dynamic shared memory (sm_90: "
           "232448); 49152 keeps every kernel in static shared memory">,
    Option<"linalgKernels", "linalg-kernels", "bool", /*default=*/"true",
           "Also lower linalg.generic/transpose/copy/fill and elementwise "
           "ops on tensors (norms, activations, gathers) to kernels">,
  ];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect", "::mlir::ssm_gpu::SSMGPUDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
  ];
}

#endif // SSMC_CONVERSION_PASSES_TD
