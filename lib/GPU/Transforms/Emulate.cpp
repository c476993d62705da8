//===- Emulate.cpp - the ssm-gpu-emulate pass -----------------------------===//
//
// Runs the GPU kernels convert-ssm-to-gpu writes on the host CPU, with the
// semantics of a CUDA thread block: every gpu.launch (after bufferization,
// in place of ssm-gpu-stage-buffers) becomes a sequential loop over the
// grid's blocks, and each block an `omp.parallel` region of exactly
// blockDim OpenMP threads, one per GPU thread. Inside it
//  - the thread index is omp_get_thread_num() split into x/y/z;
//  - workgroup (shared) memory is one host buffer per block, allocated
//    before the region, so every thread of the block sees it; dynamic
//    shared memory (gpu.dynamic_shared_memory) a byte buffer of the
//    launch's dynamic size, its memref.view ops views of it;
//  - private memory is a stack allocation of the thread;
//  - ssm_gpu.barrier / gpu.barrier become omp.barrier;
//  - gpu.shuffle goes through a per-block scratch array of two halves of
//    blockDim values of its type, used in turn (a private counter of the
//    thread's shuffles picks the half): every thread writes its value at
//    its linear thread index in the current half, a barrier, reads its
//    source lane's (in its own warp of 32 consecutive threads, as CUDA
//    forms warps). One barrier per shuffle: a thread writes a half again
//    two shuffles later, after the barrier of the shuffle between, which
//    no thread passes before it has read this one. Valid only where every
//    thread of the block executes the shuffle (a block barrier where the
//    GPU needs only the warp converged), which the kernels guarantee: they
//    shuffle outside divergent code, with uniform trip counts.
//  - a block's threads sleep as soon as they wait at a barrier: each
//    calls kmp_set_blocktime(0) first, which sets the blocktime of its
//    task in this region only (the caller's parallel regions keep theirs).
//    A block has far more threads than the machine has cores, and threads
//    spinning at a barrier take the cores from the threads it waits for.
//    OMP_WAIT_POLICY=active in the environment keeps them spinning
//    (libomp then ignores the setting).
// So a kernel that races on shared memory, misses a barrier, indexes out
// of its tile or maps shuffle lanes wrongly computes wrong numbers here as
// on a GPU, and the numerical tests of every kernel run on a machine
// without one. What this does not model: other warp-synchronous code (warp
// votes, implicit warp synchrony), the memory hierarchy and timing, and
// the NVPTX backend (ptxas tests cover that).
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"
#include "lib/GPU/IR/SSMGPUDialect.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/OpenMP/OpenMPDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPUEMULATE
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;

namespace {

constexpr llvm::StringLiteral kThreadNum = "omp_get_thread_num";
constexpr llvm::StringLiteral kSetBlocktime = "kmp_set_blocktime";

/// `t` without a memory space (host memory).
Type hostType(Type t) {
  auto mt = dyn_cast<MemRefType>(t);
  if (!mt || !mt.getMemorySpace())
    return t;
  return MemRefType::get(mt.getShape(), mt.getElementType(), mt.getLayout());
}

/// Rewrites one gpu.launch: the loops over the grid's blocks, the block's
/// shared memory, the omp.parallel region of its threads holding a clone of
/// the body, then the device-only ops in that clone.
class LaunchEmulator {
public:
  explicit LaunchEmulator(gpu::LaunchOp launch)
      : launch(launch), loc(launch.getLoc()), b(launch) {}

  LogicalResult run();

private:
  LogicalResult checkSupported();
  /// for bz, by, bx: one block after another.
  void emitBlockLoops();
  /// One host buffer per block for each workgroup attribution and
  /// workgroup-space alloca, visible to all the block's threads.
  LogicalResult allocateSharedMemory();
  /// The omp.parallel region of blockDim threads, which sleep at barriers,
  /// and their x/y/z indices.
  void emitThreadRegion();
  /// Launch values (ids, sizes, attributions) to their host equivalents.
  void mapLaunchValues();
  /// The body's ops (all but the hoisted allocas) into the region.
  void cloneBody();
  /// Barriers, thread/block ids written as ops, memory spaces.
  void rewriteDeviceOps();
  /// One gpu.shuffle through its type's scratch array (see the file
  /// comment).
  void emulateShuffle(gpu::ShuffleOp shuffle);
  /// After the region, the shared buffers are freed.
  void freeSharedMemory();

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }

