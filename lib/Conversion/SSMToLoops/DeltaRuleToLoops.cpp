//===- DeltaRuleToLoops.cpp - CPU lowering of the delta-rule family -------===//
//
// ssm.delta_rule on CPU: one task per (sequence, value head), in parallel,
// with its K x V state in the state buffer (the final_state result when
// asked for, else a scratch buffer the pipeline's buffer deallocation
// frees). Two forms (chooseChunk picks one per op):
//
// The recurrent form (RecurrentTask), for every form of the op. Every step
// has the same shape: with the step's key-sized vectors prepared first (q~,
// k~, the decay w, the vector x the state is read along, and for DPLR the
// vector b), each block of `lanes` value columns makes two passes over the
// K state rows:
//   pass 1:  p = x^T S_{t-1}          (x = w k~: the decayed state's
//                                      prediction of v; DPLR: x = a)
//   pass 2:  S_t = diag(w) S_{t-1} + k~ u^T,  u = beta (v - p)   (delta)
//            S_t = diag(w) S_{t-1} + b p^T + k~ v^T              (DPLR)
//            o   = S_t^T q~  (accumulated in the same pass)
// so the state is read twice and written once per step, vectorised along V.
//
// The chunked form (ChunkedTask), for every form: the WY representation
// over chunks of C steps (see the class), reading the state three times
// (the DPLR form: twice) and writing it once per chunk.
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

/// The chunked form's chunk: by default, at most, and the shortest static
/// T it is chosen for. The column pass keeps C vectors per value block in
/// registers and unrolls the C x C combinations, so code size grows as C^2
/// and the accumulators spill past C = 16: fla's C = 64 runs (and
/// compiles) slower here, not faster (docs/lowering.md has the numbers),
/// and chunk_size is clamped to 32.
constexpr int64_t kDefaultChunk = 16, kMaxChunk = 32, kMinChunkedLen = 64;

/// Independent FMA chains of the chunked form's state update.
constexpr int64_t kChains = 2;

/// Rows of the per-task scratch of key-sized vectors.
enum ScratchRow : int64_t { kQ = 0, kK, kW, kX, kB, kRows };

/// What every task of one op shares: the (sequence `seq`, value head `h`)
/// it runs, its step range and q/k head, the initial state, and loads.
class DeltaTask {
public:
  DeltaTask(OpBuilder &b, Location loc, ssm::DeltaRuleOp op,
            const ssmc::SSMToLoopsOptions &options, Value seq, Value h,
            const DeltaBuffers &m)
      : b(b), loc(loc), op(op), seq(seq), h(h), m(m),
        acc(cast<FloatType>(op.getAccumulatorType())),
        lanes(laneCount(options.vectorBits, acc)),
        vecTy(VectorType::get({lanes}, acc)) {
    how.fast = options.fastExp;
    how.avx512 = options.avx512;
  }

protected:
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
  Value c0, c1, bIdx, begin, end, hk, scale;
};


/// The recurrent form, in stages: locate the sequence, load h0, then per
/// step `prepareStep` (the key-sized vectors) and `updateColumns` (the two
/// passes per V block).
class RecurrentTask : DeltaTask {
public:
  using DeltaTask::DeltaTask;

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

  Value scratch;
};

/// The chunked form of the delta forms (fla's chunk_gated_delta_rule /
/// chunk_kda; the WY representation of "Parallelizing Linear Transformers
/// with the Delta Rule over Sequence Length"). Per chunk of C steps, with
/// G_i the chunk-local cumulative log decay (inclusive) and the rows of
/// steps past the sequence end zero:
///   A[i][j] = beta_i sum_d k_i[d] k_j[d] exp(G_i[d] - G_j[d])   (j < i)
///   T = (I + A)^-1 diag(beta)        (forward substitution, C x C)
///   W = T (exp(G) k),  U = T v
///   V' = U - W S;  o = (exp(G) q) S + mask_{j<=i}(q k^T decayed) V'
///   S = diag(exp(G_C)) S + (exp(G_C - G) k)^T V'
/// The chunk's rows live in stack buffers padded to whole vectors; per
/// block of value columns, C vectors of W S, then of (exp(G) q) S, then of
/// V' stay in registers (V' also written over U's block in between), so
/// the state is read three times and written once per chunk instead of
/// read twice and written once per step. The next chunk's rows are
/// prefetched a value block at a time.
/// The DPLR form (fla's chunk_dplr_delta_rule) shares the chunk's rows and
/// has its own stages (dplrMatrices, dplrRows, dplrColumns): per chunk the
/// state's reads along a, p_j = a_j . s_{j-1}, by forward substitution
/// over C vectors per block of value columns (docs/lowering.md).
class ChunkedTask : DeltaTask {
public:
  ChunkedTask(OpBuilder &b, Location loc, ssm::DeltaRuleOp op,
              const ssmc::SSMToLoopsOptions &options, Value seq, Value h,
              const DeltaBuffers &m, int64_t chunk)
      : DeltaTask(b, loc, op, options, seq, h, m), C(chunk) {}

