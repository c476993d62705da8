//===- StageBuffers.cpp - the ssm-gpu-stage-buffers pass ------------------===//
//
// Kernels written by convert-ssm-to-gpu name host buffers. After
// bufferization and buffer deallocation (which know nothing of device
// memory), every host memref a gpu.launch uses gets a device copy: gpu.alloc
// and a host-to-device gpu.memcpy before the launch when the kernel reads
// it, a device-to-host gpu.memcpy when the kernel writes it, and
// gpu.dealloc, unless the buffer is device-resident memory
// (ssmc::cuda::DeviceTensor; ssm_gpu.is_resident, which becomes a call of
// the runtime's ssmcCudaIsResident): then the kernel uses it in place.
// Reads and writes are found through the buffer's views and the ops'
// memory effects (LaunchAccess.h); a buffer only written starts as
// uninitialised device memory, which the emulator models by poisoning
// (ssm-gpu-poison-write-only).
//
// Device copies outlive their launch within a block (BlockStager): the
// block's later launches use them, also through views, without copying in;
// a copy goes back to the host only before a host op that may access the
// buffer (memory effects and HostAliases.h), and not at all when the host
// frees the buffer. Host ops that touch no host memory the pending GPU ops
// before them use move above those GPU ops, host allocations and frees out
// of the runs of GPU ops, and device frees up to the GPU op before them:
// gpu-async-region would make each a host wait (a device free after a
// block's last host op, a wait at its end).
//
// Device copies outlive a loop's iterations for the scf.for iter args
// that only the body's kernels use (CarriedBuffers.h: a layer loop's
// residual stream): the loop carries each one's device buffer as an iter
// arg of its own (stageCarriedLoop), entering with the init's live copy
// or a copy in before the loop; the body starts with its block argument's
// copy live and yields the yielded buffer's copy (handOverCarried) instead
// of copying it back, and the loop's result is a live copy of the
// enclosing block, not yet on the host. A host memref.copy from a live
// copy's allocation into another allocation, such as bufferization's
// copy of a loop's init, becomes a device-to-device copy (copyOnDevice).
// Other nested blocks (an scf.if, a loop whose carried buffer the host
// touches) stage their launches in the block, as before.
//
// Barrier markers (ssm_gpu.barrier) become gpu.barrier, and
// workgroup-space allocas in a launch (shared arrays) its workgroup
// attributions, or, where together they exceed the 48 KB of static shared
// memory, views (16-byte aligned) into the launch's dynamic shared memory
// (gpu.dynamic_shared_memory; the launch's dynamic size is their total).
//
//===----------------------------------------------------------------------===//

#include "ssmc/GPU/Passes.h"
#include "lib/GPU/IR/SSMGPUDialect.h"
#include "lib/GPU/Transforms/CarriedBuffers.h"
#include "lib/GPU/Transforms/HostAliases.h"
#include "lib/GPU/Transforms/LaunchAccess.h"

#include "ssmc/Dialect/SSM/SSMOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Interfaces/DataLayoutInterfaces.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "mlir/Transforms/RegionUtils.h"

namespace ssmc {
#define GEN_PASS_DEF_SSMGPUSTAGEBUFFERS
#include "ssmc/GPU/Passes.h.inc"
} // namespace ssmc

using namespace mlir;
using ssmc::gpu_transforms::HostAliases;

