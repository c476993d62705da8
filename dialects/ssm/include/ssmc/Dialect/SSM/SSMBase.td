//===- SSMBase.td - ssm dialect definition and shared constraints ---------===//
//
// The ssm dialect: selective scans, state-space duality, linear and softmax
// attention, associative scans and DP recurrences at tensor level with value
// semantics. This file holds the dialect record and the type constraints that
// every op shares.
//
//===----------------------------------------------------------------------===//

#ifndef SSM_BASE_TD
#define SSM_BASE_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"

def SSM_Dialect : Dialect {
  let name = "ssm";
  let cppNamespace = "::mlir::ssm";
  // Canonicalization materialises constants.
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::tensor::TensorDialect"];
  let summary = "Selective-scan, attention and DP-recurrence programs";
  let useDefaultAttributePrinterParser = 1;
  let description = [{
    The `ssm` dialect expresses the sequence mixers of state-space models and
    attention at tensor level: Mamba-1 selective scans, generic associative
    scans with a combiner region, and (as the dialect grows) SSD, linear and
    softmax attention and DP recurrences. Ops take and return ranked tensors
    (value semantics); layouts follow the reference libraries so that weights
    and activations port without transposes.

    Floating-point element types are f16, bf16, f32 and f64. Recurrent state
    is accumulated in f32 for f16/bf16/f32 programs and in f64 for f64
    (reference) programs.
  }];
}

class SSM_Op<string mnemonic, list<Trait> traits = []>
    : Op<SSM_Dialect, mnemonic, traits>;

// Element types the sequence ops compute in.
def SSM_Float : AnyTypeOf<[F16, BF16, F32, F64]>;
def SSM_FloatTensor : RankedTensorOf<[F16, BF16, F32, F64]>;

// Element types a generic scan may carry (DP tables are often integers).
def SSM_ScanElement : AnyTypeOf<[AnySignlessInteger, Index, F16, BF16, F32, F64]>;
def SSM_ScanTensor : RankedTensorOf<[AnySignlessInteger, Index, F16, BF16, F32, F64]>;

#endif // SSM_BASE_TD
