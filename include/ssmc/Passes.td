//===- Passes.td - ssmc pass definitions -----------------------------------===//
//
// Every ssmc pass, registered in ssmc-opt through registerSSMCPasses().
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_PASSES_TD
#define SSMC_PASSES_TD

include "mlir/Pass/PassBase.td"

def SSMReport : Pass<"ssm-report", "::mlir::ModuleOp"> {
  let summary = "Report recurrent state size and per-token cost of ssm ops";
  let description = [{
    Attaches a remark to every ssm op with the size of the recurrent state it
    carries (elements and bytes, in the accumulator type), the work of one
    sequence step over the whole batch (arithmetic FLOPs, transcendental
    calls, bytes of activations read and written), and the totals over the
    sequence length. The IR is left unchanged.

    Input:

    ```mlir
    %y = ssm.selective_scan %u, %dt, %A, %B, %C : (tensor<1x4x8xf32>, ...)
    ```

    Output (as a remark on the op):

    ```
    remark: ssm.selective_scan: state 64 elements (256 bytes, f32); per token
      ... flops, ... transcendentals, ... bytes; total over L=8: ...
    ```

    With `json=FILE` the same numbers are written as one JSON document
    (`json=-` writes to standard output). `seq-len=L` evaluates totals for a
    sequence length other than the static one (required for totals when L is
    dynamic). Unknown quantities (dynamic dimensions) print as `?` and
    `null`.

    For `ssm.dp` the report gives the dependency window m (in cells of the
    row-major chain of thought; unbounded for a prefix aggregation), the
    state a chain-of-thought recurrent model needs to hold it (elements and
    bytes), the work (cell evaluations, plus predicate tests for the prefix
    form), the wavefront width the lowering exploits and the cells the
    lowering stores; `seq-len` replaces every non-constant size of its index
    space.
  }];
  let options = [
    Option<"seqLen", "seq-len", "int64_t", /*default=*/"-1",
           "Sequence length for totals (default: the op's static length); "
           "for ssm.dp, every non-constant size">,
    Option<"jsonFile", "json", "std::string", /*default=*/"\"\"",
           "Also write the report as JSON to this file ('-' for stdout)">,
    Option<"emitRemarks", "remarks", "bool", /*default=*/"true",
           "Attach the report to each op as a remark">,
  ];
}

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
    `ssm.selective_scan` (one thread per channel, f32, static N).
  }];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect", "::mlir::arith::ArithDialect",
    "::mlir::bufferization::BufferizationDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
  ];
}

