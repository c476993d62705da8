//===- SSMOps.cpp - ssm dialect op verifiers and helpers ------------------===//
//
// Verifiers for the ssm ops. Every message names the operand it is about and
// the shape or type that was expected, so a user can fix a program from the
// diagnostic alone.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>

using namespace mlir;
using namespace mlir::ssm;

namespace {

constexpr int64_t kDyn = ShapedType::kDynamic;

std::string formatDim(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

std::string formatShape(ArrayRef<int64_t> shape) {
  std::string s = "[";
  llvm::raw_string_ostream os(s);
  llvm::interleaveComma(shape, os, [&](int64_t d) { os << formatDim(d); });
  os << "]";
  return s;
}

/// Named dimensions of an op (B, Dm, L, N, G, ...) that operands must agree
/// on. Each symbol starts unknown and is bound by the first operand that
/// gives it a static size; later operands are checked against that binding,
/// so two dynamic-looking operands that disagree statically are caught too.
class DimEnv {
public:
  explicit DimEnv(Operation *op) : op(op) {}

  /// Checks that `type` has rank `symbols.size()` and that each static size
  /// agrees with the symbol bound so far; binds unknown symbols.
  LogicalResult check(StringRef name, ShapedType type,
                      ArrayRef<StringRef> symbols) {
    if (type.getRank() != static_cast<int64_t>(symbols.size()))
      return op->emitOpError() << "operand '" << name << "' must have rank "
                               << symbols.size() << " " << layout(symbols)
                               << ", got rank " << type.getRank();
    SmallVector<int64_t> expected;
    for (StringRef sym : symbols)
      expected.push_back(lookup(sym));
    for (auto [i, sym] : llvm::enumerate(symbols)) {
      int64_t got = type.getDimSize(i);
      int64_t want = expected[i];
      if (!ShapedType::isDynamic(got) && !ShapedType::isDynamic(want) &&
          got != want)
        return op->emitOpError()
               << "operand '" << name << "' must have shape "
               << layout(symbols) << " = " << formatShape(expected)
               << ", got " << formatShape(type.getShape()) << " (" << sym
               << " = " << want << " from '" << sources[sym] << "')";
    }
    for (auto [i, sym] : llvm::enumerate(symbols))
      bind(sym, type.getDimSize(i), name);
    return success();
  }

  int64_t lookup(StringRef sym) const {
    auto it = sizes.find(sym);
    return it == sizes.end() ? kDyn : it->second;
  }

private:
  void bind(StringRef sym, int64_t size, StringRef from) {
    if (ShapedType::isDynamic(size) || !ShapedType::isDynamic(lookup(sym)))
      return;
    sizes[sym] = size;
    sources[sym] = from.str();
  }

  static std::string layout(ArrayRef<StringRef> symbols) {
    std::string s = "[";
    llvm::raw_string_ostream os(s);
    llvm::interleaveComma(symbols, os);
    os << "]";
    return s;
  }

  Operation *op;
  llvm::StringMap<int64_t> sizes;
  llvm::StringMap<std::string> sources;
};

/// Checks the cu_seqlens operand of a packed batch (when present) and returns
/// the symbol the first dimension of the states binds: "B" (one state per
/// batch entry), or "S" (one per packed sequence).
FailureOr<StringRef> checkPackedSequences(Operation *op, DimEnv &env,
                                          Value cu) {
  if (!cu)
    return StringRef("B");
  auto t = cast<ShapedType>(cu.getType());
  if (t.getRank() != 1)
    return op->emitOpError() << "operand 'cu_seqlens' must have rank 1 "
                                "[S + 1], got rank "
                             << t.getRank();
  if (!t.isDynamicDim(0) && t.getDimSize(0) < 2)
    return op->emitOpError() << "operand 'cu_seqlens' must hold at least 2 "
                                "offsets (one sequence), got "
                             << t.getDimSize(0);
  int64_t batch = env.lookup("B");
  if (!ShapedType::isDynamic(batch) && batch != 1)
    return op->emitOpError() << "with 'cu_seqlens' the sequences are packed "
                                "along L and the batch size must be 1, got "
                             << batch;
  return StringRef("S");
}

/// Checks the seq_idx operand (when present): rank 2 [B, L], and not
/// together with cu_seqlens (two packings of the same batch).
LogicalResult checkSequenceIndex(Operation *op, DimEnv &env, Value seqIdx,
                                 Value cu) {
  if (!seqIdx)
    return success();
  if (cu)
    return op->emitOpError() << "takes either 'cu_seqlens' (sequences packed "
                                "into one batch entry) or 'seq_idx' (packed "
                                "per batch row), not both";
  auto t = cast<ShapedType>(seqIdx.getType());
  if (t.getRank() != 2)
    return op->emitOpError() << "operand 'seq_idx' must have rank 2 [B, L], "
                                "got rank "
                             << t.getRank();
  return env.check("seq_idx", t, {"B", "L"});
}

/// Once the states are checked: S must be the offset count minus one.
LogicalResult checkSequenceCount(Operation *op, DimEnv &env, Value cu) {
  if (!cu)
    return success();
  int64_t offsets = cast<ShapedType>(cu.getType()).getDimSize(0);
  int64_t sequences = env.lookup("S");
  if (!ShapedType::isDynamic(offsets) && !ShapedType::isDynamic(sequences) &&
      sequences != offsets - 1)
    return op->emitOpError() << "'cu_seqlens' has " << offsets
                             << " offsets, so the states must hold "
                             << offsets - 1 << " sequences, got " << sequences;
  return success();
}

/// G (the group count of B/C) must be positive and divide `total`, which is
/// named `totalName` ("channel count Dm", "head count H") in the message.
LogicalResult checkGroupCount(Operation *op, DimEnv &env,
                              StringRef totalSymbol, StringRef totalName) {
  int64_t groups = env.lookup("G"), total = env.lookup(totalSymbol);
  if (ShapedType::isDynamic(groups))
    return success();
  if (groups <= 0)
    return op->emitOpError()
           << "the group count G of 'B'/'C' must be positive, got " << groups;
  if (!ShapedType::isDynamic(total) && total % groups != 0)
    return op->emitOpError() << "the " << totalName << " = " << total
                             << " must be divisible by the group count G = "
                             << groups << " of 'B'/'C'";
  return success();
}

/// Hkv must be positive and divide H (grouped-query attention).
LogicalResult checkKVHeads(Operation *op, DimEnv &env) {
  int64_t heads = env.lookup("H"), kvHeads = env.lookup("Hkv");
  if (!ShapedType::isDynamic(kvHeads) && kvHeads == 0)
    return op->emitOpError() << "the key/value head count Hkv must be positive";
  if (!ShapedType::isDynamic(heads) && !ShapedType::isDynamic(kvHeads) &&
      heads % kvHeads != 0)
    return op->emitOpError()
           << "the query head count H = " << heads
           << " must be a multiple of the key/value head count Hkv = "
           << kvHeads;
  return success();
}

/// An optional scale must be finite.
LogicalResult checkScale(Operation *op, FloatAttr scale) {
  if (scale && !std::isfinite(scale.getValueAsDouble()))
    return op->emitOpError() << "scale must be finite, got "
                             << scale.getValueAsDouble();
  return success();
}

/// An optional dt_limit holds two values lo <= hi (hi may be +inf); neither
/// is NaN.
LogicalResult checkDtLimit(Operation *op, std::optional<ArrayRef<double>> limit) {
  if (!limit)
    return success();
  if (limit->size() != 2)
    return op->emitOpError() << "'dt_limit' must hold two values [lo, hi], got "
                             << limit->size();
  double lo = (*limit)[0], hi = (*limit)[1];
  if (std::isnan(lo) || std::isnan(hi) || lo > hi)
    return op->emitOpError() << "'dt_limit' must satisfy lo <= hi, got [" << lo
                             << ", " << hi << "]";
  return success();
}

/// Mamba-2's D: one skip weight per head [H] or per head and channel [H, P].
LogicalResult checkHeadSkip(Operation *op, DimEnv &env, Value d) {
  if (!d)
    return success();
  auto t = cast<ShapedType>(d.getType());
  if (t.getRank() == 2)
    return env.check("D", t, {"H", "P"});
  if (t.getRank() != 1)
    return op->emitOpError() << "operand 'D' must have rank 1 [H] or rank 2 "
                                "[H, P], got rank "
                             << t.getRank();
  return env.check("D", t, {"H"});
}

/// The normaliser's epsilon must be finite and non-negative.
LogicalResult checkEps(Operation *op, FloatAttr eps) {
  double e = eps.getValueAsDouble();
  if (!std::isfinite(e) || e < 0)
    return op->emitOpError() << "eps must be finite and non-negative, got "
                             << e;
  return success();
}

Type accumulatorTypeFor(Type elementType) {
  if (elementType.isF64())
    return elementType;
  return Float32Type::get(elementType.getContext());
}

} // namespace

//===----------------------------------------------------------------------===//
// SelectiveScanOp
//===----------------------------------------------------------------------===//

Type SelectiveScanOp::getAccumulatorType() {
  return accumulatorTypeFor(getU().getType().getElementType());
}

int64_t SelectiveScanOp::getBatchSize() { return getU().getType().getDimSize(0); }
int64_t SelectiveScanOp::getChannels() { return getU().getType().getDimSize(1); }
int64_t SelectiveScanOp::getSeqLen() { return getU().getType().getDimSize(2); }
int64_t SelectiveScanOp::getStateSize() { return getA().getType().getDimSize(1); }

LogicalResult SelectiveScanOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };

  // Shapes. u fixes B, Dm and L; A fixes N; grouped B/C fix G.
  if (failed(env.check("u", shaped(getU()), {"B", "Dm", "L"})) ||
      failed(env.check("delta", shaped(getDelta()), {"B", "Dm", "L"})) ||
      failed(env.check("A", shaped(getA()), {"Dm", "N"})))
    return failure();
  for (auto [name, value] :
       {std::pair<StringRef, Value>{"B", getB()}, {"C", getC()}}) {
    ShapedType t = shaped(value);
    if (t.getRank() < 2 || t.getRank() > 4)
      return emitOpError() << "operand '" << name
                           << "' must have rank 3 [B, N, L], rank 4 "
                              "[B, G, N, L] or rank 2 [Dm, N] (fixed over "
                              "time), got rank "
                           << t.getRank();
    static constexpr StringRef layout2[] = {"Dm", "N"};
    static constexpr StringRef layout3[] = {"B", "N", "L"};
    static constexpr StringRef layout4[] = {"B", "G", "N", "L"};
    ArrayRef<StringRef> layout = t.getRank() == 2   ? ArrayRef<StringRef>(layout2)
                                 : t.getRank() == 3 ? ArrayRef<StringRef>(layout3)
                                                    : ArrayRef<StringRef>(layout4);
    if (failed(env.check(name, t, layout)))
      return failure();
  }
  if (getD() && failed(env.check("D", shaped(getD()), {"Dm"})))
    return failure();
  if (getZ() && failed(env.check("z", shaped(getZ()), {"B", "Dm", "L"})))
    return failure();
  if (getDeltaBias() &&
      failed(env.check("delta_bias", shaped(getDeltaBias()), {"Dm"})))
    return failure();
  if (failed(env.check("out", shaped(getOut()), {"B", "Dm", "L"})))
    return failure();
  if (failed(checkSequenceIndex(getOperation(), env, getSeqIdx(),
                                getCuSeqlens())))
    return failure();
  // States are per batch entry, or per packed sequence with cu_seqlens.
  FailureOr<StringRef> stateBatchOr =
      checkPackedSequences(getOperation(), env, getCuSeqlens());
  if (failed(stateBatchOr))
    return failure();
  StringRef stateBatch = *stateBatchOr;
  if ((getH0() &&
       failed(env.check("h0", shaped(getH0()), {stateBatch, "Dm", "N"}))) ||
      (getFinalState() &&
       failed(env.check("final_state", shaped(getFinalState()),
                        {stateBatch, "Dm", "N"}))))
    return failure();
  if (failed(checkSequenceCount(getOperation(), env, getCuSeqlens())))
    return failure();

  if (failed(checkGroupCount(getOperation(), env, "Dm", "channel count Dm")))
    return failure();

  // Element types.
  Type elt = getU().getType().getElementType();
  Type acc = getAccumulatorType();
  auto checkSame = [&](StringRef name, Value v) -> LogicalResult {
    if (!v)
      return success();
    Type got = getElementTypeOrSelf(v.getType());
    if (got != elt)
      return emitOpError() << "operand '" << name << "' must have element type "
                           << elt << " (the element type of 'u'), got " << got;
    return success();
  };
  auto checkParam = [&](StringRef name, Value v) -> LogicalResult {
    if (!v)
      return success();
    Type got = getElementTypeOrSelf(v.getType());
    if (got != elt && got != acc)
      return emitOpError() << "operand '" << name << "' must have element type "
                           << elt << " or the accumulator type " << acc
                           << ", got " << got;
    return success();
  };
  auto checkAcc = [&](StringRef name, Value v) -> LogicalResult {
    if (!v)
      return success();
    Type got = getElementTypeOrSelf(v.getType());
    if (got != acc)
      return emitOpError() << "'" << name
                           << "' must have the accumulator element type "
                           << acc << " for inputs of type " << elt << ", got "
                           << got;
    return success();
  };
  if (failed(checkParam("delta", getDelta())) ||
      failed(checkSame("B", getB())) || failed(checkSame("C", getC())) ||
      failed(checkSame("z", getZ())) || failed(checkParam("A", getA())) ||
      failed(checkParam("D", getD())) ||
      failed(checkParam("delta_bias", getDeltaBias())) ||
      failed(checkAcc("h0", getH0())) ||
      failed(checkAcc("final_state", getFinalState())))
    return failure();
  Type outElt = getElementTypeOrSelf(getOut().getType());
  if (outElt != elt)
    return emitOpError() << "result 'out' must have element type " << elt
                         << " (the element type of 'u'), got " << outElt;
  return success();
}

