//===- DeltaRuleToLoops.cpp - CPU lowering of the delta-rule family -------===//
//
// ssm.delta_rule on CPU: one task per (sequence, value head), in parallel;
// each task runs the recurrence step by step with its K x V state in the
// state buffer (the final_state result when asked for, else a scratch
// buffer the pipeline's buffer deallocation frees).
// Every step has the same shape for all forms: with the step's key-sized
// vectors prepared first (q~, k~, the decay w, the vector x the state is
// read along, and for DPLR the vector b), each block of `lanes` value
// columns makes two passes over the K state rows:
//   pass 1:  p = x^T S_{t-1}          (x = w k~: the decayed state's
//                                      prediction of v; DPLR: x = a)
//   pass 2:  S_t = diag(w) S_{t-1} + k~ u^T,  u = beta (v - p)   (delta)
//            S_t = diag(w) S_{t-1} + b p^T + k~ v^T              (DPLR)
//            o   = S_t^T q~  (accumulated in the same pass)
// so the state is read twice and written once per step, vectorised along V.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// The buffers and sizes every task of one op reads.
struct DeltaBuffers {
  Value q, k, v, beta, gate, a, b, h0, cu, out, state;
  Value len, keyHeads, heads, keyDim, valueDim;
};

/// Rows of the per-task scratch of key-sized vectors.
enum ScratchRow : int64_t { kQ = 0, kK, kW, kX, kB, kRows };

/// The recurrent form for the (sequence `seq`, value head `h`) task, in
/// stages: locate the sequence, load h0, then per step `prepareStep` (the
/// key-sized vectors) and `updateColumns` (the two passes per V block).
class RecurrentTask {
public:
  RecurrentTask(OpBuilder &b, Location loc, ssm::DeltaRuleOp op,
                const ssmc::SSMToLoopsOptions &options, Value seq, Value h,
                const DeltaBuffers &m)
      : b(b), loc(loc), op(op), seq(seq), h(h), m(m),
        acc(cast<FloatType>(op.getAccumulatorType())),
        lanes(laneCount(options.vectorBits, acc)),
        vecTy(VectorType::get({lanes}, acc)) {
    how.fast = options.fastExp;
    how.avx512 = options.avx512;
  }

