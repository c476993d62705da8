//===- Residency.h - device-resident buffers, C interface -------*- C++ -*-===//
//
// Buffers allocated here stay on the device across calls: the staging code
// the CUDA pipeline emits around every kernel (ssm-gpu-stage-buffers) asks
// ssmcCudaIsResident for each buffer a launch uses and, for one that lies
// in such an allocation, hands the kernel the buffer itself instead of a
// device copy (no allocation, no copy in, no copy back). The allocations
// are CUDA managed memory, so host code of the same program (ops without a
// GPU kernel) can still read and write them.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_RUNTIME_CUDA_RESIDENCY_H
#define SSMC_RUNTIME_CUDA_RESIDENCY_H

#include <cstddef>
#include <cstdint>

extern "C" {
/// `bytes` of device-resident (managed) memory; null on failure (the
/// reason via ssmcCudaTakeError) or for 0 bytes.
void *ssmcCudaResidentAlloc(size_t bytes);
/// Frees an allocation of ssmcCudaResidentAlloc (null: nothing).
void ssmcCudaResidentFree(void *pointer);
/// 1 when [address, address + bytes) lies in one resident allocation,
/// else 0. Called by the generated staging code.
int32_t ssmcCudaIsResident(int64_t address, int64_t bytes);
/// How many ssmcCudaIsResident calls answered 1 since the process began.
int64_t ssmcCudaResidentHits();
/// Blocking copies between host memory and a resident allocation (errors
/// via ssmcCudaTakeError).
void ssmcCudaResidentUpload(void *device, const void *host, size_t bytes);
void ssmcCudaResidentDownload(void *host, const void *device, size_t bytes);
}

#endif // SSMC_RUNTIME_CUDA_RESIDENCY_H
