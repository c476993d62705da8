//===- DPLowering.cpp - the schedule and storage of ssm.dp ----------------===//
//
// See DPLowering.h for the schedules. In GPU mode the storage is allocated
// on the host and the schedule and outputs run in one block of kGPUThreads
// threads.
//
//===----------------------------------------------------------------------===//

#include "DPLowering.h"
#include "LoweringUtils.h"
#include "lib/GPU/IR/SSMGPUDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/IRMapping.h"

using namespace mlir;
using namespace ssmc::detail;

namespace {

/// Wavefronts narrower than this run sequentially: forking threads for a
/// few cells costs more than computing them.
constexpr int64_t kMinParallelWidth = 512;
/// Threads of the single block a GPU DP kernel runs in.
constexpr int64_t kGPUThreads = 256;

Value cst(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}

} // namespace

Value DPLowering::inlineRegion(Region &region, ValueRange args,
                               ValueRange cell) {
  Block &block = region.front();
  IRMapping map;
  map.map(block.getArguments(), args);
  SmallVector<ssm::DPFetchOp> fetches;
  for (Operation &inner : block.without_terminator()) {
    Operation *clone = rw.clone(inner, map);
    clone->walk([&](ssm::DPFetchOp f) { fetches.push_back(f); });
  }
  Value yielded = map.lookupOrDefault(
      cast<ssm::YieldOp>(block.getTerminator()).getValues().front());
  for (ssm::DPFetchOp f : fetches) {
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPoint(f);
    Value row = arith::AddIOp::create(rw, loc, cell[0],
                                      cst(rw, loc, f.getRowAttr().getInt()));
    Value col = f.getCol();
    Value c0 = cst(rw, loc, 0);
    Value ok = arith::AndIOp::create(
        rw, loc,
        arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::sge, row, c0),
        arith::AndIOp::create(
            rw, loc,
            arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::sge, col, c0),
            arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::slt, col,
                                  sizes[1])));
    rw.replaceOp(f, read(ValueRange{row, col}, ok));
  }
  return yielded;
}

SmallVector<Value> DPLowering::slot(ValueRange idx) {
  switch (layout) {
  case Layout::Table:
    return SmallVector<Value>(idx.begin(), idx.end());
  case Layout::RingCells:
    return {arith::RemUIOp::create(rw, loc, idx[0], ring)};
  case Layout::RingRows:
    return {arith::RemUIOp::create(rw, loc, idx[0], ring), idx[1]};
  case Layout::RingDiagonals: {
    Value d = arith::AddIOp::create(rw, loc, idx[0], idx[1]);
    return {arith::RemUIOp::create(rw, loc, d, ring), idx[0]};
  }
  }
  llvm_unreachable("unknown layout");
}

Value DPLowering::read(ValueRange idx, Value inRange) {
  if (!inRange)
    return memref::LoadOp::create(rw, loc, buf, slot(idx));
  auto ifOp = scf::IfOp::create(rw, loc, TypeRange{cellType}, inRange,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(&ifOp.getThenRegion().front());
    Value v = memref::LoadOp::create(rw, loc, buf, slot(idx));
    scf::YieldOp::create(rw, loc, v);
    rw.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(rw, loc, boundary(idx));
  }
  return ifOp.getResult(0);
}

Value DPLowering::inputAt(unsigned k, ValueRange idx) {
  return memref::LoadOp::create(rw, loc, inputs[k],
                                ValueRange{idx[inputDims[k]]});
}

void DPLowering::emitLocalCell(ValueRange idx) {
  Value c0 = cst(rw, loc, 0);
  SmallVector<Value> args(idx.begin(), idx.end());
  for (ArrayRef<int64_t> off : deps) {
    SmallVector<Value> at;
    Value ok;
    auto conj = [&](Value c) {
      ok = ok ? arith::AndIOp::create(rw, loc, ok, c).getResult() : c;
    };
    for (int64_t d = 0; d < rank; ++d) {
      Value x = idx[d];
      if (off[d] != 0)
        x = arith::AddIOp::create(rw, loc, x, cst(rw, loc, off[d]));
      at.push_back(x);
      if (off[d] < 0)
        conj(arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::sge, x, c0));
      else if (off[d] > 0)
        conj(arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::slt, x,
                                   sizes[d]));
    }
    args.push_back(read(at, ok));
  }
  for (unsigned k = 0; k < inputs.size(); ++k)
    args.push_back(inputAt(k, idx));
  Value v = inlineRegion(op.getCell(), args, idx);
  memref::StoreOp::create(rw, loc, v, buf, slot(idx));
  if (op.getOutput() == ssm::DPOutput::last_row) {
    Value last = arith::SubIOp::create(rw, loc, sizes[0], cst(rw, loc, 1));
    Value isLast =
        arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, idx[0], last);
    auto ifOp = scf::IfOp::create(rw, loc, isLast, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(&ifOp.getThenRegion().front());
    memref::StoreOp::create(rw, loc, v, result, ValueRange{idx[1]});
  }
}