//===----------------------------------------------------------------------===//
// SSDOp
//===----------------------------------------------------------------------===//

Type SSDOp::getAccumulatorType() {
  return accumulatorTypeFor(getX().getType().getElementType());
}

LogicalResult SSDOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("x", shaped(getX()), {"B", "L", "H", "P"})) ||
      failed(env.check("dt", shaped(getDt()), {"B", "L", "H"})) ||
      failed(env.check("A", shaped(getA()), {"H"})) ||
      failed(env.check("B", shaped(getB()), {"B", "L", "G", "N"})) ||
      failed(env.check("C", shaped(getC()), {"B", "L", "G", "N"})) ||
      failed(checkHeadSkip(getOperation(), env, getD())) ||
      (getZ() && failed(env.check("z", shaped(getZ()), {"B", "L", "H", "P"}))) ||
      (getDtBias() && failed(env.check("dt_bias", shaped(getDtBias()), {"H"}))) ||
      failed(env.check("out", shaped(getOut()), {"B", "L", "H", "P"})) ||
      failed(checkSequenceIndex(getOperation(), env, getSeqIdx(),
                                getCuSeqlens())))
    return failure();
  // States are per batch entry, or per packed sequence with cu_seqlens.
  FailureOr<StringRef> stateBatchOr =
      checkPackedSequences(getOperation(), env, getCuSeqlens());
  if (failed(stateBatchOr))
    return failure();
  StringRef stateBatch = *stateBatchOr;
  if ((getH0() && failed(env.check("h0", shaped(getH0()),
                                   {stateBatch, "H", "P", "N"}))) ||
      (getFinalState() &&
       failed(env.check("final_state", shaped(getFinalState()),
                        {stateBatch, "H", "P", "N"}))))
    return failure();
  if (failed(checkSequenceCount(getOperation(), env, getCuSeqlens())))
    return failure();
  if (failed(checkGroupCount(getOperation(), env, "H", "head count H")))
    return failure();
  Type elt = getX().getType().getElementType();
  Type acc = getAccumulatorType();
  if (failed(checkDtLimit(getOperation(), getDtLimit())))
    return failure();
  for (auto [name, v] : {std::pair<StringRef, Value>{"B", getB()},
                         {"C", getC()}, {"z", getZ()}, {"out", getOut()}})
    if (v && getElementTypeOrSelf(v.getType()) != elt)
      return emitOpError() << "'" << name << "' must have element type " << elt
                           << " (the element type of 'x'), got "
                           << getElementTypeOrSelf(v.getType());
  for (auto [name, v] : {std::pair<StringRef, Value>{"dt", getDt()}, {"A", getA()},
                         {"D", getD()}, {"dt_bias", getDtBias()}})
    if (v && getElementTypeOrSelf(v.getType()) != elt &&
        getElementTypeOrSelf(v.getType()) != acc)
      return emitOpError() << "operand '" << name << "' must have element type "
                           << elt << " or the accumulator type " << acc
                           << ", got " << getElementTypeOrSelf(v.getType());
  for (auto [name, v] : {std::pair<StringRef, Value>{"h0", getH0()},
                         {"final_state", getFinalState()}})
    if (v && getElementTypeOrSelf(v.getType()) != acc)
      return emitOpError() << "'" << name
                           << "' must have the accumulator element type " << acc
                           << " for inputs of type " << elt << ", got "
                           << getElementTypeOrSelf(v.getType());
  return success();
}

//===----------------------------------------------------------------------===//
// LinearAttentionOp
//===----------------------------------------------------------------------===//

Type LinearAttentionOp::getAccumulatorType() {
  return accumulatorTypeFor(getQ().getType().getElementType());
}

std::optional<double> LinearAttentionOp::getEffectiveScale() {
  if (auto s = getScaleAttr())
    return s.getValueAsDouble();
  int64_t keyDim = getQ().getType().getDimSize(3);
  if (ShapedType::isDynamic(keyDim) || keyDim == 0)
    return std::nullopt;
  return 1.0 / std::sqrt(static_cast<double>(keyDim));
}

