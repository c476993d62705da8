//===- Passes.td - ssmc passes: passes the pipelines run around the conv ---===//
//
// The passes the pipelines run around the conversions (lib/Transforms).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TRANSFORMS_PASSES_TD
#define SSMC_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

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

def SSMShardSequence : Pass<"ssm-shard-sequence", "::mlir::ModuleOp"> {
  let summary = "Run the sequence ops of the public functions on one slice of L per rank";
  let description = [{
    Sequence parallelism (docs/distributed.md): every public function runs
    on each rank with that rank's contiguous slice of the sequence. The
    sequence dimension of every argument that feeds a sequence operand, and
    of every sequence result, becomes dynamic and is marked with the
    argument or result attribute `ssm.seq_dim = <dim>`; a final state is
    marked `ssm.seq_last` (the caller takes it from the last rank).
    Other arguments are replicated on every rank.

    Each `ssm.selective_scan`, `ssm.ssd` and `ssm.linear_attention` (any
    gate form, normalised or not) becomes `scf.if (ssmcMpiRank() == 0)`:
    rank 0 runs its slice from the program's h0 and hands its final state
    to `ssmcMpiCombineAffine`; every other rank runs its slice from a zero
    state (final state Sloc), computes the slice's decay product P from the
    gates (exp(A sum dt), exp(sum gate); the sums by `ssmcMpiStepSums`),
    gets its incoming state Sin from `ssmcMpiCombineAffine(P, Sloc, Sin)`
    (rank 0's final state carried through the maps S -> P S + Sloc of the
    ranks between) and runs the slice again from Sin. On one rank (no MPI)
    only the first branch runs: the program computes what it computed
    before. `ssm.delta_rule` (every form) does the same with a dense
    transition: P [B, H, K, K] is the op over the slice with v = 0 (K
    columns) from the identity state, and the combine is
    `ssmcMpiCombineMatrix(P, Sloc, Sin, K)` (S -> P S + Sloc per head);
    with f32 outputs the ranks add Sin^T (P_t^T q_t), that op's outputs,
    to their zero-state outputs instead of rescanning. `ssm.ssd` and
    unnormalised `ssm.linear_attention` with f32 operands (no
    `cu_seqlens`) are corrected too: the decay up to each step t of the
    slice, D_t = exp(sum_{s<=t} log decay_s) (the running sums by
    `ssmcMpiStepPrefixSums`), scales C_t (ssd: y_t += D_t C_t Sin^T, times
    silu(z_t) with a z gate) or q~_t (linear attention: o_t += (D_t q~_t)
    Sin, D_t per key dimension for GLA), one `linalg.matmul` per batch
    entry and head; the final state is P Sin + Sloc. `reverse` linear
    attention runs the ranks right to left: the last rank starts from h0
    and the combine is `ssmcMpiCombineAffineReverse`; its final state (the
    state after step 0) is rank 0's and is not marked `ssm.seq_last`.
    `rescan=true` keeps the rescan for ssd and linear attention (for
    measurements).
    Each `ssm.causal_conv1d` takes the W - 1 steps before its slice
    (`ssmcMpiHalo`: from the ranks before, the program's initial state
    before the first step) as its initial state. With `cu_seqlens` (packed
    sequences) each rank clips the offsets to its slice
    (`ssmcMpiLocalSeqlens`); the scans combine one state per sequence, the
    decays summed per sequence (`ssmcMpiSegmentSums`; delta_rule: its
    transition op runs with the clipped offsets, one K x K matrix per
    sequence and head, and each step's output is corrected with its own
    sequence's incoming state), and the convolution
    takes a halo per sequence that stops at its start (`ssmcMpiPackedHalo`)
    and each sequence's final state from the rank holding its last step
    (`ssmcMpiPackedFinals`). Each `ssm.attention` (causal or not, windows,
    packed sequences, key counts; f32) gets its rows from
    `ssmcMpiRingAttention`, which passes the K/V blocks around the ranks
    and folds each into the rows that see it with the online softmax;
    causal attention without packing or key counts keeps the op on rank 0
    (its rows see its own keys only), which only passes its block on.

    A program the pass cannot distribute -- a sequence argument also used
    by another op, a result that mixes slices, `cu_seqlens` with a per-key
    or non-f32 gate, an op
    without a distributed form, `reverse` with `cu_seqlens` -- is an error
    naming it.

    With `functions=f,g`, only those functions are rewritten, and in place:
    their callers already hand each rank its own slice of every input that
    carries the sequence (a language model's prompt tokens), so the
    signatures stay as they are, every other op runs on the rank's slice
    as it is (it must be position-wise along the sequence, as a model's
    projections, norms and embedding lookups are), and each sequence op is
    rewritten wherever it is, inside loops too (a model's layer loop). An
    op without a distributed form in those functions is an error naming it.

    ```mlir
    %y = ssm.selective_scan %u, %dt, %A, %B, %C h0(%h0) : ...
    // becomes
    %r = call @ssmcMpiRank() : () -> i64
    %y = scf.if (%r == 0) {
      %y0, %S0 = ssm.selective_scan %u, %dt, %A, %B, %C h0(%h0) : ...
      call @ssmcMpiCombineAffine(%zeros, %S0, %unused)     // on buffers
      scf.yield %y0
    } else {
      %y1, %Sloc = ssm.selective_scan %u, %dt, %A, %B, %C : ...
      call @ssmcMpiStepSums(%dt, ...)                      // sum_t dt
      %P = linalg.generic ... exp(A[d,n] * sum_t dt[b,d,t])
      call @ssmcMpiCombineAffine(%P, %Sloc, %Sin)
      %y2 = ssm.selective_scan %u, %dt, %A, %B, %C h0(%Sin) : ...
      scf.yield %y2
    }
    ```
  }];
  let options = [
    ListOption<"functions", "functions", "std::string",
               "Rewrite only these functions, in place (their callers slice "
               "the sequence inputs)">,
    Option<"rescan", "rescan", "bool", /*default=*/"false",
           "Rescan every slice from its incoming state instead of "
           "correcting the zero-state outputs of ssd and linear_attention "
           "(the form before the correction, for measurements)">,
  ];
  let dependentDialects = [
    "::mlir::tensor::TensorDialect", "::mlir::linalg::LinalgDialect",
    "::mlir::arith::ArithDialect", "::mlir::math::MathDialect",
    "::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
    "::mlir::bufferization::BufferizationDialect",
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

def SSMForwardStateCopies : Pass<"ssm-forward-state-copies"> {
  let summary = "Write a kernel's final state straight into the slice its "
                "initial state came from";
  let description = [{
    After bufferization, a recurrent op that updates one layer's slice of a
    state tensor writes its final state to a fresh buffer that
    `tensor.insert_slice` then copies back into the slice its initial state
    was read from. When the stores and the h0 reads lie in loops marked
    `ssm.in_place_final_state` (each task reads each element of h0 before it
    writes the same element of the final state, and never reads it
    afterwards), the fresh buffer is only written (stores, masked stores,
    scatters),
    the copy's target is a view equal to the h0 view the kernel reads, and
    nothing between the kernel and the copy touches that memory, the kernel
    stores into the h0 view and the buffer and the copy go away: a decode
    step reads and writes each state element once.

    ```mlir
    %h0 = memref.subview %S[%i, 0, 0] ...
    %fs = memref.alloc() : memref<...>
    scf.parallel ... { scf.for ... { ... load %h0 ... store %fs ... } {ssm.in_place_final_state} }
    %dst = memref.subview %S[%i, 0, 0] ...
    memref.copy %fs, %dst
    // becomes
    scf.parallel ... { ... load %h0 ... store %h0 ... }
    ```

    Distinct block arguments are taken to be distinct buffers (entries are
    called with one buffer per argument before out-params exist).
  }];
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
      with it along K (plain loads, then one masked step for the K mod
      vector tail), one horizontal sum per result.

    B may be transposed (indexing maps (m, k), (n, k), (m, n): a row-major
    [N, K] weight applied to token-major activations); its rows are packed.
    Row tails repeat the last row (same value stored twice) rather than
    branching.

    A may hold low-precision weights, bf16 or i8 (B and C f32; linalg's
    casts: extf, sitofp), read at their own width and widened to f32 in
    registers, so a decode step reads 2 or 1 bytes per weight. With
    `cpu-features` naming `avx512bf16` and 16 f32 lanes, the decode kernel
    of a bf16 A rounds its column of B to bf16 once and accumulates pairs
    with `x86vector.avx512.dot` (vdpbf16ps); naming `avx512vnni`, the
    decode kernel of an i8 A quantizes its column of B to int8 (scale
    max |b| / 127) and accumulates 64 byte products per
    `llvm.x86.avx512.vpdpbusd.512`. Other matmuls (other maps, other
    element types, strided last dimensions) are left for
    convert-linalg-to-loops.
  }];
  let options = [
    Option<"vectorBits", "vector-bits", "unsigned", /*default=*/"512",
           "Vector register width in bits (f32 lanes = vector-bits / 32)">,
    Option<"panel", "panel", "int64_t", /*default=*/"256",
           "Columns of B per panel (a multiple of two vectors)">,
    Option<"cpuFeatures", "cpu-features", "std::string", /*default=*/"\"\"",
           "Comma-separated x86 features the kernels may use beyond the "
           "vector width (avx512bf16: vdpbf16ps for bf16 weights; "
           "avx512vnni: vpdpbusd for i8 weights)">,
    Option<"prefetchBytes", "prefetch-bytes", "int64_t", /*default=*/"0",
           "Decode kernels: prefetch each row of A this many bytes ahead "
           "of the step being read (0: none)">,
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::memref::MemRefDialect",
    "::mlir::x86vector::X86VectorDialect",
  ];
}

#endif // SSMC_TRANSFORMS_PASSES_TD