void DPLowering::emitPrefixCell(Value i) {
  Value c0 = cst(rw, loc, 0), c1 = cst(rw, loc, 1);
  SmallVector<Value> atI;
  for (unsigned k = 0; k < inputs.size(); ++k)
    atI.push_back(inputAt(k, ValueRange{i}));
  Value start = boundary(ValueRange{cst(rw, loc, -1)});
  auto loop = scf::ForOp::create(rw, loc, c0, i, c1, ValueRange{start});
  {
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    Value acc = loop.getRegionIterArgs()[0];
    SmallVector<Value> whereArgs;
    for (unsigned k = 0; k < inputs.size(); ++k)
      whereArgs.push_back(inputAt(k, ValueRange{j}));
    whereArgs.append(atI);
    Value selected = inlineRegion(op.getWhere(), whereArgs);
    auto ifOp = scf::IfOp::create(rw, loc, TypeRange{cellType}, selected,
                                  /*withElseRegion=*/true);
    rw.setInsertionPointToStart(&ifOp.getThenRegion().front());
    Value dj = memref::LoadOp::create(rw, loc, buf, ValueRange{j});
    scf::YieldOp::create(rw, loc,
                         inlineRegion(op.getAggregate(), ValueRange{acc, dj}));
    rw.setInsertionPointToStart(&ifOp.getElseRegion().front());
    scf::YieldOp::create(rw, loc, acc);
    rw.setInsertionPointAfter(ifOp);
    scf::YieldOp::create(rw, loc, ifOp.getResult(0));
  }
  SmallVector<Value> args{i, loop.getResult(0)};
  args.append(atI);
  Value v = inlineRegion(op.getCell(), args, ValueRange{i});
  memref::StoreOp::create(rw, loc, v, buf, ValueRange{i});
}

void DPLowering::emitRange(Value lo, Value hi, bool parallel,
                           llvm::function_ref<void(Value)> body) {
  Value c1 = cst(rw, loc, 1);
  if (gpu) {
    if (parallel) {
      Value start = arith::AddIOp::create(rw, loc, lo, tid);
      auto loop = scf::ForOp::create(rw, loc, start, hi, nthreads);
      OpBuilder::InsertionGuard g(rw);
      rw.setInsertionPointToStart(loop.getBody());
      body(loop.getInductionVar());
    } else {
      onThreadZero([&] {
        auto loop = scf::ForOp::create(rw, loc, lo, hi, c1);
        OpBuilder::InsertionGuard g(rw);
        rw.setInsertionPointToStart(loop.getBody());
        body(loop.getInductionVar());
      });
    }
    ssm_gpu::BarrierOp::create(rw, loc);
    return;
  }
  auto emitFor = [&]() {
    auto loop = scf::ForOp::create(rw, loc, lo, hi, c1);
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(loop.getBody());
    body(loop.getInductionVar());
  };
  if (!parallel)
    return emitFor();
  Value width = arith::SubIOp::create(rw, loc, hi, lo);
  Value wide = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::sge, width,
                                     cst(rw, loc, kMinParallelWidth));
  auto ifOp = scf::IfOp::create(rw, loc, wide, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard g(rw);
  rw.setInsertionPointToStart(&ifOp.getThenRegion().front());
  auto par = scf::ParallelOp::create(rw, loc, ValueRange{lo}, ValueRange{hi},
                                     ValueRange{c1});
  rw.setInsertionPointToStart(par.getBody());
  body(par.getInductionVars()[0]);
  rw.setInsertionPointToStart(&ifOp.getElseRegion().front());
  emitFor();
}

void DPLowering::onThreadZero(llvm::function_ref<void()> body) {
  if (!gpu)
    return body();
  Value first = arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, tid,
                                      cst(rw, loc, 0));
  auto ifOp = scf::IfOp::create(rw, loc, first, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard g(rw);
  rw.setInsertionPointToStart(&ifOp.getThenRegion().front());
  body();
}

