//===- ShardSequence.cpp - sequence parallelism: one slice of L per rank --===//
//
// A recurrent op's slice maps its initial state affinely to its final state,
// S_out = P S_in + S_loc, with P diagonal (a product of decays) or, for
// ssm.delta_rule, a dense K x K matrix per head. Each rank runs the op over
// its slice from a zero state (S_loc), computes P from the gates (delta_rule:
// the op from the identity with v = 0), gets its incoming state from the
// runtime's combine of every rank's (P, S_loc), and runs the slice again
// from that state (delta_rule with f32 outputs: corrects them). The program
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
#include "mlir/Dialect/SCF/IR/SCF.h"
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
constexpr llvm::StringLiteral kCombineMatrixFn = "ssmcMpiCombineMatrix";
constexpr llvm::StringLiteral kRankFn = "ssmcMpiRank";
constexpr llvm::StringLiteral kStepSumsFn = "ssmcMpiStepSums";
constexpr llvm::StringLiteral kSizeFn = "ssmcMpiSize";
constexpr llvm::StringLiteral kCombineReverseFn = "ssmcMpiCombineAffineReverse";
constexpr llvm::StringLiteral kPrefixSumsFn = "ssmcMpiStepPrefixSums";

constexpr llvm::StringLiteral kLocalSeqlensFn = "ssmcMpiLocalSeqlens";
constexpr llvm::StringLiteral kSegmentSumsFn = "ssmcMpiSegmentSums";

