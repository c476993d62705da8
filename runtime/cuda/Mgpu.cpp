//===- Mgpu.cpp - mgpu* over the CUDA driver API via dlopen ---------------===//
//
// The functions MLIR's gpu-to-llvm lowering calls, implemented over the
// driver API resolved with dlopen/dlsym (no CUDA runtime library, no link
// dependency on libcuda, no LLVM or MLIR: ahead-of-time objects link this
// alone). A missing driver or a driver error is reported, never a crash:
//  - a failed call of a run (allocation, copy, launch, ...) is recorded for
//    ssmcCudaTakeError() and turns the remaining copies, memsets and
//    launches of that run into no-ops (no kernel runs on a pointer that
//    failed to allocate); frees, unloads and stream/event calls still run,
//    so nothing leaks. The caller takes the error after each run.
//  - a failed module load (in a global constructor, outside any run) is
//    recorded for ssmcCudaTakeLoadError() with the driver's JIT log, stops
//    nothing else, and makes every launch of the module's kernels an error
//    of the run that launches them, naming the kernel and the load error.
// Device memory comes from a stream-ordered cache (DeviceCache), and the
// host<->device copies of a run go through pinned staging blocks, the
// copies back deferred to the run's synchronisation (Staging).
//
//===----------------------------------------------------------------------===//

#include "MgpuRuntime.h"

#include <string>

#include <dlfcn.h>

#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace {

using CUresult = int;
using CUdevice = int;
using CUcontext = void *;
using CUmodule = void *;
using CUfunction = void *;
using CUstream = void *;
using CUevent = void *;
using CUdeviceptr = uint64_t;

constexpr int CU_JIT_OPTIMIZATION_LEVEL = 7;
constexpr unsigned CU_MEM_ATTACH_GLOBAL = 1;

struct Driver {
  void *lib = nullptr;
  std::string loadError; ///< why the driver is unusable ("" when usable)
  int state = SSMC_CUDA_USABLE; ///< ssmcCudaDriverState()
  CUcontext context = nullptr;
  CUdevice device = 0;
  /// The fake driver's (test/fakecuda) host-twin registration; null for a
  /// real driver.
  int (*registerHostTwin)(uint64_t, const char *, void (*)(void **)) = nullptr;

#define SSMC_CU_FN(name, ...) CUresult (*name)(__VA_ARGS__) = nullptr;
  SSMC_CU_FN(cuInit, unsigned)
  SSMC_CU_FN(cuDeviceGetCount, int *)
  SSMC_CU_FN(cuDeviceGet, CUdevice *, int)
  SSMC_CU_FN(cuDeviceGetName, char *, int, CUdevice)
  SSMC_CU_FN(cuDeviceGetAttribute, int *, int, CUdevice)
  SSMC_CU_FN(cuFuncSetAttribute, CUfunction, int, int)
  SSMC_CU_FN(cuDevicePrimaryCtxRetain, CUcontext *, CUdevice)
  SSMC_CU_FN(cuCtxSetCurrent, CUcontext)
  SSMC_CU_FN(cuGetErrorString, CUresult, const char **)
  SSMC_CU_FN(cuModuleLoadData, CUmodule *, const void *)
  SSMC_CU_FN(cuModuleLoadDataEx, CUmodule *, const void *, unsigned, int *, void **)
  SSMC_CU_FN(cuModuleUnload, CUmodule)
  SSMC_CU_FN(cuModuleGetFunction, CUfunction *, CUmodule, const char *)
  SSMC_CU_FN(cuLaunchKernel, CUfunction, unsigned, unsigned, unsigned, unsigned,
             unsigned, unsigned, unsigned, CUstream, void **, void **)
  SSMC_CU_FN(cuStreamCreate, CUstream *, unsigned)
  SSMC_CU_FN(cuStreamDestroy, CUstream)
  SSMC_CU_FN(cuStreamSynchronize, CUstream)
  SSMC_CU_FN(cuStreamWaitEvent, CUstream, CUevent, unsigned)
  SSMC_CU_FN(cuEventCreate, CUevent *, unsigned)
  SSMC_CU_FN(cuEventDestroy, CUevent)
  SSMC_CU_FN(cuEventRecord, CUevent, CUstream)
  SSMC_CU_FN(cuEventSynchronize, CUevent)
  SSMC_CU_FN(cuEventElapsedTime, float *, CUevent, CUevent)
  SSMC_CU_FN(cuMemAlloc, CUdeviceptr *, size_t)
  SSMC_CU_FN(cuMemAllocManaged, CUdeviceptr *, size_t, unsigned)
  SSMC_CU_FN(cuMemFree, CUdeviceptr)
  SSMC_CU_FN(cuMemcpyAsync, CUdeviceptr, CUdeviceptr, size_t, CUstream)
  SSMC_CU_FN(cuMemsetD32Async, CUdeviceptr, unsigned, size_t, CUstream)
  SSMC_CU_FN(cuMemsetD16Async, CUdeviceptr, unsigned short, size_t, CUstream)
  SSMC_CU_FN(cuMemAllocHost, void **, size_t)
  SSMC_CU_FN(cuMemFreeHost, void *)
  SSMC_CU_FN(cuMemcpyHtoDAsync, CUdeviceptr, const void *, size_t, CUstream)
  SSMC_CU_FN(cuMemcpyDtoHAsync, void *, CUdeviceptr, size_t, CUstream)
#undef SSMC_CU_FN
};

template <typename F> bool resolve(void *lib, F &fn, const char *name,
                                   std::string &missing) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn)
    missing += (missing.empty() ? "" : ", ") + std::string(name);
  return fn != nullptr;
}

