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

} // namespace ssmc::cuda

#endif // SSMC_CUDA_H
