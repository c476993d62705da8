//===- HostTwin.h - the host-twin image hash convention ---------*- C++ -*-===//
//
// Host twins let the CUDA host path run without a GPU: a test-only driver
// library (test/fakecuda, built as libcuda.so.1) keeps "device" memory on
// the host and runs each kernel launch through a host-compiled function,
// the kernel's twin, that the compiled program registers with
// ssmcCudaRegisterHostTwin (MgpuRuntime.h) before it loads its modules.
//
// A twin is keyed by (imageHash, kernel name): imageHash is the 64-bit
// FNV-1a hash (offset basis 0xcbf29ce484222325, prime 0x100000001b3) of the
// module image bytes that cuModuleLoadData receives; for a PTX text image,
// the bytes before its first NUL (pass the text's length, or any size at
// least that long: hashing stops at the first NUL).
//
// A twin runs one whole launch (all blocks, all threads) and returns when
// it is done. It is called as twin(args) with args[0..n-1] exactly the
// kernelParams pointers given to cuLaunchKernel (n = the number of .param
// entries of the kernel's .entry in the PTX), args[n..n+5] pointing to
// int64_t gridX, gridY, gridZ, blockX, blockY, blockZ, and args[n+6] to an
// int64_t dynamic shared-memory size in bytes.
//
// Header-only, no dependencies: the fake driver, the runtime and the
// compiler share it.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_RUNTIME_CUDA_HOSTTWIN_H
#define SSMC_RUNTIME_CUDA_HOSTTWIN_H

#include <cstddef>
#include <cstdint>

/// The FNV-1a hash of `data[0..size)`, stopping at the first NUL byte.
inline uint64_t ssmcHostTwinImageHash(const void *data, size_t size) {
  const unsigned char *bytes = static_cast<const unsigned char *>(data);
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size && bytes[i] != 0; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

/// A kernel's twin: one whole launch, see above.
using SsmcHostTwinFn = void (*)(void **args);

#endif // SSMC_RUNTIME_CUDA_HOSTTWIN_H