Driver &driver() {
  static Driver *d = [] {
    auto *d = new Driver;
    d->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!d->lib) {
      d->state = SSMC_CUDA_NO_DRIVER;
      const char *e = dlerror();
      d->loadError = std::string("the NVIDIA driver library libcuda.so.1 "
                                 "cannot be loaded: ") +
                     (e ? e : "unknown reason");
      return d;
    }
    d->registerHostTwin =
        reinterpret_cast<decltype(d->registerHostTwin)>(
            dlsym(d->lib, "ssmcFakeCudaRegisterKernel"));
    std::string missing;
    resolve(d->lib, d->cuInit, "cuInit", missing);
    resolve(d->lib, d->cuDeviceGetCount, "cuDeviceGetCount", missing);
    resolve(d->lib, d->cuDeviceGet, "cuDeviceGet", missing);
    resolve(d->lib, d->cuDeviceGetName, "cuDeviceGetName", missing);
    resolve(d->lib, d->cuDeviceGetAttribute, "cuDeviceGetAttribute", missing);
    resolve(d->lib, d->cuFuncSetAttribute, "cuFuncSetAttribute", missing);
    resolve(d->lib, d->cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain", missing);
    resolve(d->lib, d->cuCtxSetCurrent, "cuCtxSetCurrent", missing);
    resolve(d->lib, d->cuGetErrorString, "cuGetErrorString", missing);
    resolve(d->lib, d->cuModuleLoadData, "cuModuleLoadData", missing);
    resolve(d->lib, d->cuModuleLoadDataEx, "cuModuleLoadDataEx", missing);
    resolve(d->lib, d->cuModuleUnload, "cuModuleUnload", missing);
    resolve(d->lib, d->cuModuleGetFunction, "cuModuleGetFunction", missing);
    resolve(d->lib, d->cuLaunchKernel, "cuLaunchKernel", missing);
    resolve(d->lib, d->cuStreamCreate, "cuStreamCreate", missing);
    resolve(d->lib, d->cuStreamDestroy, "cuStreamDestroy_v2", missing);
    resolve(d->lib, d->cuStreamSynchronize, "cuStreamSynchronize", missing);
    resolve(d->lib, d->cuStreamWaitEvent, "cuStreamWaitEvent", missing);
    resolve(d->lib, d->cuEventCreate, "cuEventCreate", missing);
    resolve(d->lib, d->cuEventDestroy, "cuEventDestroy_v2", missing);
    resolve(d->lib, d->cuEventRecord, "cuEventRecord", missing);
    resolve(d->lib, d->cuEventSynchronize, "cuEventSynchronize", missing);
    resolve(d->lib, d->cuEventElapsedTime, "cuEventElapsedTime", missing);
    resolve(d->lib, d->cuMemAlloc, "cuMemAlloc_v2", missing);
    resolve(d->lib, d->cuMemAllocManaged, "cuMemAllocManaged", missing);
    resolve(d->lib, d->cuMemFree, "cuMemFree_v2", missing);
    resolve(d->lib, d->cuMemcpyAsync, "cuMemcpyAsync", missing);
    resolve(d->lib, d->cuMemsetD32Async, "cuMemsetD32Async", missing);
    resolve(d->lib, d->cuMemsetD16Async, "cuMemsetD16Async", missing);
    resolve(d->lib, d->cuMemAllocHost, "cuMemAllocHost_v2", missing);
    resolve(d->lib, d->cuMemFreeHost, "cuMemFreeHost", missing);
    resolve(d->lib, d->cuMemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2", missing);
    resolve(d->lib, d->cuMemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2", missing);
    if (!missing.empty()) {
      d->state = SSMC_CUDA_BROKEN_DRIVER;
      d->loadError = "libcuda.so.1 lacks driver API functions: " + missing;
      return d;
    }
    auto fail = [&](const char *what, CUresult r) {
      // CUDA_ERROR_NO_DEVICE: a driver installed on a machine without GPU.
      d->state = r == 100 ? SSMC_CUDA_NO_DEVICE : SSMC_CUDA_BROKEN_DRIVER;
      const char *text = nullptr;
      d->cuGetErrorString(r, &text);
      d->loadError = std::string(what) + " failed with CUDA error " +
                     std::to_string(r) + (text ? std::string(" (") + text + ")" : "");
    };
    if (CUresult r = d->cuInit(0))
      return fail("cuInit", r), d;
    int count = 0;
    if (CUresult r = d->cuDeviceGetCount(&count))
      return fail("cuDeviceGetCount", r), d;
    if (count == 0) {
      d->state = SSMC_CUDA_NO_DEVICE;
      d->loadError = "the NVIDIA driver reports no CUDA device";
      return d;
    }
    if (CUresult r = d->cuDeviceGet(&d->device, 0))
      return fail("cuDeviceGet", r), d;
    if (CUresult r = d->cuDevicePrimaryCtxRetain(&d->context, d->device))
      return fail("cuDevicePrimaryCtxRetain", r), d;
    return d;
  }();
  return *d;
}

/// The first error of a kind on one thread, and how many followed it.
/// Trivially constructible and destructible: modules unload from global
/// destructors, which run after the thread-local objects with destructors
/// of the main thread are gone, so the error state must have none.
struct ErrorSlot {
  bool set;
  int more;
  char text[4096];

  void record(const std::string &message) {
    if (set) {
      ++more;
      return;
    }
    set = true;
    more = 0;
    std::snprintf(text, sizeof text, "%s", message.c_str());
  }

  int take(char *buffer, int size) {
    if (!set)
      return 0;
    if (more)
      std::snprintf(buffer, size, "%s (and %d later CUDA error%s)", text, more,
                    more == 1 ? "" : "s");
    else
      std::snprintf(buffer, size, "%s", text);
    set = false;
    more = 0;
    return 1;
  }
};

thread_local ErrorSlot runError;  ///< the current run's first failure
thread_local ErrorSlot loadError; ///< the first failed module load

std::string describe(CUresult r, const char *what) {
  const char *text = nullptr;
  driver().cuGetErrorString(r, &text);
  return std::string(what) + " failed with CUDA error " + std::to_string(r) +
         (text ? std::string(" (") + text + ")" : "");
}

/// Makes the primary context current; why not ("" when it is).
std::string enterContext() {
  Driver &d = driver();
  if (!d.loadError.empty())
    return d.loadError;
  if (CUresult r = d.cuCtxSetCurrent(d.context))
    return describe(r, "cuCtxSetCurrent");
  return "";
}

/// True when the driver is usable on this thread; records why not as an
/// error of the run.
bool ready() {
  std::string why = enterContext();
  if (why.empty())
    return true;
  runError.record(why);
  return false;
}

/// ready(), and no earlier call of this run failed: for the calls that
/// compute (copies, memsets, launches), which must not run on the results
/// of a failed one.
bool running() { return ready() && !runError.set; }

/// Records a failed driver call as an error of the run; true when `r` is
/// success.
bool check(CUresult r, const char *what) {
  if (r == 0)
    return true;
  runError.record(describe(r, what));
  return false;
}

/// A module as mgpuModuleLoad returns it: the driver's module, or why it
/// failed to load, and the functions looked up in it.
struct Kernel {
  CUfunction function = nullptr;
  std::string name;
  std::string error; ///< why it cannot be launched ("" when it can)
  /// Dynamic shared memory (bytes) the function is opted in to beyond the
  /// default 48 KB (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES).
  std::atomic<int32_t> sharedOptIn{0};
};

struct Module {
  CUmodule module = nullptr;
  std::string error; ///< why loading failed ("" when loaded)
  std::mutex mutex;
  std::map<std::string, std::unique_ptr<Kernel>> kernels;
};

/// The .entry names of a PTX image, for messages ("" for a binary image).
std::string entryNames(const void *data, size_t size) {
  const char *text = static_cast<const char *>(data);
  if (size < 4 || text[0] == 0x7f || !std::memchr(text, 0, size))
    return "";
  std::string names;
  for (const char *p = std::strstr(text, ".entry"); p;
       p = std::strstr(p + 6, ".entry")) {
    const char *q = p + 6;
    while (*q == ' ' || *q == '\t')
      ++q;
    const char *end = q;
    while (std::isalnum(static_cast<unsigned char>(*end)) || *end == '_' ||
           *end == '$')
      ++end;
    if (end > q)
      names += (names.empty() ? "" : ", ") + std::string(q, end);
  }
  return names;
}

constexpr int CU_JIT_INFO_LOG_BUFFER = 3;
constexpr int CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;

/// Loads `data` with cuModuleLoadDataEx, the driver's JIT logs captured;
/// never null: a failed load is a Module with its error, also recorded for
/// ssmcCudaTakeLoadError.
Module *loadModule(const void *data, size_t size, int optLevel) {
  auto *m = new Module;
  if (std::string why = enterContext(); !why.empty()) {
    // No driver: available() reports it; no load error of its own.
    m->error = why;
    return m;
  }
  static constexpr unsigned kLogSize = 8192;
  char errorLog[kLogSize] = {0}, infoLog[kLogSize] = {0};
  int options[5] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                    CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
                    CU_JIT_OPTIMIZATION_LEVEL};
  void *values[5] = {errorLog, reinterpret_cast<void *>(uintptr_t(kLogSize)),
                     infoLog, reinterpret_cast<void *>(uintptr_t(kLogSize)),
                     reinterpret_cast<void *>(intptr_t(optLevel))};
  unsigned count = optLevel >= 0 ? 5 : 4;
  CUresult r = driver().cuModuleLoadDataEx(&m->module, data, count, options,
                                           values);
  if (r == 0)
    return m;
  m->module = nullptr;
  std::string kernels = entryNames(data, size);
  m->error = "loading the GPU module" +
             (kernels.empty() ? std::string() : " (kernels: " + kernels + ")") +
             " failed: " + describe(r, "cuModuleLoadDataEx");
  errorLog[kLogSize - 1] = 0;
  if (errorLog[0])
    m->error += "; JIT error log: " + std::string(errorLog);
  else if (infoLog[kLogSize - 1] = 0, infoLog[0])
    m->error += "; JIT info log: " + std::string(infoLog);
  loadError.record(m->error);
  return m;
}

/// The size class of `n` bytes, for the device and pinned caches: multiples
/// of 512 bytes up to 64 KiB, then of a quarter of the next power of two
/// (at most 25% unused).
size_t sizeClass(size_t n) {
  size_t step = 512;
  if (n > 65536) {
    size_t p = 1;
    while (p < n)
      p <<= 1;
    step = p / 4;
  }
  return (n + step - 1) / step * step;
}

/// Device memory behind mgpuMemAlloc/mgpuMemFree: a stream-ordered cache.
/// cuMemFree synchronises the whole device, so a free instead records an
/// event on the freeing stream and keeps the block; an allocation of the
/// same size class takes a cached block and makes its stream wait for that
/// event (cuStreamWaitEvent: ordered on the device, no host wait), so the
/// block is never in use by the old owner's work when the new owner's work
/// runs. Blocks go back to the driver only when an allocation fails (then
/// the cache is emptied and the allocation retried) and at exit.
/// SSMC_CUDA_NO_CACHE=1 turns it off (compute-sanitizer's memcheck sees
/// use-after-free only then).
struct DeviceCache {
  struct Block {
    CUdeviceptr ptr;
    CUevent freed; ///< recorded on the freeing stream
  };
  std::mutex mutex;
  std::multimap<size_t, Block> idle;       ///< by size class
  std::map<CUdeviceptr, size_t> owned;     ///< every cached block's class
  /// Every driver allocation the runtime holds (cached, uncached, managed)
  /// and its size: mgpuMemcpy tells device from host pointers by it.
  std::map<CUdeviceptr, size_t> held;
  std::vector<CUevent> events;             ///< recycled
  bool enabled = !std::getenv("SSMC_CUDA_NO_CACHE");
  bool exitHook = false;

  /// True when `p` lies in device (or managed) memory of this runtime.
  bool holds(const void *p) {
    auto a = reinterpret_cast<CUdeviceptr>(p);
    std::lock_guard<std::mutex> lock(mutex);
    auto it = held.upper_bound(a);
    if (it == held.begin())
      return false;
    --it;
    return a < it->first + it->second;
  }

  /// Frees every idle block (cuMemFree waits for its pending work).
  void trim() {
    Driver &d = driver();
    std::lock_guard<std::mutex> lock(mutex);
    for (auto &[size, block] : idle) {
      d.cuEventDestroy(block.freed);
      d.cuMemFree(block.ptr);
      owned.erase(block.ptr);
      held.erase(block.ptr);
    }
    idle.clear();
    for (CUevent e : events)
      d.cuEventDestroy(e);
    events.clear();
  }
};

DeviceCache &deviceCache() {
  static DeviceCache *c = new DeviceCache; // used from global destructors
  return *c;
}

/// Pinned (page-locked) staging of the host<->device copies of a run. A
/// copy in is a host memcpy into a staging block and cuMemcpyHtoDAsync from
/// it; a copy out is cuMemcpyDtoHAsync into a staging block, deferred: the
/// block reaches the caller's buffer when the host synchronises with the
/// stream (mgpuStreamSynchronize, or mgpuEventSynchronize of an event
/// recorded after the copy). So a run enqueues its copies and launches
/// without waiting and waits once, where a pageable copy out would make the
/// host wait for the stream at each copy. Blocks belong to their stream
/// until it synchronises, then return to a cache of size classes (as device
/// memory does) for later runs.
///
/// A copy in of host bytes that a pending copy out of the same stream will
/// write reads that copy's staging block instead (stream order gives it the
/// device's data: a result of one kernel that the next one reads); any
/// other overlap with a pending copy out (another stream, a partial range,
/// a pageable copy) waits for that stream first.
///
/// When no block can be had (the driver refuses, or the blocks held would
/// pass SSMC_CUDA_PINNED_LIMIT bytes, 2 GiB by default; 0 turns staging
/// off) the copy is a pageable one, which the driver performs synchronously;
/// the first such fallback of a process is said on stderr.
///
/// The caller's own buffers are not registered (cuMemHostRegister): the
/// runtime does not know how long they live, so each call would have to
/// register and unregister them (both costly, and unregistering
/// synchronises); inputs that live across calls belong on the device
/// (ssmc::cuda::DeviceTensor), where they need no copy at all.
struct Staging;
Staging &staging();

struct Staging {
  struct Block {
    void *ptr;
    size_t size;
  };
  /// A copy out waiting for its stream's synchronisation.
  struct Deferred {
    CUstream stream;
    char *host;
    const char *pinned;
    size_t bytes;
    uint64_t seq;
  };
  std::mutex mutex;
  std::multimap<size_t, void *> idle;       ///< by size class
  std::map<CUstream, std::vector<Block>> busy; ///< until the stream syncs
  std::vector<Deferred> deferred;           ///< in issue order
  /// The last copy out issued on a stream before an event's record.
  std::map<CUevent, std::pair<CUstream, uint64_t>> recorded;
  uint64_t seq = 0;
  size_t heldBytes = 0;
  size_t limit = 2ull << 30;
  bool exitHook = false;

  Staging() {
    if (const char *v = std::getenv("SSMC_CUDA_PINNED_LIMIT"))
      limit = std::strtoull(v, nullptr, 10);
  }

  /// Says once per process that copies go through pageable memory.
  static void fallBack(const std::string &why) {
    static std::once_flag once;
    std::call_once(once, [&] {
      std::fprintf(stderr,
                   "ssmc: warning: no pinned staging memory (%s); "
                   "host<->device copies use pageable memory, which the "
                   "driver copies synchronously\n",
                   why.c_str());
    });
  }

  /// A pinned block of at least `bytes` for copies on `s`, held by `s`
  /// until it synchronises; null when none can be had.
  void *take(size_t bytes, CUstream s) {
    size_t size = sizeClass(bytes);
    std::unique_lock<std::mutex> lock(mutex);
    auto it = idle.find(size);
    if (it != idle.end()) {
      void *p = it->second;
      idle.erase(it);
      busy[s].push_back({p, size});
      return p;
    }
    if (heldBytes + size > limit) {
      lock.unlock();
      trim();
      lock.lock();
      if (heldBytes + size > limit) {
        lock.unlock();
        fallBack(limit ? "SSMC_CUDA_PINNED_LIMIT=" + std::to_string(limit) +
                             " bytes reached"
                       : "SSMC_CUDA_PINNED_LIMIT=0");
        return nullptr;
      }
    }
    lock.unlock();
    Driver &d = driver();
    void *p = nullptr;
    CUresult r = d.cuMemAllocHost(&p, size);
    if (r) { // perhaps only because of the idle blocks
      trim();
      r = d.cuMemAllocHost(&p, size);
    }
    if (r) {
      fallBack(describe(r, "cuMemAllocHost"));
      return nullptr;
    }
    lock.lock();
    heldBytes += size;
    busy[s].push_back({p, size});
    if (!exitHook) {
      exitHook = true;
      std::atexit([] { staging().trim(); });
    }
    return p;
  }

  /// Records a copy out of `bytes` into `host`, now in `pinned`.
  void defer(CUstream s, void *host, const void *pinned, size_t bytes) {
    std::lock_guard<std::mutex> lock(mutex);
    deferred.push_back({s, static_cast<char *>(host),
                        static_cast<const char *>(pinned), bytes, ++seq});
  }

  /// Copies the deferred copies of `s` up to `upTo` (in issue order) into
  /// their host buffers; drops them without copying when `ok` is false
  /// (the synchronisation failed: the blocks hold no result).
  void land(CUstream s, uint64_t upTo, bool ok) {
    std::vector<Deferred> due, rest;
    {
      std::lock_guard<std::mutex> lock(mutex);
      for (const Deferred &c : deferred)
        (c.stream == s && c.seq <= upTo ? due : rest).push_back(c);
      deferred.swap(rest);
    }
    if (ok)
      for (const Deferred &c : due)
        std::memcpy(c.host, c.pinned, c.bytes);
  }

  /// After the host synchronised with `s` (`ok`: successfully): its copies
  /// out land and its blocks return to the cache.
  void synchronised(CUstream s, bool ok) {
    land(s, UINT64_MAX, ok);
    std::lock_guard<std::mutex> lock(mutex);
    auto it = busy.find(s);
    if (it == busy.end())
      return;
    for (const Block &b : it->second)
      idle.emplace(b.size, b.ptr);
    busy.erase(it);
  }

  /// True while `s` holds blocks or has copies out pending.
  bool pending(CUstream s) {
    std::lock_guard<std::mutex> lock(mutex);
    if (busy.count(s))
      return true;
    for (const Deferred &c : deferred)
      if (c.stream == s)
        return true;
    return false;
  }

  /// Waits for `s` and lands its copies out (a hazard, or a stream
  /// destroyed before its synchronisation).
  void drain(CUstream s) {
    synchronised(s, check(driver().cuStreamSynchronize(s),
                          "cuStreamSynchronize (pinned staging)"));
  }

  /// The latest pending copy out into bytes overlapping [p, p + n) that
  /// `want` accepts; false when none.
  template <typename F>
  bool latest(const void *p, size_t n, Deferred &found, F want) {
    auto *a = static_cast<const char *>(p);
    std::lock_guard<std::mutex> lock(mutex);
    for (auto it = deferred.rbegin(); it != deferred.rend(); ++it)
      if (it->host < a + n && a < it->host + it->bytes && want(*it)) {
        found = *it;
        return true;
      }
    return false;
  }

  /// Before host bytes [p, p + n) are read or written outside staging (a
  /// pageable copy): every stream with a pending copy out into them lands
  /// it first.
  void settle(const void *p, size_t n) {
    Deferred c;
    while (latest(p, n, c, [](const Deferred &) { return true; }))
      drain(c.stream);
  }

  /// Before a copy out on `s` into host bytes [p, p + n): other streams'
  /// pending copies into them land first (copies of `s` land in order).
  void settleOthers(const void *p, size_t n, CUstream s) {
    Deferred c;
    while (latest(p, n, c, [&](const Deferred &d) { return d.stream != s; }))
      drain(c.stream);
  }

  /// Where a copy in on `s` of host bytes [p, p + n) is to read them: the
  /// staging block of a pending copy out of `s` that covers them (later in
  /// stream order than that copy), else `p` after any other pending copy
  /// out into them has landed.
  const void *forward(const void *p, size_t n, CUstream s) {
    Deferred c;
    while (latest(p, n, c, [](const Deferred &) { return true; })) {
      auto *a = static_cast<const char *>(p);
      if (c.stream == s && c.host <= a && a + n <= c.host + c.bytes)
        return c.pinned + (a - c.host);
      drain(c.stream);
    }
    return p;
  }

  /// An event recorded on `s`: synchronising with it lands the copies out
  /// issued on `s` before.
  void recordedOn(CUevent e, CUstream s) {
    std::lock_guard<std::mutex> lock(mutex);
    recorded[e] = {s, seq};
  }

  void eventSynchronised(CUevent e) {
    std::pair<CUstream, uint64_t> at;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = recorded.find(e);
      if (it == recorded.end())
        return;
      at = it->second;
    }
    land(at.first, at.second, /*ok=*/true);
  }

  void forget(CUevent e) {
    std::lock_guard<std::mutex> lock(mutex);
    recorded.erase(e);
  }

  /// Frees the idle blocks (cuMemFreeHost).
  void trim() {
    Driver &d = driver();
    std::lock_guard<std::mutex> lock(mutex);
    for (auto &[size, p] : idle) {
      d.cuMemFreeHost(p);
      heldBytes -= size;
    }
    idle.clear();
  }

};