/// Whether every value present is an f32 tensor.
bool allF32Values(std::initializer_list<Value> values) {
  return llvm::all_of(values, [](Value v) {
    return !v || cast<ShapedType>(v.getType()).getElementType().isF32();
  });
}

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
    if (s.getCuSeqlens() && !allF32Values({s.getDelta(), s.getDeltaBias()}))
      return s.emitOpError("with cu_seqlens needs f32 delta and delta_bias "
                           "to be distributed (the sums per sequence are "
                           "f32)");
    if (s.getSeqIdx())
      return s.emitOpError("with seq_idx has no sequence-parallel form");
    add(s.getU(), 2), add(s.getDelta(), 2), add(s.getZ(), 2);
    // B and C fixed over time ([D, N]) are not sliced: every rank reads them
    // whole.
    for (Value bc : {s.getB(), s.getC()})
      if (cast<RankedTensorType>(bc.getType()).getRank() >= 3)
        add(bc, lastDim(bc));
    l.outDim = 2;
    if (s.getFinalState())
      l.finals.push_back(s.getFinalState());
    return l;
  }
  if (auto s = dyn_cast<ssm::SSDOp>(op)) {
    if (s.getCuSeqlens() && !allF32Values({s.getDt(), s.getDtBias()}))
      return s.emitOpError("with cu_seqlens needs f32 dt and dt_bias to be "
                           "distributed (the sums per sequence are f32)");
    if (s.getSeqIdx())
      return s.emitOpError("with seq_idx has no sequence-parallel form");
    add(s.getX(), 1), add(s.getDt(), 1), add(s.getB(), 1), add(s.getC(), 1);
    add(s.getZ(), 1);
    l.outDim = 1;
    if (s.getFinalState())
      l.finals.push_back(s.getFinalState());
    return l;
  }
  if (auto s = dyn_cast<ssm::LinearAttentionOp>(op)) {
    if (s.getCuSeqlens() && s.getGate() &&
        (cast<RankedTensorType>(s.getGate().getType()).getRank() != 3 ||
         !allF32Values({s.getGate()})))
      return s.emitOpError("with cu_seqlens is distributed with an f32 "
                           "scalar gate per step or none, not a gate per key "
                           "dimension or of another type");
    if (s.getReverse() && s.getCuSeqlens())
      return s.emitOpError("with reverse and cu_seqlens has no "
                           "sequence-parallel form");
    add(s.getQ(), 2), add(s.getK(), 2), add(s.getV(), 2), add(s.getGate(), 2);
    l.outDim = 2;
    if (s.getFinalState())
      l.finals.push_back(s.getFinalState());
    if (s.getFinalZ())
      l.finals.push_back(s.getFinalZ());
    return l;
  }
  if (auto s = dyn_cast<ssm::CausalConv1dOp>(op)) {
    if (!cast<ShapedType>(s.getX().getType()).getElementType().isF32())
      return s.emitOpError("sequence parallelism of the convolution needs f32 "
                           "inputs (the halo is exchanged as f32)");
    add(s.getX(), 2);
    l.outDim = 2;
    if (s.getFinalState())
      l.finals.push_back(s.getFinalState());
    return l;
  }
  if (auto s = dyn_cast<ssm::DeltaRuleOp>(op)) {
    if (cast<ShapedType>(s.getV().getType()).getElementType().isF64())
      return s.emitOpError("sequence parallelism needs f32 states (f64 "
                           "programs keep an f64 state)");
    add(s.getQ(), 1), add(s.getK(), 1), add(s.getV(), 1);
    add(s.getBeta(), 1), add(s.getGate(), 1), add(s.getA(), 1),
        add(s.getB(), 1);
    l.outDim = 1;
    if (s.getFinalState())
      l.finals.push_back(s.getFinalState());
    return l;
  }
  if (auto s = dyn_cast<ssm::AttentionOp>(op)) {
    // Every form (causal or not, windows, packed sequences, seqused_k)
    // runs on the ring; the offsets and key counts are replicated.
    for (Value t : {s.getQ(), s.getK(), s.getV(), s.getAlibiSlopes(),
                    s.getSinks()})
      if (t && !cast<ShapedType>(t.getType()).getElementType().isF32())
        return s.emitOpError("sequence parallelism of attention needs f32 "
                             "operands (the K/V blocks travel as f32)");
    add(s.getQ(), 2), add(s.getK(), 2), add(s.getV(), 2);
    l.outDim = 2;
    return l;
  }
  return op->emitOpError("has no sequence-parallel form yet "
                         "(ssm-shard-sequence distributes selective_scan, "
                         "ssd, linear_attention, delta_rule, causal_conv1d "
                         "and attention)");
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
  /// Final states of scans that run right to left: the state after step
  /// 0, which rank 0 ends with (not marked ssm.seq_last).
  llvm::DenseSet<Value> firstRankFinals;
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
    for (Value f : layout->finals)
      if (!cast<ShapedType>(f.getType()).getElementType().isF32())
        return op.emitOpError("sequence parallelism needs f32 states");
    plan.seqDim[op.getResult(0)] = layout->outDim;
    for (Value f : layout->finals)
      plan.finals.insert(f);
    if (auto la = dyn_cast<ssm::LinearAttentionOp>(op); la && la.getReverse())
      plan.firstRankFinals.insert(layout->finals.begin(), layout->finals.end());
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

  /// A zero-filled f32 tensor of `shape` (`dyn`: its dynamic sizes).
  Value zeros(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<Value> dyn) {
    Value empty = tensor::EmptyOp::create(b, loc, shape, f32, dyn);
    Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
    return linalg::FillOp::create(b, loc, zero, empty).getResult(0);
  }

  /// A linalg.generic with every loop parallel over `init`'s index space,
  /// writing `init` through the identity map; `ins` are read through
  /// `inMaps`. `body` gets the inputs' elements, then init's, and yields.
  Value parallelGeneric(
      Value init, ValueRange ins, llvm::ArrayRef<AffineMap> inMaps,
      llvm::function_ref<void(OpBuilder &, Location, ValueRange)> body) {
    unsigned rank = cast<RankedTensorType>(init.getType()).getRank();
    llvm::SmallVector<AffineMap> maps(inMaps);
    maps.push_back(b.getMultiDimIdentityMap(rank));
    return linalg::GenericOp::create(b, loc, init.getType(), ins, init, maps,
                                     llvm::SmallVector<utils::IteratorType>(
                                         rank, utils::IteratorType::parallel),
                                     body)
        .getResult(0);
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
    return parallelGeneric(
        init, inputs, maps, [&](OpBuilder &nb, Location nl, ValueRange args) {
          Value e = math::ExpOp::create(nb, nl, body(args.drop_back()));
          linalg::YieldOp::create(nb, nl, e);
        });
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

  /// The incoming state of this rank: ssmcMpiCombineAffine(P, S, Sin),
  /// where rank 0 gives its final state as S (its P is not used) and the
  /// others their zero-state final state and decay. With `matrixK` (an
  /// i64), P is dense, blocks of matrixK x matrixK multiplying the state
  /// from the left: ssmcMpiCombineMatrix. With `reverse` the ranks run
  /// right to left (the last rank gives its final state):
  /// ssmcMpiCombineAffineReverse.
  Value combine(ModuleOp module, Value decay, Value sloc,
                Value matrixK = Value(), bool reverse = false) {
    if (reverse)
      declareRuntime(module, kCombineReverseFn,
                     b.getFunctionType({flatType(), flatType(), flatType()}, {}),
                     true);
    else
      declareCombine(module, /*matrix=*/bool(matrixK));
    auto st = cast<RankedTensorType>(sloc.getType());
    llvm::SmallVector<Value> sizes;
    for (int64_t i = 0; i < st.getRank(); ++i)
      sizes.push_back(dimSize(sloc, i));
    Value sin = ssmc::detail::allocLike(b, loc, st, sizes);
    llvm::SmallVector<Value> args{flatBuffer(decay), flatBuffer(sloc),
                                  flatten(sin)};
    if (matrixK)
      args.push_back(matrixK);
    func::CallOp::create(b, loc,
                         matrixK   ? kCombineMatrixFn
                         : reverse ? kCombineReverseFn
                                   : kCombineFn,
                         TypeRange{}, args);
    return ssmc::detail::toTensor(b, loc, st, sin);
  }

  /// A private declaration of runtime function `name` (once), with its C
  /// interface when `ciface`.
  void declareRuntime(ModuleOp module, llvm::StringRef name, FunctionType type,
                      bool ciface) {
    if (module.lookupSymbol(name))
      return;
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto fn = func::FuncOp::create(mb, loc, name, type);
    fn.setPrivate();
    if (ciface)
      fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
  }

  void declareRank(ModuleOp module) {
    declareRuntime(module, kRankFn, b.getFunctionType({}, {b.getI64Type()}),
                   false);
  }

  /// ssmcMpiCombineAffine(P, S, Sin) or, `matrix`,
  /// ssmcMpiCombineMatrix(P, S, Sin, k).
  void declareCombine(ModuleOp module, bool matrix) {
    auto flat = MemRefType::get({ShapedType::kDynamic}, f32);
    if (matrix)
      declareRuntime(module, kCombineMatrixFn,
                     b.getFunctionType({flat, flat, flat, b.getI64Type()}, {}),
                     true);
    else
      declareRuntime(module, kCombineFn,
                     b.getFunctionType({flat, flat, flat}, {}), true);
  }

  /// sum_t f(x + bias) over the steps (dimension `timeDim` of the 3-D f32
  /// tensor x) into an f32 tensor of `shape`: ssmcMpiStepSums, whose
  /// softplus is vectorised (an exp and a log1p per step would cost as much
  /// as the scan).
  Value stepSums(ModuleOp module, Value x, Value bias, int64_t timeDim,
                 bool softplus, std::optional<llvm::ArrayRef<double>> limit,
                 llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<Value> dyn) {
    if (!module.lookupSymbol(kStepSumsFn)) {
      OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
      auto fn = func::FuncOp::create(
          mb, loc, kStepSumsFn,
          mb.getFunctionType({dynMemRef(3), dynMemRef(1), dynMemRef(2),
                              mb.getI64Type(), mb.getI64Type(), f32, f32},
                             {}));
      fn.setPrivate();
      fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
    }
    auto outT = RankedTensorType::get(shape, f32);
    llvm::SmallVector<Value> sizes;
    for (auto [i, d] : llvm::enumerate(shape))
      sizes.push_back(ShapedType::isDynamic(d) ? dyn[llvm::count_if(
                                                     shape.take_front(i),
                                                     ShapedType::isDynamic)]
                                               : Value());
    Value out = ssmc::detail::allocLike(b, loc, outT, sizes);
    auto cst = [&](double v) -> Value {
      return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
    };
    auto i64 = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(b, loc, v, 64);
    };
    Value xm = memref::CastOp::create(b, loc, dynMemRef(3),
                                      ssmc::detail::toBuffer(b, loc, x));
    func::CallOp::create(
        b, loc, kStepSumsFn, TypeRange{},
        ValueRange{xm, flatBuffer(bias),
                   memref::CastOp::create(b, loc, dynMemRef(2), out),
                   i64(timeDim), i64(softplus),
                   cst(limit ? (*limit)[0] : -INFINITY),
                   cst(limit ? (*limit)[1] : INFINITY)});
    return ssmc::detail::toTensor(b, loc, outT, out);
  }

  /// Packed sequences: this rank's offsets [S + 1] (i64) of the program's
  /// `cu` for its slice, whose length is dimension `dim` of `seq`
  /// (ssmcMpiLocalSeqlens, a collective: every rank calls it in turn).
  Value localSeqlens(ModuleOp module, Value cu, Value seq, int64_t dim) {
    Type i64 = b.getI64Type();
    auto flat = MemRefType::get({ShapedType::kDynamic}, i64);
    if (!module.lookupSymbol(kLocalSeqlensFn)) {
      OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
      auto fn = func::FuncOp::create(mb, loc, kLocalSeqlensFn,
                                     mb.getFunctionType({flat, i64, flat}, {}));
      fn.setPrivate();
      fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
    }
    auto t64 = RankedTensorType::get(
        cast<RankedTensorType>(cu.getType()).getShape(), i64);
    llvm::SmallVector<Value> n{dimSize(cu, 0)};
    Value in = flatI64Buffer(cu);
    Value out = ssmc::detail::allocLike(b, loc, t64, n);
    Value len = arith::IndexCastOp::create(b, loc, i64, dimSize(seq, dim));
    func::CallOp::create(b, loc, kLocalSeqlensFn, TypeRange{},
                         ValueRange{in, len,
                                    memref::CastOp::create(b, loc, flat, out)});
    return ssmc::detail::toTensor(b, loc, t64, out);
  }

  /// The rank-1 integer tensor `t` (i32 or i64) as i64.
  Value extendToI64(Value t) {
    Type i64 = b.getI64Type();
    auto tt = cast<RankedTensorType>(t.getType());
    if (tt.getElementType().isInteger(64))
      return t;
    auto t64 = RankedTensorType::get(tt.getShape(), i64);
    llvm::SmallVector<Value> n;
    if (tt.isDynamicDim(0))
      n.push_back(dimSize(t, 0));
    Value init = tensor::EmptyOp::create(b, loc, t64.getShape(), i64, n);
    AffineMap id = b.getMultiDimIdentityMap(1);
    return linalg::GenericOp::create(
               b, loc, t64, t, init, llvm::ArrayRef<AffineMap>{id, id},
               llvm::ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
               [&](OpBuilder &nb, Location nl, ValueRange a) {
                 linalg::YieldOp::create(
                     nb, nl, Value(arith::ExtSIOp::create(nb, nl, i64, a[0])));
               })
        .getResult(0);
  }

  /// The rank-1 i64 buffer of integer tensor `t` (i32 extended; an empty
  /// one for null).
  Value flatI64Buffer(Value t) {
    auto flat = MemRefType::get({ShapedType::kDynamic}, b.getI64Type());
    if (!t) {
      Value none = memref::AllocaOp::create(
          b, loc, MemRefType::get({0}, b.getI64Type()));
      return memref::CastOp::create(b, loc, flat, none);
    }
    return memref::CastOp::create(
        b, loc, flat, ssmc::detail::toBuffer(b, loc, extendToI64(t)));
  }

  /// The number of packed sequences S of offsets `cu` [S + 1] (index).
  Value sequenceCount(Value cu) {
    Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
    return arith::SubIOp::create(b, loc, dimSize(cu, 0), c1);
  }

  /// stepSums per packed sequence: [S, cols] from x [1, A1, A2] and this
  /// slice's offsets `cu` (i64 [S + 1]); `S` and `cols` are the sizes.
  Value segmentSums(ModuleOp module, Value x, Value bias, Value cu,
                    int64_t timeDim, bool softplus,
                    std::optional<llvm::ArrayRef<double>> limit,
                    llvm::ArrayRef<int64_t> shape, Value S, Value cols) {
    auto flat64 = MemRefType::get({ShapedType::kDynamic}, b.getI64Type());
    if (!module.lookupSymbol(kSegmentSumsFn)) {
      OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
      auto fn = func::FuncOp::create(
          mb, loc, kSegmentSumsFn,
          mb.getFunctionType({dynMemRef(3), dynMemRef(1), dynMemRef(2), flat64,
                              mb.getI64Type(), mb.getI64Type(), f32, f32},
                             {}));
      fn.setPrivate();
      fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
    }
    auto outT = RankedTensorType::get(shape, f32);
    Value out = ssmc::detail::allocLike(b, loc, outT, {S, cols});
    auto cst = [&](double v) -> Value {
      return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
    };
    auto i64 = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(b, loc, v, 64);
    };
    Value xm = memref::CastOp::create(b, loc, dynMemRef(3),
                                      ssmc::detail::toBuffer(b, loc, x));
    Value cum = memref::CastOp::create(b, loc, flat64,
                                       ssmc::detail::toBuffer(b, loc, cu));
    func::CallOp::create(
        b, loc, kSegmentSumsFn, TypeRange{},
        ValueRange{xm, flatBuffer(bias),
                   memref::CastOp::create(b, loc, dynMemRef(2), out), cum,
                   i64(timeDim), i64(softplus),
                   cst(limit ? (*limit)[0] : -INFINITY),
                   cst(limit ? (*limit)[1] : INFINITY)});
    return ssmc::detail::toTensor(b, loc, outT, out);
  }

  MemRefType flatType() {
    return MemRefType::get({ShapedType::kDynamic}, f32);
  }

  /// The running sums of ssmcMpiStepSums over the steps of x (f32, rank 3,
  /// or rank 4 read as [A0 * A1, A2, A3]), dimension `timeDim` of the
  /// 3-D view: a tensor of x's shape, at step t the sum over the steps up
  /// to t (from the end with `reverse`), for the decay up to each step.
  Value prefixSums(ModuleOp module, Value x, Value bias, int64_t timeDim,
                   bool softplus, std::optional<llvm::ArrayRef<double>> limit,
                   bool reverse) {
    auto i64T = b.getI64Type();
    declareRuntime(module, kPrefixSumsFn,
                   b.getFunctionType({dynMemRef(3), dynMemRef(1), dynMemRef(3),
                                      i64T, i64T, f32, f32, i64T},
                                     {}),
                   true);
    auto xT = cast<RankedTensorType>(x.getType());
    llvm::SmallVector<Value> sizes;
    for (int64_t i = 0; i < xT.getRank(); ++i)
      sizes.push_back(dimSize(x, i));
    auto outT = RankedTensorType::get(xT.getShape(), f32);
    Value out = ssmc::detail::allocLike(b, loc, outT, sizes);
    auto view3 = [&](Value m) -> Value {
      if (xT.getRank() == 4)
        m = memref::CollapseShapeOp::create(
            b, loc, m, llvm::ArrayRef<ReassociationIndices>{{0, 1}, {2}, {3}});
      return memref::CastOp::create(b, loc, dynMemRef(3), m);
    };
    auto cst = [&](double v) -> Value {
      return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(float(v)));
    };
    auto i64 = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(b, loc, v, 64);
    };
    func::CallOp::create(
        b, loc, kPrefixSumsFn, TypeRange{},
        ValueRange{view3(ssmc::detail::toBuffer(b, loc, x)), flatBuffer(bias),
                   view3(out), i64(timeDim), i64(softplus),
                   cst(limit ? (*limit)[0] : -INFINITY),
                   cst(limit ? (*limit)[1] : INFINITY), i64(reverse)});
    return ssmc::detail::toTensor(b, loc, outT, out);
  }

  MemRefType dynMemRef(int64_t rank) {
    return MemRefType::get(
        llvm::SmallVector<int64_t>(rank, ShapedType::kDynamic), f32);
  }

  /// `first()` on rank 0 (the last rank with `lastFirst`: a scan that runs
  /// right to left), `rest()` on the others (scf.if on ssmcMpiRank()),
  /// both yielding values of `types`.
  llvm::SmallVector<Value>
  byRank(ModuleOp module, TypeRange types,
         llvm::function_ref<llvm::SmallVector<Value>()> first,
         llvm::function_ref<llvm::SmallVector<Value>()> rest,
         bool lastFirst = false) {
    declareRank(module);
    Value rank = func::CallOp::create(b, loc, kRankFn, b.getI64Type(), ValueRange{})
                     .getResult(0);
    Value firstRank = arith::ConstantIntOp::create(b, loc, 0, 64);
    if (lastFirst) {
      declareRuntime(module, kSizeFn, b.getFunctionType({}, {b.getI64Type()}),
                     false);
      Value size = func::CallOp::create(b, loc, kSizeFn, b.getI64Type(),
                                        ValueRange{})
                       .getResult(0);
      firstRank = arith::SubIOp::create(
          b, loc, size, arith::ConstantIntOp::create(b, loc, 1, 64));
    }
    Value isFirst = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq,
                                          rank, firstRank);
    auto ifOp = scf::IfOp::create(b, loc, types, isFirst, /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, loc, first());
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, loc, rest());
    return llvm::SmallVector<Value>(ifOp.getResults());
  }

  OpBuilder &b;
  Location loc;
  Type f32;
};

