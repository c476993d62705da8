//===- AotSupport.cpp - memrefCopy for ahead-of-time objects --------------===//
//
// An ssm program compiled to an object (ssmc-run --emit=object) calls
// memrefCopy for strided buffer copies (the JIT takes it from
// libmlir_c_runner_utils) and ssmcShapeError when a run-time shape check
// fails (ShapeError.cpp). This file provides memrefCopy, with no LLVM or
// MLIR dependency.
//
//===----------------------------------------------------------------------===//

#include "runtime/abi/MemRef.h"

#include <cstdint>
#include <cstring>
#include <vector>

using ssmc::abi::DescriptorRef;
using ssmc::abi::UnrankedMemRef;

extern "C" {

/// Copies the strided memref `src` into `dst` (same shape), elementSize
/// bytes per element.
void memrefCopy(int64_t elementSize, UnrankedMemRef *src,
                UnrankedMemRef *dst) {
  const int64_t rank = src->rank;
  DescriptorRef from(src->descriptor, rank), to(dst->descriptor, rank);
  char *s = from.data(elementSize), *d = to.data(elementSize);
  const int64_t *sizes = from.sizes(), *ss = from.strides(),
                *ds = to.strides();
  int64_t total = 1;
  for (int64_t i = 0; i < rank; ++i)
    total *= sizes[i];
  if (total == 0)
    return;
  std::vector<int64_t> index(rank, 0);
  for (int64_t n = 0; n < total; ++n) {
    int64_t so = 0, dof = 0;
    for (int64_t i = 0; i < rank; ++i)
      so += index[i] * ss[i], dof += index[i] * ds[i];
    std::memcpy(d + dof * elementSize, s + so * elementSize, elementSize);
    for (int64_t i = rank - 1; i >= 0; --i) {
      if (++index[i] < sizes[i])
        break;
      index[i] = 0;
    }
  }
}

} // extern "C"
