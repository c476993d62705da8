//===- CostModel.cpp - state size and cost of ssm ops ---------------------===//
//
// Counting rules (documented in docs/cost-model.md): per sequence step and
// channel, every add, mul and div is one FLOP, exp/log/log1p are one
// transcendental each; activations are read and written once per step; state
// stays on chip. Counts are what a fused kernel has to do, not what a naive
// loop does.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Dialect/SSM/Analysis/CostModel.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace mlir;

namespace ssmc {

namespace {

Count dim(ShapedType t, unsigned i) {
  int64_t d = t.getDimSize(i);
  return ShapedType::isDynamic(d) ? Count() : Count(d);
}

Count operator*(Count a, Count b) {
  if (!a || !b)
    return std::nullopt;
  return *a * *b;
}
Count operator+(Count a, Count b) {
  if (!a || !b)
    return std::nullopt;
  return *a + *b;
}
Count numel(ShapedType t) {
  Count n = 1;
  for (unsigned i = 0; i < t.getRank(); ++i)
    n = n * dim(t, i);
  return n;
}

/// Independent sequences: the batch, or the packed sequences of cu_seqlens.
Count sequencesOf(Value cuSeqlens, Count batch) {
  if (!cuSeqlens)
    return batch;
  Count offsets = dim(cast<ShapedType>(cuSeqlens.getType()), 0);
  return offsets ? Count(*offsets - 1) : Count();
}

/// Bytes of tensor `v` (0 when absent).
Count bytesOf(Value v) {
  if (!v)
    return 0;
  auto t = cast<ShapedType>(v.getType());
  return numel(t) * Count(elementBytes(t.getElementType()));
}

std::string typeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << t;
  return s;
}

OpCost costOf(ssm::SelectiveScanOp op, int64_t seqLenOverride) {
  auto uTy = op.getU().getType();
  auto bTy = cast<ShapedType>(op.getB().getType());
  auto cTy = cast<ShapedType>(op.getC().getType());
  Type elt = uTy.getElementType();
  Type acc = op.getAccumulatorType();
  int64_t eb = elementBytes(elt), ab = elementBytes(acc);
  Count batch = dim(uTy, 0), channels = dim(uTy, 1);
  Count n = dim(cast<ShapedType>(op.getA().getType()), 1);
  // B/C rows streamed per step: G groups, one shared row, or none when
  // fixed over time ([Dm, N], a parameter read once).
  auto groupsOf = [](ShapedType t) -> Count {
    if (t.getRank() == 2)
      return Count(0);
    return t.getRank() == 4 ? dim(t, 1) : Count(1);
  };
  auto fixedBytes = [&](Value v) -> Count {
    return cast<ShapedType>(v.getType()).getRank() == 2 ? bytesOf(v) : Count(0);
  };

  OpCost c;
  c.opName = op->getName().getStringRef().str();
  c.accumulatorType = typeName(acc);
  c.seqLen = seqLenOverride > 0 ? Count(seqLenOverride) : dim(uTy, 2);
  Count sequences = sequencesOf(op.getCuSeqlens(), batch);
  c.stateElements = sequences * channels * n;
  c.stateBytes = c.stateElements * Count(ab);

  // Per channel and step: dt (+bias, softplus), dt*u, then per state index
  // exp(dt*A) [1 mul + 1 exp], h = dA*h + dtu*B [3], y += C*h [2]; D skip
  // [2]; gate out * z * sigmoid(z) [3 + 1 exp].
  int64_t flops = 1, trans = 0;
  if (op.getDeltaBias())
    flops += 1;
  if (op.getDeltaSoftplus()) {
    flops += 1;
    trans += 2;
  }
  if (op.getD())
    flops += 2;
  if (op.getZ()) {
    flops += 3;
    trans += 1;
  }
  Count perChannelFlops = Count(flops) + Count(6) * n;
  Count perChannelTrans = Count(trans) + n;
  c.flopsPerToken = batch * channels * perChannelFlops;
  c.transcendentalsPerToken = batch * channels * perChannelTrans;

  int64_t streams = 3 + (op.getZ() ? 1 : 0); // u, delta, out (+ z)
  c.bytesPerToken = batch * channels * Count(streams * eb) +
                    batch * (groupsOf(bTy) + groupsOf(cTy)) * n * Count(eb);

  c.paramBytes = bytesOf(op.getA()) + bytesOf(op.getD()) +
                 bytesOf(op.getDeltaBias()) + bytesOf(op.getH0()) +
                 bytesOf(op.getFinalState()) + bytesOf(op.getCuSeqlens()) +
                 bytesOf(op.getSeqIdx()) + fixedBytes(op.getB()) +
                 fixedBytes(op.getC());
  return c;
}

OpCost costOf(ssm::CausalConv1dOp op, int64_t seqLenOverride) {
  auto xTy = op.getX().getType();
  int64_t eb = elementBytes(xTy.getElementType());
  Count batch = dim(xTy, 0), chans = dim(xTy, 1),
        W = dim(cast<ShapedType>(op.getWeight().getType()), 1);
  OpCost c;
  c.opName = op->getName().getStringRef().str();
  c.accumulatorType = typeName(op.getAccumulatorType());
  c.seqLen = seqLenOverride > 0 ? Count(seqLenOverride) : dim(xTy, 2);
  // The last W - 1 inputs of every channel of every sequence (B, or the
  // packed sequences of cu_seqlens).
  Count states = batch;
  if (Value cu = op.getCuSeqlens()) {
    Count offsets = dim(cast<ShapedType>(cu.getType()), 0);
    states = offsets ? Count(*offsets - 1) : Count();
  }
  c.stateElements = W ? states * chans * Count(*W - 1) : Count();
  c.stateBytes = c.stateElements * Count(eb);
  c.flopsPerToken = batch * chans * (Count(2) * W + Count(op.getSilu() ? 3 : 0));
  c.transcendentalsPerToken = batch * chans * Count(op.getSilu() ? 1 : 0);
  c.bytesPerToken = batch * chans * Count(2 * eb);
  int64_t wb = elementBytes(getElementTypeOrSelf(op.getWeight().getType()));
  c.paramBytes = chans * W * Count(wb) +
                 (op.getBias() ? chans * Count(wb) : Count(0)) +
                 bytesOf(op.getCuSeqlens());
  return c;
}

/// One token of the conv: W taps per channel of every batch entry; the
/// state is the whole pool [P, D, S] (a ring buffer may hold more than the
/// W - 1 inputs the taps read).
OpCost costOf(ssm::CausalConv1dStepOp op) {
  auto xTy = op.getX().getType();
  auto sTy = cast<ShapedType>(op.getState().getType());
  int64_t eb = elementBytes(xTy.getElementType());
  int64_t sb = elementBytes(sTy.getElementType());
  Count batch = dim(xTy, 0), chans = dim(xTy, 1),
        W = dim(cast<ShapedType>(op.getWeight().getType()), 1);
  OpCost c;
  c.opName = op->getName().getStringRef().str();
  c.accumulatorType = typeName(op.getAccumulatorType());
  c.seqLen = Count(1);
  c.stateElements = dim(sTy, 0) * dim(sTy, 1) * dim(sTy, 2);
  c.stateBytes = c.stateElements * Count(sb);
  c.flopsPerToken = batch * chans * (Count(2) * W + Count(op.getSilu() ? 3 : 0));
  c.transcendentalsPerToken = batch * chans * Count(op.getSilu() ? 1 : 0);
  // x in, out back, the window read and one state entry written.
  c.bytesPerToken = batch * chans * (Count(2 * eb) + W * Count(sb));
  int64_t wb = elementBytes(getElementTypeOrSelf(op.getWeight().getType()));
  c.paramBytes = chans * W * Count(wb) +
                 (op.getBias() ? chans * Count(wb) : Count(0));
  return c;
}

OpCost costOf(ssm::SSDOp op, int64_t seqLenOverride) {
  auto xTy = op.getX().getType();
  auto bTy = cast<ShapedType>(op.getB().getType());
  Type acc = op.getAccumulatorType();
  int64_t eb = elementBytes(xTy.getElementType()), ab = elementBytes(acc);
  Count batch = dim(xTy, 0), heads = dim(xTy, 2), P = dim(xTy, 3),
        G = dim(bTy, 2), N = dim(bTy, 3);
  OpCost c;
  c.opName = op->getName().getStringRef().str();
  c.accumulatorType = typeName(acc);
  c.seqLen = seqLenOverride > 0 ? Count(seqLenOverride) : dim(xTy, 1);
  Count sequences = sequencesOf(op.getCuSeqlens(), batch);
  c.stateElements = sequences * heads * P * N;
  c.stateBytes = c.stateElements * Count(ab);
  // Per head and step: dt (+bias, softplus) and dt*A; per channel p: dt*x,
  // then per state index decay*h (1) + B*dtx (FMA, 2) + C*h (FMA, 2); D
  // skip (2) and z gate (3 + 1 exp) per channel.
  int64_t perChannel = 1 + (op.getD() ? 2 : 0) + (op.getZ() ? 3 : 0);
  int64_t perHead = 1 + (op.getDtBias() ? 1 : 0) + (op.getDtSoftplus() ? 1 : 0);
  c.flopsPerToken =
      batch * heads * (Count(perHead) + P * (Count(perChannel) + Count(5) * N));
  int64_t transPerHead = 1 + (op.getDtSoftplus() ? 2 : 0);
  c.transcendentalsPerToken =
      batch * heads * (Count(transPerHead) + (op.getZ() ? P : Count(0)));
  int64_t streams = 2 + (op.getZ() ? 1 : 0); // x, out (+ z)
  c.bytesPerToken = batch * (heads * (P * Count(streams) + Count(1)) +
                             Count(2) * G * N) * Count(eb);
  c.paramBytes = bytesOf(op.getA()) + bytesOf(op.getD()) +
                 bytesOf(op.getDtBias()) + bytesOf(op.getH0()) +
                 bytesOf(op.getFinalState()) + bytesOf(op.getCuSeqlens()) +
                 bytesOf(op.getSeqIdx());
  return c;
}

OpCost costOf(ssm::LinearAttentionOp op, int64_t seqLenOverride) {
  auto qTy = op.getQ().getType();
  auto vTy = op.getV().getType();
  Type acc = op.getAccumulatorType();
  int64_t eb = elementBytes(qTy.getElementType()), ab = elementBytes(acc);
  Count batch = dim(qTy, 0), heads = dim(qTy, 1), K = dim(qTy, 3),
        V = dim(vTy, 3);
  Count sequences = sequencesOf(op.getCuSeqlens(), batch);
  OpCost c;
  c.opName = op->getName().getStringRef().str();
  c.accumulatorType = typeName(acc);
  c.seqLen = seqLenOverride > 0 ? Count(seqLenOverride) : dim(qTy, 2);
  // The K x V state (and the K-vector normaliser) of every sequence and head.
  c.stateElements =
      sequences * heads * (K * V + (op.getNormalize() ? K : Count(0)));
  c.stateBytes = c.stateElements * Count(ab);
  // Per head and step: k v^T and S^T q (2 FMAs = 4 flops per state
  // element), the decay (1 mul per element), scale (K), feature maps (2K),
  // normalisation (z update and dot product 4K, one division per V).
  bool gated = static_cast<bool>(op.getGate());
  bool mapped = op.getFeatureMap() != ssm::FeatureMap::identity;
  Count perHead = K * V * Count(gated ? 5 : 4) + K;
  if (mapped)
    perHead = perHead + Count(2) * K;
  if (op.getNormalize())
    perHead = perHead + Count(4) * K + V;
  c.flopsPerToken = batch * heads * perHead;
  Count trans = Count(0);
  if (gated)
    trans = op.hasKeyGate() ? K : Count(1);
  if (op.getFeatureMap() == ssm::FeatureMap::elu_plus_one)
    trans = trans + Count(2) * K;
  c.transcendentalsPerToken = batch * heads * trans;
  Count gateBytes = Count(0);
  if (gated)
    gateBytes = (op.hasKeyGate() ? K : Count(1)) *
                Count(elementBytes(getElementTypeOrSelf(op.getGate().getType())));
  c.bytesPerToken = batch * heads *
                    ((Count(2) * K + Count(2) * V) * Count(eb) + gateBytes);
  // The states in and out: (h0, z0) and (final_state, final_z).
  c.paramBytes = bytesOf(op.getH0()) + bytesOf(op.getZ0()) +
                 bytesOf(op.getFinalState()) + bytesOf(op.getFinalZ()) +
                 bytesOf(op.getCuSeqlens());
  return c;
}

OpCost costOf(ssm::DeltaRuleOp op, int64_t seqLenOverride) {
  auto qTy = op.getQ().getType();
  auto vTy = op.getV().getType();
  Type acc = op.getAccumulatorType();
  int64_t eb = elementBytes(qTy.getElementType()), ab = elementBytes(acc);
  Count batch = dim(qTy, 0), keyHeads = dim(qTy, 2), K = dim(qTy, 3),
        heads = dim(vTy, 2), V = dim(vTy, 3);
  Count sequences = sequencesOf(op.getCuSeqlens(), batch);
  OpCost c;
  c.opName = op->getName().getStringRef().str();
  c.accumulatorType = typeName(acc);
  c.seqLen = seqLenOverride > 0 ? Count(seqLenOverride) : dim(qTy, 1);
  // The K x V state of every sequence and value head.
  c.stateElements = sequences * heads * K * V;
  c.stateBytes = c.stateElements * Count(ab);
  // Per value head and step: the read x^T S (2 flops per state element),
  // the rank-one update (2; DPLR: two, 4) and S^T q (2), the decay (1 per
  // element when gated); delta forms u = beta (v - p) (2V); per head the
  // scaled query and the read vector (2K). Per query/key head the l2
  // normalisation of q and k (3K each).
  bool gated = static_cast<bool>(op.getGate());
  int64_t perElement = (op.isDPLR() ? 8 : 6) + (gated ? 1 : 0);
  Count perHead = K * V * Count(perElement) + Count(2) * K +
                  (op.isDPLR() ? Count(0) : Count(2) * V);
  Count perKeyHead = op.getUseQkL2norm() ? Count(6) * K : Count(0);
  c.flopsPerToken = batch * (heads * perHead + keyHeads * perKeyHead);
  Count trans = gated ? (op.hasKeyGate() ? K : Count(1)) : Count(0);
  c.transcendentalsPerToken =
      batch * (heads * trans +
               keyHeads * (op.getUseQkL2norm() ? Count(2) : Count(0)));
  auto bytesPerStep = [&](Value v, Count perHeadElems) {
    if (!v)
      return Count(0);
    return perHeadElems *
           Count(elementBytes(getElementTypeOrSelf(v.getType())));
  };
  c.bytesPerToken =
      batch * (keyHeads * Count(2) * K * Count(eb) +
               heads * (Count(2) * V * Count(eb) +
                        bytesPerStep(op.getBeta(), Count(1)) +
                        bytesPerStep(op.getGate(),
                                     op.hasKeyGate() ? K : Count(1)) +
                        bytesPerStep(op.getA(), K) + bytesPerStep(op.getB(), K)));
  c.paramBytes = bytesOf(op.getH0()) + bytesOf(op.getFinalState()) +
                 bytesOf(op.getCuSeqlens());
  return c;
}

OpCost costOf(ssm::AttentionOp op, int64_t seqLenOverride) {
  auto qTy = op.getQ().getType();
  auto kTy = op.getK().getType();
  auto vTy = op.getV().getType();
  Type acc = op.getAccumulatorType();
  int64_t eb = elementBytes(qTy.getElementType());
  Count batch = dim(qTy, 0), heads = dim(qTy, 1), d = dim(qTy, 3),
        kvHeads = dim(kTy, 1), dv = dim(vTy, 3);
  Count qLen = seqLenOverride > 0 ? Count(seqLenOverride) : dim(qTy, 2);
  Count kLen = seqLenOverride > 0 ? Count(seqLenOverride) : dim(kTy, 2);
  std::optional<int64_t> left = op.getLeftWindow(), right = op.getRightWindow();
  // The keys a decoder keeps: the left window and the query's own key.
  std::optional<int64_t> window;
  if (left)
    window = *left + 1;
  // Keys query i sees: [pos - left, pos + right] within [0, Lk), pos
  // bottom-right aligned (FlashAttention's convention).
  auto visible = [&](int64_t i, int64_t lq, int64_t lk) -> int64_t {
    int64_t pos = i + lk - lq;
    int64_t lo = left ? std::max<int64_t>(0, pos - *left) : 0;
    int64_t hi = right ? std::min<int64_t>(lk, pos + *right + 1) : lk;
    return std::max<int64_t>(0, hi - lo);
  };
  OpCost c;
  c.opName = op->getName().getStringRef().str();
  c.accumulatorType = typeName(acc);
  c.seqLen = qLen;
  // The KV cache a decoder keeps: all keys, or the window's.
  Count cached = kLen;
  if (window && kLen)
    cached = std::min(*kLen, *window);
  c.stateElements = batch * kvHeads * cached * (d + dv);
  c.stateBytes = c.stateElements * Count(eb);
  // Per visible key: q.k (2d), softmax update (~5), p v (2dv); 2 exps.
  auto flopsFor = [&](Count keys) { return keys * (Count(2) * d + Count(2) * dv + Count(5)); };
  Count lastVisible;
  if (qLen && kLen)
    lastVisible = *qLen ? Count(visible(*qLen - 1, *qLen, *kLen)) : Count(0);
  c.flopsPerToken = batch * heads * flopsFor(lastVisible);
  // exp twice per key, and tanh with a softcap.
  const int64_t perKey = op.getSoftcapAttr() ? 3 : 2;
  c.transcendentalsPerToken = batch * heads * Count(perKey) * lastVisible;
  // The last query reads its keys and values once per KV head.
  c.bytesPerToken = batch * (heads * (d + dv) + kvHeads * lastVisible * (d + dv)) * Count(eb);
  c.paramBytes = bytesOf(op.getAlibiSlopes()) + bytesOf(op.getSinks()) +
                 bytesOf(op.getCuSeqlensQ()) + bytesOf(op.getCuSeqlensK()) +
                 bytesOf(op.getSequsedK());
  if (qLen && kLen) {
    int64_t keys = 0;
    for (int64_t i = 0; i < *qLen; ++i)
      keys += visible(i, *qLen, *kLen);
    c.exactTotalFlops = batch * heads * flopsFor(Count(keys));
    c.exactTotalTranscendentals = batch * heads * Count(perKey * keys);
    c.exactTotalBytes = batch * (heads * *qLen * (d + dv) + kvHeads * Count(keys) * (d + dv)) * Count(eb);
  } else {
    c.exactTotalFlops = c.exactTotalTranscendentals = c.exactTotalBytes = Count();
  }
  return c;
}

OpCost costOf(ssm::ScanOp op, int64_t seqLenOverride) {
  auto first = cast<ShapedType>(op.getInputs().front().getType());
  unsigned axis = op.getAxis();
  Count lanes = 1;
  for (unsigned i = 0; i < first.getRank(); ++i)
    if (i != axis)
      lanes = lanes * dim(first, i);

  int64_t bytesPerLane = 0;
  for (Value v : op.getInputs())
    bytesPerLane += elementBytes(getElementTypeOrSelf(v.getType()));

  int64_t flops = 0, trans = 0;
  for (Operation &inner : op.getCombiner().front().without_terminator()) {
    if (inner.getName().getDialectNamespace() == "math")
      ++trans;
    else if (inner.getName().getDialectNamespace() == "arith" &&
             !inner.hasTrait<OpTrait::ConstantLike>())
      ++flops;
  }

  OpCost c;
  c.opName = op->getName().getStringRef().str();
  c.accumulatorType = typeName(getElementTypeOrSelf(first));
  c.seqLen = seqLenOverride > 0 ? Count(seqLenOverride) : dim(first, axis);
  c.stateElements = lanes * Count(op.getInputs().size());
  c.stateBytes = lanes * Count(bytesPerLane);
  c.flopsPerToken = lanes * Count(flops);
  c.transcendentalsPerToken = lanes * Count(trans);
  c.bytesPerToken = lanes * Count(2 * bytesPerLane); // read input, write result
  c.paramBytes = Count(bytesPerLane) * Count(op.getInit().empty() ? 0 : 1);
  return c;
}

} // namespace

