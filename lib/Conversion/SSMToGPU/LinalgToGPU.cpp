//===- LinalgToGPU.cpp - elementwise and reduction linalg ops as kernels --===//
//
// The language models' ops between the projections: norms (a reduction
// linalg.generic and a parallel one), gates and activations, residual adds
// (elementwise arith/math on tensors, made linalg.generic first by
// upstream's elementwise-to-linalg patterns), transposes, the embedding
// gather (tensor.extract of the table at a token id), copies, fills and the
// int8 models' row scales. Any linalg.generic, linalg.transpose,
// linalg.copy or linalg.fill on tensors whose body is arith/math on
// f32/f16/bf16 (math on f32: the functions ssm-approximate-math and
// ssm-gpu-replace-libdevice lower without libdevice), linalg.index and
// tensor.extract of tensors defined outside it, with projected-permutation
// indexing maps (constants allowed) and f32/f16/bf16 outputs, becomes one
// kernel; f64 anywhere stays on the host. The body is cloned as is (the
// program's own types and arithmetic), its operands loaded from buffers of
// the op's operands.
//
//  parallel (no reduction dims): a thread per point of the iteration space,
//  the points linearised with the first output's dimensions innermost
//  (consecutive threads write consecutive outputs, and read consecutive
//  elements of every operand indexed like it: coalesced); a grid of at most
//  kMaxParallelBlocks blocks strides over the points.
//
//  reduction (one f32 output whose body combines the output argument with
//  an addf, mulf or min/max of values that do not depend on it): 128-thread
//  blocks of Tp points x Tr = 128 / Tp threads per point. Thread (tp, tr)
//  folds the reduction indices tr, tr + Tr, .. of its point into a partial
//  started from the combiner's identity, the block combines the partials
//  as a tree in shared memory (log2(Tr) rounds between barriers) and one
//  thread per point stores init (+) total. Tp = 1 (a whole block per point:
//  rmsnorm in decode, one point reducing 768 channels) when the reduction
//  runs along the input's contiguous dimension or there are fewer than
//  kBlockReducePoints points; else Tp = 32, so consecutive threads take
//  consecutive points (coalesced when the points are the contiguous
//  dimension, as for a norm over the channels of [C, L] in prefill). The
//  choice is made at run time when the point count is dynamic.
//
// An output whose body argument is read is loaded from its init operand,
// or taken from the value of a linalg.fill init (not staged); otherwise the
// init is not read at all. A linalg.fill that is another linalg op's init
// is left to that op (the matmul and reduction kernels read its value).
//
//===----------------------------------------------------------------------===//

#include "KernelUtils.h"
#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"

#include <limits>

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;

namespace {

/// Blocks of the parallel kernel at most (a grid-stride loop covers the
/// rest): 4096 x 128 threads fill an sm_90 card several times over.
constexpr int64_t kMaxParallelBlocks = 4096;
/// Below this many points a reduction takes a whole block per point.
constexpr int64_t kBlockReducePoints = 1024;
/// Points per block of the reduction kernel otherwise (a warp's width).
constexpr int64_t kReducePointsPerBlock = 32;

bool isGPUFloat(Type t) { return t.isF32() || t.isF16() || t.isBF16(); }

/// Math ops a kernel may use on f32: ssm-approximate-math turns the
/// transcendental ones into polynomials, ssm-gpu-replace-libdevice the
/// others into LLVM intrinsics (no libdevice is linked).
bool isKernelMath(Operation *op) {
  return isa<math::ExpOp, math::ExpM1Op, math::LogOp, math::Log1pOp,
             math::Log2Op, math::TanhOp, math::ErfOp, math::SinOp, math::CosOp,
             math::AtanOp, math::Atan2Op, math::SqrtOp, math::AbsFOp,
             math::FloorOp, math::CeilOp, math::FmaOp>(op) &&
         llvm::all_of(op->getOperandTypes(),
                      [](Type t) { return t.isF32(); });
}

/// The reduction's combiner: the op the body yields, combining the output
/// argument (used by it alone) with the rest of the body's value.
struct Combiner {
  Operation *op = nullptr;
  BlockArgument acc;
  double identity = 0;

