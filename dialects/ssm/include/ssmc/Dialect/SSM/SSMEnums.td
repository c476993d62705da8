//===- SSMEnums.td - enumerated attributes of the ssm dialect -------------===//
//
// Choices an op takes from a fixed set, as enum attributes: the parser
// rejects anything else with the list of valid values, and lowerings
// switch over a C++ enum instead of comparing strings.
//
//===----------------------------------------------------------------------===//

#ifndef SSM_ENUMS_TD
#define SSM_ENUMS_TD

include "SSMBase.td"
include "mlir/IR/EnumAttr.td"

def SSM_FeatureMap : I32EnumAttr<"FeatureMap",
    "feature map phi applied to the queries and keys of linear attention", [
      I32EnumAttrCase<"identity", 0>,
      I32EnumAttrCase<"elu_plus_one", 1>,
      I32EnumAttrCase<"relu", 2>]> {
  let cppNamespace = "::mlir::ssm";
  let genSpecializedAttr = 0;
}
// `#ssm.feature_map<relu>`.
def SSM_FeatureMapAttr : EnumAttr<SSM_Dialect, SSM_FeatureMap, "feature_map"> {
  let assemblyFormat = "`<` $value `>`";
}

def SSM_DPOutput : I32EnumAttr<"DPOutput",
    "what an ssm.dp returns: the whole table, its last row or its last cell", [
      I32EnumAttrCase<"table", 0>,
      I32EnumAttrCase<"last_row", 1>,
      I32EnumAttrCase<"last", 2>]> {
  let cppNamespace = "::mlir::ssm";
  let genSpecializedAttr = 0;
}
// `#ssm.dp_output<last>`.
def SSM_DPOutputAttr : EnumAttr<SSM_Dialect, SSM_DPOutput, "dp_output"> {
  let assemblyFormat = "`<` $value `>`";
}

#endif // SSM_ENUMS_TD