/// Whether every value is an f32 tensor (what ssmcMpiStepSums reads).
bool allF32(ValueRange values) {
  return llvm::all_of(values, [](Value v) {
    return cast<ShapedType>(v.getType()).getElementType().isF32();
  });
}

/// The sizes of the dimensions that are dynamic in `shape`, dimension i
/// given by `sizes[i]`.
llvm::SmallVector<Value> dynOf(llvm::ArrayRef<int64_t> shape,
                               llvm::ArrayRef<Value> sizes) {
  llvm::SmallVector<Value> out;
  for (auto [i, s] : llvm::enumerate(shape))
    if (ShapedType::isDynamic(s))
      out.push_back(sizes[i]);
  return out;
}

/// The packed-sequence count S of offsets of type `cuType` ([S + 1]) as a
/// static size (dynamic when the offsets' size is).
int64_t staticCount(Type cuType) {
  int64_t n = cast<RankedTensorType>(cuType).getDimSize(0);
  return ShapedType::isDynamic(n) ? ShapedType::kDynamic : n - 1;
}

/// The sizes of the dimensions that are dynamic in `shape`, dimension i
/// read from `from[i]` (a value and its dimension).
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

/// The results of `op` after `run(h0, withFinal)` built the op again from
/// initial state(s) `h0` (null: zero), with its final states when
/// `withFinal` or when `op` returns them.
using RunFn = llvm::function_ref<Operation *(
    OpBuilder &b, llvm::ArrayRef<Value> h0, bool withFinal)>;

/// The results of `op` on a rank that ran its slice from zero (`local`,
/// with every final state), from its decay P (null: the identity) and its
/// incoming states `sin`, without running the slice again.
using CorrectFn = llvm::function_ref<llvm::SmallVector<Value>(
    ShardEmitter &e, Operation *local, Value decay, llvm::ArrayRef<Value> sin)>;

/// The distributed form of `op`: rank 0 runs its slice from the program's
/// initial states and hands its final states to the combine; every other
/// rank runs its slice from zero, computes the decay `decay()` (null: the
/// identity), gets its incoming states from the combine and runs the slice
/// again from them, or, with `correct`, corrects the zero-state results.
/// `h0` are the program's initial states (null: zero), `finals` the number
/// of final states the op can return. With `reverse` the scan runs right
/// to left: the last rank starts from h0 and the combine runs backwards.
void shardOp(ModuleOp module, Operation *op, llvm::ArrayRef<Value> h0,
             unsigned finals, RunFn run,
             llvm::function_ref<Value(ShardEmitter &)> decay,
             llvm::function_ref<Value(ShardEmitter &)> zeroDecay,
             llvm::function_ref<Value(ShardEmitter &)> matrixK = nullptr,
             CorrectFn correct = nullptr, bool reverse = false) {
  OpBuilder b(op);
  ShardEmitter e(b, op->getLoc());
  // Dense decays: the size of their blocks, known to every rank.
  Value k = matrixK ? matrixK(e) : Value();
  auto results = [&](Operation *o) {
    llvm::SmallVector<Value> r;
    for (unsigned i = 0; i < op->getNumResults(); ++i)
      r.push_back(o->getResult(i));
    return r;
  };
  // The results of `full`, which has every final state, that `op` has
  // (told apart by type, as the ops' syntax does).
  auto asRequested = [&](Operation *full) {
    llvm::SmallVector<Value> r{full->getResult(0)};
    llvm::SmallVector<bool> used(full->getNumResults(), false);
    for (unsigned i = 1; i < op->getNumResults(); ++i)
      for (unsigned j = 1; j < full->getNumResults(); ++j)
        if (!used[j] && full->getResult(j).getType() == op->getResult(i).getType()) {
          used[j] = true;
          r.push_back(full->getResult(j));
          break;
        }
    return r;
  };
  llvm::SmallVector<Value> replaced = e.byRank(
      module, op->getResultTypes(),
      [&] {
        Operation *full = run(e.b, h0, /*withFinal=*/true);
        Value none = zeroDecay(e);
        for (unsigned i = 0; i < finals; ++i)
          (void)e.combine(module, none, full->getResult(1 + i), k, reverse);
        return asRequested(full);
      },
      [&] {
        Operation *local = run(e.b, {}, /*withFinal=*/true);
        Value p = decay(e);
        llvm::SmallVector<Value> incoming;
        for (unsigned i = 0; i < finals; ++i)
          incoming.push_back(
              e.combine(module, p, local->getResult(1 + i), k, reverse));
        if (correct)
          return correct(e, local, p, incoming);
        return results(run(e.b, incoming, /*withFinal=*/false));
      },
      reverse);
  op->replaceAllUsesWith(replaced);
  op->erase();
}

//===----------------------------------------------------------------------===//
// Output correction: a slice's outputs from its incoming state, no rescan
//===----------------------------------------------------------------------===//
//
// A scan with a diagonal decay reads its state linearly: from S_in instead
// of zero, the state at step t of the slice gains D_t S_in, D_t the decay
// from the slice's start through t, so an output C_t . S_t gains
// C_t . (D_t S_in). For ssd and linear attention D_t is a scalar per head
// (or per key dimension), so the gain is a matrix product per head,
// (D_t C_t) S_in over the slice's steps, far cheaper than a second scan.

/// The offsets, sizes and unit strides of a slice of a tensor, for an
/// extract_slice and the insert_slice that puts it back.
struct SliceSpec {
  llvm::SmallVector<OpFoldResult> offsets, sizes, strides;
};

/// The slice at `at` (null: 0) of `sizes` (null: 1, the dimension
/// dropped from the slice's type).
SliceSpec sliceAt(ShardEmitter &e, llvm::ArrayRef<Value> at,
                  llvm::ArrayRef<Value> sizes) {
  SliceSpec s;
  for (auto [o, n] : llvm::zip(at, sizes)) {
    s.offsets.push_back(o ? OpFoldResult(o) : OpFoldResult(e.b.getIndexAttr(0)));
    s.sizes.push_back(n ? OpFoldResult(n) : OpFoldResult(e.b.getIndexAttr(1)));
    s.strides.push_back(e.b.getIndexAttr(1));
  }
  return s;
}

/// The matrix (two dimensions of dynamic size) `s` of `t`.
Value matrixOf(ShardEmitter &e, Value t, const SliceSpec &s) {
  auto type = RankedTensorType::get({ShapedType::kDynamic, ShapedType::kDynamic},
                                    e.f32);
  return tensor::ExtractSliceOp::create(e.b, e.loc, type, t, s.offsets,
                                        s.sizes, s.strides);
}

/// `acc` plus, for every b < nb and h < nh, lhs(b, h) [M, K] times
/// rhs(b, h) [K, N] added to its [M, N] matrix accAt(b, h): one
/// linalg.matmul per (batch entry, head), which ssm-lower-matmul turns into
/// vector code.
Value matmulPerHead(ShardEmitter &e, Value acc, Value nb, Value nh,
                    llvm::function_ref<Value(Value, Value)> lhs,
                    llvm::function_ref<Value(Value, Value)> rhs,
                    llvm::function_ref<SliceSpec(Value, Value)> accAt) {
  Value c0 = arith::ConstantIndexOp::create(e.b, e.loc, 0);
  Value c1 = arith::ConstantIndexOp::create(e.b, e.loc, 1);
  auto outer = scf::ForOp::create(e.b, e.loc, c0, nb, c1, ValueRange{acc});
  OpBuilder::InsertionGuard guard(e.b);
  e.b.setInsertionPointToStart(outer.getBody());
  auto inner = scf::ForOp::create(e.b, e.loc, c0, nh, c1,
                                  ValueRange{outer.getRegionIterArgs()[0]});
  scf::YieldOp::create(e.b, e.loc, inner.getResults());
  e.b.setInsertionPointToStart(inner.getBody());
  Value bi = outer.getInductionVar(), hi = inner.getInductionVar();
  Value cur = inner.getRegionIterArgs()[0];
  SliceSpec at = accAt(bi, hi);
  Value target = matrixOf(e, cur, at);
  Value sum = linalg::MatmulOp::create(e.b, e.loc, TypeRange{target.getType()},
                                       ValueRange{lhs(bi, hi), rhs(bi, hi)},
                                       ValueRange{target})
                  .getResult(0);
  scf::YieldOp::create(e.b, e.loc,
                       ValueRange{tensor::InsertSliceOp::create(
                           e.b, e.loc, sum, cur, at.offsets, at.sizes,
                           at.strides)});
  return outer.getResult(0);
}

/// The slice's final state from its incoming state: decay * sin + sloc
/// elementwise, the decay read through `decayMap` (null decay: the
/// identity).
Value finalFromIncoming(ShardEmitter &e, Value decay, AffineMap decayMap,
                        Value sin, Value sloc) {
  unsigned rank = cast<RankedTensorType>(sloc.getType()).getRank();
  AffineMap id = e.b.getMultiDimIdentityMap(rank);
  llvm::SmallVector<Value> ins{sin};
  llvm::SmallVector<AffineMap> maps{id};
  if (decay) {
    ins.push_back(decay);
    maps.push_back(decayMap);
  }
  return e.parallelGeneric(
      sloc, ins, maps, [&](OpBuilder &nb, Location nl, ValueRange a) {
        Value v = a[0];
        if (decay)
          v = arith::MulFOp::create(nb, nl, a[1], v);
        linalg::YieldOp::create(
            nb, nl, Value(arith::AddFOp::create(nb, nl, v, a.back())));
      });
}

