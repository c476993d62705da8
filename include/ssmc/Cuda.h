//===- Cuda.h - the CUDA driver-API runtime ---------------------*- C++ -*-===//
//
// ssm programs compiled for the CUDA target call the mgpu* functions MLIR's
// gpu-to-llvm lowering emits (module load, launch, streams, memory). ssmc
// implements them over the CUDA driver API, loaded at run time with
// dlopen("libcuda.so.1"): nothing but the NVIDIA driver is needed, and a
// machine without one gets an error value, never a crash.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_CUDA_H
#define SSMC_CUDA_H

#include "ssmc/Tensor.h"

#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ssmc::cuda {

/// Loads the driver, initialises it and makes device 0's primary context
/// current; the error says what is missing (no libcuda.so.1, no device, a
/// driver error code and its text).
llvm::Error available();

/// "NVIDIA H100 80GB HBM3" (empty when unavailable).
std::string deviceName();

/// The first error an mgpu* call raised on this thread since the last
/// takeError() (the calls themselves cannot return errors), and clears it.
std::optional<std::string> takeError();

/// The first GPU module load that failed on this thread since the last
/// takeLoadError() (with the driver's JIT log), and clears it. Modules load
/// when a program's global constructors run (the JIT's initialisation).
std::optional<std::string> takeLoadError();

/// Name and address of every mgpu* function, for the JIT's symbol table.
std::vector<std::pair<const char *, void *>> runtimeSymbols();

/// A contiguous tensor that lives on the device across calls (CUDA managed
/// memory registered with the runtime). Its view() (device == Device::CUDA)
/// is accepted as an input or a destination-passing output by programs
/// compiled for the CUDA target, and their kernels use it in place: no
/// device copy, no copy in before a launch, no copy back after it. Host code
/// of the same program (ops without a GPU kernel) may still read and write
/// it (managed memory migrates), at the cost of that migration. Move-only;
/// frees its memory when destroyed.
class DeviceTensor {
public:
  DeviceTensor() = default;
  DeviceTensor(DeviceTensor &&other) noexcept;
  DeviceTensor &operator=(DeviceTensor &&other) noexcept;
  DeviceTensor(const DeviceTensor &) = delete;
  DeviceTensor &operator=(const DeviceTensor &) = delete;
  ~DeviceTensor();

  /// Uninitialised device memory for `shape` elements of `dtype`.
  static llvm::Expected<DeviceTensor> allocate(DType dtype,
                                               std::vector<int64_t> shape);
  /// A device copy of `host` (any strides; a CPU tensor).
  static llvm::Expected<DeviceTensor> upload(const Tensor &host);
  /// Copies the tensor into `host` (a CPU tensor of the same dtype and
  /// shape, any strides).
  llvm::Error download(const Tensor &host) const;
  /// A host copy.
  llvm::Expected<OwnedTensor> download() const;

  Tensor view() const;
  DType dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  void *data() const { return data_; }

private:
  void *data_ = nullptr;
  DType dtype_ = DType::F32;
  std::vector<int64_t> shape_;
};

/// How many buffers the generated staging code has found device-resident
/// (and so did not copy) since the process began.
int64_t residentHits();

} // namespace ssmc::cuda

#endif // SSMC_CUDA_H
