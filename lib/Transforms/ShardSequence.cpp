//===- ShardSequence.cpp - sequence parallelism: one slice of L per rank --===//
//
// A recurrent op's slice maps its initial state affinely to its final state,
// S_out = P S_in + S_loc, with P diagonal (a product of decays). Each rank
// runs the op over its slice from a zero state (S_loc), computes P from the
// gates, gets its incoming state from the runtime's combine of every
// rank's (P, S_loc), and runs the slice again from that state. The program
// stays MPI-agnostic: the combine is one call into runtime/mpi, which is
// the identity on one rank.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Transforms/Passes.h"

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMSHARDSEQUENCE
#include "ssmc/Transforms/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kSeqDim = "ssm.seq_dim";
constexpr llvm::StringLiteral kSeqLast = "ssm.seq_last";
constexpr llvm::StringLiteral kCombineFn = "ssmcMpiCombineAffine";

/// Where an op keeps its sequence: the operands that carry L (with the
/// dimension), the dimension of L in its output, and its final states.
struct SequenceLayout {
  llvm::SmallVector<std::pair<Value, int64_t>> operands;
  int64_t outDim = -1;
  llvm::SmallVector<Value> finals;
};

/// The layout of a sequence op with a distributed form; failure (with the
/// reason on the op) for one without.
FailureOr<SequenceLayout> layoutOf(Operation *op) {
  SequenceLayout l;
  auto add = [&](Value v, int64_t dim) {
    if (v)
      l.operands.push_back({v, dim});
  };
  auto lastDim = [](Value v) {
    return cast<RankedTensorType>(v.getType()).getRank() - 1;
  };
  if (auto s = dyn_cast<ssm::SelectiveScanOp>(op)) {
    if (s.getCuSeqlens())
      return s.emitOpError("with cu_seqlens has no sequence-parallel form");
    add(s.getU(), 2), add(s.getDelta(), 2), add(s.getZ(), 2);
    add(s.getB(), lastDim(s.getB())), add(s.getC(), lastDim(s.getC()));
    l.outDim = 2;
    if (s.getFinalState())
      l.finals.push_back(s.getFinalState());
    return l;
  }
  if (auto s = dyn_cast<ssm::SSDOp>(op)) {
    if (s.getCuSeqlens())
      return s.emitOpError("with cu_seqlens has no sequence-parallel form");
    add(s.getX(), 1), add(s.getDt(), 1), add(s.getB(), 1), add(s.getC(), 1);
    add(s.getZ(), 1);
    l.outDim = 1;
    if (s.getFinalState())
      l.finals.push_back(s.getFinalState());
    return l;
  }
  if (auto s = dyn_cast<ssm::LinearAttentionOp>(op)) {
    if (s.getCuSeqlens())
      return s.emitOpError("with cu_seqlens has no sequence-parallel form");
    if (s.getReverse())
      return s.emitOpError("with reverse has no sequence-parallel form");
    add(s.getQ(), 2), add(s.getK(), 2), add(s.getV(), 2), add(s.getGate(), 2);
    l.outDim = 2;
    if (s.getFinalState())
      l.finals.push_back(s.getFinalState());
    if (s.getFinalZ())
      l.finals.push_back(s.getFinalZ());
    return l;
  }
  return op->emitOpError("has no sequence-parallel form yet "
                         "(ssm-shard-sequence distributes selective_scan, "
                         "ssd and linear_attention)");
}

RankedTensorType withDynamicDim(Type t, int64_t dim) {
  auto tt = cast<RankedTensorType>(t);
  llvm::SmallVector<int64_t> shape(tt.getShape());
  shape[dim] = ShapedType::kDynamic;
  return RankedTensorType::get(shape, tt.getElementType());
}

/// The analysis of one function: which values are slices of the sequence
/// (and along which dimension), which are final states.
struct FunctionPlan {
  llvm::DenseMap<Value, int64_t> seqDim;
  llvm::DenseSet<Value> finals;
  llvm::SmallVector<Operation *> ops;
};

