//===- FakeCuda.cpp - a test-only CUDA driver library on the host ---------===//
//
// Built as libcuda.so.1 and selected with LD_LIBRARY_PATH, it stands in for
// NVIDIA's driver so the CUDA host path (runtime/cuda/Mgpu.cpp, the JIT,
// ahead-of-time objects) runs on machines without a GPU:
//  - "device" memory is host memory in an address range of its own, every
//    allocation filled with 0xFF bytes (a NaN in every float lane) so a
//    kernel that forgets to write an element fails its test, followed by
//    an inaccessible guard page and made inaccessible when freed (a twin
//    that overruns or uses freed memory faults); copies, memsets and frees
//    are checked against the allocations (beyond an allocation, after a
//    free, an unknown pointer) and answered with CUDA error codes and a
//    message on stderr;
//  - modules are PTX text, parsed for their .entry names and .param sizes;
//    a launch runs the kernel's host twin (runtime/cuda/HostTwin.h)
//    registered with ssmcFakeCudaRegisterKernel, and fails with
//    CUDA_ERROR_NOT_FOUND when none is registered;
//  - streams and events keep their ordering semantics: work executes
//    eagerly in issue order, and vector clocks record what a real device
//    could have run concurrently (an access to an allocation that is not
//    ordered after a conflicting access on another stream is reported as a
//    race on stderr and counted);
//  - synchronising calls (cuStreamSynchronize, cuEventSynchronize,
//    cuCtxSynchronize, cuMemFree, cuMemFreeHost) are counted;
//  - asynchronous copies (cuMemcpyAsync, cuMemcpyHtoDAsync_v2,
//    cuMemcpyDtoHAsync_v2) with pageable host memory on one side make the
//    host wait for the stream, as the driver does (counted apart too); with
//    pinned memory (cuMemAllocHost_v2) they are asynchronous: bytes copied
//    into pinned memory appear there only when the host synchronises with
//    the copy (0xFF poison until then; later copies on the stream see
//    them), a pinned source that changes before then, or a pinned block
//    freed with such copies pending, is reported as a misuse and counted;
//  - dynamic shared memory: a launch may ask for 48 KB, or up to what
//    cuFuncSetAttribute(CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES) set
//    for the function before it, itself at most the device's opt-in maximum
//    (attribute 97; 227 KB as on sm_90, SSMC_FAKE_CUDA_SHARED_OPTIN=bytes
//    lowers it); the twin gets a host buffer of the launch's size;
//  - SSMC_FAKE_CUDA_FAIL=name[:N|:*][,name...] makes the Nth call (default
//    the first; * every call) of the driver function `name` fail, with a
//    fake JIT error log for module loads; SSMC_FAKE_CUDA_DEVICES=0 reports
//    no device; SSMC_FAKE_CUDA_STATS=1 prints the counts at exit.
// The ssmcFakeCuda* functions at the end let tests inspect and steer it.
//
//===----------------------------------------------------------------------===//

#include "HostTwin.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <sys/mman.h>

namespace {

using CUresult = int;
using CUdeviceptr = uint64_t;

enum : CUresult {
  CUDA_SUCCESS = 0,
  CUDA_ERROR_INVALID_VALUE = 1,
  CUDA_ERROR_OUT_OF_MEMORY = 2,
  CUDA_ERROR_NOT_INITIALIZED = 3,
  CUDA_ERROR_NO_DEVICE = 100,
  CUDA_ERROR_INVALID_DEVICE = 101,
  CUDA_ERROR_INVALID_IMAGE = 200,
  CUDA_ERROR_INVALID_CONTEXT = 201,
  CUDA_ERROR_INVALID_PTX = 218,
  CUDA_ERROR_INVALID_HANDLE = 400,
  CUDA_ERROR_NOT_FOUND = 500,
  CUDA_ERROR_NOT_READY = 600,
  CUDA_ERROR_ILLEGAL_ADDRESS = 700,
  CUDA_ERROR_LAUNCH_FAILED = 719,
  CUDA_ERROR_NOT_SUPPORTED = 801,
  CUDA_ERROR_UNKNOWN = 999,
};

const char *errorName(CUresult r) {
  switch (r) {
  case CUDA_SUCCESS: return "CUDA_SUCCESS";
  case CUDA_ERROR_INVALID_VALUE: return "CUDA_ERROR_INVALID_VALUE";
  case CUDA_ERROR_OUT_OF_MEMORY: return "CUDA_ERROR_OUT_OF_MEMORY";
  case CUDA_ERROR_NOT_INITIALIZED: return "CUDA_ERROR_NOT_INITIALIZED";
  case CUDA_ERROR_NO_DEVICE: return "CUDA_ERROR_NO_DEVICE";
  case CUDA_ERROR_INVALID_DEVICE: return "CUDA_ERROR_INVALID_DEVICE";
  case CUDA_ERROR_INVALID_IMAGE: return "CUDA_ERROR_INVALID_IMAGE";
  case CUDA_ERROR_INVALID_CONTEXT: return "CUDA_ERROR_INVALID_CONTEXT";
  case CUDA_ERROR_INVALID_PTX: return "CUDA_ERROR_INVALID_PTX";
  case CUDA_ERROR_INVALID_HANDLE: return "CUDA_ERROR_INVALID_HANDLE";
  case CUDA_ERROR_NOT_FOUND: return "CUDA_ERROR_NOT_FOUND";
  case CUDA_ERROR_NOT_READY: return "CUDA_ERROR_NOT_READY";
  case CUDA_ERROR_ILLEGAL_ADDRESS: return "CUDA_ERROR_ILLEGAL_ADDRESS";
  case CUDA_ERROR_LAUNCH_FAILED: return "CUDA_ERROR_LAUNCH_FAILED";
  case CUDA_ERROR_NOT_SUPPORTED: return "CUDA_ERROR_NOT_SUPPORTED";
  case CUDA_ERROR_UNKNOWN: return "CUDA_ERROR_UNKNOWN";
  default: return nullptr;
  }
}

const char *errorString(CUresult r) {
  switch (r) {
  case CUDA_SUCCESS: return "no error";
  case CUDA_ERROR_INVALID_VALUE: return "invalid argument";
  case CUDA_ERROR_OUT_OF_MEMORY: return "out of memory";
  case CUDA_ERROR_NOT_INITIALIZED: return "initialization error";
  case CUDA_ERROR_NO_DEVICE: return "no CUDA-capable device is detected";
  case CUDA_ERROR_INVALID_DEVICE: return "invalid device ordinal";
  case CUDA_ERROR_INVALID_IMAGE: return "device kernel image is invalid";
  case CUDA_ERROR_INVALID_CONTEXT: return "invalid device context";
  case CUDA_ERROR_INVALID_PTX: return "a PTX JIT compilation failed";
  case CUDA_ERROR_INVALID_HANDLE: return "invalid resource handle";
  case CUDA_ERROR_NOT_FOUND: return "named symbol not found";
  case CUDA_ERROR_NOT_READY: return "device not ready";
  case CUDA_ERROR_ILLEGAL_ADDRESS:
    return "an illegal memory access was encountered";
  case CUDA_ERROR_LAUNCH_FAILED: return "unspecified launch failure";
  case CUDA_ERROR_NOT_SUPPORTED: return "operation not supported";
  case CUDA_ERROR_UNKNOWN: return "unknown error";
  default: return nullptr;
  }
}

struct Stream;

/// A vector clock: for each stream, the last of its operations known to
/// have completed before the holder's next operation.
using Clock = std::map<const Stream *, uint64_t>;

void merge(Clock &into, const Clock &from) {
  for (auto &[s, t] : from)
    into[s] = std::max(into[s], t);
}

struct Stream {
  uint64_t ticks = 0;
  Clock clock;
  bool isDefault = false;
};

struct Event {
  unsigned flags = 0;
  bool recorded = false;
  Clock clock;
  std::chrono::steady_clock::time_point time;
};

/// One access of an allocation by a stream operation.
struct Access {
  const Stream *stream = nullptr;
  uint64_t tick = 0;
  std::string what;
};

struct Allocation {
  uint64_t base = 0;
  size_t size = 0;
  bool managed = false;
  bool pinnedHost = false;
  Access lastWrite;
  std::vector<Access> readsSinceWrite;
  bool raceReported = false;
};

struct Param {
  size_t size = 0;
};

struct Module;
struct Function {
  Module *module = nullptr;
  std::string name;
  std::vector<Param> params;
  /// CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES: the most dynamic
  /// shared memory a launch may ask for (48 KB until opted in).
  int maxDynamicShared = 48 * 1024;
  /// The dynamic shared memory of the last launch (-1: never launched).
  int64_t lastLaunchShared = -1;
};

struct Module {
  uint64_t hash = 0;
  bool loaded = true;
  std::map<std::string, std::unique_ptr<Function>> functions;
};

struct Failure {
  int64_t nth = 1; ///< which call fails (1-based); 0: every call
};

struct State {
  std::mutex mutex;
  bool initialized = false;
  int deviceCount = 1;
  /// CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN (sm_90's 227 KB;
  /// SSMC_FAKE_CUDA_SHARED_OPTIN or ssmcFakeCudaSetSharedOptIn change it).
  int sharedOptIn = 227 * 1024;
  std::map<std::string, int64_t> calls;
  std::map<std::string, Failure> failures;
  int64_t syncCalls = 0;
  int64_t races = 0;
  int64_t pageableCopies = 0; ///< asynchronous copies the host waited for
  int64_t misuses = 0;        ///< pinned-memory protocol violations
  /// Bytes copied from host memory (pinned or pageable) into device memory,
  /// and from device memory into host memory, by any copy.
  int64_t hostToDeviceBytes = 0, deviceToHostBytes = 0;
  /// A copy into pinned host memory the host has not synchronised with:
  /// the device's bytes, written there when it does (until then the
  /// destination holds 0xFF poison, as a host that reads too early would
  /// find garbage).
  struct PendingOut {
    Access at;
    uint64_t dst;
    std::vector<unsigned char> bytes;
  };
  std::vector<PendingOut> pendingOut;
  /// A copy out of pinned host memory the host has not synchronised with:
  /// its source must not change before then (a real copy reads it some
  /// time before it completes).
  struct PendingIn {
    Access at;
    uint64_t src;
    size_t size;
    uint64_t hash;
  };
  std::vector<PendingIn> pendingIn;
  std::string lastMessage;
  std::map<uint64_t, Allocation> allocations; ///< by base address
  std::map<uint64_t, size_t> freed;           ///< freed ranges, by base
  /// Device memory: a reserved range of address space that the host's own
  /// allocations never use, carved front to back and never reused, each
  /// allocation right-aligned (to 256 bytes) against an inaccessible guard
  /// page, its pages made inaccessible again when freed: a twin that reads
  /// or writes past an allocation or after its free faults.
  char *arena = nullptr;
  size_t arenaSize = 0, arenaUsed = 0;
  std::set<Module *> modules;                 ///< loaded or unloaded
  std::set<const Function *> functions;
  std::set<Stream *> streams;
  /// Destroyed streams: vector clocks still name them, so they are kept
  /// (and stay reachable, for LeakSanitizer) until the process ends.
  std::vector<Stream *> retired;
  std::set<Event *> events;
  Stream defaultStream;
  Clock host; ///< what the host has waited for
  std::map<std::pair<uint64_t, std::string>, SsmcHostTwinFn> twins;
  int contextToken = 0;