/// selective_scan: P[b,d,n] = exp(A[d,n] * sum_t dt[b,d,t]).
void shardSelectiveScan(ModuleOp module, ssm::SelectiveScanOp op) {
  auto uT = cast<RankedTensorType>(op.getU().getType());
  auto aT = cast<RankedTensorType>(op.getA().getType());
  // Packed sequences: one state per sequence ([S, D, N]), each rank's
  // offsets clipped to its slice (a sequence outside it is empty there: its
  // map is the identity, so its state passes through to the ranks after).
  Value cu = op.getCuSeqlens(), localCu;
  if (cu) {
    OpBuilder ob(op);
    localCu = ShardEmitter(ob, op.getLoc()).localSeqlens(module, cu, op.getU(), 2);
  }
  llvm::SmallVector<int64_t> bd{cu ? staticCount(cu.getType()) : uT.getDimSize(0),
                                uT.getDimSize(1)};
  llvm::SmallVector<int64_t> bdn{bd[0], bd[1], aT.getDimSize(1)};
  Type f32 = Float32Type::get(op.getContext());
  auto stateT = op.getFinalState()
                    ? cast<RankedTensorType>(op.getFinalState().getType())
                    : RankedTensorType::get(bdn, f32);
  Value u = op.getU();
  auto sizes = [&](ShardEmitter &e) {
    return llvm::SmallVector<Value>{e.sequenceCount(cu), e.dimSize(u, 1),
                                    e.dimSize(op.getA(), 1)};
  };
  auto decay = [&](ShardEmitter &e) -> Value {
    if (cu) {
      llvm::SmallVector<Value> n = sizes(e);
      Value dtSum = e.segmentSums(module, op.getDelta(), op.getDeltaBias(),
                                  localCu, 2, op.getDeltaSoftplus(),
                                  std::nullopt, bd, n[0], n[1]);
      return e.expMap(ValueRange{op.getA(), dtSum},
                      {e.map(3, {1, 2}), e.map(3, {0, 1})}, bdn, dynOf(bdn, n),
                      [&](ValueRange a) {
                        return arith::MulFOp::create(e.b, e.loc,
                                                     e.toF32(a[0]), a[1]);
                      });
    }
    llvm::SmallVector<Value> ins{op.getDelta()};
    llvm::SmallVector<AffineMap> maps{e.map(3, {0, 1, 2})};
    if (op.getDeltaBias()) {
      ins.push_back(op.getDeltaBias());
      maps.push_back(e.map(3, {1}));
    }
    bool softplus = op.getDeltaSoftplus();
    Value dtSum =
        allF32(ins)
            ? e.stepSums(module, op.getDelta(), op.getDeltaBias(), 2, softplus,
                         std::nullopt, bd, dynSizes(e, bd, {{u, 0}, {u, 1}}))
            : e.sumOverSteps(
        ins, maps, bd, dynSizes(e, bd, {{u, 0}, {u, 1}}), [&](ValueRange a) {
          Value dt = e.toF32(a[0]);
          if (a.size() > 1)
            dt = arith::AddFOp::create(e.b, e.loc, dt, e.toF32(a[1]));
          return softplus ? e.softplus(dt) : dt;
        });
    return e.expMap(ValueRange{op.getA(), dtSum},
                    {e.map(3, {1, 2}), e.map(3, {0, 1})}, bdn,
                    dynSizes(e, bdn, {{u, 0}, {u, 1}, {op.getA(), 1}}),
                    [&](ValueRange a) {
                      return arith::MulFOp::create(e.b, e.loc, e.toF32(a[0]),
                                                   a[1]);
                    });
  };
  auto zeroDecay = [&](ShardEmitter &e) -> Value {
    if (cu)
      return e.zeros(bdn, dynOf(bdn, sizes(e)));
    return e.zeros(bdn, dynSizes(e, bdn, {{u, 0}, {u, 1}, {op.getA(), 1}}));
  };
  shardOp(
      module, op, {op.getH0()}, 1,
      [&](OpBuilder &b, llvm::ArrayRef<Value> h0, bool withFinal) -> Operation * {
        return ssm::SelectiveScanOp::create(
            b, op.getLoc(), op.getOut().getType(),
            withFinal || op.getFinalState() ? Type(stateT) : Type(),
            op.getU(), op.getDelta(), op.getA(), op.getB(), op.getC(),
            op.getD(), op.getZ(), op.getDeltaBias(),
            h0.empty() ? Value() : h0[0], localCu, /*seq_idx=*/Value(),
            op.getDeltaSoftplusAttr());
      },
      decay, zeroDecay);
}

/// ssd: P[b,h] = exp(A[h] * sum_t dt[b,t,h]), each scaling P*N state
/// elements. With f32 operands (no cu_seqlens, no `rescan`) the ranks
/// after the first correct their zero-state outputs: with E[b,t,h] =
/// exp(A[h] * sum_{s<=t} dt[b,s,h]), y[b,t,h,p] gains E[b,t,h] * sum_n
/// C[b,t,g,n] Sin[b,h,p,n] (the D skip is in the zero-state output
/// already), times silu(z[b,t,h,p]) with a z gate: out = (y + D x) silu(z)
/// is linear in y for fixed z, so the correction is exact.
void shardSSD(ModuleOp module, ssm::SSDOp op, bool rescan) {
  auto xT = cast<RankedTensorType>(op.getX().getType());
  auto bT = cast<RankedTensorType>(op.getB().getType());
  // Packed sequences: as for selective_scan, one state per sequence.
  Value cu = op.getCuSeqlens(), localCu;
  if (cu) {
    OpBuilder ob(op);
    localCu = ShardEmitter(ob, op.getLoc()).localSeqlens(module, cu, op.getX(), 1);
  }
  llvm::SmallVector<int64_t> bh{cu ? staticCount(cu.getType()) : xT.getDimSize(0),
                                xT.getDimSize(2)};
  llvm::SmallVector<int64_t> bhpn{bh[0], bh[1], xT.getDimSize(3),
                                  bT.getDimSize(3)};
  Type f32 = Float32Type::get(op.getContext());
  auto stateT = op.getFinalState()
                    ? cast<RankedTensorType>(op.getFinalState().getType())
                    : RankedTensorType::get(bhpn, f32);
  Value x = op.getX();
  auto sizes = [&](ShardEmitter &e) {
    return llvm::SmallVector<Value>{e.sequenceCount(cu), e.dimSize(x, 2)};
  };
  auto decay = [&](ShardEmitter &e) -> Value {
    if (cu) {
      llvm::SmallVector<Value> n = sizes(e);
      Value dtSum = e.segmentSums(module, op.getDt(), op.getDtBias(), localCu,
                                  1, op.getDtSoftplus(), op.getDtLimit(), bh,
                                  n[0], n[1]);
      return e.expMap(ValueRange{op.getA(), dtSum},
                      {e.map(2, {1}), e.map(2, {0, 1})}, bh, dynOf(bh, n),
                      [&](ValueRange a) {
                        return arith::MulFOp::create(e.b, e.loc,
                                                     e.toF32(a[0]), a[1]);
                      });
    }
    llvm::SmallVector<Value> ins{op.getDt()};
    llvm::SmallVector<AffineMap> maps{e.map(3, {0, 2, 1})};
    if (op.getDtBias()) {
      ins.push_back(op.getDtBias());
      maps.push_back(e.map(3, {1}));
    }
    bool softplus = op.getDtSoftplus();
    std::optional<llvm::ArrayRef<double>> limit = op.getDtLimit();
    Value dtSum =
        allF32(ins)
            ? e.stepSums(module, op.getDt(), op.getDtBias(), 1, softplus, limit,
                         bh, dynSizes(e, bh, {{x, 0}, {x, 2}}))
            : e.sumOverSteps(
        ins, maps, bh, dynSizes(e, bh, {{x, 0}, {x, 2}}), [&](ValueRange a) {
          Value dt = e.toF32(a[0]);
          if (a.size() > 1)
            dt = arith::AddFOp::create(e.b, e.loc, dt, e.toF32(a[1]));
          if (softplus)
            dt = e.softplus(dt);
          if (limit) {
            auto c = [&](double v) -> Value {
              return arith::ConstantOp::create(e.b, e.loc,
                                               e.b.getF32FloatAttr(float(v)));
            };
            dt = arith::MaximumFOp::create(e.b, e.loc, dt, c((*limit)[0]));
            dt = arith::MinimumFOp::create(e.b, e.loc, dt, c((*limit)[1]));
          }
          return dt;
        });
    return e.expMap(ValueRange{op.getA(), dtSum},
                    {e.map(2, {1}), e.map(2, {0, 1})}, bh,
                    dynSizes(e, bh, {{x, 0}, {x, 2}}), [&](ValueRange a) {
                      return arith::MulFOp::create(e.b, e.loc, e.toF32(a[0]),
                                                   a[1]);
                    });
  };
  auto zeroDecay = [&](ShardEmitter &e) -> Value {
    if (cu)
      return e.zeros(bh, dynOf(bh, sizes(e)));
    return e.zeros(bh, dynSizes(e, bh, {{x, 0}, {x, 2}}));
  };
  // The correction reads dt through ssmcMpiStepPrefixSums (f32) and adds
  // to f32 outputs (f16/bf16 outputs would be rounded once more).
  const bool correctable =
      !rescan && !cu && allF32Values({x, op.getDt(), op.getDtBias()});
  auto correct = [&](ShardEmitter &e, Operation *local, Value p,
                     llvm::ArrayRef<Value> sin) {
    Value C = op.getC(), z = op.getZ(), hin = sin[0];
    // E[b,t,h] = exp(A[h] * sum_{s<=t} dt[b,s,h]).
    Value cum = e.prefixSums(module, op.getDt(), op.getDtBias(), 1,
                             op.getDtSoftplus(), op.getDtLimit(),
                             /*reverse=*/false);
    auto xs = cast<RankedTensorType>(x.getType()).getShape();
    llvm::SmallVector<int64_t> blh{xs[0], xs[1], xs[2]};
    llvm::SmallVector<int64_t> blhp{xs[0], xs[1], xs[2], xs[3]};
    llvm::SmallVector<std::pair<Value, int64_t>> from{
        {x, 0}, {x, 1}, {x, 2}, {x, 3}};
    Value decays = e.expMap(
        ValueRange{op.getA(), cum}, {e.map(3, {2}), e.map(3, {0, 1, 2})}, blh,
        dynSizes(e, blh, from), [&](ValueRange a) {
          return arith::MulFOp::create(e.b, e.loc, e.toF32(a[0]), a[1]);
        });
    // Sin^T [B, H, N, P], so each head's product is C [L, N] x Sin^T.
    llvm::SmallVector<int64_t> bhnp{bhpn[0], bhpn[1], bhpn[3], bhpn[2]};
    Value hinT = tensor::EmptyOp::create(
        e.b, e.loc, bhnp, e.f32,
        dynSizes(e, bhnp, {{hin, 0}, {hin, 1}, {hin, 3}, {hin, 2}}));
    hinT = e.parallelGeneric(hinT, hin, {e.map(4, {0, 1, 3, 2})},
                             [&](OpBuilder &nb, Location nl, ValueRange a) {
                               linalg::YieldOp::create(nb, nl, a[0]);
                             });
    // gain[b,:,h,:] = C[b,:,g,:] Sin^T[b,h], g = h / (H / G).
    Value L = e.dimSize(x, 1), H = e.dimSize(x, 2), P = e.dimSize(x, 3),
          N = e.dimSize(C, 3);
    Value perGroup = arith::DivUIOp::create(e.b, e.loc, H, e.dimSize(C, 2));
    Value gain = matmulPerHead(
        e, e.zeros(blhp, dynSizes(e, blhp, from)), e.dimSize(x, 0), H,
        [&](Value bi, Value hi) {
          Value g = arith::DivUIOp::create(e.b, e.loc, hi, perGroup);
          return matrixOf(e, C, sliceAt(e, {bi, {}, g, {}}, {{}, L, {}, N}));
        },
        [&](Value bi, Value hi) {
          return matrixOf(e, hinT, sliceAt(e, {bi, hi, {}, {}}, {{}, {}, N, P}));
        },
        [&](Value bi, Value hi) {
          return sliceAt(e, {bi, {}, hi, {}}, {{}, L, {}, P});
        });
    // out = y_loc + E * gain (* silu(z)).
    Value y = local->getResult(0);
    llvm::SmallVector<Value> ins{gain, decays};
    llvm::SmallVector<AffineMap> maps{e.b.getMultiDimIdentityMap(4),
                                      e.map(4, {0, 1, 2})};
    if (z) {
      ins.push_back(z);
      maps.push_back(e.b.getMultiDimIdentityMap(4));
    }
    Value out = e.parallelGeneric(
        y, ins, maps, [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value v = arith::MulFOp::create(nb, nl, a[0], a[1]);
          if (z) {
            // silu(z) = z / (1 + exp(-z)), as the op defines it.
            Value one =
                arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(1.0f));
            Value ez = math::ExpOp::create(nb, nl,
                                           arith::NegFOp::create(nb, nl, a[2]));
            Value silu = arith::DivFOp::create(
                nb, nl, a[2], arith::AddFOp::create(nb, nl, one, ez));
            v = arith::MulFOp::create(nb, nl, v, silu);
          }
          linalg::YieldOp::create(
              nb, nl, Value(arith::AddFOp::create(nb, nl, a.back(), v)));
        });
    llvm::SmallVector<Value> r{out};
    if (op.getFinalState())
      r.push_back(finalFromIncoming(e, p, e.map(4, {0, 1}), hin,
                                    local->getResult(1)));
    return r;
  };
  shardOp(
      module, op, {op.getH0()}, 1,
      [&](OpBuilder &b, llvm::ArrayRef<Value> h0, bool withFinal) -> Operation * {
        return ssm::SSDOp::create(
            b, op.getLoc(), op.getOut().getType(),
            withFinal || op.getFinalState() ? Type(stateT) : Type(),
            op.getX(), op.getDt(), op.getA(), op.getB(), op.getC(), op.getD(),
            op.getZ(), op.getDtBias(), h0.empty() ? Value() : h0[0],
            localCu, /*seq_idx=*/Value(), op.getDtSoftplusAttr(),
            op.getDtLimitAttr());
      },
      decay, zeroDecay, /*matrixK=*/nullptr,
      correctable ? CorrectFn(correct) : CorrectFn());
}

