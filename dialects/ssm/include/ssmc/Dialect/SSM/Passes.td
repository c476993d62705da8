//===- Passes.td - ssmc passes: rewrites of ssm programs into ssm progra ---===//
//
// The rewrites of ssm programs into ssm programs and the report over them (dialects/ssm/Transforms).
//
//===----------------------------------------------------------------------===//

#ifndef SSM_DIALECT_PASSES_TD
#define SSM_DIALECT_PASSES_TD

include "mlir/Pass/PassBase.td"

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

#endif // SSM_DIALECT_PASSES_TD