LogicalResult planFunction(func::FuncOp fn, FunctionPlan &plan) {
  for (Operation &op : fn.getBody().front()) {
    if (isa<func::ReturnOp>(op))
      continue;
    bool sequenceOp = isa<ssm::SequenceOpInterface>(op);
    if (!sequenceOp) {
      for (Value v : op.getOperands())
        if (plan.seqDim.count(v) || plan.finals.count(v))
          return op.emitOpError(
              "uses a slice of the sequence or a final state; under "
              "ssm-shard-sequence only the sequence ops and the return may");
      if (op.getNumRegions())
        op.walk([&](Operation *inner) {
          if (isa<ssm::SequenceOpInterface>(inner))
            inner->emitOpError("inside a region cannot be distributed");
        });
      continue;
    }
    FailureOr<SequenceLayout> layout = layoutOf(&op);
    if (failed(layout))
      return failure();
    llvm::DenseSet<Value> seqOperands;
    for (auto [v, dim] : layout->operands) {
      seqOperands.insert(v);
      auto it = plan.seqDim.find(v);
      if (it != plan.seqDim.end()) {
        if (it->second != dim)
          return op.emitOpError("reads a sequence slice along dimension ")
                 << dim << " that is split along dimension " << it->second;
        continue;
      }
      auto arg = dyn_cast<BlockArgument>(v);
      if (!arg || arg.getOwner()->getParentOp() != fn)
        return op.emitOpError("sequence operand must be a function argument "
                              "or the output of a sequence op to be split");
      plan.seqDim[v] = dim;
    }
    for (Value v : op.getOperands())
      if (!seqOperands.count(v) && (plan.seqDim.count(v) || plan.finals.count(v)))
        return op.emitOpError("uses a slice of the sequence or a final state "
                              "as a non-sequence operand");
    Type acc = cast<ShapedType>(op.getResult(0).getType()).getElementType();
    for (Value f : layout->finals)
      if (!cast<ShapedType>(f.getType()).getElementType().isF32())
        return op.emitOpError("sequence parallelism needs f32 states");
    (void)acc;
    plan.seqDim[op.getResult(0)] = layout->outDim;
    for (Value f : layout->finals)
      plan.finals.insert(f);
    plan.ops.push_back(&op);
  }
  // A sequence argument is split once, so all of its uses must agree.
  for (BlockArgument arg : fn.getArguments())
    if (plan.seqDim.count(arg))
      for (Operation *user : arg.getUsers())
        if (!isa<ssm::SequenceOpInterface>(user))
          return user->emitOpError("uses sequence argument #")
                 << arg.getArgNumber() << ", which is split over the ranks";
  return success();
}

//===----------------------------------------------------------------------===//
// The emitted pieces: decay products, the combine call
//===----------------------------------------------------------------------===//

class ShardEmitter {
public:
  ShardEmitter(OpBuilder &b, Location loc) : b(b), loc(loc), f32(b.getF32Type()) {}

  /// x as f32 (extended or truncated).
  Value toF32(Value x) { return ssmc::detail::castFloat(b, loc, x, f32); }

