//===- SSMProtectInputs.cpp - inputs are read-only for bufferization ------===//
//
// A compiled entry must never modify the tensors it is given: callers reuse
// them (decoding loops pass the same weights every token). One-shot
// bufferization assumes function arguments are writable unless marked, so
// every tensor argument of a public function is marked read-only, except
// the ones the program itself marks `bufferization.writable = true` (state
// a decoder updates in place).
//
//===----------------------------------------------------------------------===//

#include "ssmc/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"

#define DEBUG_TYPE "ssm-protect-inputs"

namespace ssmc {
#define GEN_PASS_DEF_SSMPROTECTINPUTS
#include "ssmc/Transforms/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {
struct SSMProtectInputsPass
    : public ssmc::impl::SSMProtectInputsBase<SSMProtectInputsPass> {
  void runOnOperation() override {
    BoolAttr readOnly = BoolAttr::get(&getContext(), false);
    for (auto fn : getOperation().getOps<func::FuncOp>()) {
      if (fn.isPrivate() || fn.isExternal())
        continue;
      for (unsigned i = 0; i < fn.getNumArguments(); ++i) {
        if (!isa<TensorType>(fn.getArgument(i).getType()))
          continue;
        // An explicit `bufferization.writable = true` is the program's
        // opt-in: the caller lends that buffer to be updated in place.
        if (auto w = fn.getArgAttrOfType<BoolAttr>(i, "bufferization.writable");
            w && w.getValue())
          continue;
        fn.setArgAttr(i, "bufferization.writable", readOnly);
      }
    }
  }
};
} // namespace
