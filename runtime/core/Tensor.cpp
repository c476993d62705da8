//===- Tensor.cpp - tensor views, owned storage, dtype conversions --------===//

#include "ssmc/Tensor.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace ssmc {

size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F16:
  case DType::BF16:
  case DType::I16:
    return 2;
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F64:
  case DType::I64:
    return 8;
  case DType::I1:
  case DType::I8:
    return 1;
  }
  return 0;
}

llvm::StringRef dtypeName(DType t) {
  switch (t) {
  case DType::F16: return "f16";
  case DType::BF16: return "bf16";
  case DType::F32: return "f32";
  case DType::F64: return "f64";
  case DType::I1: return "i1";
  case DType::I8: return "i8";
  case DType::I16: return "i16";
  case DType::I32: return "i32";
  case DType::I64: return "i64";
  }
  return "?";
}

std::optional<DType> parseDType(llvm::StringRef name) {
  return llvm::StringSwitch<std::optional<DType>>(name)
      .Case("f16", DType::F16)
      .Case("bf16", DType::BF16)
      .Case("f32", DType::F32)
      .Case("f64", DType::F64)
      .Case("i1", DType::I1)
      .Case("i8", DType::I8)
      .Case("i16", DType::I16)
      .Case("i32", DType::I32)
      .Case("i64", DType::I64)
      .Default(std::nullopt);
}

std::vector<int64_t> contiguousStrides(llvm::ArrayRef<int64_t> shape) {
  std::vector<int64_t> s(shape.size(), 1);
  for (int64_t i = static_cast<int64_t>(shape.size()) - 2; i >= 0; --i)
    s[i] = s[i + 1] * shape[i + 1];
  return s;
}

int64_t numElements(llvm::ArrayRef<int64_t> shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

std::string formatShape(llvm::ArrayRef<int64_t> shape) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "[";
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << (shape[i] < 0 ? std::string("?") : std::to_string(shape[i]));
  os << "]";
  return s;
}

bool Tensor::isContiguous() const {
  if (strides.empty())
    return true;
  std::vector<int64_t> c = contiguousStrides(shape);
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] != 1 && strides[i] != c[i])
      return false;
  return true;
}

void detail::StorageDeleter::operator()(void *p) const {
  if (release)
    release(p);
  else
    std::free(p);
}

namespace {

/// Zeroed storage for `bytes`: 64-byte aligned; from
/// OwnedTensor::kHugePageBytes on (a model's weights, streamed whole on
/// every decode token) 2 MB aligned, rounded up to whole 2 MB pages and
/// offered to the kernel's transparent huge pages before the memset faults
/// them in. Where THP is `madvise` (Debian's default) plain memory gets
/// 4 KB pages: a Mamba-1 130M decode token then walks 131k pages of
/// weights, a TLB miss and a stop of the hardware prefetchers at each.
void *allocateZeroed(size_t bytes) {
  constexpr size_t kLineAlign = 64;
  constexpr size_t kHugePage = OwnedTensor::kHugePageAlign;
  size_t align = bytes >= OwnedTensor::kHugePageBytes ? kHugePage : kLineAlign;
  size_t rounded = std::max((bytes + align - 1) / align * align, kLineAlign);
  void *p = std::aligned_alloc(align, rounded);
  if (!p)
    return nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (align == kHugePage)
    (void)madvise(p, rounded, MADV_HUGEPAGE); // advice: ignored where THP is off
#endif
  std::memset(p, 0, rounded);
  return p;
}

} // namespace

OwnedTensor::OwnedTensor(DType dtype, std::vector<int64_t> shape)
    : dtype_(dtype), shape_(std::move(shape)) {
  void *p = allocateZeroed(sizeInBytes());
  storage_.reset(p);
  data_ = p;
}

OwnedTensor OwnedTensor::adopt(DType dtype, std::vector<int64_t> shape,
                               void *data, void *allocation, Release release) {
  OwnedTensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.storage_ = std::unique_ptr<void, detail::StorageDeleter>(
      allocation, detail::StorageDeleter{release});
  t.data_ = data;
  return t;
}

Tensor OwnedTensor::view() {
  Tensor t;
  t.data = data();
  t.dtype = dtype_;
  t.shape = shape_;
  return t;
}

