//===- SSDToLoops.cpp - recurrent CPU lowering of Mamba-2 SSD -------------===//
//
// One pass over the sequence per (batch, head, block of head channels p):
// x, z and out are contiguous along p, so a block is one vector of `vw`
// channels; its N state vectors (one per state index) live in a stack
// buffer. Per step the decay exp(dt * A[h]) is one scalar; per state index
// the update is h_n = decay h_n + B_n (dt x) and y += C_n h_n (two FMAs);
// four steps share one pass over the state vectors, so each is loaded and
// stored once per four steps.
// The chunked SSD form (intra-chunk matmul, inter-chunk state passing) is
// not built yet.
//
//===----------------------------------------------------------------------===//

#include "LoweringUtils.h"
#include "ssmc/Conversion/SSMToLoops.h"

#include "dialects/ssm/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"

#define DEBUG_TYPE "convert-ssm-to-loops"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// Steps that share one pass over the state vectors.
constexpr int64_t kStepsPerPass = 4;

struct SSDToLoops : OpRewritePattern<ssm::SSDOp> {
  SSDToLoops(MLIRContext *ctx, ssmc::SSMToLoopsOptions options)
      : OpRewritePattern(ctx), options(options) {}

  LogicalResult matchAndRewrite(ssm::SSDOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    auto acc = cast<FloatType>(op.getAccumulatorType());
    const int64_t vw = laneCount(options.vectorBits, acc);
    auto vecTy = VectorType::get({vw}, acc);
    ExpLowering how;
    how.fast = options.fastExp;
    how.avx512 = options.avx512;

    Value x = toBuffer(rw, loc, op.getX()), dt = toBuffer(rw, loc, op.getDt()),
          A = toBuffer(rw, loc, op.getA()), Bm = toBuffer(rw, loc, op.getB()),
          Cm = toBuffer(rw, loc, op.getC()), D = toBuffer(rw, loc, op.getD()),
          z = toBuffer(rw, loc, op.getZ()),
          bias = toBuffer(rw, loc, op.getDtBias()),
          h0 = toBuffer(rw, loc, op.getH0()),
          cu = toBuffer(rw, loc, op.getCuSeqlens());
    Value batch = dimOf(rw, loc, x, 0), len = dimOf(rw, loc, x, 1),
          heads = dimOf(rw, loc, x, 2), headDim = dimOf(rw, loc, x, 3),
          groups = dimOf(rw, loc, Bm, 2), stateSize = dimOf(rw, loc, Bm, 3);

    Value c1i = arith::ConstantIndexOp::create(rw, loc, 1);
    // Packed sequences each own a state; otherwise each batch entry does.
    Value sequences =
        cu ? arith::SubIOp::create(rw, loc, dimOf(rw, loc, cu, 0), c1i).getResult()
           : batch;
    auto outTy = op.getOut().getType();
    Value out = allocLike(rw, loc, outTy, {batch, len, heads, headDim});
    Value fs;
    if (Value r = op.getFinalState())
      fs = allocLike(rw, loc, r.getType(), {sequences, heads, headDim, stateSize});

    RuntimeShapeChecks checks(rw, loc, op);
    NamedDim dB{"B", batch, "dimension 0 of 'x'"}, dL{"L", len, "dimension 1 of 'x'"},
        dH{"H", heads, "dimension 2 of 'x'"}, dP{"P", headDim, "dimension 3 of 'x'"},
        dG{"G", groups, "dimension 2 of 'B'"}, dN{"N", stateSize, "dimension 3 of 'B'"};
    checkOperandDims(checks, rw, loc, dt, "dt", {dB, dL, dH});
    checkOperandDims(checks, rw, loc, A, "A", {dH});
    checkOperandDims(checks, rw, loc, Bm, "B", {dB, dL});
    checkOperandDims(checks, rw, loc, Cm, "C", {dB, dL, dG, dN});
    checkOperandDims(checks, rw, loc, D, "D", {dH});
    checkOperandDims(checks, rw, loc, z, "z", {dB, dL, dH, dP});
    checkOperandDims(checks, rw, loc, bias, "dt_bias", {dH});
    NamedDim dS{"S", sequences, cu ? "the number of sequences in 'cu_seqlens'"
                                   : "dimension 0 of 'x'"};
    checkOperandDims(checks, rw, loc, h0, "h0", {dS, dH, dP, dN});
    checkResultDims(checks, rw, loc, outTy, "out", {dB, dL, dH, dP});
    if (Value r = op.getFinalState())
      checkResultDims(checks, rw, loc, cast<RankedTensorType>(r.getType()),
                      "final_state", {dS, dH, dP, dN});
    if (cu) {
      NamedDim one{"B", c1i, "1 (sequences are packed into one batch entry)"};
      checkOperandDims(checks, rw, loc, x, "x", {one});
      checkPackedOffsets(checks, rw, loc, cu, sequences, len);
    }
    Value c0 = arith::ConstantIndexOp::create(rw, loc, 0);
    Value c1 = arith::ConstantIndexOp::create(rw, loc, 1);
    if (!getConstantIntValue(groups) || !getConstantIntValue(heads)) {
      Value isZero =
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, groups, c0);
      Value safe = arith::SelectOp::create(rw, loc, isZero, c1, groups);
      Value rem = arith::RemUIOp::create(rw, loc, heads, safe);
      Value ok = arith::AndIOp::create(
          rw, loc, arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, rem, c0),
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ne, groups, c0));
      checks.require(ok, groups, heads,
                     "the group count G must be positive and divide H "
                     "(reported: G, H)");
    }

    Value cvw = arith::ConstantIndexOp::create(rw, loc, vw);
    Value blocks = arith::CeilDivUIOp::create(rw, loc, headDim, cvw);
    auto guard = scf::IfOp::create(rw, loc, checks.allOk(), false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0, c0}, ValueRange{sequences, heads, blocks},
        ValueRange{c1, c1, c1},
        [&](OpBuilder &b, Location loc, ValueRange ivs) {
          Value seq = ivs[0], h = ivs[1];
          Value bi = cu ? c0 : seq;
          Value begin = cu ? packedOffset(b, loc, cu, seq) : c0;
          Value end = cu ? packedOffset(b, loc, cu, arith::AddIOp::create(b, loc, seq, c1))
                         : len;
          Value p0 = arith::MulIOp::create(b, loc, ivs[2], cvw);
          Value valid = arith::MinUIOp::create(
              b, loc, arith::SubIOp::create(b, loc, headDim, p0), cvw);
          Value mask = vector::CreateMaskOp::create(
              b, loc, VectorType::get({vw}, b.getI1Type()), ValueRange{valid});
          Value g = arith::DivUIOp::create(
              b, loc, h, arith::DivUIOp::create(b, loc, heads, groups));
          auto zeroVec = [&](Type e) -> Value {
            auto vt = VectorType::get({vw}, e);
            return arith::ConstantOp::create(
                b, loc, vt, DenseElementsAttr::get(vt, b.getZeroAttr(e)));
          };
          auto cst = [&](double v) -> Value {
            return arith::ConstantOp::create(b, loc, b.getFloatAttr(acc, v));
          };
          auto scalar = [&](Value mem, ValueRange at) -> Value {
            return castFloat(b, loc, memref::LoadOp::create(b, loc, mem, at), acc);
          };
          auto load = [&](Value mem, ValueRange at) -> Value {
            Type e = cast<MemRefType>(mem.getType()).getElementType();
            Value r = vector::MaskedLoadOp::create(
                b, loc, VectorType::get({vw}, e), mem, at, mask, zeroVec(e));
            return castFloat(b, loc, r, acc);
          };
          // Lane i of a [.., P, N] state row n sits at (p0 + i) * N + n.
          auto i64Vec = VectorType::get({vw}, b.getI64Type());
          SmallVector<int64_t> lanes(vw);
          for (int64_t i = 0; i < vw; ++i)
            lanes[i] = i;
          Value iota = arith::ConstantOp::create(
              b, loc, i64Vec, DenseIntElementsAttr::get(i64Vec, lanes));
          Value stride = vector::BroadcastOp::create(
              b, loc, i64Vec,
              arith::IndexCastOp::create(b, loc, b.getI64Type(), stateSize));
          Value idxN = arith::MulIOp::create(b, loc, iota, stride);

          Value aH = scalar(A, {h});
          Value dH = D ? scalar(D, {h}) : Value();
          Value biasH = bias ? scalar(bias, {h}) : Value();
          auto bufTy = MemRefType::get({ShapedType::kDynamic}, vecTy);
          Value state = memref::AllocaOp::create(b, loc, bufTy, ValueRange{stateSize});
          scf::ForOp::create(
              b, loc, c0, stateSize, c1, ValueRange{},
              [&](OpBuilder &b, Location loc, Value n, ValueRange) {
                Value init = zeroVec(acc);
                if (h0) {
                  Type e = cast<MemRefType>(h0.getType()).getElementType();
                  init = castFloat(
                      b, loc,
                      vector::GatherOp::create(b, loc, VectorType::get({vw}, e), h0,
                                               ValueRange{seq, h, p0, n}, idxN,
                                               mask, zeroVec(e)),
                      acc);
                }
                memref::StoreOp::create(b, loc, init, state, n);
                scf::YieldOp::create(b, loc);
              });
          // T consecutive steps from t0 in one pass over the N state
          // vectors: each is loaded and stored once per T steps.
          auto emitSteps = [&](OpBuilder &b, Location loc, Value t0,
                               int64_t T) {
            SmallVector<Value> ts, xvs, dtxs, decays;
            for (int64_t u = 0; u < T; ++u) {
              Value t = arith::AddIOp::create(
                  b, loc, t0, arith::ConstantIndexOp::create(b, loc, u));
              ts.push_back(t);
              Value step = scalar(dt, {bi, t, h});
              if (biasH)
                step = arith::AddFOp::create(b, loc, step, biasH);
              if (op.getDtSoftplus()) {
                Value e = math::ExpOp::create(b, loc, step);
                Value sp = math::Log1pOp::create(b, loc, e);
                Value big = arith::CmpFOp::create(
                    b, loc, arith::CmpFPredicate::OGT, step, cst(20));
                step = arith::SelectOp::create(b, loc, big, step, sp);
              }
              Value decay = math::ExpOp::create(
                  b, loc, arith::MulFOp::create(b, loc, step, aH));
              decays.push_back(
                  vector::BroadcastOp::create(b, loc, vecTy, decay));
              Value xv = load(x, {bi, t, h, p0});
              xvs.push_back(xv);
              dtxs.push_back(arith::MulFOp::create(
                  b, loc, vector::BroadcastOp::create(b, loc, vecTy, step),
                  xv));
            }
            SmallVector<Value> init(T, zeroVec(acc));
            auto rows = scf::ForOp::create(
                b, loc, c0, stateSize, c1, init,
                [&](OpBuilder &b, Location loc, Value n, ValueRange ys) {
                  Value s = memref::LoadOp::create(b, loc, state, n);
                  SmallVector<Value> next;
                  for (int64_t u = 0; u < T; ++u) {
                    Value bn = vector::BroadcastOp::create(
                        b, loc, vecTy, scalar(Bm, {bi, ts[u], g, n}));
                    Value cn = vector::BroadcastOp::create(
                        b, loc, vecTy, scalar(Cm, {bi, ts[u], g, n}));
                    s = math::FmaOp::create(
                        b, loc, bn, dtxs[u],
                        arith::MulFOp::create(b, loc, decays[u], s));
                    next.push_back(math::FmaOp::create(b, loc, cn, s, ys[u]));
                  }
                  memref::StoreOp::create(b, loc, s, state, n);
                  scf::YieldOp::create(b, loc, next);
                });
            for (int64_t u = 0; u < T; ++u) {
              Value y = rows.getResult(u);
              if (dH)
                y = math::FmaOp::create(
                    b, loc, vector::BroadcastOp::create(b, loc, vecTy, dH),
                    xvs[u], y);
              if (z) {
                Value zv = load(z, {bi, ts[u], h, p0});
                Value e = emitExp(b, loc, arith::NegFOp::create(b, loc, zv), how);
                Value one = vector::BroadcastOp::create(b, loc, vecTy, cst(1));
                y = arith::MulFOp::create(
                    b, loc, y,
                    arith::DivFOp::create(b, loc, zv,
                                          arith::AddFOp::create(b, loc, one, e)));
              }
              Type e = cast<MemRefType>(out.getType()).getElementType();
              vector::MaskedStoreOp::create(b, loc, out,
                                            ValueRange{bi, ts[u], h, p0}, mask,
                                            castFloat(b, loc, y, e));
            }
          };
          forStepGroups(b, loc, begin, end, kStepsPerPass, emitSteps);
          if (fs)
            scf::ForOp::create(
                b, loc, c0, stateSize, c1, ValueRange{},
                [&](OpBuilder &b, Location loc, Value n, ValueRange) {
                  Type e = cast<MemRefType>(fs.getType()).getElementType();
                  Value s = memref::LoadOp::create(b, loc, state, n);
                  vector::ScatterOp::create(b, loc, Type(), fs,
                                            ValueRange{seq, h, p0, n}, idxN, mask,
                                            castFloat(b, loc, s, e));
                  scf::YieldOp::create(b, loc);
                });
        });
    rw.setInsertionPointAfter(guard);
    SmallVector<Value> results{toTensor(rw, loc, outTy, out)};
    if (fs)
      results.push_back(toTensor(rw, loc, op.getFinalState().getType(), fs));
    rw.replaceOp(op, results);
    return success();
  }

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateSSDToLoopsPatterns(RewritePatternSet &patterns,
                                      const SSMToLoopsOptions &options) {
  patterns.add<SSDToLoops>(patterns.getContext(), options);
}
