//===- MgpuRuntime.h - the mgpu* runtime, C interface -----------*- C++ -*-===//
//
// The mgpu* functions MLIR's gpu-to-llvm lowering calls, over the CUDA
// driver API loaded with dlopen, plus three queries. No LLVM, no MLIR:
// ahead-of-time objects of ssm programs link this library alone.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_RUNTIME_CUDA_MGPURUNTIME_H
#define SSMC_RUNTIME_CUDA_MGPURUNTIME_H

#include <cstddef>
#include <cstdint>

/// ssmcCudaDriverState(): why the driver is unusable, by kind.
enum {
  SSMC_CUDA_USABLE = 0,
  SSMC_CUDA_NO_DRIVER = 1,    ///< libcuda.so.1 cannot be loaded
  SSMC_CUDA_NO_DEVICE = 2,    ///< the driver sees no device
  SSMC_CUDA_BROKEN_DRIVER = 3 ///< the driver loads but fails
};

extern "C" {
/// Why the driver is unusable ("" when it is usable); loads it on first use.
const char *ssmcCudaLoadError();
/// SSMC_CUDA_USABLE, or which kind of failure ssmcCudaLoadError describes.
int ssmcCudaDriverState();
/// Copies the first error of an mgpu* call on this thread since the last
/// call into `buffer` and clears it; 0 when there was none.
int ssmcCudaTakeError(char *buffer, int size);
/// Copies the first failed GPU module load on this thread since the last
/// call into `buffer` and clears it; 0 when there was none. Modules load
/// in global constructors (ahead-of-time objects) or when the JIT
/// initialises a program, outside any run: their failures are kept apart
/// from the run errors of ssmcCudaTakeError, and a launch of a kernel of
/// such a module is an error of its run.
int ssmcCudaTakeLoadError(char *buffer, int size);
/// Device 0's name; 0 when unavailable.
int ssmcCudaDeviceName(char *buffer, int size);
/// Turns kernel timing on or off and clears the totals. While on, every
/// mgpuLaunchKernel is bracketed by timing events on its stream and waited
/// for (launches no longer overlap host work): for benchmarks.
void ssmcCudaKernelTimer(int enable);
/// Device milliseconds of the kernels launched since ssmcCudaKernelTimer,
/// and (if `launches`) how many there were.
double ssmcCudaKernelTime(int64_t *launches);
/// Device-to-device copy bandwidth in GB/s (bytes read plus written per
/// second) of `reps` back-to-back copies of `bytes`, timed with events
/// after a warm-up copy; negative on failure.
double ssmcCudaCopyBandwidth(size_t bytes, int reps);
/// 1 when the loaded libcuda.so.1 is the test-only fake driver
/// (test/fakecuda), which runs kernels through registered host twins
/// (HostTwin.h); else 0.
int ssmcCudaHostTwinsWanted();
/// Registers `twin`, the host function that runs one whole launch of
/// `kernel` in the module whose image hashes to `imageHash`
/// (ssmcHostTwinImageHash), with the fake driver; a no-op with a real one.
void ssmcCudaRegisterHostTwin(uint64_t imageHash, const char *kernel,
                              void (*twin)(void **args));

void *mgpuModuleLoad(void *data, size_t size);
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuModuleUnload(void *module);
void *mgpuModuleGetFunction(void *module, const char *name);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t smem, void *stream,
                      void **params, void **extra, size_t paramsCount);
void *mgpuStreamCreate();
void mgpuStreamDestroy(void *stream);
void mgpuStreamSynchronize(void *stream);
void mgpuStreamWaitEvent(void *stream, void *event);
void *mgpuEventCreate();
void mgpuEventDestroy(void *event);
void mgpuEventSynchronize(void *event);
void mgpuEventRecord(void *event, void *stream);
void *mgpuMemAlloc(uint64_t sizeBytes, void *stream, bool isHostShared);
void mgpuMemFree(void *ptr, void *stream);
void mgpuMemcpy(void *dst, void *src, size_t sizeBytes, void *stream);
void mgpuMemset32(void *dst, unsigned value, size_t count, void *stream);
void mgpuMemset16(void *dst, unsigned short value, size_t count, void *stream);
void mgpuSetDefaultDevice(int32_t device);
}

#endif // SSMC_RUNTIME_CUDA_MGPURUNTIME_H