  /// combine(x, y): the combiner with the output argument x and the body's
  /// value y.
  Value build(OpBuilder &b, Value x, Value y) const {
    IRMapping m;
    m.map(acc, x);
    m.map(op->getOperand(op->getOperand(0) == acc ? 1 : 0), y);
    return b.clone(*op, m)->getResult(0);
  }
};

FailureOr<Combiner> matchCombiner(linalg::LinalgOp op) {
  Combiner c;
  c.acc = op.getMatchingBlockArgument(op.getDpsInitOperand(0));
  auto yield = cast<linalg::YieldOp>(op.getBlock()->getTerminator());
  c.op = yield->getOperand(0).getDefiningOp();
  if (!c.op || c.op->getBlock() != op.getBlock() || !c.acc.hasOneUse() ||
      c.acc.getUses().begin()->getOwner() != c.op ||
      c.op->getNumOperands() != 2)
    return failure();
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (isa<arith::AddFOp>(c.op))
    c.identity = 0;
  else if (isa<arith::MulFOp>(c.op))
    c.identity = 1;
  else if (isa<arith::MaximumFOp, arith::MaxNumFOp>(c.op))
    c.identity = -inf;
  else if (isa<arith::MinimumFOp, arith::MinNumFOp>(c.op))
    c.identity = inf;
  else
    return failure();
  return c;
}

/// Why `op`'s body cannot run in a kernel, or an empty string.
std::string unsupportedBody(linalg::LinalgOp op) {
  Block *body = op.getBlock();
  auto isF64 = [](Type t) { return getElementTypeOrSelf(t).isF64(); };
  for (BlockArgument a : body->getArguments())
    if (isF64(a.getType()))
      return "f64 operands stay on the host";
  for (Operation &o : body->without_terminator()) {
    if (llvm::any_of(o.getOperandTypes(), isF64) ||
        llvm::any_of(o.getResultTypes(), isF64))
      return "f64 arithmetic stays on the host";
    if (o.getNumRegions())
      return "ops with regions in the body";
    if (isa<linalg::IndexOp>(o))
      continue;
    if (auto ex = dyn_cast<tensor::ExtractOp>(o)) {
      if (op->isAncestor(ex.getTensor().getParentBlock()->getParentOp()))
        return "tensor.extract of a tensor made in the body";
      continue;
    }
    if (isa<math::MathDialect>(o.getDialect())) {
      if (!isKernelMath(&o))
        return "math op without a kernel lowering (f32 exp, log, tanh, "
               "erf, sin, cos, atan, sqrt, abs, floor, ceil, fma only)";
      continue;
    }
    if (!isa<arith::ArithDialect>(o.getDialect()) || isa<arith::RemFOp>(o))
      return "body op '" + o.getName().getStringRef().str() +
             "' without a kernel lowering";
    if (llvm::any_of(o.getOperandTypes(),
                     [](Type t) { return isa<ShapedType>(t); }))
      return "tensor values in the body";
  }
  return "";
}

/// The loop dims `present` (in order) after the others of `kind`: the
/// last is the innermost of a linearised index.
SmallVector<int64_t> dimOrder(ArrayRef<utils::IteratorType> iterators,
                              utils::IteratorType kind, AffineMap preferred) {
  SmallVector<int64_t> inner, order;
  if (preferred)
    for (AffineExpr e : preferred.getResults())
      if (auto d = dyn_cast<AffineDimExpr>(e))
        if (iterators[d.getPosition()] == kind &&
            !llvm::is_contained(inner, d.getPosition()))
          inner.push_back(d.getPosition());
  for (int64_t d = 0, e = iterators.size(); d < e; ++d)
    if (iterators[d] == kind && !llvm::is_contained(inner, d))
      order.push_back(d);
  order.append(inner);
  return order;
}

/// The first input with a shape, or null.
OpOperand *firstShapedInput(linalg::LinalgOp op) {
  for (OpOperand *in : op.getDpsInputOperands())
    if (auto t = dyn_cast<ShapedType>(in->get().getType()); t && t.getRank())
      return in;
  return nullptr;
}

/// The linalg.fill whose value an init operand is (its element type).
Value fillValueOf(Value init) {
  auto fill = init.getDefiningOp<linalg::FillOp>();
  if (!fill || !fill.hasPureTensorSemantics())
    return {};
  Value v = fill.getDpsInputs()[0];
  return v.getType() == getElementTypeOrSelf(init.getType()) ? v : Value();
}

/// One linalg op as a kernel: the buffers and sizes made before the launch
/// and the body evaluated at a point of the iteration space.
class LinalgKernel {
public:
  LinalgKernel(PatternRewriter &rw, Location loc, linalg::LinalgOp op)
      : rw(rw), loc(loc), op(op) {
    for (Range r : op.createLoopRanges(rw, loc))
      sizes.push_back(getValueOrCreateConstantIndexOp(rw, loc, r.size));
    for (OpOperand *in : op.getDpsInputOperands()) {
      Value v = in->get();
      inputs.push_back(isa<RankedTensorType>(v.getType()) &&
                               !op.getMatchingBlockArgument(in).use_empty()
                           ? toStridedBuffer(rw, loc, v)
                           : v);
    }
    op.getBlock()->walk([&](tensor::ExtractOp ex) {
      if (!extracted.count(ex.getTensor()))
        extracted[ex.getTensor()] = toStridedBuffer(rw, loc, ex.getTensor());
    });
    for (OpOperand &init : op.getDpsInitsMutable()) {
      Value t = init.get();
      Value fill, buffer;
      if (!op.getMatchingBlockArgument(&init).use_empty()) {
        fill = fillValueOf(t);
        if (!fill)
          buffer = toStridedBuffer(rw, loc, t);
      }
      initFills.push_back(fill);
      initBuffers.push_back(buffer);
      auto tt = cast<RankedTensorType>(t.getType());
      SmallVector<Value> dims;
      for (int64_t i = 0; i < tt.getRank(); ++i)
        dims.push_back(tt.isDynamicDim(i)
                           ? tensor::DimOp::create(rw, loc, t, i).getResult()
                           : Value());
      outs.push_back(allocLike(rw, loc, tt, dims));
    }
  }