  State() {
    defaultStream.isDefault = true;
    if (const char *n = std::getenv("SSMC_FAKE_CUDA_DEVICES"))
      deviceCount = std::atoi(n);
    if (const char *n = std::getenv("SSMC_FAKE_CUDA_SHARED_OPTIN"))
      sharedOptIn = std::atoi(n);
    if (const char *spec = std::getenv("SSMC_FAKE_CUDA_FAIL"))
      setFailures(spec);
    if (std::getenv("SSMC_FAKE_CUDA_STATS"))
      std::atexit(printStats);
  }

  /// SSMC_FAKE_CUDA_STATS: the counts a test of the host path checks, on
  /// stderr at exit.
  static void printStats();

  void setFailures(const char *spec) {
    failures.clear();
    std::string s = spec ? spec : "";
    size_t pos = 0;
    while (pos < s.size()) {
      size_t end = s.find(',', pos);
      if (end == std::string::npos)
        end = s.size();
      std::string item = s.substr(pos, end - pos);
      pos = end + 1;
      if (item.empty())
        continue;
      Failure f;
      size_t colon = item.find(':');
      if (colon != std::string::npos) {
        std::string n = item.substr(colon + 1);
        f.nth = n == "*" ? 0 : std::atoll(n.c_str());
        item = item.substr(0, colon);
        if (n != "*" && f.nth <= 0) {
          std::fprintf(stderr,
                       "fake CUDA: SSMC_FAKE_CUDA_FAIL: bad call number '%s' "
                       "for %s (expected N >= 1 or *)\n",
                       n.c_str(), item.c_str());
          continue;
        }
      }
      failures[item] = f;
    }
  }