Staging &staging() {
  static Staging *s = new Staging; // used from global destructors
  return *s;
}

/// A copy of host bytes to the device on `s`: through pinned staging, or
/// from the caller's (pageable) buffer when none is to be had.
void copyIn(void *dst, const void *src, size_t n, CUstream s) {
  Staging &st = staging();
  const void *from = st.forward(src, n, s);
  if (from == src)
    if (void *block = st.take(n, s)) {
      std::memcpy(block, src, n);
      from = block;
    }
  check(driver().cuMemcpyHtoDAsync(reinterpret_cast<CUdeviceptr>(dst), from,
                                   n, s),
        "cuMemcpyHtoDAsync");
}

/// A copy of device bytes to the host on `s`: deferred through pinned
/// staging until the host synchronises with `s`, or into the caller's
/// (pageable) buffer at once (the driver waits for the stream) when no
/// staging block is to be had.
void copyOut(void *dst, const void *src, size_t n, CUstream s) {
  Staging &st = staging();
  st.settleOthers(dst, n, s);
  auto from = reinterpret_cast<CUdeviceptr>(src);
  if (void *block = st.take(n, s)) {
    if (check(driver().cuMemcpyDtoHAsync(block, from, n, s),
              "cuMemcpyDtoHAsync"))
      st.defer(s, dst, block, n);
    return;
  }
  st.settle(dst, n);
  check(driver().cuMemcpyDtoHAsync(dst, from, n, s), "cuMemcpyDtoHAsync");
}