def SSMGPUStageBuffers : Pass<"ssm-gpu-stage-buffers"> {
  let summary = "Give every gpu.launch device copies of the host buffers it uses";
  let description = [{
    After bufferization, each host memref a `gpu.launch` uses is replaced in
    the kernel by a `gpu.alloc` buffer, filled by a host-to-device
    `gpu.memcpy` when the kernel reads it and copied back after the launch
    when the kernel writes it, then freed with `gpu.dealloc`.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect", "::mlir::memref::MemRefDialect"];
}

def SSMGPUEmulate : Pass<"ssm-gpu-emulate", "::mlir::ModuleOp"> {
  let summary = "Run gpu.launch kernels on the host CPU with thread-block semantics";
  let description = [{
    In place of ssm-gpu-stage-buffers (after bufferization): every
    `gpu.launch` becomes a sequential loop over its grid's blocks, each
    block an `omp.parallel` region of blockDim OpenMP threads (one per GPU
    thread, index from omp_get_thread_num), shared memory a host buffer per
    block, private memory the thread's stack, and barriers `omp.barrier`.
    The GPU kernels' numerical tests run through it where no GPU is present
    (`Target::GPUEmulator`, `ssmc-run --target gpu-emulator`). Warp-level
    behaviour, timing and the NVPTX backend are not modelled.
  }];
  let dependentDialects = ["::mlir::omp::OpenMPDialect", "::mlir::LLVM::LLVMDialect",
                           "::mlir::scf::SCFDialect", "::mlir::memref::MemRefDialect",
                           "::mlir::arith::ArithDialect"];
}

def SSMGPUReplaceLibdevice : Pass<"ssm-gpu-replace-libdevice"> {
  let summary = "Turn libdevice calls of GPU kernels back into LLVM intrinsics";
  let description = [{
    After convert-gpu-to-nvvm, replaces calls to __nv_fmaf, __nv_fabsf,
    __nv_floorf, ... by the LLVM intrinsics the NVPTX backend lowers
    natively, so kernel modules need no libdevice; any other libdevice call
    is an error naming the function.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

def SSMDecomposeSteps : Pass<"ssm-decompose-steps", "::mlir::ModuleOp"> {
  let summary = "Rewrite decode-step ops as length-1 sequence ops";
  let description = [{
    `ssm.selective_scan_step`, `ssm.ssd_step` and `ssm.linear_attention_step` become their
    sequence ops with L = 1 and h0 = the state (the final state is the new
    state); `ssm.attention_step` inserts the new key/value at `position` of
    the caches and runs `ssm.attention` of the query over the visible slots,
    guarded by a run-time check that position < capacity.

    ```mlir
    %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %C, %h : ...
    // becomes
    %u1 = tensor.expand_shape %u [[0], [1, 2]] ... : tensor<1x64xf32> into tensor<1x64x1xf32>
    ...
    %y1, %h1 = ssm.selective_scan %u1, %dt1, %A, %B1, %C1 h0(%h) : ...
    %y = tensor.collapse_shape %y1 [[0], [1, 2]] ...
    ```
  }];
  let dependentDialects = [
    "::mlir::tensor::TensorDialect", "::mlir::scf::SCFDialect",
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect",
  ];
}

def SSMDecompose : Pass<"ssm-decompose", "::mlir::ModuleOp"> {
  let summary = "Rewrite selective_scan as an ssm.scan of a linear recurrence "
                "and ssd as linear attention";
  let description = [{
    Expresses Mamba-1's selective scan through the generic associative scan:
    per (batch, channel, state index) h_t = a_t h_{t-1} + b_t with
    a_t = exp(dt_t A) and b_t = dt_t B_t u_t (h0 folded into b_0), scanned
    with the combiner (a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2); then
    y_t = C_t . h_t, the D skip and the z gate as linalg ops. Materialises
    [B, Dm, N, L] tensors: it states the equivalence, the fused lowering is
    the fast path. Handles shared B/C, f32/f64 programs, and a final state
    when L is static and positive; other forms are left unchanged.

    `ssm.ssd` becomes `ssm.linear_attention` (Mamba-2's state space duality):
    q = C, k = B, v = dt x, log gate = dt A per head and step, scale 1, with
    linalg ops moving [B, L, H, .] to [B, H, L, .] and transposing the state
    between [P, N] and [K = N, V = P] (f32/f64; grouped B/C need static H and
    G).

    ```mlir
    %y = ssm.selective_scan %u, %dt, %A, %B, %C : ...
    // becomes
    %a = linalg.generic {...} ins(%dt, %A) ... exp(dt * A)
    %b = linalg.generic {...} ins(%dt, %B, %u) ... dt * B * u
    %p, %h = ssm.scan %a, %b axis = 3 : ... {
    ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
      ... ssm.yield %a1 * %a2, %a2 * %b1 + %b2
    }
    %y = linalg.generic {...} ins(%C, %h) ... sum_n C * h
    ```
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect", "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
  ];
}

def SSMProtectInputs : Pass<"ssm-protect-inputs", "::mlir::ModuleOp"> {
  let summary = "Keep bufferization from writing into the caller's input tensors";
  let description = [{
    Marks every tensor argument of every public function
    `bufferization.writable = false`, unless the program marked it
    `bufferization.writable = true` itself: such an argument is lent by the
    caller to be updated in place (a decoder's state), and when the function
    returns it, the caller may pass the same buffer as the out-param to skip
    the copy (ssm-static-results-to-out-params guards it). One-shot bufferization otherwise treats
    function arguments as writable and may compute an elementwise result in
    place over an input buffer -- which the caller still owns and may pass
    again. With the mark, such results get their own buffer.

    ```mlir
    func.func @main(%x: tensor<8xf32>) -> tensor<8xf32>
    // becomes
    func.func @main(%x: tensor<8xf32> {bufferization.writable = false}) -> tensor<8xf32>
    ```
  }];
}

def SSMApproximateMath : Pass<"ssm-approximate-math"> {
  let summary = "Replace math ops by polynomial approximations";
  let description = [{
    Rewrites `math.exp`, `math.log1p`, `math.tanh`, ... on f32 scalars and
    vectors into FMA polynomials (upstream's approximations), so that vector
    code never scalarises into libm calls. f16/bf16 math is computed in f32;
    f64 math is left for libm (reference precision).
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::vector::VectorDialect",
  ];
}

def SSMStaticResultsToOutParams
    : Pass<"ssm-static-results-to-out-params", "::mlir::ModuleOp"> {
  let summary = "Make public functions with static result shapes write into "
                "caller-provided buffers";
  let description = [{
    For every public function whose results are all statically shaped
    memrefs, turns the results into trailing out-parameters and, where a
    result is a fresh allocation of the function, writes into the caller's
    buffer directly instead (upstream's buffer-results-to-out-params with
    hoisted static allocations). Such functions get the `ssm.out_params`
    attribute; the JIT then passes the caller's tensors, so a call allocates
    nothing and copies nothing. Functions with dynamic result shapes keep
    returning buffers.

    ```mlir
    func.func @main(%u: memref<2x8xf32>) -> memref<2x8xf32> {
      %r = memref.alloc() : memref<2x8xf32>
      ...
      return %r : memref<2x8xf32>
    }
    // becomes
    func.func @main(%u: memref<2x8xf32>, %out: memref<2x8xf32>)
        attributes {ssm.out_params} {
      ... writes into %out ...
      return
    }
    ```
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def SSMLowerMatmul : Pass<"ssm-lower-matmul"> {
  let summary = "Lower f32 linalg.matmul on buffers to register-blocked vector loops";
  let description = [{
    Rewrites `linalg.matmul` C[M, N] += A[M, K] B[K, N] on f32 memrefs whose
    last dimension has unit stride (the projections of a language model:
    A a row-major weight, B channel-major activations) into vector code, so
    models do not run the scalar loops of convert-linalg-to-loops:

    - N >= one vector (prefill): columns in panels of `panel` so a panel of
      B stays in L2, rows of C in blocks of 4 spread over threads
      (`scf.parallel`), a 4 x 2-vector block of C held in registers while
      the loop over K broadcasts A and streams B; column tails masked.
    - N static and smaller than a vector (decode: N = 1): each column of B
      copied once to a contiguous buffer, then 4 rows of A at a time dotted
      with it along K (masked tail), one horizontal sum per result.

    B may be transposed (indexing maps (m, k), (n, k), (m, n): a row-major
    [N, K] weight applied to token-major activations); its rows are packed.
    Row tails repeat the last row (same value stored twice) rather than
    branching. Other matmuls (other maps, other element types, strided last
    dimensions) are left for convert-linalg-to-loops.
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "unsigned", /*default=*/"512",
           "Vector register width in bits (f32 lanes = vector-bits / 32)">,
    Option<"panel", "panel", "int64_t", /*default=*/"256",
           "Columns of B per panel (a multiple of two vectors)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::memref::MemRefDialect",
  ];
}

#endif // SSMC_PASSES_TD