double OwnedTensor::getAsDouble(int64_t i) const {
  const char *p = static_cast<const char *>(data()) + i * dtypeSize(dtype_);
  switch (dtype_) {
  case DType::F16: return halfToFloat(*reinterpret_cast<const uint16_t *>(p));
  case DType::BF16: return bf16ToFloat(*reinterpret_cast<const uint16_t *>(p));
  case DType::F32: return *reinterpret_cast<const float *>(p);
  case DType::F64: return *reinterpret_cast<const double *>(p);
  case DType::I1:
  case DType::I8: return *reinterpret_cast<const int8_t *>(p);
  case DType::I16: return *reinterpret_cast<const int16_t *>(p);
  case DType::I32: return *reinterpret_cast<const int32_t *>(p);
  case DType::I64: return static_cast<double>(*reinterpret_cast<const int64_t *>(p));
  }
  return 0;
}

void OwnedTensor::setFromDouble(int64_t i, double v) {
  char *p = static_cast<char *>(data()) + i * dtypeSize(dtype_);
  switch (dtype_) {
  case DType::F16: *reinterpret_cast<uint16_t *>(p) = floatToHalf(float(v)); break;
  case DType::BF16: *reinterpret_cast<uint16_t *>(p) = floatToBf16(float(v)); break;
  case DType::F32: *reinterpret_cast<float *>(p) = float(v); break;
  case DType::F64: *reinterpret_cast<double *>(p) = v; break;
  case DType::I1: *reinterpret_cast<int8_t *>(p) = v != 0; break;
  case DType::I8: *reinterpret_cast<int8_t *>(p) = int8_t(v); break;
  case DType::I16: *reinterpret_cast<int16_t *>(p) = int16_t(v); break;
  case DType::I32: *reinterpret_cast<int32_t *>(p) = int32_t(v); break;
  case DType::I64: *reinterpret_cast<int64_t *>(p) = int64_t(v); break;
  }
}

namespace {
/// Walks every element of `shape` in row-major order, calling
/// f(strided offset of `a`, strided offset of `b`) in elements.
template <typename F>
void forEachIndex(llvm::ArrayRef<int64_t> shape, llvm::ArrayRef<int64_t> sa,
                  llvm::ArrayRef<int64_t> sb, F f) {
  int64_t n = numElements(shape);
  if (n == 0)
    return;
  std::vector<int64_t> idx(shape.size(), 0);
  int64_t oa = 0, ob = 0;
  for (int64_t k = 0; k < n; ++k) {
    f(oa, ob);
    for (int64_t d = static_cast<int64_t>(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        oa += sa[d];
        ob += sb[d];
        break;
      }
      oa -= sa[d] * (shape[d] - 1);
      ob -= sb[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}
} // namespace

void copyToContiguous(const Tensor &src, void *dst) {
  size_t es = dtypeSize(src.dtype);
  if (src.isContiguous()) {
    std::memcpy(dst, src.data, src.numel() * es);
    return;
  }
  std::vector<int64_t> c = contiguousStrides(src.shape);
  forEachIndex(src.shape, src.effectiveStrides(), c, [&](int64_t a, int64_t b) {
    std::memcpy(static_cast<char *>(dst) + b * es,
                static_cast<const char *>(src.data) + a * es, es);
  });
}

void copyFromContiguous(const void *src, const Tensor &dst) {
  size_t es = dtypeSize(dst.dtype);
  if (dst.isContiguous()) {
    std::memcpy(dst.data, src, dst.numel() * es);
    return;
  }
  std::vector<int64_t> c = contiguousStrides(dst.shape);
  forEachIndex(dst.shape, dst.effectiveStrides(), c, [&](int64_t a, int64_t b) {
    std::memcpy(static_cast<char *>(dst.data) + a * es,
                static_cast<const char *>(src) + b * es, es);
  });
}

float halfToFloat(uint16_t h) {
  uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { // subnormal: renormalise
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) {
        man <<= 1;
        --exp;
      }
      man &= 0x3ff;
      bits = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = static_cast<int32_t>((x >> 23) & 0xff) - 127 + 15;
  uint32_t man = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) // Inf/NaN
    return static_cast<uint16_t>(sign | 0x7c00u | (man ? 0x200u : 0));
  if (exp >= 31)
    return static_cast<uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10)
      return static_cast<uint16_t>(sign);
    man |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - exp);
    uint32_t half = man >> shift;
    uint32_t rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1)))
      ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | (static_cast<uint32_t>(exp) << 10) | (man >> 13);
  uint32_t rem = man & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1)))
    ++half; // may carry into the exponent, which is the correct rounding
  return static_cast<uint16_t>(half);
}

float bf16ToFloat(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t floatToBf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) // NaN stays NaN
    return static_cast<uint16_t>((x >> 16) | 0x40);
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

} // namespace ssmc
