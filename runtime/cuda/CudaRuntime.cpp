//===- CudaRuntime.cpp - ssmc::cuda, the C++ face of the mgpu runtime -----===//

#include "ssmc/Cuda.h"

#include "MgpuRuntime.h"

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
      {"ssmcCudaHostTwinsWanted",
       reinterpret_cast<void *>(&ssmcCudaHostTwinsWanted)},
      {"ssmcCudaRegisterHostTwin",
       reinterpret_cast<void *>(&ssmcCudaRegisterHostTwin)},
  };
}

} // namespace ssmc::cuda
