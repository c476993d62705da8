//===- SelectiveScanToGPU.cpp - selective_scan as a GPU kernel ------------===//
//
// Up to N = 32 (the state in registers): one launch of 128-thread blocks in
// which every thread owns one (batch, channel) and one of C chunks of the
// sequence, C a power of two <= 32 chosen at run time so that B * Dm * C
// threads fill the GPU (C = 1 when B * Dm alone does; every chunk at least
// 32 steps). The block holds 128 / C channels times C chunks and runs
// three phases:
//  1. each thread scans its chunk from a zero state (chunk 0 from h0) and
//     leaves the chunk's end state and the sum of its step sizes in shared
//     memory: a chunk maps h to exp(A * sum(dt)) h + s, so chunks compose
//     like an associative scan's elements;
//  2. log2(C) rounds of a Hillis-Steele scan over the channel's chunks in
//     shared memory (barriers between reads and writes) turn them into
//     inclusive prefixes: the state entering every chunk;
//  3. each thread reruns its chunk from that state, writing y (and the last
//     chunk the final state).
// With C = 1 phases 1 and 2 are skipped and the kernel is the fused
// single-pass recurrence of the CPU lowering. The state is N loop-carried
// scalars and A's row N values: registers (ptxas reports no stack frame).
// Larger states use one thread per channel with the state in a private
// array, which ptxas puts in local memory. The launch names the host
// buffers; after bufferization ssm-gpu-stage-buffers gives it device
// copies.
//
// Handled: f32/f16/bf16 operands with static N, shared or grouped B/C, D,
// z, delta_bias, delta_softplus, h0 and final_state. Other forms (packed
// sequences, f64, dynamic N) are left to the CPU lowering, which the NVPTX
// pipeline runs after this pass, so every program still runs.
//
//===----------------------------------------------------------------------===//

#include "../SSMToLoops/LoweringUtils.h"
#include "KernelUtils.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "dialects/ssm/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;


namespace {

/// Up to this state size the kernel keeps the state in registers (N
/// loop-carried scalars) and chunks over L; larger states use a private
/// array.
constexpr int64_t kRegisterStateMax = 32;
/// Chunking over L stops once B * Dm * C threads reach this (about what an
/// H100 keeps resident at 128 registers per thread: 132 SMs x 512).
constexpr int64_t kTargetThreads = 65536;
constexpr int64_t kMaxChunks = 32;
/// Shorter chunks would spend more on the scan over chunks than they save.
constexpr int64_t kMinChunkLen = 32;

struct SelectiveScanToGPU : OpRewritePattern<ssm::SelectiveScanOp> {
  using OpRewritePattern::OpRewritePattern;

