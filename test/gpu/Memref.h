//===- Memref.h - memref descriptors for ahead-of-time entry points -*- C++ -*-===//
//
// What `_mlir_ciface_<name>` entry points of ahead-of-time objects take:
// a memref descriptor per tensor argument and result. Shared by
// ssmc-gpu-check, ssmc-aot-cpu-check and ssmc-gpu-bench.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TEST_GPU_MEMREF_H
#define SSMC_TEST_GPU_MEMREF_H

#include <cstdint>
#include <vector>

namespace ssmc::aot {

/// A memref descriptor of rank R over a contiguous buffer.
template <typename T, int R> struct Desc {
  T *allocated, *aligned;
  int64_t offset;
  int64_t sizes[R], strides[R];
};

/// A host buffer and its row-major descriptor; `&buffer` is what an entry
/// point takes.
template <typename T, int R> struct Buffer {
  std::vector<T> data;
  Desc<T, R> desc;
  explicit Buffer(const int64_t (&shape)[R]) {
    int64_t n = 1;
    for (int i = R - 1; i >= 0; --i) {
      desc.sizes[i] = shape[i];
      desc.strides[i] = n;
      n *= shape[i];
    }
    data.assign(n, T());
    desc.allocated = desc.aligned = data.data();
    desc.offset = 0;
  }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
  Buffer(Buffer &&o) noexcept : data(std::move(o.data)), desc(o.desc) {
    desc.allocated = desc.aligned = data.data();
  }
  Desc<T, R> *operator&() { return &desc; }
  size_t bytes() const { return data.size() * sizeof(T); }
};

} // namespace ssmc::aot

#endif // SSMC_TEST_GPU_MEMREF_H
