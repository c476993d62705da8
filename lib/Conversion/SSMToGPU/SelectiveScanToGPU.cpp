//===- SelectiveScanToGPU.cpp - selective_scan as a GPU kernel ------------===//
//
// One GPU thread per (batch, channel): the thread walks the sequence once,
// exactly the fused recurrence of the CPU lowering, in 128-thread blocks
// over B * Dm channels. Up to N = 32 the state is N loop-carried scalars and
// A's row N values (registers: ptxas reports no stack frame); larger states
// live in a private array, which ptxas puts in local memory. The launch names the host buffers; after
// bufferization ssm-gpu-stage-buffers gives it device copies.
//
// Handled: f32 programs with static N, shared or grouped B/C, D, z,
// delta_bias, delta_softplus, h0 and final_state. Other forms (packed
// sequences, f16/bf16/f64, dynamic N) are left to the CPU lowering, which
// the NVPTX pipeline runs after this pass, so every program still runs.
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
/// loop-carried scalars); larger states use a private array.
constexpr int64_t kRegisterStateMax = 32;

struct SelectiveScanToGPU : OpRewritePattern<ssm::SelectiveScanOp> {
  using OpRewritePattern::OpRewritePattern;

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
      if (N <= kRegisterStateMax) {
        // The state as N loop-carried scalars and A's row as N values: both
        // live in registers (a private array indexed by a loop variable
        // would go to local memory).
        SmallVector<Value> aRow, init;
        for (int64_t n = 0; n < N; ++n) {
          Value cn = cidx(rw, loc, n);
          aRow.push_back(load32(rw, loc, dA, ValueRange{d, cn}));
          init.push_back(op.getH0() ? load32(
                                          rw, loc, devOf(op.getH0()),
                                          ValueRange{b, d, cn})
                                          
                                    : cf32(rw, loc, 0));
        }
        auto tLoop = scf::ForOp::create(
            rw, loc, c0, L, c1, init,
            [&](OpBuilder &bb, Location l, Value t, ValueRange hs) {
              Value u = load32(bb, l, du, ValueRange{b, d, t});
              Value dt = stepDt(bb, l, t);
              Value du_ = arith::MulFOp::create(bb, l, dt, u);
              Value y = cf32(bb, l, 0);
              SmallVector<Value> next;
              for (int64_t n = 0; n < N; ++n) {
                Value cn = cidx(bb, l, n);
                Value decay = math::ExpOp::create(
                    bb, l, arith::MulFOp::create(bb, l, dt, aRow[n]));
                Value bv = load32(bb, l, dB,
                                                  bcIndex(groupedB, cn, t));
                Value cv = load32(bb, l, dC,
                                                  bcIndex(groupedC, cn, t));
                Value upd = math::FmaOp::create(
                    bb, l, decay, hs[n], arith::MulFOp::create(bb, l, du_, bv));
                next.push_back(upd);
                y = math::FmaOp::create(bb, l, cv, upd, y);
              }
              finish(bb, l, y, u, t);
              scf::YieldOp::create(bb, l, next);
            });
        if (dFinal)
          for (int64_t n = 0; n < N; ++n)
            store32(rw, loc, tLoop.getResult(n), dFinal,
                                    ValueRange{b, d, cidx(rw, loc, n)});
        return;
      }
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
