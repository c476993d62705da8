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
  }];
  let options = [
    Option<"seqLen", "seq-len", "int64_t", /*default=*/"-1",
           "Sequence length for totals (default: the op's static length)">,
    Option<"jsonFile", "json", "std::string", /*default=*/"\"\"",
           "Also write the report as JSON to this file ('-' for stdout)">,
    Option<"emitRemarks", "remarks", "bool", /*default=*/"true",
           "Attach the report to each op as a remark">,
  ];
}

#endif // SSMC_PASSES_TD
