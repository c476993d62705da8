//===- KernelUtils.h - helpers the ssm GPU kernels share --------*- C++ -*-===//
//
// Internal to lib/Conversion/SSMToGPU: lane launches of 128-thread blocks,
// private arrays, loops and the activations every kernel uses.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_LIB_CONVERSION_SSMTOGPU_KERNELUTILS_H
#define SSMC_LIB_CONVERSION_SSMTOGPU_KERNELUTILS_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <optional>

#include "lib/Conversion/Utils/LoweringUtils.h"
#include "lib/GPU/IR/SSMGPUDialect.h"
#include "ssmc/Dialect/SSM/SSMOps.h"

namespace ssmc::gpu_kernels {

using namespace mlir;

constexpr int64_t kBlock = 128;

/// What one block of a kernel may use on the GPUs the NVPTX pipeline
/// targets (sm_90; the same limits hold from sm_70 on). The emulator has no
/// such limits, so every kernel checks its tiles against these at rewrite
/// time: ptxas rejects more than 48 KB of static shared memory; more is
/// dynamic shared memory (ssm-gpu-stage-buffers turns shared arrays over
/// 48 KB into it), which the runtime opts in to at launch up to the card's
/// limit (convert-ssm-to-gpu's max-shared-bytes; sm_90: 227 KB); a thread
/// addresses at most 255 registers, and the threads of a block share 64K
/// of them (over that the launch fails).
struct KernelBudget {
  static constexpr int64_t kStaticSharedBytes = 48 * 1024;
  /// sm_90's opt-in maximum of dynamic shared memory per block.
  static constexpr int64_t kMaxDynamicSharedBytesSM90 = 227 * 1024;
  static constexpr int64_t kRegistersPerThread = 255;
  static constexpr int64_t kRegistersPerBlock = 64 * 1024;
  /// One SM: its register file (sm_80 to sm_100), the threads it holds
  /// (sm_80, sm_90, sm_100; 1536 on sm_86/sm_89); the driver reserves 1 KB
  /// of its shared memory per resident block, and a block may opt in to
  /// all the rest (sm_90: 228 KB, of which 227 KB).
  static constexpr int64_t kRegistersPerSM = 64 * 1024;
  static constexpr int64_t kThreadsPerSM = 2048;
  static constexpr int64_t kSharedReservedPerBlock = 1024;
  /// sm_90's shared memory per SM.
  static constexpr int64_t kSharedPerSMSM90 = 228 * 1024;

  int64_t threads = kBlock;