/// Kernel timing (ssmcCudaKernelTimer): while on, every launch is
/// bracketed by timing events on its stream and waited for.
struct KernelTimer {
  std::mutex mutex;
  bool on = false;
  double ms = 0;
  int64_t launches = 0;
};
KernelTimer &kernelTimer() {
  static KernelTimer t;
  return t;
}

/// Runs `enqueue` on `stream` between two timing events and returns the
/// elapsed device milliseconds (negative after a failure).
template <typename F> double timed(CUstream stream, F &&enqueue) {
  Driver &d = driver();
  CUevent start = nullptr, stop = nullptr;
  double ms = -1;
  if (check(d.cuEventCreate(&start, 0), "cuEventCreate") &&
      check(d.cuEventCreate(&stop, 0), "cuEventCreate") &&
      check(d.cuEventRecord(start, stream), "cuEventRecord") && enqueue() &&
      check(d.cuEventRecord(stop, stream), "cuEventRecord") &&
      check(d.cuEventSynchronize(stop), "cuEventSynchronize")) {
    float f = 0;
    if (check(d.cuEventElapsedTime(&f, start, stop), "cuEventElapsedTime"))
      ms = f;
  }
  if (start)
    d.cuEventDestroy(start);
  if (stop)
    d.cuEventDestroy(stop);
  return ms;
}