LogicalResult DPLowering::run() {
  zero = cst(rw, loc, 0);
  one = cst(rw, loc, 1);
  loadInputs();
  auto resTy = cast<RankedTensorType>(op.getResult().getType());
  SmallVector<Value> resSizes = resultSizes();
  RuntimeShapeChecks checks(rw, loc, op);
  requireShapes(checks, resTy, resSizes);
  // The result is allocated even when a check fails (it is returned).
  allocResult(resTy, resSizes);

  auto guard = scf::IfOp::create(rw, loc, checks.allOk(),
                                 /*withElseRegion=*/false);
  rw.setInsertionPointToStart(&guard.getThenRegion().front());
  allocStorage();
  gpu::LaunchOp launch;
  if (gpu)
    launch = beginLaunch();
  emitSchedule();
  // Outputs other than the table.
  onThreadZero([&] { emitOutputs(); });
  if (gpu) {
    rw.setInsertionPointToEnd(&launch.getBody().front());
    gpu::TerminatorOp::create(rw, loc);
  }
  // buffer-deallocation-pipeline frees `buf` after its last use.

  rw.setInsertionPointAfter(guard);
  rw.replaceOp(op, toTensor(rw, loc, resTy, result));
  return success();
}

void DPLowering::loadInputs() {
  sizes.assign(op.getSizes().begin(), op.getSizes().end());
  for (Value in : op.getInputs())
    inputs.push_back(toBuffer(rw, loc, in));
  inputDims.assign(inputs.size(), 0);
  if (std::optional<ArrayRef<int64_t>> d = op.getInputDims())
    inputDims.assign(d->begin(), d->end());
}

SmallVector<Value> DPLowering::resultSizes() {
  ssm::DPOutput output = op.getOutput();
  if (output == ssm::DPOutput::table)
    return sizes;
  if (output == ssm::DPOutput::last_row)
    return {sizes[1]};
  return {};
}

void DPLowering::requireShapes(RuntimeShapeChecks &checks,
                               RankedTensorType resTy,
                               ArrayRef<Value> resSizes) {
  for (int64_t d = 0; d < rank; ++d)
    checks.require(
        arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::sge, sizes[d], zero),
        sizes[d], zero,
        ("size #" + Twine(d) + " of the index space must be non-negative")
            .str());
  for (auto [k, in] : llvm::enumerate(inputs))
    checks.requireEqual(dimOf(rw, loc, in, 0), sizes[inputDims[k]],
                        ("input #" + Twine(k) + " must have one element per "
                         "index along dimension " + Twine(inputDims[k]) +
                         " (reported: its length, then the size)")
                            .str());
  for (auto [r, s] : llvm::enumerate(resSizes))
    if (!resTy.isDynamicDim(r))
      checks.requireEqual(cst(rw, loc, resTy.getDimSize(r)), s,
                          ("result dimension " + Twine(r) +
                           " must equal the index-space size it holds")
                              .str());
}

void DPLowering::allocResult(RankedTensorType resTy,
                             ArrayRef<Value> resSizes) {
  SmallVector<Value> safeSizes;
  for (Value s : resSizes)
    safeSizes.push_back(arith::MaxSIOp::create(rw, loc, s, zero));
  result = allocLike(rw, loc, resTy, safeSizes);
}

void DPLowering::allocStorage() {
  auto alloc = [&](ArrayRef<Value> dims) {
    auto ty = MemRefType::get(
        SmallVector<int64_t>(dims.size(), ShapedType::kDynamic), cellType);
    return memref::AllocOp::create(rw, loc, ty, dims, rw.getI64IntegerAttr(64))
        .getResult();
  };
  if (op.getOutput() == ssm::DPOutput::table) {
    layout = Layout::Table;
    buf = result;
  } else if (rank == 1 && op.isPrefix()) {
    layout = Layout::Table;
    buf = alloc({sizes[0]});
  } else if (rank == 1) {
    layout = Layout::RingCells;
    ring = cst(rw, loc, std::max<int64_t>(shape.rowsBack, 1));
    buf = alloc({ring});
  } else if (hasWavefronts()) {
    layout = Layout::RingDiagonals;
    ring = cst(rw, loc, shape.diagBack + 1);
    buf = alloc({ring, sizes[0]});
  } else {
    layout = Layout::RingRows;
    ring = cst(rw, loc, shape.rowsBack + 1);
    buf = alloc({ring, sizes[1]});
  }
}

