//===- CoreDLPack.h - the DLPack exchange ABI -------------------*- C++ -*-===//
//
// The DLPack C ABI (dlpack.h, v0.8, the version PyTorch exchanges through
// `__dlpack__` and torch.utils.dlpack): a DLManagedTensor travels in a
// PyCapsule named "dltensor"; the consumer renames it "used_dltensor" and
// calls the deleter when it is done with the memory.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_PYTHON_COREDLPACK_H
#define SSMC_PYTHON_COREDLPACK_H

#include "ssmc/Tensor.h"

#include "llvm/Support/Error.h"

#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace ssmc::python {

enum DLDeviceType : int32_t {
  kDLCPU = 1,
  kDLCUDA = 2,
  kDLCUDAHost = 3,
  kDLCUDAManaged = 13,
};

struct DLDevice {
  int32_t device_type;
  int32_t device_id;
};

enum DLDataTypeCode : uint8_t {
  kDLInt = 0,
  kDLUInt = 1,
  kDLFloat = 2,
  kDLBfloat = 4,
  kDLBool = 6,
};

struct DLDataType {
  uint8_t code;
  uint8_t bits;
  uint16_t lanes;
};

struct DLTensor {
  void *data;
  DLDevice device;
  int32_t ndim;
  DLDataType dtype;
  int64_t *shape;
  int64_t *strides; ///< in elements; null: contiguous row-major
  uint64_t byte_offset;
};

struct DLManagedTensor {
  DLTensor dl_tensor;
  void *manager_ctx;
  void (*deleter)(DLManagedTensor *self);
};

/// The ssmc dtype of a DLPack dtype.
inline llvm::Expected<DType> dtypeOf(DLDataType t) {
  auto fail = [&]() -> llvm::Error {
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "has DLPack dtype (code %u, %u bits, %u lanes), which ssmc does "
        "not take",
        unsigned(t.code), unsigned(t.bits), unsigned(t.lanes));
  };
  if (t.lanes != 1)
    return fail();
  switch (t.code) {
  case kDLFloat:
    if (t.bits == 16) return DType::F16;
    if (t.bits == 32) return DType::F32;
    if (t.bits == 64) return DType::F64;
    break;
  case kDLBfloat:
    if (t.bits == 16) return DType::BF16;
    break;
  case kDLInt:
    if (t.bits == 8) return DType::I8;
    if (t.bits == 16) return DType::I16;
    if (t.bits == 32) return DType::I32;
    if (t.bits == 64) return DType::I64;
    break;
  case kDLBool:
    if (t.bits == 8) return DType::I1;
    break;
  case kDLUInt:
    // PyTorch before DLPack's kDLBool exports torch.bool as 8-bit uint;
    // ssmc has no unsigned types, so this is the only reading.
    if (t.bits == 8) return DType::I1;
    break;
  default:
    break;
  }
  return fail();
}

inline DLDataType dlpackDType(DType t) {
  switch (t) {
  case DType::F16: return {kDLFloat, 16, 1};
  case DType::BF16: return {kDLBfloat, 16, 1};
  case DType::F32: return {kDLFloat, 32, 1};
  case DType::F64: return {kDLFloat, 64, 1};
  case DType::I1: return {kDLBool, 8, 1};
  case DType::I8: return {kDLInt, 8, 1};
  case DType::I16: return {kDLInt, 16, 1};
  case DType::I32: return {kDLInt, 32, 1};
  case DType::I64: return {kDLInt, 64, 1};
  }
  return {kDLFloat, 32, 1};
}

/// A view of `t` (the DLManagedTensor keeps it alive).
inline llvm::Expected<Tensor> tensorOf(const DLTensor &t) {
  auto error = [](const llvm::Twine &msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
  };
  Tensor view;
  llvm::Expected<DType> dtype = dtypeOf(t.dtype);
  if (!dtype)
    return dtype.takeError();
  view.dtype = *dtype;
  switch (t.device.device_type) {
  case kDLCPU:
  case kDLCUDAHost:
    view.device = Device::CPU;
    break;
  case kDLCUDA:
  case kDLCUDAManaged:
    view.device = Device::CUDA;
    break;
  default:
    return error("is on a device ssmc cannot read (DLPack device type " +
                 llvm::Twine(t.device.device_type) + ")");
  }
  if (t.ndim < 0)
    return error("has a negative rank");
  view.data = static_cast<char *>(t.data) + t.byte_offset;
  view.shape.assign(t.shape, t.shape + t.ndim);
  if (t.strides) {
    view.strides.assign(t.strides, t.strides + t.ndim);
    if (view.isContiguous())
      view.strides.clear();
  }
  return view;
}

/// What a DLManagedTensor made by makeCapsule owns.
struct OwnedDLPack {
  DLManagedTensor managed;
  std::unique_ptr<OwnedTensor> tensor;
  std::vector<int64_t> shape, strides;
};

/// A "dltensor" capsule owning `t`'s storage, for a DLPack consumer
/// (torch.utils.dlpack.from_dlpack).
inline pybind11::capsule makeCapsule(std::unique_ptr<OwnedTensor> t) {
  auto owned = std::make_unique<OwnedDLPack>();
  owned->shape = t->shape();
  owned->strides = contiguousStrides(t->shape());
  DLTensor &dl = owned->managed.dl_tensor;
  dl.data = t->data();
  dl.device = {kDLCPU, 0};
  dl.ndim = int32_t(owned->shape.size());
  dl.dtype = dlpackDType(t->dtype());
  dl.shape = owned->shape.data();
  dl.strides = owned->strides.data();
  dl.byte_offset = 0;
  owned->tensor = std::move(t);
  owned->managed.manager_ctx = owned.get();
  owned->managed.deleter = [](DLManagedTensor *self) {
    delete static_cast<OwnedDLPack *>(self->manager_ctx);
  };
  DLManagedTensor *managed = &owned.release()->managed;
  PyObject *capsule = PyCapsule_New(managed, "dltensor", [](PyObject *cap) {
    // Never consumed: the capsule still owns the tensor.
    if (PyCapsule_IsValid(cap, "dltensor")) {
      auto *m =
          static_cast<DLManagedTensor *>(PyCapsule_GetPointer(cap, "dltensor"));
      m->deleter(m);
    }
  });
  if (!capsule) {
    managed->deleter(managed);
    throw pybind11::error_already_set();
  }
  return pybind11::reinterpret_steal<pybind11::capsule>(capsule);
}

} // namespace ssmc::python

#endif // SSMC_PYTHON_COREDLPACK_H