  void emitParallel();
  void emitReduction(const Combiner &combiner, bool contiguousReduction);

  SmallVector<Value> results() {
    SmallVector<Value> r;
    for (auto [t, buffer] : llvm::zip(op->getResultTypes(), outs))
      r.push_back(toTensor(rw, loc, t, buffer));
    return r;
  }

private:
  /// The product of the sizes of `dims`.
  Value product(ArrayRef<int64_t> dims) {
    Value p = cidx(rw, loc, 1);
    for (int64_t d : dims)
      p = arith::MulIOp::create(rw, loc, p, sizes[d]);
    return p;
  }
  /// Fills `ivs` at `dims` (outer to inner) from the linear index `i`.
  void delinearize(OpBuilder &b, Value i, ArrayRef<int64_t> dims,
                   SmallVectorImpl<Value> &ivs) {
    for (int64_t d : llvm::reverse(dims)) {
      // A zero size has no points: any divisor keeps the division defined.
      Value size = arith::MaxUIOp::create(b, loc, sizes[d], cidx(b, loc, 1));
      ivs[d] = arith::RemUIOp::create(b, loc, i, size);
      i = arith::DivUIOp::create(b, loc, i, size);
    }
  }
  SmallVector<Value> indicesOf(OpBuilder &b, AffineMap map,
                               ArrayRef<Value> ivs) {
    SmallVector<Value> at;
    for (AffineExpr e : map.getResults())
      at.push_back(isa<AffineDimExpr>(e)
                       ? ivs[cast<AffineDimExpr>(e).getPosition()]
                       : cidx(b, loc, cast<AffineConstantExpr>(e).getValue()));
    return at;
  }
  /// Output `i`'s init at the point (its fill value, or its element).
  Value initAt(OpBuilder &b, int64_t i, ArrayRef<Value> ivs) {
    if (initFills[i])
      return initFills[i];
    return memref::LoadOp::create(
        b, loc, initBuffers[i],
        indicesOf(b, op.getMatchingIndexingMap(op.getDpsInitOperand(i)), ivs));
  }
  /// The values the body yields at the point `ivs`, with the output
  /// arguments bound to `outArgs` (null where unused).
  SmallVector<Value> evalBody(OpBuilder &b, ArrayRef<Value> ivs,
                              ArrayRef<Value> outArgs) {
    IRMapping map;
    for (auto [i, in] : llvm::enumerate(op.getDpsInputOperands())) {
      BlockArgument arg = op.getMatchingBlockArgument(in);
      if (arg.use_empty())
        continue;
      if (!isa<RankedTensorType>(in->get().getType())) {
        map.map(arg, inputs[i]);
        continue;
      }
      map.map(arg, memref::LoadOp::create(
                       b, loc, inputs[i],
                       indicesOf(b, op.getMatchingIndexingMap(in), ivs)));
    }
    for (int64_t i = 0, e = op.getNumDpsInits(); i < e; ++i)
      if (outArgs[i])
        map.map(op.getMatchingBlockArgument(op.getDpsInitOperand(i)),
                outArgs[i]);
    for (Operation &o : op.getBlock()->without_terminator()) {
      if (auto idx = dyn_cast<linalg::IndexOp>(o)) {
        map.map(idx.getResult(), ivs[idx.getDim()]);
        continue;
      }
      if (auto ex = dyn_cast<tensor::ExtractOp>(o)) {
        SmallVector<Value> at;
        for (Value v : ex.getIndices())
          at.push_back(map.lookupOrDefault(v));
        map.map(ex.getResult(),
                memref::LoadOp::create(b, loc, extracted.lookup(ex.getTensor()),
                                       at)
                    .getResult());
        continue;
      }
      b.clone(o, map);
    }
    SmallVector<Value> vals;
    for (Value v : op.getBlock()->getTerminator()->getOperands())
      vals.push_back(map.lookupOrDefault(v));
    return vals;
  }
  Value lt(OpBuilder &b, Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
  }