/// Tensor type `t` with a unit dimension inserted at `pos`.
Type withUnitDim(Type t, int64_t pos) {
  auto tt = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape(tt.getShape());
  shape.insert(shape.begin() + pos, 1);
  return RankedTensorType::get(shape, tt.getElementType());
}

/// Cost of a decode step: the cost of one token of the sequence op it
/// equals (its per-token numbers, with L = 1). The sequence op is built on
/// placeholder block arguments of the right types and discarded.
std::optional<OpCost> stepCost(Operation *step) {
  MLIRContext *ctx = step->getContext();
  Block scratch;
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(&scratch);
  Location loc = step->getLoc();
  auto arg = [&](Value v, std::optional<int64_t> unitAt) -> Value {
    if (!v)
      return Value();
    Type t = unitAt ? withUnitDim(v.getType(), *unitAt) : v.getType();
    return scratch.addArgument(t, loc);
  };
  auto atEnd = [](Value v) -> std::optional<int64_t> {
    return cast<ShapedType>(v.getType()).getRank();
  };
  Operation *seq = nullptr;
  if (auto op = dyn_cast<ssm::SelectiveScanStepOp>(step)) {
    seq = ssm::SelectiveScanOp::create(
        b, loc, withUnitDim(op.getOut().getType(), 2), op.getNewState().getType(),
        arg(op.getU(), 2), arg(op.getDelta(), 2), arg(op.getA(), {}),
        arg(op.getB(), atEnd(op.getB())), arg(op.getC(), atEnd(op.getC())),
        arg(op.getD(), {}), op.getZ() ? arg(op.getZ(), 2) : Value(),
        arg(op.getDeltaBias(), {}), arg(op.getState(), {}), Value(), Value(),
        op.getDeltaSoftplusAttr());
  } else if (auto op = dyn_cast<ssm::SSDStepOp>(step)) {
    seq = ssm::SSDOp::create(
        b, loc, withUnitDim(op.getOut().getType(), 1), op.getNewState().getType(),
        arg(op.getX(), 1), arg(op.getDt(), 1), arg(op.getA(), {}),
        arg(op.getB(), 1), arg(op.getC(), 1), arg(op.getD(), {}),
        op.getZ() ? arg(op.getZ(), 1) : Value(), arg(op.getDtBias(), {}),
        arg(op.getState(), {}), Value(), Value(), op.getDtSoftplusAttr(),
        op.getDtLimitAttr());
  } else if (auto op = dyn_cast<ssm::LinearAttentionStepOp>(step)) {
    seq = ssm::LinearAttentionOp::create(
        b, loc, withUnitDim(op.getOut().getType(), 2), op.getNewState().getType(),
        op.getNewZ() ? op.getNewZ().getType() : Type(), arg(op.getQ(), 2),
        arg(op.getK(), 2), arg(op.getV(), 2),
        op.getGate() ? arg(op.getGate(), 2) : Value(), arg(op.getState(), {}),
        op.getZ() ? arg(op.getZ(), {}) : Value(), Value(),
        op.getFeatureMapAttr(), op.getScaleAttr(), op.getNormalizeAttr(),
        op.getEpsAttr(), UnitAttr());
  } else if (auto op = dyn_cast<ssm::DeltaRuleStepOp>(step)) {
    auto one = [&](Value v) { return v ? arg(v, 1) : Value(); };
    seq = ssm::DeltaRuleOp::create(
        b, loc, withUnitDim(op.getOut().getType(), 1), op.getNewState().getType(),
        arg(op.getQ(), 1), arg(op.getK(), 1), arg(op.getV(), 1),
        one(op.getBeta()), one(op.getGate()), one(op.getA()), one(op.getB()),
        arg(op.getState(), {}), Value(), op.getScaleAttr(),
        op.getUseQkL2normAttr(), IntegerAttr());
  } else if (auto op = dyn_cast<ssm::AttentionStepOp>(step)) {
    // The query against a full cache (the step's largest cost); a window
    // limits it to the w most recent keys.
    seq = ssm::AttentionOp::create(
        b, loc, withUnitDim(op.getOut().getType(), 2), arg(op.getQ(), 2),
        arg(op.getKCache(), {}), arg(op.getVCache(), {}), Value(), Value(),
        Value(), Value(), Value(),
        op.getWindowAttr() ? b.getUnitAttr() : UnitAttr(), op.getWindowAttr(),
        IntegerAttr(), IntegerAttr(), op.getSoftcapAttr(), op.getScaleAttr());
  }
  if (!seq)
    return std::nullopt;
  std::optional<OpCost> c = estimateCost(seq);
  seq->erase();
  if (c)
    c->opName = step->getName().getStringRef().str();
  return c;
}