  CUresult error(const char *fn, CUresult code, const char *format, ...)
      __attribute__((format(printf, 4, 5))) {
    char text[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    lastMessage = std::string(fn) + ": " + text;
    std::fprintf(stderr, "fake CUDA: %s (%s)\n", lastMessage.c_str(),
                 errorName(code));
    return code;
  }

  /// Counts a call of `fn`; the injected error code when this call is to
  /// fail, else CUDA_SUCCESS.
  CUresult enter(const char *fn, CUresult injected = CUDA_ERROR_UNKNOWN) {
    int64_t n = ++calls[fn];
    if (!injectedHere(fn))
      return CUDA_SUCCESS;
    return error(fn, injected,
                 "failure injected by SSMC_FAKE_CUDA_FAIL (call %lld)",
                 static_cast<long long>(n));
  }

  /// True when the current (already counted) call of `fn` is to fail.
  bool injectedHere(const char *fn) {
    auto it = failures.find(fn);
    return it != failures.end() &&
           (it->second.nth == 0 || it->second.nth == calls[fn]);
  }

  Stream *stream(void *handle) {
    // 0, CU_STREAM_LEGACY (1) and CU_STREAM_PER_THREAD (2) are the default.
    if (reinterpret_cast<uintptr_t>(handle) <= 2)
      return &defaultStream;
    auto *s = static_cast<Stream *>(handle);
    return streams.count(s) ? s : nullptr;
  }

  /// The allocation holding `p` (null when none).
  Allocation *find(uint64_t p) {
    auto it = allocations.upper_bound(p);
    if (it == allocations.begin())
      return nullptr;
    --it;
    return p < it->first + it->second.size ? &it->second : nullptr;
  }

  bool inArena(uint64_t p) const {
    uint64_t base = reinterpret_cast<uintptr_t>(arena);
    return arena && p >= base && p < base + arenaSize;
  }

  bool wasFreed(uint64_t p) {
    auto it = freed.upper_bound(p);
    if (it == freed.begin())
      return false;
    --it;
    return p < it->first + it->second;
  }

  /// Checks `[p, p+size)`: inside one allocation, or entirely outside all
  /// of them and not freed (host memory, with unified addressing).
  CUresult checkRange(const char *fn, const char *role, uint64_t p,
                      size_t size, bool mustBeDevice, Allocation **out) {
    *out = nullptr;
    if (Allocation *a = find(p)) {
      if (p + size > a->base + a->size)
        return error(fn, CUDA_ERROR_INVALID_VALUE,
                     "%s range [0x%llx, +%zu) runs %llu bytes beyond its "
                     "allocation [0x%llx, +%zu)",
                     role, (unsigned long long)p, size,
                     (unsigned long long)(p + size - a->base - a->size),
                     (unsigned long long)a->base, a->size);
      *out = a;
      return CUDA_SUCCESS;
    }
    if (wasFreed(p))
      return error(fn, CUDA_ERROR_INVALID_VALUE,
                   "%s 0x%llx lies in freed device memory", role,
                   (unsigned long long)p);
    if (inArena(p))
      return error(fn, CUDA_ERROR_INVALID_VALUE,
                   "%s 0x%llx lies outside every device allocation", role,
                   (unsigned long long)p);
    if (mustBeDevice)
      return error(fn, CUDA_ERROR_INVALID_VALUE,
                   "%s 0x%llx is not device memory of this driver", role,
                   (unsigned long long)p);
    if (!p)
      return error(fn, CUDA_ERROR_INVALID_VALUE, "%s is a null pointer", role);
    if (inArena(p + size - 1))
      return error(fn, CUDA_ERROR_INVALID_VALUE,
                   "%s host range [0x%llx, +%zu) runs into device memory",
                   role, (unsigned long long)p, size);
    return CUDA_SUCCESS;
  }

  /// Starts an operation on `s`: ordered after what the host has waited
  /// for; returns its tick.
  uint64_t issue(Stream *s) {
    merge(s->clock, host);
    s->clock[s] = ++s->ticks;
    return s->ticks;
  }

  bool ordered(const Access &before, const Stream *s) {
    if (!before.stream || before.stream == s)
      return true;
    auto it = s->clock.find(before.stream);
    return it != s->clock.end() && it->second >= before.tick;
  }

  void race(Allocation &a, const Access &earlier, const char *what) {
    ++races;
    if (a.raceReported)
      return;
    a.raceReported = true;
    std::fprintf(stderr,
                 "fake CUDA: race: %s on allocation 0x%llx (%zu bytes) is not "
                 "ordered after %s on another stream\n",
                 what, (unsigned long long)a.base, a.size,
                 earlier.what.c_str());
  }

  /// Records an access of `a` by the current operation of `s`.
  void access(Allocation &a, Stream *s, bool write, const std::string &what) {
    Access now{s, s->ticks, what};
    if (!ordered(a.lastWrite, s))
      race(a, a.lastWrite, what.c_str());
    if (write) {
      for (const Access &r : a.readsSinceWrite)
        if (!ordered(r, s)) {
          race(a, r, what.c_str());
          break;
        }
      a.lastWrite = now;
      a.readsSinceWrite.clear();
    } else {
      a.readsSinceWrite.erase(
          std::remove_if(a.readsSinceWrite.begin(), a.readsSinceWrite.end(),
                         [&](const Access &r) { return r.stream == s; }),
          a.readsSinceWrite.end());
      a.readsSinceWrite.push_back(now);
    }
  }

  void hostWaitsForAll() {
    ++syncCalls;
    merge(host, defaultStream.clock);
    for (Stream *s : streams)
      merge(host, s->clock);
    settle();
  }

  /// The host waits for everything issued on `s` so far.
  void hostWaitsFor(Stream *s) {
    ++syncCalls;
    merge(host, s->clock);
    settle();
  }

  /// True when the host has waited for the operation `a`.
  bool hostSaw(const Access &a) {
    auto it = host.find(a.stream);
    return it != host.end() && it->second >= a.tick;
  }

  void misuse(const char *format, ...) __attribute__((format(printf, 2, 3))) {
    char text[1024];
    va_list args;
    va_start(args, format);
    std::vsnprintf(text, sizeof text, format, args);
    va_end(args);
    ++misuses;
    std::fprintf(stderr, "fake CUDA: misuse: %s\n", text);
  }

  /// FNV-1a over all `n` bytes (the host-twin image hash stops at a NUL).
  static uint64_t hashBytes(const void *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; ++i)
      h = (h ^ static_cast<const unsigned char *>(p)[i]) * 0x100000001b3ull;
    return h;
  }

  /// A pinned source read at `in.at` must hold the bytes it held then.
  void checkSource(const PendingIn &in, const char *when) {
    if (hashBytes(reinterpret_cast<void *>(in.src), in.size) != in.hash)
      misuse("pinned host memory [0x%llx, +%zu), the source of an "
             "asynchronous copy, changed %s",
             (unsigned long long)in.src, in.size, when);
  }

  /// After the host clock advanced: the copies into pinned memory it now
  /// knows complete write their bytes there, and the pinned sources it
  /// now knows read are checked unchanged.
  void settle() {
    for (auto it = pendingOut.begin(); it != pendingOut.end();) {
      if (!hostSaw(it->at)) {
        ++it;
        continue;
      }
      std::memcpy(reinterpret_cast<void *>(it->dst), it->bytes.data(),
                  it->bytes.size());
      it = pendingOut.erase(it);
    }
    for (auto it = pendingIn.begin(); it != pendingIn.end();) {
      if (!hostSaw(it->at)) {
        ++it;
        continue;
      }
      checkSource(*it, "before the host synchronised with the copy");
      it = pendingIn.erase(it);
    }
  }

  /// The bytes a copy on `s` reads at [p, p + n): the memory, with the
  /// pending copies into pinned memory that `s` is ordered after laid over
  /// it (the device sees their data; the host does not yet).
  std::vector<unsigned char> deviceView(uint64_t p, size_t n, Stream *s) {
    std::vector<unsigned char> bytes(n);
    std::memcpy(bytes.data(), reinterpret_cast<void *>(p), n);
    for (const PendingOut &o : pendingOut) {
      uint64_t lo = std::max(p, o.dst);
      uint64_t hi = std::min(p + n, o.dst + o.bytes.size());
      if (lo < hi && ordered(o.at, s))
        std::memcpy(bytes.data() + (lo - p), o.bytes.data() + (lo - o.dst),
                    hi - lo);
    }
    return bytes;
  }

  enum class Kind { Device, Pinned, Pageable };
  static Kind kindOf(const Allocation *a) {
    return !a ? Kind::Pageable : a->pinnedHost ? Kind::Pinned : Kind::Device;
  }

  /// An asynchronous copy on `s` (ranges checked: `d` and `from` are their
  /// allocations, null for pageable host memory). With pageable host
  /// memory on either side the host waits for the stream, as the driver
  /// does (counted); into pinned memory the bytes arrive when the host
  /// synchronises with the copy; out of pinned memory the source must stay
  /// unchanged until then.
  void copy(const char *fn, uint64_t dst, Allocation *d, uint64_t src,
            Allocation *from, size_t size, Stream *s) {
    issue(s);
    if (from)
      access(*from, s, false, std::string(fn) + " (source)");
    if (d)
      access(*d, s, true, std::string(fn) + " (destination)");
    std::vector<unsigned char> bytes = deviceView(src, size, s);
    Access now{s, s->ticks, fn};
    Kind to = kindOf(d), source = kindOf(from);
    if (to == Kind::Device && source != Kind::Device)
      hostToDeviceBytes += size;
    else if (to != Kind::Device && source == Kind::Device)
      deviceToHostBytes += size;
    if (to == Kind::Pageable || source == Kind::Pageable) {
      ++pageableCopies;
      hostWaitsFor(s);
      std::memcpy(reinterpret_cast<void *>(dst), bytes.data(), size);
      return;
    }
    if (source == Kind::Pinned)
      pendingIn.push_back({now, src, size, hashBytes(bytes.data(), size)});
    if (to != Kind::Pinned) {
      std::memcpy(reinterpret_cast<void *>(dst), bytes.data(), size);
      return;
    }
    // Pinned sources this copy overwrites were read before it, in stream
    // order (else the race check reported it): their check ends here.
    for (auto it = pendingIn.begin(); it != pendingIn.end();) {
      bool overlaps = it->src < dst + size && dst < it->src + it->size;
      if (overlaps && ordered(it->at, s) && !(it->at.stream == s &&
                                               it->at.tick == now.tick)) {
        checkSource(*it, "before a later copy overwrote it");
        it = pendingIn.erase(it);
      } else {
        ++it;
      }
    }
    pendingOut.push_back({now, dst, std::move(bytes)});
    std::memset(reinterpret_cast<void *>(dst), 0xFF, size);
  }