ParseResult LinearAttentionOp::parse(OpAsmParser &parser,
                                     OperationState &result) {
  SmallVector<OpAsmParser::UnresolvedOperand> operands(3);
  if (parser.parseOperand(operands[0]) || parser.parseComma() ||
      parser.parseOperand(operands[1]) || parser.parseComma() ||
      parser.parseOperand(operands[2]))
    return failure();
  auto &props = result.getOrAddProperties<Properties>();
  props.operandSegmentSizes = {1, 1, 1, 0, 0, 0, 0};
  // The optional operands, each `keyword(%value)`, in their order. (A named
  // array: the one behind a braced list in the range expression dies before
  // the loop body runs.)
  static const StringRef keywords[] = {"gate", "h0", "z0", "cu_seqlens"};
  for (auto [i, keyword] : llvm::enumerate(keywords)) {
    if (failed(parser.parseOptionalKeyword(keyword)))
      continue;
    operands.emplace_back();
    if (parser.parseLParen() || parser.parseOperand(operands.back()) ||
        parser.parseRParen())
      return failure();
    props.operandSegmentSizes[3 + i] = 1;
  }
  if (succeeded(parser.parseOptionalKeyword("normalize")))
    props.normalize = parser.getBuilder().getUnitAttr();
  if (succeeded(parser.parseOptionalKeyword("reverse")))
    props.reverse = parser.getBuilder().getUnitAttr();
  SMLoc attrLoc = parser.getCurrentLocation();
  if (parser.parseOptionalAttrDict(result.attributes) ||
      failed(verifyInherentAttrs(result.name, result.attributes, [&]() {
        return parser.emitError(attrLoc)
               << "'" << result.name.getStringRef() << "' op ";
      })))
    return failure();
  FunctionType type;
  SMLoc typeLoc = parser.getCurrentLocation();
  if (parser.parseColon() || parser.parseType(type))
    return failure();
  // out, then final_state (rank 4) and final_z (rank 3), in that order.
  ArrayRef<Type> results = type.getResults();
  if (results.empty() || results.size() > 3)
    return parser.emitError(typeLoc)
           << "expected 1 to 3 results (out, final_state, final_z), got "
           << results.size();
  props.resultSegmentSizes = {1, 0, 0};
  int last = 0;
  for (Type t : results.drop_front()) {
    auto ranked = dyn_cast<RankedTensorType>(t);
    int slot = ranked && ranked.getRank() == 4   ? 1
               : ranked && ranked.getRank() == 3 ? 2
                                                 : 0;
    if (slot <= last)
      return parser.emitError(typeLoc)
             << "the results after 'out' are 'final_state' (rank 4) then "
                "'final_z' (rank 3), each at most once; got "
             << t;
    props.resultSegmentSizes[slot] = 1;
    last = slot;
  }
  result.addTypes(results);
  return parser.resolveOperands(operands, type.getInputs(),
                                parser.getNameLoc(), result.operands);
}

void LinearAttentionOp::print(OpAsmPrinter &p) {
  p << ' ' << getQ() << ", " << getK() << ", " << getV();
  for (auto [keyword, v] :
       {std::pair<StringRef, Value>{"gate", getGate()},
        {"h0", getH0()},
        {"z0", getZ0()},
        {"cu_seqlens", getCuSeqlens()}})
    if (v)
      p << ' ' << keyword << '(' << v << ')';
  if (getNormalize())
    p << " normalize";
  if (getReverse())
    p << " reverse";
  SmallVector<StringRef> elided = {"operandSegmentSizes", "resultSegmentSizes",
                                   "normalize", "reverse"};
  if (getFeatureMap() == FeatureMap::identity)
    elided.push_back("feature_map");
  if (getEpsAttr().getValueAsDouble() == 1e-10)
    elided.push_back("eps");
  p.printOptionalAttrDict((*this)->getAttrs(), elided);
  p << " : ";
  p.printFunctionalType(getOperation()->getOperandTypes(),
                        getOperation()->getResultTypes());
}

LogicalResult LinearAttentionOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("q", shaped(getQ()), {"B", "H", "L", "K"})) ||
      failed(env.check("k", shaped(getK()), {"B", "H", "L", "K"})) ||
      failed(env.check("v", shaped(getV()), {"B", "H", "L", "V"})))
    return failure();
  if (Value g = getGate()) {
    ShapedType t = shaped(g);
    if (t.getRank() != 3 && t.getRank() != 4)
      return emitOpError() << "operand 'gate' must have rank 3 [B, H, L] (one "
                              "decay per step) or rank 4 [B, H, L, K] (one per "
                              "key dimension), got rank "
                           << t.getRank();
    static constexpr StringRef perStep[] = {"B", "H", "L"};
    static constexpr StringRef perKey[] = {"B", "H", "L", "K"};
    if (failed(env.check("gate", t,
                         t.getRank() == 3 ? ArrayRef<StringRef>(perStep)
                                          : ArrayRef<StringRef>(perKey))))
      return failure();
  }
  // States are per batch entry, or per packed sequence with cu_seqlens.
  FailureOr<StringRef> stateBatchOr =
      checkPackedSequences(getOperation(), env, getCuSeqlens());
  if (failed(stateBatchOr))
    return failure();
  StringRef stateBatch = *stateBatchOr;
  auto stateLayout = [&]() {
    return SmallVector<StringRef>{stateBatch, "H", "K", "V"};
  };
  if (getH0() && failed(env.check("h0", shaped(getH0()), stateLayout())))
    return failure();
  if (getZ0() &&
      failed(env.check("z0", shaped(getZ0()), {stateBatch, "H", "K"})))
    return failure();
  if (failed(env.check("out", shaped(getOut()), {"B", "H", "L", "V"})))
    return failure();
  if (getFinalState() &&
      failed(env.check("final_state", shaped(getFinalState()), stateLayout())))
    return failure();
  if (getFinalZ() &&
      failed(env.check("final_z", shaped(getFinalZ()), {stateBatch, "H", "K"})))
    return failure();
  if (!getNormalize() && (getZ0() || getFinalZ()))
    return emitOpError() << "'" << (getZ0() ? "z0" : "final_z")
                         << "' is the normaliser's state and needs 'normalize'";
  if (failed(checkEps(getOperation(), getEpsAttr())))
    return failure();
  if (failed(checkSequenceCount(getOperation(), env, getCuSeqlens())))
    return failure();

  Type elt = getQ().getType().getElementType();
  Type acc = getAccumulatorType();
  for (auto [name, v] : {std::pair<StringRef, Value>{"k", getK()}, {"v", getV()}})
    if (getElementTypeOrSelf(v.getType()) != elt)
      return emitOpError() << "operand '" << name << "' must have element type "
                           << elt << " (the element type of 'q'), got "
                           << getElementTypeOrSelf(v.getType());
  if (Value g = getGate()) {
    Type got = getElementTypeOrSelf(g.getType());
    if (got != elt && got != acc)
      return emitOpError() << "operand 'gate' must have element type " << elt
                           << " or the accumulator type " << acc << ", got "
                           << got;
  }
  for (auto [name, v] :
       {std::pair<StringRef, Value>{"h0", getH0()},
        {"final_state", getFinalState()},
        {"z0", getZ0()},
        {"final_z", getFinalZ()}})
    if (v && getElementTypeOrSelf(v.getType()) != acc)
      return emitOpError() << "'" << name
                           << "' must have the accumulator element type " << acc
                           << " for inputs of type " << elt << ", got "
                           << getElementTypeOrSelf(v.getType());
  if (getElementTypeOrSelf(getOut().getType()) != elt)
    return emitOpError() << "result 'out' must have element type " << elt
                         << " (the element type of 'q'), got "
                         << getElementTypeOrSelf(getOut().getType());
  if (failed(checkScale(getOperation(), getScaleAttr())))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

/// The score modifiers of ssm.attention and ssm.attention_step: `softcap`
/// positive when given, ALiBi slopes [H] or [B, H] and sinks [H] in f32 (or
/// the f64 of an f64 program).
static LogicalResult checkAttentionScores(Operation *op, DimEnv &env,
                                          FloatAttr softcap, Value slopes,
                                          Value sinks, Type elt) {
  if (softcap && !(softcap.getValueAsDouble() > 0))
    return op->emitOpError() << "'softcap' must be positive (absent: no "
                                "capping), got "
                             << softcap.getValueAsDouble();
  Type want = elt.isF64() ? elt : Float32Type::get(op->getContext());
  for (auto [name, v] : {std::pair<StringRef, Value>{"alibi_slopes", slopes},
                         {"sinks", sinks}}) {
    if (!v)
      continue;
    if (getElementTypeOrSelf(v.getType()) != want)
      return op->emitOpError()
             << "'" << name << "' must have element type " << want
             << " (f32, or f64 in an f64 program), got "
             << getElementTypeOrSelf(v.getType());
  }
  if (slopes) {
    auto t = cast<ShapedType>(slopes.getType());
    if (t.getRank() == 2) {
      if (failed(env.check("alibi_slopes", t, {"B", "H"})))
        return failure();
    } else if (failed(env.check("alibi_slopes", t, {"H"}))) {
      return failure();
    }
  }
  if (sinks && failed(env.check("sinks", cast<ShapedType>(sinks.getType()),
                                {"H"})))
    return failure();
  return success();
}

Type AttentionOp::getAccumulatorType() {
  return accumulatorTypeFor(getQ().getType().getElementType());
}

