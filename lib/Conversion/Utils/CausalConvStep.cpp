//===- CausalConvStep.cpp - what both lowerings of the conv step share ----===//

#include "CausalConvStep.h"
#include "LoweringUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;

namespace ssmc::detail {

CausalConvStepOperands::CausalConvStepOperands(OpBuilder &b, Location loc,
                                               ssm::CausalConv1dStepOp op) {
  x = toBuffer(b, loc, op.getX());
  state = toBuffer(b, loc, op.getState());
  weight = toBuffer(b, loc, op.getWeight());
  bias = toBuffer(b, loc, op.getBias());
  seqlens = toBuffer(b, loc, op.getCacheSeqlens());
  slots = toBuffer(b, loc, op.getConvStateIndices());
  c0 = arith::ConstantIndexOp::create(b, loc, 0);
  c1 = arith::ConstantIndexOp::create(b, loc, 1);
  batch = dimOf(b, loc, x, 0);
  chans = dimOf(b, loc, x, 1);
  pool = dimOf(b, loc, state, 0);
  stateLen = dimOf(b, loc, state, 2);
  width = dimOf(b, loc, weight, 1);
  widthM1 = arith::SubIOp::create(b, loc, width, c1);
}

Value CausalConvStepOperands::indexAt(OpBuilder &b, Location loc, Value mem,
                                      Value i) const {
  Value v = memref::LoadOp::create(b, loc, mem, ValueRange{i});
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

Value CausalConvStepOperands::windowIndex(OpBuilder &b, Location loc,
                                          Value pos, Value j) const {
  if (!pos)
    return arith::AddIOp::create(
        b, loc, arith::SubIOp::create(b, loc, stateLen, widthM1), j);
  // pos - (W - 1) + j + S >= 0 as S >= W - 1 and pos >= 0.
  Value at = arith::AddIOp::create(
      b, loc,
      arith::AddIOp::create(b, loc, arith::SubIOp::create(b, loc, pos, widthM1),
                            j),
      stateLen);
  return arith::RemUIOp::create(b, loc, at, stateLen);
}

Value CausalConvStepOperands::check(OpBuilder &b, Location loc,
                                    ssm::CausalConv1dStepOp op) const {
  RuntimeShapeChecks checks(b, loc, op);
  NamedDim dB{"B", batch, "dimension 0 of 'x'"},
      dD{"D", chans, "dimension 1 of 'x'"},
      dP{"P", pool, "dimension 0 of 'state'"},
      dS{"S", stateLen, "dimension 2 of 'state'"};
  if (!slots)
    checkOperandDims(checks, b, loc, state, "state", {dB, dD});
  else
    checkOperandDims(checks, b, loc, state, "state", {dP, dD});
  checkOperandDims(checks, b, loc, weight, "weight", {dD});
  checkOperandDims(checks, b, loc, bias, "bias", {dD});
  checkOperandDims(checks, b, loc, seqlens, "cache_seqlens", {dB});
  checkOperandDims(checks, b, loc, slots, "conv_state_indices", {dB});
  checkResultDims(checks, b, loc, op.getOut().getType(), "out", {dB, dD});
  checkResultDims(checks, b, loc, op.getNewState().getType(), "new_state",
                  {dP, dD, dS});
  checks.require(
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, width, c1),
      width, c1, "the kernel width W must be at least 1");
  checks.require(
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, stateLen,
                            widthM1),
      stateLen, widthM1,
      "the state length S must be at least W - 1 (reported: S, W - 1)");
  if (!slots && !seqlens)
    return checks.allOk();
  // The index operands are read only when their shapes are right.
  Value shapesOk = checks.allOk();
  auto valuesOk = scf::IfOp::create(
      b, loc, shapesOk,
      [&](OpBuilder &b, Location loc) {
        Value ok = arith::ConstantIntOp::create(b, loc, 1, 1);
        auto loop = scf::ForOp::create(
            b, loc, c0, batch, c1, ValueRange{ok},
            [&](OpBuilder &b, Location loc, Value bi, ValueRange acc) {
              Value good = acc[0];
              if (slots)
                good = arith::AndIOp::create(
                    b, loc, good,
                    arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt,
                                          indexAt(b, loc, slots, bi), pool));
              if (seqlens)
                good = arith::AndIOp::create(
                    b, loc, good,
                    arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge,
                                          indexAt(b, loc, seqlens, bi), c0));
              scf::YieldOp::create(b, loc, good);
            });
        scf::YieldOp::create(b, loc, loop.getResult(0));
      },
      [&](OpBuilder &b, Location loc) {
        scf::YieldOp::create(
            b, loc, ValueRange{arith::ConstantIntOp::create(b, loc, 0, 1)});
      });
  checks.require(
      arith::OrIOp::create(
          b, loc, valuesOk.getResult(0),
          arith::XOrIOp::create(b, loc, shapesOk,
                                arith::ConstantIntOp::create(b, loc, 1, 1))),
      pool, c0,
      "every 'conv_state_indices' entry must be below the state pool "
      "size P and every 'cache_seqlens' entry non-negative (reported: P)");
  return checks.allOk();
}

} // namespace ssmc::detail