  /// Reserves the device address space (inaccessible until allocated).
  bool reserveArena() {
    for (size_t gib : {256, 64, 16, 4}) {
      size_t size = gib << 30;
      void *p = mmap(nullptr, size, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (p != MAP_FAILED) {
        arena = static_cast<char *>(p);
        arenaSize = size;
        return true;
      }
    }
    return false;
  }

  CUresult allocate(const char *fn, CUdeviceptr *p, size_t size, bool managed,
                    bool pinnedHost) {
    if (!p)
      return error(fn, CUDA_ERROR_INVALID_VALUE, "null result pointer");
    if (size == 0)
      return error(fn, CUDA_ERROR_INVALID_VALUE, "zero-byte allocation");
    if (!arena && !reserveArena())
      return error(fn, CUDA_ERROR_OUT_OF_MEMORY,
                   "cannot reserve address space for device memory");
    const size_t page = 4096;
    size_t rounded = (size + 255) / 256 * 256;
    size_t pages = (rounded + page - 1) / page * page;
    if (arenaUsed + pages + page > arenaSize)
      return error(fn, CUDA_ERROR_OUT_OF_MEMORY,
                   "%zu bytes: the fake's %zu GiB of device address space "
                   "are used up",
                   size, arenaSize >> 30);
    char *region = arena + arenaUsed;
    if (mprotect(region, pages, PROT_READ | PROT_WRITE) != 0)
      return error(fn, CUDA_ERROR_OUT_OF_MEMORY, "%zu bytes: mprotect failed",
                   size);
    arenaUsed += pages + page; // and a guard page
    char *mem = region + pages - rounded;
    std::memset(mem, 0xFF, rounded);
    uint64_t base = reinterpret_cast<uintptr_t>(mem);
    Allocation a;
    a.base = base;
    a.size = size;
    a.managed = managed;
    a.pinnedHost = pinnedHost;
    allocations[base] = a;
    *p = base;
    return CUDA_SUCCESS;
  }

  /// A pinned block freed while copies the host has not synchronised with
  /// use it: the driver would wait for them, but the runtime must not rely
  /// on it (it frees staging blocks only when idle), so it is reported.
  void dropPending(const char *fn, uint64_t p, size_t size) {
    auto inside = [&](uint64_t a) { return a >= p && a < p + size; };
    size_t outs = 0, ins = 0;
    for (auto it = pendingOut.begin(); it != pendingOut.end();)
      if (inside(it->dst) && !hostSaw(it->at))
        it = pendingOut.erase(it), ++outs;
      else
        ++it;
    for (auto it = pendingIn.begin(); it != pendingIn.end();)
      if (inside(it->src) && !hostSaw(it->at))
        it = pendingIn.erase(it), ++ins;
      else
        ++it;
    if (outs || ins)
      misuse("%s of pinned block 0x%llx while %zu asynchronous cop%s into "
             "and %zu out of it are not synchronised with",
             fn, (unsigned long long)p, outs, outs == 1 ? "y" : "ies", ins);
  }

  CUresult release(const char *fn, uint64_t p, bool pinnedHost) {
    auto it = allocations.find(p);
    if (it == allocations.end() || it->second.pinnedHost != pinnedHost) {
      if (wasFreed(p))
        return error(fn, CUDA_ERROR_INVALID_VALUE,
                     "0x%llx was already freed", (unsigned long long)p);
      return error(fn, CUDA_ERROR_INVALID_VALUE,
                   "0x%llx is not the start of a live %s allocation",
                   (unsigned long long)p, pinnedHost ? "pinned host" : "device");
    }
    if (pinnedHost)
      dropPending(fn, p, it->second.size);
    hostWaitsForAll(); // cuMemFree and cuMemFreeHost synchronise
    freed[p] = it->second.size;
    // Give the pages back and make them fault: the address range is never
    // handed out again.
    const uintptr_t page = 4096;
    uintptr_t first = p & ~(page - 1);
    uintptr_t end = (p + (it->second.size + 255) / 256 * 256 + page - 1) &
                    ~(page - 1);
    void *region = reinterpret_cast<void *>(first);
    madvise(region, end - first, MADV_DONTNEED);
    mprotect(region, end - first, PROT_NONE);
    allocations.erase(it);
    return CUDA_SUCCESS;
  }
};

State &state() {
  // Never destroyed: programs unload modules and free memory from their
  // global destructors, which may run after this library's.
  static State *s = new State;
  return *s;
}

void State::printStats() {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  auto calls = [&](const char *fn) {
    auto it = S.calls.find(fn);
    return static_cast<long long>(it == S.calls.end() ? 0 : it->second);
  };
  std::fprintf(stderr,
               "fake CUDA: stats: cuMemAllocHost_v2 %lld, "
               "cuMemcpyHtoDAsync_v2 %lld, cuMemcpyDtoHAsync_v2 %lld, "
               "cuStreamSynchronize %lld, pageable copies %lld, races %lld, "
               "misuses %lld, bytes to device %lld, bytes to host %lld\n",
               calls("cuMemAllocHost_v2"), calls("cuMemcpyHtoDAsync_v2"),
               calls("cuMemcpyDtoHAsync_v2"), calls("cuStreamSynchronize"),
               static_cast<long long>(S.pageableCopies),
               static_cast<long long>(S.races),
               static_cast<long long>(S.misuses),
               static_cast<long long>(S.hostToDeviceBytes),
               static_cast<long long>(S.deviceToHostBytes));
}

#define SSMC_ENTER(name, ...)                                                  \
  State &S = state();                                                          \
  std::unique_lock<std::mutex> lock(S.mutex);                                  \
  if (CUresult injected = S.enter(name, ##__VA_ARGS__))                        \
    return injected;

#define SSMC_REQUIRE_INIT(name)                                                \
  if (!S.initialized)                                                          \
    return S.error(name, CUDA_ERROR_NOT_INITIALIZED, "cuInit was not called");

//===- PTX parsing ---------------------------------------------------------===//

size_t ptxTypeSize(const std::string &t) {
  static const std::map<std::string, size_t> sizes = {
      {".b8", 1},  {".u8", 1},  {".s8", 1},  {".b16", 2}, {".u16", 2},
      {".s16", 2}, {".f16", 2}, {".bf16", 2}, {".b32", 4}, {".u32", 4},
      {".s32", 4}, {".f32", 4}, {".b64", 8}, {".u64", 8}, {".s64", 8},
      {".f64", 8}, {".pred", 1}};
  auto it = sizes.find(t);
  return it == sizes.end() ? 0 : it->second;
}

/// Removes // and /* */ comments.
std::string stripComments(const std::string &text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "//") == 0) {
      while (i < text.size() && text[i] != '\n')
        ++i;
      out += '\n';
    } else if (text.compare(i, 2, "/*") == 0) {
      size_t end = text.find("*/", i + 2);
      i = end == std::string::npos ? text.size() : end + 1;
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$' ||
         c == '.' || c == '%';
}

/// Parses the .entry declarations of `text` into `m`; a log line and false
/// on malformed input.
bool parsePtx(const std::string &raw, Module &m, std::string &log) {
  std::string text = stripComments(raw);
  if (text.find(".version") == std::string::npos ||
      text.find(".target") == std::string::npos) {
    log = "ptxas fatal   : (fake JIT) input is not PTX: no .version/.target "
          "directive";
    return false;
  }
  size_t pos = 0;
  while ((pos = text.find(".entry", pos)) != std::string::npos) {
    size_t i = pos + 6;
    pos = i;
    if (i < text.size() && isIdentChar(text[i]))
      continue; // e.g. ".entryfoo" is no directive
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    size_t nameStart = i;
    while (i < text.size() && isIdentChar(text[i]))
      ++i;
    std::string name = text.substr(nameStart, i - nameStart);
    if (name.empty()) {
      log = "ptxas fatal   : (fake JIT) .entry without a name";
      return false;
    }
    auto f = std::make_unique<Function>();
    f->module = &m;
    f->name = name;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    if (i < text.size() && text[i] == '(') {
      size_t close = text.find(')', i);
      if (close == std::string::npos) {
        log = "ptxas fatal   : (fake JIT) unterminated parameter list of " +
              name;
        return false;
      }
      std::string list = text.substr(i + 1, close - i - 1);
      size_t start = 0;
      while (start <= list.size()) {
        size_t comma = list.find(',', start);
        if (comma == std::string::npos)
          comma = list.size();
        std::string decl = list.substr(start, comma - start);
        start = comma + 1;
        std::vector<std::string> tokens;
        size_t t = 0;
        while (t < decl.size()) {
          while (t < decl.size() &&
                 std::isspace(static_cast<unsigned char>(decl[t])))
            ++t;
          size_t b = t;
          while (t < decl.size() &&
                 !std::isspace(static_cast<unsigned char>(decl[t])))
            ++t;
          if (t > b)
            tokens.push_back(decl.substr(b, t - b));
        }
        if (tokens.empty())
          continue;
        if (tokens[0] != ".param") {
          log = "ptxas fatal   : (fake JIT) parameter of " + name +
                " is not a .param: '" + decl + "'";
          return false;
        }
        size_t elem = 0;
        for (const std::string &tok : tokens)
          if (!elem)
            elem = ptxTypeSize(tok);
        if (!elem) {
          log = "ptxas fatal   : (fake JIT) parameter of " + name +
                " has no known type: '" + decl + "'";
          return false;
        }
        size_t count = 1;
        const std::string &last = tokens.back();
        size_t bracket = last.find('[');
        if (bracket != std::string::npos)
          count = std::strtoull(last.c_str() + bracket + 1, nullptr, 10);
        f->params.push_back(Param{elem * count});
      }
    }
    if (m.functions.count(name)) {
      log = "ptxas fatal   : (fake JIT) duplicate .entry " + name;
      return false;
    }
    m.functions[name] = std::move(f);
  }
  return true;
}

constexpr int CU_JIT_INFO_LOG_BUFFER = 3;
constexpr int CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES = 4;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;

/// Writes `log` into the buffer option pair (buffer, size) if given, and
/// the bytes written (with the NUL) back into the size option.
void writeLog(unsigned n, int *options, void **values, int bufferOpt,
              int sizeOpt, const std::string &log) {
  char *buffer = nullptr;
  int sizeIndex = -1;
  for (unsigned i = 0; i < n; ++i) {
    if (options[i] == bufferOpt)
      buffer = static_cast<char *>(values[i]);
    if (options[i] == sizeOpt)
      sizeIndex = static_cast<int>(i);
  }
  if (!buffer || sizeIndex < 0)
    return;
  size_t size = static_cast<size_t>(reinterpret_cast<uintptr_t>(values[sizeIndex]));
  if (size == 0)
    return;
  size_t len = std::min(log.size(), size - 1);
  std::memcpy(buffer, log.data(), len);
  buffer[len] = 0;
  values[sizeIndex] = reinterpret_cast<void *>(static_cast<uintptr_t>(len + 1));
}

CUresult loadModule(const char *fn, void **module, const void *image,
                    unsigned n, int *options, void **values) {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  ++S.calls[fn];
  SSMC_REQUIRE_INIT(fn)
  if (!module || !image)
    return S.error(fn, CUDA_ERROR_INVALID_VALUE, "null module or image");
  if (n && (!options || !values))
    return S.error(fn, CUDA_ERROR_INVALID_VALUE, "null JIT option arrays");
  // An injected failure of this call: a JIT error with a log.
  if (S.injectedHere(fn)) {
    std::string log = "ptxas fatal   : (fake JIT) failure injected by "
                      "SSMC_FAKE_CUDA_FAIL into call " +
                      std::to_string(S.calls[fn]) + " of " + fn;
    writeLog(n, options, values, CU_JIT_ERROR_LOG_BUFFER,
             CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, log);
    return S.error(fn, CUDA_ERROR_INVALID_PTX, "%s", log.c_str());
  }
  const unsigned char *bytes = static_cast<const unsigned char *>(image);
  if (bytes[0] == 0x7f && bytes[1] == 'E' && bytes[2] == 'L' && bytes[3] == 'F')
    return S.error(fn, CUDA_ERROR_NOT_SUPPORTED,
                   "the image is a cubin (ELF); the fake driver loads PTX "
                   "text only");
  uint32_t magic;
  std::memcpy(&magic, bytes, 4);
  if (magic == 0xBA55ED50u || magic == 0x466243B1u)
    return S.error(fn, CUDA_ERROR_NOT_SUPPORTED,
                   "the image is a fatbinary; the fake driver loads PTX text "
                   "only");
  std::string text(static_cast<const char *>(image));
  auto m = std::make_unique<Module>();
  m->hash = ssmcHostTwinImageHash(text.data(), text.size());
  std::string log;
  if (!parsePtx(text, *m, log)) {
    writeLog(n, options, values, CU_JIT_ERROR_LOG_BUFFER,
             CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, log);
    return S.error(fn, CUDA_ERROR_INVALID_PTX, "%s", log.c_str());
  }
  writeLog(n, options, values, CU_JIT_INFO_LOG_BUFFER,
           CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES,
           "info    : (fake JIT) " + std::to_string(m->functions.size()) +
               " entries");
  for (auto &[name, fnc] : m->functions)
    S.functions.insert(fnc.get());
  Module *raw = m.release(); // kept after unload, to recognise stale handles
  S.modules.insert(raw);
  *module = raw;
  return CUDA_SUCCESS;
}

const int fakeContext = 0;

} // namespace

extern "C" {

CUresult cuInit(unsigned flags) {
  SSMC_ENTER("cuInit")
  if (flags != 0)
    return S.error("cuInit", CUDA_ERROR_INVALID_VALUE, "flags must be 0");
  S.initialized = true;
  return CUDA_SUCCESS;
}

CUresult cuDriverGetVersion(int *version) {
  SSMC_ENTER("cuDriverGetVersion")
  if (!version)
    return S.error("cuDriverGetVersion", CUDA_ERROR_INVALID_VALUE, "null");
  *version = 12040;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
  SSMC_ENTER("cuDeviceGetCount")
  SSMC_REQUIRE_INIT("cuDeviceGetCount")
  if (!count)
    return S.error("cuDeviceGetCount", CUDA_ERROR_INVALID_VALUE, "null");
  *count = S.deviceCount;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(int *device, int ordinal) {
  SSMC_ENTER("cuDeviceGet")
  SSMC_REQUIRE_INIT("cuDeviceGet")
  if (!device)
    return S.error("cuDeviceGet", CUDA_ERROR_INVALID_VALUE, "null");
  if (ordinal < 0 || ordinal >= S.deviceCount)
    return S.error("cuDeviceGet", CUDA_ERROR_INVALID_DEVICE,
                   "ordinal %d of %d devices", ordinal, S.deviceCount);
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int size, int device) {
  SSMC_ENTER("cuDeviceGetName")
  SSMC_REQUIRE_INIT("cuDeviceGetName")
  if (!name || size <= 0)
    return S.error("cuDeviceGetName", CUDA_ERROR_INVALID_VALUE, "no buffer");
  if (device < 0 || device >= S.deviceCount)
    return S.error("cuDeviceGetName", CUDA_ERROR_INVALID_DEVICE, "device %d",
                   device);
  std::snprintf(name, size, "ssmc fake CUDA device");
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *value, int attribute, int device) {
  SSMC_ENTER("cuDeviceGetAttribute")
  SSMC_REQUIRE_INIT("cuDeviceGetAttribute")
  if (!value || device < 0 || device >= S.deviceCount)
    return S.error("cuDeviceGetAttribute", CUDA_ERROR_INVALID_VALUE,
                   "null value or bad device %d", device);
  switch (attribute) {
  case 75: *value = 9; return CUDA_SUCCESS;  // compute capability major
  case 76: *value = 0; return CUDA_SUCCESS;  // compute capability minor
  case 16: *value = 132; return CUDA_SUCCESS; // multiprocessors
  case 1: *value = 1024; return CUDA_SUCCESS; // max threads per block
  case 8: *value = 49152; return CUDA_SUCCESS; // shared memory per block
  case 97: *value = S.sharedOptIn; return CUDA_SUCCESS; // opt-in maximum
  case 10: *value = 32; return CUDA_SUCCESS;  // warp size
  default:
    return S.error("cuDeviceGetAttribute", CUDA_ERROR_INVALID_VALUE,
                   "attribute %d is not modelled", attribute);
  }
}

CUresult cuDevicePrimaryCtxRetain(void **context, int device) {
  SSMC_ENTER("cuDevicePrimaryCtxRetain")
  SSMC_REQUIRE_INIT("cuDevicePrimaryCtxRetain")
  if (!context)
    return S.error("cuDevicePrimaryCtxRetain", CUDA_ERROR_INVALID_VALUE, "null");
  if (device < 0 || device >= S.deviceCount)
    return S.error("cuDevicePrimaryCtxRetain", CUDA_ERROR_INVALID_DEVICE,
                   "device %d", device);
  *context = const_cast<int *>(&fakeContext);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(int device) {
  SSMC_ENTER("cuDevicePrimaryCtxRelease_v2")
  SSMC_REQUIRE_INIT("cuDevicePrimaryCtxRelease_v2")
  (void)device;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCurrent(void *context) {
  SSMC_ENTER("cuCtxSetCurrent")
  SSMC_REQUIRE_INIT("cuCtxSetCurrent")
  if (context && context != &fakeContext)
    return S.error("cuCtxSetCurrent", CUDA_ERROR_INVALID_CONTEXT,
                   "unknown context %p", context);
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize() {
  SSMC_ENTER("cuCtxSynchronize")
  SSMC_REQUIRE_INIT("cuCtxSynchronize")
  S.hostWaitsForAll();
  return CUDA_SUCCESS;
}

CUresult cuGetErrorString(CUresult error, const char **text) {
  // Not counted nor injectable: the runtime uses it to report failures.
  if (!text)
    return CUDA_ERROR_INVALID_VALUE;
  *text = errorString(error);
  return *text ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuGetErrorName(CUresult error, const char **text) {
  if (!text)
    return CUDA_ERROR_INVALID_VALUE;
  *text = errorName(error);
  return *text ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE;
}

CUresult cuModuleLoadData(void **module, const void *image) {
  return loadModule("cuModuleLoadData", module, image, 0, nullptr, nullptr);
}

CUresult cuModuleLoadDataEx(void **module, const void *image, unsigned n,
                            int *options, void **values) {
  return loadModule("cuModuleLoadDataEx", module, image, n, options, values);
}

CUresult cuModuleUnload(void *module) {
  SSMC_ENTER("cuModuleUnload")
  SSMC_REQUIRE_INIT("cuModuleUnload")
  auto *m = static_cast<Module *>(module);
  if (!S.modules.count(m))
    return S.error("cuModuleUnload", CUDA_ERROR_INVALID_HANDLE,
                   "unknown module %p", module);
  if (!m->loaded)
    return S.error("cuModuleUnload", CUDA_ERROR_INVALID_HANDLE,
                   "module %p was already unloaded", module);
  m->loaded = false;
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(void **function, void *module, const char *name) {
  SSMC_ENTER("cuModuleGetFunction", CUDA_ERROR_NOT_FOUND)
  SSMC_REQUIRE_INIT("cuModuleGetFunction")
  auto *m = static_cast<Module *>(module);
  if (!function || !name)
    return S.error("cuModuleGetFunction", CUDA_ERROR_INVALID_VALUE,
                   "null result or name");
  if (!S.modules.count(m))
    return S.error("cuModuleGetFunction", CUDA_ERROR_INVALID_HANDLE,
                   "unknown module %p (looking up '%s')", module, name);
  if (!m->loaded)
    return S.error("cuModuleGetFunction", CUDA_ERROR_INVALID_HANDLE,
                   "module %p was unloaded (looking up '%s')", module, name);
  auto it = m->functions.find(name);
  if (it == m->functions.end())
    return S.error("cuModuleGetFunction", CUDA_ERROR_NOT_FOUND,
                   "the module has no .entry '%s'", name);
  *function = it->second.get();
  return CUDA_SUCCESS;
}

CUresult cuFuncSetAttribute(void *function, int attribute, int value) {
  const char *fn = "cuFuncSetAttribute";
  SSMC_ENTER(fn)
  SSMC_REQUIRE_INIT(fn)
  auto *f = static_cast<Function *>(function);
  if (!S.functions.count(f))
    return S.error(fn, CUDA_ERROR_INVALID_HANDLE, "unknown function %p",
                   function);
  if (attribute != 8) // CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "kernel '%s': attribute %d is not modelled",
                   f->name.c_str(), attribute);
  if (value < 0 || value > S.sharedOptIn)
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "kernel '%s': %d bytes of dynamic shared memory exceed "
                   "the device's opt-in maximum of %d",
                   f->name.c_str(), value, S.sharedOptIn);
  f->maxDynamicShared = value;
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(void *function, unsigned gridX, unsigned gridY,
                        unsigned gridZ, unsigned blockX, unsigned blockY,
                        unsigned blockZ, unsigned smem, void *stream,
                        void **params, void **extra) {
  const char *fn = "cuLaunchKernel";
  SSMC_ENTER(fn, CUDA_ERROR_LAUNCH_FAILED)
  SSMC_REQUIRE_INIT(fn)
  auto *f = static_cast<Function *>(function);
  if (!S.functions.count(f))
    return S.error(fn, CUDA_ERROR_INVALID_HANDLE, "unknown function %p",
                   function);
  if (!f->module->loaded)
    return S.error(fn, CUDA_ERROR_INVALID_HANDLE,
                   "the module of kernel '%s' was unloaded", f->name.c_str());
  Stream *s = S.stream(stream);
  if (!s)
    return S.error(fn, CUDA_ERROR_INVALID_HANDLE, "unknown stream %p", stream);
  if (!gridX || !gridY || !gridZ || !blockX || !blockY || !blockZ)
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "kernel '%s': zero grid or block dimension (%u,%u,%u) x "
                   "(%u,%u,%u)",
                   f->name.c_str(), gridX, gridY, gridZ, blockX, blockY,
                   blockZ);
  if (uint64_t(blockX) * blockY * blockZ > 1024 || blockZ > 64 ||
      gridY > 65535 || gridZ > 65535)
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "kernel '%s': launch dimensions (%u,%u,%u) x (%u,%u,%u) "
                   "exceed the device limits",
                   f->name.c_str(), gridX, gridY, gridZ, blockX, blockY,
                   blockZ);
  if (int64_t(smem) > f->maxDynamicShared)
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "kernel '%s': %u bytes of dynamic shared memory exceed "
                   "its limit of %d (over 48 KiB needs a cuFuncSetAttribute "
                   "opt-in before the launch)",
                   f->name.c_str(), smem, f->maxDynamicShared);
  f->lastLaunchShared = smem;
  if (extra)
    return S.error(fn, CUDA_ERROR_NOT_SUPPORTED,
                   "kernel '%s': the `extra` parameter form is not modelled",
                   f->name.c_str());
  size_t n = f->params.size();
  if (n && !params)
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "kernel '%s' takes %zu parameters; kernelParams is null",
                   f->name.c_str(), n);
  for (size_t i = 0; i < n; ++i)
    if (!params[i])
      return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                     "kernel '%s': kernelParams[%zu] is null", f->name.c_str(),
                     i);
  auto twin = S.twins.find({f->module->hash, f->name});
  if (twin == S.twins.end())
    return S.error(fn, CUDA_ERROR_NOT_FOUND,
                   "no host twin registered for kernel '%s' (image hash "
                   "0x%016llx): the program was not compiled with host twins",
                   f->name.c_str(), (unsigned long long)f->module->hash);
  // Race bookkeeping: every 8-byte parameter that points into an
  // allocation is taken as read and written by the kernel.
  S.issue(s);
  for (size_t i = 0; i < n; ++i) {
    if (f->params[i].size != 8)
      continue;
    uint64_t value;
    std::memcpy(&value, params[i], 8);
    if (Allocation *a = S.find(value))
      S.access(*a, s, /*write=*/true, "kernel '" + f->name + "'");
    else if (S.wasFreed(value))
      return S.error(fn, CUDA_ERROR_ILLEGAL_ADDRESS,
                     "kernel '%s': parameter %zu (0x%llx) points into freed "
                     "device memory",
                     f->name.c_str(), i, (unsigned long long)value);
  }
  std::vector<void *> args(params, params + n);
  int64_t dims[7] = {gridX, gridY, gridZ, blockX, blockY, blockZ, smem};
  for (int64_t &d : dims)
    args.push_back(&d);
  SsmcHostTwinFn run = twin->second;
  lock.unlock(); // the twin may take long and uses no driver call
  run(args.data());
  return CUDA_SUCCESS;
}

CUresult cuStreamCreate(void **stream, unsigned flags) {
  SSMC_ENTER("cuStreamCreate")
  SSMC_REQUIRE_INIT("cuStreamCreate")
  if (!stream || flags > 1)
    return S.error("cuStreamCreate", CUDA_ERROR_INVALID_VALUE,
                   "null result or flags %u", flags);
  auto *s = new Stream;
  S.streams.insert(s);
  *stream = s;
  return CUDA_SUCCESS;
}

CUresult cuStreamDestroy_v2(void *stream) {
  SSMC_ENTER("cuStreamDestroy_v2")
  SSMC_REQUIRE_INIT("cuStreamDestroy_v2")
  Stream *s = S.stream(stream);
  if (!s || s->isDefault)
    return S.error("cuStreamDestroy_v2", CUDA_ERROR_INVALID_HANDLE,
                   "unknown stream %p", stream);
  // Pending work completes on its own; clocks keep the pointer as a key
  // only, so the stream object is kept (it may still be named there).
  S.streams.erase(s);
  S.retired.push_back(s);
  return CUDA_SUCCESS;
}

CUresult cuStreamSynchronize(void *stream) {
  SSMC_ENTER("cuStreamSynchronize")
  SSMC_REQUIRE_INIT("cuStreamSynchronize")
  Stream *s = S.stream(stream);
  if (!s)
    return S.error("cuStreamSynchronize", CUDA_ERROR_INVALID_HANDLE,
                   "unknown stream %p", stream);
  S.hostWaitsFor(s);
  return CUDA_SUCCESS;
}

CUresult cuStreamWaitEvent(void *stream, void *event, unsigned flags) {
  SSMC_ENTER("cuStreamWaitEvent")
  SSMC_REQUIRE_INIT("cuStreamWaitEvent")
  Stream *s = S.stream(stream);
  auto *e = static_cast<Event *>(event);
  if (!s || !S.events.count(e) || flags != 0)
    return S.error("cuStreamWaitEvent", CUDA_ERROR_INVALID_HANDLE,
                   "unknown stream %p or event %p, or flags %u", stream, event,
                   flags);
  merge(s->clock, e->clock); // an unrecorded event: no wait
  return CUDA_SUCCESS;
}

CUresult cuEventCreate(void **event, unsigned flags) {
  SSMC_ENTER("cuEventCreate")
  SSMC_REQUIRE_INIT("cuEventCreate")
  if (!event || flags > 7)
    return S.error("cuEventCreate", CUDA_ERROR_INVALID_VALUE,
                   "null result or flags %u", flags);
  auto *e = new Event;
  e->flags = flags;
  S.events.insert(e);
  *event = e;
  return CUDA_SUCCESS;
}

CUresult cuEventDestroy_v2(void *event) {
  SSMC_ENTER("cuEventDestroy_v2")
  SSMC_REQUIRE_INIT("cuEventDestroy_v2")
  auto *e = static_cast<Event *>(event);
  if (!S.events.erase(e))
    return S.error("cuEventDestroy_v2", CUDA_ERROR_INVALID_HANDLE,
                   "unknown event %p", event);
  delete e;
  return CUDA_SUCCESS;
}

CUresult cuEventRecord(void *event, void *stream) {
  SSMC_ENTER("cuEventRecord")
  SSMC_REQUIRE_INIT("cuEventRecord")
  auto *e = static_cast<Event *>(event);
  Stream *s = S.stream(stream);
  if (!S.events.count(e) || !s)
    return S.error("cuEventRecord", CUDA_ERROR_INVALID_HANDLE,
                   "unknown event %p or stream %p", event, stream);
  merge(s->clock, S.host);
  e->clock = s->clock;
  e->recorded = true;
  e->time = std::chrono::steady_clock::now();
  return CUDA_SUCCESS;
}

CUresult cuEventSynchronize(void *event) {
  SSMC_ENTER("cuEventSynchronize")
  SSMC_REQUIRE_INIT("cuEventSynchronize")
  auto *e = static_cast<Event *>(event);
  if (!S.events.count(e))
    return S.error("cuEventSynchronize", CUDA_ERROR_INVALID_HANDLE,
                   "unknown event %p", event);
  ++S.syncCalls;
  merge(S.host, e->clock);
  S.settle();
  return CUDA_SUCCESS;
}

CUresult cuEventElapsedTime(float *ms, void *start, void *stop) {
  SSMC_ENTER("cuEventElapsedTime")
  SSMC_REQUIRE_INIT("cuEventElapsedTime")
  auto *a = static_cast<Event *>(start);
  auto *b = static_cast<Event *>(stop);
  if (!ms || !S.events.count(a) || !S.events.count(b))
    return S.error("cuEventElapsedTime", CUDA_ERROR_INVALID_HANDLE,
                   "null result or unknown event");
  if ((a->flags | b->flags) & 2)
    return S.error("cuEventElapsedTime", CUDA_ERROR_INVALID_HANDLE,
                   "an event was created with CU_EVENT_DISABLE_TIMING");
  if (!a->recorded || !b->recorded)
    return S.error("cuEventElapsedTime", CUDA_ERROR_INVALID_HANDLE,
                   "an event was never recorded");
  *ms = std::chrono::duration<float, std::milli>(b->time - a->time).count();
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t size) {
  SSMC_ENTER("cuMemAlloc_v2", CUDA_ERROR_OUT_OF_MEMORY)
  SSMC_REQUIRE_INIT("cuMemAlloc_v2")
  return S.allocate("cuMemAlloc_v2", p, size, false, false);
}

CUresult cuMemAllocManaged(CUdeviceptr *p, size_t size, unsigned flags) {
  SSMC_ENTER("cuMemAllocManaged", CUDA_ERROR_OUT_OF_MEMORY)
  SSMC_REQUIRE_INIT("cuMemAllocManaged")
  if (flags != 1 && flags != 2)
    return S.error("cuMemAllocManaged", CUDA_ERROR_INVALID_VALUE, "flags %u",
                   flags);
  return S.allocate("cuMemAllocManaged", p, size, true, false);
}

CUresult cuMemAllocHost_v2(void **p, size_t size) {
  SSMC_ENTER("cuMemAllocHost_v2", CUDA_ERROR_OUT_OF_MEMORY)
  SSMC_REQUIRE_INIT("cuMemAllocHost_v2")
  CUdeviceptr d = 0;
  CUresult r = S.allocate("cuMemAllocHost_v2", p ? &d : nullptr, size, false,
                          true);
  if (r == CUDA_SUCCESS)
    *p = reinterpret_cast<void *>(d);
  return r;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  SSMC_ENTER("cuMemFree_v2")
  SSMC_REQUIRE_INIT("cuMemFree_v2")
  return S.release("cuMemFree_v2", p, false);
}

CUresult cuMemFreeHost(void *p) {
  SSMC_ENTER("cuMemFreeHost")
  SSMC_REQUIRE_INIT("cuMemFreeHost")
  return S.release("cuMemFreeHost", reinterpret_cast<uintptr_t>(p), true);
}

/// The checks of an asynchronous copy; `direction` 'H' (host to device),
/// 'D' (device to host) or 0 (cuMemcpyAsync: any, with unified addressing).
static CUresult memcpyAsync(const char *fn, uint64_t dst, uint64_t src,
                            size_t size, void *stream, char direction) {
  SSMC_ENTER(fn)
  SSMC_REQUIRE_INIT(fn)
  Stream *s = S.stream(stream);
  if (!s)
    return S.error(fn, CUDA_ERROR_INVALID_HANDLE, "unknown stream %p", stream);
  if (size == 0)
    return CUDA_SUCCESS;
  Allocation *d = nullptr, *from = nullptr;
  if (CUresult r = S.checkRange(fn, "destination", dst, size,
                                /*mustBeDevice=*/direction == 'H', &d))
    return r;
  if (CUresult r = S.checkRange(fn, "source", src, size,
                                /*mustBeDevice=*/direction == 'D', &from))
    return r;
  bool deviceTo = d && !d->pinnedHost, deviceFrom = from && !from->pinnedHost;
  if (direction == 'H' && (!deviceTo || deviceFrom))
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "needs device memory at the destination 0x%llx and host "
                   "memory at the source 0x%llx",
                   (unsigned long long)dst, (unsigned long long)src);
  if (direction == 'D' && (deviceTo || !deviceFrom))
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "needs host memory at the destination 0x%llx and device "
                   "memory at the source 0x%llx",
                   (unsigned long long)dst, (unsigned long long)src);
  S.copy(fn, dst, d, src, from, size, s);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t size,
                       void *stream) {
  return memcpyAsync("cuMemcpyAsync", dst, src, size, stream, 0);
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t size,
                              void *stream) {
  return memcpyAsync("cuMemcpyHtoDAsync_v2", dst,
                     reinterpret_cast<uintptr_t>(src), size, stream, 'H');
}

CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t size,
                              void *stream) {
  return memcpyAsync("cuMemcpyDtoHAsync_v2", reinterpret_cast<uintptr_t>(dst),
                     src, size, stream, 'D');
}