  void emit() {
    locateSequence();
    loadInitialState();
    scratch = memref::AllocaOp::create(
        b, loc, MemRefType::get({kRows, ShapedType::kDynamic}, acc),
        ValueRange{m.keyDim});
    scf::ForOp::create(b, loc, begin, end, c1, ValueRange{},
                       [&](OpBuilder &b, Location loc, Value t, ValueRange) {
                         prepareStep(b, t);
                         updateColumns(b, t);
                         scf::YieldOp::create(b, loc);
                       });
  }

private:
  Value cst(OpBuilder &b, double x) {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, x));
  }
  Value loadScalar(OpBuilder &b, Value mem, ValueRange at) {
    return castFloat(b, loc, memref::LoadOp::create(b, loc, mem, at), acc);
  }
  Value loadVec(OpBuilder &b, Value mem, ValueRange at, Value mask) {
    Type e = cast<MemRefType>(mem.getType()).getElementType();
    auto vt = VectorType::get({lanes}, e);
    Value zero = arith::ConstantOp::create(
        b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
    return castFloat(
        b, loc, vector::MaskedLoadOp::create(b, loc, vt, mem, at, mask, zero),
        acc);
  }
  Value splat(OpBuilder &b, Value x) {
    return vector::BroadcastOp::create(b, loc, vecTy, x);
  }
  /// A loop over the key rows i in [0, K) carrying `init`.
  template <typename Fn>
  ValueRange forKeys(OpBuilder &b, ValueRange init, Fn &&body) {
    return scf::ForOp::create(
               b, loc, c0, m.keyDim, c1, init,
               [&](OpBuilder &b, Location loc, Value i, ValueRange carried) {
                 SmallVector<Value> next = body(b, i, carried);
                 scf::YieldOp::create(b, loc, next);
               })
        .getResults();
  }

  /// The batch entry, steps [begin, end) and the query/key head.
  void locateSequence() {
    c0 = arith::ConstantIndexOp::create(b, loc, 0);
    c1 = arith::ConstantIndexOp::create(b, loc, 1);
    bIdx = m.cu ? c0 : seq;
    begin = m.cu ? packedOffset(b, loc, m.cu, seq) : c0;
    end = m.cu ? packedOffset(b, loc, m.cu,
                              arith::AddIOp::create(b, loc, seq, c1))
               : m.len;
    Value group = arith::DivUIOp::create(b, loc, m.heads, m.keyHeads);
    hk = arith::DivUIOp::create(b, loc, h, group);
    if (op.getScaleAttr()) {
      scale = cst(b, op.getScaleAttr().getValueAsDouble());
    } else {
      Value kf = arith::UIToFPOp::create(
          b, loc, acc,
          arith::IndexCastOp::create(b, loc, b.getI64Type(), m.keyDim));
      scale = arith::DivFOp::create(b, loc, cst(b, 1),
                                    math::SqrtOp::create(b, loc, kf));
    }
  }

  /// state[seq, h] = h0[seq, h], or zeros.
  void loadInitialState() {
    scf::ForOp::create(
        b, loc, c0, m.keyDim, c1, ValueRange{},
        [&](OpBuilder &b, Location loc, Value i, ValueRange) {
          scf::ForOp::create(
              b, loc, c0, m.valueDim, c1, ValueRange{},
              [&](OpBuilder &b, Location loc, Value j, ValueRange) {
                Value x = m.h0 ? loadScalar(b, m.h0, {seq, h, i, j})
                               : cst(b, 0);
                memref::StoreOp::create(b, loc, x, m.state,
                                        ValueRange{seq, h, i, j});
                scf::YieldOp::create(b, loc);
              });
          scf::YieldOp::create(b, loc);
        });
  }

  /// 1 / sqrt(sum x^2 + 1e-6) of the key-sized row `mem`[bIdx, t, hk, :]
  /// (fla's l2norm), or 1 without `use_qk_l2norm`.
  Value inverseNorm(OpBuilder &b, Value mem, Value t) {
    if (!op.getUseQkL2norm())
      return cst(b, 1);
    Value ss = forKeys(b, ValueRange{cst(b, 0)},
                       [&](OpBuilder &b, Value i, ValueRange c) {
                         Value x = loadScalar(b, mem, {bIdx, t, hk, i});
                         return SmallVector<Value>{
                             math::FmaOp::create(b, loc, x, x, c[0])};
                       })[0];
    Value eps = cst(b, 1e-6);
    return math::RsqrtOp::create(b, loc,
                                 arith::AddFOp::create(b, loc, ss, eps));
  }

  /// The step's key-sized rows of the scratch: q~ (scale and norm applied),
  /// k~, the decay w, the read vector x (w k~, or a) and, for DPLR, b.
  void prepareStep(OpBuilder &b, Value t) {
    Value rq = arith::MulFOp::create(b, loc, scale, inverseNorm(b, m.q, t));
    Value rk = inverseNorm(b, m.k, t);
    bool dplr = op.isDPLR(), keyGate = op.hasKeyGate();
    Value stepDecay;
    if (m.gate && !keyGate)
      stepDecay = math::ExpOp::create(b, loc,
                                      loadScalar(b, m.gate, {bIdx, t, h}));
    auto row = [&](OpBuilder &b, int64_t r, Value i, Value x) {
      Value at = arith::ConstantIndexOp::create(b, loc, r);
      memref::StoreOp::create(b, loc, x, scratch, ValueRange{at, i});
    };
    forKeys(b, ValueRange{}, [&](OpBuilder &b, Value i, ValueRange) {
      Value q = arith::MulFOp::create(
          b, loc, loadScalar(b, m.q, {bIdx, t, hk, i}), rq);
      Value k = arith::MulFOp::create(
          b, loc, loadScalar(b, m.k, {bIdx, t, hk, i}), rk);
      Value w = cst(b, 1);
      if (keyGate)
        w = math::ExpOp::create(b, loc, loadScalar(b, m.gate, {bIdx, t, h, i}));
      else if (stepDecay)
        w = stepDecay;
      row(b, kQ, i, q);
      row(b, kK, i, k);
      row(b, kW, i, w);
      if (dplr) {
        row(b, kX, i, loadScalar(b, m.a, {bIdx, t, h, i}));
        row(b, kB, i, loadScalar(b, m.b, {bIdx, t, h, i}));
      } else {
        row(b, kX, i, arith::MulFOp::create(b, loc, w, k));
      }
      return SmallVector<Value>{};
    });
  }

  Value scratchAt(OpBuilder &b, int64_t r, Value i) {
    Value at = arith::ConstantIndexOp::create(b, loc, r);
    return splat(b, memref::LoadOp::create(b, loc, scratch, ValueRange{at, i}));
  }

  /// The two passes over the state for each block of `lanes` value columns.
  void updateColumns(OpBuilder &b, Value t) {
    Value step = arith::ConstantIndexOp::create(b, loc, lanes);
    Value beta;
    if (m.beta)
      beta = splat(b, loadScalar(b, m.beta, {bIdx, t, h}));
    Value zero = splat(b, cst(b, 0));
    scf::ForOp::create(
        b, loc, c0, m.valueDim, step, ValueRange{},
        [&](OpBuilder &b, Location loc, Value j, ValueRange) {
          Value left = arith::SubIOp::create(b, loc, m.valueDim, j);
          Value mask = vector::CreateMaskOp::create(
              b, loc, VectorType::get({lanes}, b.getI1Type()), left);
          Value v = loadVec(b, m.v, {bIdx, t, h, j}, mask);
          // Pass 1: p = x^T S_{t-1}.
          Value p = forKeys(b, ValueRange{zero}, [&](OpBuilder &b, Value i,
                                                     ValueRange c) {
            Value s = loadVec(b, m.state, {seq, h, i, j}, mask);
            return SmallVector<Value>{
                math::FmaOp::create(b, loc, scratchAt(b, kX, i), s, c[0])};
          })[0];
          // u = beta (v - p) for the delta forms.
          Value u;
          if (m.beta)
            u = arith::MulFOp::create(b, loc, beta,
                                      arith::SubFOp::create(b, loc, v, p));
          // Pass 2: the update and the output.
          Value o = forKeys(b, ValueRange{zero}, [&](OpBuilder &b, Value i,
                                                     ValueRange c) {
            Value s = loadVec(b, m.state, {seq, h, i, j}, mask);
            Value k = scratchAt(b, kK, i);
            Value next = arith::MulFOp::create(b, loc, scratchAt(b, kW, i), s);
            if (m.beta) {
              next = math::FmaOp::create(b, loc, k, u, next);
            } else {
              next = math::FmaOp::create(b, loc, scratchAt(b, kB, i), p, next);
              next = math::FmaOp::create(b, loc, k, v, next);
            }
            vector::MaskedStoreOp::create(b, loc, m.state,
                                          ValueRange{seq, h, i, j}, mask, next);
            return SmallVector<Value>{
                math::FmaOp::create(b, loc, scratchAt(b, kQ, i), next, c[0])};
          })[0];
          Type e = cast<MemRefType>(m.out.getType()).getElementType();
          vector::MaskedStoreOp::create(b, loc, m.out,
                                        ValueRange{bIdx, t, h, j}, mask,
                                        castFloat(b, loc, o, e));
          scf::YieldOp::create(b, loc);
        });
  }

  OpBuilder &b;
  Location loc;
  ssm::DeltaRuleOp op;
  Value seq, h;
  DeltaBuffers m;
  FloatType acc;
  int64_t lanes;
  VectorType vecTy;
  ExpLowering how;
  // Computed by the stages.
  Value c0, c1, bIdx, begin, end, hk, scale, scratch;
};