gpu::LaunchOp DPLowering::beginLaunch() {
  Value threads = cst(rw, loc, kGPUThreads);
  auto launch = gpu::LaunchOp::create(rw, loc, one, one, one, threads, one, one);
  rw.setInsertionPointToStart(&launch.getBody().front());
  tid = launch.getThreadIds().x;
  nthreads = threads;
  return launch;
}

void DPLowering::emitSchedule() {
  if (rank == 1)
    emitSequential();
  else if (hasWavefronts())
    emitWavefronts();
  else
    emitRows();
}

void DPLowering::emitSequential() {
  onThreadZero([&] {
    auto loop = scf::ForOp::create(rw, loc, zero, sizes[0], one);
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(loop.getBody());
    Value i = loop.getInductionVar();
    if (op.isPrefix())
      emitPrefixCell(i);
    else
      emitLocalCell(ValueRange{i});
  });
}

void DPLowering::emitWavefronts() {
  // Wavefront d holds the cells (i, d - i), max(0, d - T2 + 1) <= i <=
  // min(d, T1 - 1).
  Value waves = arith::SubIOp::create(
      rw, loc, arith::AddIOp::create(rw, loc, sizes[0], sizes[1]), one);
  waves = arith::MaxSIOp::create(rw, loc, waves, zero);
  Value empty = arith::OrIOp::create(
      rw, loc,
      arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, sizes[0], zero),
      arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, sizes[1], zero));
  waves = arith::SelectOp::create(rw, loc, empty, zero, waves);
  auto loop = scf::ForOp::create(rw, loc, zero, waves, one);
  OpBuilder::InsertionGuard g(rw);
  rw.setInsertionPointToStart(loop.getBody());
  Value d = loop.getInductionVar();
  Value lo = arith::MaxSIOp::create(
      rw, loc, zero,
      arith::AddIOp::create(rw, loc,
                            arith::SubIOp::create(rw, loc, d, sizes[1]), one));
  Value hi = arith::AddIOp::create(
      rw, loc,
      arith::MinSIOp::create(rw, loc, d,
                             arith::SubIOp::create(rw, loc, sizes[0], one)),
      one);
  emitRange(lo, hi, /*parallel=*/true, [&](Value i) {
    Value j = arith::SubIOp::create(rw, loc, d, i);
    emitLocalCell(ValueRange{i, j});
  });
}

void DPLowering::emitRows() {
  auto loop = scf::ForOp::create(rw, loc, zero, sizes[0], one);
  OpBuilder::InsertionGuard g(rw);
  rw.setInsertionPointToStart(loop.getBody());
  Value i = loop.getInductionVar();
  emitRange(zero, sizes[1], /*parallel=*/!shape.sameRow,
            [&](Value j) { emitLocalCell(ValueRange{i, j}); });
}

void DPLowering::emitOutputs() {
  ssm::DPOutput output = op.getOutput();
  Value c0 = cst(rw, loc, 0), c1 = cst(rw, loc, 1);
  if (output == ssm::DPOutput::last) {
    SmallVector<Value> lastIdx, nonEmpty;
    for (Value s : sizes) {
      lastIdx.push_back(arith::SubIOp::create(rw, loc, s, c1));
      nonEmpty.push_back(
          arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::sgt, s, c0));
    }
    Value ok = nonEmpty[0];
    if (rank == 2)
      ok = arith::AndIOp::create(rw, loc, ok, nonEmpty[1]);
    memref::StoreOp::create(rw, loc, read(lastIdx, ok), result, ValueRange{});
  } else if (output == ssm::DPOutput::last_row) {
    // An empty first dimension leaves the row above the table: boundary.
    Value noRows =
        arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::eq, sizes[0], c0);
    auto ifOp = scf::IfOp::create(rw, loc, noRows, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(&ifOp.getThenRegion().front());
    auto loop = scf::ForOp::create(rw, loc, c0, sizes[1], c1);
    rw.setInsertionPointToStart(loop.getBody());
    Value j = loop.getInductionVar();
    Value v = boundary(ValueRange{cst(rw, loc, -1), j});
    memref::StoreOp::create(rw, loc, v, result, ValueRange{j});
  }
}
