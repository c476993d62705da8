//===- LoweringUtils.cpp - run-time shape checks for the CPU lowering -----===//

#include "LoweringUtils.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;

namespace ssmc::detail {

namespace {
Value splat(OpBuilder &b, Location loc, Type type, double v) {
  auto vt = cast<VectorType>(type);
  return arith::ConstantOp::create(
      b, loc, vt,
      DenseElementsAttr::get(vt, b.getFloatAttr(vt.getElementType(), v)));
}
} // namespace

Value emitExp2(OpBuilder &b, Location loc, Value x, const ExpLowering &how) {
  auto vt = cast<VectorType>(x.getType());
  Value k = math::RoundEvenOp::create(b, loc, x);
  Value f = arith::SubFOp::create(b, loc, x, k);
  // Least-squares fit of 2^f on [-1/2, 1/2] with p(0) = 1.
  static const double c[] = {0.6931468844413757, 0.24022237956523895,
                             0.05550893023610115, 0.009671698324382305,
                             0.0013218672247603536};
  Value p = splat(b, loc, vt, c[4]);
  for (int i = 3; i >= 0; --i)
    p = math::FmaOp::create(b, loc, p, f, splat(b, loc, vt, c[i]));
  p = math::FmaOp::create(b, loc, p, f, splat(b, loc, vt, 1.0));

  if (how.avx512 && vt.getNumElements() == 16 && vt.getElementType().isF32()) {
    // vscalefps(a, b) = a * 2^floor(b); the op hands its operands to the
    // intrinsic in order (a, b, passthrough), hence (p, k, p).
    Value allLanes = arith::ConstantIntOp::create(b, loc, -1, 16);
    Value currentRounding = arith::ConstantIntOp::create(b, loc, 4, 32);
    return x86vector::MaskScaleFOp::create(b, loc, vt, p, k, p, allLanes,
                                           currentRounding);
  }
  // 2^k from exponent bits, k clamped to the normal range; beyond it the
  // result saturates to 0 or +inf.
  auto i32 = VectorType::get(vt.getShape(), b.getI32Type());
  Value kc = arith::MaximumFOp::create(b, loc, k, splat(b, loc, vt, -126.0));
  kc = arith::MinimumFOp::create(b, loc, kc, splat(b, loc, vt, 127.0));
  Value ki = arith::FPToSIOp::create(b, loc, i32, kc);
  auto bias = arith::ConstantOp::create(
      b, loc, i32, DenseElementsAttr::get(i32, b.getI32IntegerAttr(127)));
  auto shift = arith::ConstantOp::create(
      b, loc, i32, DenseElementsAttr::get(i32, b.getI32IntegerAttr(23)));
  Value bits = arith::ShLIOp::create(
      b, loc, arith::AddIOp::create(b, loc, ki, bias), shift);
  Value scale = arith::BitcastOp::create(b, loc, vt, bits);
  Value r = arith::MulFOp::create(b, loc, p, scale);
  Value under = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, x,
                                      splat(b, loc, vt, -126.0));
  r = arith::SelectOp::create(b, loc, under, splat(b, loc, vt, 0.0), r);
  Value over = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x,
                                     splat(b, loc, vt, 128.0));
  return arith::SelectOp::create(b, loc, over,
                                 splat(b, loc, vt, INFINITY), r);
}

Value emitExp(OpBuilder &b, Location loc, Value x, const ExpLowering &how) {
  auto vt = dyn_cast<VectorType>(x.getType());
  if (!how.fast || !vt || !vt.getElementType().isF32())
    return math::ExpOp::create(b, loc, x);
  Value scaled = arith::MulFOp::create(b, loc, x, splat(b, loc, vt, M_LOG2E));
  return emitExp2(b, loc, scaled, how);
}