static CUresult memsetAsync(const char *fn, CUdeviceptr dst, unsigned value,
                            size_t count, size_t width, void *stream) {
  SSMC_ENTER(fn)
  SSMC_REQUIRE_INIT(fn)
  Stream *s = S.stream(stream);
  if (!s)
    return S.error(fn, CUDA_ERROR_INVALID_HANDLE, "unknown stream %p", stream);
  if (count == 0)
    return CUDA_SUCCESS;
  if (dst % width)
    return S.error(fn, CUDA_ERROR_INVALID_VALUE,
                   "destination 0x%llx is not %zu-byte aligned",
                   (unsigned long long)dst, width);
  Allocation *d = nullptr;
  if (CUresult r = S.checkRange(fn, "destination", dst, count * width,
                                /*mustBeDevice=*/true, &d))
    return r;
  S.issue(s);
  S.access(*d, s, true, fn);
  auto *out = reinterpret_cast<unsigned char *>(dst);
  for (size_t i = 0; i < count; ++i)
    std::memcpy(out + i * width, &value, width); // little-endian low bytes
  return CUDA_SUCCESS;
}

CUresult cuMemsetD32Async(CUdeviceptr dst, unsigned value, size_t count,
                          void *stream) {
  return memsetAsync("cuMemsetD32Async", dst, value, count, 4, stream);
}