/// A launch with more than 48 KB of dynamic shared memory needs the
/// function's opt-in (cuFuncSetAttribute with
/// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) up to the card's
/// CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN; once per kernel
/// and size. "" when the launch may go ahead, else why not.
std::string optInSharedMemory(Kernel &k, int32_t smem) {
  constexpr int32_t kDefaultDynamicShared = 48 * 1024;
  constexpr int kMaxSharedOptInAttr = 97;   // CU_DEVICE_ATTRIBUTE_...
  constexpr int kMaxDynamicSharedAttr = 8;  // CU_FUNC_ATTRIBUTE_...
  if (smem <= kDefaultDynamicShared || smem <= k.sharedOptIn.load())
    return "";
  Driver &d = driver();
  int limit = 0;
  if (CUresult r = d.cuDeviceGetAttribute(&limit, kMaxSharedOptInAttr,
                                          d.device))
    return describe(r, "cuDeviceGetAttribute") +
           " (the opt-in shared-memory limit) for kernel '" + k.name + "'";
  if (smem > limit)
    return "kernel '" + k.name + "' needs " + std::to_string(smem) +
           " bytes of dynamic shared memory per block; this card allows " +
           std::to_string(limit) + " (lower for it with ssm-nvptx-pipeline's max-shared-bytes=" +
           std::to_string(limit) + ")";
  if (CUresult r = d.cuFuncSetAttribute(k.function, kMaxDynamicSharedAttr,
                                        smem))
    return describe(r, "cuFuncSetAttribute") + " (" + std::to_string(smem) +
           " bytes of dynamic shared memory) for kernel '" + k.name + "'";
  k.sharedOptIn.store(smem);
  return "";
}

} // namespace