namespace {
struct StageBuffersPass
    : public ssmc::impl::SSMGPUStageBuffersBase<StageBuffersPass> {
  void runOnOperation() override {
    getOperation()->walk([&](FunctionOpInterface f) {
      HostAliases aliases(f);
      for (Block &block : f.getFunctionBody())
        BlockStager(aliases).run(block);
    });
    SmallVector<gpu::LaunchOp> launches;
    getOperation()->walk([&](gpu::LaunchOp l) { launches.push_back(l); });
    for (gpu::LaunchOp launch : launches)
      sharedToAttributions(launch);
    SmallVector<ssm_gpu::BarrierOp> barriers;
    getOperation()->walk([&](ssm_gpu::BarrierOp b) { barriers.push_back(b); });
    for (ssm_gpu::BarrierOp b : barriers) {
      OpBuilder builder(b);
      gpu::BarrierOp::create(builder, b.getLoc());
      b.erase();
    }
  }

  /// Workgroup-space allocas in the launch body (the kernels' shared
  /// arrays) become workgroup attributions of the launch (static shared
  /// memory) when they fit its 48 KB, and views into the launch's dynamic
  /// shared memory when not.
  static void sharedToAttributions(gpu::LaunchOp launch) {
    SmallVector<memref::AllocaOp> allocas;
    launch.getBody().walk([&](memref::AllocaOp a) {
      if (gpu::GPUDialect::isWorkgroupMemoryAddressSpace(
              a.getType().getMemorySpace()))
        allocas.push_back(a);
    });
    DataLayout layout = DataLayout::closest(launch);
    int64_t bytes = 0;
    bool allStatic = true;
    for (memref::AllocaOp a : allocas) {
      allStatic &= a.getType().hasStaticShape() &&
                   a.getType().getLayout().isIdentity();
      bytes += arrayBytes(layout, a.getType());
    }
    if (allStatic && bytes > kStaticSharedBytes) {
      sharedToDynamic(launch, allocas, layout);
      return;
    }
    for (memref::AllocaOp a : allocas) {
      BlockArgument arg = launch.addWorkgroupAttribution(a.getType(), a.getLoc());
      a.getResult().replaceAllUsesWith(arg);
      a.erase();
    }
  }

  /// Static shared memory a kernel may declare (ptxas' limit).
  static constexpr int64_t kStaticSharedBytes = 48 * 1024;
  /// Alignment of each array in dynamic shared memory.
  static constexpr int64_t kDynamicArrayAlign = 16;

  static int64_t arrayBytes(DataLayout &layout, MemRefType t) {
    if (!t.hasStaticShape())
      return 0;
    return t.getNumElements() *
           int64_t(layout.getTypeSize(t.getElementType()).getFixedValue());
  }

  /// The shared arrays as views of one gpu.dynamic_shared_memory buffer,
  /// each at an offset aligned to kDynamicArrayAlign, and the launch's
  /// dynamic shared-memory size their total (the runtime opts in to it
  /// above 48 KB; the card's limit was the kernel's budget at rewrite).
  static void sharedToDynamic(gpu::LaunchOp launch,
                              ArrayRef<memref::AllocaOp> allocas,
                              DataLayout &layout) {
    Location loc = launch.getLoc();
    MLIRContext *ctx = launch.getContext();
    OpBuilder b(launch.getContext());
    b.setInsertionPointToStart(&launch.getBody().front());
    auto bytesTy = MemRefType::get(
        {ShapedType::kDynamic}, IntegerType::get(ctx, 8), AffineMap(),
        gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup));
    auto raw = gpu::DynamicSharedMemoryOp::create(b, loc, bytesTy);
    int64_t offset = 0;
    for (memref::AllocaOp a : allocas) {
      Value at = arith::ConstantIndexOp::create(b, a.getLoc(), offset);
      Value view = memref::ViewOp::create(b, a.getLoc(), a.getType(), raw, at,
                                          ValueRange{});
      offset += llvm::alignTo(arrayBytes(layout, a.getType()),
                              kDynamicArrayAlign);
      a.getResult().replaceAllUsesWith(view);
    }
    // Erased only now: the insertion point may be before the first alloca.
    b.setInsertionPoint(launch);
    for (memref::AllocaOp a : allocas)
      a.erase();
    Value size = arith::ConstantIntOp::create(b, loc, b.getI32Type(), offset);
    launch.getDynamicSharedMemorySizeMutable().assign(size);
  }

  /// A host buffer's device copy that outlives its launch: the next launch
  /// of the block that uses the buffer (or a view of it) uses the device
  /// copy, without copying in. It is copied back and freed when the host
  /// may touch the buffer, freed without a copy when the host frees it, and
  /// copied back and freed before the block's terminator.
  struct DeviceCopy {
    Value host;  ///< the contiguous host buffer the launch captured
    Value raw;   ///< the gpu.alloc bytes
    Value fresh; ///< the device buffer (a view of `raw`)
    Value dev;   ///< what kernels use: the host buffer itself if resident
    Value count; ///< elements to copy: zero for a resident buffer
    bool dirty;  ///< kernels wrote it since the host last saw it
  };

  /// Stages the launches of one block in order, carrying device copies
  /// from launch to launch (`live`) until a host op may touch them.
  class BlockStager {
  public:
    explicit BlockStager(HostAliases &aliases) : aliases(aliases) {}

    void run(Block &block) {
      SmallVector<Operation *> ops;
      for (Operation &op : block)
        ops.push_back(&op);
      for (Operation *op : ops) {
        if (auto launch = dyn_cast<gpu::LaunchOp>(op)) {
          stageLaunch(launch);
          continue;
        }
        if (auto loop = dyn_cast<scf::ForOp>(op))
          if (stageCarriedLoop(loop))
            continue;
        if (auto copy = dyn_cast<memref::CopyOp>(op))
          if (copyOnDevice(copy))
            continue;
        if (op == block.getTerminator())
          handOverCarried(op);
        for (Region &region : op->getRegions())
          for (Block &inner : region)
            BlockStager(aliases).run(inner);
        visitHostOp(op);
      }
      hoistHostWork(block);
      scheduleHostMemoryOps(block);
      hoistDeviceFrees(block);
    }

  private:
    /// One host buffer a launch uses, and what staging made of it.
    struct Staged {
      Value host;
      bool reads, writes;
      SmallVector<Value> dynamicSizes;
      Value contiguous; ///< `host`, or a contiguous host copy of a strided view
      Value resident;   ///< i1: the buffer is device-resident memory
      Value elements;   ///< its number of elements
      bool chained;     ///< its device copy outlives the launch
      /// For a strided view the kernel can use in place when resident: the
      /// host bytes of its contiguous copy (sized zero when resident).
      Value contiguousRaw;
    };