  /// softplus(x) = log1p(exp(x)), x itself above 20.
  Value softplus(Value x) {
    Value big = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(20.0f));
    Value sp = math::Log1pOp::create(b, loc, math::ExpOp::create(b, loc, x));
    Value above = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, big);
    return arith::SelectOp::create(b, loc, above, x, sp);
  }

  Value dimSize(Value t, int64_t i) {
    return tensor::DimOp::create(b, loc, t, i);
  }

  /// A zero-filled f32 tensor of `shape` (sizes of `like`'s dims `dims`
  /// where dynamic).
  Value zeros(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<Value> dyn) {
    Value empty = tensor::EmptyOp::create(b, loc, shape, f32, dyn);
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  }

  /// sum over t of step(inputs at t): a reduction over the last of
  /// `loops` iteration dims into a tensor of the first loops-1 dims.
  Value sumOverSteps(ValueRange inputs, llvm::ArrayRef<AffineMap> maps,
                     llvm::ArrayRef<int64_t> outShape, llvm::ArrayRef<Value> dyn,
                     llvm::function_ref<Value(ValueRange)> step) {
    unsigned loops = maps.front().getNumDims();
    Value init = zeros(outShape, dyn);
    llvm::SmallVector<AffineMap> all(maps);
    llvm::SmallVector<AffineExpr> outExprs;
    for (unsigned i = 0; i + 1 < loops; ++i)
      outExprs.push_back(b.getAffineDimExpr(i));
    all.push_back(AffineMap::get(loops, 0, outExprs, b.getContext()));
    llvm::SmallVector<utils::IteratorType> its(loops, utils::IteratorType::parallel);
    its.back() = utils::IteratorType::reduction;
    return linalg::GenericOp::create(
               b, loc, init.getType(), inputs, init, all, its,
               [&](OpBuilder &nb, Location nl, ValueRange args) {
                 Value v = step(args.drop_back());
                 Value s = arith::AddFOp::create(nb, nl, args.back(), v);
                 linalg::YieldOp::create(nb, nl, s);
               })
        .getResult(0);
  }

  /// exp(body(inputs)) elementwise into a tensor of `shape`.
  Value expMap(ValueRange inputs, llvm::ArrayRef<AffineMap> maps,
               llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<Value> dyn,
               llvm::function_ref<Value(ValueRange)> body) {
    Value init = tensor::EmptyOp::create(b, loc, shape, f32, dyn);
    llvm::SmallVector<AffineMap> all(maps);
    all.push_back(b.getMultiDimIdentityMap(shape.size()));
    llvm::SmallVector<utils::IteratorType> its(shape.size(),
                                               utils::IteratorType::parallel);
    return linalg::GenericOp::create(
               b, loc, init.getType(), inputs, init, all, its,
               [&](OpBuilder &nb, Location nl, ValueRange args) {
                 Value e = math::ExpOp::create(nb, nl, body(args.drop_back()));
                 linalg::YieldOp::create(nb, nl, e);
               })
        .getResult(0);
  }

  AffineMap map(unsigned dims, llvm::ArrayRef<unsigned> results) {
    llvm::SmallVector<AffineExpr> e;
    for (unsigned r : results)
      e.push_back(b.getAffineDimExpr(r));
    return AffineMap::get(dims, 0, e, b.getContext());
  }

  /// The contiguous rank-1 f32 buffer of tensor `t` (an empty one for null).
  Value flatBuffer(Value t) {
    auto flatType = MemRefType::get({ShapedType::kDynamic}, f32);
    if (!t) {
      Value none = memref::AllocaOp::create(b, loc, MemRefType::get({0}, f32));
      return memref::CastOp::create(b, loc, flatType, none);
    }
    return flatten(ssmc::detail::toBuffer(b, loc, t));
  }

  Value flatten(Value m) {
    auto mt = cast<MemRefType>(m.getType());
    ReassociationIndices all;
    for (int64_t i = 0; i < mt.getRank(); ++i)
      all.push_back(i);
    Value flat = memref::CollapseShapeOp::create(b, loc, m, {all});
    return memref::CastOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, f32), flat);
  }

  /// The incoming state of this rank: ssmcMpiCombineAffine(P, Sloc, h0).
  Value combine(ModuleOp module, Value decay, Value sloc, Value h0) {
    declareCombine(module);
    auto st = cast<RankedTensorType>(sloc.getType());
    llvm::SmallVector<Value> sizes;
    for (int64_t i = 0; i < st.getRank(); ++i)
      sizes.push_back(dimSize(sloc, i));
    Value sin = ssmc::detail::allocLike(b, loc, st, sizes);
    func::CallOp::create(b, loc, kCombineFn, TypeRange{},
                         ValueRange{flatBuffer(decay), flatBuffer(sloc),
                                    flatBuffer(h0), flatten(sin)});
    return ssmc::detail::toTensor(b, loc, st, sin);
  }

  void declareCombine(ModuleOp module) {
    if (module.lookupSymbol(kCombineFn))
      return;
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto flat = MemRefType::get({ShapedType::kDynamic}, f32);
    auto fn = func::FuncOp::create(mb, loc, kCombineFn,
                                   mb.getFunctionType({flat, flat, flat, flat}, {}));
    fn.setPrivate();
    fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
  }

  OpBuilder &b;
  Location loc;
  Type f32;
};