extern "C" {

void *mgpuModuleLoad(void *data, size_t size) {
  return loadModule(data, size, /*optLevel=*/-1);
}

void *mgpuModuleLoadJIT(void *data, int optLevel) {
  return loadModule(data, std::strlen(static_cast<const char *>(data)) + 1,
                    optLevel);
}

void mgpuModuleUnload(void *module) {
  auto *m = static_cast<Module *>(module);
  if (!m)
    return;
  if (m->module && ready())
    check(driver().cuModuleUnload(m->module), "cuModuleUnload");
  delete m;
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  auto *m = static_cast<Module *>(module);
  if (!m || !name)
    return nullptr;
  std::lock_guard<std::mutex> lock(m->mutex);
  std::unique_ptr<Kernel> &k = m->kernels[name];
  if (k)
    return k.get(); // looked up (or failed) before: the same answer
  k = std::make_unique<Kernel>();
  k->name = name;
  if (!m->error.empty()) {
    k->error = "its module failed to load: " + m->error;
  } else if (std::string why = enterContext(); !why.empty()) {
    k->error = why;
  } else if (CUresult r = driver().cuModuleGetFunction(&k->function, m->module,
                                                       name)) {
    k->function = nullptr;
    k->error = describe(r, "cuModuleGetFunction");
  }
  return k.get();
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  auto *k = static_cast<Kernel *>(function);
  if (!ready())
    return;
  if (!k) {
    runError.record("mgpuLaunchKernel: null kernel");
    return;
  }
  if (!k->error.empty()) {
    runError.record("kernel '" + k->name + "' cannot be launched: " +
                    k->error);
    return;
  }
  if (runError.set)
    return; // an earlier call of this run failed
  if (std::string why = optInSharedMemory(*k, smem); !why.empty()) {
    runError.record(why);
    return;
  }
  auto launch = [&] {
    CUresult r = driver().cuLaunchKernel(k->function, gridX, gridY, gridZ,
                                         blockX, blockY, blockZ, smem, stream,
                                         params, extra);
    if (r)
      runError.record(describe(r, "cuLaunchKernel") + " for kernel '" +
                      k->name + "'");
    return r == 0;
  };
  KernelTimer &t = kernelTimer();
  bool timing;
  {
    std::lock_guard<std::mutex> lock(t.mutex);
    timing = t.on;
  }
  if (!timing) {
    launch();
    return;
  }
  double ms = timed(stream, launch);
  std::lock_guard<std::mutex> lock(t.mutex);
  if (ms >= 0)
    t.ms += ms, ++t.launches;
}

void *mgpuStreamCreate() {
  CUstream s = nullptr;
  if (ready())
    check(driver().cuStreamCreate(&s, /*CU_STREAM_NON_BLOCKING=*/1),
          "cuStreamCreate");
  return s;
}

void mgpuStreamDestroy(void *stream) {
  if (!stream || !ready())
    return;
  // Generated code synchronises first; else its staged copies land here.
  if (staging().pending(stream))
    staging().drain(stream);
  check(driver().cuStreamDestroy(stream), "cuStreamDestroy");
}

void mgpuStreamSynchronize(void *stream) {
  if (!ready())
    return;
  bool ok = check(driver().cuStreamSynchronize(stream), "cuStreamSynchronize");
  staging().synchronised(stream, ok); // the run's results reach its buffers
}

void mgpuStreamWaitEvent(void *stream, void *event) {
  if (event && ready())
    check(driver().cuStreamWaitEvent(stream, event, 0), "cuStreamWaitEvent");
}

void *mgpuEventCreate() {
  CUevent e = nullptr;
  if (ready())
    check(driver().cuEventCreate(&e, /*CU_EVENT_DISABLE_TIMING=*/2),
          "cuEventCreate");
  return e;
}

void mgpuEventDestroy(void *event) {
  if (!event || !ready())
    return;
  staging().forget(event);
  check(driver().cuEventDestroy(event), "cuEventDestroy");
}

void mgpuEventSynchronize(void *event) {
  if (!event || !ready())
    return;
  bool ok = check(driver().cuEventSynchronize(event), "cuEventSynchronize");
  if (ok)
    staging().eventSynchronised(event);
}

void mgpuEventRecord(void *event, void *stream) {
  if (event && ready() &&
      check(driver().cuEventRecord(event, stream), "cuEventRecord"))
    staging().recordedOn(event, stream);
}

void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared) {
  CUdeviceptr p = 0;
  if (sizeBytes == 0 || !ready())
    return nullptr;
  Driver &d = driver();
  DeviceCache &cache = deviceCache();
  if (isHostShared || !cache.enabled) {
    bool ok = isHostShared
                  ? check(d.cuMemAllocManaged(&p, sizeBytes,
                                              CU_MEM_ATTACH_GLOBAL),
                          "cuMemAllocManaged")
                  : check(d.cuMemAlloc(&p, sizeBytes), "cuMemAlloc");
    if (!ok)
      return nullptr;
    std::lock_guard<std::mutex> lock(cache.mutex);
    cache.held[p] = sizeBytes;
    return reinterpret_cast<void *>(p);
  }
  size_t size = sizeClass(sizeBytes);
  {
    std::unique_lock<std::mutex> lock(cache.mutex);
    auto it = cache.idle.find(size);
    if (it != cache.idle.end()) {
      DeviceCache::Block block = it->second;
      cache.idle.erase(it);
      lock.unlock();
      // The new owner's work runs after the old owner's free. Work of the
      // legacy default stream does not order the non-blocking streams the
      // runtime creates: there the host waits.
      bool ok = stream ? check(d.cuStreamWaitEvent(stream, block.freed, 0),
                               "cuStreamWaitEvent (device memory reuse)")
                       : check(d.cuEventSynchronize(block.freed),
                               "cuEventSynchronize (device memory reuse)");
      lock.lock();
      if (!ok) { // keep it for later, with its event
        cache.idle.emplace(size, block);
        return nullptr;
      }
      cache.events.push_back(block.freed);
      lock.unlock();
      // The fake driver poisons fresh allocations (0xFF bytes) so that a
      // kernel that forgets an element fails its test: so are reused ones.
      if (d.registerHostTwin)
        check(d.cuMemsetD32Async(block.ptr, 0xFFFFFFFFu, size / 4, stream),
              "cuMemsetD32Async (poisoning a reused block)");
      return reinterpret_cast<void *>(block.ptr);
    }
  }
  CUresult r = d.cuMemAlloc(&p, size);
  if (r) { // out of memory, perhaps only because of the cache
    cache.trim();
    r = d.cuMemAlloc(&p, size);
  }
  if (!check(r, "cuMemAlloc"))
    return nullptr;
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.owned[p] = size;
  cache.held[p] = size;
  if (!cache.exitHook) {
    cache.exitHook = true;
    std::atexit([] { deviceCache().trim(); });
  }
  return reinterpret_cast<void *>(p);
}