/// linear_attention: P = exp(sum_t gate) per (b,h) or, for GLA, per
/// (b,h,k); the identity without a gate. The normaliser z decays with the
/// same P. Unnormalised with f32 operands (no cu_seqlens, no `rescan`) the
/// ranks after the first correct their zero-state outputs:
/// o[b,h,t] += (q~_t * E_t)^T Sin[b,h], E_t = exp(sum_{s<=t} gate_s) (per
/// key dimension for GLA, 1 without a gate). Normalised, the output divides
/// by q~_t . z_t, which the incoming z changes too: not linear in the
/// zero-state output, so those rescan. With `reverse` the chain runs right
/// to left (the last rank from h0, the sums over s >= t).
void shardLinearAttention(ModuleOp module, ssm::LinearAttentionOp op,
                          bool rescan) {
  auto qT = cast<RankedTensorType>(op.getQ().getType());
  auto vT = cast<RankedTensorType>(op.getV().getType());
  int64_t B = qT.getDimSize(0), H = qT.getDimSize(1), K = qT.getDimSize(3),
          V = vT.getDimSize(3);
  Type f32 = Float32Type::get(op.getContext());
  if (op.getCuSeqlens())
    B = staticCount(op.getCuSeqlens().getType());
  auto stateT = op.getFinalState()
                    ? cast<RankedTensorType>(op.getFinalState().getType())
                    : RankedTensorType::get({B, H, K, V}, f32);
  bool normalize = op.getNormalize();
  auto zT = op.getFinalZ() ? cast<RankedTensorType>(op.getFinalZ().getType())
                           : RankedTensorType::get({B, H, K}, f32);
  Value q = op.getQ(), gate = op.getGate();
  // Packed sequences: as for selective_scan, one state per sequence (the
  // gate is scalar per step: layoutOf refuses the others).
  Value cu = op.getCuSeqlens(), localCu;
  if (cu) {
    OpBuilder ob(op);
    localCu = ShardEmitter(ob, op.getLoc()).localSeqlens(module, cu, q, 2);
  }
  llvm::SmallVector<int64_t> shape{B, H};
  llvm::SmallVector<std::pair<Value, int64_t>> from{{q, 0}, {q, 1}};
  bool perKey = gate && cast<RankedTensorType>(gate.getType()).getRank() == 4;
  if (perKey) {
    shape.push_back(K);
    from.push_back({q, 3});
  }
  auto sizes = [&](ShardEmitter &e) {
    return llvm::SmallVector<Value>{e.sequenceCount(cu), e.dimSize(q, 1)};
  };
  auto decay = [&](ShardEmitter &e) -> Value {
    if (!gate)
      return Value();
    if (cu) {
      llvm::SmallVector<Value> n = sizes(e);
      Value sum = e.segmentSums(module, gate, Value(), localCu, 2, false,
                                std::nullopt, shape, n[0], n[1]);
      return e.expMap(sum, e.b.getMultiDimIdentityMap(2), shape,
                      dynOf(shape, n), [&](ValueRange a) { return a[0]; });
    }
    AffineMap m = perKey ? e.map(4, {0, 1, 3, 2}) : e.map(3, {0, 1, 2});
    Value sum =
        !perKey && allF32(gate)
            ? e.stepSums(module, gate, Value(), 2, false, std::nullopt, shape,
                         dynSizes(e, shape, from))
            : e.sumOverSteps(gate, m, shape, dynSizes(e, shape, from),
                             [&](ValueRange a) { return e.toF32(a[0]); });
    return e.expMap(sum, e.b.getMultiDimIdentityMap(shape.size()), shape,
                    dynSizes(e, shape, from),
                    [&](ValueRange a) { return a[0]; });
  };
  auto zeroDecay = [&](ShardEmitter &e) -> Value {
    if (gate && cu)
      return e.zeros(shape, dynOf(shape, sizes(e)));
    return gate ? e.zeros(shape, dynSizes(e, shape, from)) : Value();
  };
  const bool reverse = op.getReverse();
  // The correction reads the gate through ssmcMpiStepPrefixSums (f32) and
  // adds to f32 outputs.
  const bool correctable =
      !rescan && !normalize && !cu && allF32Values({q, gate});
  auto correct = [&](ShardEmitter &e, Operation *local, Value p,
                     llvm::ArrayRef<Value> sin) {
    Value hin = sin[0];
    auto qs = cast<RankedTensorType>(q.getType()).getShape();
    llvm::SmallVector<int64_t> bhlk(qs);
    llvm::SmallVector<std::pair<Value, int64_t>> qFrom{
        {q, 0}, {q, 1}, {q, 2}, {q, 3}};
    // The log decay up to each step: [B, H, L] (scalar gate) or
    // [B, H, L, K] (GLA).
    Value cum = gate ? e.prefixSums(module, gate, Value(), perKey ? 1 : 2,
                                    /*softplus=*/false, std::nullopt, reverse)
                     : Value();
    Value scale;
    if (std::optional<double> sc = op.getEffectiveScale()) {
      scale = arith::ConstantOp::create(e.b, e.loc,
                                        e.b.getF32FloatAttr(float(*sc)));
    } else {
      Value k = arith::IndexCastOp::create(e.b, e.loc, e.b.getI64Type(),
                                           e.dimSize(q, 3));
      Value kf = arith::SIToFPOp::create(e.b, e.loc, e.f32, k);
      scale = arith::DivFOp::create(
          e.b, e.loc,
          arith::ConstantOp::create(e.b, e.loc, e.b.getF32FloatAttr(1.0f)),
          math::SqrtOp::create(e.b, e.loc, kf));
    }
    // q'[b,h,t,k] = scale * phi(q) * exp(cum): the query that reads Sin.
    llvm::SmallVector<Value> ins{q};
    llvm::SmallVector<AffineMap> maps{e.b.getMultiDimIdentityMap(4)};
    if (cum) {
      ins.push_back(cum);
      maps.push_back(perKey ? e.b.getMultiDimIdentityMap(4)
                            : e.map(4, {0, 1, 2}));
    }
    Value qInit = tensor::EmptyOp::create(e.b, e.loc, bhlk, e.f32,
                                          dynSizes(e, bhlk, qFrom));
    ssm::FeatureMap featureMap = op.getFeatureMap();
    Value qd = e.parallelGeneric(
        qInit, ins, maps, [&](OpBuilder &nb, Location nl, ValueRange a) {
          Value x = a[0];
          Value zero =
              arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(0.0f));
          if (featureMap == ssm::FeatureMap::relu)
            x = arith::MaximumFOp::create(nb, nl, x, zero);
          if (featureMap == ssm::FeatureMap::elu_plus_one) {
            Value one =
                arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(1.0f));
            Value pos = arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OGT,
                                              x, zero);
            x = arith::SelectOp::create(nb, nl, pos,
                                        arith::AddFOp::create(nb, nl, x, one),
                                        math::ExpOp::create(nb, nl, x));
          }
          x = arith::MulFOp::create(nb, nl, scale, x);
          if (cum)
            x = arith::MulFOp::create(nb, nl, x,
                                      math::ExpOp::create(nb, nl, a[1]));
          linalg::YieldOp::create(nb, nl, x);
        });
    // o[b,h] += q'[b,h] [L, K] x Sin[b,h] [K, V].
    Value steps = e.dimSize(q, 2), keys = e.dimSize(q, 3),
          values = e.dimSize(hin, 3);
    Value out = matmulPerHead(
        e, local->getResult(0), e.dimSize(q, 0), e.dimSize(q, 1),
        [&](Value bi, Value hi) {
          return matrixOf(e, qd,
                          sliceAt(e, {bi, hi, {}, {}}, {{}, {}, steps, keys}));
        },
        [&](Value bi, Value hi) {
          return matrixOf(e, hin,
                          sliceAt(e, {bi, hi, {}, {}}, {{}, {}, keys, values}));
        },
        [&](Value bi, Value hi) {
          return sliceAt(e, {bi, hi, {}, {}}, {{}, {}, steps, values});
        });
    llvm::SmallVector<Value> r{out};
    if (op.getFinalState())
      r.push_back(finalFromIncoming(
          e, p, perKey ? e.map(4, {0, 1, 2}) : e.map(4, {0, 1}), hin,
          local->getResult(1)));
    return r;
  };
  shardOp(
      module, op, {op.getH0(), op.getZ0()}, normalize ? 2 : 1,
      [&](OpBuilder &b, llvm::ArrayRef<Value> h0, bool withFinal) -> Operation * {
        Type fin = withFinal || op.getFinalState() ? Type(stateT) : Type();
        Type finZ = normalize && (withFinal || op.getFinalZ()) ? Type(zT) : Type();
        return ssm::LinearAttentionOp::create(
            b, op.getLoc(), op.getOut().getType(), fin, finZ, op.getQ(),
            op.getK(), op.getV(), op.getGate(),
            h0.size() > 0 ? h0[0] : Value(), h0.size() > 1 ? h0[1] : Value(),
            localCu, op.getFeatureMapAttr(), op.getScaleAttr(),
            op.getNormalizeAttr(), op.getEpsAttr(), op.getReverseAttr());
      },
      decay, zeroDecay, /*matrixK=*/nullptr,
      correctable ? CorrectFn(correct) : CorrectFn(), reverse);
}