  gpu::LaunchOp launch;
  Location loc;
  OpBuilder b;
  Block *body = nullptr;
  Value c0, c1;
  gpu::KernelDim3 grid, block;
  Value nThreads32;
  SmallVector<Value> blockIds = SmallVector<Value>(3);
  /// The attributions' buffers first, then the hoisted allocas'.
  SmallVector<Value> shared;
  IRMapping map;
  llvm::SmallPtrSet<Operation *, 4> hoisted;
  omp::ParallelOp par;
  Value tx, ty, tz;
  /// The linear thread index (x fastest), which lays out warps.
  Value linearTid;
  Value nThreads;
  /// The shuffles' scratch arrays (two halves of blockDim values), one per
  /// value type.
  llvm::SmallDenseMap<Type, Value> shuffleScratch;
  /// The thread's count of shuffles so far (private memref<1xi32>): its
  /// parity picks the scratch half.
  Value shuffleCount;
};

LogicalResult LaunchEmulator::run() {
  if (failed(checkSupported()))
    return failure();
  c0 = idx(0), c1 = idx(1);
  grid = launch.getGridSizeOperandValues();
  block = launch.getBlockSizeOperandValues();
  nThreads = arith::MulIOp::create(
      b, loc, arith::MulIOp::create(b, loc, block.x, block.y), block.z);
  nThreads32 = arith::IndexCastOp::create(b, loc, b.getI32Type(), nThreads);
  body = &launch.getBody().front();
  emitBlockLoops();
  if (failed(allocateSharedMemory()))
    return failure();
  emitThreadRegion();
  mapLaunchValues();
  cloneBody();
  rewriteDeviceOps();
  freeSharedMemory();
  launch.erase();
  return success();
}

LogicalResult LaunchEmulator::checkSupported() {
  if (!launch.getBody().hasOneBlock())
    return launch.emitError("ssm-gpu-emulate: a launch body with more than "
                            "one block (run it before convert-scf-to-cf)");
  if (launch.getAsyncToken() || !launch.getAsyncDependencies().empty() ||
      launch.getClusterSizeX())
    return launch.emitError(
        "ssm-gpu-emulate: async launches and clusters are not emulated");
  return success();
}

void LaunchEmulator::emitBlockLoops() {
  Value gridDims[3] = {grid.x, grid.y, grid.z};
  for (int d = 2; d >= 0; --d) {
    auto loop = scf::ForOp::create(b, loc, c0, gridDims[d], c1);
    blockIds[d] = loop.getInductionVar();
    b.setInsertionPointToStart(loop.getBody());
  }
}