void mgpuMemFree(void *ptr, void *stream) {
  if (!ptr || !ready())
    return;
  Driver &d = driver();
  DeviceCache &cache = deviceCache();
  auto p = reinterpret_cast<CUdeviceptr>(ptr);
  std::unique_lock<std::mutex> lock(cache.mutex);
  auto owned = cache.owned.find(p);
  if (owned == cache.owned.end()) { // managed, or allocated uncached
    cache.held.erase(p);
    lock.unlock();
    check(d.cuMemFree(p), "cuMemFree");
    return;
  }
  size_t size = owned->second;
  CUevent freed = nullptr;
  if (!cache.events.empty()) {
    freed = cache.events.back();
    cache.events.pop_back();
  }
  lock.unlock();
  if (!freed && !check(d.cuEventCreate(&freed, /*CU_EVENT_DISABLE_TIMING=*/2),
                       "cuEventCreate (device memory cache)"))
    freed = nullptr;
  if (!freed || !check(d.cuEventRecord(freed, stream),
                       "cuEventRecord (device memory cache)")) {
    // Not cacheable without its event: give the block back.
    if (freed)
      d.cuEventDestroy(freed);
    lock.lock();
    cache.owned.erase(p);
    cache.held.erase(p);
    lock.unlock();
    check(d.cuMemFree(p), "cuMemFree");
    return;
  }
  lock.lock();
  cache.idle.emplace(size, DeviceCache::Block{p, freed});
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream) {
  if (!sizeBytes || !dst || !src || !running())
    return;
  DeviceCache &cache = deviceCache();
  bool toDevice = cache.holds(dst), fromDevice = cache.holds(src);
  // The staged copies of a run (on its stream) go through pinned staging.
  if (stream && toDevice && !fromDevice)
    return copyIn(dst, src, sizeBytes, stream);
  if (stream && fromDevice && !toDevice)
    return copyOut(dst, src, sizeBytes, stream);
  // Device to device, host to host, or on the null stream (device-resident
  // uploads and downloads, which synchronise right after): as they come,
  // once pending copies out into the host bytes have landed.
  if (!toDevice)
    staging().settle(dst, sizeBytes);
  if (!fromDevice)
    staging().settle(src, sizeBytes);
  check(driver().cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                               reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                               stream),
        "cuMemcpyAsync");
}