Count OpCost::totalFlops() const {
  return exactTotalFlops ? *exactTotalFlops : flopsPerToken * seqLen;
}
Count OpCost::totalTranscendentals() const {
  return exactTotalTranscendentals ? *exactTotalTranscendentals
                                   : transcendentalsPerToken * seqLen;
}
Count OpCost::totalBytes() const {
  return exactTotalBytes ? *exactTotalBytes
                         : bytesPerToken * seqLen + paramBytes;
}

std::optional<DPAnalysis> analyzeDP(Operation *operation,
                                    int64_t sizeOverride) {
  auto op = dyn_cast<ssm::DPOp>(operation);
  if (!op)
    return std::nullopt;
  DPAnalysis a;
  a.rank = op.getIndexRank();
  a.prefix = op.isPrefix();
  a.cellType = typeName(op.getCellType());
  for (int64_t d = 0; d < a.rank && d < 2; ++d) {
    APInt v;
    if (matchPattern(op.getSizes()[d], m_ConstantInt(&v)))
      a.sizes[d] = v.getSExtValue();
    else if (sizeOverride > 0)
      a.sizes[d] = sizeOverride;
  }
  a.cells = a.rank == 1 ? a.sizes[0] : a.sizes[0] * a.sizes[1];
  const int64_t cellBytes = elementBytes(op.getCellType());
  ssm::DPDependencyShape shape = ssm::getDependencyShape(op);
  a.rowsBack = shape.rowsBack;

  if (a.prefix) {
    a.window = a.cells ? Count(std::max<int64_t>(*a.cells - 1, 0)) : Count();
    a.windowText = "unbounded (prefix aggregation: every earlier cell)";
    Count t = a.sizes[0];
    a.work = t ? Count(*t + *t * (*t - 1) / 2) : Count();
    a.wavefrontWidth = 1;
    a.schedule = "sequential cells, each folding its prefix";
    a.storedCells = a.cells;
  } else if (a.rank == 1) {
    a.window = shape.rowsBack;
    a.windowText = "m = " + std::to_string(shape.rowsBack) + " cells";
    a.work = a.cells;
    a.wavefrontWidth = 1;
    a.schedule = "sequential";
    a.storedCells = std::max<int64_t>(shape.rowsBack, 1);
  } else {
    // Farthest back in row-major order: -di * T2 - dj for a dep; a fetch of
    // row -r may read column 0 from column T2 - 1: r * T2 + T2 - 1.
    Count t2 = a.sizes[1];
    Count far = 0;
    auto takeMax = [&](Count c) {
      far = (far && c) ? Count(std::max(*far, *c)) : Count();
    };
    for (ArrayRef<int64_t> off : op.getDepOffsets())
      takeMax(Count(-off[0]) * t2 + Count(-off[1]));
    for (int64_t r : op.getFetchRows())
      takeMax(Count(-r) * t2 + t2 + Count(-1));
    a.window = far;
    // The same, symbolically in T2 (the term of the farthest row wins for
    // any row length larger than the column offsets).
    int64_t coefT2 = 0, constant = 0;
    bool haveTerm = false;
    auto term = [&](int64_t k, int64_t c) {
      if (!haveTerm || k > coefT2 || (k == coefT2 && c > constant))
        coefT2 = k, constant = c;
      haveTerm = true;
    };
    for (ArrayRef<int64_t> off : op.getDepOffsets())
      term(-off[0], -off[1]);
    for (int64_t r : op.getFetchRows())
      term(-r + 1, -1);
    a.windowText = "m = " + (coefT2 == 1 ? std::string("T2")
                                         : std::to_string(coefT2) + " * T2");
    if (constant)
      a.windowText += (constant > 0 ? " + " : " - ") +
                      std::to_string(std::abs(constant));
    a.windowText += " cells";
    a.work = a.cells;
    if (shape.diagonal()) {
      a.schedule = "anti-diagonal wavefronts";
      a.wavefrontWidth = (a.sizes[0] && a.sizes[1])
                             ? Count(std::min(*a.sizes[0], *a.sizes[1]))
                             : Count();
      a.storedCells = Count(shape.diagBack + 1) * a.sizes[0];
    } else {
      a.schedule = shape.sameRow ? "rows, cells of a row in order"
                                 : "rows, cells of a row in parallel";
      a.wavefrontWidth = shape.sameRow ? Count(1) : t2;
      a.storedCells = Count(shape.rowsBack + 1) * t2;
    }
  }
  a.cotStateElements = a.window;
  a.cotStateBytes = a.window * Count(cellBytes);
  if (op.getOutput() == ssm::DPOutput::table)
    a.storedCells = a.cells;
  return a;
}