/// Sizes of the dims `dims` of `t` that are dynamic in `shape`.
llvm::SmallVector<Value> dynSizes(ShardEmitter &e, llvm::ArrayRef<int64_t> shape,
                                  llvm::ArrayRef<std::pair<Value, int64_t>> from) {
  llvm::SmallVector<Value> out;
  for (auto [i, s] : llvm::enumerate(shape))
    if (ShapedType::isDynamic(s))
      out.push_back(e.dimSize(from[i].first, from[i].second));
  return out;
}

//===----------------------------------------------------------------------===//
// One rewrite per op
//===----------------------------------------------------------------------===//

/// selective_scan: P[b,d,n] = exp(A[d,n] * sum_t dt[b,d,t]).
void shardSelectiveScan(ModuleOp module, ssm::SelectiveScanOp op) {
  OpBuilder b(op);
  ShardEmitter e(b, op.getLoc());
  auto uT = cast<RankedTensorType>(op.getU().getType());
  auto aT = cast<RankedTensorType>(op.getA().getType());
  llvm::SmallVector<int64_t> bd{uT.getDimSize(0), uT.getDimSize(1)};
  llvm::SmallVector<int64_t> bdn{bd[0], bd[1], aT.getDimSize(1)};
  auto stateT = op.getFinalState()
                    ? cast<RankedTensorType>(op.getFinalState().getType())
                    : RankedTensorType::get(bdn, e.f32);
  auto local = ssm::SelectiveScanOp::create(
      b, op.getLoc(), op.getOut().getType(), stateT, op.getU(), op.getDelta(),
      op.getA(), op.getB(), op.getC(), op.getD(), op.getZ(),
      op.getDeltaBias(), Value(), Value(), op.getDeltaSoftplusAttr());
  // sum_t dt over the slice.
  llvm::SmallVector<Value> ins{op.getDelta()};
  llvm::SmallVector<AffineMap> maps{e.map(3, {0, 1, 2})};
  if (op.getDeltaBias()) {
    ins.push_back(op.getDeltaBias());
    maps.push_back(e.map(3, {1}));
  }
  bool softplus = op.getDeltaSoftplus();
  Value u = op.getU();
  Value dtSum = e.sumOverSteps(
      ins, maps, bd, dynSizes(e, bd, {{u, 0}, {u, 1}}), [&](ValueRange a) {
        Value dt = e.toF32(a[0]);
        if (a.size() > 1)
          dt = arith::AddFOp::create(b, e.loc, dt, e.toF32(a[1]));
        return softplus ? e.softplus(dt) : dt;
      });
  Value decay = e.expMap(
      ValueRange{op.getA(), dtSum}, {e.map(3, {1, 2}), e.map(3, {0, 1})}, bdn,
      dynSizes(e, bdn, {{u, 0}, {u, 1}, {op.getA(), 1}}), [&](ValueRange a) {
        return arith::MulFOp::create(b, e.loc, e.toF32(a[0]), a[1]);
      });
  Value sin = e.combine(module, decay, local.getFinalState(), op.getH0());
  auto full = ssm::SelectiveScanOp::create(
      b, op.getLoc(), op.getOut().getType(),
      op.getFinalState() ? stateT : Type(), op.getU(), op.getDelta(),
      op.getA(), op.getB(), op.getC(), op.getD(), op.getZ(),
      op.getDeltaBias(), sin, Value(), op.getDeltaSoftplusAttr());
  op->replaceAllUsesWith(full->getResults());
  op->erase();
}

