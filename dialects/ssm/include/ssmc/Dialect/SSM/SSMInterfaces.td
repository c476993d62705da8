//===- SSMInterfaces.td - interfaces of the ssm dialect -------------------===//
//
// SequenceOpInterface: what every op that carries recurrent state along a
// sequence (or decodes one step of it) has in common. The analyses and
// lowerings ask it instead of switching over op classes: the accumulator
// type, the shape of the state, and which op is the step (or sequence)
// form of this one.
//
//===----------------------------------------------------------------------===//

#ifndef SSM_INTERFACES_TD
#define SSM_INTERFACES_TD

include "mlir/IR/OpBase.td"

def SSM_SequenceOpInterface : OpInterface<"SequenceOpInterface"> {
  let cppNamespace = "::mlir::ssm";
  let description = [{
    An op that carries recurrent state from one sequence step to the next:
    a sequence op (`ssm.selective_scan`, `ssm.ssd`, `ssm.linear_attention`,
    `ssm.attention`, `ssm.causal_conv1d`) or a decode step of one
    (`ssm.selective_scan_step`, ...). The state of attention is its KV
    cache.
  }];
  let methods = [
    InterfaceMethod<[{
        Element type the recurrent state and every sum accumulate in: f64
        for f64 programs, f32 for f16, bf16 and f32 programs.
      }], "::mlir::Type", "getAccumulatorType">,
    InterfaceMethod<[{
        Shape of the recurrent state carried between steps, for every
        sequence of the batch, with ShapedType::kDynamic for sizes not
        known statically: [B, Dm, N] (selective scan), [B, H, P, N] (ssd),
        [B, H, K, V] (linear attention), [B, Dm, W - 1] (causal conv), and
        the keys and values seen so far, [B, Hkv, Lk, d + dv], for
        attention. With packed sequences B is the number of sequences.
      }], "::llvm::SmallVector<int64_t>", "getStateShape">,
    InterfaceMethod<[{
        True for a single-token decode step.
      }], "bool", "isDecodeStep", (ins), [{}], [{ return false; }]>,
    InterfaceMethod<[{
        Name of the paired op: the decode step of a sequence op, the
        sequence op of a decode step; empty when there is none.
      }], "::llvm::StringRef", "getPairedOpName">,
  ];
}

#endif // SSM_INTERFACES_TD