  PatternRewriter &rw;
  Location loc;
  linalg::LinalgOp op;
  SmallVector<Value> sizes, inputs, initFills, initBuffers, outs;
  llvm::DenseMap<Value, Value> extracted;
};

void LinalgKernel::emitParallel() {
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  SmallVector<int64_t> order =
      dimOrder(iters, utils::IteratorType::parallel,
               op.getMatchingIndexingMap(op.getDpsInitOperand(0)));
  Value points = product(order);
  Value blocks = arith::MinUIOp::create(
      rw, loc,
      arith::CeilDivUIOp::create(rw, loc, points, cidx(rw, loc, kBlock)),
      cidx(rw, loc, kMaxParallelBlocks));
  // Threads of the whole grid (at least one block: launchBlocks' floor).
  Value stride = arith::MulIOp::create(
      rw, loc, arith::MaxUIOp::create(rw, loc, blocks, cidx(rw, loc, 1)),
      cidx(rw, loc, kBlock));
  launchBlocks(rw, loc, blocks, TypeRange{}, [&](Value bid, Value tid,
                                                 ValueRange) {
    Value first = arith::AddIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, bid, cidx(rw, loc, kBlock)),
        tid);
    scf::ForOp::create(
        rw, loc, first, points, stride, ValueRange{},
        [&](OpBuilder &b, Location l, Value p, ValueRange) {
          SmallVector<Value> ivs(iters.size());
          delinearize(b, p, order, ivs);
          SmallVector<Value> outArgs;
          for (int64_t i = 0, e = op.getNumDpsInits(); i < e; ++i)
            outArgs.push_back(
                op.getMatchingBlockArgument(op.getDpsInitOperand(i)).use_empty()
                    ? Value()
                    : initAt(b, i, ivs));
          for (auto [i, v] : llvm::enumerate(evalBody(b, ivs, outArgs)))
            memref::StoreOp::create(
                b, l, v, outs[i],
                indicesOf(b,
                          op.getMatchingIndexingMap(op.getDpsInitOperand(i)),
                          ivs));
          scf::YieldOp::create(b, l);
        });
  });
}