    /// The ops that `op` runs on the host may touch a live device copy's
    /// buffer: copy it back first if kernels wrote it; free it unless the
    /// host only reads it (then the device copy stays valid).
    void visitHostOp(Operation *op) {
      if (live.empty())
        return;
      if (op->hasTrait<OpTrait::IsTerminator>()) {
        for (DeviceCopy &c : live)
          release(c, op, /*copyBack=*/true);
        live.clear();
        return;
      }
      if (isMemoryEffectFree(op) || isa<memref::AllocOp, memref::AllocaOp>(op))
        return;
      if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        Value freed = HostAliases::root(dealloc.getMemref());
        // The host frees its buffer: nobody reads the kernels' result.
        dropIf(op, [&](DeviceCopy &c) {
          return HostAliases::root(c.host) == freed && aliases.isPrivate(freed);
        }, /*copyBack=*/false);
        dropIf(op, [&](DeviceCopy &c) { return aliases.mayAlias(c.host, freed); },
               /*copyBack=*/true);
        return;
      }
      std::optional<SmallVector<MemoryEffects::EffectInstance>> effects =
          getEffectsRecursively(op);
      // Values whose memory the op accesses; `anywhere` when it may access
      // memory it was not given (a call, an op without declared effects).
      SmallVector<std::pair<Value, bool>> accessed; // (value, read only)
      bool anywhere = !effects;
      if (effects) {
        for (const MemoryEffects::EffectInstance &e : *effects) {
          if (isa<MemoryEffects::Allocate>(e.getEffect()))
            continue;
          Value v = e.getValue();
          if (!v) {
            anywhere = true;
            continue;
          }
          if (isa<BaseMemRefType>(v.getType()))
            accessed.push_back({v, isa<MemoryEffects::Read>(e.getEffect())});
        }
      } else {
        for (Value v : op->getOperands())
          if (isa<BaseMemRefType>(v.getType()))
            accessed.push_back({v, false});
        llvm::SetVector<Value> captured;
        getUsedValuesDefinedAbove(op->getRegions(), captured);
        for (Value v : captured)
          if (isa<BaseMemRefType>(v.getType()))
            accessed.push_back({v, false});
      }
      SmallVector<DeviceCopy> kept;
      for (DeviceCopy &c : live) {
        bool touched = anywhere && !aliases.isPrivate(HostAliases::root(c.host));
        bool readOnly = !touched;
        for (auto [v, read] : accessed) {
          if (!aliases.mayAlias(v, c.host))
            continue;
          touched = true;
          readOnly &= read;
        }
        if (!touched) {
          kept.push_back(c);
          continue;
        }
        if (readOnly) {
          OpBuilder b(op);
          if (c.dirty)
            copyToHost(b, op->getLoc(), c);
          c.dirty = false;
          kept.push_back(c);
          continue;
        }
        release(c, op, /*copyBack=*/true);
      }
      live = std::move(kept);
    }

    /// Releases (before `at`) and forgets the live copies `pred` picks.
    template <typename Pred>
    void dropIf(Operation *at, Pred pred, bool copyBack) {
      SmallVector<DeviceCopy> kept;
      for (DeviceCopy &c : live) {
        if (pred(c))
          release(c, at, copyBack);
        else
          kept.push_back(c);
      }
      live = std::move(kept);
    }

    /// Before `at`: the device copy back to the host buffer (if the kernels
    /// wrote it and `copyBack`), then gpu.dealloc.
    static void release(DeviceCopy &c, Operation *at, bool copyBack) {
      OpBuilder b(at);
      if (copyBack && c.dirty)
        copyToHost(b, at->getLoc(), c);
      gpu::DeallocOp::create(b, at->getLoc(), TypeRange{}, ValueRange{}, c.raw);
    }

    static Value flat(OpBuilder &b, Location loc, Value m, Value count) {
      auto mt = cast<MemRefType>(m.getType());
      auto flatTy =
          MemRefType::get({ShapedType::kDynamic}, mt.getElementType());
      return memref::ReinterpretCastOp::create(
          b, loc, flatTy, m, OpFoldResult(b.getIndexAttr(0)),
          ArrayRef<OpFoldResult>{count},
          ArrayRef<OpFoldResult>{b.getIndexAttr(1)});
    }