CUresult cuMemsetD16Async(CUdeviceptr dst, unsigned short value, size_t count,
                          void *stream) {
  return memsetAsync("cuMemsetD16Async", dst, value, count, 2, stream);
}

//===- Test interface -------------------------------------------------------===//

/// Registers the host twin of `kernel` in the module whose image hashes to
/// `imageHash` (runtime/cuda/HostTwin.h); 0 on success. A later
/// registration of the same kernel replaces the earlier one.
int ssmcFakeCudaRegisterKernel(uint64_t imageHash, const char *kernel,
                               void (*twin)(void **args)) {
  if (!kernel || !twin)
    return CUDA_ERROR_INVALID_VALUE;
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  S.twins[{imageHash, kernel}] = twin;
  return 0;
}

/// Replaces the failure injection (SSMC_FAKE_CUDA_FAIL syntax; "" none) and
/// clears the call counts, so call numbers count from here.
void ssmcFakeCudaSetFailures(const char *spec) {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  S.setFailures(spec);
  S.calls.clear();
}

/// How many times the driver function `name` was called (since the last
/// ssmcFakeCudaSetFailures).
int64_t ssmcFakeCudaCallCount(const char *name) {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  auto it = S.calls.find(name ? name : "");
  return it == S.calls.end() ? 0 : it->second;
}

