//===- HeapAccount.cpp - the ssmcTracked* allocators -----------------------===//

#include "runtime/abi/HeapAccount.h"

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace {

/// Heap accounting for compiled code: the JIT resolves the program's
/// malloc/aligned_alloc/free to the ssmcTracked* functions below, which keep
/// the live bytes of every buffer the program allocates (process-wide).
///
/// Large buffers (>= kLargeBlock) are kept on free in a cache of at most
/// kCacheBytes and handed out again to a request of the same rounded size:
/// a decode step allocates the same temporaries every token, and returning
/// megabytes to the system and faulting them in again each time costs more
/// than the step's arithmetic (Mamba-2 130M decode: 19 -> 29 tokens/s).
///
/// Blocks of kHugeBlock and more (results and temporaries of tens to
/// hundreds of MB, beyond what the cache keeps: a 128k-token KV cache is
/// 400 MB) are aligned to 2 MB and offered to the kernel's transparent huge
/// pages (madvise MADV_HUGEPAGE), so that a fresh one faults in 2 MB at a
/// time instead of 4 KB: 98,305 minor faults a call -> ~200 for
/// attention_step's two new 400 MB caches through Jit::run.
struct HeapAccount {
  static constexpr size_t kLargeBlock = 256 * 1024;
  static constexpr size_t kCacheBytes = size_t(512) << 20;
  static constexpr size_t kLargeAlign = 64;
  static constexpr size_t kHugeBlock = size_t(16) << 20;
  static constexpr size_t kHugePage = size_t(2) << 20;

  std::mutex mutex;
  std::unordered_map<void *, size_t> sizes; ///< live buffer -> bytes asked
  std::unordered_map<void *, size_t> large; ///< live large buffer -> capacity
  std::multimap<size_t, void *> cache;      ///< capacity -> free large block
  std::deque<std::pair<size_t, void *>> cacheOrder; ///< oldest first
  size_t current = 0, peak = 0, cached = 0;

  static size_t capacityFor(size_t n) {
    if (n >= kHugeBlock)
      return (n + kHugePage - 1) & ~(kHugePage - 1);
    return (n + 4095) & ~size_t(4095);
  }

  /// A new large block of `cap` bytes (see kHugeBlock).
  static void *newLargeBlock(size_t cap) {
    if (cap < kHugeBlock)
      return std::aligned_alloc(kLargeAlign, cap);
    void *p = std::aligned_alloc(kHugePage, cap);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p)
      (void)madvise(p, cap, MADV_HUGEPAGE); // advice: ignored where THP is off
#endif
    return p;
  }

  void *allocate(size_t alignment, size_t n) {
    if (n < kLargeBlock || alignment > kLargeAlign) {
      void *p = alignment ? std::aligned_alloc(alignment,
                                               (n + alignment - 1) /
                                                   alignment * alignment)
                          : std::malloc(n);
      add(p, n, 0);
      return p;
    }
    size_t cap = capacityFor(n);
    void *p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (auto it = cache.find(cap); it != cache.end()) {
        p = it->second;
        cache.erase(it);
        cached -= cap;
        for (auto o = cacheOrder.begin(); o != cacheOrder.end(); ++o)
          if (o->second == p) {
            cacheOrder.erase(o);
            break;
          }
      }
    }
    if (!p)
      p = newLargeBlock(cap);
    add(p, n, cap);
    return p;
  }

  void add(void *p, size_t n, size_t cap) {
    if (!p)
      return;
    std::lock_guard<std::mutex> lock(mutex);
    sizes[p] = n;
    if (cap)
      large[p] = cap;
    current += n;
    peak = std::max(peak, current);
  }

  /// Releases `p`: untracked pointers go to free(), large tracked blocks to
  /// the cache (evicting the oldest beyond kCacheBytes).
  void release(void *p) {
    std::vector<void *> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = sizes.find(p);
      if (it != sizes.end()) {
        current -= it->second;
        sizes.erase(it);
      }
      auto l = large.find(p);
      if (l == large.end()) {
        evicted.push_back(p);
      } else {
        size_t cap = l->second;
        large.erase(l);
        cache.emplace(cap, p);
        cacheOrder.emplace_back(cap, p);
        cached += cap;
        while (cached > kCacheBytes && !cacheOrder.empty()) {
          auto [ocap, op] = cacheOrder.front();
          cacheOrder.pop_front();
          for (auto [b, e] = cache.equal_range(ocap); b != e; ++b)
            if (b->second == op) {
              cache.erase(b);
              break;
            }
          cached -= ocap;
          evicted.push_back(op);
        }
      }
    }
    for (void *q : evicted)
      std::free(q);
  }
};
HeapAccount &heapAccount() {
  static HeapAccount *account = new HeapAccount; // outlives every Jit
  return *account;
}

} // namespace

extern "C" {

void *ssmcTrackedMalloc(size_t n) { return heapAccount().allocate(0, n); }

void *ssmcTrackedAlignedAlloc(size_t alignment, size_t n) {
  return heapAccount().allocate(alignment, n);
}

void ssmcTrackedFree(void *p) {
  if (p)
    heapAccount().release(p);
}

} // extern "C"

namespace ssmc::abi {

size_t startHeapPeak() {
  HeapAccount &heap = heapAccount();
  std::lock_guard<std::mutex> lock(heap.mutex);
  heap.peak = heap.current;
  return heap.current;
}

size_t heapPeakAbove(size_t before) {
  HeapAccount &heap = heapAccount();
  std::lock_guard<std::mutex> lock(heap.mutex);
  return heap.peak - std::min(heap.peak, before);
}

} // namespace ssmc::abi
