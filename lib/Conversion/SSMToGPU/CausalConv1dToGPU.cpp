//===- CausalConv1dToGPU.cpp - ssm.causal_conv1d as a GPU kernel ----------===//
//
// A thread per output element, and for the final state a second launch
// with a thread per (batch, channel). As for selective_scan, the kernels
// name host buffers and ssm-gpu-stage-buffers stages them. f32/f16/bf16
// operands; other forms stay on the CPU lowering.
//
//===----------------------------------------------------------------------===//

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "KernelUtils.h"
#include "ssmc/Conversion/SSMToGPU.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace ssmc::detail;
using namespace ssmc::gpu_kernels;

namespace {

struct CausalConv1dToGPU : OpRewritePattern<ssm::CausalConv1dOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ssm::CausalConv1dOp op,
                                PatternRewriter &rw) const override {
    Location loc = op.getLoc();
    if (!gpuFloatOperands(op))
      return rw.notifyMatchFailure(op, "the GPU kernels take f32, f16 or bf16 operands (f64 and packed sequences stay on the host)");
    Value x = toStridedBuffer(rw, loc, op.getX()), w = toStridedBuffer(rw, loc, op.getWeight()),
          bias = toStridedBuffer(rw, loc, op.getBias()),
          init = toStridedBuffer(rw, loc, op.getInitialState());
    Value Bsz = dimOf(rw, loc, x, 0), D = dimOf(rw, loc, x, 1),
          L = dimOf(rw, loc, x, 2), W = dimOf(rw, loc, w, 1);
    Value c0 = cidx(rw, loc, 0), c1 = cidx(rw, loc, 1);
    Value Wm1 = arith::SubIOp::create(rw, loc, W, c1);
    Value out = allocLike(rw, loc, op.getOut().getType(), {Bsz, D, L});
    Value fin;
    if (op.getFinalState())
      fin = allocLike(rw, loc, op.getFinalState().getType(), {Bsz, D, Wm1});
    // x[b, d, t] for t >= 0, the initial state (or 0) for t < 0.
    auto xx = [&](OpBuilder &bb, Value b, Value d, Value t) -> Value {
      Value neg = arith::CmpIOp::create(bb, loc, arith::CmpIPredicate::slt, t, c0);
      auto ifOp = scf::IfOp::create(bb, loc, TypeRange{bb.getF32Type()}, neg, true);
      {
        OpBuilder::InsertionGuard g(bb);
        bb.setInsertionPointToStart(&ifOp.getThenRegion().front());
        Value v = init ? load32(bb, loc, init,
                                ValueRange{b, d, arith::AddIOp::create(bb, loc, Wm1, t)})
                       : cf32(bb, loc, 0);
        scf::YieldOp::create(bb, loc, v);
        bb.setInsertionPointToStart(&ifOp.getElseRegion().front());
        scf::YieldOp::create(bb, loc,
                             ValueRange{load32(bb, loc, x, ValueRange{b, d, t})});
      }
      return ifOp.getResult(0);
    };
    // One thread per output element.
    Value lanes = arith::MulIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, Bsz, D), L);
    launchLanes(rw, loc, lanes, [&](Value lane) {
      Value t = arith::RemUIOp::create(rw, loc, lane, L);
      Value bd = arith::DivUIOp::create(rw, loc, lane, L);
      Value d = arith::RemUIOp::create(rw, loc, bd, D);
      Value b = arith::DivUIOp::create(rw, loc, bd, D);
      Value start = bias ? load32(rw, loc, bias, ValueRange{d})
                         : cf32(rw, loc, 0);
      auto sum = scf::ForOp::create(
          rw, loc, c0, W, c1, ValueRange{start},
          [&](OpBuilder &bb, Location l, Value i, ValueRange s) {
            Value ti = arith::AddIOp::create(bb, l, arith::SubIOp::create(bb, l, t, Wm1), i);
            Value wi = load32(bb, l, w, ValueRange{d, i});
            scf::YieldOp::create(bb, l,
                                 ValueRange{math::FmaOp::create(bb, l, wi, xx(bb, b, d, ti), s[0])});
          });
      Value y = sum.getResult(0);
      if (op.getSilu())
        y = silu(rw, loc, y);
      store32(rw, loc, y, out, ValueRange{b, d, t});
    });
    // The final state: one thread per (batch, channel), also for L = 0.
    if (fin)
      launchLanes(rw, loc, arith::MulIOp::create(rw, loc, Bsz, D), [&](Value lane) {
        Value d = arith::RemUIOp::create(rw, loc, lane, D);
        Value b = arith::DivUIOp::create(rw, loc, lane, D);
        forEach(rw, loc, Wm1, [&](OpBuilder &bb, Value j) {
          Value tj = arith::AddIOp::create(bb, loc, arith::SubIOp::create(bb, loc, L, Wm1), j);
          store32(bb, loc, xx(bb, b, d, tj), fin, ValueRange{b, d, j});
        });
      });
    replaceWithBuffers(rw, loc, op, out, fin);
    return success();
  }
};

} // namespace

void ssmc::populateCausalConv1dToGPUPatterns(RewritePatternSet &patterns) {
  patterns.add<CausalConv1dToGPU>(patterns.getContext());
}
