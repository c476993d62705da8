//===- LoweringUtils.cpp - run-time shape checks for the CPU lowering -----===//

#include "LoweringUtils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace ssmc::detail {

RuntimeShapeChecks::RuntimeShapeChecks(OpBuilder &b, Location loc,
                                       Operation *op)
    : b(b), loc(loc), op(op) {}

void RuntimeShapeChecks::requireEqual(Value got, Value want,
                                      const std::string &what) {
  std::optional<int64_t> g = getConstantIntValue(got),
                         w = getConstantIntValue(want);
  if (g && w)
    return; // both static: the verifier has checked them
  Value eq = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, got, want);
  require(eq, got, want, what);
}

void RuntimeShapeChecks::require(Value cond, Value got, Value want,
                                 const std::string &what) {
  auto module = op->getParentOfType<ModuleOp>();
  MLIRContext *ctx = b.getContext();

  // Register the message; its index is the check's id.
  std::string msg;
  llvm::raw_string_ostream os(msg);
  os << op->getName() << " at ";
  if (auto fl = dyn_cast<FileLineColLoc>(op->getLoc()))
    os << fl.getFilename().getValue() << ":" << fl.getLine() << ":"
       << fl.getColumn();
  else
    op->getLoc().print(os);
  os << ": " << what;
  SmallVector<Attribute> messages;
  if (auto existing = module->getAttrOfType<ArrayAttr>(kMessagesAttr))
    messages.assign(existing.begin(), existing.end());
  int64_t id = messages.size();
  messages.push_back(StringAttr::get(ctx, msg));
  module->setAttr(kMessagesAttr, ArrayAttr::get(ctx, messages));

  // Declare the error hook once.
  auto i64 = b.getI64Type();
  if (!module.lookupSymbol<func::FuncOp>(kErrorFn)) {
    OpBuilder mb(module.getBodyRegion());
    auto fn = func::FuncOp::create(mb, loc, kErrorFn,
                                   b.getFunctionType({i64, i64, i64}, {}));
    fn.setPrivate();
    fn->setAttr("llvm.emit_c_interface", UnitAttr::get(ctx));
  }

  Value bad = arith::XOrIOp::create(
      b, loc, cond, arith::ConstantIntOp::create(b, loc, 1, 1));
  scf::IfOp::create(b, loc, bad, [&](OpBuilder &tb, Location l) {
    Value idV = arith::ConstantIntOp::create(tb, l, id, 64);
    Value g = arith::IndexCastOp::create(tb, l, i64, got);
    Value w = arith::IndexCastOp::create(tb, l, i64, want);
    func::CallOp::create(tb, l, kErrorFn, TypeRange{}, ValueRange{idV, g, w});
    scf::YieldOp::create(tb, l);
  });
  ok = ok ? arith::AndIOp::create(b, loc, ok, cond).getResult() : cond;
}

Value RuntimeShapeChecks::allOk() {
  if (ok)
    return ok;
  return arith::ConstantIntOp::create(b, loc, 1, 1);
}

} // namespace ssmc::detail