LogicalResult LaunchEmulator::allocateSharedMemory() {
  for (BlockArgument a : launch.getWorkgroupAttributions())
    shared.push_back(memref::AllocOp::create(
        b, loc, cast<MemRefType>(hostType(a.getType()))));
  WalkResult walk = body->walk([&](memref::AllocaOp a) {
    if (!gpu::GPUDialect::isWorkgroupMemoryAddressSpace(
            a.getType().getMemorySpace()))
      return WalkResult::advance();
    if (a->getBlock() != body || !a.getDynamicSizes().empty()) {
      a.emitError("ssm-gpu-emulate: shared arrays must be statically "
                  "sized and at the top of the launch body");
      return WalkResult::interrupt();
    }
    shared.push_back(memref::AllocOp::create(
        b, loc, cast<MemRefType>(hostType(a.getType()))));
    map.map(a.getResult(), shared.back());
    hoisted.insert(a);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  // Dynamic shared memory: a host buffer of the launch's dynamic size.
  walk = body->walk([&](gpu::DynamicSharedMemoryOp d) {
    Value size = launch.getDynamicSharedMemorySize();
    if (d->getBlock() != body || !size) {
      d.emitError("ssm-gpu-emulate: dynamic shared memory must be taken at "
                  "the top of a launch body that gives its size");
      return WalkResult::interrupt();
    }
    Value bytes = arith::IndexCastUIOp::create(b, loc, b.getIndexType(), size);
    shared.push_back(memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
        ValueRange{bytes}));
    map.map(d.getResult(), shared.back());
    hoisted.insert(d);
    return WalkResult::advance();
  });
  if (walk.wasInterrupted())
    return failure();
  Value halves = arith::MulIOp::create(b, loc, nThreads, idx(2));
  body->walk([&](gpu::ShuffleOp s) {
    Type t = s.getValue().getType();
    if (shuffleScratch.count(t))
      return;
    shuffleScratch[t] = memref::AllocOp::create(
        b, loc, MemRefType::get({ShapedType::kDynamic}, t), ValueRange{halves});
    shared.push_back(shuffleScratch[t]);
  });
  return success();
}

void LaunchEmulator::emitThreadRegion() {
  omp::ParallelOperands clauses;
  clauses.numThreads = nThreads32;
  par = omp::ParallelOp::create(b, loc, clauses);
  Block *pb = b.createBlock(&par.getRegion());
  b.setInsertionPointToStart(pb);
  LLVM::CallOp::create(b, loc, TypeRange{}, kSetBlocktime,
                       ValueRange{arith::ConstantIntOp::create(b, loc, 0, 32)});
  Value tid = arith::IndexCastOp::create(
      b, loc, b.getIndexType(),
      LLVM::CallOp::create(b, loc, TypeRange{b.getI32Type()}, kThreadNum,
                           ValueRange{})
          .getResult());
  tx = arith::RemUIOp::create(b, loc, tid, block.x);
  Value rest = arith::DivUIOp::create(b, loc, tid, block.x);
  ty = arith::RemUIOp::create(b, loc, rest, block.y);
  tz = arith::DivUIOp::create(b, loc, rest, block.y);
  linearTid = tid;
  if (!shuffleScratch.empty()) {
    shuffleCount =
        memref::AllocaOp::create(b, loc, MemRefType::get({1}, b.getI32Type()));
    memref::StoreOp::create(b, loc, arith::ConstantIntOp::create(b, loc, 0, 32),
                            shuffleCount, ValueRange{c0});
  }
}

void LaunchEmulator::mapLaunchValues() {
  gpu::KernelDim3 ids = launch.getBlockIds(), tids = launch.getThreadIds(),
                  gsz = launch.getGridSize(), bsz = launch.getBlockSize();
  map.map(ids.x, blockIds[0]);
  map.map(ids.y, blockIds[1]);
  map.map(ids.z, blockIds[2]);
  map.map(tids.x, tx);
  map.map(tids.y, ty);
  map.map(tids.z, tz);
  map.map(gsz.x, grid.x);
  map.map(gsz.y, grid.y);
  map.map(gsz.z, grid.z);
  map.map(bsz.x, block.x);
  map.map(bsz.y, block.y);
  map.map(bsz.z, block.z);
  for (auto [a, s] : llvm::zip(launch.getWorkgroupAttributions(), shared))
    map.map(a, s); // the attributions' buffers come first in `shared`
  for (BlockArgument a : launch.getPrivateAttributions())
    map.map(a, memref::AllocaOp::create(
                   b, loc, cast<MemRefType>(hostType(a.getType()))));
}

void LaunchEmulator::cloneBody() {
  for (Operation &op : body->without_terminator()) {
    if (hoisted.contains(&op))
      continue;
    // A view of dynamic shared memory views its host buffer.
    auto view = dyn_cast<memref::ViewOp>(op);
    if (view && view.getSource().getDefiningOp<gpu::DynamicSharedMemoryOp>()) {
      SmallVector<Value> sizes;
      for (Value v : view.getSizes())
        sizes.push_back(map.lookupOrDefault(v));
      map.map(view.getResult(),
              memref::ViewOp::create(
                  b, view.getLoc(), cast<MemRefType>(hostType(view.getType())),
                  map.lookup(view.getSource()),
                  map.lookupOrDefault(view.getByteShift()), sizes));
      continue;
    }
    b.clone(op, map);
  }
  omp::TerminatorOp::create(b, loc);
}

void LaunchEmulator::rewriteDeviceOps() {
  SmallVector<Operation *> toErase;
  SmallVector<gpu::ShuffleOp> shuffles;
  par.walk([&](Operation *op) {
    OpBuilder ob(op);
    Value repl;
    if (auto s = dyn_cast<gpu::ShuffleOp>(op)) {
      shuffles.push_back(s);
      return;
    }
    if (isa<ssm_gpu::BarrierOp, gpu::BarrierOp>(op)) {
      omp::BarrierOp::create(ob, op->getLoc());
      toErase.push_back(op);
      return;
    }
    if (auto t = dyn_cast<gpu::ThreadIdOp>(op))
      repl = t.getDimension() == gpu::Dimension::x   ? tx
             : t.getDimension() == gpu::Dimension::y ? ty
                                                      : tz;
    else if (auto t = dyn_cast<gpu::BlockIdOp>(op))
      repl = blockIds[static_cast<int>(t.getDimension())];
    else if (auto t = dyn_cast<gpu::BlockDimOp>(op))
      repl = t.getDimension() == gpu::Dimension::x   ? block.x
             : t.getDimension() == gpu::Dimension::y ? block.y
                                                      : block.z;
    if (repl) {
      op->getResult(0).replaceAllUsesWith(repl);
      toErase.push_back(op);
      return;
    }
    for (Value r : op->getResults())
      r.setType(hostType(r.getType()));
    for (Region &reg : op->getRegions())
      for (Block &blk : reg)
        for (BlockArgument a : blk.getArguments())
          a.setType(hostType(a.getType()));
  });
  for (Operation *op : toErase)
    op->erase();
  for (gpu::ShuffleOp s : shuffles)
    emulateShuffle(s);
}

void LaunchEmulator::emulateShuffle(gpu::ShuffleOp shuffle) {
  OpBuilder ob(shuffle);
  Location l = shuffle.getLoc();
  Value scratch = shuffleScratch.lookup(shuffle.getValue().getType());
  auto i32 = [&](Value v) {
    return arith::IndexCastOp::create(ob, l, ob.getI32Type(), v).getResult();
  };
  auto c32 = [&](int32_t v) {
    return arith::ConstantIntOp::create(ob, l, v, 32).getResult();
  };
  // This shuffle's half of the scratch array: the count's parity.
  Value count = memref::LoadOp::create(ob, l, shuffleCount, ValueRange{c0});
  memref::StoreOp::create(ob, l, arith::AddIOp::create(ob, l, count, c32(1)),
                          shuffleCount, ValueRange{c0});
  Value half = arith::IndexCastOp::create(
      ob, l, ob.getIndexType(), arith::AndIOp::create(ob, l, count, c32(1)));
  Value base = arith::MulIOp::create(ob, l, half, nThreads);
  memref::StoreOp::create(
      ob, l, shuffle.getValue(), scratch,
      ValueRange{arith::AddIOp::create(ob, l, base, linearTid)});
  omp::BarrierOp::create(ob, l);
  Value tid = i32(linearTid);
  Value lane = arith::RemUIOp::create(ob, l, tid, c32(32));
  Value warpBase = arith::SubIOp::create(ob, l, tid, lane);
  Value off = shuffle.getOffset(), width = shuffle.getWidth();
  Value src;
  switch (shuffle.getMode()) {
  case gpu::ShuffleMode::XOR:
    src = arith::XOrIOp::create(ob, l, lane, off);
    break;
  case gpu::ShuffleMode::DOWN:
    src = arith::AddIOp::create(ob, l, lane, off);
    break;
  case gpu::ShuffleMode::UP:
    src = arith::SubIOp::create(ob, l, lane, off);
    break;
  case gpu::ShuffleMode::IDX:
    src = off;
    break;
  }
  // The source lane must lie in [0, width); otherwise the thread keeps its
  // own value and the shuffle is invalid (as the NVVM lowering's result).
  Value valid = arith::AndIOp::create(
      ob, l,
      arith::CmpIOp::create(ob, l, arith::CmpIPredicate::sge, src, c32(0)),
      arith::CmpIOp::create(ob, l, arith::CmpIPredicate::slt, src, width));
  Value from = arith::SelectOp::create(
      ob, l, valid, arith::AddIOp::create(ob, l, warpBase, src), tid);
  Value got = memref::LoadOp::create(
      ob, l, scratch,
      ValueRange{arith::AddIOp::create(
          ob, l, base,
          arith::IndexCastOp::create(ob, l, ob.getIndexType(), from))});
  shuffle.getShuffleResult().replaceAllUsesWith(got);
  shuffle.getValid().replaceAllUsesWith(valid);
  shuffle.erase();
}

void LaunchEmulator::freeSharedMemory() {
  b.setInsertionPointAfter(par);
  for (Value s : shared)
    memref::DeallocOp::create(b, loc, s);
}

struct EmulatePass : public ssmc::impl::SSMGPUEmulateBase<EmulatePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::LaunchOp> launches;
    module.walk([&](gpu::LaunchOp l) { launches.push_back(l); });
    if (launches.empty())
      return;
    // LLVM declarations: llvm-request-c-wrappers leaves them alone.
    OpBuilder b(module.getBodyRegion());
    Type i32 = b.getI32Type(), none = LLVM::LLVMVoidType::get(&getContext());
    for (auto [name, type] :
         {std::pair{kThreadNum, LLVM::LLVMFunctionType::get(i32, {})},
          std::pair{kSetBlocktime, LLVM::LLVMFunctionType::get(none, {i32})}})
      if (!module.lookupSymbol(name))
        LLVM::LLVMFuncOp::create(b, module.getLoc(), name, type);
    for (gpu::LaunchOp launch : launches)
      if (failed(LaunchEmulator(launch).run()))
        return signalPassFailure();
  }
};

} // namespace
