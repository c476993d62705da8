//===- Residency.cpp - device-resident buffers ----------------------------===//

#include "Residency.h"

#include "MgpuRuntime.h"

#include <atomic>
#include <map>
#include <mutex>

namespace {

/// Start address -> size of every live resident allocation.
struct Registry {
  std::mutex mutex;
  std::map<uintptr_t, size_t> allocations;
  std::atomic<int64_t> hits{0};
};

Registry &registry() {
  static Registry *r = new Registry; // outlives static destructors
  return *r;
}

} // namespace

extern "C" {

void *ssmcCudaResidentAlloc(size_t bytes) {
  if (bytes == 0)
    return nullptr;
  void *p = mgpuMemAlloc(bytes, /*stream=*/nullptr, /*isHostShared=*/true);
  if (!p)
    return nullptr;
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  return p;
}

void ssmcCudaResidentFree(void *pointer) {
  if (!pointer)
    return;
  {
    Registry &r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.allocations.erase(reinterpret_cast<uintptr_t>(pointer));
  }
  mgpuMemFree(pointer, /*stream=*/nullptr);
}

int32_t ssmcCudaIsResident(int64_t address, int64_t bytes) {
  if (address == 0 || bytes <= 0)
    return 0;
  Registry &r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  if (r.allocations.empty())
    return 0;
  auto a = static_cast<uintptr_t>(address);
  auto it = r.allocations.upper_bound(a);
  if (it == r.allocations.begin())
    return 0;
  --it;
  if (a + static_cast<uintptr_t>(bytes) > it->first + it->second)
    return 0;
  r.hits.fetch_add(1, std::memory_order_relaxed);
  return 1;
}

int64_t ssmcCudaResidentHits() { return registry().hits.load(); }

void ssmcCudaResidentUpload(void *device, const void *host, size_t bytes) {
  if (bytes == 0)
    return;
  mgpuMemcpy(device, const_cast<void *>(host), bytes, /*stream=*/nullptr);
  mgpuStreamSynchronize(nullptr);
}

void ssmcCudaResidentDownload(void *host, const void *device, size_t bytes) {
  if (bytes == 0)
    return;
  mgpuMemcpy(host, const_cast<void *>(device), bytes, /*stream=*/nullptr);
  mgpuStreamSynchronize(nullptr);
}

} // extern "C"