Value emitSoftplus(OpBuilder &b, Location loc, Value x, const ExpLowering &how) {
  auto vt = dyn_cast<VectorType>(x.getType());
  Type elt = getElementTypeOrSelf(x.getType());
  auto cst = [&](double v) -> Value {
    if (vt)
      return splat(b, loc, vt, v);
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(elt, v));
  };
  if (!how.fast || !vt || !elt.isF32()) {
    Value sp = math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, x));
    Value big =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, cst(20.0));
    return arith::SelectOp::create(b, loc, big, x, sp);
  }
  Value e = emitExp(b, loc, arith::NegFOp::create(b, loc, math::AbsFOp::create(b, loc, x)),
                    how);
  // log1p(e) = e g(e): g interpolates log1p(e)/e at the 9 Chebyshev nodes
  // of [0, 1] (max relative error 3.4e-8; no division, no cancellation for
  // tiny e).
  static const double g[] = {0.9999999659255097,   -0.49999444976340807,
                             0.333181217075448,    -0.24835398988585736,
                             0.19076880735962676,  -0.13602247622848157,
                             0.07751608674395996,  -0.029074064679343068,
                             0.00512610214135673};
  Value q = cst(g[8]);
  for (int k = 7; k >= 0; --k)
    q = math::FmaOp::create(b, loc, q, e, cst(g[k]));
  Value l = arith::MulFOp::create(b, loc, q, e);
  return arith::AddFOp::create(b, loc, arith::MaximumFOp::create(b, loc, x, cst(0.0)),
                               l);
}

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

void checkOperandDims(RuntimeShapeChecks &checks, OpBuilder &b, Location loc,
                      Value mem, StringRef name, ArrayRef<NamedDim> dims) {
  if (!mem)
    return;
  for (auto [i, d] : llvm::enumerate(dims))
    if (d.size) // a null size is the dimension's own source
      checks.requireEqual(dimOf(b, loc, mem, i), d.size,
                        ("dimension " + Twine(i) + " (" + d.symbol + ") of '" +
                         name + "' must equal " + d.source)
                            .str());
}

void checkResultDims(RuntimeShapeChecks &checks, OpBuilder &b, Location loc,
                     RankedTensorType t, StringRef name,
                     ArrayRef<NamedDim> dims) {
  for (auto [i, d] : llvm::enumerate(dims))
    if (!t.isDynamicDim(i))
      checks.requireEqual(
          arith::ConstantIndexOp::create(b, loc, t.getDimSize(i)), d.size,
          ("dimension " + Twine(i) + " (" + d.symbol + ") of result '" + name +
           "' must equal " + d.source)
              .str());
}

Value packedOffset(OpBuilder &b, Location loc, Value cuSeqlens, Value i) {
  Value raw = memref::LoadOp::create(b, loc, cuSeqlens, ValueRange{i});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), raw);
}

void checkPackedOffsets(RuntimeShapeChecks &checks, OpBuilder &b, Location loc,
                        Value cu, Value sequences, Value len, StringRef name,
                        StringRef lenName) {
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value okFirst = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                        packedOffset(b, loc, cu, c0), c0);
  auto walk = scf::ForOp::create(
      b, loc, c0, sequences, c1, ValueRange{okFirst},
      [&](OpBuilder &b, Location loc, Value i, ValueRange okIn) {
        Value lo = packedOffset(b, loc, cu, i);
        Value hi = packedOffset(b, loc, cu, arith::AddIOp::create(b, loc, i, c1));
        Value ordered =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, lo, hi);
        Value inRange =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, hi, len);
        Value ok = arith::AndIOp::create(
            b, loc, okIn[0], arith::AndIOp::create(b, loc, ordered, inRange));
        scf::YieldOp::create(b, loc, ok);
      });
  Value last = packedOffset(b, loc, cu, sequences);
  Value okLast =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, last, len);
  checks.require(arith::AndIOp::create(b, loc, walk.getResult(0), okLast), last,
                 len,
                 ("'" + name + "' must start at 0, never decrease and end at " +
                  lenName + " (reported: its last offset)")
                     .str());
}