/// ssd: P[b,h] = exp(A[h] * sum_t dt[b,t,h]), each scaling P*N state
/// elements.
void shardSSD(ModuleOp module, ssm::SSDOp op) {
  OpBuilder b(op);
  ShardEmitter e(b, op.getLoc());
  auto xT = cast<RankedTensorType>(op.getX().getType());
  auto bT = cast<RankedTensorType>(op.getB().getType());
  llvm::SmallVector<int64_t> bh{xT.getDimSize(0), xT.getDimSize(2)};
  llvm::SmallVector<int64_t> bhpn{bh[0], bh[1], xT.getDimSize(3),
                                  bT.getDimSize(3)};
  auto stateT = op.getFinalState()
                    ? cast<RankedTensorType>(op.getFinalState().getType())
                    : RankedTensorType::get(bhpn, e.f32);
  auto local = ssm::SSDOp::create(
      b, op.getLoc(), op.getOut().getType(), stateT, op.getX(), op.getDt(),
      op.getA(), op.getB(), op.getC(), op.getD(), op.getZ(), op.getDtBias(),
      Value(), Value(), op.getDtSoftplusAttr(), op.getDtLimitAttr());
  llvm::SmallVector<Value> ins{op.getDt()};
  llvm::SmallVector<AffineMap> maps{e.map(3, {0, 2, 1})};
  if (op.getDtBias()) {
    ins.push_back(op.getDtBias());
    maps.push_back(e.map(3, {1}));
  }
  bool softplus = op.getDtSoftplus();
  std::optional<llvm::ArrayRef<double>> limit = op.getDtLimit();
  Value x = op.getX();
  Value dtSum = e.sumOverSteps(
      ins, maps, bh, dynSizes(e, bh, {{x, 0}, {x, 2}}), [&](ValueRange a) {
        Value dt = e.toF32(a[0]);
        if (a.size() > 1)
          dt = arith::AddFOp::create(b, e.loc, dt, e.toF32(a[1]));
        if (softplus)
          dt = e.softplus(dt);
        if (limit) {
          auto c = [&](double v) -> Value {
            return arith::ConstantOp::create(b, e.loc,
                                             b.getF32FloatAttr(float(v)));
          };
          dt = arith::MaximumFOp::create(b, e.loc, dt, c((*limit)[0]));
          dt = arith::MinimumFOp::create(b, e.loc, dt, c((*limit)[1]));
        }
        return dt;
      });
  Value decay = e.expMap(
      ValueRange{op.getA(), dtSum}, {e.map(2, {1}), e.map(2, {0, 1})}, bh,
      dynSizes(e, bh, {{x, 0}, {x, 2}}), [&](ValueRange a) {
        return arith::MulFOp::create(b, e.loc, e.toF32(a[0]), a[1]);
      });
  Value sin = e.combine(module, decay, local.getFinalState(), op.getH0());
  auto full = ssm::SSDOp::create(
      b, op.getLoc(), op.getOut().getType(),
      op.getFinalState() ? stateT : Type(), op.getX(), op.getDt(), op.getA(),
      op.getB(), op.getC(), op.getD(), op.getZ(), op.getDtBias(), sin,
      Value(), op.getDtSoftplusAttr(), op.getDtLimitAttr());
  op->replaceAllUsesWith(full->getResults());
  op->erase();
}

/// linear_attention: P = exp(sum_t gate) per (b,h) or, for GLA, per
/// (b,h,k); the identity without a gate. The normaliser z decays with the
/// same P.
void shardLinearAttention(ModuleOp module, ssm::LinearAttentionOp op) {
  OpBuilder b(op);
  ShardEmitter e(b, op.getLoc());
  auto qT = cast<RankedTensorType>(op.getQ().getType());
  auto vT = cast<RankedTensorType>(op.getV().getType());
  int64_t B = qT.getDimSize(0), H = qT.getDimSize(1), K = qT.getDimSize(3),
          V = vT.getDimSize(3);
  auto stateT = op.getFinalState()
                    ? cast<RankedTensorType>(op.getFinalState().getType())
                    : RankedTensorType::get({B, H, K, V}, e.f32);
  bool normalize = op.getNormalize();
  auto zT = op.getFinalZ() ? cast<RankedTensorType>(op.getFinalZ().getType())
                           : RankedTensorType::get({B, H, K}, e.f32);
  auto make = [&](Type fin, Type finZ, Value h0, Value z0) {
    return ssm::LinearAttentionOp::create(
        b, op.getLoc(), op.getOut().getType(), fin, finZ, op.getQ(),
        op.getK(), op.getV(), op.getGate(), h0, z0, Value(),
        op.getFeatureMapAttr(), op.getScaleAttr(), op.getNormalizeAttr(),
        op.getEpsAttr(), op.getReverseAttr());
  };
  auto local = make(stateT, normalize ? Type(zT) : Type(), Value(), Value());
  Value decay;
  Value q = op.getQ();
  if (Value gate = op.getGate()) {
    auto gT = cast<RankedTensorType>(gate.getType());
    bool perKey = gT.getRank() == 4;
    llvm::SmallVector<int64_t> shape{B, H};
    llvm::SmallVector<std::pair<Value, int64_t>> from{{q, 0}, {q, 1}};
    AffineMap m = e.map(3, {0, 1, 2});
    if (perKey) {
      shape.push_back(K);
      from.push_back({q, 3});
      m = e.map(4, {0, 1, 3, 2});
    }
    Value sum = e.sumOverSteps(gate, m, shape, dynSizes(e, shape, from),
                               [&](ValueRange a) { return e.toF32(a[0]); });
    decay = e.expMap(sum, b.getMultiDimIdentityMap(shape.size()), shape,
                     dynSizes(e, shape, from),
                     [&](ValueRange a) { return a[0]; });
  }
  Value sin = e.combine(module, decay, local.getFinalState(), op.getH0());
  Value zin;
  if (normalize)
    zin = e.combine(module, decay, local.getFinalZ(), op.getZ0());
  auto full = make(op.getFinalState() ? Type(stateT) : Type(),
                   op.getFinalZ() ? Type(zT) : Type(), sin, zin);
  op->replaceAllUsesWith(full->getResults());
  op->erase();
}

