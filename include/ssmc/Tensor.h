//===- Tensor.h - tensors the ssmc runtime and API exchange -----*- C++ -*-===//
//
// `Tensor` is a non-owning view (data pointer, dtype, shape, strides in
// elements, device); `OwnedTensor` owns 64-byte-aligned host storage and
// hands out views. No MLIR dependency: tools and tests use these without a
// compiler in sight.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_TENSOR_H
#define SSMC_TENSOR_H

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ssmc {

enum class DType { F16, BF16, F32, F64, I1, I8, I16, I32, I64 };
enum class Device { CPU, CUDA };

/// Bytes per element (I1 is stored as one byte).
size_t dtypeSize(DType t);
/// "f32", "bf16", "i64", ...
llvm::StringRef dtypeName(DType t);
std::optional<DType> parseDType(llvm::StringRef name);

/// Row-major strides (in elements) of a contiguous tensor of `shape`.
std::vector<int64_t> contiguousStrides(llvm::ArrayRef<int64_t> shape);
/// Product of `shape` (1 for rank 0).
int64_t numElements(llvm::ArrayRef<int64_t> shape);
/// "[2, 3, 4]"
std::string formatShape(llvm::ArrayRef<int64_t> shape);

/// A non-owning view. Empty `strides` means contiguous row-major.
struct Tensor {
  void *data = nullptr;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
  Device device = Device::CPU;

  int64_t rank() const { return static_cast<int64_t>(shape.size()); }
  int64_t numel() const { return numElements(shape); }
  std::vector<int64_t> effectiveStrides() const {
    return strides.empty() ? contiguousStrides(shape) : strides;
  }
  bool isContiguous() const;
};

namespace detail {
/// Frees an OwnedTensor's storage: with `release` if it was adopted, else
/// std::free.
struct StorageDeleter {
  void (*release)(void *) = nullptr;
  void operator()(void *p) const;
};
} // namespace detail

/// Host tensor that owns its contiguous storage: its own 64-byte-aligned,
/// zero-initialised allocation, or a buffer it adopted (the compiled code's
/// result, handed over without a copy). Storage of kHugePageBytes and more
/// is kHugePageAlign-aligned and offered to transparent huge pages
/// (madvise MADV_HUGEPAGE on Linux), for weights streamed on every token.
class OwnedTensor {
public:
  static constexpr size_t kHugePageBytes = size_t(4) << 20;
  static constexpr size_t kHugePageAlign = size_t(2) << 20;

  /// Gives an adopted allocation back.
  using Release = void (*)(void *allocation);

  OwnedTensor() = default;
  OwnedTensor(DType dtype, std::vector<int64_t> shape);
  /// Takes ownership of `allocation`, freed by `release`, whose contiguous
  /// row-major elements start at `data` (inside the allocation).
  static OwnedTensor adopt(DType dtype, std::vector<int64_t> shape,
                           void *data, void *allocation, Release release);
  OwnedTensor(OwnedTensor &&other) noexcept { *this = std::move(other); }
  OwnedTensor &operator=(OwnedTensor &&other) noexcept {
    if (this == &other)
      return *this;
    dtype_ = other.dtype_;
    shape_ = std::move(other.shape_);
    storage_ = std::move(other.storage_);
    data_ = other.data_;
    other.data_ = nullptr;
    return *this;
  }

  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int64_t numel() const { return numElements(shape_); }
  size_t sizeInBytes() const { return numel() * dtypeSize(dtype_); }
  void *data() { return data_; }
  const void *data() const { return data_; }
  template <typename T> T *as() { return static_cast<T *>(data()); }
  template <typename T> const T *as() const {
    return static_cast<const T *>(data());
  }
  Tensor view();

  /// Element `i` (row-major) converted to double, for any dtype.
  double getAsDouble(int64_t i) const;
  /// Sets element `i` from a double, rounding to the dtype.
  void setFromDouble(int64_t i, double v);

private:
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
  std::unique_ptr<void, detail::StorageDeleter> storage_;
  void *data_ = nullptr; ///< the first element, inside storage_

};

/// Copies `src` (any strides) into contiguous `dst` of the same dtype and
/// number of elements.
void copyToContiguous(const Tensor &src, void *dst);
/// Copies contiguous `src` into `dst` (any strides).
void copyFromContiguous(const void *src, const Tensor &dst);

/// IEEE half and bfloat16 conversions (round to nearest even).
float halfToFloat(uint16_t h);
uint16_t floatToHalf(float f);
float bf16ToFloat(uint16_t h);
uint16_t floatToBf16(float f);

} // namespace ssmc

#endif // SSMC_TENSOR_H
