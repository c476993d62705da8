//===- MemRef.h - the memref descriptors compiled entries take --*- C++ -*-===//
//
// The one definition of the memref descriptor layout that `_mlir_ciface_*`
// entry points of compiled ssm programs take and return: allocated pointer,
// aligned pointer, offset, sizes[rank], strides[rank]. The JIT builds them
// for any rank at run time (DescriptorRef over a word array), callers of
// ahead-of-time objects declare them per rank (StridedMemRef<T, Rank>), and
// memrefCopy reads them through UnrankedMemRef. Plain C++: no LLVM, no MLIR
// (MLIR's CRunnerUtils.h has equivalent types, but ahead-of-time binaries
// are built and carried where no MLIR headers are).
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_RUNTIME_ABI_MEMREF_H
#define SSMC_RUNTIME_ABI_MEMREF_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

namespace ssmc::abi {

// Every field is one 8-byte word, so descriptors pack without padding and
// a rank-R descriptor is exactly descriptorWords(R) words.
static_assert(sizeof(void *) == sizeof(int64_t),
              "memref descriptors assume 64-bit pointers");

/// Words in a rank-`rank` descriptor.
constexpr size_t descriptorWords(size_t rank) { return 3 + 2 * rank; }

/// A rank-`Rank` descriptor of `T` elements, as an entry point declares it.
template <typename T, int Rank> struct StridedMemRef {
  T *allocated, *aligned;
  int64_t offset;
  int64_t sizes[Rank], strides[Rank];
};
/// Rank 0 has no size or stride arrays (C++ has no zero-length arrays).
template <typename T> struct StridedMemRef<T, 0> {
  T *allocated, *aligned;
  int64_t offset;
};

static_assert(sizeof(StridedMemRef<float, 3>) ==
                  descriptorWords(3) * sizeof(int64_t),
              "StridedMemRef must match the word layout");
static_assert(sizeof(StridedMemRef<float, 0>) ==
                  descriptorWords(0) * sizeof(int64_t),
              "StridedMemRef must match the word layout");

/// What memrefCopy receives: the rank and a pointer to a descriptor.
struct UnrankedMemRef {
  int64_t rank;
  void *descriptor;
};

/// A descriptor of a rank known only at run time, seen as its words.
/// Pointers are read and written with memcpy: the words are int64_t.
class DescriptorRef {
public:
  DescriptorRef(void *words, size_t rank)
      : words(static_cast<int64_t *>(words)), rank_(rank) {}

  size_t rank() const { return rank_; }
  void *allocated() const { return pointerAt(0); }
  void *aligned() const { return pointerAt(1); }
  int64_t offset() const { return words[2]; }
  int64_t *sizes() const { return words + 3; }
  int64_t *strides() const { return words + 3 + rank_; }
  /// The first element: `aligned` advanced by `offset` elements.
  char *data(size_t elementSize) const {
    return static_cast<char *>(aligned()) + offset() * int64_t(elementSize);
  }

  /// Describes the buffer at `data` (allocated and aligned alike, offset 0)
  /// with `sizes` and `strides`, each `rank()` long.
  void set(void *data, const int64_t *sizes, const int64_t *strides) {
    std::memcpy(&words[0], &data, sizeof(void *));
    std::memcpy(&words[1], &data, sizeof(void *));
    words[2] = 0;
    for (size_t d = 0; d < rank_; ++d) {
      this->sizes()[d] = sizes[d];
      this->strides()[d] = strides[d];
    }
  }

private:
  void *pointerAt(size_t word) const {
    void *p;
    std::memcpy(&p, &words[word], sizeof(void *));
    return p;
  }
  int64_t *words;
  size_t rank_;
};

/// A row-major host buffer with its descriptor; `&buffer` is what an entry
/// point takes.
template <typename T, int Rank> struct MemRefBuffer {
  std::vector<T> data;
  StridedMemRef<T, Rank> desc;

  explicit MemRefBuffer(const int64_t (&shape)[Rank]) {
    int64_t n = 1;
    for (int i = Rank - 1; i >= 0; --i) {
      desc.sizes[i] = shape[i];
      desc.strides[i] = n;
      n *= shape[i];
    }
    data.assign(n, T());
    desc.allocated = desc.aligned = data.data();
    desc.offset = 0;
  }
  MemRefBuffer(const MemRefBuffer &) = delete;
  MemRefBuffer &operator=(const MemRefBuffer &) = delete;
  MemRefBuffer(MemRefBuffer &&o) noexcept
      : data(std::move(o.data)), desc(o.desc) {
    desc.allocated = desc.aligned = data.data();
  }
  StridedMemRef<T, Rank> *operator&() { return &desc; }
  size_t bytes() const { return data.size() * sizeof(T); }
};

} // namespace ssmc::abi

#endif // SSMC_RUNTIME_ABI_MEMREF_H