/// init + sum over the last of 5 loops of a * c (f32), `a` and `c` read
/// through `am` and `cm`, into init's shape (the first 4 loops).
Value contractInto(ShardEmitter &e, Value a, AffineMap am, Value c,
                   AffineMap cm, Value init) {
  llvm::SmallVector<utils::IteratorType> its(4, utils::IteratorType::parallel);
  its.push_back(utils::IteratorType::reduction);
  return linalg::GenericOp::create(
             e.b, e.loc, init.getType(), ValueRange{a, c}, init,
             llvm::ArrayRef<AffineMap>{am, cm, e.map(5, {0, 1, 2, 3})}, its,
             [&](OpBuilder &nb, Location nl, ValueRange args) {
               Value m = arith::MulFOp::create(nb, nl, args[0], args[1]);
               linalg::YieldOp::create(
                   nb, nl, arith::AddFOp::create(nb, nl, args[2], m).getResult());
             })
      .getResult(0);
}

/// Packed sequences: init + the contraction of contractInto's delta_rule
/// output correction (init[0, t, h, v] += sum_j a[0, t, h, j] s[i, h, j, v])
/// over the steps [cu[i], cu[i+1]) of each sequence i, with that
/// sequence's state s[i]: an scf.for over the S sequences (cu: i64
/// [S + 1]), each contracting its steps' slice.
Value contractPerSequence(ShardEmitter &e, Value a, Value s, Value cu,
                          Value init) {
  Value c0 = arith::ConstantIndexOp::create(e.b, e.loc, 0);
  Value c1 = arith::ConstantIndexOp::create(e.b, e.loc, 1);
  auto loop = scf::ForOp::create(
      e.b, e.loc, c0, e.sequenceCount(cu), c1, ValueRange{init},
      [&](OpBuilder &b, Location loc, Value i, ValueRange acc) {
        ShardEmitter ie(b, loc);
        auto offset = [&](Value at) -> Value {
          Value o = tensor::ExtractOp::create(b, loc, cu, at);
          return arith::IndexCastOp::create(b, loc, b.getIndexType(), o);
        };
        Value lo = offset(i);
        Value n = arith::SubIOp::create(
            b, loc, offset(arith::AddIOp::create(b, loc, i, c1)), lo);
        // [at0, at1, 0, 0] of size [1, len, dim 2, dim 3] of `t`.
        auto box = [&](Value t, OpFoldResult at0, OpFoldResult at1,
                       OpFoldResult len) {
          llvm::SmallVector<OpFoldResult> offsets{at0, at1, b.getIndexAttr(0),
                                                  b.getIndexAttr(0)};
          llvm::SmallVector<OpFoldResult> sizes{
              b.getIndexAttr(1), len, tensor::getMixedSize(b, loc, t, 2),
              tensor::getMixedSize(b, loc, t, 3)};
          return std::make_tuple(offsets, sizes,
                                 llvm::SmallVector<OpFoldResult>(
                                     4, b.getIndexAttr(1)));
        };
        auto [ao, as, st] = box(a, b.getIndexAttr(0), lo, n);
        Value aSteps = tensor::ExtractSliceOp::create(b, loc, a, ao, as, st);
        auto [so, ss, st2] = box(s, i, b.getIndexAttr(0),
                                 tensor::getMixedSize(b, loc, s, 1));
        Value sI = tensor::ExtractSliceOp::create(b, loc, s, so, ss, st2);
        auto [oo, os, st3] = box(acc[0], b.getIndexAttr(0), lo, n);
        Value oSteps =
            tensor::ExtractSliceOp::create(b, loc, acc[0], oo, os, st3);
        Value corrected =
            contractInto(ie, aSteps, ie.map(5, {0, 1, 2, 4}), sI,
                         ie.map(5, {0, 2, 4, 3}), oSteps);
        scf::YieldOp::create(
            b, loc,
            ValueRange{tensor::InsertSliceOp::create(b, loc, corrected, acc[0],
                                                     oo, os, st3)});
      });
  return loop.getResult(0);
}

/// delta_rule: the slice's transition is dense, S_out = P S_in + S_loc with
/// P [B, H, K, K] (the state S [K, V] multiplied from the left). Every form
/// is linear in S with an inhomogeneous term proportional to v (delta
/// forms: beta k v^T; DPLR: k v^T), so P is the same op over the slice
/// with v = 0 (V = K) from the identity state: its final state is P I = P,
/// and its output at t is P_t^T q~_t (P_t: the transition up to t). The
/// slice's outputs from S_in are then o_t = o_loc_t + S_in^T P_t^T q~_t:
/// with f32 outputs the ranks correct the zero-state outputs by that
/// product (K V multiply-adds per step and head) instead of running the
/// slice a third time; with f16/bf16 outputs (rounded once more by a
/// correction) they rescan from S_in.
///
/// Packed sequences (cu_seqlens): as for the other ops, one state per
/// sequence ([S, H, K, V]) and each rank's offsets clipped to its slice.
/// The transition op runs with the clipped offsets from the identity for
/// every sequence, so P[i] is sequence i's transition over its steps in
/// the slice: the identity where it is empty (its state passes through to
/// the ranks after: a sequence that ended before the slice carries its
/// final state to the last rank, one that starts after it rank 0's h0[i]),
/// its steps' product where it starts inside the slice, whose incoming
/// state is then h0[i] (rank 0's final state for the sequence, carried
/// unchanged through the ranks that hold it empty). Each step's output is
/// corrected with the state of its own sequence (contractPerSequence).
void shardDeltaRule(ModuleOp module, ssm::DeltaRuleOp op) {
  auto vT = cast<RankedTensorType>(op.getV().getType());
  auto kT = cast<RankedTensorType>(op.getK().getType());
  Type f32 = Float32Type::get(op.getContext());
  Value v = op.getV(), k = op.getK();
  Value cu = op.getCuSeqlens(), localCu;
  if (cu) {
    OpBuilder ob(op);
    localCu = ShardEmitter(ob, op.getLoc()).localSeqlens(module, cu, v, 1);
  }
  // S states: the batch, or the packed sequences.
  const int64_t B = vT.getDimSize(0), T = vT.getDimSize(1),
                H = vT.getDimSize(2), K = kT.getDimSize(3),
                V = vT.getDimSize(3),
                S = cu ? staticCount(cu.getType()) : B;
  auto stateT = op.getFinalState()
                    ? cast<RankedTensorType>(op.getFinalState().getType())
                    : RankedTensorType::get({S, H, K, V}, f32);
  llvm::SmallVector<int64_t> bhkk{S, H, K, K};
  auto transT = RankedTensorType::get(bhkk, f32);
  // The dynamic sizes of [S, H, K, K].
  auto bhkkSizes = [&](ShardEmitter &e) {
    llvm::SmallVector<Value> dyn = dynSizes(
        e, llvm::ArrayRef(bhkk).drop_front(), {{v, 2}, {k, 3}, {k, 3}});
    if (ShapedType::isDynamic(S))
      dyn.insert(dyn.begin(), cu ? e.sequenceCount(cu) : e.dimSize(v, 0));
    return dyn;
  };
  // The op over the slice with v = 0 from the identity: (P_t^T q~_t, P).
  auto transition = [&](ShardEmitter &e) -> ssm::DeltaRuleOp {
    // v = 0 with K columns, in v's element type.
    llvm::SmallVector<int64_t> zShape{B, T, H, K};
    Value vz = tensor::EmptyOp::create(
        e.b, e.loc, zShape, vT.getElementType(),
        dynSizes(e, zShape, {{v, 0}, {v, 1}, {v, 2}, {k, 3}}));
    Value zero = arith::ConstantOp::create(
        e.b, e.loc, e.b.getFloatAttr(vT.getElementType(), 0.0));
    vz = linalg::FillOp::create(e.b, e.loc, zero, vz).getResult(0);
    // The identity state [S, H, K, K].
    Value eye = tensor::EmptyOp::create(e.b, e.loc, bhkk, f32, bhkkSizes(e));
    eye = linalg::GenericOp::create(
              e.b, e.loc, transT, ValueRange{}, eye,
              e.b.getMultiDimIdentityMap(4),
              llvm::SmallVector<utils::IteratorType>(
                  4, utils::IteratorType::parallel),
              [&](OpBuilder &nb, Location nl, ValueRange) {
                Value i = linalg::IndexOp::create(nb, nl, 2);
                Value j = linalg::IndexOp::create(nb, nl, 3);
                Value same = arith::CmpIOp::create(
                    nb, nl, arith::CmpIPredicate::eq, i, j);
                Value one = arith::ConstantOp::create(nb, nl,
                                                      nb.getF32FloatAttr(1.0f));
                Value none = arith::ConstantOp::create(
                    nb, nl, nb.getF32FloatAttr(0.0f));
                linalg::YieldOp::create(
                    nb, nl, arith::SelectOp::create(nb, nl, same, one, none)
                                .getResult());
              })
              .getResult(0);
    auto outT = RankedTensorType::get(zShape, vT.getElementType());
    return ssm::DeltaRuleOp::create(
        e.b, op.getLoc(), outT, transT, op.getQ(), k, vz, op.getBeta(),
        op.getGate(), op.getA(), op.getB(), eye, localCu, op.getScaleAttr(),
        op.getUseQkL2normAttr(), op.getChunkSizeAttr());
  };
  auto zeroDecay = [&](ShardEmitter &e) -> Value {
    return e.zeros(bhkk, bhkkSizes(e));
  };
  auto blockSize = [&](ShardEmitter &e) -> Value {
    return arith::IndexCastOp::create(e.b, e.loc, e.b.getI64Type(),
                                      e.dimSize(k, 3));
  };
  auto run = [&](OpBuilder &b, Value h0, bool withFinal) -> Operation * {
    return ssm::DeltaRuleOp::create(
        b, op.getLoc(), op.getOut().getType(),
        withFinal || op.getFinalState() ? Type(stateT) : Type(), op.getQ(),
        op.getK(), op.getV(), op.getBeta(), op.getGate(), op.getA(),
        op.getB(), h0, localCu, op.getScaleAttr(), op.getUseQkL2normAttr(),
        op.getChunkSizeAttr());
  };
  if (!vT.getElementType().isF32()) {
    shardOp(
        module, op, {op.getH0()}, 1,
        [&](OpBuilder &b, llvm::ArrayRef<Value> h0, bool withFinal) {
          return run(b, h0.empty() ? Value() : h0[0], withFinal);
        },
        [&](ShardEmitter &e) { return transition(e).getFinalState(); },
        zeroDecay, blockSize);
    return;
  }
  OpBuilder b(op);
  ShardEmitter e(b, op.getLoc());
  Value kSize = blockSize(e);
  const bool withFinal = bool(op.getFinalState());
  llvm::SmallVector<Value> replaced = e.byRank(
      module, op->getResultTypes(),
      [&] {
        Operation *full = run(e.b, op.getH0(), /*withFinal=*/true);
        (void)e.combine(module, zeroDecay(e), full->getResult(1), kSize);
        llvm::SmallVector<Value> r{full->getResult(0)};
        if (withFinal)
          r.push_back(full->getResult(1));
        return r;
      },
      [&] {
        Operation *local = run(e.b, Value(), /*withFinal=*/true);
        ssm::DeltaRuleOp trans = transition(e);
        Value sloc = local->getResult(1);
        Value sin = e.combine(module, trans.getFinalState(), sloc, kSize);
        // o[b,t,h,v] += sum_k (P_t^T q~_t)[b,t,h,k] S_in[b,h,k,v] (packed:
        // S_in of the step's sequence).
        llvm::SmallVector<Value> r{
            cu ? contractPerSequence(e, trans.getOut(), sin, localCu,
                                     local->getResult(0))
               : contractInto(e, trans.getOut(), e.map(5, {0, 1, 2, 4}), sin,
                              e.map(5, {0, 2, 4, 3}), local->getResult(0))};
        // S_out[b,h,i,v] = S_loc + sum_j P[b,h,i,j] S_in[b,h,j,v].
        if (withFinal)
          r.push_back(contractInto(e, trans.getFinalState(),
                                   e.map(5, {0, 1, 2, 4}), sin,
                                   e.map(5, {0, 1, 4, 3}), sloc));
        return r;
      });
  op->replaceAllUsesWith(replaced);
  op->erase();
}

