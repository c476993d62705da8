//===- Mgpu.cpp - mgpu* over the CUDA driver API via dlopen ---------------===//
//
// The functions MLIR's gpu-to-llvm lowering calls, implemented over the
// driver API resolved with dlopen/dlsym (no CUDA runtime library, no link
// dependency on libcuda, no LLVM or MLIR: ahead-of-time objects link this
// alone). Every failure is recorded for ssmcCudaTakeError() and turns the
// remaining calls of the program into no-ops, so a missing driver or a
// driver error is reported, never a crash.
//
//===----------------------------------------------------------------------===//

#include "MgpuRuntime.h"

#include <string>

#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>

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
    if (!missing.empty()) {
      d->loadError = "libcuda.so.1 lacks driver API functions: " + missing;
      return d;
    }
    auto fail = [&](const char *what, CUresult r) {
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

thread_local std::string firstError;

/// True when the driver is usable on this thread; records why not.
bool ready() {
  Driver &d = driver();
  if (!d.loadError.empty()) {
    if (firstError.empty())
      firstError = d.loadError;
    return false;
  }
  if (!firstError.empty())
    return false; // an earlier call of this run failed: stop
  if (CUresult r = d.cuCtxSetCurrent(d.context)) {
    firstError = "cuCtxSetCurrent failed with CUDA error " + std::to_string(r);
    return false;
  }
  return true;
}

/// Records a failed driver call; true when `r` is success.
bool check(CUresult r, const char *what) {
  if (r == 0)
    return true;
  if (firstError.empty()) {
    const char *text = nullptr;
    driver().cuGetErrorString(r, &text);
    firstError = std::string(what) + " failed with CUDA error " +
                 std::to_string(r) + (text ? std::string(" (") + text + ")" : "");
  }
  return false;
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

} // namespace

extern "C" {

void *mgpuModuleLoad(void *data, size_t /*size*/) {
  CUmodule m = nullptr;
  if (ready())
    check(driver().cuModuleLoadData(&m, data), "cuModuleLoadData");
  return m;
}

void *mgpuModuleLoadJIT(void *data, int optLevel) {
  CUmodule m = nullptr;
  if (!ready())
    return m;
  int options[] = {CU_JIT_OPTIMIZATION_LEVEL};
  void *values[] = {reinterpret_cast<void *>(static_cast<intptr_t>(optLevel))};
  check(driver().cuModuleLoadDataEx(&m, data, 1, options, values),
        "cuModuleLoadDataEx (PTX JIT)");
  return m;
}

void mgpuModuleUnload(void *module) {
  if (module && ready())
    check(driver().cuModuleUnload(module), "cuModuleUnload");
}

void *mgpuModuleGetFunction(void *module, const char *name) {
  CUfunction f = nullptr;
  if (module && ready())
    check(driver().cuModuleGetFunction(&f, module, name), "cuModuleGetFunction");
  return f;
}

void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t /*paramsCount*/) {
  if (!function || !ready())
    return;
  auto launch = [&] {
    return check(driver().cuLaunchKernel(function, gridX, gridY, gridZ,
                                         blockX, blockY, blockZ, smem, stream,
                                         params, extra),
                 "cuLaunchKernel");
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
  if (stream && ready())
    check(driver().cuStreamDestroy(stream), "cuStreamDestroy");
}

void mgpuStreamSynchronize(void *stream) {
  if (ready())
    check(driver().cuStreamSynchronize(stream), "cuStreamSynchronize");
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
  if (event && ready())
    check(driver().cuEventDestroy(event), "cuEventDestroy");
}

void mgpuEventSynchronize(void *event) {
  if (event && ready())
    check(driver().cuEventSynchronize(event), "cuEventSynchronize");
}

void mgpuEventRecord(void *event, void *stream) {
  if (event && ready())
    check(driver().cuEventRecord(event, stream), "cuEventRecord");
}

void *mgpuMemAlloc(uint64_t sizeBytes, void * /*stream*/, bool isHostShared) {
  CUdeviceptr p = 0;
  if (sizeBytes == 0 || !ready())
    return nullptr;
  if (isHostShared)
    check(driver().cuMemAllocManaged(&p, sizeBytes, CU_MEM_ATTACH_GLOBAL),
          "cuMemAllocManaged");
  else
    check(driver().cuMemAlloc(&p, sizeBytes), "cuMemAlloc");
  return reinterpret_cast<void *>(p);
}

void mgpuMemFree(void *ptr, void * /*stream*/) {
  if (ptr && ready())
    check(driver().cuMemFree(reinterpret_cast<CUdeviceptr>(ptr)), "cuMemFree");
}

void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream) {
  if (sizeBytes && dst && src && ready())
    check(driver().cuMemcpyAsync(reinterpret_cast<CUdeviceptr>(dst),
                                 reinterpret_cast<CUdeviceptr>(src), sizeBytes,
                                 stream),
          "cuMemcpyAsync");
}

void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream) {
  if (count && dst && ready())
    check(driver().cuMemsetD32Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                    count, stream),
          "cuMemsetD32Async");
}

void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream) {
  if (count && dst && ready())
    check(driver().cuMemsetD16Async(reinterpret_cast<CUdeviceptr>(dst), value,
                                    count, stream),
          "cuMemsetD16Async");
}

void mgpuSetDefaultDevice(int32_t /*device*/) {}

} // extern "C"


extern "C" {

const char *ssmcCudaLoadError() { return driver().loadError.c_str(); }

int ssmcCudaTakeError(char *buffer, int size) {
  if (firstError.empty())
    return 0;
  std::snprintf(buffer, size, "%s", firstError.c_str());
  firstError.clear();
  return 1;
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
