//===- CudaRuntime.cpp - ssmc::cuda, the C++ face of the mgpu runtime -----===//

#include "ssmc/Cuda.h"

#include "MgpuRuntime.h"
#include "Residency.h"

namespace ssmc::cuda {

llvm::Error available() {
  std::string why = ssmcCudaLoadError();
  if (!why.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "CUDA target unavailable: " + why);
  return llvm::Error::success();
}

std::string deviceName() {
  char name[256] = {0};
  return ssmcCudaDeviceName(name, sizeof name) ? name : "";
}

std::optional<std::string> takeError() {
  char text[1024];
  if (!ssmcCudaTakeError(text, sizeof text))
    return std::nullopt;
  return std::string(text);
}

std::optional<std::string> takeLoadError() {
  char text[8192];
  if (!ssmcCudaTakeLoadError(text, sizeof text))
    return std::nullopt;
  return std::string(text);
}

std::vector<std::pair<const char *, void *>> runtimeSymbols() {
  return {
      {"mgpuModuleLoad", reinterpret_cast<void *>(&mgpuModuleLoad)},
      {"mgpuModuleLoadJIT", reinterpret_cast<void *>(&mgpuModuleLoadJIT)},
      {"mgpuModuleUnload", reinterpret_cast<void *>(&mgpuModuleUnload)},
      {"mgpuModuleGetFunction", reinterpret_cast<void *>(&mgpuModuleGetFunction)},
      {"mgpuLaunchKernel", reinterpret_cast<void *>(&mgpuLaunchKernel)},
      {"mgpuStreamCreate", reinterpret_cast<void *>(&mgpuStreamCreate)},
      {"mgpuStreamDestroy", reinterpret_cast<void *>(&mgpuStreamDestroy)},
      {"mgpuStreamSynchronize", reinterpret_cast<void *>(&mgpuStreamSynchronize)},
      {"mgpuStreamWaitEvent", reinterpret_cast<void *>(&mgpuStreamWaitEvent)},
      {"mgpuEventCreate", reinterpret_cast<void *>(&mgpuEventCreate)},
      {"mgpuEventDestroy", reinterpret_cast<void *>(&mgpuEventDestroy)},
      {"mgpuEventSynchronize", reinterpret_cast<void *>(&mgpuEventSynchronize)},
      {"mgpuEventRecord", reinterpret_cast<void *>(&mgpuEventRecord)},
      {"mgpuMemAlloc", reinterpret_cast<void *>(&mgpuMemAlloc)},
      {"mgpuMemFree", reinterpret_cast<void *>(&mgpuMemFree)},
      {"mgpuMemcpy", reinterpret_cast<void *>(&mgpuMemcpy)},
      {"mgpuMemset32", reinterpret_cast<void *>(&mgpuMemset32)},
      {"mgpuMemset16", reinterpret_cast<void *>(&mgpuMemset16)},
      {"mgpuSetDefaultDevice", reinterpret_cast<void *>(&mgpuSetDefaultDevice)},
      {"ssmcCudaIsResident", reinterpret_cast<void *>(&ssmcCudaIsResident)},
      {"ssmcCudaHostTwinsWanted",
       reinterpret_cast<void *>(&ssmcCudaHostTwinsWanted)},
      {"ssmcCudaRegisterHostTwin",
       reinterpret_cast<void *>(&ssmcCudaRegisterHostTwin)},
  };
}

namespace {
llvm::Error cudaError(const std::string &what) {
  std::optional<std::string> e = takeError();
  return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                 what + (e ? ": " + *e : std::string()));
}
} // namespace

DeviceTensor::DeviceTensor(DeviceTensor &&other) noexcept
    : data_(other.data_), dtype_(other.dtype_), shape_(std::move(other.shape_)) {
  other.data_ = nullptr;
}

DeviceTensor &DeviceTensor::operator=(DeviceTensor &&other) noexcept {
  if (this != &other) {
    ssmcCudaResidentFree(data_);
    data_ = other.data_;
    dtype_ = other.dtype_;
    shape_ = std::move(other.shape_);
    other.data_ = nullptr;
  }
  return *this;
}

DeviceTensor::~DeviceTensor() { ssmcCudaResidentFree(data_); }

llvm::Expected<DeviceTensor> DeviceTensor::allocate(DType dtype,
                                                    std::vector<int64_t> shape) {
  for (int64_t s : shape)
    if (s < 0)
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "device tensor of negative size " +
                                         formatShape(shape));
  if (llvm::Error e = available())
    return std::move(e);
  DeviceTensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  size_t bytes = static_cast<size_t>(numElements(t.shape_)) * dtypeSize(dtype);
  if (bytes) {
    t.data_ = ssmcCudaResidentAlloc(bytes);
    if (!t.data_)
      return cudaError("cannot allocate " + std::to_string(bytes) +
                       " bytes of device memory");
  }
  return std::move(t);
}

llvm::Expected<DeviceTensor> DeviceTensor::upload(const Tensor &host) {
  if (host.device != Device::CPU)
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "upload needs a CPU tensor");
  auto t = allocate(host.dtype, host.shape);
  if (!t)
    return t.takeError();
  size_t bytes = static_cast<size_t>(host.numel()) * dtypeSize(host.dtype);
  if (!bytes)
    return t;
  OwnedTensor staging;
  const void *source = host.data;
  if (!host.isContiguous()) {
    staging = OwnedTensor(host.dtype, host.shape);
    copyToContiguous(host, staging.data());
    source = staging.data();
  }
  ssmcCudaResidentUpload(t->data_, source, bytes);
  if (std::optional<std::string> e = takeError())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "upload to the device failed: " + *e);
  return t;
}

llvm::Error DeviceTensor::download(const Tensor &host) const {
  if (host.device != Device::CPU || host.dtype != dtype_ || host.shape != shape_)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "download needs a CPU tensor of dtype " + dtypeName(dtype_).str() +
            " and shape " + formatShape(shape_));
  size_t bytes = static_cast<size_t>(numElements(shape_)) * dtypeSize(dtype_);
  if (!bytes)
    return llvm::Error::success();
  if (host.isContiguous()) {
    ssmcCudaResidentDownload(host.data, data_, bytes);
  } else {
    OwnedTensor staging(dtype_, shape_);
    ssmcCudaResidentDownload(staging.data(), data_, bytes);
    copyFromContiguous(staging.data(), host);
  }
  if (std::optional<std::string> e = takeError())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "download from the device failed: " + *e);
  return llvm::Error::success();
}

llvm::Expected<OwnedTensor> DeviceTensor::download() const {
  OwnedTensor host(dtype_, shape_);
  if (llvm::Error e = download(host.view()))
    return std::move(e);
  return std::move(host);
}

Tensor DeviceTensor::view() const {
  Tensor t;
  t.data = data_;
  t.dtype = dtype_;
  t.shape = shape_;
  t.device = Device::CUDA;
  return t;
}

int64_t residentHits() { return ssmcCudaResidentHits(); }

} // namespace ssmc::cuda