  /// Registers a thread may use when the block has `threads` threads.
  int64_t registersPerThread() const {
    return std::min(kRegistersPerThread, kRegistersPerBlock / threads);
  }
  /// Blocks one SM holds when each thread uses `registers` (allocated in
  /// steps of 8 per thread), whatever their shared memory.
  int64_t blocksPerSM(int64_t registers) const {
    int64_t perThread = llvm::alignTo(std::max<int64_t>(registers, 1), 8);
    return std::max<int64_t>(1, std::min(kRegistersPerSM / (perThread * threads),
                                         kThreadsPerSM / threads));
  }
  /// The most shared memory a block may use, within `maxSharedBytes`,
  /// while an SM still holds as many blocks as `registers` per thread
  /// allow: a tile up to this size costs no resident warps, a larger one
  /// trades warps that hide the latency of the next tile's loads for fewer
  /// barriers. The SM's shared memory is the opt-in maximum plus the 1 KB
  /// reserve; a 48 KB budget (static shared memory only) says nothing of
  /// the card, and sm_90's is assumed.
  int64_t sharedForResidency(int64_t registers, int64_t maxSharedBytes) const {
    int64_t perSM = maxSharedBytes > kStaticSharedBytes
                        ? maxSharedBytes + kSharedReservedPerBlock
                        : kSharedPerSMSM90;
    return std::min(maxSharedBytes,
                    perSM / blocksPerSM(registers) - kSharedReservedPerBlock);
  }
  /// Whether `floats` f32 values of static shared memory fit.
  static bool sharedFits(int64_t floats) {
    return floats * 4 <= kStaticSharedBytes;
  }
  /// Whether `floats` f32 values fit `maxSharedBytes` of (static or
  /// dynamic) shared memory, the alignment padding of the arrays included.
  static bool sharedFits(int64_t floats, int64_t arrays,
                         int64_t maxSharedBytes) {
    return floats * 4 + arrays * kSharedArrayAlign <= maxSharedBytes;
  }
  /// Byte alignment of each array in dynamic shared memory.
  static constexpr int64_t kSharedArrayAlign = 16;
  /// Bytes of shared memory that f32 arrays of `floats` values each take
  /// as ssm-gpu-stage-buffers lays them out: their sum when it fits static
  /// shared memory, else each at a 16-byte aligned offset of dynamic
  /// shared memory.
  static int64_t sharedBytes(ArrayRef<int64_t> floats) {
    int64_t packed = 0, aligned = 0;
    for (int64_t f : floats) {
      packed += f * 4;
      aligned += llvm::alignTo(f * 4, kSharedArrayAlign);
    }
    return packed <= kStaticSharedBytes ? packed : aligned;
  }
  /// Whether `registers` per thread (a kernel's own estimate) fit.
  bool registersFit(int64_t registers) const {
    return registers <= registersPerThread();
  }
};

/// The first of `candidates` (largest, that is fastest, first) for which
/// `fits` holds; std::nullopt when none does and the caller falls back.
inline std::optional<int64_t>
pickTile(ArrayRef<int64_t> candidates,
         llvm::function_ref<bool(int64_t)> fits) {
  for (int64_t c : candidates)
    if (fits(c))
      return c;
  return std::nullopt;
}

inline Value cidx(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantIndexOp::create(b, loc, v);
}
inline Value cf32(OpBuilder &b, Location loc, double v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

/// mem[at] as f32 (extended from f16/bf16).
inline Value load32(OpBuilder &b, Location loc, Value mem, ValueRange at) {
  return ssmc::detail::castFloat(b, loc, memref::LoadOp::create(b, loc, mem, at),
                                 b.getF32Type());
}

/// mem[at] = v, rounded to mem's element type.
inline void store32(OpBuilder &b, Location loc, Value v, Value mem,
                    ValueRange at) {
  memref::StoreOp::create(
      b, loc,
      ssmc::detail::castFloat(
          b, loc, v, cast<MemRefType>(mem.getType()).getElementType()),
      mem, at);
}

/// softplus(x) = max(x, 0) + log1p(exp(-|x|)).
inline Value softplus(OpBuilder &b, Location loc, Value x) {
  Value ax = math::AbsFOp::create(b, loc, x);
  Value e = math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, ax));
  return arith::AddFOp::create(
      b, loc, arith::MaximumFOp::create(b, loc, x, cf32(b, loc, 0)),
      math::Log1pOp::create(b, loc, e));
}

inline Value silu(OpBuilder &b, Location loc, Value z) {
  Value one = cf32(b, loc, 1);
  Value sig = arith::DivFOp::create(
      b, loc, one,
      arith::AddFOp::create(
          b, loc, one, math::ExpOp::create(b, loc, arith::NegFOp::create(b, loc, z))));
  return arith::MulFOp::create(b, loc, z, sig);
}