LogicalResult AttentionOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("q", shaped(getQ()), {"B", "H", "Lq", "d"})) ||
      failed(env.check("k", shaped(getK()), {"B", "Hkv", "Lk", "d"})) ||
      failed(env.check("v", shaped(getV()), {"B", "Hkv", "Lk", "dv"})) ||
      failed(env.check("out", shaped(getOut()), {"B", "H", "Lq", "dv"})))
    return failure();
  if (failed(checkKVHeads(getOperation(), env)))
    return failure();
  if (getWindow() && !getCausal())
    return emitOpError() << "a sliding 'window' needs 'causal' (it keeps the "
                            "w most recent keys of a causal mask); without "
                            "'causal' use 'window_left'/'window_right'";
  if (getWindow() && getWindowLeft())
    return emitOpError() << "'window' is 'window_left' + 1: give one of them";
  if (getCausal() && getWindowRight() && *getWindowRight() != 0)
    return emitOpError() << "'causal' sees no key right of the query: "
                            "'window_right' must be absent or 0 with it";
  if (failed(checkAttentionScores(getOperation(), env, getSoftcapAttr(),
                                  getAlibiSlopes(), getSinks(),
                                  getQ().getType().getElementType())))
    return failure();
  if (static_cast<bool>(getCuSeqlensQ()) != static_cast<bool>(getCuSeqlensK()))
    return emitOpError() << "packed sequences need both 'cu_seqlens_q' and "
                            "'cu_seqlens_k'";
  if (Value cuq = getCuSeqlensQ()) {
    if (failed(checkPackedSequences(getOperation(), env, cuq)))
      return failure();
    auto ranked = [](Value v) { return cast<ShapedType>(v.getType()); };
    if (ranked(getCuSeqlensK()).getRank() != 1)
      return emitOpError() << "operand 'cu_seqlens_k' must have rank 1 "
                              "[S + 1], got rank "
                           << ranked(getCuSeqlensK()).getRank();
    int64_t nq = ranked(cuq).getDimSize(0),
            nk = ranked(getCuSeqlensK()).getDimSize(0);
    if (!ShapedType::isDynamic(nq) && !ShapedType::isDynamic(nk) && nq != nk)
      return emitOpError() << "'cu_seqlens_q' and 'cu_seqlens_k' must hold "
                              "the same number of offsets, got "
                           << nq << " and " << nk;
    if (Value used = getSequsedK()) {
      auto t = ranked(used);
      if (t.getRank() != 1 ||
          (!t.isDynamicDim(0) && !ShapedType::isDynamic(nq) &&
           t.getDimSize(0) != nq - 1))
        return emitOpError() << "operand 'seqused_k' must have shape [S] "
                                "(one count per packed sequence), got "
                             << formatShape(t.getShape());
    }
    if (Value a = getAlibiSlopes(); a && ranked(a).getRank() == 2)
      return emitOpError() << "with packed sequences 'alibi_slopes' must be "
                              "[H] (the batch holds one entry)";
  } else if (Value used = getSequsedK()) {
    if (failed(env.check("seqused_k", cast<ShapedType>(used.getType()), {"B"})))
      return failure();
  }
  Type elt = getQ().getType().getElementType();
  for (auto [name, v] : {std::pair<StringRef, Value>{"k", getK()},
                         {"v", getV()}, {"out", getOut()}})
    if (getElementTypeOrSelf(v.getType()) != elt)
      return emitOpError() << "'" << name << "' must have element type " << elt
                           << " (the element type of 'q'), got "
                           << getElementTypeOrSelf(v.getType());
  if (failed(checkScale(getOperation(), getScaleAttr())))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// CausalConv1dOp
//===----------------------------------------------------------------------===//

Type CausalConv1dOp::getAccumulatorType() {
  return accumulatorTypeFor(getX().getType().getElementType());
}

LogicalResult CausalConv1dOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("x", shaped(getX()), {"B", "D", "L"})) ||
      failed(env.check("weight", shaped(getWeight()), {"D", "W"})) ||
      (getBias() && failed(env.check("bias", shaped(getBias()), {"D"}))) ||
      failed(env.check("out", shaped(getOut()), {"B", "D", "L"})))
    return failure();
  int64_t width = env.lookup("W");
  if (!ShapedType::isDynamic(width) && width < 1)
    return emitOpError() << "the kernel width W must be at least 1, got "
                         << width;
  // States are per batch entry, or per packed sequence with cu_seqlens.
  FailureOr<StringRef> stateBatchOr =
      checkPackedSequences(getOperation(), env, getCuSeqlens());
  if (failed(stateBatchOr))
    return failure();
  StringRef stateBatch = *stateBatchOr;
  for (auto [name, v] : {std::pair<StringRef, Value>{"initial_state", getInitialState()},
                         {"final_state", getFinalState()}}) {
    if (!v)
      continue;
    ShapedType t = shaped(v);
    if (t.getRank() != 3)
      return emitOpError() << "'" << name << "' must have rank 3 ["
                           << stateBatch << ", D, W - 1], got rank "
                           << t.getRank();
    if (failed(env.check(name, shaped(v).clone(t.getShape().take_front(2)),
                         {stateBatch, "D"})))
      return failure();
    int64_t got = t.getDimSize(2);
    if (!ShapedType::isDynamic(got) && !ShapedType::isDynamic(width) &&
        got != width - 1)
      return emitOpError() << "'" << name << "' must hold W - 1 = " << width - 1
                           << " inputs per channel, got " << got;
  }
  if (failed(checkSequenceCount(getOperation(), env, getCuSeqlens())))
    return failure();
  Type elt = getX().getType().getElementType();
  Type acc = getAccumulatorType();
  for (auto [name, v] : {std::pair<StringRef, Value>{"initial_state", getInitialState()},
                         {"out", getOut()}, {"final_state", getFinalState()}})
    if (v && getElementTypeOrSelf(v.getType()) != elt)
      return emitOpError() << "'" << name << "' must have element type " << elt
                           << " (the element type of 'x'), got "
                           << getElementTypeOrSelf(v.getType());
  for (auto [name, v] : {std::pair<StringRef, Value>{"weight", getWeight()},
                         {"bias", getBias()}})
    if (v && getElementTypeOrSelf(v.getType()) != elt &&
        getElementTypeOrSelf(v.getType()) != acc)
      return emitOpError() << "operand '" << name << "' must have element type "
                           << elt << " or the accumulator type " << acc
                           << ", got " << getElementTypeOrSelf(v.getType());
  return success();
}

//===----------------------------------------------------------------------===//
// CausalConv1dStepOp
//===----------------------------------------------------------------------===//

Type CausalConv1dStepOp::getAccumulatorType() {
  return accumulatorTypeFor(getX().getType().getElementType());
}

LogicalResult CausalConv1dStepOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  StringRef pool = getConvStateIndices() ? "P" : "B";
  if (failed(env.check("x", shaped(getX()), {"B", "D"})) ||
      failed(env.check("weight", shaped(getWeight()), {"D", "W"})) ||
      (getBias() && failed(env.check("bias", shaped(getBias()), {"D"}))) ||
      failed(env.check("state", shaped(getState()), {pool, "D", "S"})) ||
      failed(env.check("out", shaped(getOut()), {"B", "D"})) ||
      failed(env.check("new_state", shaped(getNewState()), {pool, "D", "S"})) ||
      (getCacheSeqlens() &&
       failed(env.check("cache_seqlens", shaped(getCacheSeqlens()), {"B"}))) ||
      (getConvStateIndices() &&
       failed(env.check("conv_state_indices", shaped(getConvStateIndices()),
                        {"B"}))))
    return failure();
  int64_t width = env.lookup("W"), stateLen = env.lookup("S");
  if (!ShapedType::isDynamic(width) && width < 1)
    return emitOpError() << "the kernel width W must be at least 1, got "
                         << width;
  if (!ShapedType::isDynamic(width) && !ShapedType::isDynamic(stateLen) &&
      stateLen < width - 1)
    return emitOpError() << "the state must hold at least W - 1 = " << width - 1
                         << " inputs per channel, got " << stateLen;
  if (getCacheSeqlens() && !ShapedType::isDynamic(stateLen) && stateLen == 0)
    return emitOpError() << "'cache_seqlens' needs a ring buffer of at least "
                            "one entry, got a state of length 0";
  Type elt = getX().getType().getElementType();
  Type acc = getAccumulatorType();
  Type outElt = getElementTypeOrSelf(getOut().getType());
  if (outElt != elt)
    return emitOpError() << "'out' must have element type " << elt
                         << " (the element type of 'x'), got " << outElt;
  for (auto [name, v] : {std::pair<StringRef, Value>{"weight", getWeight()},
                         {"bias", getBias()}, {"state", getState()}})
    if (v && getElementTypeOrSelf(v.getType()) != elt &&
        getElementTypeOrSelf(v.getType()) != acc)
      return emitOpError() << "operand '" << name << "' must have element type "
                           << elt << " or the accumulator type " << acc
                           << ", got " << getElementTypeOrSelf(v.getType());
  Type st = getElementTypeOrSelf(getState().getType());
  if (getElementTypeOrSelf(getNewState().getType()) != st)
    return emitOpError() << "'new_state' must have the element type of 'state' ("
                         << st << "), got "
                         << getElementTypeOrSelf(getNewState().getType());
  return success();
}

//===----------------------------------------------------------------------===//
// Decode steps
//===----------------------------------------------------------------------===//

namespace {
/// Element-type rules shared by the step ops: `same` operands have the
/// element type of `first`, `params` that or the accumulator type, `states`
/// the accumulator type.
LogicalResult checkStepTypes(Operation *op, Value first,
                             ArrayRef<std::pair<StringRef, Value>> same,
                             ArrayRef<std::pair<StringRef, Value>> params,
                             ArrayRef<std::pair<StringRef, Value>> states) {
  Type elt = getElementTypeOrSelf(first.getType());
  Type acc = accumulatorTypeFor(elt);
  for (auto [name, v] : same)
    if (v && getElementTypeOrSelf(v.getType()) != elt)
      return op->emitOpError()
             << "'" << name << "' must have element type " << elt
             << " (the element type of the first operand), got "
             << getElementTypeOrSelf(v.getType());
  for (auto [name, v] : params)
    if (v && getElementTypeOrSelf(v.getType()) != elt &&
        getElementTypeOrSelf(v.getType()) != acc)
      return op->emitOpError()
             << "operand '" << name << "' must have element type " << elt
             << " or the accumulator type " << acc << ", got "
             << getElementTypeOrSelf(v.getType());
  for (auto [name, v] : states)
    if (v && getElementTypeOrSelf(v.getType()) != acc)
      return op->emitOpError()
             << "'" << name << "' must have the accumulator element type "
             << acc << " for inputs of type " << elt << ", got "
             << getElementTypeOrSelf(v.getType());
  return success();
}
} // namespace