void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream) {
  if (count && dst && running())
    check(driver().cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                    count, stream),
          "cuMemsetD32Async");
}

void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream) {
  if (count && dst && running())
    check(driver().cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                    count, stream),
          "cuMemsetD16Async");
}

void mgpuSetDefaultDevice(int32_t /*device*/) {}

} // extern "C"


extern "C" {

const char *ssmcCudaLoadError() { return driver().loadError.c_str(); }

int ssmcCudaDriverState() { return driver().state; }

int ssmcCudaTakeError(char *buffer, int size) {
  return runError.take(buffer, size);
}

int ssmcCudaTakeLoadError(char *buffer, int size) {
  return loadError.take(buffer, size);
}

int ssmcCudaDeviceName(char *buffer, int size) {
  Driver &d = driver();
  if (!d.loadError.empty() || d.cuDeviceGetName(buffer, size, d.device))
    return 0;
  return 1;
}

void ssmcCudaKernelTimer(int enable) {
  KernelTimer &t = kernelTimer();
  std::lock_guard<std::mutex> lock(t.mutex);
  t.on = enable != 0;
  t.ms = 0;
  t.launches = 0;
}

double ssmcCudaKernelTime(int64_t *launches) {
  KernelTimer &t = kernelTimer();
  std::lock_guard<std::mutex> lock(t.mutex);
  if (launches)
    *launches = t.launches;
  return t.ms;
}

double ssmcCudaCopyBandwidth(size_t bytes, int reps) {
  if (bytes == 0 || reps <= 0 || !ready())
    return -1;
  Driver &d = driver();
  CUdeviceptr a = 0, b = 0;
  double gbs = -1;
  if (check(d.cuMemAlloc(&a, bytes), "cuMemAlloc") &&
      check(d.cuMemAlloc(&b, bytes), "cuMemAlloc") &&
      check(d.cuMemsetD32Async(a, 0x3f800000u, bytes / 4, nullptr),
            "cuMemsetD32Async")) {
    auto copies = [&](int n) {
      for (int i = 0; i < n; ++i)
        if (!check(d.cuMemcpyAsync(b, a, bytes, nullptr), "cuMemcpyAsync"))
          return false;
      return true;
    };
    double warm = timed(nullptr, [&] { return copies(1); });
    double ms = warm >= 0 ? timed(nullptr, [&] { return copies(reps); }) : -1;
    if (ms > 0)
      gbs = 2.0 * double(bytes) * reps / (ms * 1e-3) / 1e9;
  }
  if (a)
    d.cuMemFree(a);
  if (b)
    d.cuMemFree(b);
  return gbs;
}

int ssmcCudaHostTwinsWanted() {
  return driver().registerHostTwin ? 1 : 0;
}

void ssmcCudaRegisterHostTwin(uint64_t imageHash, const char *kernel,
                              void (*twin)(void **args)) {
  if (auto reg = driver().registerHostTwin)
    reg(imageHash, kernel, twin);
}

} // extern "C"