/// A workgroup (shared-memory) f32 array type of `n` elements.
inline MemRefType sharedArrayType(MLIRContext *ctx, int64_t n) {
  return MemRefType::get(
      {n}, Float32Type::get(ctx), AffineMap(),
      gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
}

/// Launches `blocks` blocks of kBlock threads with shared arrays of the
/// given types; `body` gets the block index, the thread index and the
/// shared arrays. Unlike launchLanes there is no bounds guard: every thread
/// runs the body, so the body may hold block barriers (each thread must
/// reach every one of them) and guards its own loads and stores.
///
/// The shared arrays are written as workgroup-space memref.alloca ops at the
/// top of the body, not as launch attributions: buffer deallocation (which
/// runs after this) would give attribution block arguments ownership flags
/// the launch cannot carry. ssm-gpu-stage-buffers turns them into
/// attributions; ssm-gpu-emulate into one host buffer per block.
inline void launchBlocks(
    PatternRewriter &rw, Location loc, Value blocks, TypeRange shared,
    llvm::function_ref<void(Value, Value, ValueRange)> body) {
  Value c1 = cidx(rw, loc, 1);
  blocks = arith::MaxUIOp::create(rw, loc, blocks, c1);
  auto launch = gpu::LaunchOp::create(rw, loc, blocks, c1, c1,
                                      cidx(rw, loc, kBlock), c1, c1);
  OpBuilder::InsertionGuard g(rw);
  Block &blk = launch.getBody().front();
  rw.setInsertionPointToStart(&blk);
  SmallVector<Value> arrays;
  for (Type t : shared)
    arrays.push_back(memref::AllocaOp::create(rw, loc, cast<MemRefType>(t)));
  body(launch.getBlockIds().x, launch.getThreadIds().x, arrays);
  rw.setInsertionPointToEnd(&blk);
  gpu::TerminatorOp::create(rw, loc);
}

/// Launches ceil(lanes / 128) blocks of 128 threads; `body` runs for every
/// lane < `lanes` with the lane index (no barriers: idle lanes skip it).
inline void launchLanes(PatternRewriter &rw, Location loc, Value lanes,
                        llvm::function_ref<void(Value)> body) {
  Value blocks = arith::CeilDivUIOp::create(rw, loc, lanes, cidx(rw, loc, kBlock));
  launchBlocks(rw, loc, blocks, TypeRange{}, [&](Value bid, Value tid, ValueRange) {
    Value lane = arith::AddIOp::create(
        rw, loc, arith::MulIOp::create(rw, loc, bid, cidx(rw, loc, kBlock)), tid);
    Value inRange =
        arith::CmpIOp::create(rw, loc, arith::CmpIPredicate::ult, lane, lanes);
    auto guard = scf::IfOp::create(rw, loc, inRange, false);
    OpBuilder::InsertionGuard g(rw);
    rw.setInsertionPointToStart(&guard.getThenRegion().front());
    body(lane);
  });
}

/// The values of `scf.if (cond)`: `then` builds them in the then-region,
/// `fallback` (same types) are the else-region's.
inline SmallVector<Value>
valuesIf(OpBuilder &b, Location loc, Value cond, ValueRange fallback,
         llvm::function_ref<SmallVector<Value>(OpBuilder &)> then) {
  auto op = scf::IfOp::create(b, loc, fallback.getTypes(), cond, true);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&op.getThenRegion().front());
  scf::YieldOp::create(b, loc, then(b));
  b.setInsertionPointToStart(&op.getElseRegion().front());
  scf::YieldOp::create(b, loc, fallback);
  return SmallVector<Value>(op.getResults().begin(), op.getResults().end());
}

/// if (cond) { body } (no results).
inline void ifThen(OpBuilder &b, Location loc, Value cond,
                   llvm::function_ref<void(OpBuilder &)> body) {
  auto op = scf::IfOp::create(b, loc, cond, false);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(&op.getThenRegion().front());
  body(b);
}

/// A block barrier (ssm-gpu-stage-buffers makes it gpu.barrier).
inline void barrier(OpBuilder &b, Location loc) {
  ssm_gpu::BarrierOp::create(b, loc);
}

/// for (i = tid; i < total; i += kBlock) body(i): the block's threads
/// share the iterations (consecutive threads take consecutive i, so loads
/// of consecutive elements coalesce).
inline void blockStrided(OpBuilder &b, Location loc, Value tid, Value total,
                         llvm::function_ref<void(OpBuilder &, Value)> body) {
  scf::ForOp::create(b, loc, tid, total, cidx(b, loc, kBlock), ValueRange{},
                     [&](OpBuilder &bb, Location l, Value i, ValueRange) {
                       body(bb, i);
                       scf::YieldOp::create(bb, l);
                     });
}