    static void copyToHost(OpBuilder &b, Location loc, DeviceCopy &c) {
      gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{},
                            flat(b, loc, c.host, c.count),
                            flat(b, loc, c.fresh, c.count));
    }

    /// The live copy `v` is, or is a view of (through subviews, reshapes
    /// and casts, collected in `views` from `v` up), or null.
    DeviceCopy *findCopy(Value v, SmallVectorImpl<Operation *> &views) {
      views.clear();
      for (Value at = v;;) {
        for (DeviceCopy &c : live)
          if (c.host == at)
            return &c;
        Operation *def = at.getDefiningOp();
        if (!isa_and_nonnull<memref::SubViewOp, memref::ExpandShapeOp,
                             memref::CollapseShapeOp, memref::CastOp>(def))
          return nullptr;
        views.push_back(def);
        at = cast<ViewLikeOpInterface>(def).getViewSource();
      }
    }

    void stageLaunch(gpu::LaunchOp launch) {
      sinkLayoutCasts(launch);
      llvm::SetVector<Value> captured;
      getUsedValuesDefinedAbove(launch.getBody(), captured);
      SmallVector<Value> buffers;
      for (Value v : captured)
        if (isa<MemRefType>(v.getType()))
          buffers.push_back(v);
      // A live copy that a buffer of the launch without one may share
      // memory with goes back to the host first (and buffers that were
      // views of it get their own copies).
      SmallVector<Operation *> views;
      SmallVector<Value> fresh;
      while (true) {
        fresh.clear();
        for (Value host : buffers)
          if (!findCopy(host, views))
            fresh.push_back(host);
        size_t before = live.size();
        dropIf(launch, [&](DeviceCopy &c) {
          return llvm::any_of(
              fresh, [&](Value v) { return aliases.mayAlias(v, c.host); });
        }, /*copyBack=*/true);
        if (live.size() == before)
          break;
      }
      // The others use the live copy, through the same views made of it on
      // the device (the kernel sees the types it was written for).
      OpBuilder b(launch);
      for (Value host : buffers) {
        DeviceCopy *copy = findCopy(host, views);
        if (!copy)
          continue;
        IRMapping map;
        map.map(copy->host, copy->dev);
        for (Operation *view : llvm::reverse(views))
          b.clone(*view, map);
        if (ssmc::gpu_transforms::launchAccess(launch, host).writes)
          copy->dirty = true;
        replaceAllUsesInRegionWith(host, map.lookup(host), launch.getBody());
      }
      stageFresh(launch, fresh);
    }

    /// A cast of a contiguous buffer to a strided type (the kernels take
    /// their operands as strided views, to read slices in place) moves
    /// into the kernel: the buffer itself is staged, as a contiguous one.
    static void sinkLayoutCasts(gpu::LaunchOp launch) {
      llvm::SetVector<Value> captured;
      getUsedValuesDefinedAbove(launch.getBody(), captured);
      OpBuilder b = OpBuilder::atBlockBegin(&launch.getBody().front());
      for (Value v : captured) {
        auto cast = v.getDefiningOp<memref::CastOp>();
        if (!cast)
          continue;
        auto source = dyn_cast<MemRefType>(cast.getSource().getType());
        if (!source || !source.getLayout().isIdentity())
          continue;
        Value inside = b.clone(*cast)->getResult(0);
        replaceAllUsesInRegionWith(v, inside, launch.getBody());
      }
    }

    /// Device copies for the buffers without one: every buffer's residency
    /// query first (host calls, before the launch's gpu ops, so they do not
    /// split its stream of copies), then gpu.alloc, a copy in when the
    /// kernel reads it and, for a buffer that cannot be kept on the device
    /// (a strided view, or sharing memory with another buffer of the
    /// launch), a copy back after the launch. A strided view whose type a
    /// contiguous buffer casts to (dynamic offset, strides dynamic or
    /// contiguous: a layer's slice of a stacked weight) is asked about
    /// itself: resident (the span it covers lies in one resident
    /// allocation), the kernel uses it in place; only otherwise does it go
    /// through a contiguous host copy (scf.if), staged as any buffer.
    void stageFresh(gpu::LaunchOp launch, ArrayRef<Value> hosts) {
      Location loc = launch.getLoc();
      OpBuilder b(launch);
      DataLayout layout = DataLayout::closest(launch);
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      SmallVector<Staged> buffers;
      for (Value host : hosts) {
        auto mt = cast<MemRefType>(host.getType());
        ssmc::gpu_transforms::BufferAccess access =
            ssmc::gpu_transforms::launchAccess(launch, host);
        Staged s{host, access.reads, access.writes, {}, host, {}, {}, false, {}};
        std::tie(s.elements, s.dynamicSizes) = hostShape(b, loc, host);
        // A strided view (a slice of a KV cache, say) goes through a
        // contiguous host copy: gpu.memcpy moves contiguous buffers.
        auto devTy = MemRefType::get(mt.getShape(), mt.getElementType());
        if (inPlaceView(mt)) {
          s.resident =
              ssm_gpu::IsResidentOp::create(b, loc, b.getI1Type(), host);
          stageViewCopy(b, loc, layout, s);
        } else {
          if (!mt.getLayout().isIdentity()) {
            s.contiguous =
                memref::AllocOp::create(b, loc, devTy, s.dynamicSizes);
            aliases.addPrivate(s.contiguous);
            if (s.reads)
              memref::CopyOp::create(b, loc, host, s.contiguous);
          }
          s.resident = ssm_gpu::IsResidentOp::create(b, loc, b.getI1Type(),
                                                     s.contiguous);
        }
        s.chained = s.contiguous == host &&
                    llvm::none_of(hosts, [&](Value other) {
                      return other != host && aliases.mayAlias(other, host);
                    });
        buffers.push_back(std::move(s));
      }
      for (Staged &s : buffers) {
        auto mt = cast<MemRefType>(s.host.getType());
        auto devTy = MemRefType::get(mt.getShape(), mt.getElementType());
        int64_t elementBytes =
            layout.getTypeSize(mt.getElementType()).getFixedValue();
        b.setInsertionPoint(launch);
        Value count =
            arith::SelectOp::create(b, loc, s.resident, zero, s.elements);
        Value allocBytes = arith::MulIOp::create(
            b, loc, count,
            arith::ConstantIndexOp::create(b, loc, elementBytes));
        Value raw = gpu::AllocOp::create(
                        b, loc,
                        MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
                        Type(), ValueRange{}, ValueRange{allocBytes},
                        ValueRange{})
                        .getMemref();
        Value fresh =
            memref::ViewOp::create(b, loc, devTy, raw, zero, s.dynamicSizes);
        // A view used in place when resident: the kernel indexes the
        // device copy through the view's type (cast: same offsets).
        Value dev =
            s.contiguousRaw
                ? arith::SelectOp::create(
                      b, loc, s.resident, s.host,
                      memref::CastOp::create(b, loc, mt, fresh))
                : arith::SelectOp::create(b, loc, s.resident, s.contiguous,
                                          fresh);
        if (s.reads)
          gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{},
                                flat(b, loc, fresh, count),
                                flat(b, loc, s.contiguous, count));
        replaceAllUsesInRegionWith(s.host, dev, launch.getBody());
        DeviceCopy copy{s.contiguous, raw, fresh, dev, count, s.writes};
        if (s.chained) {
          live.push_back(copy);
          continue;
        }
        b.setInsertionPointAfter(launch);
        if (s.writes)
          copyToHost(b, loc, copy);
        gpu::DeallocOp::create(b, loc, TypeRange{}, ValueRange{}, raw);
        if (s.contiguousRaw) {
          if (s.writes)
            ifNotResident(b, loc, s.resident, [&](OpBuilder &inner) {
              memref::CopyOp::create(inner, loc, s.contiguous, s.host);
            });
          memref::DeallocOp::create(b, loc, s.contiguousRaw);
        } else if (s.contiguous != s.host) {
          if (s.writes)
            memref::CopyOp::create(b, loc, s.contiguous, s.host);
          memref::DeallocOp::create(b, loc, s.contiguous);
        }
      }
    }

    /// Whether a strided view of type `mt` can be handed to the kernel in
    /// place: a contiguous buffer of its shape has its layout for every
    /// size (offset 0 or dynamic; each stride dynamic or the contiguous
    /// one, which must be static), so the kernel indexes either through
    /// the same type. (A static stride next to a dynamic size, a KV cache's
    /// filled prefix, would not hold for the contiguous copy.)
    static bool inPlaceView(MemRefType mt) {
      if (mt.getLayout().isIdentity())
        return false;
      SmallVector<int64_t> strides;
      int64_t offset;
      if (failed(mt.getStridesAndOffset(strides, offset)))
        return false;
      if (offset != 0 && !ShapedType::isDynamic(offset))
        return false;
      int64_t contiguous = 1; // the contiguous stride of dim d; dynamic
                              // once a size after d is
      for (int64_t d = mt.getRank() - 1; d >= 0; --d) {
        if (!ShapedType::isDynamic(strides[d]) && strides[d] != contiguous)
          return false;
        contiguous = ShapedType::isDynamic(contiguous) || mt.isDynamicDim(d)
                         ? ShapedType::kDynamic
                         : contiguous * mt.getDimSize(d);
      }
      return true;
    }

    /// The contiguous host copy of a view used in place when resident:
    /// bytes for its elements only when not resident (none otherwise), the
    /// copy from the view only then.
    void stageViewCopy(OpBuilder &b, Location loc, DataLayout &layout,
                       Staged &s) {
      auto mt = cast<MemRefType>(s.host.getType());
      int64_t elementBytes =
          layout.getTypeSize(mt.getElementType()).getFixedValue();
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value count =
          arith::SelectOp::create(b, loc, s.resident, zero, s.elements);
      Value bytes = arith::MulIOp::create(
          b, loc, count, arith::ConstantIndexOp::create(b, loc, elementBytes));
      s.contiguousRaw = memref::AllocOp::create(
          b, loc, MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
          ValueRange{bytes}, b.getI64IntegerAttr(kHostCopyAlign));
      aliases.addPrivate(s.contiguousRaw);
      s.contiguous = memref::ViewOp::create(
          b, loc, MemRefType::get(mt.getShape(), mt.getElementType()),
          s.contiguousRaw, zero, s.dynamicSizes);
      if (s.reads)
        ifNotResident(b, loc, s.resident, [&](OpBuilder &inner) {
          memref::CopyOp::create(inner, loc, s.host, s.contiguous);
        });
    }

    static constexpr int64_t kHostCopyAlign = 64;

    static void ifNotResident(OpBuilder &b, Location loc, Value resident,
                              function_ref<void(OpBuilder &)> body) {
      Value notResident = arith::XOrIOp::create(
          b, loc, resident, arith::ConstantIntOp::create(b, loc, 1, 1));
      scf::IfOp::create(b, loc, notResident, [&](OpBuilder &inner, Location) {
        body(inner);
        scf::YieldOp::create(inner, loc);
      });
    }

    /// gpu-async-region ends a run of GPU ops with a host wait before any
    /// host op with memory effects, host allocations and frees included.
    /// Frees move down after the GPU ops that follow them (past effect-free
    /// ops and other allocations and frees: to the next host op that does
    /// work, where the run ends anyway), allocations up before the GPU ops
    /// that precede them (to where the run starts, not above the ops that
    /// compute their sizes): the launches, copies and device frees between
    /// stay one run on one stream.
    static bool isGPUOp(Operation *op) {
      return isa<gpu::AllocOp, gpu::DeallocOp, gpu::MemcpyOp, gpu::MemsetOp,
                 gpu::LaunchOp>(op);
    }
    static bool passable(Operation *op) {
      return isGPUOp(op) ||
             (op->getNumRegions() == 0 && isMemoryEffectFree(op) &&
              !op->hasTrait<OpTrait::IsTerminator>());
    }
    /// Host memory a GPU op of a run may access while it is pending: a
    /// copy's host side, and a launch's buffers that are device-resident
    /// memory used in place (the host operand of staging's select).
    static void
    pendingHostAccesses(Operation *op,
                        SmallVectorImpl<std::pair<Value, bool>> &out) {
      auto isDevice = [](Value v) {
        return HostAliases::root(v).getDefiningOp<gpu::AllocOp>() != nullptr;
      };
      if (auto copy = dyn_cast<gpu::MemcpyOp>(op)) {
        if (!isDevice(copy.getDst()))
          out.push_back({copy.getDst(), /*write=*/true});
        if (!isDevice(copy.getSrc()))
          out.push_back({copy.getSrc(), /*write=*/false});
        return;
      }
      auto launch = dyn_cast<gpu::LaunchOp>(op);
      if (!launch)
        return; // gpu.alloc, gpu.dealloc, gpu.memset: device memory only
      llvm::SetVector<Value> captured;
      getUsedValuesDefinedAbove(launch.getBody(), captured);
      for (Value v : captured) {
        if (!isa<BaseMemRefType>(v.getType()))
          continue;
        ssmc::gpu_transforms::BufferAccess access =
            ssmc::gpu_transforms::launchAccess(launch, v);
        Value root = HostAliases::root(v);
        if (auto select = root.getDefiningOp<arith::SelectOp>())
          root = select.getTrueValue();
        if (!isDevice(root) && (access.reads || access.writes))
          out.push_back({root, access.writes});
      }
    }

    /// Collects in `moves` the ops (allocations and effect-free ops, with
    /// what they use) that `v` needs moved above `point` to dominate it.
    static bool availableAt(Value v, Operation *point,
                            SmallVectorImpl<Operation *> &moves) {
      Operation *def = v.getDefiningOp();
      if (!def || def->getBlock() != point->getBlock() ||
          def->isBeforeInBlock(point) || llvm::is_contained(moves, def))
        return def != point;
      if (!isa<memref::AllocOp>(def) &&
          (def->getNumRegions() != 0 || !isMemoryEffectFree(def)))
        return false;
      for (Value operand : def->getOperands())
        if (!availableAt(operand, point, moves))
          return false;
      moves.push_back(def);
      return true;
    }

    /// Host ops that do work (loops, copies) after GPU ops of a run, and
    /// touch no host memory those GPU ops may access while pending, move
    /// above the run: gpu-async-region then starts the run after them
    /// instead of ending it before them with a host wait. They run before
    /// the run's GPU ops are issued rather than while the host waits.
    void hoistHostWork(Block &block) {
      SmallVector<Operation *> ops;
      for (Operation &op : block)
        ops.push_back(&op);
      SmallVector<Operation *> run;
      for (Operation *op : ops) {
        if (isGPUOp(op)) {
          run.push_back(op);
          continue;
        }
        if (passable(op) || isa<memref::AllocOp, memref::DeallocOp>(op))
          continue;
        if (op->hasTrait<OpTrait::IsTerminator>())
          break;
        if (run.empty() || !hoist(op, run))
          run.clear();
      }
    }

    bool hoist(Operation *op, ArrayRef<Operation *> run) {
      std::optional<SmallVector<MemoryEffects::EffectInstance>> effects =
          getEffectsRecursively(op);
      if (!effects)
        return false;
      SmallVector<std::pair<Value, bool>> touched;
      for (const MemoryEffects::EffectInstance &e : *effects) {
        if (!e.getValue())
          return false;
        if (isa<MemoryEffects::Allocate>(e.getEffect()))
          continue;
        if (!isa<BaseMemRefType>(e.getValue().getType()))
          return false; // a pointer, say: any memory
        touched.push_back(
            {e.getValue(), !isa<MemoryEffects::Read>(e.getEffect())});
      }
      SmallVector<std::pair<Value, bool>> pending;
      for (Operation *gpuOp : run)
        pendingHostAccesses(gpuOp, pending);
      for (auto [v, write] : touched)
        for (auto [w, gpuWrites] : pending)
          if ((write || gpuWrites) && aliases.mayAlias(v, w))
            return false;
      Operation *point = run.front();
      SmallVector<Operation *> moves;
      llvm::SetVector<Value> used;
      getUsedValuesDefinedAbove(op->getRegions(), used);
      used.insert(op->operand_begin(), op->operand_end());
      for (Value v : used)
        if (!availableAt(v, point, moves))
          return false;
      for (Operation *m : moves)
        m->moveBefore(point);
      op->moveBefore(point);
      return true;
    }

    static void scheduleHostMemoryOps(Block &block) {
      SmallVector<memref::DeallocOp> frees;
      SmallVector<memref::AllocOp> allocs;
      bool anyGPU = false;
      for (Operation &op : block) {
        anyGPU |= isGPUOp(&op);
        if (auto f = dyn_cast<memref::DeallocOp>(op))
          frees.push_back(f);
        if (auto a = dyn_cast<memref::AllocOp>(op))
          allocs.push_back(a);
      }
      if (!anyGPU)
        return;
      for (memref::DeallocOp f : llvm::reverse(frees)) {
        Operation *last = nullptr;
        for (Operation *next = f->getNextNode();
             next &&
             (passable(next) || isa<memref::DeallocOp, memref::AllocOp>(next));
             next = next->getNextNode())
          if (isGPUOp(next))
            last = next;
        if (last)
          f->moveAfter(last);
      }
      for (memref::AllocOp a : allocs) {
        Operation *first = nullptr;
        for (Operation *prev = a->getPrevNode();
             prev && (passable(prev) || isa<memref::AllocOp>(prev)) &&
             llvm::none_of(a->getOperands(), [&](Value v) {
               return v.getDefiningOp() == prev;
             });
             prev = prev->getPrevNode())
          if (isGPUOp(prev))
            first = prev;
        if (first)
          a->moveBefore(first);
      }
    }

    /// The number of elements of the host buffer or view `host` and its
    /// dynamic sizes.
    static std::pair<Value, SmallVector<Value>>
    hostShape(OpBuilder &b, Location loc, Value host) {
      auto mt = cast<MemRefType>(host.getType());
      Value elements = arith::ConstantIndexOp::create(b, loc, 1);
      SmallVector<Value> dynamicSizes;
      for (int64_t i = 0; i < mt.getRank(); ++i) {
        Value size = mt.isDynamicDim(i)
                         ? Value(memref::DimOp::create(b, loc, host, i))
                         : Value(arith::ConstantIndexOp::create(
                               b, loc, mt.getDimSize(i)));
        if (mt.isDynamicDim(i))
          dynamicSizes.push_back(size);
        elements = arith::MulIOp::create(b, loc, elements, size);
      }
      return {elements, dynamicSizes};
    }

    /// The device copy of the (never resident) host buffer `host` whose
    /// device memory is `raw`: a view of `raw` shaped as `host`.
    static DeviceCopy deviceView(OpBuilder &b, Location loc, Value host,
                                 Value raw, bool dirty) {
      auto [elements, dynamicSizes] = hostShape(b, loc, host);
      auto mt = cast<MemRefType>(host.getType());
      Value zero = arith::ConstantIndexOp::create(b, loc, 0);
      Value view = memref::ViewOp::create(
          b, loc, MemRefType::get(mt.getShape(), mt.getElementType()), raw,
          zero, dynamicSizes);
      return DeviceCopy{host, raw, view, view, elements, dirty};
    }

    /// A device copy of the host buffer `host` (contiguous, allocated by
    /// the host): gpu.alloc and, with `fill`, a host-to-device copy.
    /// Returns its bytes.
    static Value copyIn(OpBuilder &b, Location loc, Value host,
                        bool fill = true) {
      auto mt = cast<MemRefType>(host.getType());
      Value elements = hostShape(b, loc, host).first;
      int64_t elementBytes =
          DataLayout::closest(b.getInsertionBlock()->getParentOp())
              .getTypeSize(mt.getElementType())
              .getFixedValue();
      Value bytes = arith::MulIOp::create(
          b, loc, elements,
          arith::ConstantIndexOp::create(b, loc, elementBytes));
      Value raw = gpu::AllocOp::create(
                      b, loc,
                      MemRefType::get({ShapedType::kDynamic}, b.getI8Type()),
                      Type(), ValueRange{}, ValueRange{bytes}, ValueRange{})
                      .getMemref();
      if (!fill)
        return raw;
      DeviceCopy c = deviceView(b, loc, host, raw, /*dirty=*/false);
      gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{},
                            flat(b, loc, c.fresh, c.count),
                            flat(b, loc, host, c.count));
      return raw;
    }

    /// The device memory of `host` for a consumer that takes it over (a
    /// loop carrying it, the next iteration): its live copy, which the
    /// block forgets (brought up to date on the host too with `syncHost`:
    /// the host may read the buffer after the consumer), else a copy of
    /// the host's. Copies of views of `host` go back to the host first.
    Value takeDeviceCopy(Operation *at, Value host, bool syncHost) {
      dropIf(at, [&](DeviceCopy &c) {
        return HostAliases::root(c.host) == HostAliases::root(host) &&
               c.host != host;
      }, /*copyBack=*/true);
      OpBuilder b(at);
      auto it =
          llvm::find_if(live, [&](DeviceCopy &c) { return c.host == host; });
      if (it == live.end())
        return copyIn(b, at->getLoc(), host);
      if (syncHost && it->dirty)
        copyToHost(b, at->getLoc(), *it);
      Value raw = it->raw;
      live.erase(it);
      return raw;
    }

    /// Whether the host may read `v` after `point` (where the loop
    /// carrying it takes its device copy): any use but frees, pointer
    /// extraction and views, not before `point` in its block.
    static bool hostMayReadAfter(Value v, Operation *point) {
      bool mayRead = false;
      HostAliases::forEachUse(v, [&](Operation *user) {
        if (user == point ||
            isa<memref::DeallocOp, memref::ExtractAlignedPointerAsIndexOp,
                ViewLikeOpInterface>(user))
          return;
        Operation *at = point->getBlock()->findAncestorOpInBlock(*user);
        mayRead |= !at || !at->isBeforeInBlock(point);
      });
      return mayRead;
    }

    /// A loop whose iter args only its kernels use (CarriedBuffers.h)
    /// carries their device copies as iter args of its own: the init's
    /// device copy enters the loop (the live one, or a copy in), each
    /// iteration's body starts with its block argument's device copy
    /// live and yields the device copy of the buffer it yields (no copy
    /// back, no copy in), and the loop's result leaves it live, not yet
    /// copied back, in this block. False (nothing changed) when no iter
    /// arg qualifies.
    bool stageCarriedLoop(scf::ForOp loop) {
      SmallVector<unsigned> carried =
          ssmc::gpu_transforms::kernelCarriedIterArgs(loop, aliases);
      if (carried.empty())
        return false;
      Location loc = loop.getLoc();
      SmallVector<Value> inits;
      for (unsigned i : carried) {
        Value init = loop.getInitArgs()[i];
        inits.push_back(
            takeDeviceCopy(loop, init, hostMayReadAfter(init, loop)));
      }
      unsigned first = loop.getNumRegionIterArgs();
      IRRewriter rewriter(loop.getContext());
      rewriter.setInsertionPoint(loop);
      FailureOr<LoopLikeOpInterface> replaced =
          loop.replaceWithAdditionalYields(
              rewriter, inits, /*replaceInitOperandUsesInLoop=*/false,
              [](OpBuilder &, Location, ArrayRef<BlockArgument> args) {
                return SmallVector<Value>(args.begin(), args.end());
              });
      // (scf.for's replaceWithAdditionalYields does not fail.)
      auto staged = cast<scf::ForOp>(replaced->getOperation());
      Block &body = *staged.getBody();
      BlockStager inner(aliases);
      OpBuilder b = OpBuilder::atBlockBegin(&body);
      for (auto [k, i] : llvm::enumerate(carried)) {
        BlockArgument arg = staged.getRegionIterArgs()[i];
        // No other value the body names shares their memory.
        aliases.addPrivate(arg);
        aliases.addPrivate(body.getTerminator()->getOperand(i));
        inner.live.push_back(deviceView(
            b, loc, arg, staged.getRegionIterArgs()[first + k],
            /*dirty=*/false));
        inner.handOvers.push_back({i, first + k});
      }
      inner.run(body);
      visitHostOp(staged);
      b.setInsertionPointAfter(staged);
      // The host's copy of the result is stale (or, without iterations,
      // the init's: the same data).
      for (auto [k, i] : llvm::enumerate(carried)) {
        aliases.addAllocated(staged.getResult(i));
        live.push_back(deviceView(b, loc, staged.getResult(i),
                                  staged.getResult(first + k),
                                  /*dirty=*/true));
      }
      return true;
    }

    /// A host copy of a kernel's result (a host allocation with a live
    /// device copy) into a fresh host allocation, such as bufferization's
    /// copy of a loop's init, is made on the device: the target gets a
    /// device copy (gpu.alloc, a device-to-device gpu.memcpy), live and
    /// not yet on the host, and the host copy goes. False (nothing
    /// changed) for any other copy.
    bool copyOnDevice(memref::CopyOp copy) {
      Value source = copy.getSource(), target = copy.getTarget();
      auto isHostAllocation = [](Value v) {
        auto mt = dyn_cast<MemRefType>(v.getType());
        return mt && mt.getLayout().isIdentity() && !mt.getMemorySpace() &&
               v.getDefiningOp<memref::AllocOp>();
      };
      if (!isHostAllocation(source) || !isHostAllocation(target) ||
          source == target || source.getType() != target.getType())
        return false;
      auto hasCopy = [&](Value host) {
        return llvm::any_of(live,
                            [&](DeviceCopy &c) { return c.host == host; });
      };
      if (!hasCopy(source))
        return false;
      // Copies that may share the target's memory: the host's is current.
      dropIf(copy, [&](DeviceCopy &c) {
        return aliases.mayAlias(c.host, target);
      }, /*copyBack=*/true);
      if (!hasCopy(source))
        return false;
      DeviceCopy sourceCopy = *llvm::find_if(
          live, [&](DeviceCopy &c) { return c.host == source; });
      OpBuilder b(copy);
      Location loc = copy.getLoc();
      Value raw = copyIn(b, loc, target, /*fill=*/false);
      DeviceCopy targetCopy = deviceView(b, loc, target, raw, /*dirty=*/true);
      gpu::MemcpyOp::create(b, loc, TypeRange{}, ValueRange{},
                            flat(b, loc, targetCopy.fresh, targetCopy.count),
                            flat(b, loc, sourceCopy.fresh, targetCopy.count));
      live.push_back(targetCopy);
      copy.erase();
      return true;
    }

    /// gpu.dealloc ops move up past the host ops before them that use
    /// nothing derived from the freed buffer, to the GPU op before them: a
    /// block's device copies freed at its end (a loop body's, each
    /// iteration) would otherwise start a run of GPU ops after its last
    /// host op, which gpu-async-region ends with a host wait.
    static void hoistDeviceFrees(Block &block) {
      SmallVector<gpu::DeallocOp> frees;
      for (Operation &op : block)
        if (auto f = dyn_cast<gpu::DeallocOp>(op))
          frees.push_back(f);
      for (gpu::DeallocOp f : frees) {
        // The ops of the block that use the buffer or a value made of it.
        llvm::SmallPtrSet<Operation *, 16> users;
        SmallVector<Value> worklist{f.getMemref()};
        llvm::DenseSet<Value> seen;
        while (!worklist.empty()) {
          Value v = worklist.pop_back_val();
          if (!seen.insert(v).second)
            continue;
          for (Operation *user : v.getUsers()) {
            if (user == f)
              continue;
            if (Operation *at = block.findAncestorOpInBlock(*user))
              users.insert(at);
            llvm::append_range(worklist, user->getResults());
          }
        }
        Operation *point = f;
        for (Operation *prev = f->getPrevNode();
             prev && !isGPUOp(prev) && !users.contains(prev);
             prev = prev->getPrevNode())
          point = prev;
        if (point != f)
          f->moveBefore(point);
      }
    }

    /// At a carrying loop body's yield: the device copies of the yielded
    /// carried buffers become the yield's device operands instead of going
    /// back to the host (a yielded buffer without a live copy, which the
    /// rule of CarriedBuffers.h leaves to kernels that did not write it,
    /// gets a copy of the host's).
    void handOverCarried(Operation *yield) {
      for (auto [hostIndex, deviceIndex] : handOvers) {
        Value host = yield->getOperand(hostIndex);
        yield->setOperand(deviceIndex,
                          takeDeviceCopy(yield, host, /*syncHost=*/false));
      }
    }

    HostAliases &aliases;
    SmallVector<DeviceCopy> live;
    /// In a loop body: the yield's operands whose device copies the yield
    /// hands on (the host buffer's position, its device copy's).
    SmallVector<std::pair<unsigned, unsigned>> handOvers;
  };
};
} // namespace
