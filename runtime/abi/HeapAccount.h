//===- HeapAccount.h - heap accounting for JIT-compiled code ----*- C++ -*-===//
//
// The JIT resolves a compiled program's malloc, aligned_alloc and free to
// the ssmcTracked* functions below, which keep the live bytes of every
// buffer the program allocates (process-wide), so that a call's peak heap
// can be reported (Jit::lastCallPeakHeapBytes), and which keep freed large
// blocks for reuse (see HeapAccount.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_RUNTIME_ABI_HEAPACCOUNT_H
#define SSMC_RUNTIME_ABI_HEAPACCOUNT_H

#include <cstddef>

extern "C" {
void *ssmcTrackedMalloc(size_t n);
void *ssmcTrackedAlignedAlloc(size_t alignment, size_t n);
/// Accepts pointers the tracked allocators did not return (they go to
/// free()).
void ssmcTrackedFree(void *p);
}

namespace ssmc::abi {

/// Starts measuring a call's peak: the bytes live now, which become the
/// peak so far.
size_t startHeapPeak();
/// Peak live bytes since startHeapPeak() returned `before`, above `before`.
/// The accounting is process-wide: concurrent calls add to it.
size_t heapPeakAbove(size_t before);

} // namespace ssmc::abi

#endif // SSMC_RUNTIME_ABI_HEAPACCOUNT_H