void LinalgKernel::emitReduction(const Combiner &combiner,
                                 bool contiguousReduction) {
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  AffineMap outMap = op.getMatchingIndexingMap(op.getDpsInitOperand(0));
  OpOperand *in = firstShapedInput(op);
  SmallVector<int64_t> parDims =
      dimOrder(iters, utils::IteratorType::parallel, outMap);
  SmallVector<int64_t> redDims =
      dimOrder(iters, utils::IteratorType::reduction,
               in ? op.getMatchingIndexingMap(in) : AffineMap());
  Value points = product(parDims), extent = product(redDims);
  Value c1 = cidx(rw, loc, 1);
  Value wide = cidx(rw, loc, kReducePointsPerBlock);
  Value perBlock =
      contiguousReduction
          ? c1
          : arith::SelectOp::create(
                rw, loc, lt(rw, points, cidx(rw, loc, kBlockReducePoints)), c1,
                wide)
                .getResult();
  Value blocks = arith::CeilDivUIOp::create(rw, loc, points, perBlock);
  Type shared[] = {sharedArrayType(rw.getContext(), kBlock)};
  launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                            ValueRange arrays) {
    Value sh = arrays[0];
    Value tp = arith::RemUIOp::create(rw, loc, tid, perBlock);
    Value tr = arith::DivUIOp::create(rw, loc, tid, perBlock);
    Value threadsPerPoint =
        arith::DivUIOp::create(rw, loc, cidx(rw, loc, kBlock), perBlock);
    Value p = arith::AddIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, bid, perBlock), tp);
    Value valid = lt(rw, p, points);
    SmallVector<Value> ivs(iters.size(), cidx(rw, loc, 0));
    delinearize(rw, p, parDims, ivs);
    // A thread past the points folds nothing but joins the barriers.
    Value end = arith::SelectOp::create(rw, loc, valid, extent,
                                        cidx(rw, loc, 0));
    Value identity = arith::ConstantOp::create(
        rw, loc, rw.getF32FloatAttr(combiner.identity));
    auto fold = scf::ForOp::create(
        rw, loc, tr, end, threadsPerPoint, ValueRange{identity},
        [&](OpBuilder &b, Location l, Value r, ValueRange acc) {
          SmallVector<Value> at(ivs);
          delinearize(b, r, redDims, at);
          scf::YieldOp::create(
              b, l, evalBody(b, at, SmallVector<Value>(acc.begin(), acc.end())));
        });
    memref::StoreOp::create(rw, loc, fold.getResult(0), sh, ValueRange{tid});
    barrier(rw, loc);
    // Tree rounds: partial tr += partial tr + s of the same point.
    for (int64_t s = kBlock / 2; s >= 1; s /= 2) {
      Value cs = cidx(rw, loc, s);
      Value active = arith::AndIOp::create(rw, loc, lt(rw, cs, threadsPerPoint),
                                           lt(rw, tr, cs));
      ifThen(rw, loc, active, [&](OpBuilder &b) {
        Value other = arith::AddIOp::create(
            b, loc, tid, arith::MulIOp::create(b, loc, cs, perBlock));
        Value x = memref::LoadOp::create(b, loc, sh, ValueRange{tid});
        Value y = memref::LoadOp::create(b, loc, sh, ValueRange{other});
        memref::StoreOp::create(b, loc, combiner.build(b, x, y), sh,
                                ValueRange{tid});
      });
      barrier(rw, loc);
    }
    Value lead = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, tr,
                                       cidx(rw, loc, 0));
    ifThen(rw, loc, arith::AndIOp::create(rw, loc, lead, valid),
           [&](OpBuilder &b) {
             Value total = memref::LoadOp::create(b, loc, sh, ValueRange{tp});
             memref::StoreOp::create(
                 b, loc, combiner.build(b, initAt(b, 0, ivs), total), outs[0],
                 indicesOf(b, outMap, ivs));
           });
  });
}