/// Synchronising calls so far (cuStreamSynchronize, cuEventSynchronize,
/// cuCtxSynchronize, cuMemFree_v2, cuMemFreeHost, and asynchronous copies
/// with pageable host memory).
int64_t ssmcFakeCudaSyncCount() {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  return S.syncCalls;
}

/// Asynchronous copies with pageable host memory on one side, which the
/// host waited for (counted among the synchronising calls too).
int64_t ssmcFakeCudaPageableCopies() {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  return S.pageableCopies;
}

/// Pinned-memory protocol violations seen so far: a pinned source changed
/// before its copy completed, a pinned block freed with copies pending.
int64_t ssmcFakeCudaMisuseCount() {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  return S.misuses;
}

/// Bytes copied so far from host to device memory (`toDevice` nonzero) or
/// from device to host memory, by every copy (staged, pageable, resident
/// uploads and downloads).
int64_t ssmcFakeCudaCopiedBytes(int toDevice) {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  return toDevice ? S.hostToDeviceBytes : S.deviceToHostBytes;
}

/// Unordered cross-stream accesses seen so far.
int64_t ssmcFakeCudaRaceCount() {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  return S.races;
}

/// Live device, managed and pinned host allocations.
int64_t ssmcFakeCudaLiveAllocations() {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  return static_cast<int64_t>(S.allocations.size());
}

/// Over the functions named `kernel`, the largest dynamic shared-memory
/// limit set with cuFuncSetAttribute (49152 when none was), or -1 when no
/// function has that name.
int64_t ssmcFakeCudaKernelSharedLimit(const char *kernel) {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  int64_t most = -1;
  for (const Function *f : S.functions)
    if (kernel && f->name == kernel)
      most = std::max<int64_t>(most, f->maxDynamicShared);
  return most;
}

/// Over the functions named `kernel`, the largest dynamic shared memory a
/// launch asked for (-1 when none was launched).
int64_t ssmcFakeCudaKernelLaunchShared(const char *kernel) {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  int64_t most = -1;
  for (const Function *f : S.functions)
    if (kernel && f->name == kernel)
      most = std::max(most, f->lastLaunchShared);
  return most;
}

/// Sets the device's opt-in maximum of dynamic shared memory per block.
void ssmcFakeCudaSetSharedOptIn(int bytes) {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  S.sharedOptIn = bytes;
}

/// The text of the last error the fake reported ("" when none); valid
/// until the next driver call.
const char *ssmcFakeCudaLastMessage() {
  State &S = state();
  std::lock_guard<std::mutex> lock(S.mutex);
  return S.lastMessage.c_str();
}

} // extern "C"