namespace {
/// The first step after `begin` whose seq_idx differs from step begin's in
/// row `row` (len when none does, or when begin >= len).
Value segmentEnd(OpBuilder &b, Location loc, Value seqIdx, Value row,
                 Value begin, Value len) {
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  Value inside =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, begin, len);
  auto found = scf::IfOp::create(
      b, loc, inside,
      [&](OpBuilder &b, Location loc) {
        Value id =
            memref::LoadOp::create(b, loc, seqIdx, ValueRange{row, begin});
        Value last = arith::SubIOp::create(b, loc, len, c1);
        Value from = arith::AddIOp::create(b, loc, begin, c1);
        auto walk = scf::WhileOp::create(
            b, loc, TypeRange{b.getIndexType()}, ValueRange{from},
            [&](OpBuilder &b, Location loc, ValueRange args) {
              Value t = args[0];
              // Clamped so that the load stays inside the row.
              Value at = arith::MinUIOp::create(b, loc, t, last);
              Value same = arith::CmpIOp::create(
                  b, loc, arith::CmpIPredicate::eq,
                  memref::LoadOp::create(b, loc, seqIdx, ValueRange{row, at}),
                  id);
              Value go = arith::AndIOp::create(
                  b, loc,
                  arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, t,
                                        len),
                  same);
              scf::ConditionOp::create(b, loc, go, args);
            },
            [&](OpBuilder &b, Location loc, ValueRange args) {
              scf::YieldOp::create(
                  b, loc,
                  ValueRange{arith::AddIOp::create(b, loc, args[0], c1)});
            });
        scf::YieldOp::create(b, loc, walk.getResults());
      },
      [&](OpBuilder &b, Location loc) {
        scf::YieldOp::create(b, loc, ValueRange{len});
      });
  return found.getResult(0);
}
} // namespace

void forEachSegment(
    OpBuilder &b, Location loc, Value seqIdx, Value row, Value len,
    llvm::function_ref<void(OpBuilder &, Location, Value, Value, Value, Value)>
        body) {
  Value c0 = arith::ConstantIndexOp::create(b, loc, 0);
  Value yes = arith::ConstantIntOp::create(b, loc, 1, 1);
  Value no = arith::ConstantIntOp::create(b, loc, 0, 1);
  // Iterates while (first || begin < len): at least one segment.
  scf::WhileOp::create(
      b, loc, TypeRange{b.getIndexType(), b.getI1Type()}, ValueRange{c0, yes},
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value more = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult,
                                           args[0], len);
        scf::ConditionOp::create(
            b, loc, arith::OrIOp::create(b, loc, args[1], more), args);
      },
      [&](OpBuilder &b, Location loc, ValueRange args) {
        Value begin = args[0];
        Value end = segmentEnd(b, loc, seqIdx, row, begin, len);
        // The loops inside allocate stack buffers: free them per segment.
        // The scope sits in a region that may hold several blocks (the
        // while body may not), kept as such by `no_inline`: lowering the
        // scope (finalize-memref-to-llvm, before convert-scf-to-cf) splits
        // the block around it.
        auto region =
            scf::ExecuteRegionOp::create(b, loc, TypeRange{}, b.getUnitAttr());
        OpBuilder::InsertionGuard outer(b);
        b.setInsertionPointToStart(&region.getRegion().emplaceBlock());
        auto scope = memref::AllocaScopeOp::create(b, loc, TypeRange{});
        scf::YieldOp::create(b, loc);
        {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(&scope.getBodyRegion().emplaceBlock());
          Value starts = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                               begin, c0);
          Value ends = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                             end, len);
          body(b, loc, begin, end, starts, ends);
          memref::AllocaScopeReturnOp::create(b, loc, ValueRange{});
        }
        b.setInsertionPointAfter(region);
        scf::YieldOp::create(b, loc, ValueRange{end, no});
      });
}

Value RuntimeShapeChecks::allOk() {
  if (ok)
    return ok;
  return arith::ConstantIntOp::create(b, loc, 1, 1);
}

} // namespace ssmc::detail