/// Declares `name` (C interface, no results) with `inputs` once.
void declareRuntime(ModuleOp module, Location loc, llvm::StringRef name,
                    llvm::ArrayRef<Type> inputs) {
  if (module.lookupSymbol(name))
    return;
  OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
  auto fn = func::FuncOp::create(mb, loc, name, mb.getFunctionType(inputs, {}));
  fn.setPrivate();
  fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
}

/// causal_conv1d with packed sequences: each rank runs its slice with its
/// clipped offsets; a sequence that runs through the slice's first step
/// starts from the W - 1 steps before it (only its own: its initial state
/// before its first step), every other sequence from its initial state
/// (ssmcMpiPackedHalo); each sequence's final state comes from the rank
/// holding its last step (ssmcMpiPackedFinals).
void shardPackedCausalConv(ModuleOp module, ssm::CausalConv1dOp op) {
  OpBuilder b(op);
  ShardEmitter e(b, op.getLoc());
  Location loc = op.getLoc();
  Value cu = op.getCuSeqlens();
  Value localCu = e.localSeqlens(module, cu, op.getX(), 2);
  // The whole offsets as i64, for the halo and the final states.
  auto i64Flat = MemRefType::get({ShapedType::kDynamic}, b.getI64Type());
  Value cu64 = cu;
  {
    auto cuT = cast<RankedTensorType>(cu.getType());
    auto t64 = RankedTensorType::get(cuT.getShape(), b.getI64Type());
    if (!cuT.getElementType().isInteger(64)) {
      llvm::SmallVector<Value> n;
      if (cuT.isDynamicDim(0))
        n.push_back(e.dimSize(cu, 0));
      Value init = tensor::EmptyOp::create(b, loc, t64.getShape(),
                                           b.getI64Type(), n);
      AffineMap id = b.getMultiDimIdentityMap(1);
      cu64 = linalg::GenericOp::create(
                 b, loc, t64, cu, init, llvm::ArrayRef<AffineMap>{id, id},
                 llvm::ArrayRef<utils::IteratorType>{
                     utils::IteratorType::parallel},
                 [&](OpBuilder &nb, Location nl, ValueRange a) {
                   linalg::YieldOp::create(
                       nb, nl,
                       Value(arith::ExtSIOp::create(nb, nl, nb.getI64Type(),
                                                    a[0])));
                 })
                 .getResult(0);
    }
  }
  Value cuBuf = memref::CastOp::create(b, loc, i64Flat,
                                       ssmc::detail::toBuffer(b, loc, cu64));
  declareRuntime(module, loc, "ssmcMpiPackedHalo",
                 {e.dynMemRef(3), e.dynMemRef(3), i64Flat, e.dynMemRef(3)});
  auto xT = cast<RankedTensorType>(op.getX().getType());
  auto wT = cast<RankedTensorType>(op.getWeight().getType());
  int64_t H = ShapedType::isDynamic(wT.getDimSize(1)) ? ShapedType::kDynamic
                                                      : wT.getDimSize(1) - 1;
  auto haloT =
      RankedTensorType::get({staticCount(cu.getType()), xT.getDimSize(1), H}, e.f32);
  Value c1 = arith::ConstantIndexOp::create(b, loc, 1);
  llvm::SmallVector<Value> sizes{
      e.sequenceCount(cu), e.dimSize(op.getX(), 1),
      arith::SubIOp::create(b, loc, e.dimSize(op.getWeight(), 1), c1)};
  Value halo = ssmc::detail::allocLike(b, loc, haloT, sizes);
  Value init = memref::CastOp::create(
      b, loc, e.dynMemRef(3),
      op.getInitialState()
          ? ssmc::detail::toBuffer(b, loc, op.getInitialState())
          : Value(memref::AllocaOp::create(b, loc,
                                           MemRefType::get({0, 0, 0}, e.f32))));
  Value x = memref::CastOp::create(b, loc, e.dynMemRef(3),
                                   ssmc::detail::toBuffer(b, loc, op.getX()));
  func::CallOp::create(
      b, loc, "ssmcMpiPackedHalo", TypeRange{},
      ValueRange{x, init, cuBuf,
                 memref::CastOp::create(b, loc, e.dynMemRef(3), halo)});
  Value haloTensor = ssmc::detail::toTensor(b, loc, haloT, halo);
  if (op.getInitialState() && op.getInitialState().getType() != haloT)
    haloTensor = tensor::CastOp::create(b, loc, op.getInitialState().getType(),
                                        haloTensor);
  Type finalT = op.getFinalState() ? op.getFinalState().getType() : Type();
  auto full = ssm::CausalConv1dOp::create(
      b, loc, op.getOut().getType(), finalT, op.getX(), op.getWeight(),
      op.getBias(), haloTensor, localCu, op.getSiluAttr());
  llvm::SmallVector<Value> results{full.getOut()};
  if (op.getFinalState()) {
    declareRuntime(module, loc, "ssmcMpiPackedFinals",
                   {e.dynMemRef(1), i64Flat, b.getI64Type(), e.dynMemRef(1)});
    auto fT = cast<RankedTensorType>(finalT);
    llvm::SmallVector<Value> fsizes;
    for (int64_t i = 0; i < fT.getRank(); ++i)
      fsizes.push_back(e.dimSize(full.getFinalState(), i));
    Value gathered = ssmc::detail::allocLike(b, loc, fT, fsizes);
    Value len = arith::IndexCastOp::create(b, loc, b.getI64Type(),
                                           e.dimSize(op.getX(), 2));
    func::CallOp::create(b, loc, "ssmcMpiPackedFinals", TypeRange{},
                         ValueRange{e.flatBuffer(full.getFinalState()), cuBuf,
                                    len, e.flatten(gathered)});
    results.push_back(ssmc::detail::toTensor(b, loc, fT, gathered));
  }
  op->replaceAllUsesWith(results);
  op->erase();
}