int64_t elementBytes(Type type) {
  if (type.isIndex())
    return 8;
  if (type.isIntOrFloat())
    return (type.getIntOrFloatBitWidth() + 7) / 8;
  return 0;
}

std::optional<OpCost> estimateCost(Operation *op, int64_t seqLenOverride) {
  if (auto conv = dyn_cast<ssm::CausalConv1dStepOp>(op))
    return costOf(conv);
  // A decode step costs one token of the sequence op it pairs with.
  if (auto seq = dyn_cast<ssm::SequenceOpInterface>(op); seq && seq.isDecodeStep())
    return stepCost(op);
  return llvm::TypeSwitch<Operation *, std::optional<OpCost>>(op)
      .Case<ssm::SelectiveScanOp, ssm::ScanOp, ssm::LinearAttentionOp,
            ssm::DeltaRuleOp, ssm::AttentionOp, ssm::SSDOp, ssm::CausalConv1dOp>(
          [&](auto concrete) { return costOf(concrete, seqLenOverride); })
      .Default([](Operation *) { return std::nullopt; });
}

std::string locationString(Location loc) {
  if (auto fileLoc = dyn_cast<FileLineColLoc>(loc))
    return (fileLoc.getFilename().str() + ":" +
            std::to_string(fileLoc.getLine()) + ":" +
            std::to_string(fileLoc.getColumn()));
  std::string s;
  llvm::raw_string_ostream os(s);
  loc.print(os);
  return s;
}

} // namespace ssmc