/// Lowers ssm.delta_rule: buffers, run-time shape checks, then one task per
/// (sequence, value head).
struct DeltaRuleToLoops : OpRewritePattern<ssm::DeltaRuleOp> {
  DeltaRuleToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::DeltaRuleOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    DeltaBuffers m;
    m.q = toBuffer(rw, loc, op.getQ());
    m.k = toBuffer(rw, loc, op.getK());
    m.v = toBuffer(rw, loc, op.getV());
    m.beta = toBuffer(rw, loc, op.getBeta());
    m.gate = toBuffer(rw, loc, op.getGate());
    m.a = toBuffer(rw, loc, op.getA());
    m.b = toBuffer(rw, loc, op.getB());
    m.h0 = toBuffer(rw, loc, op.getH0());
    m.cu = toBuffer(rw, loc, op.getCuSeqlens());
    Value batch = dimOf(rw, loc, m.q, 0);
    m.len = dimOf(rw, loc, m.q, 1);
    m.keyHeads = dimOf(rw, loc, m.q, 2);
    m.keyDim = dimOf(rw, loc, m.q, 3);
    m.heads = dimOf(rw, loc, m.v, 2);
    m.valueDim = dimOf(rw, loc, m.v, 3);
    Value c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    Value sequences =
        m.cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, m.cu, 0), c1)
                   .getResult()
             : batch;

    auto outTy = op.getOut().getType();
    m.out = allocLike(rw, loc, outTy, {batch, m.len, m.heads, m.valueDim});
    SmallVector<Value> stateDims = {sequences, m.heads, m.keyDim, m.valueDim};
    Value fs = op.getFinalState();
    Type accTy = op.getAccumulatorType();
    auto scratchTy = RankedTensorType::get(
        SmallVector<int64_t>(4, ShapedType::kDynamic), accTy);
    m.state = allocLike(rw, loc, fs ? fs.getType() : scratchTy, stateDims);

    RuntimeShapeChecks checks(rw, loc, op);
    addChecks(checks, rw, loc, op, m, batch, sequences);
    auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                   /*withElseRegion=*/false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0}, ValueRange{sequences, m.heads},
        ValueRange{c1, c1}, [&](OpBuilder &b, Location loc, ValueRange ivs) {
          RecurrentTask(b, loc, op, options, ivs[0], ivs[1], m).emit();
        });
    rw.setInsertionPointAfter(guard);
    SmallVector<Value> results = {toTensor(rw, loc, outTy, m.out)};
    if (fs)
      results.push_back(toTensor(rw, loc, fs.getType(), m.state));
    rw.replaceOp(op, results);
    return success();
  }

  /// Run-time checks of every dynamic relation the verifier could not see,
  /// and of the packed offsets.
  static void addChecks(RuntimeShapeChecks &checks, PatternRewriter &rw,
                        Location loc, ssm::DeltaRuleOp op,
                        const DeltaBuffers &m, Value batch, Value sequences) {
    NamedDim dB{"B", batch, "dimension 0 of 'q'"},
        dT{"T", m.len, "dimension 1 of 'q'"},
        dHk{"Hk", m.keyHeads, "dimension 2 of 'q'"},
        dK{"K", m.keyDim, "dimension 3 of 'q'"},
        dH{"H", m.heads, "dimension 2 of 'v'"},
        dV{"V", m.valueDim, "dimension 3 of 'v'"},
        dS{"S", sequences,
           m.cu ? "the number of sequences in 'cu_seqlens'"
                : "dimension 0 of 'q'"};
    checkOperandDims(checks, rw, loc, m.k, "k", {dB, dT, dHk, dK});
    checkOperandDims(checks, rw, loc, m.v, "v", {dB, dT});
    checkOperandDims(checks, rw, loc, m.beta, "beta", {dB, dT, dH});
    if (m.gate) {
      if (op.hasKeyGate())
        checkOperandDims(checks, rw, loc, m.gate, "gate", {dB, dT, dH, dK});
      else
        checkOperandDims(checks, rw, loc, m.gate, "gate", {dB, dT, dH});
    }
    checkOperandDims(checks, rw, loc, m.a, "a", {dB, dT, dH, dK});
    checkOperandDims(checks, rw, loc, m.b, "b", {dB, dT, dH, dK});
    checkOperandDims(checks, rw, loc, m.h0, "h0", {dS, dH, dK, dV});
    checkResultDims(checks, rw, loc, op.getOut().getType(), "out",
                    {dB, dT, dH, dV});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dS, dH, dK, dV});
    // Hk must divide H (and be positive) or the head mapping leaves q/k;
    // the verifier checked it when both are static.
    if (!isa_and_nonnull<arith::ConstantIndexOp>(m.heads.getDefiningOp()) ||
        !isa_and_nonnull<arith::ConstantIndexOp>(m.keyHeads.getDefiningOp()))
      checkHeadGroups(checks, rw, loc, m);
    if (m.cu) {
      Value c1 = arith::ConstantIndexOp::create(rw, loc, 1);
      NamedDim one{"B", c1, "1 (sequences are packed into one batch entry)"};
      checkOperandDims(checks, rw, loc, m.q, "q", {one});
      checkPackedOffsets(checks, rw, loc, m.cu, sequences, m.len);
    }
  }

  /// H must be a positive multiple of Hk at run time.
  static void checkHeadGroups(RuntimeShapeChecks &checks, PatternRewriter &rw,
                              Location loc, const DeltaBuffers &m) {
    Value zeroHeads = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq,
                                            m.keyHeads,
                                            arith::ConstantIndexOp::create(rw, loc, 0));
    Value safeHk = arith::SelectOp::create(
        rw, loc, zeroHeads, arith::ConstantIndexOp::create(rw, loc, 1),
        m.keyHeads);
    Value rem = arith::RemUIOp::create(rw, loc, m.heads, safeHk);
    Value divides = arith::AndIOp::create(
        rw, loc,
        arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, rem,
                              arith::ConstantIndexOp::create(rw, loc, 0)),
        arith::XOrIOp::create(rw, loc, zeroHeads,
                              arith::ConstantIntOp::create(rw, loc, 1, 1)));
    checks.require(divides, m.heads, m.keyHeads,
                   "the value head count H (dimension 2 of 'v') must be a "
                   "positive multiple of the query/key head count Hk "
                   "(dimension 2 of 'q')");
  }

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateDeltaRuleToLoopsPatterns(RewritePatternSet &patterns,
                                            const SSMToLoopsOptions &options) {
  patterns.add<DeltaRuleToLoops>(patterns.getContext(), options);
}