/// Whether the last dimension of `in` that is not statically 1 is a
/// reduction dimension (consecutive reduction indices are adjacent).
bool reducesAlongContiguous(linalg::LinalgOp op, OpOperand *in) {
  if (!in)
    return false;
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  SmallVector<utils::IteratorType> iters = op.getIteratorTypesArray();
  for (AffineExpr e : llvm::reverse(op.getMatchingIndexingMap(in).getResults())) {
    auto d = dyn_cast<AffineDimExpr>(e);
    if (!d || ranges[d.getPosition()] == 1)
      continue;
    return iters[d.getPosition()] == utils::IteratorType::reduction;
  }
  return false;
}

struct LinalgToGPU : OpInterfaceRewritePattern<linalg::LinalgOp> {
  using OpInterfaceRewritePattern::OpInterfaceRewritePattern;

  LogicalResult matchAndRewrite(linalg::LinalgOp op,
                                PatternRewriter &rw) const override {
    if (!isa<linalg::GenericOp, linalg::TransposeOp, linalg::CopyOp,
             linalg::FillOp>(op))
      return rw.notifyMatchFailure(op, "not an elementwise, reduction, "
                                       "transpose, copy or fill op");
    if (!op.hasPureTensorSemantics())
      return rw.notifyMatchFailure(op, "needs tensor operands");
    if (op->getParentOfType<gpu::LaunchOp>())
      return rw.notifyMatchFailure(op, "already inside a kernel");
    if (isa<linalg::FillOp>(op) &&
        llvm::any_of(op->getUsers(), [&](Operation *user) {
          auto dps = dyn_cast<linalg::LinalgOp>(user);
          return dps && llvm::is_contained(dps.getDpsInits(),
                                           op->getResult(0));
        }))
      return rw.notifyMatchFailure(
          op, "the init of a linalg op, which reads the fill's value");
    for (AffineMap m : op.getIndexingMapsArray())
      if (!llvm::all_of(m.getResults(), [](AffineExpr e) {
            return isa<AffineDimExpr, AffineConstantExpr>(e);
          }))
        return rw.notifyMatchFailure(op, "indexing maps other than dims and "
                                         "constants");
    for (Value v : op.getDpsInits())
      if (!isGPUFloat(getElementTypeOrSelf(v.getType())))
        return rw.notifyMatchFailure(
            op, "outputs other than f32, f16 or bf16 stay on the host");
    for (Value v : op.getDpsInputs())
      if (getElementTypeOrSelf(v.getType()).isF64())
        return rw.notifyMatchFailure(op, "f64 operands stay on the host");
    if (std::string why = unsupportedBody(op); !why.empty())
      return rw.notifyMatchFailure(op, why);

    Location loc = op.getLoc();
    if (op.getNumReductionLoops() == 0) {
      LinalgKernel kernel(rw, loc, op);
      kernel.emitParallel();
      rw.replaceOp(op, kernel.results());
      return success();
    }
    if (op.getNumDpsInits() != 1 ||
        !getElementTypeOrSelf(op.getDpsInits()[0].getType()).isF32())
      return rw.notifyMatchFailure(
          op, "reductions need a single f32 output");
    FailureOr<Combiner> combiner = matchCombiner(op);
    if (failed(combiner))
      return rw.notifyMatchFailure(
          op, "the body does not combine the output by addf, mulf, "
              "maximumf, minimumf, maxnumf or minnumf alone");
    bool contiguous = reducesAlongContiguous(op, firstShapedInput(op));
    LinalgKernel kernel(rw, loc, op);
    kernel.emitReduction(*combiner, contiguous);
    rw.replaceOp(op, kernel.results());
    return success();
  }
};

} // namespace

void ssmc::populateLinalgToGPUPatterns(RewritePatternSet &patterns) {
  linalg::populateElementwiseToLinalgConversionPatterns(patterns);
  patterns.add<LinalgToGPU>(patterns.getContext());
}