LogicalResult SelectiveScanStepOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("u", shaped(getU()), {"B", "Dm"})) ||
      failed(env.check("delta", shaped(getDelta()), {"B", "Dm"})) ||
      failed(env.check("A", shaped(getA()), {"Dm", "N"})))
    return failure();
  for (auto [name, value] :
       {std::pair<StringRef, Value>{"B", getB()}, {"C", getC()}}) {
    ShapedType t = shaped(value);
    if (t.getRank() != 2 && t.getRank() != 3)
      return emitOpError() << "operand '" << name
                           << "' must have rank 2 [B, N] or rank 3 [B, G, N], "
                              "got rank "
                           << t.getRank();
    static constexpr StringRef shared[] = {"B", "N"};
    static constexpr StringRef grouped[] = {"B", "G", "N"};
    if (failed(env.check(name, t,
                         t.getRank() == 2 ? ArrayRef<StringRef>(shared)
                                          : ArrayRef<StringRef>(grouped))))
      return failure();
  }
  StringRef pool = getStateBatchIndices() ? "P" : "B";
  if (failed(env.check("state", shaped(getState()), {pool, "Dm", "N"})) ||
      (getD() && failed(env.check("D", shaped(getD()), {"Dm"}))) ||
      (getZ() && failed(env.check("z", shaped(getZ()), {"B", "Dm"}))) ||
      (getDeltaBias() &&
       failed(env.check("delta_bias", shaped(getDeltaBias()), {"Dm"}))) ||
      failed(env.check("out", shaped(getOut()), {"B", "Dm"})) ||
      failed(env.check("new_state", shaped(getNewState()), {pool, "Dm", "N"})) ||
      (getStateBatchIndices() &&
       failed(env.check("state_batch_indices", shaped(getStateBatchIndices()),
                        {"B"}))))
    return failure();
  if (failed(checkGroupCount(getOperation(), env, "Dm", "channel count Dm")))
    return failure();
  return checkStepTypes(
      getOperation(), getU(),
      {{"B", getB()}, {"C", getC()}, {"z", getZ()}, {"out", getOut()}},
      {{"delta", getDelta()}, {"A", getA()}, {"D", getD()},
       {"delta_bias", getDeltaBias()}},
      {{"state", getState()}, {"new_state", getNewState()}});
}

LogicalResult SSDStepOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("x", shaped(getX()), {"B", "H", "P"})) ||
      failed(env.check("dt", shaped(getDt()), {"B", "H"})) ||
      failed(env.check("A", shaped(getA()), {"H"})) ||
      failed(env.check("B", shaped(getB()), {"B", "G", "N"})) ||
      failed(env.check("C", shaped(getC()), {"B", "G", "N"})) ||
      failed(env.check("state", shaped(getState()),
                       {getStateBatchIndices() ? "Ps" : "B", "H", "P", "N"})) ||
      failed(checkHeadSkip(getOperation(), env, getD())) ||
      (getZ() && failed(env.check("z", shaped(getZ()), {"B", "H", "P"}))) ||
      (getDtBias() && failed(env.check("dt_bias", shaped(getDtBias()), {"H"}))) ||
      failed(env.check("out", shaped(getOut()), {"B", "H", "P"})) ||
      failed(env.check("new_state", shaped(getNewState()),
                       {getStateBatchIndices() ? "Ps" : "B", "H", "P", "N"})) ||
      (getStateBatchIndices() &&
       failed(env.check("state_batch_indices", shaped(getStateBatchIndices()),
                        {"B"}))))
    return failure();
  if (failed(checkGroupCount(getOperation(), env, "H", "head count H")) ||
      failed(checkDtLimit(getOperation(), getDtLimit())))
    return failure();
  return checkStepTypes(
      getOperation(), getX(),
      {{"B", getB()}, {"C", getC()}, {"z", getZ()}, {"out", getOut()}},
      {{"dt", getDt()}, {"A", getA()}, {"D", getD()}, {"dt_bias", getDtBias()}},
      {{"state", getState()}, {"new_state", getNewState()}});
}

LogicalResult LinearAttentionStepOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("q", shaped(getQ()), {"B", "H", "K"})) ||
      failed(env.check("k", shaped(getK()), {"B", "H", "K"})) ||
      failed(env.check("v", shaped(getV()), {"B", "H", "V"})) ||
      failed(env.check("state", shaped(getState()), {"B", "H", "K", "V"})))
    return failure();
  if (Value g = getGate()) {
    ShapedType t = shaped(g);
    if (t.getRank() != 2 && t.getRank() != 3)
      return emitOpError() << "operand 'gate' must have rank 2 [B, H] or rank "
                              "3 [B, H, K], got rank "
                           << t.getRank();
    static constexpr StringRef perHead[] = {"B", "H"};
    static constexpr StringRef perKey[] = {"B", "H", "K"};
    if (failed(env.check("gate", t,
                         t.getRank() == 2 ? ArrayRef<StringRef>(perHead)
                                          : ArrayRef<StringRef>(perKey))))
      return failure();
  }
  if (failed(env.check("out", shaped(getOut()), {"B", "H", "V"})) ||
      failed(env.check("new_state", shaped(getNewState()), {"B", "H", "K", "V"})))
    return failure();
  if (getNormalize() != static_cast<bool>(getZ()) ||
      getNormalize() != static_cast<bool>(getNewZ()))
    return emitOpError()
           << "the normaliser's state 'z' and the result 'new_z' must be "
              "present exactly when 'normalize' is (got normalize = "
           << (getNormalize() ? "true" : "false") << ", z "
           << (getZ() ? "present" : "absent") << ", new_z "
           << (getNewZ() ? "present" : "absent") << ")";
  if (getZ() && (failed(env.check("z", shaped(getZ()), {"B", "H", "K"})) ||
                 failed(env.check("new_z", shaped(getNewZ()), {"B", "H", "K"}))))
    return failure();
  if (failed(checkScale(getOperation(), getScaleAttr())) ||
      failed(checkEps(getOperation(), getEpsAttr())))
    return failure();
  return checkStepTypes(getOperation(), getQ(),
                        {{"k", getK()}, {"v", getV()}, {"out", getOut()}},
                        {{"gate", getGate()}},
                        {{"state", getState()},
                         {"new_state", getNewState()},
                         {"z", getZ()},
                         {"new_z", getNewZ()}});
}

LogicalResult AttentionStepOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("q", shaped(getQ()), {"B", "H", "d"})) ||
      failed(env.check("k", shaped(getK()), {"B", "Hkv", "d"})) ||
      failed(env.check("v", shaped(getV()), {"B", "Hkv", "dv"})) ||
      failed(env.check("k_cache", shaped(getKCache()), {"B", "Hkv", "C", "d"})) ||
      failed(env.check("v_cache", shaped(getVCache()), {"B", "Hkv", "C", "dv"})) ||
      failed(env.check("out", shaped(getOut()), {"B", "H", "dv"})) ||
      failed(env.check("new_k_cache", shaped(getNewKCache()), {"B", "Hkv", "C", "d"})) ||
      failed(env.check("new_v_cache", shaped(getNewVCache()), {"B", "Hkv", "C", "dv"})))
    return failure();
  if (failed(checkKVHeads(getOperation(), env)))
    return failure();
  int64_t capacity = env.lookup("C");
  if (!ShapedType::isDynamic(capacity) && capacity == 0)
    return emitOpError() << "the cache capacity C must be positive (the new "
                            "token is written into it)";
  if (getRing() && getWindow())
    return emitOpError() << "a ring cache is its own window (the C most recent "
                            "tokens); 'window' must be absent with 'ring'";
  if (static_cast<bool>(getPosition()) == static_cast<bool>(getPositions()))
    return emitOpError() << "needs exactly one of 'position' (one for the "
                            "batch) and 'positions' (one per batch entry)";
  if (Value ps = getPositions())
    if (failed(env.check("positions", cast<ShapedType>(ps.getType()), {"B"})))
      return failure();
  if (getRing() && getAlibiSlopes())
    return emitOpError() << "ALiBi needs each slot's distance from the "
                            "query, which a 'ring' cache does not keep";
  if (failed(checkAttentionScores(getOperation(), env, getSoftcapAttr(),
                                  getAlibiSlopes(), getSinks(),
                                  getQ().getType().getElementType())))
    return failure();
  if (failed(checkScale(getOperation(), getScaleAttr())))
    return failure();
  return checkStepTypes(
      getOperation(), getQ(),
      {{"k", getK()}, {"v", getV()}, {"k_cache", getKCache()},
       {"v_cache", getVCache()}, {"out", getOut()},
       {"new_k_cache", getNewKCache()}, {"new_v_cache", getNewVCache()}},
      {}, {});
}

//===----------------------------------------------------------------------===//
// ScanOp
//===----------------------------------------------------------------------===//