  void emit() {
    locateSequence();
    loadInitialState();
    allocRows();
    Value step = arith::ConstantIndexOp::create(b, loc, C);
    scf::ForOp::create(b, loc, begin, end, step, ValueRange{},
                       [&](OpBuilder &b, Location loc, Value t0, ValueRange) {
                         loadChunk(b, t0);
                         if (op.isDPLR()) {
                           dplrMatrices(b);
                           dplrRows(b);
                           dplrColumns(b, t0);
                         } else {
                           solveTriangular(b);
                           buildWU(b);
                           updateColumns(b, t0);
                         }
                         scf::YieldOp::create(b, loc);
                       });
  }

private:
  Value idx(OpBuilder &b, int64_t i) {
    return arith::ConstantIndexOp::create(b, loc, i);
  }
  /// A loop i in [lo, hi) (index values) with no carried values.
  template <typename Fn>
  void forEach(OpBuilder &b, Value lo, Value hi, Value step, Fn &&body) {
    scf::ForOp::create(b, loc, lo, hi, step, ValueRange{},
                       [&](OpBuilder &b, Location loc, Value i, ValueRange) {
                         body(b, i);
                         scf::YieldOp::create(b, loc);
                       });
  }
  /// d over the padded key width, one vector at a time.
  template <typename Fn> void forKeyVectors(OpBuilder &b, Fn &&body) {
    forEach(b, c0, keyPad, laneStep, body);
  }
  Value vload(OpBuilder &b, Value mem, ValueRange at) {
    return vector::LoadOp::create(b, loc, vecTy, mem, at);
  }
  void vstore(OpBuilder &b, Value x, Value mem, ValueRange at) {
    vector::StoreOp::create(b, loc, x, mem, at);
  }
  Value sload(OpBuilder &b, Value mem, ValueRange at) {
    return memref::LoadOp::create(b, loc, mem, at);
  }
  Value fma(OpBuilder &b, Value x, Value y, Value z) {
    return math::FmaOp::create(b, loc, x, y, z);
  }
  Value mul(OpBuilder &b, Value x, Value y) {
    return arith::MulFOp::create(b, loc, x, y);
  }
  Value keyMask(OpBuilder &b, Value d) {
    return vector::CreateMaskOp::create(
        b, loc, VectorType::get({lanes}, b.getI1Type()),
        ValueRange{arith::SubIOp::create(b, loc, m.keyDim, d)});
  }
  /// The cumulative log decays of row `r` (0: the chunk start, i: after
  /// step i - 1) over the key vector at `d` (zeros without a gate).
  Value logDecay(OpBuilder &b, Value r, Value d) {
    if (!m.gate)
      return splat(b, cst(b, 0));
    if (op.hasKeyGate())
      return vload(b, G, {r, d});
    return splat(b, sload(b, G, {r}));
  }
  Value expOf(OpBuilder &b, Value x) { return emitExp(b, loc, x, how); }
  Value plus1(OpBuilder &b, Value i) {
    return arith::AddIOp::create(b, loc, i, c1);
  }