/// causal_conv1d: the W - 1 steps before the slice (the halo, from the
/// ranks before; the program's initial state before the first step) are
/// the slice's initial state. No rescan: a convolution only looks back W - 1
/// steps.
void shardCausalConv(ModuleOp module, ssm::CausalConv1dOp op) {
  if (op.getCuSeqlens())
    return shardPackedCausalConv(module, op);
  OpBuilder b(op);
  ShardEmitter e(b, op.getLoc());
  constexpr llvm::StringLiteral kHaloFn = "ssmcMpiHalo";
  if (!module.lookupSymbol(kHaloFn)) {
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto fn = func::FuncOp::create(
        mb, op.getLoc(), kHaloFn,
        mb.getFunctionType({e.dynMemRef(3), e.dynMemRef(3), e.dynMemRef(3)}, {}));
    fn.setPrivate();
    fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
  }
  auto xT = cast<RankedTensorType>(op.getX().getType());
  auto wT = cast<RankedTensorType>(op.getWeight().getType());
  int64_t H = ShapedType::isDynamic(wT.getDimSize(1)) ? ShapedType::kDynamic
                                                      : wT.getDimSize(1) - 1;
  auto haloT = RankedTensorType::get({xT.getDimSize(0), xT.getDimSize(1), H}, e.f32);
  Value c1 = arith::ConstantIndexOp::create(b, e.loc, 1);
  llvm::SmallVector<Value> sizes{
      e.dimSize(op.getX(), 0), e.dimSize(op.getX(), 1),
      arith::SubIOp::create(b, e.loc, e.dimSize(op.getWeight(), 1), c1)};
  Value halo = ssmc::detail::allocLike(b, e.loc, haloT, sizes);
  Value init;
  if (op.getInitialState())
    init = memref::CastOp::create(
        b, e.loc, e.dynMemRef(3),
        ssmc::detail::toBuffer(b, e.loc, op.getInitialState()));
  else
    init = memref::CastOp::create(
        b, e.loc, e.dynMemRef(3),
        memref::AllocaOp::create(b, e.loc, MemRefType::get({0, 0, 0}, e.f32)));
  Value x = memref::CastOp::create(b, e.loc, e.dynMemRef(3),
                                   ssmc::detail::toBuffer(b, e.loc, op.getX()));
  func::CallOp::create(b, e.loc, kHaloFn, TypeRange{},
                       ValueRange{x, init,
                                  memref::CastOp::create(b, e.loc, e.dynMemRef(3), halo)});
  Value haloTensor = ssmc::detail::toTensor(b, e.loc, haloT, halo);
  if (op.getInitialState() && op.getInitialState().getType() != haloT)
    haloTensor = tensor::CastOp::create(b, e.loc, op.getInitialState().getType(),
                                        haloTensor);
  auto full = ssm::CausalConv1dOp::create(
      b, op.getLoc(), op.getOut().getType(),
      op.getFinalState() ? op.getFinalState().getType() : Type(), op.getX(),
      op.getWeight(), op.getBias(), haloTensor, Value(), op.getSiluAttr());
  op->replaceAllUsesWith(full->getResults());
  op->erase();
}

/// attention (ring attention): the K/V blocks travel along the ranks and
/// ssmcMpiRingAttention folds each into the rows that see it with the
/// online softmax. The same options reach the runtime: scale, softcap, the
/// two-sided window (causal: right = 0), ALiBi slopes, sinks, and the
/// packed offsets and key counts (replicated; positions are the whole
/// sequence's: the runtime knows every slice's length). Causal attention
/// without packing or key counts: rank 0's rows see only its own keys, so
/// it runs the op on its slice as it is and only passes its K/V on; every
/// other form computes every rank's rows in the runtime (without causal
/// every rank needs every block: the full ring).
void shardAttention(ModuleOp module, ssm::AttentionOp op) {
  constexpr llvm::StringLiteral kRingFn = "ssmcMpiRingAttention";
  OpBuilder b(op);
  ShardEmitter e(b, op.getLoc());
  Type i64 = b.getI64Type();
  if (!module.lookupSymbol(kRingFn)) {
    OpBuilder mb = OpBuilder::atBlockEnd(module.getBody());
    auto flat = MemRefType::get({ShapedType::kDynamic}, e.f32);
    auto flat64 = MemRefType::get({ShapedType::kDynamic}, i64);
    auto fn = func::FuncOp::create(
        mb, op.getLoc(), kRingFn,
        mb.getFunctionType({e.dynMemRef(4), e.dynMemRef(4), e.dynMemRef(4),
                            flat, flat, flat64, flat64, flat64, e.dynMemRef(4),
                            e.f32, e.f32, i64, i64, i64},
                           {}));
    fn.setPrivate();
    fn->setAttr("llvm.emit_c_interface", mb.getUnitAttr());
  }
  auto ring = [&](Value out, bool compute) {
    auto buf4 = [&](Value t) -> Value {
      return memref::CastOp::create(e.b, e.loc, e.dynMemRef(4),
                                    ssmc::detail::toBuffer(e.b, e.loc, t));
    };
    auto f32c = [&](double v) -> Value {
      return arith::ConstantOp::create(e.b, e.loc,
                                       e.b.getF32FloatAttr(float(v)));
    };
    auto i64c = [&](int64_t v) -> Value {
      return arith::ConstantIntOp::create(e.b, e.loc, v, 64);
    };
    std::optional<llvm::APFloat> scale = op.getScale();
    std::optional<llvm::APFloat> softcap = op.getSoftcap();
    func::CallOp::create(
        e.b, e.loc, kRingFn, TypeRange{},
        ValueRange{buf4(op.getQ()), buf4(op.getK()), buf4(op.getV()),
                   e.flatBuffer(op.getAlibiSlopes()),
                   e.flatBuffer(op.getSinks()),
                   e.flatI64Buffer(op.getCuSeqlensQ()),
                   e.flatI64Buffer(op.getCuSeqlensK()),
                   e.flatI64Buffer(op.getSequsedK()), out,
                   f32c(scale ? scale->convertToDouble() : NAN),
                   f32c(softcap ? softcap->convertToDouble() : 0.0),
                   i64c(op.getLeftWindow().value_or(-1)),
                   i64c(op.getRightWindow().value_or(-1)), i64c(compute)});
  };
  auto outT = cast<RankedTensorType>(op.getOut().getType());
  auto computed = [&]() {
    llvm::SmallVector<Value> sizes{
        e.dimSize(op.getQ(), 0), e.dimSize(op.getQ(), 1),
        e.dimSize(op.getQ(), 2), e.dimSize(op.getV(), 3)};
    Value out = ssmc::detail::allocLike(e.b, e.loc, outT, sizes);
    ring(memref::CastOp::create(e.b, e.loc, e.dynMemRef(4), out), true);
    return llvm::SmallVector<Value>{
        ssmc::detail::toTensor(e.b, e.loc, outT, out)};
  };
  llvm::SmallVector<Value> replaced;
  if (op.getCausal() && !op.isPacked() && !op.getSequsedK())
    replaced = e.byRank(
        module, op->getResultTypes(),
        [&] {
          Value none = memref::AllocaOp::create(
              e.b, e.loc, MemRefType::get({0, 0, 0, 0}, e.f32));
          ring(memref::CastOp::create(e.b, e.loc, e.dynMemRef(4), none),
               false);
          return llvm::SmallVector<Value>{e.b.clone(*op)->getResult(0)};
        },
        computed);
  else
    replaced = computed();
  op->replaceAllUsesWith(replaced);
  op->erase();
}

/// The distributed form of one sequence op (its layout checked); `rescan`
/// keeps the rescan where the outputs could be corrected.
void shardSequenceOp(ModuleOp module, Operation *op, bool rescan) {
  if (auto s = dyn_cast<ssm::SelectiveScanOp>(op))
    shardSelectiveScan(module, s);
  else if (auto s = dyn_cast<ssm::SSDOp>(op))
    shardSSD(module, s, rescan);
  else if (auto s = dyn_cast<ssm::LinearAttentionOp>(op))
    shardLinearAttention(module, s, rescan);
  else if (auto s = dyn_cast<ssm::DeltaRuleOp>(op))
    shardDeltaRule(module, s);
  else if (auto s = dyn_cast<ssm::CausalConv1dOp>(op))
    shardCausalConv(module, s);
  else if (auto s = dyn_cast<ssm::AttentionOp>(op))
    shardAttention(module, s);
}

struct SSMShardSequencePass
    : public ssmc::impl::SSMShardSequenceBase<SSMShardSequencePass> {
  using SSMShardSequenceBase::SSMShardSequenceBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (!functions.empty()) {
      for (const std::string &name : functions)
        if (failed(shardInPlace(module, name)))
          return signalPassFailure();
      return;
    }
    llvm::SmallVector<func::FuncOp> fns;
    for (auto fn : module.getOps<func::FuncOp>())
      if (fn.isPublic() && !fn.isExternal())
        fns.push_back(fn);
    for (func::FuncOp fn : fns)
      if (failed(shardFunction(module, fn)))
        return signalPassFailure();
  }

  /// `functions=`: every sequence op of function `name`, wherever it is,
  /// rewritten in place; the signature stays (the caller slices).
  LogicalResult shardInPlace(ModuleOp module, llvm::StringRef name) {
    auto fn = module.lookupSymbol<func::FuncOp>(name);
    if (!fn || fn.isExternal())
      return module.emitError("ssm-shard-sequence: no function '")
             << name << "' with a body to distribute";
    llvm::SmallVector<Operation *> ops;
    bool ok = true;
    fn.walk([&](Operation *op) {
      if (!isa<ssm::SequenceOpInterface>(op))
        return;
      if (failed(layoutOf(op))) {
        ok = false;
        return;
      }
      for (Value f : op->getResults().drop_front())
        if (!cast<ShapedType>(f.getType()).getElementType().isF32()) {
          op->emitOpError("sequence parallelism needs f32 states");
          ok = false;
          return;
        }
      ops.push_back(op);
    });
    if (!ok)
      return failure();
    for (Operation *op : ops)
      shardSequenceOp(module, op, rescan);
    return success();
  }

  LogicalResult shardFunction(ModuleOp module, func::FuncOp fn) {
    if (!fn.getBody().hasOneBlock())
      return fn.emitOpError("with more than one block cannot be distributed");
    FunctionPlan plan;
    if (failed(planFunction(fn, plan)))
      return failure();
    // Results: slices along their dimension, final states from the last
    // rank, everything else replicated.
    auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
    auto i64 = IntegerType::get(fn.getContext(), 64);
    for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
      if (auto it = plan.seqDim.find(v); it != plan.seqDim.end())
        fn.setResultAttr(i, kSeqDim, IntegerAttr::get(i64, it->second));
      else if (plan.finals.count(v) && !plan.firstRankFinals.count(v))
        fn.setResultAttr(i, kSeqLast, UnitAttr::get(fn.getContext()));
    }
    // L becomes dynamic: every rank holds a slice of its own length.
    for (BlockArgument arg : fn.getArguments())
      if (auto it = plan.seqDim.find(arg); it != plan.seqDim.end()) {
        arg.setType(withDynamicDim(arg.getType(), it->second));
        fn.setArgAttr(arg.getArgNumber(), kSeqDim,
                      IntegerAttr::get(i64, it->second));
      }
    for (Operation *op : plan.ops)
      op->getResult(0).setType(
          withDynamicDim(op->getResult(0).getType(), plan.seqDim[op->getResult(0)]));
    for (Operation *op : plan.ops)
      shardSequenceOp(module, op, rescan);
    llvm::SmallVector<Type> results(ret.getOperandTypes());
    fn.setType(FunctionType::get(fn.getContext(), fn.getBody().getArgumentTypes(), results));
    return success();
  }
};

} // namespace