LogicalResult ScanOp::verify() {
  if (getInputs().empty())
    return emitOpError() << "needs at least one input to scan";
  auto first = cast<RankedTensorType>(getInputs().front().getType());
  int64_t rank = first.getRank();
  if (rank == 0)
    return emitOpError() << "inputs must have rank >= 1 to scan along an "
                            "axis, got a rank-0 tensor";
  if (static_cast<int64_t>(getAxis()) >= rank)
    return emitOpError() << "axis " << getAxis()
                         << " is out of range for inputs of rank " << rank;
  for (auto [i, v] : llvm::enumerate(getInputs())) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getRank() != rank || failed(verifyCompatibleShape(t, first)))
      return emitOpError() << "input #" << i << " has shape "
                           << formatShape(t.getShape())
                           << ", but all inputs must have the shape of "
                              "input #0, "
                           << formatShape(first.getShape());
  }
  if (getResults().size() != getInputs().size())
    return emitOpError() << "must have one result per input: "
                         << getInputs().size() << " inputs, "
                         << getResults().size() << " results";
  for (auto [i, pair] :
       llvm::enumerate(llvm::zip(getInputs(), getResults()))) {
    auto [in, res] = pair;
    auto inTy = cast<RankedTensorType>(in.getType());
    auto resTy = cast<RankedTensorType>(res.getType());
    if (inTy.getElementType() != resTy.getElementType() ||
        failed(verifyCompatibleShape(inTy, resTy)))
      return emitOpError() << "result #" << i << " must have the type of input #"
                           << i << ", " << inTy << ", got " << resTy;
  }
  if (!getInit().empty() && getInit().size() != getInputs().size())
    return emitOpError() << "'init' must give one value per input: "
                         << getInputs().size() << " inputs, "
                         << getInit().size() << " init values";
  for (auto [i, pair] : llvm::enumerate(llvm::zip(getInit(), getInputs()))) {
    auto [init, in] = pair;
    Type elt = getElementTypeOrSelf(in.getType());
    if (init.getType() != elt)
      return emitOpError() << "'init' value #" << i
                           << " must have the element type of input #" << i
                           << ", " << elt << ", got " << init.getType();
  }
  if (getExclusive() && getInit().empty())
    return emitOpError() << "an exclusive scan needs 'init' values (the "
                            "result at the first step)";
  return success();
}