  /// Stack buffers for the chunk's rows, padded to whole vectors.
  void allocRows() {
    laneStep = idx(b, lanes);
    auto padded = [&](Value n) {
      Value l1 = idx(b, lanes - 1);
      Value q = arith::DivUIOp::create(
          b, loc, arith::AddIOp::create(b, loc, n, l1), laneStep);
      return arith::MulIOp::create(b, loc, q, laneStep).getResult();
    };
    keyPad = padded(m.keyDim);
    valuePad = padded(m.valueDim);
    auto rows = [&](int64_t n, Value width) -> Value {
      return memref::AllocaOp::create(
          b, loc, MemRefType::get({n, ShapedType::kDynamic}, acc),
          ValueRange{width});
    };
    Q = rows(C, keyPad);
    K = rows(C, keyPad);
    U = rows(C, valuePad);
    W = rows(C, keyPad);
    Kd = rows(C, keyPad);
    if (m.gate && op.hasKeyGate())
      G = rows(C + 1, keyPad);
    else if (m.gate)
      G = memref::AllocaOp::create(b, loc, MemRefType::get({C + 1}, acc));
    Dl = memref::AllocaOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, acc),
        ValueRange{keyPad});
    Bt = memref::AllocaOp::create(b, loc, MemRefType::get({C}, acc));
    A = memref::AllocaOp::create(b, loc, MemRefType::get({C, C}, acc));
    Aq = memref::AllocaOp::create(b, loc, MemRefType::get({C, C}, acc));
    if (op.isDPLR()) {
      Ar = rows(C, keyPad);
      Br = rows(C, keyPad);
      Lab = memref::AllocaOp::create(b, loc, MemRefType::get({C, C}, acc));
      Qb = memref::AllocaOp::create(b, loc, MemRefType::get({C, C}, acc));
    }
  }

  /// Prefetches the next chunk's rows (steps t0 + C + r, r < C, clamped to
  /// the sequence's last step) a value block `jv` at a time: the line of v
  /// and of the output (for writing) at jv and the key-sized rows' lines at
  /// [jv, jv + lanes) (the last value block also the keys past V).
  /// Consecutive steps of one head are H rows apart, a new page per step,
  /// which the hardware prefetchers do not follow; spreading the lines over
  /// the value blocks keeps the misses in flight few at a time.
  void prefetchNextChunk(OpBuilder &b, Value t0, Value jv) {
    Value last = arith::SubIOp::create(b, loc, end, c1);
    Value next = arith::AddIOp::create(b, loc, t0, idx(b, C));
    Value jEnd = arith::AddIOp::create(b, loc, jv, laneStep);
    Value lastBlock = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::uge,
                                            jEnd, m.valueDim);
    Value keyEnd = arith::SelectOp::create(
        b, loc, lastBlock, m.keyDim,
        arith::MinUIOp::create(b, loc, jEnd, m.keyDim));
    forEach(b, c0, idx(b, C), c1, [&](OpBuilder &b, Value r) {
      Value t = arith::MinUIOp::create(
          b, loc, arith::AddIOp::create(b, loc, next, r), last);
      auto fetch = [&](Value mem, Value head, Value at, bool write) {
        memref::PrefetchOp::create(b, loc, mem, ValueRange{bIdx, t, head, at},
                                   write, /*locality=*/3, true);
      };
      fetch(m.v, h, jv, false);
      fetch(m.out, h, jv, true);
      forEach(b, jv, keyEnd, laneStep, [&](OpBuilder &b, Value d) {
        fetch(m.q, hk, d, false);
        fetch(m.k, hk, d, false);
        if (m.gate && op.hasKeyGate())
          fetch(m.gate, h, d, false);
        if (op.isDPLR()) {
          fetch(m.a, h, d, false);
          fetch(m.b, h, d, false);
        }
      });
    });
  }

  /// The sum of the lanes of `v` (in any order).
  Value hsum(OpBuilder &b, Value v) {
    return vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD, v,
                                       arith::FastMathFlags::reassoc);
  }

  /// inverseNorm over whole key vectors: 1 / sqrt(sum x^2 + 1e-6) of the
  /// row `mem`[bIdx, t, hk, :], or 1 without `use_qk_l2norm`.
  Value rowInverseNorm(OpBuilder &b, Value mem, Value t) {
    if (!op.getUseQkL2norm())
      return cst(b, 1);
    Value ss =
        scf::ForOp::create(
            b, loc, c0, keyPad, laneStep, ValueRange{splat(b, cst(b, 0))},
            [&](OpBuilder &b, Location loc, Value d, ValueRange c) {
              Value x = loadVec(b, mem, {bIdx, t, hk, d}, keyMask(b, d));
              scf::YieldOp::create(b, loc, ValueRange{fma(b, x, x, c[0])});
            })
            .getResult(0);
    Value sum = hsum(b, ss);
    return math::RsqrtOp::create(b, loc,
                                 arith::AddFOp::create(b, loc, sum, cst(b, 1e-6)));
  }

  /// Rows r < C of steps t0 + r: q~, k~, beta, v and the cumulative decays;
  /// rows past the sequence end are zeros (and decay no further).
  void loadChunk(OpBuilder &b, Value t0) {
    if (m.gate && op.hasKeyGate())
      forKeyVectors(b, [&](OpBuilder &b, Value d) {
        vstore(b, splat(b, cst(b, 0)), G, {c0, d});
      });
    else if (m.gate)
      memref::StoreOp::create(b, loc, cst(b, 0), G, ValueRange{c0});
    Value last = arith::SubIOp::create(b, loc, end, c1);
    forEach(b, c0, idx(b, C), c1, [&](OpBuilder &b, Value r) {
      Value t = arith::AddIOp::create(b, loc, t0, r);
      Value valid =
          arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, t, end);
      Value tc = arith::SelectOp::create(b, loc, valid, t, last);
      Value vf = arith::SelectOp::create(b, loc, valid, cst(b, 1), cst(b, 0));
      Value rq = mul(b, mul(b, scale, rowInverseNorm(b, m.q, tc)), vf);
      Value rk = mul(b, rowInverseNorm(b, m.k, tc), vf);
      Value r1 = plus1(b, r);
      forKeyVectors(b, [&](OpBuilder &b, Value d) {
        Value mask = keyMask(b, d);
        vstore(b, mul(b, loadVec(b, m.q, {bIdx, tc, hk, d}, mask), splat(b, rq)),
               Q, {r, d});
        vstore(b, mul(b, loadVec(b, m.k, {bIdx, tc, hk, d}, mask), splat(b, rk)),
               K, {r, d});
        if (op.isDPLR()) {
          vstore(b, mul(b, loadVec(b, m.a, {bIdx, tc, h, d}, mask), splat(b, vf)),
                 Ar, {r, d});
          vstore(b, mul(b, loadVec(b, m.b, {bIdx, tc, h, d}, mask), splat(b, vf)),
                 Br, {r, d});
        }
        if (m.gate && op.hasKeyGate()) {
          Value g = mul(b, loadVec(b, m.gate, {bIdx, tc, h, d}, mask),
                        splat(b, vf));
          vstore(b, arith::AddFOp::create(b, loc, vload(b, G, {r, d}), g), G,
                 {r1, d});
        }
      });
      if (m.gate && !op.hasKeyGate()) {
        Value g = mul(b, loadScalar(b, m.gate, {bIdx, tc, h}), vf);
        memref::StoreOp::create(
            b, loc, arith::AddFOp::create(b, loc, sload(b, G, {r}), g), G,
            ValueRange{r1});
      }
      if (m.beta)
        memref::StoreOp::create(
            b, loc, mul(b, loadScalar(b, m.beta, {bIdx, tc, h}), vf), Bt,
            ValueRange{r});
      forEach(b, c0, valuePad, laneStep, [&](OpBuilder &b, Value j) {
        Value mask = vector::CreateMaskOp::create(
            b, loc, VectorType::get({lanes}, b.getI1Type()),
            ValueRange{arith::SubIOp::create(b, loc, m.valueDim, j)});
        vstore(b, mul(b, loadVec(b, m.v, {bIdx, tc, h, j}, mask), splat(b, vf)),
               U, {r, j});
      });
    });
  }

  /// A (then T) and Aq from the decayed dot products, and the forward
  /// substitution (fla's: row i of (I + A)^-1 from the rows above it).
  void solveTriangular(OpBuilder &b) {
    auto zero = [&](OpBuilder &b) { return splat(b, cst(b, 0)); };
    forEach(b, c0, idx(b, C), c1, [&](OpBuilder &b, Value i) {
      Value i1 = plus1(b, i);
      forEach(b, c0, i1, c1, [&](OpBuilder &b, Value j) {
        Value j1 = plus1(b, j);
        // Per-key decays scale each key vector; a per-step decay is one
        // factor exp(G_i - G_j) of both dot products.
        bool keyGate = m.gate && op.hasKeyGate();
        auto dots = scf::ForOp::create(
            b, loc, c0, keyPad, laneStep, ValueRange{zero(b), zero(b)},
            [&](OpBuilder &b, Location loc, Value d, ValueRange c) {
              Value kj = vload(b, K, {j, d});
              if (keyGate)
                kj = mul(b, kj,
                         expOf(b, arith::SubFOp::create(
                                      b, loc, logDecay(b, i1, d),
                                      logDecay(b, j1, d))));
              scf::YieldOp::create(
                  b, loc,
                  ValueRange{fma(b, vload(b, K, {i, d}), kj, c[0]),
                             fma(b, vload(b, Q, {i, d}), kj, c[1])});
            });
        auto sum = [&](Value v) { return hsum(b, v); };
        Value kk = sum(dots.getResult(0)), qk = sum(dots.getResult(1));
        if (m.gate && !keyGate) {
          Value decay = math::ExpOp::create(
              b, loc,
              arith::SubFOp::create(b, loc, sload(b, G, {i1}), sload(b, G, {j1})));
          kk = mul(b, kk, decay);
          qk = mul(b, qk, decay);
        }
        Value beta = sload(b, Bt, {i});
        memref::StoreOp::create(b, loc,
                                arith::NegFOp::create(b, loc, mul(b, beta, kk)),
                                A, ValueRange{i, j});
        memref::StoreOp::create(b, loc, qk, Aq, ValueRange{i, j});
      });
    });
    // A[i][j] += sum_{j<m<i} A[i][m] A[m][j], j ascending (row i's entries
    // right of j are still the original ones, rows above are final).
    forEach(b, c1, idx(b, C), c1, [&](OpBuilder &b, Value i) {
      forEach(b, c0, i, c1, [&](OpBuilder &b, Value j) {
        Value s = scf::ForOp::create(
                      b, loc, plus1(b, j), i, c1,
                      ValueRange{sload(b, A, {i, j})},
                      [&](OpBuilder &b, Location loc, Value mm, ValueRange c) {
                        scf::YieldOp::create(
                            b, loc,
                            ValueRange{fma(b, sload(b, A, {i, mm}),
                                           sload(b, A, {mm, j}), c[0])});
                      })
                      .getResult(0);
        memref::StoreOp::create(b, loc, s, A, ValueRange{i, j});
      });
    });
    // T = (I + A) diag(beta).
    forEach(b, c0, idx(b, C), c1, [&](OpBuilder &b, Value i) {
      forEach(b, c0, i, c1, [&](OpBuilder &b, Value j) {
        memref::StoreOp::create(
            b, loc, mul(b, sload(b, A, {i, j}), sload(b, Bt, {j})), A,
            ValueRange{i, j});
      });
      memref::StoreOp::create(b, loc, sload(b, Bt, {i}), A, ValueRange{i, i});
    });
  }

  /// W = T (exp(G) k), U = T v (in place, last row first), then the rows
  /// the column pass reads: exp(G_C - G) k, exp(G) q and exp(G_C).
  void buildWU(OpBuilder &b) {
    Value cC = idx(b, C);
    forEach(b, c0, cC, c1, [&](OpBuilder &b, Value j) {
      forKeyVectors(b, [&](OpBuilder &b, Value d) {
        vstore(b, mul(b, vload(b, K, {j, d}), expOf(b, logDecay(b, plus1(b, j), d))),
               Kd, {j, d});
      });
    });
    auto combine = [&](OpBuilder &b, Value i, Value rows, Value at) {
      return scf::ForOp::create(
                 b, loc, c0, plus1(b, i), c1, ValueRange{splat(b, cst(b, 0))},
                 [&](OpBuilder &b, Location loc, Value j, ValueRange c) {
                   scf::YieldOp::create(
                       b, loc,
                       ValueRange{fma(b, splat(b, sload(b, A, {i, j})),
                                      vload(b, rows, {j, at}), c[0])});
                 })
          .getResult(0);
    };
    forEach(b, c0, cC, c1, [&](OpBuilder &b, Value i) {
      forKeyVectors(b, [&](OpBuilder &b, Value d) {
        vstore(b, combine(b, i, Kd, d), W, {i, d});
      });
    });
    forEach(b, c0, cC, c1, [&](OpBuilder &b, Value r) {
      Value i = arith::SubIOp::create(b, loc, idx(b, C - 1), r);
      forEach(b, c0, valuePad, laneStep, [&](OpBuilder &b, Value j) {
        vstore(b, combine(b, i, U, j), U, {i, j});
      });
    });
    forEach(b, c0, cC, c1, [&](OpBuilder &b, Value j) {
      Value j1 = plus1(b, j);
      forKeyVectors(b, [&](OpBuilder &b, Value d) {
        Value gEnd = logDecay(b, cC, d);
        Value toEnd = expOf(b, arith::SubFOp::create(b, loc, gEnd,
                                                     logDecay(b, j1, d)));
        vstore(b, mul(b, vload(b, K, {j, d}), toEnd), Kd, {j, d});
        vstore(b, mul(b, vload(b, Q, {j, d}), expOf(b, logDecay(b, j1, d))), Q,
               {j, d});
      });
    });
    forKeyVectors(b, [&](OpBuilder &b, Value d) {
      vstore(b, expOf(b, logDecay(b, cC, d)), Dl, {d});
    });
  }

  /// C vectors of rows^T S over the key rows for the value block at `jv`:
  /// result i = sum_kk rows[i][kk] S[kk, jv].
  SmallVector<Value> rowsTimesState(OpBuilder &b, Value rows, Value jv,
                                    Value mask) {
    SmallVector<Value> init(C, splat(b, cst(b, 0)));
    auto loop = scf::ForOp::create(
        b, loc, c0, m.keyDim, c1, init,
        [&](OpBuilder &b, Location loc, Value kk, ValueRange c) {
          Value s = loadVec(b, m.state, {seq, h, kk, jv}, mask);
          SmallVector<Value> next;
          for (int64_t i = 0; i < C; ++i)
            next.push_back(fma(b, splat(b, sload(b, rows, {idx(b, i), kk})), s,
                               c[i]));
          scf::YieldOp::create(b, loc, next);
        });
    return SmallVector<Value>(loop.getResults().begin(), loop.getResults().end());
  }

  /// Per block of value columns: V' = U - W S, the outputs of the chunk's
  /// valid steps, and the state passed to the next chunk.
  void updateColumns(OpBuilder &b, Value t0) {
    forEach(b, c0, m.valueDim, laneStep, [&](OpBuilder &b, Value jv) {
      Value mask = vector::CreateMaskOp::create(
          b, loc, VectorType::get({lanes}, b.getI1Type()),
          ValueRange{arith::SubIOp::create(b, loc, m.valueDim, jv)});
      prefetchNextChunk(b, t0, jv);
      // V' replaces U's block (U's other blocks are still to come), so
      // that the (exp(G) q) S pass holds only its C accumulators.
      SmallVector<Value> ws = rowsTimesState(b, W, jv, mask);
      for (int64_t i = 0; i < C; ++i)
        vstore(b,
               arith::SubFOp::create(b, loc, vload(b, U, {idx(b, i), jv}),
                                     ws[i]),
               U, {idx(b, i), jv});
      SmallVector<Value> os = rowsTimesState(b, Q, jv, mask);
      SmallVector<Value> vn;
      for (int64_t i = 0; i < C; ++i)
        vn.push_back(vload(b, U, {idx(b, i), jv}));
      Type e = cast<MemRefType>(m.out.getType()).getElementType();
      for (int64_t i = 0; i < C; ++i) {
        Value o = os[i];
        for (int64_t j = 0; j <= i; ++j)
          o = fma(b, splat(b, sload(b, Aq, {idx(b, i), idx(b, j)})), vn[j], o);
        Value t = arith::AddIOp::create(b, loc, t0, idx(b, i));
        Value valid =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, t, end);
        scf::IfOp::create(b, loc, valid, [&](OpBuilder &b, Location loc) {
          vector::MaskedStoreOp::create(b, loc, m.out,
                                        ValueRange{bIdx, t, h, jv}, mask,
                                        castFloat(b, loc, o, e));
          scf::YieldOp::create(b, loc);
        });
      }
      // The C terms in kChains independent FMA chains (with one, each
      // key row's FMAs wait on each other's latency).
      forEach(b, c0, m.keyDim, c1, [&](OpBuilder &b, Value kk) {
        SmallVector<Value> part;
        part.push_back(mul(b, splat(b, sload(b, Dl, {kk})),
                           loadVec(b, m.state, {seq, h, kk, jv}, mask)));
        for (int64_t j = 0; j < C; ++j) {
          Value kd = splat(b, sload(b, Kd, {idx(b, j), kk}));
          if (j + 1 < kChains && j + 1 < C)
            part.push_back(mul(b, kd, vn[j]));
          else
            part[j % kChains] = fma(b, kd, vn[j], part[j % kChains]);
        }
        Value s = part[0];
        for (size_t c = 1; c < part.size(); ++c)
          s = arith::AddFOp::create(b, loc, s, part[c]);
        vector::MaskedStoreOp::create(b, loc, m.state,
                                      ValueRange{seq, h, kk, jv}, mask, s);
      });
    });
  }

  /// The DPLR form's C x C matrices (one pass over the key vectors per
  /// pair j <= i): A (a~ . k) and Lab (a~ . b) with a~_i = a_i decayed to
  /// the step before i (strictly lower), Aq (q~ . k) and Qb (q~ . b) with
  /// q~_i decayed to step i (lower, diagonal included).
  void dplrMatrices(OpBuilder &b) {
    auto zero = [&](OpBuilder &b) { return splat(b, cst(b, 0)); };
    forEach(b, c0, idx(b, C), c1, [&](OpBuilder &b, Value i) {
      Value i1 = plus1(b, i);
      forEach(b, c0, i1, c1, [&](OpBuilder &b, Value j) {
        Value j1 = plus1(b, j);
        // The a rows' decay exp(G_i - G_{j+1}) is > 1 on the diagonal
        // (unused there): it is only formed for j < i.
        Value strict =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, j, i);
        Value ia = arith::SelectOp::create(b, loc, strict, i, j1);
        auto dots = scf::ForOp::create(
            b, loc, c0, keyPad, laneStep,
            ValueRange{zero(b), zero(b), zero(b), zero(b)},
            [&](OpBuilder &b, Location loc, Value d, ValueRange c) {
              Value gj = logDecay(b, j1, d);
              Value dq = expOf(b, arith::SubFOp::create(
                                      b, loc, logDecay(b, i1, d), gj));
              Value da = expOf(b, arith::SubFOp::create(
                                      b, loc, logDecay(b, ia, d), gj));
              Value kj = vload(b, K, {j, d}), bj = vload(b, Br, {j, d});
              Value qi = mul(b, vload(b, Q, {i, d}), dq);
              Value ai = mul(b, vload(b, Ar, {i, d}), da);
              scf::YieldOp::create(
                  b, loc,
                  ValueRange{fma(b, ai, kj, c[0]), fma(b, ai, bj, c[1]),
                             fma(b, qi, kj, c[2]), fma(b, qi, bj, c[3])});
            });
        auto sum = [&](Value v) { return hsum(b, v); };
        Value z = cst(b, 0);
        auto lower = [&](Value x) {
          return arith::SelectOp::create(b, loc, strict, x, z);
        };
        memref::StoreOp::create(b, loc, lower(sum(dots.getResult(0))), A,
                                ValueRange{i, j});
        memref::StoreOp::create(b, loc, lower(sum(dots.getResult(1))), Lab,
                                ValueRange{i, j});
        memref::StoreOp::create(b, loc, sum(dots.getResult(2)), Aq,
                                ValueRange{i, j});
        memref::StoreOp::create(b, loc, sum(dots.getResult(3)), Qb,
                                ValueRange{i, j});
      });
    });
  }

  /// The DPLR form's rows the column pass reads: exp(G_j) a_j (into W),
  /// exp(G_{j+1}) q_j (Q, in place), the keys and b decayed to the chunk
  /// end (Kd, Br in place) and exp(G_C).
  void dplrRows(OpBuilder &b) {
    Value cC = idx(b, C);
    forEach(b, c0, cC, c1, [&](OpBuilder &b, Value j) {
      Value j1 = plus1(b, j);
      forKeyVectors(b, [&](OpBuilder &b, Value d) {
        Value gj = logDecay(b, j1, d);
        Value toEnd =
            expOf(b, arith::SubFOp::create(b, loc, logDecay(b, cC, d), gj));
        vstore(b, mul(b, vload(b, Ar, {j, d}), expOf(b, logDecay(b, j, d))), W,
               {j, d});
        vstore(b, mul(b, vload(b, Q, {j, d}), expOf(b, gj)), Q, {j, d});
        vstore(b, mul(b, vload(b, K, {j, d}), toEnd), Kd, {j, d});
        vstore(b, mul(b, vload(b, Br, {j, d}), toEnd), Br, {j, d});
      });
    });
    forKeyVectors(b, [&](OpBuilder &b, Value d) {
      vstore(b, expOf(b, logDecay(b, cC, d)), Dl, {d});
    });
  }

  /// Per block of value columns of the DPLR form: the chunk's reads of the
  /// state along a, p_j = a_j . s_{j-1} (forward substitution:
  /// p_j = (exp(G_j) a_j)^T S + sum_{m<j} Lab[j][m] p_m + A[j][m] v_m),
  /// the outputs o_i = (exp(G_{i+1}) q_i)^T S + sum_{j<=i} Qb[i][j] p_j
  /// + Aq[i][j] v_j, and the state passed on,
  /// S = diag(exp(G_C)) S + sum_j exp(G_C - G_{j+1}) (b_j p_j^T + k_j v_j^T).
  void dplrColumns(OpBuilder &b, Value t0) {
    forEach(b, c0, m.valueDim, laneStep, [&](OpBuilder &b, Value jv) {
      Value mask = vector::CreateMaskOp::create(
          b, loc, VectorType::get({lanes}, b.getI1Type()),
          ValueRange{arith::SubIOp::create(b, loc, m.valueDim, jv)});
      prefetchNextChunk(b, t0, jv);
      SmallVector<Value> p = rowsTimesState(b, W, jv, mask);
      SmallVector<Value> vs;
      for (int64_t j = 0; j < C; ++j)
        vs.push_back(vload(b, U, {idx(b, j), jv}));
      auto at = [&](Value mat, int64_t i, int64_t j) {
        return splat(b, sload(b, mat, {idx(b, i), idx(b, j)}));
      };
      for (int64_t j = 1; j < C; ++j)
        for (int64_t mm = 0; mm < j; ++mm) {
          p[j] = fma(b, at(Lab, j, mm), p[mm], p[j]);
          p[j] = fma(b, at(A, j, mm), vs[mm], p[j]);
        }
      SmallVector<Value> os = rowsTimesState(b, Q, jv, mask);
      Type e = cast<MemRefType>(m.out.getType()).getElementType();
      for (int64_t i = 0; i < C; ++i) {
        Value o = os[i];
        for (int64_t j = 0; j <= i; ++j) {
          o = fma(b, at(Qb, i, j), p[j], o);
          o = fma(b, at(Aq, i, j), vs[j], o);
        }
        Value t = arith::AddIOp::create(b, loc, t0, idx(b, i));
        Value valid =
            arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, t, end);
        scf::IfOp::create(b, loc, valid, [&](OpBuilder &b, Location loc) {
          vector::MaskedStoreOp::create(b, loc, m.out,
                                        ValueRange{bIdx, t, h, jv}, mask,
                                        castFloat(b, loc, o, e));
          scf::YieldOp::create(b, loc);
        });
      }
      // The 2 C terms in two chains, as the delta forms' update.
      forEach(b, c0, m.keyDim, c1, [&](OpBuilder &b, Value kk) {
        Value s = mul(b, splat(b, sload(b, Dl, {kk})),
                      loadVec(b, m.state, {seq, h, kk, jv}, mask));
        Value t = mul(b, splat(b, sload(b, Kd, {c0, kk})), vs[0]);
        for (int64_t j = 0; j < C; ++j) {
          s = fma(b, splat(b, sload(b, Br, {idx(b, j), kk})), p[j], s);
          if (j > 0)
            t = fma(b, splat(b, sload(b, Kd, {idx(b, j), kk})), vs[j], t);
        }
        vector::MaskedStoreOp::create(b, loc, m.state,
                                      ValueRange{seq, h, kk, jv}, mask,
                                      arith::AddFOp::create(b, loc, s, t));
      });
    });
  }

  int64_t C;
  // Set by allocRows.
  Value laneStep, keyPad, valuePad, Q, K, U, W, Kd, G, Dl, Bt, A, Aq;
  // The DPLR form's a and b rows and its a . b and q . b matrices.
  Value Ar, Br, Lab, Qb;
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
    int64_t chunk = chooseChunk(op);
    auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                   /*withElseRegion=*/false);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    scf::ParallelOp::create(
        rw, loc, ValueRange{c0, c0}, ValueRange{sequences, m.heads},
        ValueRange{c1, c1}, [&](OpBuilder &b, Location loc, ValueRange ivs) {
          if (chunk > 0)
            ChunkedTask(b, loc, op, options, ivs[0], ivs[1], m, chunk).emit();
          else
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

  /// Steps per chunk of the chunked form, or 0 for the recurrent form: the
  /// op's `chunk_size` (at most kMaxChunk), else the chunked form with
  /// kDefaultChunk steps unless T is static and short. The DPLR form has
  /// the recurrent form only.
  static int64_t chooseChunk(ssm::DeltaRuleOp op) {
    if (std::optional<int64_t> c = op.getChunkSize())
      return std::min(*c, kMaxChunk);
    int64_t len = op.getQ().getType().getDimSize(1);
    if (!ShapedType::isDynamic(len) && len < kMinChunkedLen)
      return 0;
    return kDefaultChunk;
  }

  ssmc::SSMToLoopsOptions options;
};

} // namespace

void ssmc::populateDeltaRuleToLoopsPatterns(RewritePatternSet &patterns,
                                            const SSMToLoopsOptions &options) {
  patterns.add<DeltaRuleToLoops>(patterns.getContext(), options);
}