/// Threads `lane` of `stride` fill rows [row0, row0 + rows) of a shared
/// array of `width` values per row: `body(builder, idx, row, col)` for every
/// element whose row (relative to row0) is below `count`, idx = (row0 +
/// row) * width + col. Consecutive lanes take consecutive elements, so
/// loads of consecutive values coalesce.
inline void stageRows(OpBuilder &b, Location loc, Value lane, Value stride,
                      int64_t rows, int64_t width, Value count, Value row0,
                      llvm::function_ref<void(OpBuilder &, Value, Value, Value)> body) {
  Value w = cidx(b, loc, width);
  Value base = arith::MulIOp::create(b, loc, row0, w);
  scf::ForOp::create(
      b, loc, lane, cidx(b, loc, rows * width), stride, ValueRange{},
      [&](OpBuilder &ib, Location l, Value e, ValueRange) {
        Value row = arith::DivUIOp::create(ib, l, e, w);
        Value col = arith::RemUIOp::create(ib, l, e, w);
        Value valid =
            arith::CmpIOp::create(ib, l, arith::CmpIPredicate::ult, row, count);
        auto guard = scf::IfOp::create(ib, l, valid, false);
        {
          OpBuilder::InsertionGuard g(ib);
          ib.setInsertionPointToStart(&guard.getThenRegion().front());
          body(ib, arith::AddIOp::create(ib, l, base, e), row, col);
        }
        scf::YieldOp::create(ib, l);
      });
}

/// for (s = lane; s < count; s += stride) body(s): per-step values of a
/// tile staged by `stride` threads (a chunk group may have fewer threads
/// than the tile has steps).
inline void stageSteps(OpBuilder &b, Location loc, Value lane, Value stride,
                       Value count, llvm::function_ref<void(OpBuilder &, Value)> body) {
  scf::ForOp::create(b, loc, lane, count, stride, ValueRange{},
                     [&](OpBuilder &ib, Location l, Value s, ValueRange) {
                       body(ib, s);
                       scf::YieldOp::create(ib, l);
                     });
}

/// Elements of a static 1-D shared array.
inline int64_t tileRows(Value array) {
  return cast<MemRefType>(array.getType()).getDimSize(0);
}

/// A private f32 array of `n` elements.
inline Value privateArray(OpBuilder &b, Location loc, int64_t n) {
  auto ty = MemRefType::get({n}, b.getF32Type(), AffineMap(),
                            gpu::AddressSpaceAttr::get(
                                b.getContext(), gpu::AddressSpace::Private));
  return memref::AllocaOp::create(b, loc, ty);
}

/// for i in [0, n): body(i)
inline void forEach(OpBuilder &b, Location loc, Value n,
             llvm::function_ref<void(OpBuilder &, Value)> body) {
  scf::ForOp::create(b, loc, cidx(b, loc, 0), n, cidx(b, loc, 1), ValueRange{},
                     [&](OpBuilder &bb, Location l, Value i, ValueRange) {
                       body(bb, i);
                       scf::YieldOp::create(bb, l);
                     });
}

/// True when every operand is an index or has f32, f16 or bf16 elements:
/// the kernels compute in f32 and convert on load and store (f64 programs
/// and integer operands such as cu_seqlens stay on the host).
inline bool gpuFloatOperands(Operation *op) {
  for (Value v : op->getOperands()) {
    if (isa<IndexType>(v.getType()))
      continue;
    Type e = getElementTypeOrSelf(v.getType());
    if (!e.isF32() && !e.isF16() && !e.isBF16())
      return false;
  }
  return true;
}

} // namespace ssmc::gpu_kernels

#endif // SSMC_LIB_CONVERSION_SSMTOGPU_KERNELUTILS_H