LogicalResult ScanOp::verifyRegions() {
  Block &body = getCombiner().front();
  size_t n = getInputs().size();
  if (body.getNumArguments() != 2 * n)
    return emitOpError() << "combiner region must take " << 2 * n
                         << " arguments (" << n << " accumulators then " << n
                         << " elements), got " << body.getNumArguments();
  for (auto [i, in] : llvm::enumerate(getInputs())) {
    Type elt = getElementTypeOrSelf(in.getType());
    for (size_t j : {i, i + n}) {
      Type got = body.getArgument(j).getType();
      if (got != elt)
        return emitOpError() << "combiner argument #" << j
                             << " must have the element type of input #" << i
                             << ", " << elt << ", got " << got;
    }
  }
  auto yield = body.empty() ? YieldOp() : dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError() << "combiner region must end with 'ssm.yield'";
  if (yield.getValues().size() != n)
    return yield.emitOpError() << "must yield " << n
                               << " values (one per scanned input), got "
                               << yield.getValues().size();
  for (auto [i, pair] : llvm::enumerate(llvm::zip(yield.getValues(), getInputs()))) {
    auto [v, in] = pair;
    Type elt = getElementTypeOrSelf(in.getType());
    if (v.getType() != elt)
      return yield.emitOpError() << "value #" << i
                                 << " must have the element type of input #"
                                 << i << ", " << elt << ", got " << v.getType();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// dp
//===----------------------------------------------------------------------===//

namespace {
std::string formatOffset(ArrayRef<int64_t> off) {
  std::string s = "(";
  for (auto [i, v] : llvm::enumerate(off))
    s += (i ? ", " : "") + std::to_string(v);
  return s + ")";
}

/// The cell `off` reaches from (i) or (i, j), e.g. "(i - 1, j + 2)".
std::string formatReach(ArrayRef<int64_t> off) {
  static const char *names[] = {"i", "j"};
  std::string s = "(";
  for (auto [k, v] : llvm::enumerate(off)) {
    s += (k ? ", " : "");
    s += names[k];
    if (v > 0)
      s += " + " + std::to_string(v);
    else if (v < 0)
      s += " - " + std::to_string(-v);
  }
  return s + ")";
}

/// Checks that `region` (named `what`) takes `types` and yields one value of
/// type `yieldType`.
LogicalResult checkDPRegion(Operation *op, Region &region, StringRef what,
                            ArrayRef<Type> types, StringRef argsDescription,
                            Type yieldType) {
  Block &block = region.front();
  if (block.getNumArguments() != types.size())
    return op->emitOpError()
           << "'" << what << "' region must take " << types.size()
           << " arguments (" << argsDescription << "), got "
           << block.getNumArguments();
  for (auto [i, t] : llvm::enumerate(types))
    if (block.getArgument(i).getType() != t)
      return op->emitOpError()
             << "'" << what << "' region argument #" << i << " must be " << t
             << " (" << argsDescription << "), got "
             << block.getArgument(i).getType();
  auto yield = block.empty() ? YieldOp() : dyn_cast<YieldOp>(block.back());
  if (!yield)
    return op->emitOpError() << "'" << what
                             << "' region must end with 'ssm.yield'";
  if (yield.getValues().size() != 1)
    return yield.emitOpError()
           << "in the '" << what << "' region must yield one " << yieldType
           << " value, got " << yield.getValues().size() << " values";
  if (yield.getValues().front().getType() != yieldType)
    return yield.emitOpError()
           << "in the '" << what << "' region must yield one " << yieldType
           << " value, got " << yield.getValues().front().getType();
  return success();
}
} // namespace

SmallVector<SmallVector<int64_t, 2>> DPOp::getDepOffsets() {
  SmallVector<SmallVector<int64_t, 2>> result;
  if (std::optional<ArrayAttr> deps = getDeps())
    for (Attribute a : *deps)
      result.emplace_back(llvm::to_vector(cast<DenseI64ArrayAttr>(a).asArrayRef()));
  return result;
}

SmallVector<int64_t> DPOp::getFetchRows() {
  SmallVector<int64_t> rows;
  getCell().walk([&](DPFetchOp f) { rows.push_back(f.getRowAttr().getInt()); });
  return rows;
}

DPDependencyShape mlir::ssm::getDependencyShape(DPOp op) {
  DPDependencyShape shape;
  bool first = true;
  for (ArrayRef<int64_t> off : op.getDepOffsets()) {
    shape.rowsBack = std::max(shape.rowsBack, -off[0]);
    if (off.size() < 2)
      continue;
    shape.quadrant &= off[0] <= 0 && off[1] <= 0;
    shape.sameRow |= off[0] == 0;
    shape.diagBack = std::max(shape.diagBack, -(off[0] + off[1]));
    shape.colsBack = first ? -off[1] : std::max(shape.colsBack, -off[1]);
    first = false;
  }
  for (int64_t r : op.getFetchRows()) {
    shape.fetches = true;
    shape.rowsBack = std::max(shape.rowsBack, -r);
  }
  return shape;
}

/// Size `d` of the op's index space when it is a constant.
static std::optional<int64_t> constIndexSize(DPOp op, int64_t d) {
  APInt v;
  if (matchPattern(op.getSizes()[d], m_ConstantInt(&v)))
    return v.getSExtValue();
  return std::nullopt;
}

/// The index space: [T] or [T1, T2], no constant size negative.
static LogicalResult verifyDPIndexSpace(DPOp op) {
  const int64_t rank = op.getIndexRank();
  if (rank != 1 && rank != 2)
    return op.emitOpError() << "index space must have 1 or 2 dimensions ([T] "
                               "or [T1, T2]), got "
                            << rank << " sizes";
  for (int64_t d = 0; d < rank; ++d)
    if (std::optional<int64_t> c = constIndexSize(op, d); c && *c < 0)
      return op.emitOpError() << "size #" << d << " of the index space is "
                              << *c << ", must be non-negative";
  return success();
}

/// Inputs: 1-D, each along one index dimension.
static LogicalResult verifyDPInputs(DPOp op) {
  const int64_t rank = op.getIndexRank();
  SmallVector<int64_t> dims(op.getInputs().size(), 0);
  if (std::optional<ArrayRef<int64_t>> given = op.getInputDims()) {
    if (given->size() != op.getInputs().size())
      return op.emitOpError() << "'input_dims' must give one index dimension "
                                 "per input: "
                              << op.getInputs().size() << " inputs, "
                              << given->size() << " entries";
    dims.assign(given->begin(), given->end());
  }
  for (auto [k, in] : llvm::enumerate(op.getInputs())) {
    auto t = cast<RankedTensorType>(in.getType());
    if (t.getRank() != 1)
      return op.emitOpError() << "input #" << k
                              << " must be a 1-D tensor (one value per row or "
                                 "column of the index space), got "
                              << t;
    if (dims[k] < 0 || dims[k] >= rank)
      return op.emitOpError()
             << "'input_dims' entry #" << k << " is " << dims[k]
             << ", must name an index dimension in [0, " << rank << ")";
    std::optional<int64_t> c = constIndexSize(op, dims[k]);
    if (c && !t.isDynamicDim(0) && t.getDimSize(0) != *c)
      return op.emitOpError() << "input #" << k << " has " << t.getDimSize(0)
                              << " elements, but index dimension " << dims[k]
                              << " has size " << *c;
  }
  return success();
}

/// The result: the whole table, its last row or its last cell, each result
/// dimension as long as the index dimension it runs along.
static LogicalResult verifyDPResult(DPOp op) {
  const int64_t rank = op.getIndexRank();
  auto resTy = cast<RankedTensorType>(op.getResult().getType());
  StringRef output = stringifyDPOutput(op.getOutput());
  int64_t wantRank = 0;
  SmallVector<int64_t> resDims; // index dimension of each result dimension
  switch (op.getOutput()) {
  case DPOutput::table:
    wantRank = rank;
    for (int64_t d = 0; d < rank; ++d)
      resDims.push_back(d);
    break;
  case DPOutput::last_row:
    if (rank != 2)
      return op.emitOpError() << "output \"last_row\" needs a 2-D index space";
    wantRank = 1;
    resDims.push_back(1);
    break;
  case DPOutput::last:
    wantRank = 0;
    break;
  }
  if (resTy.getRank() != wantRank)
    return op.emitOpError() << "result of output \"" << output
                            << "\" must have rank " << wantRank << ", got "
                            << resTy;
  for (auto [r, d] : llvm::enumerate(resDims)) {
    std::optional<int64_t> c = constIndexSize(op, d);
    if (c && !resTy.isDynamicDim(r) && resTy.getDimSize(r) != *c)
      return op.emitOpError() << "result dimension " << r << " is "
                              << resTy.getDimSize(r) << ", but index dimension "
                              << d << " has size " << *c;
  }
  return success();
}

/// Dependencies: the prefix form's regions, or constant offsets that only
/// reach cells computed earlier in row-major order.
static LogicalResult verifyDPDependencies(DPOp op) {
  const int64_t rank = op.getIndexRank();
  const bool prefix = op.isPrefix();
  if (prefix != !op.getWhere().empty())
    return op.emitOpError() << "the prefix form needs both an 'aggregate' and "
                               "a 'where' region";
  if (prefix) {
    if (rank != 1)
      return op.emitOpError() << "the prefix form is 1-D only, got a " << rank
                              << "-D index space";
    if (op.getDeps() && !op.getDeps()->empty())
      return op.emitOpError() << "the prefix form takes no constant 'deps' "
                                 "(cell i depends on every earlier cell the "
                                 "'where' region selects)";
    return success();
  }
  for (auto [k, off] : llvm::enumerate(op.getDepOffsets())) {
    if (static_cast<int64_t>(off.size()) != rank)
      return op.emitOpError() << "dependency #" << k << " " << formatOffset(off)
                              << " must have " << rank
                              << " component(s), one per index dimension";
    // Row-major order: the first non-zero component must be negative.
    auto first = llvm::find_if(off, [](int64_t v) { return v != 0; });
    if (first == off.end())
      return op.emitOpError() << "dependency #" << k << " " << formatOffset(off)
                              << " is the cell itself: a cell cannot depend on "
                                 "its own value";
    if (*first > 0)
      return op.emitOpError()
             << "dependency #" << k << " " << formatOffset(off)
             << " reaches cell " << formatReach(off)
             << ", which is not computed yet (cells are computed in row-major "
                "order; every offset must be lexicographically negative)";
  }
  return success();
}

LogicalResult DPOp::verify() {
  if (failed(verifyDPIndexSpace(*this)) || failed(verifyDPInputs(*this)) ||
      failed(verifyDPResult(*this)))
    return failure();
  return verifyDPDependencies(*this);
}

LogicalResult DPOp::verifyRegions() {
  const int64_t rank = getIndexRank();
  if (rank != 1 && rank != 2)
    return failure(); // reported by verify()
  Type cell = getCellType();
  Type index = IndexType::get(getContext());
  SmallVector<Type> inputElts;
  for (Value in : getInputs())
    inputElts.push_back(getElementTypeOrSelf(in.getType()));

  SmallVector<Type> cellArgs(rank, index);
  std::string desc = rank == 1 ? "the index i" : "the indices i, j";
  if (isPrefix()) {
    cellArgs.push_back(cell);
    desc += ", the aggregate";
  } else {
    size_t deps = getDepOffsets().size();
    cellArgs.append(deps, cell);
    desc += ", " + std::to_string(deps) + " dependency value(s)";
  }
  cellArgs.append(inputElts);
  desc += ", " + std::to_string(inputElts.size()) + " input value(s)";
  if (failed(checkDPRegion(*this, getCell(), "cell", cellArgs, desc, cell)))
    return failure();

  SmallVector<Type> boundaryArgs(rank, index);
  if (failed(checkDPRegion(*this, getBoundary(), "boundary", boundaryArgs,
                           rank == 1 ? "the index i" : "the indices i, j",
                           cell)))
    return failure();

  if (isPrefix()) {
    if (failed(checkDPRegion(*this, getAggregate(), "aggregate", {cell, cell},
                             "the accumulator, then dp[j]", cell)))
      return failure();
    SmallVector<Type> whereArgs(inputElts);
    whereArgs.append(inputElts);
    if (failed(checkDPRegion(*this, getWhere(), "where", whereArgs,
                             "the inputs at j, then the inputs at i",
                             IntegerType::get(getContext(), 1))))
      return failure();
  }
  return success();
}

LogicalResult DPFetchOp::verify() {
  auto dp = (*this)->getParentOfType<DPOp>();
  if (!dp || !dp.getCell().isAncestor((*this)->getParentRegion()))
    return emitOpError() << "must be inside the 'cell' region of an 'ssm.dp'";
  if (dp.getIndexRank() != 2)
    return emitOpError() << "reads a column of an earlier row, so it needs a "
                            "2-D 'ssm.dp', got a "
                         << dp.getIndexRank() << "-D one";
  if (getRowAttr().getInt() >= 0)
    return emitOpError() << "row offset must be negative (an earlier row), got "
                         << getRowAttr().getInt();
  if (getType() != dp.getCellType())
    return emitOpError() << "must have the cell type of the enclosing "
                            "'ssm.dp', "
                         << dp.getCellType() << ", got " << getType();
  return success();
}

//===----------------------------------------------------------------------===//
// DeltaRuleOp and DeltaRuleStepOp
//===----------------------------------------------------------------------===//

namespace {
/// The operands that choose the delta-rule form, with the layout prefix of
/// one step: {"B", "T"} for the sequence op, {"B"} for the decode step.
struct DeltaRuleForm {
  Value beta, gate, a, b;
};

/// Checks the form operands (exactly one of beta and the pair a, b; the
/// gate's rank for that form) and their shapes, and that Hk divides H.
LogicalResult checkDeltaRuleForm(Operation *op, DimEnv &env,
                                 ArrayRef<StringRef> prefix,
                                 const DeltaRuleForm &f) {
  auto layout = [&](std::initializer_list<StringRef> tail) {
    SmallVector<StringRef> l(prefix.begin(), prefix.end());
    l.append(tail.begin(), tail.end());
    return l;
  };
  if (static_cast<bool>(f.a) != static_cast<bool>(f.b))
    return op->emitOpError() << "the DPLR form needs both 'a' and 'b', got only '"
                             << (f.a ? "a" : "b") << "'";
  if (f.a && f.beta)
    return op->emitOpError()
           << "'beta' (delta forms) and 'a', 'b' (DPLR form) exclude each "
              "other; write DeltaNet in the DPLR form as a = -beta k, b = k "
              "and the value beta v";
  if (!f.a && !f.beta)
    return op->emitOpError()
           << "needs 'beta' (DeltaNet, Gated DeltaNet, KDA) or 'a' and 'b' "
              "(the DPLR form of RWKV-7)";
  if (f.beta && failed(env.check("beta", cast<ShapedType>(f.beta.getType()),
                                 layout({"H"}))))
    return failure();
  for (auto [name, v] : {std::pair<StringRef, Value>{"a", f.a}, {"b", f.b}})
    if (v && failed(env.check(name, cast<ShapedType>(v.getType()),
                              layout({"H", "K"}))))
      return failure();
  if (Value g = f.gate) {
    auto t = cast<ShapedType>(g.getType());
    int64_t perStep = prefix.size() + 1;
    if (f.a && t.getRank() != perStep + 1)
      return op->emitOpError()
             << "the DPLR form's 'gate' holds one log decay per key dimension "
             << "and must have rank " << perStep + 1 << " "
             << (prefix.size() == 2 ? "[B, T, H, K]" : "[B, H, K]")
             << ", got rank " << t.getRank();
    if (t.getRank() != perStep && t.getRank() != perStep + 1)
      return op->emitOpError()
             << "operand 'gate' must have rank " << perStep << " "
             << (prefix.size() == 2 ? "[B, T, H]" : "[B, H]")
             << " (one log decay per head and step) or rank " << perStep + 1
             << " " << (prefix.size() == 2 ? "[B, T, H, K]" : "[B, H, K]")
             << " (one per key dimension), got rank " << t.getRank();
    if (failed(env.check("gate", t,
                         t.getRank() == perStep ? layout({"H"})
                                                : layout({"H", "K"}))))
      return failure();
  }
  int64_t heads = env.lookup("H"), keyHeads = env.lookup("Hk");
  if (!ShapedType::isDynamic(keyHeads) && keyHeads == 0)
    return op->emitOpError() << "the query/key head count Hk must be positive";
  if (!ShapedType::isDynamic(heads) && !ShapedType::isDynamic(keyHeads) &&
      heads % keyHeads != 0)
    return op->emitOpError()
           << "the value head count H = " << heads
           << " must be a multiple of the query/key head count Hk = "
           << keyHeads;
  return success();
}
} // namespace

Type DeltaRuleOp::getAccumulatorType() {
  return accumulatorTypeFor(getQ().getType().getElementType());
}

LogicalResult DeltaRuleOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  if (failed(env.check("q", shaped(getQ()), {"B", "T", "Hk", "K"})) ||
      failed(env.check("k", shaped(getK()), {"B", "T", "Hk", "K"})) ||
      failed(env.check("v", shaped(getV()), {"B", "T", "H", "V"})) ||
      failed(checkDeltaRuleForm(getOperation(), env, {"B", "T"},
                                {getBeta(), getGate(), getA(), getB()})))
    return failure();
  FailureOr<StringRef> stateBatch =
      checkPackedSequences(getOperation(), env, getCuSeqlens());
  if (failed(stateBatch))
    return failure();
  if ((getH0() && failed(env.check("h0", shaped(getH0()),
                                   {*stateBatch, "H", "K", "V"}))) ||
      failed(env.check("out", shaped(getOut()), {"B", "T", "H", "V"})) ||
      (getFinalState() &&
       failed(env.check("final_state", shaped(getFinalState()),
                        {*stateBatch, "H", "K", "V"}))) ||
      failed(checkSequenceCount(getOperation(), env, getCuSeqlens())) ||
      failed(checkScale(getOperation(), getScaleAttr())))
    return failure();
  if (std::optional<int64_t> c = getChunkSize(); c && *c < 0)
    return emitOpError() << "'chunk_size' must be 0 (recurrent form) or "
                            "positive (chunked form), got "
                         << *c;
  return checkStepTypes(getOperation(), getQ(),
                        {{"k", getK()}, {"v", getV()}, {"out", getOut()}},
                        {{"beta", getBeta()},
                         {"gate", getGate()},
                         {"a", getA()},
                         {"b", getB()}},
                        {{"h0", getH0()}, {"final_state", getFinalState()}});
}

LogicalResult DeltaRuleStepOp::verify() {
  DimEnv env(getOperation());
  auto shaped = [](Value v) { return cast<RankedTensorType>(v.getType()); };
  StringRef pool = getStateBatchIndices() ? "P" : "B";
  if (failed(env.check("q", shaped(getQ()), {"B", "Hk", "K"})) ||
      failed(env.check("k", shaped(getK()), {"B", "Hk", "K"})) ||
      failed(env.check("v", shaped(getV()), {"B", "H", "V"})) ||
      failed(checkDeltaRuleForm(getOperation(), env, {"B"},
                                {getBeta(), getGate(), getA(), getB()})) ||
      failed(env.check("state", shaped(getState()), {pool, "H", "K", "V"})) ||
      failed(env.check("out", shaped(getOut()), {"B", "H", "V"})) ||
      failed(env.check("new_state", shaped(getNewState()),
                       {pool, "H", "K", "V"})) ||
      (getStateBatchIndices() &&
       failed(env.check("state_batch_indices", shaped(getStateBatchIndices()),
                        {"B"}))) ||
      failed(checkScale(getOperation(), getScaleAttr())))
    return failure();
  return checkStepTypes(getOperation(), getQ(),
                        {{"k", getK()}, {"v", getV()}, {"out", getOut()}},
                        {{"beta", getBeta()},
                         {"gate", getGate()},
                         {"a", getA()},
                         {"b", getB()}},
                        {{"state", getState()}, {"new_state", getNewState()}});
}

//===----------------------------------------------------------------------===//
// SequenceOpInterface
//===----------------------------------------------------------------------===//

namespace {
int64_t dimOf(Value v, unsigned i) {
  return cast<ShapedType>(v.getType()).getDimSize(i);
}
/// Sequences in a batch: its size, or with packed sequences one fewer than
/// the entries of cu_seqlens.
int64_t sequencesOf(Value batched, Value cuSeqlens) {
  if (!cuSeqlens)
    return dimOf(batched, 0);
  int64_t n = dimOf(cuSeqlens, 0);
  return ShapedType::isDynamic(n) ? ShapedType::kDynamic : n - 1;
}
int64_t sumOf(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b)
             ? ShapedType::kDynamic
             : a + b;
}
SmallVector<int64_t> shapeOf(Value v) {
  return llvm::to_vector(cast<ShapedType>(v.getType()).getShape());
}
} // namespace