  /// The register-state kernel, chunked over L (see the file comment).
  static void emitChunked(PatternRewriter &rw, Location loc,
                          ssm::SelectiveScanOp op, int64_t N, Value Bsz,
                          Value Dm, Value L, Value lanes, Value perGroup,
                          llvm::function_ref<Value(Value)> devOf, Value dOut,
                          Value dFinal) {
    (void)Bsz;
    const bool groupedB = op.isGroupedB(), groupedC = op.isGroupedC();
    Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1);
    auto ult = [&](OpBuilder &b, Value x, Value y) {
      return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, x, y);
    };
    auto eq = [&](OpBuilder &b, Value x, Value y) {
      return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, x, y);
    };
    // C: the largest power of two <= kMaxChunks with lanes * C / 2 below
    // the target and chunks of at least kMinChunkLen steps (both conditions
    // hold for every smaller power once they hold for one).
    Value C = c1, rounds = c0;
    for (int64_t cand = 2, r = 1; cand <= kMaxChunks; cand *= 2, ++r) {
      Value few = ult(rw, arith::MulIOp::create(rw, loc, lanes,
                                                cidx(rw, loc, cand / 2)),
                      cidx(rw, loc, kTargetThreads));
      Value longEnough = arith::CmpIOp::create(
          rw, loc, arith::CmpIPredicate::uge, L,
          cidx(rw, loc, cand * kMinChunkLen));
      Value ok = arith::AndIOp::create(rw, loc, few, longEnough);
      C = arith::SelectOp::create(rw, loc, ok, cidx(rw, loc, cand), C);
      rounds = arith::SelectOp::create(rw, loc, ok, cidx(rw, loc, r), rounds);
    }
    Value cpb = arith::DivUIOp::create(rw, loc, cidx(rw, loc, kBlock), C);
    Value blocks = arith::CeilDivUIOp::create(rw, loc, lanes, cpb);
    Value chunkLen = arith::CeilDivUIOp::create(rw, loc, L, C);
    MLIRContext *ctx = rw.getContext();
    SmallVector<Type> shared = {sharedArrayType(ctx, kBlock),
                                sharedArrayType(ctx, N * kBlock)};

    launchBlocks(rw, loc, blocks, shared, [&](Value bid, Value tid,
                                              ValueRange sh) {
      Value sS = sh[0], sH = sh[1];
      Value lc = arith::RemUIOp::create(rw, loc, tid, cpb);
      Value c = arith::DivUIOp::create(rw, loc, tid, cpb);
      Value lane = arith::AddIOp::create(
          rw, loc, arith::MulIOp::create(rw, loc, bid, cpb), lc);
      Value active = ult(rw, lane, lanes);
      Value t0 = arith::MinUIOp::create(
          rw, loc, arith::MulIOp::create(rw, loc, c, chunkLen), L);
      Value t1 = arith::MinUIOp::create(
          rw, loc, arith::AddIOp::create(rw, loc, t0, chunkLen), L);
      Value first = eq(rw, c, c0);
      Value last = eq(rw, c, arith::SubIOp::create(rw, loc, C, c1));
      auto hIndex = [&](OpBuilder &b, int64_t n, Value thread) {
        return arith::AddIOp::create(
            b, loc, cidx(b, loc, n * kBlock), thread);
      };

      // Per-channel values, loaded where a phase needs them (only active
      // threads load: the lane of an idle thread indexes nothing).
      struct Channel {
        Value b, d, grp, bias, Dv;
        SmallVector<Value> aRow;
      };
      auto channel = [&](OpBuilder &bb) {
        Channel ch;
        ch.b = arith::DivUIOp::create(bb, loc, lane, Dm);
        ch.d = arith::RemUIOp::create(bb, loc, lane, Dm);
        ch.grp = arith::DivUIOp::create(bb, loc, ch.d, perGroup);
        if (op.getDeltaBias())
          ch.bias = load32(bb, loc, devOf(op.getDeltaBias()), ValueRange{ch.d});
        if (op.getD())
          ch.Dv = load32(bb, loc, devOf(op.getD()), ValueRange{ch.d});
        for (int64_t n = 0; n < N; ++n)
          ch.aRow.push_back(load32(bb, loc, devOf(op.getA()),
                                   ValueRange{ch.d, cidx(bb, loc, n)}));
        return ch;
      };
      // The state entering chunk 0: h0, or zero.
      auto h0At = [&](OpBuilder &bb, const Channel &ch, int64_t n) {
        return op.getH0() ? load32(bb, loc, devOf(op.getH0()),
                                   ValueRange{ch.b, ch.d, cidx(bb, loc, n)})
                          : cf32(bb, loc, 0);
      };
      // Steps [t0, t1) from state `init`; returns the state and the sum of
      // the step sizes. `emit` writes y (phase 3); phase 1 only needs B.
      auto scan = [&](OpBuilder &bb, const Channel &ch, ValueRange init,
                      bool emit) {
        SmallVector<Value> carried(init.begin(), init.end());
        carried.push_back(cf32(bb, loc, 0));
        auto bcIndex = [&](bool grouped, Value n, Value t) {
          return grouped ? SmallVector<Value>{ch.b, ch.grp, n, t}
                         : SmallVector<Value>{ch.b, n, t};
        };
        auto loop = scf::ForOp::create(
            bb, loc, t0, t1, c1, carried,
            [&](OpBuilder &lb, Location l, Value t, ValueRange hs) {
              Value u = load32(lb, l, devOf(op.getU()),
                               ValueRange{ch.b, ch.d, t});
              Value dt = load32(lb, l, devOf(op.getDelta()),
                                ValueRange{ch.b, ch.d, t});
              if (ch.bias)
                dt = arith::AddFOp::create(lb, l, dt, ch.bias);
              if (op.getDeltaSoftplus())
                dt = softplus(lb, l, dt);
              Value du = arith::MulFOp::create(lb, l, dt, u);
              Value y = cf32(lb, l, 0);
              SmallVector<Value> next;
              for (int64_t n = 0; n < N; ++n) {
                Value cn = cidx(lb, l, n);
                Value decay = math::ExpOp::create(
                    lb, l, arith::MulFOp::create(lb, l, dt, ch.aRow[n]));
                Value bv = load32(lb, l, devOf(op.getB()),
                                  bcIndex(groupedB, cn, t));
                Value upd = math::FmaOp::create(
                    lb, l, decay, hs[n], arith::MulFOp::create(lb, l, du, bv));
                next.push_back(upd);
                if (emit) {
                  Value cv = load32(lb, l, devOf(op.getC()),
                                    bcIndex(groupedC, cn, t));
                  y = math::FmaOp::create(lb, l, cv, upd, y);
                }
              }
              if (emit) {
                if (ch.Dv)
                  y = math::FmaOp::create(lb, l, ch.Dv, u, y);
                if (Value dz = devOf(op.getZ()))
                  y = arith::MulFOp::create(
                      lb, l, y,
                      silu(lb, l, load32(lb, l, dz, ValueRange{ch.b, ch.d, t})));
                store32(lb, l, y, dOut, ValueRange{ch.b, ch.d, t});
              }
              next.push_back(arith::AddFOp::create(lb, l, hs[N], dt));
              scf::YieldOp::create(lb, l, next);
            });
        return loop;
      };

      // Phases 1 and 2, only when the sequence is split (C is uniform over
      // the grid, so every thread takes the same branch and barriers).
      ifThen(rw, loc, arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ugt,
                                            C, c1),
             [&](OpBuilder &pb) {
        ifThen(pb, loc, active, [&](OpBuilder &ab) {
          Channel ch = channel(ab);
          SmallVector<Value> init;
          for (int64_t n = 0; n < N; ++n)
            init.push_back(op.getH0()
                               ? arith::SelectOp::create(ab, loc, first,
                                                         h0At(ab, ch, n),
                                                         cf32(ab, loc, 0))
                                     .getResult()
                               : cf32(ab, loc, 0));
          auto loop = scan(ab, ch, init, /*emit=*/false);
          memref::StoreOp::create(ab, loc, loop.getResult(N), sS, tid);
          for (int64_t n = 0; n < N; ++n)
            memref::StoreOp::create(ab, loc, loop.getResult(n), sH,
                                    ValueRange{hIndex(ab, n, tid)});
        });
        ssm::GPUBarrierOp::create(pb, loc);
        forEach(pb, loc, rounds, [&](OpBuilder &rb, Value r) {
          Value k = arith::ShLIOp::create(rb, loc, c1, r);
          Value apply = arith::AndIOp::create(
              rb, loc, active,
              arith::CmpIOp::create(rb, loc, arith::CmpIPredicate::uge, c, k));
          // Combine with the chunk k places earlier: its segment, then ours.
          SmallVector<Type> tys(N + 1, rb.getF32Type());
          auto comb = scf::IfOp::create(rb, loc, tys, apply, true);
          {
            OpBuilder::InsertionGuard g(rb);
            rb.setInsertionPointToStart(&comb.getThenRegion().front());
            Channel ch = channel(rb);
            Value partner = arith::SubIOp::create(
                rb, loc, tid, arith::MulIOp::create(rb, loc, k, cpb));
            Value mine = memref::LoadOp::create(rb, loc, sS, tid);
            Value theirs = memref::LoadOp::create(rb, loc, sS, partner);
            SmallVector<Value> res;
            for (int64_t n = 0; n < N; ++n) {
              Value hm = memref::LoadOp::create(rb, loc, sH,
                                                ValueRange{hIndex(rb, n, tid)});
              Value hp = memref::LoadOp::create(
                  rb, loc, sH, ValueRange{hIndex(rb, n, partner)});
              Value decay = math::ExpOp::create(
                  rb, loc, arith::MulFOp::create(rb, loc, mine, ch.aRow[n]));
              res.push_back(math::FmaOp::create(rb, loc, decay, hp, hm));
            }
            res.push_back(arith::AddFOp::create(rb, loc, theirs, mine));
            scf::YieldOp::create(rb, loc, res);
            rb.setInsertionPointToStart(&comb.getElseRegion().front());
            scf::YieldOp::create(
                rb, loc, SmallVector<Value>(N + 1, cf32(rb, loc, 0)));
          }
          ssm::GPUBarrierOp::create(rb, loc);
          ifThen(rb, loc, apply, [&](OpBuilder &wb) {
            for (int64_t n = 0; n < N; ++n)
              memref::StoreOp::create(wb, loc, comb.getResult(n), sH,
                                      ValueRange{hIndex(wb, n, tid)});
            memref::StoreOp::create(wb, loc, comb.getResult(N), sS, tid);
          });
          ssm::GPUBarrierOp::create(rb, loc);
        });
      });

      // Phase 3: the chunk from the state entering it.
      ifThen(rw, loc, active, [&](OpBuilder &ab) {
        Channel ch = channel(ab);
        // The previous chunk's thread (this one for chunk 0, whose value
        // the select discards).
        Value prev = arith::SelectOp::create(
            ab, loc, first, tid, arith::SubIOp::create(ab, loc, tid, cpb));
        SmallVector<Value> init;
        for (int64_t n = 0; n < N; ++n) {
          Value carried = memref::LoadOp::create(
              ab, loc, sH, ValueRange{hIndex(ab, n, prev)});
          init.push_back(
              arith::SelectOp::create(ab, loc, first, h0At(ab, ch, n), carried));
        }
        auto loop = scan(ab, ch, init, /*emit=*/true);
        if (dFinal)
          ifThen(ab, loc, last, [&](OpBuilder &fb) {
            for (int64_t n = 0; n < N; ++n)
              store32(fb, loc, loop.getResult(n), dFinal,
                      ValueRange{ch.b, ch.d, cidx(fb, loc, n)});
          });
      });
    });
  }

  LogicalResult matchAndRewrite(ssm::SelectiveScanOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    if (!gpuFloatOperands(op))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
    auto aTy = cast<RankedTensorType>(op.getA().getType());
    if (aTy.isDynamicDim(1) || aTy.getDimSize(1) > 256)
      return rw.notifyMatchFailure(op, "needs a static state size N <= 256");
    if (op.getCuSeqlens())
      return rw.notifyMatchFailure(op, "packed sequences stay on the CPU");
    const int64_t N = aTy.getDimSize(1);
    const bool groupedB = op.isGroupedB(), groupedC = op.isGroupedC();

    // Host buffers, sizes, device copies.
    Value hu = toBuffer(rw, loc, op.getU());
    Value Bsz = dimOf(rw, loc, hu, 0), Dm = dimOf(rw, loc, hu, 1),
          L = dimOf(rw, loc, hu, 2);
    // The kernel reads and writes the host buffers; ssm-gpu-stage-buffers
    // (after bufferization) moves them to device memory around the launch.
    SmallVector<Value> hostIns;
    for (Value v : op->getOperands())
      hostIns.push_back(toBuffer(rw, loc, v));
    auto devOf = [&](Value tensor) -> Value {
      if (!tensor)
        return {};
      for (auto [i, v] : llvm::enumerate(op->getOperands()))
        if (v == tensor)
          return hostIns[i];
      return {};
    };
    Value hOut = allocLike(rw, loc, op.getOut().getType(), {Bsz, Dm, L});
    Value dOut = hOut;
    Value hFinal, dFinal;
    if (op.getFinalState()) {
      hFinal = allocLike(rw, loc, op.getFinalState().getType(),
                         {Bsz, Dm, cidx(rw, loc, N)});
      dFinal = hFinal;
    }
    Value G = cidx(rw, loc, 1);
    if (groupedB)
      G = dimOf(rw, loc, hostIns[3], 1);
    else if (groupedC)
      G = dimOf(rw, loc, hostIns[4], 1);
    Value perGroup = arith::DivUIOp::create(rw, loc, Dm, G);

    Value lanes = arith::MulIOp::create(rw, loc, Bsz, Dm);
    Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1), cN = cidx(rw, loc, N);
    if (N <= kRegisterStateMax) {
      emitChunked(rw, loc, op, N, Bsz, Dm, L, lanes, perGroup, devOf, dOut,
                  dFinal);
      replaceWithBuffers(rw, loc, op, hOut, hFinal);
      return success();
    }
    launchLanes(rw, loc, lanes, [&](Value lane) {
      Value b = arith::DivUIOp::create(rw, loc, lane, Dm);
      Value d = arith::RemUIOp::create(rw, loc, lane, Dm);
      Value grp = arith::DivUIOp::create(rw, loc, d, perGroup);
      Value bias = op.getDeltaBias()
                       ? load32(rw, loc, devOf(op.getDeltaBias()),
                                                ValueRange{d})
                       : Value();
      Value Dv = op.getD() ? load32(rw, loc, devOf(op.getD()),
                                                     ValueRange{d})
                           : Value();
      Value dA = devOf(op.getA()), dB = devOf(op.getB()), dC = devOf(op.getC());
      Value du = devOf(op.getU()), ddt = devOf(op.getDelta());
      Value dz = devOf(op.getZ());
      auto bcIndex = [&](bool grouped, Value n, Value t) {
        return grouped ? SmallVector<Value>{b, grp, n, t}
                       : SmallVector<Value>{b, n, t};
      };
      // Output of one step from the state read-out `y`.
      auto finish = [&](OpBuilder &bb, Location l, Value y, Value u, Value t) {
        if (Dv)
          y = math::FmaOp::create(bb, l, Dv, u, y);
        if (dz)
          y = arith::MulFOp::create(
              bb, l, y,
              silu(bb, l, load32(bb, l, dz, ValueRange{b, d, t})));
        store32(bb, l, y, dOut, ValueRange{b, d, t});
      };
      auto stepDt = [&](OpBuilder &bb, Location l, Value t) {
        Value dt = load32(bb, l, ddt, ValueRange{b, d, t});
        if (bias)
          dt = arith::AddFOp::create(bb, l, dt, bias);
        if (op.getDeltaSoftplus())
          dt = softplus(bb, l, dt);
        return dt;
      };
      Value h = privateArray(rw, loc, N);
      forEach(rw, loc, cN, [&](OpBuilder &bb, Value n) {
        Value init = op.getH0() ? load32(bb, loc, devOf(op.getH0()),
                                                         ValueRange{b, d, n})
                                      
                                : cf32(bb, loc, 0);
        store32(bb, loc, init, h, ValueRange{n});
      });
      forEach(rw, loc, L, [&](OpBuilder &bb, Value t) {
        Location l = loc;
        Value u = load32(bb, l, du, ValueRange{b, d, t});
        Value dt = stepDt(bb, l, t);
        Value du_ = arith::MulFOp::create(bb, l, dt, u);
        auto nLoop = scf::ForOp::create(
            bb, l, c0, cN, c1, ValueRange{cf32(bb, l, 0)},
            [&](OpBuilder &nb, Location nl, Value n, ValueRange acc) {
              Value a = load32(nb, nl, dA, ValueRange{d, n});
              Value decay = math::ExpOp::create(
                  nb, nl, arith::MulFOp::create(nb, nl, dt, a));
              Value bv = load32(nb, nl, dB,
                                                bcIndex(groupedB, n, t));
              Value cv = load32(nb, nl, dC,
                                                bcIndex(groupedC, n, t));
              Value hn = load32(nb, nl, h, ValueRange{n});
              Value upd = math::FmaOp::create(
                  nb, nl, decay, hn, arith::MulFOp::create(nb, nl, du_, bv));
              store32(nb, nl, upd, h, ValueRange{n});
              Value y = math::FmaOp::create(nb, nl, cv, upd, acc[0]);
              scf::YieldOp::create(nb, nl, y);
            });
        finish(bb, l, nLoop.getResult(0), u, t);
      });
      if (dFinal)
        forEach(rw, loc, cN, [&](OpBuilder &bb, Value n) {
          Value hn = load32(bb, loc, h, ValueRange{n});
          store32(bb, loc, hn, dFinal, ValueRange{b, d, n});
        });
    });
    replaceWithBuffers(rw, loc, op, hOut, hFinal);
    return success();
  }
};

} // namespace

void ssmc::populateSelectiveScanToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<SelectiveScanToGPU>(patterns.getContext());
}