struct SSMShardSequencePass
    : public ssmc::impl::SSMShardSequenceBase<SSMShardSequencePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::SmallVector<func::FuncOp> fns;
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal())
        fns.push_back(fn);
    for (func::FuncOp fn : fns)
      if (failed(shardFunction(module, fn)))
        return signalPassFailure();
  }

  LogicalResult shardFunction(ModuleOp module, func::FuncOp fn) {
    if (!fn.getBody().hasOneBlock())
      return fn.emitOpError("with more than one block cannot be distributed");
    FunctionPlan plan;
    if (failed(planFunction(fn, plan)))
      return failure();
    // L becomes dynamic: every rank holds a slice of its own length.
    for (BlockArgument arg : fn.getArguments())
      if (auto it = plan.seqDim.find(arg); it != plan.seqDim.end()) {
        arg.setType(withDynamicDim(arg.getType(), it->second));
        fn.setArgAttr(arg.getArgNumber(), kSeqDim,
                      IntegerAttr::get(IntegerType::get(fn.getContext(), 64),
                                       it->second));
      }
    for (Operation *op : plan.ops)
      op->getResult(0).setType(
          withDynamicDim(op->getResult(0).getType(), plan.seqDim[op->getResult(0)]));
    for (Operation *op : plan.ops) {
      if (auto s = dyn_cast<ssm::SelectiveScanOp>(op))
        shardSelectiveScan(module, s);
      else if (auto s = dyn_cast<ssm::SSDOp>(op))
        shardSSD(module, s);
      else if (auto s = dyn_cast<ssm::LinearAttentionOp>(op))
        shardLinearAttention(module, s);
    }
    // Results: slices along their dimension, final states from the last
    // rank, everything else replicated.
    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    llvm::SmallVector<Type> results;
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      results.push_back(v.getType());
      Operation *def = v.getDefiningOp();
      if (def && isa<ssm::SequenceOpInterface>(def)) {
        if (v == def->getResult(0))
          fn.setResultAttr(i, kSeqDim,
                           IntegerAttr::get(IntegerType::get(fn.getContext(), 64),
                                            isa<ssm::SSDOp>(def) ? 1 : 2));
        else
          fn.setResultAttr(i, kSeqLast, UnitAttr::get(fn.getContext()));
      } else if (auto arg = dyn_cast<BlockArgument>(v);
                 arg && fn.getArgAttr(arg.getArgNumber(), kSeqDim)) {
        fn.setResultAttr(i, kSeqDim, fn.getArgAttr(arg.getArgNumber(), kSeqDim));
      }
    }
    fn.setType(FunctionType::get(fn.getContext(), fn.getBody().getArgumentTypes(), results));
    return success();
  }
};

} // namespace