SmallVector<int64_t> SelectiveScanOp::getStateShape() {
  return {sequencesOf(getU(), getCuSeqlens()), dimOf(getU(), 1),
          dimOf(getA(), 1)};
}
StringRef SelectiveScanOp::getPairedOpName() {
  return SelectiveScanStepOp::getOperationName();
}

SmallVector<int64_t> SSDOp::getStateShape() {
  return {sequencesOf(getX(), getCuSeqlens()), dimOf(getX(), 2),
          dimOf(getX(), 3), dimOf(getB(), 3)};
}
StringRef SSDOp::getPairedOpName() { return SSDStepOp::getOperationName(); }

SmallVector<int64_t> LinearAttentionOp::getStateShape() {
  return {sequencesOf(getQ(), getCuSeqlens()), dimOf(getQ(), 1),
          dimOf(getQ(), 3), dimOf(getV(), 3)};
}
StringRef LinearAttentionOp::getPairedOpName() {
  return LinearAttentionStepOp::getOperationName();
}

SmallVector<int64_t> AttentionOp::getStateShape() {
  return {dimOf(getK(), 0), dimOf(getK(), 1), dimOf(getK(), 2),
          sumOf(dimOf(getK(), 3), dimOf(getV(), 3))};
}
StringRef AttentionOp::getPairedOpName() {
  return AttentionStepOp::getOperationName();
}

SmallVector<int64_t> CausalConv1dOp::getStateShape() {
  int64_t w = dimOf(getWeight(), 1);
  int64_t states = dimOf(getX(), 0);
  if (Value cu = getCuSeqlens()) {
    int64_t offsets = dimOf(cu, 0);
    states = ShapedType::isDynamic(offsets) ? ShapedType::kDynamic : offsets - 1;
  }
  return {states, dimOf(getX(), 1),
          ShapedType::isDynamic(w) ? ShapedType::kDynamic : w - 1};
}
StringRef CausalConv1dOp::getPairedOpName() {
  return CausalConv1dStepOp::getOperationName();
}

SmallVector<int64_t> CausalConv1dStepOp::getStateShape() {
  return shapeOf(getState());
}
bool CausalConv1dStepOp::isDecodeStep() { return true; }
StringRef CausalConv1dStepOp::getPairedOpName() {
  return CausalConv1dOp::getOperationName();
}

Type SelectiveScanStepOp::getAccumulatorType() {
  return getElementTypeOrSelf(getState().getType());
}
SmallVector<int64_t> SelectiveScanStepOp::getStateShape() {
  return shapeOf(getState());
}
bool SelectiveScanStepOp::isDecodeStep() { return true; }
StringRef SelectiveScanStepOp::getPairedOpName() {
  return SelectiveScanOp::getOperationName();
}

Type SSDStepOp::getAccumulatorType() {
  return getElementTypeOrSelf(getState().getType());
}
SmallVector<int64_t> SSDStepOp::getStateShape() { return shapeOf(getState()); }
bool SSDStepOp::isDecodeStep() { return true; }
StringRef SSDStepOp::getPairedOpName() { return SSDOp::getOperationName(); }

Type LinearAttentionStepOp::getAccumulatorType() {
  return getElementTypeOrSelf(getState().getType());
}
SmallVector<int64_t> LinearAttentionStepOp::getStateShape() {
  return shapeOf(getState());
}
bool LinearAttentionStepOp::isDecodeStep() { return true; }
StringRef LinearAttentionStepOp::getPairedOpName() {
  return LinearAttentionOp::getOperationName();
}

Type AttentionStepOp::getAccumulatorType() {
  return accumulatorTypeFor(getQ().getType().getElementType());
}
SmallVector<int64_t> AttentionStepOp::getStateShape() {
  return {dimOf(getKCache(), 0), dimOf(getKCache(), 1), dimOf(getKCache(), 2),
          sumOf(dimOf(getKCache(), 3), dimOf(getVCache(), 3))};
}
bool AttentionStepOp::isDecodeStep() { return true; }
StringRef AttentionStepOp::getPairedOpName() {
  return AttentionOp::getOperationName();
}

SmallVector<int64_t> DeltaRuleOp::getStateShape() {
  return {sequencesOf(getQ(), getCuSeqlens()), dimOf(getV(), 2),
          dimOf(getQ(), 3), dimOf(getV(), 3)};
}
StringRef DeltaRuleOp::getPairedOpName() {
  return DeltaRuleStepOp::getOperationName();
}

Type DeltaRuleStepOp::getAccumulatorType() {
  return getElementTypeOrSelf(getState().getType());
}
SmallVector<int64_t> DeltaRuleStepOp::getStateShape() {
  return shapeOf(getState());
}
bool DeltaRuleStepOp::isDecodeStep() { return true; }
StringRef DeltaRuleStepOp::getPairedOpName() {
  return DeltaRuleOp::getOperationName();
}

#define GET_OP_CLASSES
#include "ssmc/Dialect/SSM/SSMOps.cpp.inc"
